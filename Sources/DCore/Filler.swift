/// How a parameter tensor is initialised; names and formulas as in Caffe's FillerParameter.
public enum Filler: Sendable, Equatable {
    /// Which fan the variance is scaled by (Caffe's `variance_norm`).
    public enum VarianceNorm: String, Sendable, CaseIterable {
        case fanIn = "FAN_IN", fanOut = "FAN_OUT", average = "AVERAGE"
    }

    case constant(value: Float)
    case uniform(min: Float, max: Float)
    case gaussian(mean: Float, std: Float)
    /// Normal, then each value kept with probability sparse / shape[0] and zeroed otherwise
    /// (Caffe's `sparse`: for an inner product weight [out, in], each input then feeds
    /// `sparse` outputs on average). A probability above 1 keeps everything (Caffe aborts).
    case sparseGaussian(mean: Float, std: Float, sparse: Int)
    /// Uniform in [0, 1), then each of the shape[0] rows (count / shape[0] values) divided by
    /// its sum, so that every row is non-negative and sums to 1.
    case positiveUnitball
    /// Uniform in ±sqrt(3 / n): Glorot and Bengio's rule with Caffe's fan definition.
    case xavier(VarianceNorm)
    /// Normal with std sqrt(2 / n): He et al. for ReLU nets.
    case msra(VarianceNorm)
    /// Bilinear interpolation weights, for a deconvolution that upsamples by a factor f: along
    /// an axis of k taps (k = 2f − f mod 2), f = ⌈k / 2⌉, c = (k − 1) / (2f) and tap t weighs
    /// 1 − |t / f − c|; a value is the product over the last two axes (width, height), the same
    /// for every leading index. Caffe requires a 4-D, square kernel; here each axis uses its
    /// own k, which is the separable kernel for unequal factors.
    case bilinear

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

    /// The bilinear weight of each of `k` taps along one axis: 1 − |t / f − c|.
    static func bilinearTaps(_ k: Int) -> [Float] {
        let f = Float((k + 1) / 2), c = Float(k - 1) / (2 * f)
        return (0..<k).map { t in 1 - abs(Float(t) / f - c) }
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
        case .sparseGaussian(let mean, let std, let sparse):
            Filler.gaussian(mean: mean, std: std).fill(view, rng: &rng)
            let keep = min(Float(sparse) / Float(max(view.shape.dims.first ?? 1, 1)), 1)
            for i in 0..<view.count where rng.nextUnitFloat() >= keep { p[i] = 0 }
        case .positiveUnitball:
            Filler.uniform(min: 0, max: 1).fill(view, rng: &rng)
            let rows = max(view.shape.dims.first ?? 1, 1), rowLength = view.count / rows
            for r in 0..<rows {
                let row = p + r * rowLength
                var sum: Float = 0
                for j in 0..<rowLength { sum += row[j] }
                for j in 0..<rowLength { row[j] /= sum }
            }
        case .bilinear:
            let dims = view.shape.dims
            let width = dims.last ?? 1, height = dims.count >= 2 ? dims[dims.count - 2] : 1
            guard width > 0, height > 0 else { return }
            let w = Self.bilinearTaps(width), h = Self.bilinearTaps(height)
            for i in 0..<view.count { p[i] = w[i % width] * h[(i / width) % height] }
        case .xavier(let norm):
            let scale = (3 / Self.fan(view.shape, norm)).squareRoot()
            Filler.uniform(min: -scale, max: scale).fill(view, rng: &rng)
        case .msra(let norm):
            let std = (2 / Self.fan(view.shape, norm)).squareRoot()
            Filler.gaussian(mean: 0, std: std).fill(view, rng: &rng)
        }
    }
}
