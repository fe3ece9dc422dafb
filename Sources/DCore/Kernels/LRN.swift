#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caffe's local response normalization of x [N, C, H, W]: y = x · s^−β, where the scale s
/// [N, C, H, W] sums the squares of a neighbourhood of n = `size` values around each one.
///
/// - ACROSS_CHANNELS: s = k + α/n · Σ x²[c′] over the n channels c′ = c − (n−1)/2 … c + (n−1)/2
///   at the same pixel, channels outside 0..<C counting as zero.
/// - WITHIN_CHANNEL: Caffe builds it from other layers: a Power layer squares x, an AVE
///   Pooling layer (kernel n×n, pad (n−1)/2, stride 1) averages the squares, a Power layer
///   (scale α, shift 1, power −β) and an Eltwise product. With that pad and stride every
///   window of the pooling ends inside the padded image, so each divides by n² whatever the
///   image border cuts off (the padding counts as zeros): s = 1 + α · (Σ x² over the n×n
///   window clipped to the image) / n². Caffe has no `k` here; its shift is fixed at 1.
///   This kernel runs the same steps, through `PoolingKernel`'s average pooling.
///
/// The scale is kept for backward; backward recomputes s^−β from it rather than keeping a
/// second tensor, and reads x rather than y, so that it does not depend on the top.
/// Images are spread over the workers, each with scratch of its own (`scratchPerWorker`).
public enum LRNKernel {
    public enum Region: Sendable, Equatable { case acrossChannels, withinChannel }

    public struct Config: Sendable, Equatable {
        public var region: Region
        public var batch, channels, height, width: Int
        /// n, odd.
        public var size: Int
        public var alpha, beta, k: Float

        public init(region: Region, batch: Int, channels: Int, height: Int, width: Int,
                    size: Int, alpha: Float, beta: Float, k: Float) {
            precondition(size % 2 == 1, "LRN takes an odd local size")
            self.region = region; self.batch = batch; self.channels = channels; self.height = height; self.width = width
            self.size = size; self.alpha = alpha; self.beta = beta; self.k = k
        }

        var area: Int { height * width }
        var imageSize: Int { channels * area }
        /// Scratch floats one worker needs in backward (forward uses less): one image and one
        /// plane across channels, two images within a channel.
        public var scratchPerWorker: Int { region == .acrossChannels ? imageSize + area : 2 * imageSize }

        /// The pooling window of WITHIN_CHANNEL over one H×W plane: n×n, stride 1, pad (n−1)/2,
        /// which keeps the plane's size.
        var withinChannelWindow: WindowGeometry {
            let half = (size - 1) / 2
            return WindowGeometry(channels: 1, height: height, width: width, kernelH: size, kernelW: size,
                                  strideH: 1, strideW: 1, padH: half, padW: half, outH: height, outW: width)
        }
    }

    /// y = x · s^−β, writing the scale s for backward.
    public static func forward(_ cfg: Config, input: FloatView, output: FloatView, scale: FloatView,
                               scratch: FloatView, parallel: Parallel) {
        precondition(scratch.count >= cfg.scratchPerWorker * parallel.threads, "LRN scratch too small for this many threads")
        let size = cfg.imageSize, area = cfg.area, half = (cfg.size - 1) / 2
        parallel.forWorkers { w in
            for n in Parallel.chunk(w, of: parallel.threads, count: cfg.batch) {
                let x = input.base + n * size, s = scale.base + n * size, y = output.base + n * size
                switch cfg.region {
                case .acrossChannels:
                    let a = cfg.alpha / Float(cfg.size)
                    for c in 0..<cfg.channels {
                        let sc = s + c * area
                        for p in 0..<area { sc[p] = cfg.k }
                        for c2 in max(0, c - half)...min(cfg.channels - 1, c + half) {
                            let xc = x + c2 * area
                            for p in 0..<area { sc[p] += a * (xc[p] * xc[p]) }
                        }
                    }
                case .withinChannel:
                    let squares = scratch.base + w * cfg.scratchPerWorker
                    for i in 0..<size { squares[i] = x[i] * x[i] }
                    // s = mean of the squares over the window (Caffe's AVE pooling), then α·s + 1.
                    PoolingKernel.averageForward(cfg.withinChannelWindow, planes: cfg.channels,
                                                 input: FloatView(squares, shape: Shape([size])),
                                                 output: FloatView(s, shape: Shape([size])), parallel: .serial)
                    for i in 0..<size { s[i] = cfg.alpha * s[i] + 1 }
                }
                for i in 0..<size { y[i] = x[i] * pow(s[i], -cfg.beta) }
            }
        }
    }

    /// With g the output gradient and r = g·y/s = g·x·s^−β/s (from y = x·s^−β,
    /// ∂y/∂s = −β·y/s, and ∂s[q]/∂x[j] = 2·α/m·x[j] for j in the window of q, m = n for
    /// ACROSS_CHANNELS and n² for WITHIN_CHANNEL):
    ///
    ///     dx[j] = g[j]·s[j]^−β − 2αβ/m · x[j] · Σ r[q] over the q whose window holds j.
    ///
    /// Windows are symmetric, so those q are the window around j: across channels the n
    /// channels around c; within a channel the average pooling's own backward, which spreads
    /// each r[q]/n² over the window of q.
    public static func backward(_ cfg: Config, input: FloatView, scale: FloatView, outputGrad: FloatView,
                                inputGrad: FloatView, accumulate: Bool, scratch: FloatView, parallel: Parallel) {
        precondition(scratch.count >= cfg.scratchPerWorker * parallel.threads, "LRN scratch too small for this many threads")
        let size = cfg.imageSize, area = cfg.area, half = (cfg.size - 1) / 2, beta = cfg.beta
        parallel.forWorkers { w in
            let ratio = scratch.base + w * cfg.scratchPerWorker
            for n in Parallel.chunk(w, of: parallel.threads, count: cfg.batch) {
                let x = input.base + n * size, s = scale.base + n * size
                let g = outputGrad.base + n * size, dx = inputGrad.base + n * size
                for i in 0..<size { ratio[i] = g[i] * x[i] * pow(s[i], -beta) / s[i] }
                switch cfg.region {
                case .acrossChannels:
                    let coefficient = 2 * cfg.alpha * beta / Float(cfg.size)
                    let sum = ratio + size  // [H·W]: Σ r over the channels around c
                    for c in 0..<cfg.channels {
                        for p in 0..<area { sum[p] = 0 }
                        for c2 in max(0, c - half)...min(cfg.channels - 1, c + half) { addRow(sum, ratio + c2 * area, area) }
                        for p in 0..<area {
                            let i = c * area + p
                            let value = g[i] * pow(s[i], -beta) - coefficient * x[i] * sum[p]
                            dx[i] = accumulate ? dx[i] + value : value
                        }
                    }
                case .withinChannel:
                    // spread[j] = Σ r[q] / n² over the windows q that hold j
                    let spread = ratio + size
                    PoolingKernel.averageBackward(cfg.withinChannelWindow, planes: cfg.channels,
                                                  outputGrad: FloatView(ratio, shape: Shape([size])),
                                                  inputGrad: FloatView(spread, shape: Shape([size])),
                                                  accumulate: false, parallel: .serial)
                    let coefficient = 2 * cfg.alpha * beta
                    for i in 0..<size {
                        let value = g[i] * pow(s[i], -beta) - coefficient * x[i] * spread[i]
                        dx[i] = accumulate ? dx[i] + value : value
                    }
                }
            }
        }
    }
}
