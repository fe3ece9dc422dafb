import CSTBImage
import DCore
import DData
import DZoo

/// Image files for `dtest --predict`, decoded by stb_image (PNG, PGM/PPM in binary form, JPEG,
/// BMP, …) and resized by stb_image_resize to the net's input.
public enum ImageFile {
    /// The largest image --predict decodes (64 megapixels).
    public static let maxPixels = 1 << 26

    /// The file's pixels as `channels` × `height` × `width` bytes (planar, as the IDX data the
    /// net was trained on).
    public static func load(_ path: String, channels: Int, height: Int, width: Int) throws(FileError) -> [UInt8] {
        guard FileSystem.isRegularFile(path) else {
            throw FileError(path: path, FileSystem.exists(path) ? "is not a regular file" : "no such file")
        }
        // Read once: the checks below and stb_image all work on these bytes.
        return try decode(try AtomicFile.read(path), name: path, channels: channels, height: height, width: width)
    }

    /// `file`'s pixels as `load` gives them; `name` (a path, or an upload's) names it in errors.
    public static func decode(_ file: [UInt8], name path: String, channels: Int, height: Int, width: Int) throws(FileError) -> [UInt8] {
        guard file.count <= Int(Int32.max) else { throw FileError(path: path, "is larger than the 2 GiB an image file may be") }
        try checkPNMLength(file, path: path)
        var w: Int32 = 0, h: Int32 = 0, found: Int32 = 0
        // The size from the header first: an empty image would trip stb_image_resize's
        // assertions, and a small file may claim a huge one.
        if file.withUnsafeBufferPointer({ stbi_info_from_memory($0.baseAddress, Int32(clamping: $0.count), &w, &h, &found) }) != 0 {
            guard w >= 1, h >= 1 else { throw FileError(path: path, "has no pixels (\(w)×\(h))") }
            guard Int(w) * Int(h) <= maxPixels else {
                throw FileError(path: path, "is \(w)×\(h) pixels, more than the \(maxPixels) that --predict reads", hint: "scale it down first")
            }
        }
        guard (1...4).contains(channels) else {
            throw FileError(path: path, "cannot be made into the net's input of \(channels) channels (image files have 1 to 4)")
        }
        guard let pixels = file.withUnsafeBufferPointer({
            stbi_load_from_memory($0.baseAddress, Int32(clamping: $0.count), &w, &h, &found, Int32(channels))
        }) else {
            throw FileError(path: path, "cannot read the image: \(StbImage.failureReason())",
                            hint: "PNG, binary PGM/PPM (P5/P6), JPEG, BMP and GIF can be read")
        }
        defer { stbi_image_free(pixels) }
        guard w >= 1, h >= 1 else { throw FileError(path: path, "has no pixels (\(w)×\(h))") }
        var planar = [UInt8](repeating: 0, count: width * height * channels)
        let ok = planar.withUnsafeMutableBufferPointer {
            StbImage.planar(pixels, width: Int(w), height: Int(h), channels: channels, toWidth: width, toHeight: height, into: $0.baseAddress!)
        }
        guard ok else { throw FileError(path: path, "cannot resize the image from \(w)×\(h) to \(width)×\(height)") }
        return planar
    }

    /// The width and height an image file's header gives, or nil when it cannot be told. A PNG's
    /// are read from its IHDR: stb_image gives none for one it finds too large.
    public static func size(of file: [UInt8]) -> (width: Int, height: Int)? {
        let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if file.count >= 24, Array(file.prefix(8)) == pngSignature, Array(file[12..<16]) == Array("IHDR".utf8) {
            func int(_ at: Int) -> Int { file[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
            return (int(16), int(20))
        }
        var w: Int32 = 0, h: Int32 = 0, found: Int32 = 0
        guard file.count <= Int(Int32.max),
              file.withUnsafeBufferPointer({ stbi_info_from_memory($0.baseAddress, Int32(clamping: $0.count), &w, &h, &found) }) != 0 else { return nil }
        return (Int(w), Int(h))
    }

    /// stb_image reads a binary PGM/PPM (P5/P6) that ends early without complaint, leaving the
    /// missing pixels uninitialised: the header's size is checked against the file's here.
    static func checkPNMLength(_ bytes: [UInt8], path: String) throws(FileError) {
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "5") || bytes[1] == UInt8(ascii: "6") else { return }
        // Header: magic, width, height, maxval, as whitespace-separated decimal tokens, with
        // `#` comments to the end of a line; then one whitespace byte, then the pixels.
        var values: [Int] = [], i = 2
        while values.count < 3 && i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "#") {
                while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { i += 1 }
            } else if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) {
                var v = 0
                while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]), v < 1 << 40 {
                    v = v * 10 + Int(bytes[i] - UInt8(ascii: "0")); i += 1
                }
                values.append(v)
                continue
            }
            i += 1
        }
        guard values.count == 3 else { throw FileError(path: path, "the PGM/PPM header is incomplete") }
        let channels = bytes[1] == UInt8(ascii: "5") ? 1 : 3, depth = values[2] > 255 ? 2 : 1
        let needed = Shape.checkedCount([values[0], values[1], channels * depth]) ?? Int.max
        if needed > bytes.count - i - 1 {
            throw FileError(path: path, "is truncated: its header says \(values[0])×\(values[1]) pixels, the file holds \(max(0, bytes.count - i - 1)) bytes of them")
        }
    }
}
