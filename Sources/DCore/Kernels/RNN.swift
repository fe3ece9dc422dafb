/// Caffe's plain recurrent net over T time steps of N independent streams (time-major):
///
///     h_t = tanh(W_hh·(cont_t·h_{t−1}) + W_xh·x_t + b_h [+ W_xs·x_static])
///     o_t = tanh(W_ho·h_t + b_o)
///
/// Row-major shapes, with H hidden units, I inputs per step and S static inputs per stream:
/// x [T·N, I], cont [T·N], x_static [N, S], states [(T+1)·N, H] (h_0, h_1 … h_T), output
/// [T·N, H]. Weights are InnerProduct's [out, in]: W_xh [H, I], W_xs [H, S], W_hh [H, H],
/// W_ho [H, H]; biases [H].
public enum RNNKernel {
    public struct Dims: Sendable, Equatable {
        public var steps, streams, inputs, hidden, staticInputs: Int
        public init(steps: Int, streams: Int, inputs: Int, hidden: Int, staticInputs: Int) {
            self.steps = steps; self.streams = streams; self.inputs = inputs; self.hidden = hidden; self.staticInputs = staticInputs
        }
    }

    /// The parameters, or their gradients (nil: not wanted). `staticWeight` only with x_static.
    public struct Weights {
        public var inputWeight, hiddenBias: FloatView?
        public var staticWeight: FloatView?
        public var recurrentWeight, outputWeight, outputBias: FloatView?
        public init(inputWeight: FloatView?, hiddenBias: FloatView?, staticWeight: FloatView?,
                    recurrentWeight: FloatView?, outputWeight: FloatView?, outputBias: FloatView?) {
            self.inputWeight = inputWeight; self.hiddenBias = hiddenBias; self.staticWeight = staticWeight
            self.recurrentWeight = recurrentWeight; self.outputWeight = outputWeight; self.outputBias = outputBias
        }
    }

    /// Scratch memory: `sequence` floats (T·N·H) twice and `step` (N·H) twice.
    public struct Scratch {
        public var a, b, step, step2: FloatView
        public init(a: FloatView, b: FloatView, step: FloatView, step2: FloatView) {
            self.a = a; self.b = b; self.step = step; self.step2 = step2
        }
    }

    private static func view(_ p: UnsafeMutablePointer<Float>, _ count: Int) -> FloatView { FloatView(p, shape: Shape([count])) }

    /// `row[r, :] = scale[r] · source[r, :]` over `rows` rows of `width`, added to `row` with
    /// `accumulate`: the cont gate, one factor per stream.
    private static func scaleRows(_ source: UnsafePointer<Float>, by scale: UnsafePointer<Float>, into row: UnsafeMutablePointer<Float>,
                                  rows: Int, width: Int, accumulate: Bool) {
        for r in 0..<rows {
            let c = scale[r], s = source + r * width, d = row + r * width
            if accumulate {
                for j in 0..<width { d[j] += c * s[j] }
            } else {
                for j in 0..<width { d[j] = c * s[j] }
            }
        }
    }

    /// Runs the T steps. `states` must hold h_0 in its first N·H values; forward writes h_1 … h_T
    /// after it, and o into `output`. Every weight of `w` except `staticWeight` must be given.
    public static func forward(_ d: Dims, x: FloatView, cont: FloatView, xStatic: FloatView?, w: Weights,
                               states: FloatView, output: FloatView, scratch: Scratch, parallel: Parallel) {
        let (t, n, h) = (d.steps, d.streams, d.hidden), nh = n * h
        guard t > 0, nh > 0 else { return }
        let hs = states.base, c = cont.base
        // The input part of every step's pre-activation at once: [T·N, I]·[I, H] + b_h, written
        // where h_1 … h_T will be, then completed and squashed step by step in place.
        let pre = view(hs + nh, t * nh)
        InnerProductKernel.forward(m: t * n, n: h, k: d.inputs, transpose: false, input: x, weight: w.inputWeight!,
                                   bias: w.hiddenBias!, output: pre, parallel: parallel)
        // x_static's part, the same at every step: [N, S]·[S, H].
        let staticPart: UnsafeMutablePointer<Float>? = xStatic.map { xs in
            InnerProductKernel.forward(m: n, n: h, k: d.staticInputs, transpose: false, input: xs, weight: w.staticWeight!,
                                       bias: nil, output: scratch.step2, parallel: .serial)
            return scratch.step2.base
        }
        let gated = scratch.step.base, whh = w.recurrentWeight!.base
        for step in 0..<t {
            let previous = hs + step * nh, current = hs + (step + 1) * nh, gate = c + step * n
            // cont_t·h_{t−1}, [N, H]; a step where every stream starts anew skips the GEMM.
            if (0..<n).contains(where: { gate[$0] != 0 }) {
                scaleRows(previous, by: gate, into: gated, rows: n, width: h, accumulate: false)
                BLAS.gemm(transA: false, transB: true, m: n, n: h, k: h, a: gated, lda: h, b: whh, ldb: h,
                          beta: 1, c: current, ldc: h)
            }
            if let staticPart { for j in 0..<nh { current[j] += staticPart[j] } }
            for j in 0..<nh { current[j] = tanh(current[j]) }
        }
        // o for every step at once: [T·N, H]·[H, H] + b_o, then tanh.
        InnerProductKernel.forward(m: t * n, n: h, k: h, transpose: false, input: pre, weight: w.outputWeight!,
                                   bias: w.outputBias!, output: output, parallel: parallel)
        ActivationKernel.tanhForward(input: output, output: output)
    }

