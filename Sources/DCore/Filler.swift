/// How a parameter tensor is initialised; names and formulas as in Caffe's FillerParameter.
public enum Filler: Sendable, Equatable {
    /// Which fan the variance is scaled by (Caffe's `variance_norm`).
    public enum VarianceNorm: String, Sendable, CaseIterable {
        case fanIn = "FAN_IN", fanOut = "FAN_OUT", average = "AVERAGE"
    }

    case constant(value: Float)
    case uniform(min: Float, max: Float)
    case gaussian(mean: Float, std: Float)
    /// Uniform in ±sqrt(3 / n): Glorot and Bengio's rule with Caffe's fan definition.
    case xavier(VarianceNorm)
    /// Normal with std sqrt(2 / n): He et al. for ReLU nets.
    case msra(VarianceNorm)

    /// Caffe's fans: fan_in = count / shape[0], fan_out = count / shape[1]. For an inner product
    /// weight [out, in] that is `in` and `out`; for a convolution [out, in, kh, kw] it is
    /// in·kh·kw and out·kh·kw.
    static func fan(_ shape: Shape, _ norm: VarianceNorm) -> Float {
        let count = shape.count
        let fanIn = Float(count / max(shape.dims.first ?? 1, 1))
        let fanOut = Float(count / max(shape.rank > 1 ? shape[1] : 1, 1))
        switch norm {
        case .fanIn: return fanIn
        case .fanOut: return fanOut
        case .average: return (fanIn + fanOut) / 2
        }
    }

    public func fill(_ view: FloatView, rng: inout RandomStream) {
        let p = view.base
        switch self {
        case .constant(let value):
            view.fill(value)
        case .uniform(let lo, let hi):
            for i in 0..<view.count { p[i] = lo + (hi - lo) * rng.nextUnitFloat() }
        case .gaussian(let mean, let std):
            for i in 0..<view.count { p[i] = Float(rng.nextGaussian(mean: Double(mean), std: Double(std))) }
        case .xavier(let norm):
            let scale = (3 / Self.fan(view.shape, norm)).squareRoot()
            Filler.uniform(min: -scale, max: scale).fill(view, rng: &rng)
        case .msra(let norm):
            let std = (2 / Self.fan(view.shape, norm)).squareRoot()
            Filler.gaussian(mean: 0, std: std).fill(view, rng: &rng)
        }
    }
}
