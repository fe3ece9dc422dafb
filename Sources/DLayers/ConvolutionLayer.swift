import DConfig
import DCore

/// `convolution_param`, read the same by Convolution and Deconvolution: num_output (required),
/// bias_term, kernel/stride/pad (`WindowParams`), group, the fillers; dilation only as 1.
struct ConvolutionParams {
    let numOutput: Int
    let biasTerm: Bool
    let window: WindowParams
    let group: Int
    let weightFiller, biasFiller: Filler

    init(_ spec: LayerSpec) throws(ConfigError) {
        let p = try spec.block("convolution_param")
        guard p.has("num_output") else { throw p.missing("num_output") }
        numOutput = try p.int("num_output", default: 1, min: 1)
        biasTerm = try p.bool("bias_term", default: true)
        window = try WindowParams.decode(p, kernelRequired: true)
        group = try p.int("group", default: 1, min: 1)
        if let d = try p.ints("dilation").first(where: { $0 != 1 }) {
            throw p.error("dilation", "dilated convolution is not supported, found \(d)", hint: "remove dilation or set it to 1")
        }
        weightFiller = try p.filler("weight_filler", default: .xavier(.fanIn))
        biasFiller = try p.filler("bias_filler", default: .constant(value: 0))
        try p.finish()
        guard numOutput % group == 0 else {
            throw p.error("group", "num_output \(numOutput) is not divisible by group \(group)")
        }
    }
}

/// 2-D convolution through im2col and one GEMM per group over each chunk of images (see
/// `ConvolutionKernel`).
/// Shapes: bottom [N, C, H, W] → top [N, OC, OH, OW] with OH = (H + 2·pad − kernel) / stride + 1;
/// weight [OC, C/group, kh, kw], bias [OC].
public final class ConvolutionLayer: Layer {
    public let name: String
    let numOutput: Int
    let biasTerm: Bool
    let window: WindowParams
    let group: Int
    let weightFiller, biasFiller: Filler

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try ConvolutionParams(spec)
        numOutput = p.numOutput; biasTerm = p.biasTerm; window = p.window; group = p.group
        weightFiller = p.weightFiller; biasFiller = p.biasFiller
    }

    func config(_ bottom: Shape, workers: Int) -> ConvolutionKernel.Config {
        let w = window, h = bottom[2], wd = bottom[3]
        let geometry = WindowGeometry(
            channels: bottom[1], height: h, width: wd, kernelH: w.kernelH, kernelW: w.kernelW,
            strideH: w.strideH, strideW: w.strideW, padH: w.padH, padW: w.padW,
            outH: (h + 2 * w.padH - w.kernelH) / w.strideH + 1, outW: (wd + 2 * w.padW - w.kernelW) / w.strideW + 1)
        return ConvolutionKernel.Config(geometry: geometry, outputs: numOutput, groups: group, batch: bottom[0], workers: workers)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let b = bottoms[0]
        guard b.rank == 4 else {
            throw LayerError("expects a bottom of shape N×C×H×W, found \(b)", hint: "images from IDXData are N×1×H×W")
        }
        guard b[1] % group == 0 else { throw LayerError("\(b[1]) input channels are not divisible by group \(group)") }
        guard b[2] + 2 * window.padH >= window.kernelH, b[3] + 2 * window.padW >= window.kernelW else {
            throw LayerError("kernel \(window.kernelH)×\(window.kernelW) is larger than the padded input \(b[2] + 2 * window.padH)×\(b[3] + 2 * window.padW) (bottom \(b))")
        }
        // im2col unfolds one image into C·kh·kw × OH·OW floats: that must be allocatable
        // before anything multiplies it (a huge kernel with a huge pad overflows Int).
        let outH = (b[2] + 2 * window.padH - window.kernelH) / window.strideH + 1
        let outW = (b[3] + 2 * window.padW - window.kernelW) / window.strideW + 1
        guard let columns = Shape.checkedCount([b[1], window.kernelH, window.kernelW, outH, outW]), columns <= 1 << 28 else {
            throw LayerError("kernel \(window.kernelH)×\(window.kernelW) over a \(b[2] + 2 * window.padH)×\(b[3] + 2 * window.padW) padded input would unfold one image into more than \(1 << 28) floats",
                             hint: "check kernel_size, pad and stride")
        }
        let g = config(b, workers: 1).geometry
        return [Shape([b[0], numOutput, g.outH, g.outW])]
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let weight = ParameterDecl("weight", Shape([numOutput, bottoms[0][1] / group, window.kernelH, window.kernelW]),
                                   filler: weightFiller)
        return biasTerm ? [weight, ParameterDecl("bias", Shape([numOutput]), filler: biasFiller)] : [weight]
    }

    /// 2·OC·(C/G)·kh·kw·OH·OW·N multiply-adds forward; backward does it twice (dW and dx).
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        let c = config(bottoms[0], workers: 1)
        let f = 2 * Double(numOutput) * Double(c.geometry.patchSize / group) * Double(c.geometry.outputArea * c.batch)
        return (f, 2 * f)
    }

    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        [WorkspaceDecl(config(bottoms[0], workers: threads).scratchPerWorker * threads, .float, .scratch)]
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ConvolutionKernel.forward(config(io.bottoms[0].shape, workers: step.parallel.threads), input: io.bottoms[0],
                                  weight: io.params[0], bias: biasTerm ? io.params[1] : nil, output: io.tops[0],
                                  scratch: io.work[0], parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        ConvolutionKernel.backward(config(io.bottoms[0].shape, workers: step.parallel.threads), input: io.bottoms[0],
                                   outputGrad: io.topGrads[0]!, weight: io.params[0],
                                   weightGrad: io.paramGrads[0], biasGrad: biasTerm ? io.paramGrads[1] : nil,
                                   inputGrad: io.bottomGrads[0], accumulateInput: io.accumulateBottom[0],
                                   scratch: io.work[0], parallel: step.parallel)
    }
}
