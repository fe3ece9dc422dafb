import DConfig
import DCore

/// Caffe's Deconvolution (a transposed convolution, e.g. for learned upsampling): the
/// convolution with the same `convolution_param` run backwards. Its forward is that
/// convolution's input gradient, its input gradient that convolution's forward (see
/// `ConvolutionKernel.deconvolutionForward`).
/// Shapes: bottom [N, C, H, W] → top [N, OC, OH, OW] with OH = stride·(H − 1) + E − 2·pad,
/// E = dilation·(kernel − 1) + 1; weight [C, OC/group, kh, kw] (Caffe's layout: the dual
/// convolution's [out, in/group, kh, kw]), bias [OC]. `axis` and one spatial axis as for
/// Convolution.
public final class DeconvolutionLayer: Layer {
    public let name: String
    public let params: ConvolutionParams
    var numOutput: Int { params.numOutput }
    var biasTerm: Bool { params.biasTerm }
    var group: Int { params.group }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        params = try ConvolutionParams(spec)
    }

    /// The top's height and width: Caffe's, and possibly below 1.
    static func outputSize(_ p: ConvolutionPlan) -> (Int, Int) {
        let w = p.window
        return (w.strideH * (p.height - 1) + p.extentH - 2 * w.padH, w.strideW * (p.width - 1) + p.extentW - 2 * w.padW)
    }

    /// The dual convolution, from the top [N, OC, OH, OW] to the bottom [N, C, H, W], for a
    /// bottom `topShapes` accepted.
    func config(_ bottom: Shape, workers: Int) -> ConvolutionKernel.Config {
        let p = params.plan(bottom)!, (outH, outW) = Self.outputSize(p)
        let geometry = p.geometry(channels: numOutput, height: outH, width: outW, outH: p.height, outW: p.width)
        return ConvolutionKernel.Config(geometry: geometry, outputs: p.channels, groups: group, batch: p.images, workers: workers)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let b = bottoms[0], p = try params.check(b), w = p.window
        guard p.channels % group == 0 else { throw LayerError("\(p.channels) input channels are not divisible by group \(group)") }
        let (outH, outW) = Self.outputSize(p)
        guard outH >= 1, outW >= 1 else {
            throw LayerError("the top would be \(p.size(outH, outW)): stride·(\(p.size(p.height, p.width)) − 1) + kernel \(p.size(p.extentH, p.extentW)) − 2·pad \(p.size(w.padH, w.padW)) (bottom \(b))",
                             hint: "pad must leave at least one pixel")
        }
        // The columns of one image, OC·kh·kw × H·W floats, must be allocatable before anything
        // multiplies them (a huge kernel overflows Int).
        guard let columns = Shape.checkedCount([numOutput, w.kernelH, w.kernelW, p.height, p.width]), columns <= 1 << 28 else {
            throw LayerError("kernel \(p.size(w.kernelH, w.kernelW)) with \(numOutput) outputs over a \(p.size(p.height, p.width)) bottom would unfold one image into more than \(1 << 28) floats",
                             hint: "check kernel_size and num_output")
        }
        return [p.top(channels: numOutput, outH, outW)]
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let p = params.plan(bottoms[0])!
        let weight = ParameterDecl("weight", Shape([p.channels, numOutput / group] + p.kernelDims), filler: params.weightFiller)
        return biasTerm ? [weight, ParameterDecl("bias", Shape([numOutput]), filler: params.biasFiller)] : [weight]
    }

    /// The dual convolution's GEMMs (`gemms`): one forward, two of the same size backward (dW
    /// and dx).
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) { gemms(for: bottoms).layerFlops }

    /// dx's GEMM, the size of the forward one.
    public func inputGradientFlops(for bottoms: [Shape]) -> Double { gemms(for: bottoms).flops.inputGradient }

    /// The dual convolution's products the other way round: forward is its input gradient,
    /// the input gradient its forward.
    public func gemms(for bottoms: [Shape]) -> LayerGEMMs {
        var g = LayerGEMMs()
        guard params.plan(bottoms[0]) != nil else { return g }
        let c = config(bottoms[0], workers: 1).gemms, groups = params.group
        g.forward = Array(repeating: c.inputGradient, count: groups)
        g.backward = Array(repeating: c.weightGradient, count: groups)
        g.inputGradient = Array(repeating: c.forward, count: groups)
        return g
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
