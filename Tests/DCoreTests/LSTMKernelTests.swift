@testable import DCore
import Testing

/// The LSTM's own-kernel path (Dendrite's GEMM on packed W_hc, the C step kernels, streams split
/// among threads) against the plain path (OpenBLAS and the Swift step kernels), which the layer
/// tests check by hand and by finite differences.
@Suite struct LSTMKernelTests {
    /// Every input, output and gradient of one forward and backward, at one level and thread count.
    struct Run {
        var hidden, hT, cT, gateGrads, wxc, bc, whc, x, h0, c0: [Float]
    }

    /// H = 37: 4H = 148 is not a multiple of the 32-column panels, and H leaves a tail of 5
    /// units for the eight-wide step kernels. cont is 0 at some steps of some streams.
    static let z = LSTMKernel.Sizes(t: 4, n: 5, i: 6, h: 37, s: 0)

    static func run(level: SmallGEMM.Level, threads: Int) -> Run {
        let z = Self.z, G = 4 * z.h, NH = z.n * z.h
        func tensor(_ count: Int, seed: UInt64, scale: Float = 1) -> Tensor {
            var rng = RandomStream(seed: seed)
            return Tensor(shape: Shape([count]), values: (0..<count).map { _ in scale * (2 * rng.nextUnitFloat() - 1) })
        }
        let x = tensor(z.t * z.n * z.i, seed: 1), wxc = tensor(G * z.i, seed: 2, scale: 0.5), bc = tensor(G, seed: 3, scale: 0.5)
        let whc = tensor(G * z.h, seed: 4, scale: 0.5), h0 = tensor(NH, seed: 5), c0 = tensor(NH, seed: 6)
        let contValues: [Float] = (0..<(z.t * z.n)).map { $0 % 7 == 3 ? 0 : 1 }
        let cont = Tensor(shape: Shape([z.t * z.n]), values: contValues)
        let hidden = Tensor(shape: Shape([z.t * NH])), hT = Tensor(shape: Shape([NH])), cT = Tensor(shape: Shape([NH]))
        let gates = Tensor(shape: Shape([z.t * z.n * G])), cells = Tensor(shape: Shape([(z.t + 1) * NH]))
        let hPrev = Tensor(shape: Shape([z.t * NH])), packed = Tensor(shape: Shape([LSTMKernel.packedCount(h: z.h)]))
        let unused = Tensor(shape: Shape([1]))
        let parallel = Parallel(threads: threads)
        LSTMKernel.forward(z, x: x.view, cont: cont.view, xStatic: nil, wxc: wxc.view, bc: bc.view, wxs: nil, whc: whc.view,
                           h0: h0.view, c0: c0.view, hidden: hidden.view, hT: hT.view, cT: cT.view, gates: gates.view,
                           cells: cells.view, hPrev: hPrev.view, staticGates: unused.view, packed: packed.view,
                           parallel: parallel, level: level)
        let hiddenGrad = tensor(z.t * NH, seed: 7), hTGrad = tensor(NH, seed: 8), cTGrad = tensor(NH, seed: 9)
        let gateGrads = Tensor(shape: Shape([z.t * z.n * G]))
        let wxcGrad = Tensor(shape: Shape([G * z.i])), bcGrad = Tensor(shape: Shape([G])), whcGrad = Tensor(shape: Shape([G * z.h]))
        let xGrad = Tensor(shape: Shape([z.t * z.n * z.i])), h0Grad = Tensor(shape: Shape([NH])), c0Grad = Tensor(shape: Shape([NH]))
        let dh = Tensor(shape: Shape([NH])), dc = Tensor(shape: Shape([NH]))
        let grads = LSTMKernel.Gradients(wxc: wxcGrad.view, bc: bcGrad.view, wxs: nil, whc: whcGrad.view, x: xGrad.view,
                                         xStatic: nil, h0: h0Grad.view, c0: c0Grad.view, accumulateX: false,
                                         accumulateStatic: false, accumulateH0: false, accumulateC0: false)
        LSTMKernel.backward(z, x: x.view, cont: cont.view, xStatic: nil, wxc: wxc.view, wxs: nil, whc: whc.view,
                            gates: gates.view, cells: cells.view, hPrev: hPrev.view, gateGrads: gateGrads.view,
                            hiddenGrad: hiddenGrad.view, hTGrad: hTGrad.view, cTGrad: cTGrad.view, grads: grads,
                            dh: dh.view, dc: dc.view, staticSum: unused.view, packed: packed.view, parallel: parallel, level: level)
        return Run(hidden: hidden.values, hT: hT.values, cT: cT.values, gateGrads: gateGrads.values, wxc: wxcGrad.values,
                   bc: bcGrad.values, whc: whcGrad.values, x: xGrad.values, h0: h0Grad.values, c0: c0Grad.values)
    }

