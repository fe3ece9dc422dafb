import DConfig
import DCore

/// Max, average or stochastic pooling per channel. Shapes: bottom [N, C, H, W] → top
/// [N, C, OH, OW] with OH = ceil((H + 2·pad − kernel) / stride) + 1 (`round_mode: CEIL`, Caffe's
/// default) or floor(…) + 1 (`FLOOR`), less one if the last window would start in the bottom
/// padding or past the image.
public final class PoolingLayer: Layer {
    public enum Method: String, CaseIterable { case max = "MAX", ave = "AVE", stochastic = "STOCHASTIC" }
    /// Caffe's `PoolingParameter.RoundMode`.
    public enum RoundMode: String, CaseIterable { case ceil = "CEIL", floor = "FLOOR" }

    public let name: String
    public let method: Method
    public let roundMode: RoundMode
    public let window: WindowParams
    public let global: Bool

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("pooling_param")
        method = try p.choice("pool", default: Method.max)
        roundMode = try p.choice("round_mode", default: RoundMode.ceil)
        global = try p.bool("global_pooling", default: false)
        window = try WindowParams.decode(p, kernelRequired: !global)
        try p.finish()
        if global {
            if p.has("kernel_size") || p.has("kernel_h") {
                throw p.error("global_pooling", "global pooling takes its window from the bottom; remove kernel_size")
            }
            // Caffe's check: the one window covers the image exactly.
            if window.padH != 0 || window.padW != 0 || window.strideH != 1 || window.strideW != 1 {
                throw p.error("global_pooling", "global pooling takes only pad 0 and stride 1 (Caffe's rule), found pad \(window.padH)×\(window.padW), stride \(window.strideH)×\(window.strideW)")
            }
        }
        if window.padH >= window.kernelH || window.padW >= window.kernelW, !global {
            throw p.error("pad", "pad must be smaller than the kernel (Caffe's rule), found pad \(window.padH)×\(window.padW) for kernel \(window.kernelH)×\(window.kernelW)")
        }
        if method == .stochastic, window.padH != 0 || window.padW != 0 {
            throw p.error(p.has("pad") ? "pad" : "pad_h", "padding is implemented only for MAX and AVE pooling (Caffe's rule)")
        }
    }

    /// Caffe's size, rounded up (CEIL) or down (FLOOR). Caffe drops a last window that starts
    /// in the bottom padding only when pad > 0; Dendrite drops it always, because with CEIL and
    /// a kernel smaller than the stride it can start past the image and hold nothing (width 4,
    /// kernel 1, stride 2). With FLOOR, (OH − 1)·stride ≤ H + 2·pad − kernel < H + pad, so
    /// nothing is ever dropped there.
    static func pooledSize(_ input: Int, kernel: Int, stride: Int, pad: Int, round: RoundMode) -> Int {
        let span = input + 2 * pad - kernel  // ≥ 0: topShapes checks the kernel fits the padded input
        var out = (round == .ceil ? (span + stride - 1) / stride : span / stride) + 1
        if (out - 1) * stride >= input + pad { out -= 1 }
        return out
    }

    func geometry(_ b: Shape) -> WindowGeometry {
        var w = window
        if global { w = WindowParams(kernelH: b[2], kernelW: b[3], strideH: 1, strideW: 1, padH: 0, padW: 0) }
        return WindowGeometry(
            channels: b[1], height: b[2], width: b[3], kernelH: w.kernelH, kernelW: w.kernelW,
            strideH: w.strideH, strideW: w.strideW, padH: w.padH, padW: w.padW,
            outH: Self.pooledSize(b[2], kernel: w.kernelH, stride: w.strideH, pad: w.padH, round: roundMode),
            outW: Self.pooledSize(b[3], kernel: w.kernelW, stride: w.strideW, pad: w.padW, round: roundMode))
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let b = bottoms[0]
        guard b.rank == 4 else { throw LayerError("expects a bottom of shape N×C×H×W, found \(b)") }
        guard global || (b[2] + 2 * window.padH >= window.kernelH && b[3] + 2 * window.padW >= window.kernelW) else {
            throw LayerError("kernel \(window.kernelH)×\(window.kernelW) is larger than the padded input (bottom \(b))")
        }
        let g = geometry(b)
        return [Shape([b[0], b[1], g.outH, g.outW])]
    }

    /// MAX records each window's winner [N, C, OH, OW]; STOCHASTIC in TRAIN its sampled input.
    /// STOCHASTIC in TEST is deterministic and recomputes what backward needs.
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        let g = geometry(bottoms[0]), count = bottoms[0][0] * g.channels * g.outputArea
        switch method {
        case .max: return [WorkspaceDecl(count, .int32, phase == .train ? .keptForBackward : .scratch)]
        case .stochastic: return phase == .train ? [WorkspaceDecl(count, .int32, .keptForBackward)] : []
        case .ave: return []
        }
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let b = io.bottoms[0].shape, g = geometry(b), planes = b[0] * b[1]
        switch method {
        case .max: PoolingKernel.maxForward(g, planes: planes, input: io.bottoms[0], output: io.tops[0], argmax: io.intWork[0], parallel: step.parallel)
        case .ave: PoolingKernel.averageForward(g, planes: planes, input: io.bottoms[0], output: io.tops[0], parallel: step.parallel)
        case .stochastic where step.phase == .train:
            // Keyed as Dropout's masks (seed, layer, iteration, batch within the step), and per
            // plane, so a resumed run draws the same and the thread count changes nothing. A
            // rank of data-parallel training numbers its planes after those of the ranks before it.
            let seed = step.seed, index = io.index, iteration = step.iteration, subBatch = step.subBatch
            let firstPlane = step.shard.index * planes
            PoolingKernel.stochasticForwardTrain(g, planes: planes, input: io.bottoms[0], output: io.tops[0],
                                                 chosen: io.intWork[0], parallel: step.parallel) { plane in
                RandomStream(seed: seed, purpose: "stochastic-pooling", index, iteration, subBatch, firstPlane + plane)
            }
        case .stochastic:
            PoolingKernel.stochasticForwardTest(g, planes: planes, input: io.bottoms[0], output: io.tops[0], parallel: step.parallel)
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        let b = io.bottoms[0].shape, g = geometry(b), planes = b[0] * b[1]
        switch method {
        case .max: PoolingKernel.maxBackward(g, planes: planes, outputGrad: io.topGrads[0]!, argmax: io.intWork[0],
                                             inputGrad: dx, accumulate: io.accumulateBottom[0], parallel: step.parallel)
        case .ave: PoolingKernel.averageBackward(g, planes: planes, outputGrad: io.topGrads[0]!, inputGrad: dx,
                                                 accumulate: io.accumulateBottom[0], parallel: step.parallel)
        case .stochastic where step.phase == .train:
            // The gradient goes to the sampled input, as max pooling's goes to the winner.
            PoolingKernel.maxBackward(g, planes: planes, outputGrad: io.topGrads[0]!, argmax: io.intWork[0],
                                      inputGrad: dx, accumulate: io.accumulateBottom[0], parallel: step.parallel)
        case .stochastic:
            PoolingKernel.stochasticBackwardTest(g, planes: planes, input: io.bottoms[0], outputGrad: io.topGrads[0]!,
                                                 inputGrad: dx, accumulate: io.accumulateBottom[0], parallel: step.parallel)
        }
    }
}
