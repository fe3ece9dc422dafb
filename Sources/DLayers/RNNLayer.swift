import DConfig
import DCore

/// Caffe's plain recurrent layer (`RNN`, `recurrent_param`), time-major:
///
///     h_t = tanh(W_hh·(cont_t·h_{t−1}) + W_xh·x_t + b_h [+ W_xh_static·x_static])
///     o_t = tanh(W_ho·h_t + b_o)
///
/// Bottoms: x [T, N, …] (flattened from axis 2 to I values per step and stream), cont [T, N]
/// (0 starts a new sequence: h_{t−1} counts as 0; 1 carries it), optionally x_static [N, …]
/// (S values per stream, added at every step), and with `expose_hidden` h_0 [1, N, H] last.
/// Tops: o [T, N, H], and with `expose_hidden` h_T [1, N, H].
///
/// Without `expose_hidden`, h_0 is the h_T of the previous forward (Caffe's carry across
/// batches), kept in `persistent` work: zero when the net is built and whenever N changes.
/// Backward runs through the T steps of the batch only (truncated BPTT); cont gets no gradient.
public final class RNNLayer: Layer {
    public let name: String
    let recurrent: RecurrentParams
    public var numOutput: Int { recurrent.numOutput }
    public var exposeHidden: Bool { recurrent.exposeHidden }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        recurrent = try RecurrentParams(spec)
    }

    public var bottomCount: ClosedRange<Int> { exposeHidden ? 3...4 : 2...3 }
    public var topCount: ClosedRange<Int> { exposeHidden ? 2...2 : 1...1 }

    /// Whether the bottoms include x_static (bottom 2, before h_0).
    func hasStatic(_ bottomCount: Int) -> Bool { bottomCount == (exposeHidden ? 4 : 3) }

    func dims(_ bottoms: [Shape]) -> RNNKernel.Dims {
        let x = bottoms[0]
        return RNNKernel.Dims(steps: x[0], streams: x[1], inputs: x.count(from: 2), hidden: numOutput,
                              staticInputs: hasStatic(bottoms.count) ? bottoms[2].count(from: 1) : 0)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let x = bottoms[0], cont = bottoms[1]
        guard x.rank >= 2 else {
            throw LayerError("x (bottom 0) has shape \(x); it needs axes [T, N, …]: time steps, then streams",
                             hint: "RNN is time-major, as Caffe's; reshape a single sequence to [T, 1, …]")
        }
        let (t, n) = (x[0], x[1])
        guard cont.dims == [t, n] else {
            throw LayerError("cont (bottom 1) has shape \(cont); it must be T×N = \(t)×\(n), one flag per step and stream of x (\(x))",
                             hint: "cont is 0 at the first step of a sequence (resetting the hidden state) and 1 after it")
        }
        if hasStatic(bottoms.count) {
            let s = bottoms[2]
            guard s.rank >= 1, s[0] == n else {
                throw LayerError("x_static (bottom 2) has shape \(s); it must be [N, …] with N = \(n), the streams of x (\(x))",
                                 hint: "x_static holds one input per stream, added at every step")
            }
        }
        let state = Shape([1, n, numOutput])
        if exposeHidden {
            let h0 = bottoms[bottoms.count - 1]
            guard h0 == state else {
                throw LayerError("h_0 (bottom \(bottoms.count - 1)) has shape \(h0); with expose_hidden it must be 1×N×H = \(state)",
                                 hint: "the last bottom is the hidden state before the first step, e.g. the h_T top of a previous RNN")
            }
        }
        let o = Shape([t, n, numOutput])
        return exposeHidden ? [o, state] : [o]
    }

    /// Caffe's blobs in Caffe's order, under Caffe's names: W_xh [H, I], b_h [H],
    /// W_xh_static [H, S] (with x_static), W_hh [H, H], W_ho [H, H], b_o [H].
    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let d = dims(bottoms), h = numOutput
        var decls = [ParameterDecl("W_xh", Shape([h, d.inputs]), filler: recurrent.weightFiller),
                     ParameterDecl("b_h", Shape([h]), filler: recurrent.biasFiller)]
        if hasStatic(bottoms.count) { decls.append(ParameterDecl("W_xh_static", Shape([h, d.staticInputs]), filler: recurrent.weightFiller)) }
        decls += [ParameterDecl("W_hh", Shape([h, h]), filler: recurrent.weightFiller),
                  ParameterDecl("W_ho", Shape([h, h]), filler: recurrent.weightFiller),
                  ParameterDecl("b_o", Shape([h]), filler: recurrent.biasFiller)]
        return decls
    }

    /// 0: h_0 … h_T, [(T+1)·N·H], which backward reads; 1, 2: [T·N·H] scratch for backward;
    /// 3, 4: [N·H] scratch for one step; 5 (without expose_hidden): the carried h_T, [N·H].
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        let d = dims(bottoms), nh = d.streams * d.hidden, sequence = d.steps * nh
        let train = phase == .train
        var work = [WorkspaceDecl(sequence + nh, .float, train ? .keptForBackward : .scratch),
                    WorkspaceDecl(train ? sequence : 0, .float, .scratch),
                    WorkspaceDecl(train ? sequence : 0, .float, .scratch),
                    WorkspaceDecl(nh, .float, .scratch),
                    WorkspaceDecl(nh, .float, .scratch)]
        if !exposeHidden { work.append(WorkspaceDecl(nh, .float, .persistent)) }
        return work
    }

    /// Not to cont (Caffe refuses to); to x, x_static and h_0.
    public func propagates(toBottom i: Int) -> Bool { i != 1 }

    /// The GEMMs, counted as InnerProduct counts them; tanh, the cont gate and the sums
    /// (a few per hidden value) are left out. Forward: W_xh·x for all steps (2·TN·I·H), one
    /// W_hh GEMM per step (2·TN·H·H in all), W_ho·h (2·TN·H·H), W_xh_static·x_static (2·N·S·H).
    /// Backward: two GEMMs for each of those (the weight's gradient and the input's).
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        let d = dims(bottoms)
        let tn = Double(d.steps * d.streams), h = Double(d.hidden)
        let f = 2 * tn * h * (Double(d.inputs) + 2 * h) + 2 * Double(d.streams * d.staticInputs) * h
        return (f, 2 * f)
    }

    /// The GEMMs that give x's and x_static's gradients; the recurrence through h runs whenever
    /// a parameter learns, so it is not skipped.
    public func inputGradientFlops(for bottoms: [Shape]) -> Double {
        let d = dims(bottoms)
        return 2 * Double(d.hidden) * (Double(d.steps * d.streams * d.inputs) + Double(d.streams * d.staticInputs))
    }

    /// As `flops` counts them: W_xh·x, W_ho·h and W_xh_static·x_static as inner products (h is
    /// the layer's own, so its gradient always runs); per step [N, H]·W_hhᵀ forward and
    /// [N, H]·W_hh backward; dW_hh as one product over all T·N rows.
    public func gemms(for bottoms: [Shape]) -> LayerGEMMs {
        let d = dims(bottoms), tn = d.steps * d.streams
        var g = LayerGEMMs()
        g.addInnerProduct(m: tn, n: d.hidden, k: d.inputs)
        g.addInnerProduct(m: tn, n: d.hidden, k: d.hidden, bottomInput: false)
        if d.staticInputs > 0 { g.addInnerProduct(m: d.streams, n: d.hidden, k: d.staticInputs) }
        g.forward += Array(repeating: GEMMShape(m: d.streams, n: d.hidden, k: d.hidden, transB: true), count: d.steps)
        g.backward += Array(repeating: GEMMShape(m: d.streams, n: d.hidden, k: d.hidden), count: d.steps)
        g.backward.append(GEMMShape(m: d.hidden, n: d.hidden, k: tn, transA: true))
        return g
    }

    private func weights(_ views: [FloatView?], static hasStatic: Bool) -> RNNKernel.Weights {
        let o = hasStatic ? 1 : 0
        return RNNKernel.Weights(inputWeight: views[0], hiddenBias: views[1], staticWeight: hasStatic ? views[2] : nil,
                                 recurrentWeight: views[2 + o], outputWeight: views[3 + o], outputBias: views[4 + o])
    }

    private func scratch(_ io: LayerIO) -> RNNKernel.Scratch {
        RNNKernel.Scratch(a: io.work[1], b: io.work[2], step: io.work[3], step2: io.work[4])
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let d = dims(io.bottoms.map(\.shape)), nh = d.streams * d.hidden
        let hasStatic = hasStatic(io.bottoms.count)
        let states = io.work[0]
        // h_0: the exposed bottom, or what the last forward left (zeros at first).
        let initial = exposeHidden ? io.bottoms[io.bottoms.count - 1] : io.work[5]
        states.slice(0, nh).copy(from: initial)
        RNNKernel.forward(d, x: io.bottoms[0], cont: io.bottoms[1], xStatic: hasStatic ? io.bottoms[2] : nil,
                          w: weights(io.params, static: hasStatic), states: states, output: io.tops[0],
                          scratch: scratch(io), parallel: step.parallel)
        let final = states.slice(d.steps * nh, nh)
        if exposeHidden { io.tops[1].reshaped(Shape([nh])).copy(from: final) } else { io.work[5].copy(from: final) }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        let d = dims(io.bottoms.map(\.shape))
        let hasStatic = hasStatic(io.bottoms.count), last = io.bottoms.count - 1
        RNNKernel.backward(
            d, x: io.bottoms[0], cont: io.bottoms[1], xStatic: hasStatic ? io.bottoms[2] : nil,
            w: weights(io.params, static: hasStatic), states: io.work[0], output: io.tops[0], outputGrad: io.topGrads[0]!,
            finalStateGrad: exposeHidden ? io.topGrads[1] : nil, grads: weights(io.paramGrads, static: hasStatic),
            inputGrad: io.bottomGrads[0], accumulateInput: io.accumulateBottom[0],
            staticGrad: hasStatic ? io.bottomGrads[2] : nil, accumulateStatic: hasStatic && io.accumulateBottom[2],
            initialStateGrad: exposeHidden ? io.bottomGrads[last] : nil, accumulateInitial: exposeHidden && io.accumulateBottom[last],
            scratch: scratch(io), parallel: step.parallel)
    }
}
