import DConfig
import DCore

/// Caffe's local response normalization (AlexNet's `norm` layers): y = x / s^β, where s sums
/// the squares of n = `local_size` neighbours of each value (see `LRNKernel`):
/// ACROSS_CHANNELS s = k + α/n · Σ x² over n neighbouring channels at the same pixel;
/// WITHIN_CHANNEL s = 1 + α/n² · Σ x² over an n×n square of the same channel (Caffe fixes
/// k at 1 there). Shapes: bottom [N, C, H, W] → top of the same shape.
public final class LRNLayer: Layer {
    public enum Region: String, CaseIterable {
        case acrossChannels = "ACROSS_CHANNELS", withinChannel = "WITHIN_CHANNEL"
    }

    public let name: String
    public let localSize: Int
    public let alpha, beta, k: Float
    public let region: Region

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("lrn_param")
        localSize = try p.int("local_size", default: 5, min: 1)
        alpha = try p.float("alpha", default: 1)
        beta = try p.float("beta", default: 0.75)
        k = try p.float("k", default: 1)
        region = try p.choice("norm_region", default: Region.acrossChannels)
        try p.finish()
        guard localSize % 2 == 1 else {
            throw p.error("local_size", "must be odd (the window is centred on each value), found \(localSize)")
        }
        // Far beyond any image, and small enough that local_size² cannot overflow.
        guard localSize <= 1 << 20 else { throw p.error("local_size", "must be at most \(1 << 20), found \(localSize)") }
        // With α ≥ 0 and k > 0 the base of s^β is at least k: never zero, never negative.
        guard alpha >= 0 else { throw p.error("alpha", "must not be negative, found \(alpha)") }
        switch region {
        case .acrossChannels:
            guard k > 0 else { throw p.error("k", "must be positive (it keeps k + α/n·Σx² away from zero), found \(k)") }
        case .withinChannel:
            if p.has("k"), k != 1 {
                throw p.error("k", "WITHIN_CHANNEL has no k: Caffe fixes it at 1 and ignores the key, found \(k)",
                              hint: "remove k, or use norm_region: ACROSS_CHANNELS")
            }
        }
    }

    func config(_ bottom: Shape) -> LRNKernel.Config {
        LRNKernel.Config(region: region == .acrossChannels ? .acrossChannels : .withinChannel,
                         batch: bottom[0], channels: bottom[1], height: bottom[2], width: bottom[3],
                         size: localSize, alpha: alpha, beta: beta, k: region == .acrossChannels ? k : 1)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        guard bottoms[0].rank == 4 else { throw LayerError("expects a bottom of shape N×C×H×W, found \(bottoms[0])") }
        return bottoms
    }

    /// The scale s [N, C, H, W], kept for backward in TRAIN; then per thread the kernel's scratch.
    public func workspace(for bottoms: [Shape], phase: Phase, threads: Int) -> [WorkspaceDecl] {
        [WorkspaceDecl(bottoms[0].count, .float, phase == .train ? .keptForBackward : .scratch),
         WorkspaceDecl(config(bottoms[0]).scratchPerWorker * threads, .float, .scratch)]
    }

    /// Per element, with n = local_size: forward the window's squares, scaled and summed (3n
    /// ACROSS_CHANNELS; a square, the n² adds of the average and a multiply-add WITHIN_CHANNEL),
    /// then pow and a multiply; backward the ratio (two multiplies, pow, a divide), the window's
    /// sum of ratios (n, or n² within a channel), then pow, three multiplies and a subtraction.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        let n = Double(localSize), window = region == .acrossChannels ? n : n * n
        return elementwiseFlops(bottoms[0].count, forward: region == .acrossChannels ? 3 * n + 2 : window + 5,
                                backward: window + 9)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        LRNKernel.forward(config(io.bottoms[0].shape), input: io.bottoms[0], output: io.tops[0], scale: io.work[0],
                          scratch: io.work[1], parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        guard let dx = io.bottomGrads[0] else { return }
        LRNKernel.backward(config(io.bottoms[0].shape), input: io.bottoms[0], scale: io.work[0], outputGrad: io.topGrads[0]!,
                           inputGrad: dx, accumulate: io.accumulateBottom[0], scratch: io.work[1], parallel: step.parallel)
    }
}
