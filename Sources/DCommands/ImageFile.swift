import CSTBImage
import DData
import DZoo

/// Image files for `dtest --predict`, decoded by stb_image (PNG, PGM/PPM in binary form, JPEG,
/// BMP, …) and resized by stb_image_resize to the net's input.
enum ImageFile {
    /// The file's pixels as `channels` × `height` × `width` bytes (planar, as the IDX data the
    /// net was trained on), and the size it had.
    static func load(_ path: String, channels: Int, height: Int, width: Int) throws(FileError) -> (bytes: [UInt8], original: (width: Int, height: Int)) {
        var w: Int32 = 0, h: Int32 = 0, found: Int32 = 0
        guard channels >= 1 && channels <= 4, let pixels = stbi_load(path, &w, &h, &found, Int32(channels)) else {
            let reason = stbi_failure_reason().map { String(cString: $0) } ?? "unknown reason"
            throw FileError(path: path, "cannot read the image: \(reason)",
                            hint: "PNG, binary PGM/PPM (P5/P6), JPEG, BMP and GIF can be read")
        }
        defer { stbi_image_free(pixels) }
        let c = channels, width0 = Int(w), height0 = Int(h)
        var interleaved = [UInt8](repeating: 0, count: width * height * c)
        if width0 == width && height0 == height {
            interleaved.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: pixels, count: width * height * c) }
        } else {
            let ok = interleaved.withUnsafeMutableBufferPointer {
                stbir_resize_uint8(pixels, w, h, 0, $0.baseAddress!, Int32(width), Int32(height), 0, Int32(c))
            }
            guard ok != 0 else { throw FileError(path: path, "cannot resize the image from \(width0)×\(height0) to \(width)×\(height)") }
        }
        // Interleaved RGBRGB… to planar RRR…GGG…BBB…
        var planar = [UInt8](repeating: 0, count: interleaved.count)
        for i in 0..<(width * height) {
            for k in 0..<c { planar[k * width * height + i] = interleaved[i * c + k] }
        }
        return (planar, (width0, height0))
    }
}
