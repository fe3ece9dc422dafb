import DConfig
import DCore

/// Caffe's LSTM (`recurrent_param`), time-major, with Caffe's gate order i, f, o, g:
///   gates_t = W_xc·x_t + b_c [+ W_xc_static·x_static] + W_hc·(cont_t·h_{t−1})
///   c_t = cont_t·f⊙c_{t−1} + i⊙g,  h_t = o⊙tanh(c_t)
/// Bottoms: x [T, N, …] (flattened to I), cont [T, N], optional x_static [N, …] (flattened to S),
/// and with `expose_hidden` h0, c0 [1, N, H]. Tops: h [T, N, H], and with `expose_hidden`
/// hT, cT [1, N, H]. Parameters, in Caffe's blob order: W_xc [4H, I], b_c [4H],
/// W_xc_static [4H, S] (with x_static only), W_hc [4H, H].
///
/// Without `expose_hidden`, h_T and c_T of one forward are h0 and c0 of the next (Caffe's
/// carry), kept in `.persistent` work that the net zeroes when its size (N) changes.
public final class LSTMLayer: Layer {
    public let name: String
    let recurrent: RecurrentParams
    public var numOutput: Int { recurrent.numOutput }
    public var exposeHidden: Bool { recurrent.exposeHidden }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        recurrent = try RecurrentParams(spec)
    }

    public var bottomCount: ClosedRange<Int> { exposeHidden ? 4...5 : 2...3 }
    public var topCount: ClosedRange<Int> { exposeHidden ? 3...3 : 1...1 }
    /// cont is a mask, not a value with a gradient.
    public func propagates(toBottom i: Int) -> Bool { i != 1 }

    func hasStatic(_ bottoms: [Shape]) -> Bool { bottoms.count == (exposeHidden ? 5 : 3) }

    /// T, N, I, H and S (0 without x_static); nil when x has fewer than 2 axes.
    func sizes(_ bottoms: [Shape]) -> LSTMKernel.Sizes? {
        let x = bottoms[0]
        guard x.rank >= 2 else { return nil }
        let s = hasStatic(bottoms) ? bottoms[2].count(from: 1) : 0
        return LSTMKernel.Sizes(t: x[0], n: x[1], i: x.count(from: 2), h: numOutput, s: s)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard let z = sizes(bottoms) else {
            throw LayerError("x has shape \(bottoms[0]); it needs at least 2 axes, [T, N, …]",
                             hint: "LSTM is time-major: x [T, N, …] and cont [T, N]")
        }
        guard z.t >= 1, z.n >= 1 else { throw LayerError("x has shape \(bottoms[0]), with no time step or no stream") }
        guard bottoms[1] == Shape([z.t, z.n]) else {
            throw LayerError("cont has shape \(bottoms[1]); it must be [T, N] = \(Shape([z.t, z.n])) for x \(bottoms[0])",
                             hint: "cont is 0 at a sequence's first step and 1 elsewhere, one value per step and stream")
        }
        if hasStatic(bottoms) {
            let s = bottoms[2]
            guard s.rank >= 1, s[0] == z.n else {
                throw LayerError("x_static has shape \(s); its first axis must be N = \(z.n)",
                                 hint: "x_static is [N, …], one vector per stream, the same at every step")
            }
        }
        let state = Shape([1, z.n, numOutput])
        if exposeHidden {
            let first = hasStatic(bottoms) ? 3 : 2
            for (k, what) in [(first, "h0"), (first + 1, "c0")] where bottoms[k] != state {
                throw LayerError("\(what) has shape \(bottoms[k]); it must be [1, N, num_output] = \(state)",
                                 hint: "with expose_hidden the bottoms are x, cont, [x_static,] h0, c0")
            }
            return [Shape([z.t, z.n, numOutput]), state, state]
        }
        return [Shape([z.t, z.n, numOutput])]
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let z = sizes(bottoms) ?? LSTMKernel.Sizes(t: 0, n: 0, i: 0, h: numOutput, s: 0)
        let g = 4 * numOutput
        var decls = [ParameterDecl("W_xc", Shape([g, z.i]), filler: recurrent.weightFiller),
                     ParameterDecl("b_c", Shape([g]), filler: recurrent.biasFiller)]
        if hasStatic(bottoms) { decls.append(ParameterDecl("W_xc_static", Shape([g, z.s]), filler: recurrent.weightFiller)) }
        decls.append(ParameterDecl("W_hc", Shape([g, numOutput]), filler: recurrent.weightFiller))
        return decls
    }

    /// Work, in this order: gates [T·N·4H], cells [(T+1)·N·H], cont·h_{t−1} [T·N·H] (kept for
    /// backward); dh, dc [N·H] and the static gates [N·4H] (scratch); the carried h and c [2·N·H]
    /// (persistent, empty with `expose_hidden`); the gates' gradients [T·N·4H] (scratch, TRAIN only);
    /// W_hc packed for the own kernels (scratch, `LSTMKernel.packedCount`).
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        guard let z = sizes(bottoms) else { return [] }
        let kept: WorkspaceDecl.Lifetime = phase == .train ? .keptForBackward : .scratch
        let nh = z.n * z.h
        return [WorkspaceDecl(z.t * nh * 4, .float, kept), WorkspaceDecl((z.t + 1) * nh, .float, kept),
                WorkspaceDecl(z.t * nh, .float, kept),
                WorkspaceDecl(nh, .float, .scratch), WorkspaceDecl(nh, .float, .scratch),
                WorkspaceDecl(z.s > 0 ? z.n * 4 * z.h : 0, .float, .scratch),
                WorkspaceDecl(exposeHidden ? 0 : 2 * nh, .float, .persistent),
                WorkspaceDecl(phase == .train ? z.t * nh * 4 : 0, .float, .scratch),
                WorkspaceDecl(LSTMKernel.packedCount(h: z.h), .float, .scratch)]
    }

    /// GEMMs: 2·T·N·4H·(I + H) forward (+ 2·N·4H·S static), twice that backward (weights and
    /// inputs); element-wise 16 per T·N·H forward and 24 backward (+ the static sum, T·N·4H).
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        guard let z = sizes(bottoms) else { return (0, 0) }
        let (t, n, i, h, s) = (Double(z.t), Double(z.n), Double(z.i), Double(z.h), Double(z.s))
        let gemm = 2 * t * n * 4 * h * (i + h) + 2 * n * 4 * h * s
        let staticSum = z.s > 0 ? t * n * 4 * h : 0
        return (gemm + 16 * t * n * h, 2 * gemm + 24 * t * n * h + staticSum)
    }

    /// dx's GEMM and x_static's, which a first layer reading the data skips.
    public func inputGradientFlops(for bottoms: [Shape]) -> Double {
        guard let z = sizes(bottoms) else { return 0 }
        return 2 * Double(z.t * z.n * 4 * z.h) * Double(z.i) + 2 * Double(z.n * 4 * z.h) * Double(z.s)
    }

    /// W_xc·x over all T·N rows and W_xc_static·x_static as inner products; per step the
    /// recurrent [N, H]·W_hcᵀ forward and dgates·W_hc [N, 4H]·[4H, H] backward (counted at every
    /// step, as `flops` counts them); dW_hc as one product over all T·N rows.
    public func gemms(for bottoms: [Shape]) -> LayerGEMMs {
        var g = LayerGEMMs()
        guard let z = sizes(bottoms) else { return g }
        g.addInnerProduct(m: z.t * z.n, n: 4 * z.h, k: z.i)
        if z.s > 0 { g.addInnerProduct(m: z.n, n: 4 * z.h, k: z.s) }
        g.forward += Array(repeating: GEMMShape(m: z.n, n: 4 * z.h, k: z.h, transB: true), count: z.t)
        g.backward += Array(repeating: GEMMShape(m: z.n, n: z.h, k: 4 * z.h), count: z.t)
        g.backward.append(GEMMShape(m: 4 * z.h, n: z.h, k: z.t * z.n, transA: true))
        return g
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let shapes = io.bottoms.map(\.shape)
        let z = sizes(shapes)!
        let nh = z.n * z.h
        let st = hasStatic(shapes)
        let whc = io.params[st ? 3 : 2]
        let (h0, c0, hT, cT): (FloatView, FloatView, FloatView, FloatView)
        if exposeHidden {
            let b = st ? 3 : 2
            (h0, c0, hT, cT) = (io.bottoms[b], io.bottoms[b + 1], io.tops[1], io.tops[2])
        } else {
            // The carried state is read as h0, c0 and overwritten with hT, cT.
            let carried = io.work[6]
            (h0, c0) = (carried.slice(0, nh), carried.slice(nh, nh))
            (hT, cT) = (h0, c0)
        }
        LSTMKernel.forward(z, x: io.bottoms[0], cont: io.bottoms[1], xStatic: st ? io.bottoms[2] : nil,
                           wxc: io.params[0], bc: io.params[1], wxs: st ? io.params[2] : nil, whc: whc,
                           h0: h0, c0: c0, hidden: io.tops[0], hT: hT, cT: cT,
                           gates: io.work[0], cells: io.work[1], hPrev: io.work[2], staticGates: io.work[5],
                           packed: io.work[8], parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        let shapes = io.bottoms.map(\.shape)
        let z = sizes(shapes)!
        let st = hasStatic(shapes)
        let b = st ? 3 : 2
        let grads = LSTMKernel.Gradients(
            wxc: io.paramGrads[0], bc: io.paramGrads[1], wxs: st ? io.paramGrads[2] : nil, whc: io.paramGrads[st ? 3 : 2],
            x: io.bottomGrads[0], xStatic: st ? io.bottomGrads[2] : nil,
            h0: exposeHidden ? io.bottomGrads[b] : nil, c0: exposeHidden ? io.bottomGrads[b + 1] : nil,
            accumulateX: io.accumulateBottom[0], accumulateStatic: st && io.accumulateBottom[2],
            accumulateH0: exposeHidden && io.accumulateBottom[b], accumulateC0: exposeHidden && io.accumulateBottom[b + 1])
        LSTMKernel.backward(z, x: io.bottoms[0], cont: io.bottoms[1], xStatic: st ? io.bottoms[2] : nil,
                            wxc: io.params[0], wxs: st ? io.params[2] : nil, whc: io.params[st ? 3 : 2],
                            gates: io.work[0], cells: io.work[1], hPrev: io.work[2], gateGrads: io.work[7],
                            hiddenGrad: io.topGrads[0], hTGrad: exposeHidden ? io.topGrads[1] : nil,
                            cTGrad: exposeHidden ? io.topGrads[2] : nil,
                            grads: grads, dh: io.work[3], dc: io.work[4], staticSum: io.work[5], packed: io.work[8], parallel: step.parallel)
    }
}
