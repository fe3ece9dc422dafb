/// Batch normalisation over x [N, C, S] (S: the product of the axes after the channel axis),
/// per channel c over its N·S values. Each row of S values is summed in Float eight lanes at a
/// time, the rows in Double. Channels (or rows) are spread over the threads, each channel's sums
/// taken by one thread in row order, so results do not depend on the thread count.
public enum BatchNormKernel {
    /// The batch's mean and biased variance (the mean of squared deviations) per channel.
    public static func statistics(_ x: FloatView, n: Int, channels: Int, spatial s: Int,
                                  mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
                                  parallel: Parallel) {
        let p = SendablePointer(x.base), meanOut = SendablePointer(mean), varianceOut = SendablePointer(variance)
        let m = Double(n * s)
        parallel.forChunks(channels) { range in
            for c in range {
                var sum = 0.0
                for b in 0..<n { sum += Double(rowSum(p.pointer + (b * channels + c) * s, s)) }
                let mu = Float(sum / m)
                var squares = 0.0
                for b in 0..<n { squares += Double(rowSquaredDeviation(p.pointer + (b * channels + c) * s, s, from: mu)) }
                meanOut.pointer[c] = mu
                varianceOut.pointer[c] = Float(squares / m)
            }
        }
    }

    /// y = (x − mean[c]) · invStd[c]. `y` may be `x`.
    public static func normalize(_ x: FloatView, into y: FloatView, n: Int, channels: Int, spatial s: Int,
                                 mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>, parallel: Parallel) {
        let src = SendablePointer(x.base), dst = SendablePointer(y.base)
        let mean = SendablePointer(UnsafeMutablePointer(mutating: mean)), invStd = SendablePointer(UnsafeMutablePointer(mutating: invStd))
        parallel.forChunks(n * channels) { rows in
            for r in rows {
                let c = r % channels, from = src.pointer + r * s, to = dst.pointer + r * s
                let mu = mean.pointer[c], k = invStd.pointer[c]
                storeLanes(to, s, accumulate: false, { i in (lanes(from + i) - mu) * k }, { i in (from[i] - mu) * k })
            }
        }
    }

    /// The input gradient. With batch statistics, y = (x − μ)/σ makes μ and σ depend on x:
    /// dx = (dy − mean(dy) − y · mean(dy · y)) / σ, the means per channel over N·S. With
    /// global statistics (constants): dx = dy / σ. `dx` may be `dy` when not accumulating.
    public static func backward(y: FloatView, outputGrad dy: FloatView, inputGrad dx: FloatView, n: Int, channels: Int, spatial s: Int,
                                invStd: UnsafePointer<Float>, batchStatistics: Bool, accumulate: Bool, parallel: Parallel) {
        let yp = SendablePointer(y.base), g = SendablePointer(dy.base), out = SendablePointer(dx.base)
        let invStd = SendablePointer(UnsafeMutablePointer(mutating: invStd)), m = Double(n * s)
        parallel.forChunks(channels) { range in
            for c in range {
                var meanG: Float = 0, meanGY: Float = 0
                if batchStatistics {
                    var sumG = 0.0, sumGY = 0.0
                    for b in 0..<n {
                        let o = (b * channels + c) * s
                        sumG += Double(rowSum(g.pointer + o, s))
                        sumGY += Double(rowDot(g.pointer + o, yp.pointer + o, s))
                    }
                    (meanG, meanGY) = (Float(sumG / m), Float(sumGY / m))
                }
                let k = invStd.pointer[c]
                for b in 0..<n {
                    let o = (b * channels + c) * s, gRow = g.pointer + o, yRow = yp.pointer + o
                    storeLanes(out.pointer + o, s, accumulate: accumulate,
                               { i in (lanes(gRow + i) - meanG - lanes(yRow + i) * meanGY) * k },
                               { i in (gRow[i] - meanG - yRow[i] * meanGY) * k })
                }
            }
        }
    }
}

/// Σ (a[i] − mean)² over n contiguous floats, eight lanes at a time.
@inline(__always)
func rowSquaredDeviation(_ a: UnsafeMutablePointer<Float>, _ n: Int, from mean: Float) -> Float {
    var acc = SIMD8<Float>()
    let mu = SIMD8<Float>(repeating: mean)
    var i = 0
    while i + 8 <= n {
        let d = lanes(a + i) - mu
        acc += d * d
        i += 8
    }
    var total = acc.sum()
    while i < n { let d = a[i] - mean; total += d * d; i += 1 }
    return total
}
