import DConfig
import DCore

/// `convolution_param`, read the same by Convolution and Deconvolution: num_output (required),
/// bias_term, kernel/stride/pad (`WindowParams`), dilation, group, the fillers.
struct ConvolutionParams {
    let numOutput: Int
    let biasTerm: Bool
    let window: WindowParams
    /// Caffe's `dilation`: one value, or one per spatial axis (h, w); 1 is an ordinary kernel.
    let dilationH, dilationW: Int
    let group: Int
    let weightFiller, biasFiller: Filler

    init(_ spec: LayerSpec) throws(ConfigError) {
        let p = try spec.block("convolution_param")
        guard p.has("num_output") else { throw p.missing("num_output") }
        numOutput = try p.int("num_output", default: 1, min: 1)
        biasTerm = try p.bool("bias_term", default: true)
        window = try WindowParams.decode(p, kernelRequired: true)
        group = try p.int("group", default: 1, min: 1)
        let d = try p.ints("dilation")
        switch d.count {
        case 0: (dilationH, dilationW) = (1, 1)
        case 1: (dilationH, dilationW) = (d[0], d[0])
        case 2: (dilationH, dilationW) = (d[0], d[1])
        default: throw p.error("dilation", "expected one value, or two (height, width), found \(d.count)")
        }
        if let bad = d.first(where: { $0 < 1 }) { throw p.error("dilation", "must be at least 1, found \(bad)") }
        // Far beyond any image, and small enough that d·(k − 1) cannot overflow.
        if let bad = d.first(where: { $0 > 1 << 20 }) { throw p.error("dilation", "must be at most \(1 << 20), found \(bad)") }
        weightFiller = try p.filler("weight_filler", default: .xavier(.fanIn))
        biasFiller = try p.filler("bias_filler", default: .constant(value: 0))
        try p.finish()
        guard numOutput % group == 0 else {
            throw p.error("group", "num_output \(numOutput) is not divisible by group \(group)")
        }
    }

    /// The rows and columns a dilated kernel spans: d·(k − 1) + 1 (the kernel itself for d = 1).
    var extentH: Int { dilationH * (window.kernelH - 1) + 1 }
    var extentW: Int { dilationW * (window.kernelW - 1) + 1 }

    /// "5×5", or "3×3 with dilation 2×2 (spanning 5×5)", for messages.
    var kernelDescription: String {
        let k = "\(window.kernelH)×\(window.kernelW)"
        return dilationH == 1 && dilationW == 1 ? k : "\(k) with dilation \(dilationH)×\(dilationW) (spanning \(extentH)×\(extentW))"
    }

    /// The window over a `channels`×`height`×`width` image with `outH`×`outW` positions.
    func geometry(channels: Int, height: Int, width: Int, outH: Int, outW: Int) -> WindowGeometry {
        let w = window
        return WindowGeometry(channels: channels, height: height, width: width, kernelH: w.kernelH, kernelW: w.kernelW,
                              strideH: w.strideH, strideW: w.strideW, padH: w.padH, padW: w.padW,
                              dilationH: dilationH, dilationW: dilationW, outH: outH, outW: outW)
    }
}

/// 2-D convolution through im2col and one GEMM per group over each chunk of images (see
/// `ConvolutionKernel`); a dilated kernel (Caffe's `dilation`) unfolds through the same im2col.
/// Shapes: bottom [N, C, H, W] → top [N, OC, OH, OW] with OH = (H + 2·pad − E) / stride + 1,
/// E = dilation·(kernel − 1) + 1; weight [OC, C/group, kh, kw], bias [OC].
public final class ConvolutionLayer: Layer {
    public let name: String
    let params: ConvolutionParams
    var numOutput: Int { params.numOutput }
    var biasTerm: Bool { params.biasTerm }
    var window: WindowParams { params.window }
    var group: Int { params.group }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        params = try ConvolutionParams(spec)
    }

    /// Caffe's output size along one axis: (in + 2·pad − extent) / stride + 1.
    func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * window.padH - params.extentH) / window.strideH + 1, (w + 2 * window.padW - params.extentW) / window.strideW + 1)
    }

    func config(_ bottom: Shape, workers: Int) -> ConvolutionKernel.Config {
        let (outH, outW) = outputSize(bottom[2], bottom[3])
        let geometry = params.geometry(channels: bottom[1], height: bottom[2], width: bottom[3], outH: outH, outW: outW)
        return ConvolutionKernel.Config(geometry: geometry, outputs: numOutput, groups: group, batch: bottom[0], workers: workers)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let b = bottoms[0]
        guard b.rank == 4 else {
            throw LayerError("expects a bottom of shape N×C×H×W, found \(b)", hint: "images from IDXData are N×1×H×W")
        }
        guard b[1] % group == 0 else { throw LayerError("\(b[1]) input channels are not divisible by group \(group)") }
        guard b[2] + 2 * window.padH >= params.extentH, b[3] + 2 * window.padW >= params.extentW else {
            throw LayerError("kernel \(params.kernelDescription) is larger than the padded input \(b[2] + 2 * window.padH)×\(b[3] + 2 * window.padW) (bottom \(b))")
        }
        // im2col unfolds one image into C·kh·kw × OH·OW floats: that must be allocatable
        // before anything multiplies it (a huge kernel with a huge pad overflows Int).
        let (outH, outW) = outputSize(b[2], b[3])
        guard let columns = Shape.checkedCount([b[1], window.kernelH, window.kernelW, outH, outW]), columns <= 1 << 28 else {
            throw LayerError("kernel \(window.kernelH)×\(window.kernelW) over a \(b[2] + 2 * window.padH)×\(b[3] + 2 * window.padW) padded input would unfold one image into more than \(1 << 28) floats",
                             hint: "check kernel_size, pad and stride")
        }
        let g = config(b, workers: 1).geometry
        return [Shape([b[0], numOutput, g.outH, g.outW])]
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let weight = ParameterDecl("weight", Shape([numOutput, bottoms[0][1] / group, window.kernelH, window.kernelW]),
                                   filler: params.weightFiller)
        return biasTerm ? [weight, ParameterDecl("bias", Shape([numOutput]), filler: params.biasFiller)] : [weight]
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
