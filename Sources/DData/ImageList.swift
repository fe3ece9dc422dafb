import CSTBImage
import DCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Caffe's `ImageData` source: a text file with one `path label` per line (the path may hold
/// spaces: the label is the last word), each image decoded once by stb_image into a compact
/// byte cache, channels first.
public enum ImageList {
    /// How to decode: relative paths in the list are taken from `root` (the list's directory
    /// when empty); `height` and `width` of 0 keep the files' size (which must then be the same
    /// for all); `color` gives 3 channels, else 1.
    public struct Options: Sendable, Equatable {
        public var root: String
        public var height: Int
        public var width: Int
        public var color: Bool
        public init(root: String = "", height: Int = 0, width: Int = 0, color: Bool = true) {
            self.root = root; self.height = height; self.width = width; self.color = color
        }
    }

    /// The largest image decoded (64 megapixels), and the largest label (exact as a float).
    static let maxPixels = 1 << 26
    static let maxLabel = 1 << 24

    /// One line of the list: the image path as written, and its label.
    public struct Item: Sendable, Equatable {
        public var path: String
        public var label: Int32
        public var line: Int
    }

    static let usage = "one image per line: its path, a space, its class index"

    /// The items of the list file at `path`; blank lines and lines starting with `#` are skipped.
    public static func parse(_ path: String) throws(DataError) -> [Item] {
        guard let file = fopen(path, "r") else {
            throw DataError(file: path, "cannot open the image list", hint: "check the path; relative paths are taken from the net file's directory (the solver's, for a net written in the solver)")
        }
        defer { fclose(file) }
        var items: [Item] = []
        var lineNumber = 0
        var buffer = [CChar](repeating: 0, count: 1 << 16)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            lineNumber += 1
            let raw = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard raw.hasSuffix("\n") || feof(file) != 0 else {
                throw DataError(file: "\(path):\(lineNumber)", "the line is longer than \(buffer.count - 1) bytes")
            }
            let line = raw.trimmingTrailingNewline().trimmingTrailingBlanks()
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let space = line.lastIndex(where: { $0 == " " || $0 == "\t" })
            let name = space.map { String(line[..<$0]).trimmingTrailingBlanks() } ?? ""
            guard let space, !name.isEmpty else {
                throw DataError(file: "\(path):\(lineNumber)", "expected 'path label', found '\(line)'", hint: usage)
            }
            let word = String(line[line.index(after: space)...])
            guard let label = Int(word), (0...maxLabel).contains(label) else {
                throw DataError(file: "\(path):\(lineNumber)", "the label '\(word)' is not a class index (a whole number from 0 to \(maxLabel))")
            }
            items.append(Item(path: name, label: Int32(label), line: lineNumber))
        }
        guard !items.isEmpty else { throw DataError(file: path, "lists no images", hint: usage) }
        return items
    }

    /// Decodes every image of the list into one dataset, over `threads` threads (each image
    /// lands in its own slot, so the bytes do not depend on the thread count). `progress` is
    /// told the count decoded so far, about every 1000 images of a list of more than 2000.
    public static func load(_ path: String, _ options: Options, threads: Int = 1,
                            progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws(DataError) -> IDXDataset {
        let items = try parse(path)
        let channels = options.color ? 3 : 1
        var root = options.root.isEmpty ? (path.lastIndex(of: "/").map { String(path[...$0]) } ?? "") : options.root
        if !root.isEmpty && !root.hasSuffix("/") { root += "/" }
        let decoder = Decoder(list: path, root: root, rootGiven: !options.root.isEmpty, channels: channels)
        // The size of every sample: the options', else the first image's.
        let keepSize = options.height == 0 || options.width == 0
        let (height, width) = keepSize ? try decoder.size(items[0]) : (options.height, options.width)
        let sampleSize = channels * height * width
        var pixels = [UInt8](repeating: 0, count: items.count * sampleSize)
        let firstError = Mutex<(line: Int, error: DataError)?>(nil)
        let decoded = Atomic<Int>(0)
        pixels.withUnsafeMutableBufferPointer { buffer in
            let out = SendableBytes(buffer.baseAddress!)
            Parallel(threads: threads).forChunks(items.count) { range in
                for n in range {
                    do throws(DataError) {
                        try decoder.decode(items[n], height: height, width: width, keepSize: keepSize, into: out.pointer + n * sampleSize)
                    } catch {
                        // The list's first bad line is reported, whichever thread met it.
                        firstError.withLock { if $0 == nil || items[n].line < $0!.line { $0 = (items[n].line, error) } }
                        return
                    }
                    let done = decoded.add(1, ordering: .relaxed).newValue
                    if items.count > 2000 && (done % 1000 == 0 || done == items.count) { progress(done, items.count) }
                }
            }
        }
        if let (_, error) = firstError.withLock({ $0 }) { throw error }
        return IDXDataset(imagesPath: path, labelsPath: path, sampleDims: [channels, height, width], pixels: pixels, labels: items.map(\.label),
                          labelLines: items.map(\.line))
    }

    /// Decodes the items of one list (read-only, so shared by the threads).
    struct Decoder: Sendable {
        let list: String, root: String, rootGiven: Bool, channels: Int

        func file(_ item: Item) -> String { item.path.hasPrefix("/") ? item.path : root + item.path }
        func place(_ item: Item) -> String { "\(list):\(item.line)" }

        /// The image's height and width from its header.
        func size(_ item: Item) throws(DataError) -> (Int, Int) {
            let file = file(item)
            var w: Int32 = 0, h: Int32 = 0, found: Int32 = 0
            guard stbi_info(file, &w, &h, &found) != 0 else {
                if access(file, R_OK) != 0 {
                    throw DataError(file: place(item), "cannot open the image '\(file)'", hint: rootGiven ? "relative paths are taken from root_folder" : "relative paths are taken from the list file's directory; set root_folder to take them from another")
                }
                throw DataError(file: place(item), "cannot decode the image '\(file)': \(StbImage.failureReason())", hint: "PNG, binary PGM/PPM, JPEG, BMP and GIF can be read")
            }
            guard w >= 1, h >= 1, Int(w) * Int(h) <= maxPixels else {
                throw DataError(file: place(item), "the image '\(file)' is \(w)×\(h) pixels; images must have 1 to \(maxPixels) pixels")
            }
            return (Int(h), Int(w))
        }

        /// Decodes `item` into `out` as channels × height × width bytes, resized unless
        /// `keepSize` (then it must have that size).
        func decode(_ item: Item, height: Int, width: Int, keepSize: Bool, into out: UnsafeMutablePointer<UInt8>) throws(DataError) {
            let (h0, w0) = try size(item)
            let file = file(item)
            if keepSize && (h0 != height || w0 != width) {
                throw DataError(file: place(item), "the image '\(file)' is \(w0)×\(h0) pixels, the list's first is \(width)×\(height)",
                                hint: "set new_height and new_width to resize every image to one size")
            }
            var w: Int32 = 0, h: Int32 = 0, found: Int32 = 0
            guard let decoded = stbi_load(file, &w, &h, &found, Int32(channels)) else {
                throw DataError(file: place(item), "cannot decode the image '\(file)': \(StbImage.failureReason())", hint: "PNG, binary PGM/PPM, JPEG, BMP and GIF can be read")
            }
            defer { stbi_image_free(decoded) }
            guard StbImage.planar(decoded, width: Int(w), height: Int(h), channels: channels, toWidth: width, toHeight: height, into: out) else {
                throw DataError(file: place(item), "cannot resize the image '\(file)' from \(w)×\(h) to \(width)×\(height)")
            }
        }
    }

}

