import DConfig
import DCore

/// `convolution_param`, read the same by Convolution and Deconvolution: num_output (required),
/// bias_term, kernel/stride/pad (`WindowParams`), dilation, group, axis, the fillers.
public struct ConvolutionParams {
    public let numOutput: Int
    public let biasTerm: Bool
    public let window: WindowParams
    /// Caffe's `dilation`: one value, or one per spatial axis (h, w); 1 is an ordinary kernel.
    public let dilationH, dilationW: Int
    public let group: Int
    /// Caffe's `axis`, as written (negative counts from the end): the channel axis. The axes
    /// before it are batch-like, the ones after it spatial.
    public let axis: Int
    /// The first key that gives a window height and width apart (`kernel_h`, or two values in a
    /// list), which only a bottom with two spatial axes can take; nil when every value is one.
    let twoAxisKey: String?
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
        axis = try p.int("axis") ?? 1
        var twoAxisKey: String?
        for key in ["kernel_size", "stride", "pad", "dilation", "kernel_h", "kernel_w", "stride_h", "stride_w", "pad_h", "pad_w"] {
            let twoValues = key.hasSuffix("_h") || key.hasSuffix("_w") ? p.has(key) : try p.ints(key).count == 2
            if twoValues { twoAxisKey = key; break }
        }
        self.twoAxisKey = twoAxisKey
        // Caffe's switch to its N-D im2col, a matter of speed there; one im2col serves here.
        _ = try p.bool("force_nd_im2col", default: false)
        weightFiller = try p.filler("weight_filler", default: .xavier(.fanIn))
        biasFiller = try p.filler("bias_filler", default: .constant(value: 0))
        try p.finish()
        guard numOutput % group == 0 else {
            throw p.error("group", "num_output \(numOutput) is not divisible by group \(group)")
        }
    }

    /// How the layer sees `bottom`, or nil when `check` would throw.
    func plan(_ bottom: Shape) -> ConvolutionPlan? { try? check(bottom) }

    /// The bottom split around the channel axis: Caffe's rules, with one or two spatial axes.
    func check(_ b: Shape) throws(LayerError) -> ConvolutionPlan {
        guard let a = b.canonicalAxis(axis) else {
            throw LayerError("axis \(axis) is out of range for bottom shape \(b)", hint: "axis names the channel axis, counted from 0 (negative from the end)")
        }
        let spatial = b.rank - a - 1
        guard spatial >= 1 else {
            throw LayerError("bottom \(b) has no spatial axis after its channel axis \(a)",
                             hint: b.rank >= 2 ? "convolution slides over the axes after convolution_param.axis; for a linear map of the channels alone use InnerProduct" : "the bottom needs a channel axis and one or two spatial axes")
        }
        guard spatial <= 2 else {
            throw LayerError("bottom \(b) has \(spatial) spatial axes after its channel axis \(a); Dendrite convolves over one or two",
                             hint: "set convolution_param.axis so that at most two axes follow it (the axes before it count as images), or Reshape the bottom")
        }
        var w = window, dh = dilationH
        if spatial == 1 {
            if let key = twoAxisKey {
                throw LayerError("convolution_param.\(key) sets a height and width apart, but bottom \(b) has one spatial axis after its channel axis \(a)",
                                 hint: "give one value per key for a 1-D convolution, e.g. kernel_size: 5")
            }
            if case .bilinear = weightFiller {
                throw LayerError("the bilinear weight_filler interpolates over two spatial axes, and bottom \(b) has one after its channel axis \(a)",
                                 hint: "fill a 1-D kernel with another filler")
            }
            // One spatial axis is the width of a height-1 image.
            (w.kernelH, w.strideH, w.padH, dh) = (1, 1, 0, 1)
        }
        let dims = b.dims
        guard let images = Shape.checkedCount(Array(dims[..<a])) else { throw LayerError("bottom \(b) is too large") }
        return ConvolutionPlan(outer: Array(dims[..<a]), images: images, channels: dims[a],
                               height: spatial == 2 ? dims[a + 1] : 1, width: dims[b.rank - 1], spatialAxes: spatial,
                               window: w, dilationH: dh, dilationW: dilationW)
    }
}

/// A convolution's bottom as the kernel sees it, images × channels × height × width: the
/// axes before the channel axis multiplied into images, one spatial axis as the width of an
/// image of height 1 (with kernel, stride and dilation 1 and pad 0 along the height).
struct ConvolutionPlan {
    /// The dimensions before the channel axis, which the top keeps.
    var outer: [Int]
    var images, channels, height, width: Int
    /// 1 or 2.
    var spatialAxes: Int
    var window: WindowParams
    var dilationH, dilationW: Int

