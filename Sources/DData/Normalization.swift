import DCore

/// Statistics of a training set that a data layer divides out: per channel or per pixel mean
/// and standard deviation, or ZCA whitening (the lecture's "whitening": decorrelated inputs of
/// unit variance that look most like the originals). Computed once from the raw values (bytes
/// or floats) of every training sample; applied to raw values after augmentation:
/// per_channel and per_pixel give (x − mean) / std, zca gives W · (x − mean).
public struct Normalization: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        case perChannel = "per_channel", perPixel = "per_pixel", zca
    }

    public var mode: Mode
    /// One per channel, or one per element of a sample (per_pixel, zca).
    public var mean: [Float]
    /// Like `mean`; empty for zca. A constant element has std 1 (it is only centred).
    public var std: [Float]
    /// zca: the D×D whitening matrix W = U · diag(1 / √(λ + ε)) · Uᵀ (symmetric), D the
    /// elements of a sample; empty otherwise.
    public var whitening: [Float]
    /// zca: the ε added to every eigenvalue (it keeps noise directions from being blown up).
    public var epsilon: Float

    public init(mode: Mode, mean: [Float], std: [Float], whitening: [Float] = [], epsilon: Float = 0) {
        self.mode = mode; self.mean = mean; self.std = std; self.whitening = whitening; self.epsilon = epsilon
    }

    /// The statistics of `dataset` (all its samples, raw values).
    public static func compute(_ mode: Mode, of dataset: IDXDataset, epsilon: Float = 0.1) throws(DataError) -> Normalization {
        let d = dataset.sampleSize, channels = dataset.channels, plane = d / channels
        var sums = [Double](repeating: 0, count: d), squares = [Double](repeating: 0, count: d)
        var raw = [Float](repeating: 0, count: d)
        for i in 0..<dataset.count {
            raw.withUnsafeMutableBufferPointer { dataset.write(sample: i, ByteTransform(), into: $0.baseAddress!) }
            for k in 0..<d {
                let v = Double(raw[k])
                sums[k] += v
                squares[k] += v * v
            }
        }
        let n = Double(dataset.count)
        func stats(_ s: Double, _ q: Double, _ count: Double) -> (Float, Float) {
            let mean = s / count, variance = max(0, q / count - mean * mean)
            let std = variance.squareRoot()
            return (Float(mean), std < 1e-6 ? 1 : Float(std))
        }
        switch mode {
        case .perChannel:
            let per = (0..<channels).map { c in
                stats(sums[(c * plane)..<((c + 1) * plane)].reduce(0, +), squares[(c * plane)..<((c + 1) * plane)].reduce(0, +), n * Double(plane))
            }
            return Normalization(mode: mode, mean: per.map(\.0), std: per.map(\.1))
        case .perPixel:
            let per = (0..<d).map { stats(sums[$0], squares[$0], n) }
            return Normalization(mode: mode, mean: per.map(\.0), std: per.map(\.1))
        case .zca:
            let mean = sums.map { Float($0 / n) }
            // The covariance C = Xᵀ·X / N of the centred samples, a batch of rows at a time.
            var covariance = [Float](repeating: 0, count: d * d)
            let rows = max(1, min(dataset.count, (1 << 22) / d))
            var block = [Float](repeating: 0, count: rows * d)
            var start = 0
            while start < dataset.count {
                let m = min(rows, dataset.count - start)
                block.withUnsafeMutableBufferPointer { b in
                    for r in 0..<m {
                        dataset.write(sample: start + r, ByteTransform(), into: b.baseAddress! + r * d)
                        for k in 0..<d { b[r * d + k] -= mean[k] }
                    }
                }
                block.withUnsafeBufferPointer { b in
                    covariance.withUnsafeMutableBufferPointer { c in
                        BLAS.gemm(transA: true, transB: false, m: d, n: d, k: m, alpha: Float(1 / n), a: b.baseAddress!, lda: d,
                                  b: b.baseAddress!, ldb: d, beta: start == 0 ? 0 : 1, c: c.baseAddress!, ldc: d)
                    }
                }
                start += m
            }
            guard let (values, vectors) = LAPACK.symmetricEigen(covariance, n: d) else {
                throw DataError(file: dataset.imagesPath, "the eigenvalues of the training data's covariance did not converge (LAPACK ssyevd)")
            }
            // W = Σ_k u_k u_kᵀ / √(λ_k + ε), with u_k the k-th row of `vectors`.
            var scaled = vectors
            for k in 0..<d {
                let f = 1 / (max(0, values[k]) + epsilon).squareRoot()
                for j in 0..<d { scaled[k * d + j] *= f }
            }
            var whitening = [Float](repeating: 0, count: d * d)
            vectors.withUnsafeBufferPointer { u in
                scaled.withUnsafeBufferPointer { s in
                    whitening.withUnsafeMutableBufferPointer { w in
                        BLAS.gemm(transA: true, transB: false, m: d, n: d, k: d, a: u.baseAddress!, lda: d, b: s.baseAddress!, ldb: d,
                                  beta: 0, c: w.baseAddress!, ldc: d)
                    }
                }
            }
            return Normalization(mode: mode, mean: mean, std: [], whitening: whitening, epsilon: epsilon)
        }
    }

    /// Centres (and for per_channel/per_pixel scales) `count` samples of `size` raw values in
    /// place; zca then needs `whiten`.
    public func centre(_ samples: UnsafeMutablePointer<Float>, count: Int, size: Int, channels: Int) {
        let plane = size / channels
        for s in 0..<count {
            let x = samples + s * size
            switch mode {
            case .perChannel:
                for c in 0..<channels {
                    let m = mean[c], r = 1 / std[c]
                    for k in (c * plane)..<((c + 1) * plane) { x[k] = (x[k] - m) * r }
                }
            case .perPixel:
                for k in 0..<size { x[k] = (x[k] - mean[k]) / std[k] }
            case .zca:
                for k in 0..<size { x[k] -= mean[k] }
            }
        }
    }

    /// Divides the statistics out of `count` raw samples of `size` values in place: centre,
    /// and for zca whiten through `scratch` (grown as needed, so that it is allocated once).
    public func apply(_ samples: UnsafeMutablePointer<Float>, count: Int, size: Int, channels: Int,
                      scratch: inout [Float], parallel: Parallel) {
        centre(samples, count: count, size: size, channels: channels)
        guard mode == .zca else { return }
        if scratch.count < count * size { scratch = [Float](repeating: 0, count: count * size) }
        scratch.withUnsafeMutableBufferPointer { w in
            whiten(samples, count: count, into: w.baseAddress!, parallel: parallel)
            samples.update(from: w.baseAddress!, count: count * size)
        }
    }

    /// zca: out = W · x for `count` centred samples (rows), as one product.
    public func whiten(_ samples: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>, parallel: Parallel) {
        let d = mean.count
        whitening.withUnsafeBufferPointer { w in
            BLAS.gemm(transA: false, transB: false, m: count, n: d, k: d, a: samples, lda: d, b: w.baseAddress!, ldb: d,
                      beta: 0, c: out, ldc: d, parallel: parallel)
        }
    }
}