    static var fastLevels: [SmallGEMM.Level] {
        SmallGEMM.Level.allCases.filter { $0 > .plain && $0 <= SmallGEMM.supported }
    }

    /// Each output within 2e-6 of the plain path's, relative to the largest of its kind: the GEMMs
    /// sum in another order and the step kernels fuse their multiply-adds.
    @Test(arguments: [1, 2, 3])
    func ownKernelsMatchThePlainPath(threads: Int) {
        let plain = Self.run(level: .plain, threads: 1)
        for level in Self.fastLevels {
            let fast = Self.run(level: level, threads: threads)
            let pairs: [(String, [Float], [Float])] = [
                ("hidden", fast.hidden, plain.hidden), ("hT", fast.hT, plain.hT), ("cT", fast.cT, plain.cT),
                ("gate gradients", fast.gateGrads, plain.gateGrads), ("dW_xc", fast.wxc, plain.wxc), ("db_c", fast.bc, plain.bc),
                ("dW_hc", fast.whc, plain.whc), ("dx", fast.x, plain.x), ("dh0", fast.h0, plain.h0), ("dc0", fast.c0, plain.c0)]
            for (name, a, b) in pairs {
                let scale = b.map(abs).max() ?? 0
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                #expect(scale > 0.01, "\(name) is all but zero, so the comparison would say nothing")
                #expect(worst <= 2e-6 * scale, "\(level) threads \(threads) \(name): off by \(worst) of \(scale)")
            }
        }
    }

    /// The own kernels give the same bits on 1, 2 and 3 threads: every stream's recurrence runs
    /// on one thread, and each element is summed in the same order whatever the split.
    @Test func ownKernelsDoNotDependOnThreads() {
        for level in Self.fastLevels {
            let one = Self.run(level: level, threads: 1)
            for threads in [2, 3] {
                let other = Self.run(level: level, threads: threads)
                #expect(other.hidden == one.hidden && other.gateGrads == one.gateGrads && other.whc == one.whc
                        && other.x == one.x && other.h0 == one.h0 && other.c0 == one.c0, "\(level) threads \(threads)")
            }
        }
    }

    /// The panels hold B's columns in order, the last one padded with zeros, from B or from Bᵀ.
    @Test func packPanelsLaysOutColumnsOfThirtyTwo() {
        let k = 3, n = 40
        let b = (0..<(k * n)).map { Float($0) }
        let bT = (0..<(n * k)).map { i in b[(i % k) * n + i / k] }  // Bᵀ [n, k]
        for (source, transposed) in [(b, false), (bT, true)] {
            var out = [Float](repeating: -1, count: k * 64)
            source.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    LSTMKernel.packPanels(s.baseAddress!, rows: transposed ? n : k, columns: transposed ? k : n,
                                          transposed: transposed, into: o.baseAddress!)
                }
            }
            for p in 0..<k {
                for j in 0..<64 {
                    let packed = out[(j / 32) * k * 32 + p * 32 + j % 32]
                    #expect(packed == (j < n ? b[p * n + j] : 0), "transposed \(transposed) p \(p) j \(j)")
                }
            }
        }
    }
}