    /// The rows and columns a dilated kernel spans: d·(k − 1) + 1 (the kernel itself for d = 1).
    var extentH: Int { dilationH * (window.kernelH - 1) + 1 }
    var extentW: Int { dilationW * (window.kernelW - 1) + 1 }

    /// Per spatial axis: [h, w] for two, [w] for one.
    func spatial(_ h: Int, _ w: Int) -> [Int] { spatialAxes == 2 ? [h, w] : [w] }
    /// "5×3", or "5" for one spatial axis, for messages.
    func size(_ h: Int, _ w: Int) -> String { spatial(h, w).map(String.init).joined(separator: "×") }
    var kernelDims: [Int] { spatial(window.kernelH, window.kernelW) }

    /// "5×5", or "3×3 with dilation 2×2 (spanning 5×5)", for messages.
    var kernelDescription: String {
        let k = size(window.kernelH, window.kernelW)
        return dilationH == 1 && dilationW == 1 ? k : "\(k) with dilation \(size(dilationH, dilationW)) (spanning \(size(extentH, extentW)))"
    }

    /// The top's shape: the outer dimensions, `channels`, then the spatial size.
    func top(channels: Int, _ h: Int, _ w: Int) -> Shape { Shape(outer + [channels] + spatial(h, w)) }

    /// The window over a `channels`×`height`×`width` image with `outH`×`outW` positions.
    func geometry(channels: Int, height: Int, width: Int, outH: Int, outW: Int) -> WindowGeometry {
        let w = window
        return WindowGeometry(channels: channels, height: height, width: width, kernelH: w.kernelH, kernelW: w.kernelW,
                              strideH: w.strideH, strideW: w.strideW, padH: w.padH, padW: w.padW,
                              dilationH: dilationH, dilationW: dilationW, outH: outH, outW: outW)
    }
}