    /// Backpropagation through the T steps of the last forward (`states` and `output` as it left
    /// them). Adds into the parameter gradients of `grads` that are given; writes or adds
    /// (`accumulate…`) the gradients of x, x_static and h_0 that are given. `finalStateGrad`
    /// is dL/dh_T from outside (the exposed hT top), or nil. Nothing flows back to cont.
    public static func backward(_ d: Dims, x: FloatView, cont: FloatView, xStatic: FloatView?, w: Weights,
                                states: FloatView, output: FloatView, outputGrad: FloatView, finalStateGrad: FloatView?,
                                grads: Weights, inputGrad: FloatView?, accumulateInput: Bool,
                                staticGrad: FloatView?, accumulateStatic: Bool,
                                initialStateGrad: FloatView?, accumulateInitial: Bool,
                                scratch: Scratch, parallel: Parallel) {
        let (t, n, h) = (d.steps, d.streams, d.hidden), nh = n * h
        guard t > 0, nh > 0 else { return }
        let hs = states.base, c = cont.base, whh = w.recurrentWeight!.base
        let hidden = view(hs + nh, t * nh)  // h_1 … h_T, [T·N, H]
        // Through o = tanh(W_ho·h + b_o), all steps at once: a = do·(1 − o²) into scratch a;
        // dW_ho += aᵀ·h, db_o += Σ a, and dL/dh_t from the outputs, a·W_ho, into scratch b.
        let da = scratch.a, dh = scratch.b.base
        ActivationKernel.tanhBackward(output: output, outputGrad: outputGrad, inputGrad: da, accumulate: false)
        InnerProductKernel.backward(m: t * n, n: h, k: h, transpose: false, input: hidden, weight: w.outputWeight!,
                                    outputGrad: da, weightGrad: grads.outputWeight, biasGrad: grads.outputBias,
                                    inputGrad: scratch.b, accumulateInput: false, parallel: parallel)
        if let finalStateGrad {
            let g = finalStateGrad.base, last = dh + (t - 1) * nh
            for j in 0..<nh { last[j] += g[j] }
        }
        // Back through time: dh_t becomes dpre_t = dh_t·(1 − h_t²) in place; the recurrence
        // passes cont_t·(dpre_t·W_hh) on to dh_{t−1} (to h_0's gradient at the first step).
        let product = scratch.step.base
        for step in (0..<t).reversed() {
            let current = hs + (step + 1) * nh, dcurrent = dh + step * nh, gate = c + step * n
            for j in 0..<nh { dcurrent[j] *= 1 - current[j] * current[j] }
            if step == 0 && initialStateGrad == nil { continue }
            BLAS.gemm(transA: false, transB: false, m: n, n: h, k: h, a: dcurrent, lda: h, b: whh, ldb: h,
                      beta: 0, c: product, ldc: h)
            if step > 0 {
                scaleRows(product, by: gate, into: dh + (step - 1) * nh, rows: n, width: h, accumulate: true)
            } else {
                scaleRows(product, by: gate, into: initialStateGrad!.base, rows: n, width: h, accumulate: accumulateInitial)
            }
        }
        let dpre = scratch.b  // [T·N, H]
        // dW_hh += Σ_t dpre_tᵀ·(cont_t·h_{t−1}): the gated states of every step into scratch a
        // (its output gradients are used up), then one GEMM [H, T·N]·[T·N, H].
        if let dwhh = grads.recurrentWeight {
            for step in 0..<t {
                scaleRows(hs + step * nh, by: c + step * n, into: da.base + step * nh, rows: n, width: h, accumulate: false)
            }
            BLAS.gemm(transA: true, transB: false, m: h, n: h, k: t * n, a: dpre.base, lda: h, b: da.base, ldb: h,
                      beta: 1, c: dwhh.base, ldc: h, parallel: parallel)
        }
        // Through W_xh·x + b_h, all steps at once.
        InnerProductKernel.backward(m: t * n, n: h, k: d.inputs, transpose: false, input: x, weight: w.inputWeight!,
                                    outputGrad: dpre, weightGrad: grads.inputWeight, biasGrad: grads.hiddenBias,
                                    inputGrad: inputGrad, accumulateInput: accumulateInput, parallel: parallel)
        // Through W_xs·x_static, which every step added: its gradient is Σ_t dpre_t, [N, H].
        if let xStatic, grads.staticWeight != nil || staticGrad != nil {
            let sum = scratch.step2.base
            sum.update(from: dpre.base, count: nh)
            for step in 1..<t {
                let p = dpre.base + step * nh
                for j in 0..<nh { sum[j] += p[j] }
            }
            InnerProductKernel.backward(m: n, n: h, k: d.staticInputs, transpose: false, input: xStatic, weight: w.staticWeight!,
                                        outputGrad: scratch.step2, weightGrad: grads.staticWeight, biasGrad: nil,
                                        inputGrad: staticGrad, accumulateInput: accumulateStatic, parallel: .serial)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
