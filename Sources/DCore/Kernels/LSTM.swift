import CKernels

/// Caffe's LSTM over a whole time-major sequence, with the GEMMs batched as far as the
/// recurrence allows.
///
/// Shapes (T steps, N streams, I inputs, H hidden units, S static inputs):
/// x [T·N, I], cont [T, N], xStatic [N, S]; W_xc [4H, I], b_c [4H], W_xc_static [4H, S],
/// W_hc [4H, H]; h0, c0, hT, cT [N, H]; hidden (the top) [T·N, H].
/// The four gates of a row of 4H are in Caffe's order i, f, o, g.
///
/// Work kept from forward for backward:
/// - `gates` [T·N, 4H]: the activations i, σ(f), o, g (f before cont gates it);
/// - `cells` [(T + 1)·N, H]: c0, then c_t for t = 0…T−1 (row block t + 1);
/// - `hPrev` [T·N, H]: cont_t·h_{t−1}, the rows W_hc multiplies at step t.
///
/// From kernel level `avx2` (`SmallGEMM.level`) the recurrence runs on Dendrite's own GEMM and
/// the C step kernels (Sources/CKernels/lstm.c), each thread taking its own streams through all
/// T steps: a stream's step needs only its own row of h_{t−1}, so the threads never wait for
/// one another, and W_hc is packed once per pass (`packPanels`), not at every step as OpenBLAS
/// packs it. Every element is summed over k in order, so the bits do not depend on the thread
/// count.
/// The `plain` level is OpenBLAS and the Swift step kernels: the path the fast one is tested
/// against, and the one the shipped char-lstm card was trained on.
public enum LSTMKernel {
    public struct Sizes: Sendable {
        public var t, n, i, h, s: Int
        public init(t: Int, n: Int, i: Int, h: Int, s: Int) { self.t = t; self.n = n; self.i = i; self.h = h; self.s = s }
    }

    /// Runs the sequence. `h0`/`c0` may be the same memory as `hT`/`cT` (the carried state):
    /// they are read into `hPrev` and `cells` before anything is written.
    /// `staticGates` [N, 4H] is scratch, used only with `xStatic`; `packed` (`packedCount(h:)`
    /// floats) is scratch for the own kernels.
    public static func forward(_ z: Sizes, x: FloatView, cont: FloatView, xStatic: FloatView?,
                               wxc: FloatView, bc: FloatView, wxs: FloatView?, whc: FloatView,
                               h0: FloatView, c0: FloatView, hidden: FloatView, hT: FloatView, cT: FloatView,
                               gates: FloatView, cells: FloatView, hPrev: FloatView, staticGates: FloatView,
                               packed: FloatView, parallel: Parallel, level: SmallGEMM.Level = SmallGEMM.level) {
        let (T, N, H) = (z.t, z.n, z.h), G = 4 * H, NH = N * H
        // All T input projections in one GEMM: gates = x·W_xcᵀ + b_c, [T·N, 4H].
        InnerProductKernel.forward(m: T * N, n: G, k: z.i, transpose: false, input: x, weight: wxc, bias: bc,
                                   output: gates, parallel: parallel)
        if let xStatic, let wxs {
            // W_xc_static·x_static [N, 4H], the same at every step.
            BLAS.gemm(transA: false, transB: true, m: N, n: G, k: z.s, a: xStatic.base, lda: z.s, b: wxs.base, ldb: z.s,
                      beta: 0, c: staticGates.base, ldc: G, parallel: parallel)
            let sg = staticGates.base, gp = gates.base
            for t in 0..<T {
                let row = gp + t * N * G
                for k in 0..<(N * G) { row[k] += sg[k] }
            }
        }
        let ct = cont.base, hp = hPrev.base, cs = cells.base
        // Step 0's inputs: cont_0·h0 and c0 (cont gates c through f below).
        for n in 0..<N {
            let c0n = ct[n]
            for d in 0..<H { hp[n * H + d] = c0n * h0.base[n * H + d] }
        }
        cs.update(from: c0.base, count: NH)
        if ownKernels(level) {
            // W_hcᵀ [H, 4H] in panels of 32 columns.
            packPanels(whc.base, rows: G, columns: H, transposed: true, into: packed.base)
            parallel.forChunks(N) { streams in
                let n0 = streams.lowerBound, rows = streams.count
                let ct = cont.base + n0, hp = hPrev.base + n0 * H, cs = cells.base + n0 * H
                for t in 0..<T {
                    let g = gates.base + (t * N + n0) * G, last = t + 1 == T
                    // gates_t += (cont_t·h_{t−1}) [rows, H] · W_hcᵀ [H, 4H] for this thread's streams.
                    panelGEMM(m: rows, n: G, k: H, a: hp + t * NH, lda: H, panels: packed.base, c: g, ldc: G, accumulate: true, level: level)
                    dk_lstm_step_forward(rows, H, g, ct + t * N, last ? nil : ct + (t + 1) * N, cs + t * NH, cs + (t + 1) * NH,
                                         hidden.base + t * NH + n0 * H, last ? nil : hp + (t + 1) * NH)
                }
            }
        } else {
            recurrence(z, gates: gates, cont: cont, whc: whc, hidden: hidden, cells: cells, hPrev: hPrev, parallel: parallel)
        }
        // Copy last: hT/cT may alias h0/c0, which were read above.
        hT.base.update(from: hidden.base + (T - 1) * NH, count: NH)
        cT.base.update(from: cs + T * NH, count: NH)
    }

