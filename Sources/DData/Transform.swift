import DCore

/// Caffe's `transform_param` for image data: value = (x − mean) · scale, where x is a byte (or
/// a float, for float IDX data) and the mean is `mean_value[channel]` or, with `mean_file`, the
/// mean image's value at the same place.
public struct ByteTransform: Sendable, Equatable {
    public var scale: Float
    /// One mean per channel, or one for all channels, or none.
    public var meanValues: [Float]
    /// `mean_file`: one mean per value of a sample [C, H, W] (then `meanValues` is empty).
    public var meanImage: [Float]

    public init(scale: Float = 1, meanValues: [Float] = [], meanImage: [Float] = []) {
        self.scale = scale; self.meanValues = meanValues; self.meanImage = meanImage
    }

    /// The part applied before augmentation, in the sample's own frame (the mean image, as
    /// Caffe subtracts it before its crop), and the part applied after.
    public var split: (before: ByteTransform, after: ByteTransform) {
        (ByteTransform(meanImage: meanImage), ByteTransform(scale: scale, meanValues: meanValues))
    }

    /// Converts `input` (a sample of `channels` planes of bytes) into `out`: (x − mean) · scale.
    @inlinable
    public func apply(_ input: UnsafeBufferPointer<UInt8>, channels: Int, into out: UnsafeMutablePointer<Float>) {
        apply(input, channels: channels, into: out) { Float($0) }
    }

    /// Converts `input` (a sample of `channels` planes of floats) into `out`.
    @inlinable
    public func apply(_ input: UnsafeBufferPointer<Float>, channels: Int, into out: UnsafeMutablePointer<Float>) {
        apply(input, channels: channels, into: out) { $0 }
    }

    @inlinable
    func apply<Element>(_ input: UnsafeBufferPointer<Element>, channels: Int, into out: UnsafeMutablePointer<Float>,
                        _ value: (Element) -> Float) {
        if !meanImage.isEmpty {
            for i in 0..<input.count { out[i] = (value(input[i]) - meanImage[i]) * scale }
            return
        }
        let plane = input.count / max(channels, 1)
        for c in 0..<channels {
            let mean = meanValues.isEmpty ? 0 : meanValues[meanValues.count == 1 ? 0 : c]
            let src = input.baseAddress! + c * plane, dst = out + c * plane
            for i in 0..<plane { dst[i] = (value(src[i]) - mean) * scale }
        }
    }
}
