import DConfig
import DCore

/// y = x for x > 0, a_c·x otherwise, with a learned slope a_c per channel (axis 1), or one
/// for all channels with `channel_shared` (He et al.'s parametric ReLU).
/// Shapes: bottom [N, C, …] (rank ≥ 2) → top the same; weight [C], or [1] when shared
/// (Caffe's shared slope is a scalar blob). Backward reads the bottom: no in place.
public final class PReLULayer: Layer {
    public let name: String
    public let channelShared: Bool
    let filler: Filler

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("prelu_param")
        filler = try p.filler("filler", default: .constant(value: 0.25))
        channelShared = try p.bool("channel_shared", default: false)
        try p.finish()
    }

    /// (channels, inner) for a bottom [N, C, inner…]; channels is the slope count.
    func dims(_ bottom: Shape) -> (channels: Int, inner: Int) {
        bottom.rank >= 2 ? (bottom[1], bottom.count(from: 2)) : (1, 1)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard bottoms[0].rank >= 2 else {
            throw LayerError("the bottom needs a channel axis (rank ≥ 2), found shape \(bottoms[0])")
        }
        return bottoms
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        [ParameterDecl("weight", Shape([channelShared ? 1 : dims(bottoms[0]).channels]), filler: filler)]
    }

    /// A comparison and a multiply forward; backward the same for dx, and a comparison, a
    /// multiply and an add for the slope's gradient.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        elementwiseFlops(bottoms[0].count, forward: 2, backward: 5)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let (channels, inner) = dims(io.bottoms[0].shape)
        PointwiseKernel.preluForward(input: io.bottoms[0], slope: io.params[0], output: io.tops[0],
                                     channels: channels, inner: inner, shared: channelShared)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        let (channels, inner) = dims(io.bottoms[0].shape)
        PointwiseKernel.preluBackward(input: io.bottoms[0], slope: io.params[0], outputGrad: io.topGrads[0]!,
                                      inputGrad: io.bottomGrads[0], slopeGrad: io.paramGrads[0],
                                      channels: channels, inner: inner, shared: channelShared,
                                      accumulate: io.accumulateBottom[0])
    }
}