    /// B [k, n] (or, `transposed`, Bᵀ [n, k]) row-major, copied into panels of 32 columns, each
    /// [k, 32] row-major, the last one padded: the layout `panelGEMM` reads. Within a panel the
    /// kernel's two vectors of B per row are one contiguous 128 bytes, where B's own rows (1 or
    /// 4 KB apart here) fell into few cache sets and came from L2 or L3 at every tile.
    static func packPanels(_ b: UnsafePointer<Float>, rows: Int, columns: Int, transposed: Bool,
                           into out: UnsafeMutablePointer<Float>) {
        let (k, n) = transposed ? (columns, rows) : (rows, columns)
        for j0 in stride(from: 0, to: n, by: 32) {
            let panel = out + j0 * k, width = min(32, n - j0)
            for p in 0..<k {
                let row = panel + p * 32
                for c in 0..<width { row[c] = transposed ? b[(j0 + c) * k + p] : b[p * n + j0 + c] }
                for c in width..<32 { row[c] = 0 }
            }
        }
    }

    /// Floats of the `packed` scratch for H hidden units: W_hcᵀ [H, 4H] or W_hc [4H, H] in panels.
    public static func packedCount(h: Int) -> Int { max(h * ((4 * h + 31) / 32 * 32), 4 * h * ((h + 31) / 32 * 32)) }

    /// C [m, n] (+)= A [m, k]·B with B in `packPanels`' layout: the own kernel panel by panel.
    static func panelGEMM(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, panels: UnsafePointer<Float>,
                          c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, level: SmallGEMM.Level) {
        for j0 in stride(from: 0, to: n, by: 32) {
            SmallGEMM.gemm(transA: false, m: m, n: min(32, n - j0), k: k, a: a, lda: lda, b: panels + j0 * k, ldb: 32,
                           c: c + j0, ldc: ldc, accumulate: accumulate, level: level)
        }
    }

    /// Whether `level` runs the own kernels (else OpenBLAS and the Swift step kernels).
    static func ownKernels(_ level: SmallGEMM.Level) -> Bool { SmallGEMM.ownKernel(transA: false, level: level) }