/// What image decoding shares (`ImageData`, `dtest --predict`): stb_image's pixels, resized
/// and made channels-first.
public enum StbImage {
    /// Why stb_image failed last.
    public static func failureReason() -> String { stbi_failure_reason().map { String(cString: $0) } ?? "unknown reason" }

    /// `decoded` (interleaved RGBRGB…, `width`×`height`) resized to `toWidth`×`toHeight` by
    /// stb_image_resize when the sizes differ, written planar (RRR…GGG…BBB…) to `out`;
    /// false when the resize fails.
    public static func planar(_ decoded: UnsafePointer<UInt8>, width: Int, height: Int, channels: Int,
                              toWidth: Int, toHeight: Int, into out: UnsafeMutablePointer<UInt8>) -> Bool {
        let plane = toWidth * toHeight
        var interleaved = [UInt8](repeating: 0, count: plane * channels)
        if width == toWidth && height == toHeight {
            interleaved.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: decoded, count: $0.count) }
        } else {
            let ok = interleaved.withUnsafeMutableBufferPointer {
                stbir_resize_uint8(decoded, Int32(width), Int32(height), 0, $0.baseAddress!, Int32(toWidth), Int32(toHeight), 0, Int32(channels))
            }
            guard ok != 0 else { return false }
        }
        for c in 0..<channels {
            for i in 0..<plane { out[c * plane + i] = interleaved[i * channels + c] }
        }
        return true
    }
}

extension String {
    func trimmingTrailingNewline() -> String {
        var s = Substring(self)
        while s.last == "\n" || s.last == "\r" { s = s.dropLast() }
        return String(s)
    }

    func trimmingTrailingBlanks() -> String {
        var s = Substring(self)
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// A byte pointer that may cross into `Parallel` chunks; each chunk writes its own samples.
struct SendableBytes: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt8>
    init(_ pointer: UnsafeMutablePointer<UInt8>) { self.pointer = pointer }
}
