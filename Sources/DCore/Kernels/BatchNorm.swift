/// Batch normalisation over x [N, C, S] (S: the product of the axes after the channel axis),
/// per channel c over its N·S values. Sums run in Double.
public enum BatchNormKernel {
    /// The batch's mean and biased variance (the mean of squared deviations) per channel.
    public static func statistics(_ x: FloatView, n: Int, channels: Int, spatial s: Int,
                                  mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>) {
        let p = x.base, m = Double(n * s)
        for c in 0..<channels {
            var sum = 0.0
            for b in 0..<n {
                let row = p + (b * channels + c) * s
                var part: Float = 0
                for i in 0..<s { part += row[i] }
                sum += Double(part)
            }
            let mu = sum / m
            var squares = 0.0
            for b in 0..<n {
                let row = p + (b * channels + c) * s
                var part: Float = 0
                let muF = Float(mu)
                for i in 0..<s { let d = row[i] - muF; part += d * d }
                squares += Double(part)
            }
            mean[c] = Float(mu)
            variance[c] = Float(squares / m)
        }
    }

    /// y = (x − mean[c]) · invStd[c]. `y` may be `x`.
    public static func normalize(_ x: FloatView, into y: FloatView, n: Int, channels: Int, spatial s: Int,
                                 mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>) {
        let src = x.base, dst = y.base
        for b in 0..<n {
            for c in 0..<channels {
                let o = (b * channels + c) * s, mu = mean[c], k = invStd[c]
                for i in 0..<s { dst[o + i] = (src[o + i] - mu) * k }
            }
        }
    }

    /// The input gradient. With batch statistics, y = (x − μ)/σ makes μ and σ depend on x:
    /// dx = (dy − mean(dy) − y · mean(dy · y)) / σ, the means per channel over N·S. With
    /// global statistics (constants): dx = dy / σ. `dx` may be `dy` when not accumulating.
    public static func backward(y: FloatView, outputGrad dy: FloatView, inputGrad dx: FloatView, n: Int, channels: Int, spatial s: Int,
                                invStd: UnsafePointer<Float>, batchStatistics: Bool, accumulate: Bool) {
        let yp = y.base, g = dy.base, out = dx.base, m = Double(n * s)
        for c in 0..<channels {
            var meanG: Float = 0, meanGY: Float = 0
            if batchStatistics {
                var sumG = 0.0, sumGY = 0.0
                for b in 0..<n {
                    let o = (b * channels + c) * s
                    var pg: Float = 0, pgy: Float = 0
                    for i in 0..<s { pg += g[o + i]; pgy += g[o + i] * yp[o + i] }
                    sumG += Double(pg); sumGY += Double(pgy)
                }
                (meanG, meanGY) = (Float(sumG / m), Float(sumGY / m))
            }
            let k = invStd[c]
            for b in 0..<n {
                let o = (b * channels + c) * s
                store(out + o, s, accumulate: accumulate) { i in (g[o + i] - meanG - yp[o + i] * meanGY) * k }
            }
        }
    }
}