    /// The plain level's recurrence: per step one OpenBLAS GEMM over all streams, then the
    /// element-wise pass.
    static func recurrence(_ z: Sizes, gates: FloatView, cont: FloatView, whc: FloatView, hidden: FloatView,
                           cells: FloatView, hPrev: FloatView, parallel: Parallel) {
        let (T, N, H) = (z.t, z.n, z.h), G = 4 * H, NH = N * H
        let ct = cont.base, hp = hPrev.base, cs = cells.base
        for t in 0..<T {
            let g = gates.base + t * N * G
            // One GEMM for all four gates: gates_t += (cont_t·h_{t−1}) [N, H] · W_hcᵀ [H, 4H].
            BLAS.gemm(transA: false, transB: true, m: N, n: G, k: H, a: hp + t * NH, lda: H, b: whc.base, ldb: H,
                      beta: 1, c: g, ldc: G, parallel: parallel)
            stepForward(t: t, z, gates: g, cont: ct, cellPrev: cs + t * NH, cell: cs + (t + 1) * NH,
                        hidden: hidden.base + t * NH, hNext: t + 1 < T ? hp + (t + 1) * NH : nil)
        }
    }

    /// The fused element-wise pass of one step over [N, H]: activations, the cell, the hidden
    /// output, and cont_{t+1}·h_t for the next step's GEMM. Eight units at a time: with libm's
    /// scalar exp and tanh this pass took longer than the step's GEMM.
    @inline(__always)
    static func stepForward(t: Int, _ z: Sizes, gates g: UnsafeMutablePointer<Float>, cont: UnsafeMutablePointer<Float>,
                            cellPrev: UnsafeMutablePointer<Float>, cell: UnsafeMutablePointer<Float>,
                            hidden: UnsafeMutablePointer<Float>, hNext: UnsafeMutablePointer<Float>?) {
        let (N, H) = (z.n, z.h), G = 4 * H
        for n in 0..<N {
            let c = cont[t * N + n], cNext = hNext == nil ? 0 : cont[(t + 1) * N + n]
            let row = g + n * G, cp = cellPrev + n * H, cc = cell + n * H, hh = hidden + n * H
            var d = 0
            while d < H {
                let k = min(8, H - d)
                let ig = VectorMath.sigmoid(VectorMath.load(row + d, k))
                let fg = VectorMath.sigmoid(VectorMath.load(row + H + d, k))
                let og = VectorMath.sigmoid(VectorMath.load(row + 2 * H + d, k))
                let gg = VectorMath.tanh(VectorMath.load(row + 3 * H + d, k))
                let cv = c * fg * VectorMath.load(cp + d, k) + ig * gg
                let h = og * VectorMath.tanh(cv)
                VectorMath.store(ig, row + d, k)
                VectorMath.store(fg, row + H + d, k)
                VectorMath.store(og, row + 2 * H + d, k)
                VectorMath.store(gg, row + 3 * H + d, k)
                VectorMath.store(cv, cc + d, k)
                VectorMath.store(h, hh + d, k)
                if let hNext { VectorMath.store(cNext * h, hNext + n * H + d, k) }
                d += 8
            }
        }
    }

    typealias V = VectorMath.V

    /// Gradients wanted from backward; nil where none is. Parameter gradients are added to,
    /// bottom gradients written or added (`accumulate…`).
    public struct Gradients {
        public var wxc, bc, wxs, whc: FloatView?
        public var x, xStatic, h0, c0: FloatView?
        public var accumulateX, accumulateStatic, accumulateH0, accumulateC0: Bool
        public init(wxc: FloatView?, bc: FloatView?, wxs: FloatView?, whc: FloatView?, x: FloatView?, xStatic: FloatView?,
                    h0: FloatView?, c0: FloatView?, accumulateX: Bool, accumulateStatic: Bool, accumulateH0: Bool, accumulateC0: Bool) {
            self.wxc = wxc; self.bc = bc; self.wxs = wxs; self.whc = whc; self.x = x; self.xStatic = xStatic
            self.h0 = h0; self.c0 = c0; self.accumulateX = accumulateX; self.accumulateStatic = accumulateStatic
            self.accumulateH0 = accumulateH0; self.accumulateC0 = accumulateC0
        }
    }

