import DConfig
import DCore

/// Max or average pooling per channel. Shapes: bottom [N, C, H, W] → top [N, C, OH, OW] with
/// Caffe's rounding up: OH = ceil((H + 2·pad − kernel) / stride) + 1, less one if the last
/// window would start in the bottom padding or past the image.
public final class PoolingLayer: Layer {
    public enum Method: String, CaseIterable { case max = "MAX", ave = "AVE" }

    public let name: String
    let method: Method
    let window: WindowParams
    let global: Bool

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("pooling_param")
        if let s = p.node("pool")?.scalar, s == "STOCHASTIC" {
            throw p.error("pool", "STOCHASTIC pooling is not supported", hint: "use MAX or AVE")
        }
        method = try p.choice("pool", default: Method.max)
        global = try p.bool("global_pooling", default: false)
        window = try WindowParams.decode(p, kernelRequired: !global)
        try p.finish()
        if global, p.has("kernel_size") || p.has("kernel_h") {
            throw p.error("global_pooling", "global pooling takes its window from the bottom; remove kernel_size")
        }
        if window.padH >= window.kernelH || window.padW >= window.kernelW, !global {
            throw p.error("pad", "pad must be smaller than the kernel (Caffe's rule), found pad \(window.padH)×\(window.padW) for kernel \(window.kernelH)×\(window.kernelW)")
        }
    }

    /// Caffe's size, rounded up. Caffe drops a last window that starts in the bottom padding
    /// only when pad > 0; Dendrite drops it always, because with a kernel smaller than the
    /// stride it can start past the image and hold nothing (width 4, kernel 1, stride 2).
    static func pooledSize(_ input: Int, kernel: Int, stride: Int, pad: Int) -> Int {
        var out = Int((Double(input + 2 * pad - kernel) / Double(stride)).rounded(.up)) + 1
        if (out - 1) * stride >= input + pad { out -= 1 }
        return out
    }

    func geometry(_ b: Shape) -> WindowGeometry {
        var w = window
        if global { w = WindowParams(kernelH: b[2], kernelW: b[3], strideH: 1, strideW: 1, padH: 0, padW: 0) }
        return WindowGeometry(
            channels: b[1], height: b[2], width: b[3], kernelH: w.kernelH, kernelW: w.kernelW,
            strideH: w.strideH, strideW: w.strideW, padH: w.padH, padW: w.padW,
            outH: Self.pooledSize(b[2], kernel: w.kernelH, stride: w.strideH, pad: w.padH),
            outW: Self.pooledSize(b[3], kernel: w.kernelW, stride: w.strideW, pad: w.padW))
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

    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        guard method == .max else { return [] }
        let g = geometry(bottoms[0])
        return [WorkspaceDecl(bottoms[0][0] * g.channels * g.outputArea, .int32, phase == .train ? .keptForBackward : .scratch)]
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let b = io.bottoms[0].shape, g = geometry(b), planes = b[0] * b[1]
        switch method {
        case .max: PoolingKernel.maxForward(g, planes: planes, input: io.bottoms[0], output: io.tops[0], argmax: io.intWork[0], parallel: step.parallel)
        case .ave: PoolingKernel.averageForward(g, planes: planes, input: io.bottoms[0], output: io.tops[0], parallel: step.parallel)
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
        }
    }
}
