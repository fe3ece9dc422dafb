@testable import DCore
import Testing

/// The element-wise kernels that run in place (ReLU, BatchNorm's normalisation and input
/// gradient) compute eight lanes at a time from explicit vector loads. Whether in place or not,
/// on one thread or three, for every tail length, each element must get the bits of its formula
/// computed alone in Float, −0, NaN and ±∞ included.
@Suite struct InPlaceKernelTests {
    /// 40 003 crosses the size from which ReLU uses the threads, with a tail of three.
    static let counts = [1, 7, 8, 9, 16, 37, 40_003]

    static func inputs(_ count: Int) -> [Float] {
        let special: [Float] = [-0.0, 0, .nan, .infinity, -.infinity, .leastNonzeroMagnitude, -Float.leastNormalMagnitude / 4]  // subnormals last
        return (0..<count).map { $0 % 13 < special.count ? special[$0 % 13] : Float($0 % 29) * 0.37 - 5 }
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    @Test(arguments: counts) func reluForward(count: Int) {
        let x = Self.inputs(count)
        for slope: Float in [0, 0.1] {
            let expected = x.map { slope == 0 ? max($0, 0) : ($0 > 0 ? $0 : slope * $0) }
            for threads in [1, 3] {
                let input = Tensor(shape: Shape([count]), values: x), output = Tensor(shape: Shape([count]))
                ActivationKernel.reluForward(input: input.view, output: output.view, slope: slope, parallel: Parallel(threads: threads))
                #expect(Self.bits(output.values) == Self.bits(expected), "slope \(slope), \(threads) threads")
                ActivationKernel.reluForward(input: input.view, output: input.view, slope: slope, parallel: Parallel(threads: threads))
                #expect(Self.bits(input.values) == Self.bits(expected), "in place, slope \(slope), \(threads) threads")
            }
        }
    }

    @Test(arguments: counts) func reluBackward(count: Int) {
        let sign = Self.inputs(count), dy = Self.inputs(count + 5).suffix(count).map { $0 }
        let before = (0..<count).map { Float($0 % 7) * 0.5 - 1 }
        for slope: Float in [0, 0.1] {
            let gradient = (0..<count).map { sign[$0] > 0 ? dy[$0] : slope * dy[$0] }
            for threads in [1, 3] {
                let s = Tensor(shape: Shape([count]), values: sign), g = Tensor(shape: Shape([count]), values: dy)
                let dx = Tensor(shape: Shape([count]), values: before)
                ActivationKernel.reluBackward(sign: s.view, outputGrad: g.view, inputGrad: dx.view, slope: slope, accumulate: true,
                                              parallel: Parallel(threads: threads))
                #expect(Self.bits(dx.values) == Self.bits(zip(before, gradient).map { $0 + $1 }), "accumulated, slope \(slope), \(threads) threads")
                ActivationKernel.reluBackward(sign: s.view, outputGrad: g.view, inputGrad: g.view, slope: slope, accumulate: false,
                                              parallel: Parallel(threads: threads))
                #expect(Self.bits(g.values) == Self.bits(gradient), "in place, slope \(slope), \(threads) threads")
            }
        }
    }

    /// x [2, 3, S] with S = count: normalisation and the input gradient with batch statistics,
    /// in place, against the formulas per element.
    @Test(arguments: [1, 7, 8, 9, 37]) func batchNormInPlace(spatial s: Int) {
        let (n, c) = (2, 3), count = n * c * s
        let x = (0..<count).map { Float($0 % 17) * 0.3 - 2 }, dy = (0..<count).map { Float($0 % 11) * -0.2 + 0.9 }
        let mean: [Float] = [0.1, -0.4, 0.7], invStd: [Float] = [1.3, 0.8, 2.1]
        let normalized = (0..<count).map { i in (x[i] - mean[(i / s) % c]) * invStd[(i / s) % c] }
        let t = Tensor(shape: Shape([n, c, s]), values: x)
        BatchNormKernel.normalize(t.view, into: t.view, n: n, channels: c, spatial: s, mean: mean, invStd: invStd, parallel: Parallel(threads: 3))
        #expect(Self.bits(t.values) == Self.bits(normalized))

        // With global statistics dx = dy·invStd, bit for bit (the means are 0). With batch
        // statistics dx = (dy − mean(dy) − y·mean(dy·y))·invStd, the means per channel: the
        // kernel sums rows in Float lanes, so that form is compared with a tolerance.
        let g = Tensor(shape: Shape([n, c, s]), values: dy)
        BatchNormKernel.backward(y: t.view, outputGrad: g.view, inputGrad: g.view, n: n, channels: c, spatial: s, invStd: invStd,
                                 batchStatistics: false, accumulate: false, parallel: Parallel(threads: 3))
        #expect(Self.bits(g.values) == Self.bits((0..<count).map { i in (dy[i] - 0 - normalized[i] * 0) * invStd[(i / s) % c] }))
        g.view.copy(from: dy)
        BatchNormKernel.backward(y: t.view, outputGrad: g.view, inputGrad: g.view, n: n, channels: c, spatial: s, invStd: invStd,
                                 batchStatistics: true, accumulate: false, parallel: Parallel(threads: 3))
        for ch in 0..<c {
            let rows = (0..<n).flatMap { b in (0..<s).map { (b * c + ch) * s + $0 } }
            let mg = rows.map { Double(dy[$0]) }.reduce(0, +) / Double(rows.count)
            let mgy = rows.map { Double(dy[$0]) * Double(normalized[$0]) }.reduce(0, +) / Double(rows.count)
            for i in rows {
                let expected = (Double(dy[i]) - mg - Double(normalized[i]) * mgy) * Double(invStd[ch])
                #expect(abs(Double(g.values[i]) - expected) <= 1e-5 * max(1, abs(expected)), "element \(i)")
            }
        }
    }
}