    /// Backpropagation through time over the whole sequence (no further: the carried state's
    /// gradient stops at the sequence's start, as in Caffe). `hiddenGrad` [T·N, H] (nil: zero); `hTGrad`,
    /// `cTGrad` [N, H] when the last state is a top. Scratch: `gateGrads` [T·N, 4H] (the
    /// pre-activations' gradients; the stored activations stay, so backward may run again),
    /// `dh`, `dc` [N, H], `staticSum` [N, 4H], `packed` (`packedCount(h:)` floats).
    public static func backward(_ z: Sizes, x: FloatView, cont: FloatView, xStatic: FloatView?,
                                wxc: FloatView, wxs: FloatView?, whc: FloatView,
                                gates: FloatView, cells: FloatView, hPrev: FloatView, gateGrads: FloatView,
                                hiddenGrad: FloatView?, hTGrad: FloatView?, cTGrad: FloatView?,
                                grads: Gradients, dh: FloatView, dc: FloatView, staticSum: FloatView, packed: FloatView, parallel: Parallel,
                                level: SmallGEMM.Level = SmallGEMM.level) {
        let (T, N, H) = (z.t, z.n, z.h), G = 4 * H, NH = N * H
        // dh holds W_hcᵀ·dgates_{t+1} (not yet gated by cont_{t+1}); dc the gradient reaching c_t from step t+1.
        if let hTGrad { dh.copy(from: hTGrad) } else { dh.zero() }
        if let cTGrad { dc.copy(from: cTGrad) } else { dc.zero() }
        let ct = cont.base, cs = cells.base
        if ownKernels(level) {
            let toH0 = grads.h0 != nil
            // W_hc [4H, H] in panels of 32 columns.
            packPanels(whc.base, rows: G, columns: H, transposed: false, into: packed.base)
            parallel.forChunks(N) { streams in
                let n0 = streams.lowerBound, rows = streams.count
                let ct = cont.base + n0, cs = cells.base + n0 * H, dh = dh.base + n0 * H, dc = dc.base + n0 * H
                for t in stride(from: T - 1, through: 0, by: -1) {
                    let g = gateGrads.base + (t * N + n0) * G
                    dk_lstm_step_backward(rows, H, gates.base + (t * N + n0) * G, g, ct + t * N, t + 1 < T ? ct + (t + 1) * N : nil,
                                          cs + t * NH, cs + (t + 1) * NH, hiddenGrad.map { $0.base + t * NH + n0 * H }, dh, dc)
                    // dh = dgates_t [rows, 4H] · W_hc [4H, H] for this thread's streams.
                    if t > 0 || toH0 {
                        panelGEMM(m: rows, n: H, k: G, a: g, lda: G, panels: packed.base, c: dh, ldc: H, accumulate: false, level: level)
                    }
                }
            }
        } else {
            for t in stride(from: T - 1, through: 0, by: -1) {
                let g = gateGrads.base + t * N * G
                stepBackward(t: t, z, gates: gates.base + t * N * G, gateGrads: g, cont: ct, cellPrev: cs + t * NH, cell: cs + (t + 1) * NH,
                             hiddenGrad: hiddenGrad.map { $0.base + t * NH }, dh: dh.base, dc: dc.base)
                // One GEMM for the gradient reaching h_{t−1} through all four gates: [N, 4H]·[4H, H].
                if t > 0 || grads.h0 != nil {
                    BLAS.gemm(transA: false, transB: false, m: N, n: H, k: G, a: g, lda: G, b: whc.base, ldb: H,
                              beta: 0, c: dh.base, ldc: H, parallel: parallel)
                }
            }
        }
        if let h0 = grads.h0 {
            for n in 0..<N {
                for d in 0..<H {
                    let v = ct[n] * dh.base[n * H + d]
                    h0.base[n * H + d] = grads.accumulateH0 ? h0.base[n * H + d] + v : v
                }
            }
        }
        if let c0 = grads.c0 {
            for k in 0..<NH { c0.base[k] = grads.accumulateC0 ? c0.base[k] + dc.base[k] : dc.base[k] }
        }
        // dW_hc += Σ_t dgates_tᵀ·(cont_t·h_{t−1}): one GEMM over all T·N rows, [4H, T·N]·[T·N, H].
        if let whcGrad = grads.whc {
            BLAS.gemm(transA: true, transB: false, m: G, n: H, k: T * N, a: gateGrads.base, lda: G, b: hPrev.base, ldb: H,
                      beta: 1, c: whcGrad.base, ldc: H, parallel: parallel)
        }
        // dW_xc, db_c and dx: one GEMM each over all T·N rows, as an inner product's backward.
        InnerProductKernel.backward(m: T * N, n: G, k: z.i, transpose: false, input: x, weight: wxc, outputGrad: gateGrads,
                                    weightGrad: grads.wxc, biasGrad: grads.bc, inputGrad: grads.x,
                                    accumulateInput: grads.accumulateX, parallel: parallel)
        if let xStatic, let wxs, grads.wxs != nil || grads.xStatic != nil {
            // The static input feeds every step: sum the gate gradients over t first, [N, 4H].
            let sum = staticSum.base
            sum.update(from: gateGrads.base, count: N * G)
            for t in 1..<max(T, 1) {
                let row = gateGrads.base + t * N * G
                for k in 0..<(N * G) { sum[k] += row[k] }
            }
            if let wxsGrad = grads.wxs {
                BLAS.gemm(transA: true, transB: false, m: G, n: z.s, k: N, a: sum, lda: G, b: xStatic.base, ldb: z.s,
                          beta: 1, c: wxsGrad.base, ldc: z.s, parallel: parallel)
            }
            if let xsGrad = grads.xStatic {
                BLAS.gemm(transA: false, transB: false, m: N, n: z.s, k: G, a: sum, lda: G, b: wxs.base, ldb: z.s,
                          beta: grads.accumulateStatic ? 1 : 0, c: xsGrad.base, ldc: z.s, parallel: parallel)
            }
        }
    }

