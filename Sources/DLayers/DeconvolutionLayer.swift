import DConfig
import DCore

/// Caffe's Deconvolution (a transposed convolution, e.g. for learned upsampling): the
/// convolution with the same `convolution_param` run backwards. Its forward is that
/// convolution's input gradient, its input gradient that convolution's forward (see
/// `ConvolutionKernel.deconvolutionForward`).
/// Shapes: bottom [N, C, H, W] → top [N, OC, OH, OW] with OH = stride·(H − 1) + E − 2·pad,
/// E = dilation·(kernel − 1) + 1;
/// weight [C, OC/group, kh, kw] (Caffe's layout: the dual convolution's [out, in/group, kh, kw]),
/// bias [OC].
public final class DeconvolutionLayer: Layer {
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

    /// The top's height and width for a bottom of `h`×`w`: Caffe's, and possibly below 1.
    func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        (window.strideH * (h - 1) + params.extentH - 2 * window.padH, window.strideW * (w - 1) + params.extentW - 2 * window.padW)
    }

    /// The dual convolution: from the top [N, OC, OH, OW] to the bottom [N, C, H, W].
    func config(_ bottom: Shape, workers: Int) -> ConvolutionKernel.Config {
        let (outH, outW) = outputSize(bottom[2], bottom[3])
        let geometry = params.geometry(channels: numOutput, height: outH, width: outW, outH: bottom[2], outW: bottom[3])
        return ConvolutionKernel.Config(geometry: geometry, outputs: bottom[1], groups: group, batch: bottom[0], workers: workers)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let b = bottoms[0]
        guard b.rank == 4 else { throw LayerError("expects a bottom of shape N×C×H×W, found \(b)") }
        guard b[1] % group == 0 else { throw LayerError("\(b[1]) input channels are not divisible by group \(group)") }
        let (outH, outW) = outputSize(b[2], b[3])
        guard outH >= 1, outW >= 1 else {
            throw LayerError("the top would be \(outH)×\(outW): stride·(\(b[2])×\(b[3]) − 1) + kernel \(params.extentH)×\(params.extentW) − 2·pad \(window.padH)×\(window.padW) (bottom \(b))",
                             hint: "pad must leave at least one pixel")
        }
        // The columns of one image, OC·kh·kw × H·W floats, must be allocatable before anything
        // multiplies them (a huge kernel overflows Int).
        guard let columns = Shape.checkedCount([numOutput, window.kernelH, window.kernelW, b[2], b[3]]), columns <= 1 << 28 else {
            throw LayerError("kernel \(window.kernelH)×\(window.kernelW) with \(numOutput) outputs over a \(b[2])×\(b[3]) bottom would unfold one image into more than \(1 << 28) floats",
                             hint: "check kernel_size and num_output")
        }
        return [Shape([b[0], numOutput, outH, outW])]
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let weight = ParameterDecl("weight", Shape([bottoms[0][1], numOutput / group, window.kernelH, window.kernelW]),
                                   filler: params.weightFiller)
        return biasTerm ? [weight, ParameterDecl("bias", Shape([numOutput]), filler: params.biasFiller)] : [weight]
    }

    /// 2·C·(OC/G)·kh·kw·H·W·N multiply-adds forward, as the dual convolution; backward twice that.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        let c = config(bottoms[0], workers: 1)
        let f = 2 * Double(c.outputs) * Double(c.geometry.patchSize / group) * Double(c.geometry.outputArea * c.batch)
        return (f, 2 * f)
    }

    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        [WorkspaceDecl(config(bottoms[0], workers: threads).scratchPerWorker * threads, .float, .scratch)]
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ConvolutionKernel.deconvolutionForward(config(io.bottoms[0].shape, workers: step.parallel.threads), input: io.bottoms[0],
                                               weight: io.params[0], bias: biasTerm ? io.params[1] : nil, output: io.tops[0],
                                               scratch: io.work[0], parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        ConvolutionKernel.deconvolutionBackward(config(io.bottoms[0].shape, workers: step.parallel.threads), input: io.bottoms[0],
                                                outputGrad: io.topGrads[0]!, weight: io.params[0],
                                                weightGrad: io.paramGrads[0], biasGrad: biasTerm ? io.paramGrads[1] : nil,
                                                inputGrad: io.bottomGrads[0], accumulateInput: io.accumulateBottom[0],
                                                scratch: io.work[0], parallel: step.parallel)
    }
}
