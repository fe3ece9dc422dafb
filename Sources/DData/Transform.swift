import DCore

/// Caffe's `transform_param` for byte images: value = (byte − mean_value[channel]) · scale.
public struct ByteTransform: Sendable, Equatable {
    public var scale: Float
    /// One mean per channel, or one for all channels, or none.
    public var meanValues: [Float]

    public init(scale: Float = 1, meanValues: [Float] = []) {
        self.scale = scale; self.meanValues = meanValues
    }

    /// Converts `bytes` (a sample of `channels` planes) into `out`.
    @inlinable
    public func apply(_ bytes: UnsafeBufferPointer<UInt8>, channels: Int, into out: UnsafeMutablePointer<Float>) {
        let plane = bytes.count / max(channels, 1)
        for c in 0..<channels {
            let mean = meanValues.isEmpty ? 0 : meanValues[meanValues.count == 1 ? 0 : c]
            let src = bytes.baseAddress! + c * plane, dst = out + c * plane
            for i in 0..<plane { dst[i] = (Float(src[i]) - mean) * scale }
        }
    }
}