/// Convolution through im2col and one GEMM per group over each chunk of images (see
/// `ConvolutionKernel`); a dilated kernel (Caffe's `dilation`) unfolds through the same im2col.
/// Shapes: bottom [N, C, H, W] → top [N, OC, OH, OW] with OH = (H + 2·pad − E) / stride + 1,
/// E = dilation·(kernel − 1) + 1; weight [OC, C/group, kh, kw], bias [OC]. With
/// `convolution_param.axis` a, the axes before a are images ([N, T, C, H, W] with axis 2 is N·T
/// images), and one spatial axis works too: [N, C, L] → [N, OC, OL], weight [OC, C/group, k].
public final class ConvolutionLayer: Layer {
    public let name: String
    public let params: ConvolutionParams
    var numOutput: Int { params.numOutput }
    var biasTerm: Bool { params.biasTerm }
    var group: Int { params.group }
    /// Backward reads the bottom, the weight and the top's gradient, never the top.
    public var backwardReadsTops: Bool { false }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        params = try ConvolutionParams(spec)
    }

    /// Caffe's output size along each axis: (in + 2·pad − extent) / stride + 1.
    static func outputSize(_ p: ConvolutionPlan) -> (Int, Int) {
        let w = p.window
        return ((p.height + 2 * w.padH - p.extentH) / w.strideH + 1, (p.width + 2 * w.padW - p.extentW) / w.strideW + 1)
    }

    /// For a bottom `topShapes` accepted.
    func config(_ bottom: Shape, workers: Int) -> ConvolutionKernel.Config {
        let p = params.plan(bottom)!, (outH, outW) = Self.outputSize(p)
        let geometry = p.geometry(channels: p.channels, height: p.height, width: p.width, outH: outH, outW: outW)
        return ConvolutionKernel.Config(geometry: geometry, outputs: numOutput, groups: group, batch: p.images, workers: workers)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        let b = bottoms[0], p = try params.check(b), w = p.window
        guard p.channels % group == 0 else { throw LayerError("\(p.channels) input channels are not divisible by group \(group)") }
        guard p.height + 2 * w.padH >= p.extentH, p.width + 2 * w.padW >= p.extentW else {
            throw LayerError("kernel \(p.kernelDescription) is larger than the padded input \(p.size(p.height + 2 * w.padH, p.width + 2 * w.padW)) (bottom \(b))")
        }
        // im2col unfolds one image into C·kh·kw × OH·OW floats: that must be allocatable
        // before anything multiplies it (a huge kernel with a huge pad overflows Int).
        let (outH, outW) = Self.outputSize(p)
        guard let columns = Shape.checkedCount([p.channels, w.kernelH, w.kernelW, outH, outW]), columns <= 1 << 28 else {
            throw LayerError("kernel \(p.size(w.kernelH, w.kernelW)) over a \(p.size(p.height + 2 * w.padH, p.width + 2 * w.padW)) padded input would unfold one image into more than \(1 << 28) floats",
                             hint: "check kernel_size, pad and stride")
        }
        return [p.top(channels: numOutput, outH, outW)]
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let p = params.plan(bottoms[0])!
        let weight = ParameterDecl("weight", Shape([numOutput, p.channels / group] + p.kernelDims), filler: params.weightFiller)
        return biasTerm ? [weight, ParameterDecl("bias", Shape([numOutput]), filler: params.biasFiller)] : [weight]
    }

    /// Its GEMMs (`gemms`): one forward, two of the same size backward (dW and dx).
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) { gemms(for: bottoms).layerFlops }

    /// dx's GEMM, the size of the forward one.
    public func inputGradientFlops(for bottoms: [Shape]) -> Double { gemms(for: bottoms).flops.inputGradient }

    /// The products as if the batch were one GEMM each (`ConvolutionKernel.Config.gemms`), once per group.
    public func gemms(for bottoms: [Shape]) -> LayerGEMMs {
        var g = LayerGEMMs()
        guard params.plan(bottoms[0]) != nil else { return g }
        let c = config(bottoms[0], workers: 1).gemms
        g.forward = Array(repeating: c.forward, count: group)
        g.backward = Array(repeating: c.weightGradient, count: group)
        g.inputGradient = Array(repeating: c.inputGradient, count: group)
        return g
    }

    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        [WorkspaceDecl(config(bottoms[0], workers: threads).scratchPerWorker * threads, .float, .scratch)]
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        ConvolutionKernel.forward(config(io.bottoms[0].shape, workers: step.parallel.threads), input: io.bottoms[0],
                                  weight: io.params[0], bias: biasTerm ? io.params[1] : nil, output: io.tops[0],
                                  scratch: io.work[0], parallel: step.parallel)
    }

    /// The kernel's config and the pooling's window where the max pooling `pool`, reading this
    /// layer's top, can run inside this convolution (`ConvolutionKernel.Config.poolsInPlace`:
    /// images [N, C, H, W] with stride 1 and no padding, a C kernel, 2×2 windows with stride 2
    /// covering the output); nil otherwise.
    public func pooling(_ pool: PoolingLayer, bottom: Shape, threads: Int) -> (ConvolutionKernel.Config, WindowGeometry)? {
        guard pool.method == .max, !pool.global, let p = params.plan(bottom), p.spatialAxes == 2, p.outer.count == 1,
              let top = try? topShapes(for: [bottom])[0] else { return nil }
        let cfg = config(bottom, workers: threads), window = pool.geometry(top)
        return cfg.poolsInPlace(window) ? (cfg, window) : nil
    }

    /// Forward of this convolution and of the max pooling `pool` after it, which `pooling`
    /// accepted: the pooling's top and its winners as `pool.forward` would leave them; this
    /// layer's own top is not written.
    public func forwardPooled(_ io: LayerIO, pool: PoolingLayer, _ poolIO: LayerIO, _ step: StepContext) {
        let (cfg, window) = pooling(pool, bottom: io.bottoms[0].shape, threads: step.parallel.threads)!
        ConvolutionKernel.forwardPooled(cfg, pool: window, input: io.bottoms[0], weight: io.params[0],
                                        bias: biasTerm ? io.params[1] : nil, pooled: poolIO.tops[0], argmax: poolIO.intWork[0],
                                        scratch: io.work[0], parallel: step.parallel)
    }

    /// Backward of both, from the pooling's top gradient: this layer's gradients as
    /// `pool.backward` followed by `backward` would leave them.
    public func backwardPooled(_ io: LayerIO, pool: PoolingLayer, _ poolIO: LayerIO, _ step: StepContext) {
        let (cfg, window) = pooling(pool, bottom: io.bottoms[0].shape, threads: step.parallel.threads)!
        ConvolutionKernel.backwardPooled(cfg, pool: window, input: io.bottoms[0], pooledGrad: poolIO.topGrads[0]!,
                                         argmax: poolIO.intWork[0], weight: io.params[0], weightGrad: io.paramGrads[0],
                                         biasGrad: biasTerm ? io.paramGrads[1] : nil, inputGrad: io.bottomGrads[0],
                                         accumulateInput: io.accumulateBottom[0], scratch: io.work[0], parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        ConvolutionKernel.backward(config(io.bottoms[0].shape, workers: step.parallel.threads), input: io.bottoms[0],
                                   outputGrad: io.topGrads[0]!, weight: io.params[0],
                                   weightGrad: io.paramGrads[0], biasGrad: biasTerm ? io.paramGrads[1] : nil,
                                   inputGrad: io.bottomGrads[0], accumulateInput: io.accumulateBottom[0],
                                   scratch: io.work[0], parallel: step.parallel)
    }
}