    /// The fused element-wise backward of one step over [N, H]: from the stored activations,
    /// the pre-activations' gradients [N, 4H], and leaves in `dc` the gradient reaching c_{t−1}.
    @inline(__always)
    static func stepBackward(t: Int, _ z: Sizes, gates g: UnsafeMutablePointer<Float>, gateGrads dg: UnsafeMutablePointer<Float>, cont: UnsafeMutablePointer<Float>,
                             cellPrev: UnsafeMutablePointer<Float>, cell: UnsafeMutablePointer<Float>,
                             hiddenGrad: UnsafeMutablePointer<Float>?, dh: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>) {
        let (T, N, H) = (z.t, z.n, z.h), G = 4 * H
        for n in 0..<N {
            let c = cont[t * N + n]
            // h_t reaches step t+1 as cont_{t+1}·h_t; at the last step dh holds dL/dh_T itself.
            let cNext = t + 1 < T ? cont[(t + 1) * N + n] : 1
            let row = g + n * G, out = dg + n * G, cp = cellPrev + n * H, cc = cell + n * H, dy = hiddenGrad.map { $0 + n * H }
            let dhr = dh + n * H, dcr = dc + n * H
            var d = 0
            while d < H {
                let k = min(8, H - d)
                let ig = VectorMath.load(row + d, k), fg = VectorMath.load(row + H + d, k)
                let og = VectorMath.load(row + 2 * H + d, k), gg = VectorMath.load(row + 3 * H + d, k)
                let tc = VectorMath.tanh(VectorMath.load(cc + d, k))
                let dhv = (dy.map { VectorMath.load($0 + d, k) } ?? V(repeating: 0)) + cNext * VectorMath.load(dhr + d, k)
                let dcv = VectorMath.load(dcr + d, k) + dhv * og * (1 - tc * tc)
                VectorMath.store(dcv * gg * ig * (1 - ig), out + d, k)
                VectorMath.store(dcv * c * VectorMath.load(cp + d, k) * fg * (1 - fg), out + H + d, k)
                VectorMath.store(dhv * tc * og * (1 - og), out + 2 * H + d, k)
                VectorMath.store(dcv * ig * (1 - gg * gg), out + 3 * H + d, k)
                VectorMath.store(dcv * c * fg, dcr + d, k)
                d += 8
            }
        }
    }
}
