/// What the solver's `monitor` key reports about one blob over one batch: are its units alive,
/// varied and uncorrelated (the lecture's "hidden units should be uncorrelated and high
/// variance"; ReLUs "can die")?
///
/// A unit is a channel of an N×C×H×W blob (its samples are the N·H·W positions of the batch)
/// and an output of an N×C blob (its samples are the N rows); generally axis 1 of a blob of rank
/// ≥ 2, with every axis but 1 a sample. A blob of rank 0 or 1 is one unit.
public struct UnitStatistics: Sendable, Equatable {
    /// Mean and (population) standard deviation of every value of the blob.
    public var mean: Double
    public var std: Double
    public var units: Int
    /// Units none of whose samples is > 0 ("dead" after a ReLU), as a fraction of `units`.
    public var deadFraction: Double
    /// Units whose samples are not all equal: the only ones a correlation is defined for.
    public var varyingUnits: Int
    /// The mean of |Pearson correlation| over the pairs i < j of varying units; nil with fewer
    /// than two of them.
    public var meanAbsCorrelation: Double?

    public init(mean: Double, std: Double, units: Int, deadFraction: Double, varyingUnits: Int, meanAbsCorrelation: Double?) {
        self.mean = mean; self.std = std; self.units = units; self.deadFraction = deadFraction
        self.varyingUnits = varyingUnits; self.meanAbsCorrelation = meanAbsCorrelation
    }

    /// The statistics of `x`. The correlations come from one GEMM: with Z the K×S matrix of the
    /// K varying units' samples standardised and divided by √S, Z·Zᵀ is their K×K correlation
    /// matrix (1000 units over a batch of 100 is 2·10⁸ flops, a few milliseconds).
    public static func of(_ x: FloatView) -> UnitStatistics {
        let dims = x.shape.dims
        let batch = dims.first ?? 1
        let units = dims.count >= 2 ? dims[1] : 1
        let inner = dims.count >= 2 ? x.shape.count(from: 2) : 1  // H·W, or 1 for N×C
        let samples = batch * inner
        guard x.count > 0, units > 0, samples > 0 else {
            return UnitStatistics(mean: 0, std: 0, units: units, deadFraction: 0, varyingUnits: 0, meanAbsCorrelation: nil)
        }
        let p = x.base
        // Element (n, c, i) of the blob, seen as N × C × inner.
        @inline(__always) func row(_ n: Int, _ c: Int) -> UnsafeMutablePointer<Float> { p + (n * units + c) * inner }

        // Per unit: mean (first pass), then variance about it, min, max (second pass), in Double.
        var means = [Double](repeating: 0, count: units), variances = means
        var low = [Float](repeating: .infinity, count: units), high = [Float](repeating: -.infinity, count: units)
        for n in 0..<batch {
            for c in 0..<units {
                let r = row(n, c)
                var s = 0.0
                for i in 0..<inner { s += Double(r[i]) }
                means[c] += s
            }
        }
        for c in 0..<units { means[c] /= Double(samples) }
        for n in 0..<batch {
            for c in 0..<units {
                let r = row(n, c), m = means[c]
                var s = 0.0, lo = low[c], hi = high[c]
                for i in 0..<inner {
                    let v = r[i]
                    s += (Double(v) - m) * (Double(v) - m)
                    lo = min(lo, v); hi = max(hi, v)
                }
                variances[c] += s
                low[c] = lo; high[c] = hi
            }
        }
        for c in 0..<units { variances[c] /= Double(samples) }

        // The blob's mean and variance from the units': Var = mean of within-unit variances +
        // variance of the unit means (all units have the same number of samples).
        let mean = means.reduce(0, +) / Double(units)
        let variance = zip(means, variances).reduce(0.0) { $0 + $1.1 + ($1.0 - mean) * ($1.0 - mean) } / Double(units)
        let dead = high.filter { !($0 > 0) }.count
        let varying = (0..<units).filter { high[$0] > low[$0] && variances[$0] > 0 }

        var correlation: Double?
        let k = varying.count
        if k >= 2 {
            // Z: K × S, row k = (x − mean) / (std · √S) of unit varying[k], samples in (n, i) order.
            var z = [Float](repeating: 0, count: k * samples)
            var g = [Float](repeating: 0, count: k * k)
            z.withUnsafeMutableBufferPointer { zb in
                for (j, c) in varying.enumerated() {
                    let scale = 1 / (variances[c].squareRoot() * Double(samples).squareRoot())
                    let m = means[c], out = zb.baseAddress! + j * samples
                    for n in 0..<batch {
                        let r = row(n, c), o = out + n * inner
                        for i in 0..<inner { o[i] = Float((Double(r[i]) - m) * scale) }
                    }
                }
                g.withUnsafeMutableBufferPointer { gb in
                    BLAS.gemm(transA: false, transB: true, m: k, n: k, k: samples, a: zb.baseAddress!, lda: samples,
                              b: zb.baseAddress!, ldb: samples, beta: 0, c: gb.baseAddress!, ldc: k)
                }
            }
            var total = 0.0
            for i in 0..<k {
                for j in (i + 1)..<k { total += min(Double(abs(g[i * k + j])), 1) }  // rounding may pass 1
            }
            correlation = total / Double(k * (k - 1) / 2)
        }
        return UnitStatistics(mean: mean, std: max(variance, 0).squareRoot(), units: units,
                              deadFraction: Double(dead) / Double(units), varyingUnits: k, meanAbsCorrelation: correlation)
    }

    /// ‖gradient‖₂ / ‖weights‖₂ of one parameter; nil when the weights are all zero.
    public static func normRatio(gradient: FloatView, weights: FloatView) -> Double? {
        let w = ElementwiseKernel.sumOfSquares(weights).squareRoot()
        guard w > 0 else { return nil }
        return ElementwiseKernel.sumOfSquares(gradient).squareRoot() / w
    }
}
