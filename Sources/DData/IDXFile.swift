import CLibDeflate
import DCore
import CZlib
#if canImport(Glibc)
import Glibc
#endif

/// A problem with a dataset file: which file, and what was expected versus found.
public struct DataError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var message: String
    public var hint: String?

    public init(file: String, _ message: String, hint: String? = nil) {
        self.file = file; self.message = message; self.hint = hint
    }

    public var description: String {
        "\(file): error: \(message)" + (hint.map { "\nhint: \($0)" } ?? "")
    }
}

/// An IDX file (the MNIST format): a big-endian header — two zero bytes, a type code, the
/// number of dimensions, then each dimension as a 32-bit integer — followed by the payload.
/// Unsigned bytes (type 0x08) stay bytes; 32-bit floats (type 0x0D, big-endian) become floats.
public struct IDXFile: Sendable {
    /// The IDX type codes read here.
    public enum ElementType: UInt8, Sendable {
        case ubyte = 0x08, float = 0x0D
        var size: Int { self == .ubyte ? 1 : 4 }
        var name: String { self == .ubyte ? "unsigned bytes" : "32-bit floats" }
    }

    public let dims: [Int]
    public let type: ElementType
    /// The payload of an unsigned-byte file (empty for floats).
    public let bytes: [UInt8]
    /// The payload of a float file (empty for bytes).
    public let floats: [Float]

    /// The magic number of an IDX file of `type` with `rank` dimensions: 2049 for byte labels
    /// (rank 1), 2051 for grey images (rank 3), 2052 for images with channels (rank 4), 3331
    /// and 3332 for float images.
    public static func magic(rank: Int, type: ElementType = .ubyte) -> Int { Int(type.rawValue) << 8 + rank }

    /// Reads a gzip'd or raw file (zlib reads both) and checks its header against
    /// `expectedRanks` and `types` and its payload length against the header.
    public static func read(_ path: String, expectedRanks: ClosedRange<Int>, types: [ElementType] = [.ubyte],
                            role: String) throws(DataError) -> IDXFile {
        if let file = wellFormedGzip(path, expectedRanks: expectedRanks, types: types) { return file }
        // Raw files, and every gzip'd one with a problem: zlib's stream, which says exactly
        // what is wrong and where.
        guard let gz = gzopen(path, "rb") else {
            throw DataError(file: path, "cannot open the \(role) file", hint: "check the path; relative paths are taken from the net file's directory (the solver's, for a net written in the solver)")
        }
        defer { gzclose(gz) }
        _ = gzbuffer(gz, 1 << 20)

        var header = [UInt8](repeating: 0, count: 4)
        try header.withUnsafeMutableBufferPointer { b throws(DataError) in
            try readExactly(gz, into: b, 4, path: path, what: "the 4-byte IDX magic number")
        }
        let magic = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        let rank = Int(header[3])
        let expected = types.flatMap { t in expectedRanks.map { String(IDXFile.magic(rank: $0, type: t)) } }.joined(separator: " or ")
        guard header[0] == 0, header[1] == 0, let type = ElementType(rawValue: header[2]), types.contains(type), expectedRanks.contains(rank) else {
            var hint = "an IDX \(role) file of \(types.map(\.name).joined(separator: " or ")) has magic number \(expected)"
            if magic == 2049 || magic == 2051 || magic == 2052 { hint = "are the images and labels files swapped?" }
            if magic == 0x0D01 { hint = "labels must be unsigned bytes (class indices 0…255)" }
            throw DataError(file: path, "not an IDX \(role) file: magic number \(magic), expected \(expected)", hint: hint)
        }
        var dimBytes = [UInt8](repeating: 0, count: 4 * rank)
        try dimBytes.withUnsafeMutableBufferPointer { b throws(DataError) in
            try readExactly(gz, into: b, 4 * rank, path: path, what: "\(rank) dimensions in the header")
        }
        let dims = (0..<rank).map { i in
            dimBytes[4 * i..<4 * i + 4].reduce(0) { $0 << 8 | Int($1) }
        }
        let (payload, overflow) = dims.reduce((type.size, false)) { acc, d in
            let m = acc.0.multipliedReportingOverflow(by: d)
            return (m.partialValue, acc.1 || m.overflow)
        }
        guard !overflow, payload <= 1 << 34 else {
            throw DataError(file: path, "header dimensions \(dims) are implausibly large", hint: "the file is corrupt")
        }
        // Read in pieces of at most 64 MiB, each uninitialised so that its pages are written
        // once, by zlib: memory grows with the data the file holds, not with what its header
        // claims (a 52-byte file may claim 16 GiB).
        let what = "\(payload) payload bytes for dimensions \(dims.map(String.init).joined(separator: "×"))"
        var bytes: [UInt8] = []
        while bytes.count < payload {
            let wanted = min(payload - bytes.count, 1 << 26)
            var failure: DataError?
            let piece = [UInt8](unsafeUninitializedCapacity: wanted) { buffer, count in
                do {
                    count = try readUpTo(gz, into: buffer, wanted, path: path, what: what)
                } catch {
                    failure = error as? DataError
                    count = 0
                }
            }
            if let failure { throw failure }
            if bytes.isEmpty { bytes = piece } else { bytes += piece }
            guard piece.count == wanted else { throw truncated(gz, path: path, what: what, found: bytes.count) }
        }
        var extra: UInt8 = 0
        if gzread(gz, &extra, 1) > 0 {
            throw DataError(file: path, "more data than the header's dimensions \(dims) account for",
                            hint: "the header or the file is corrupt")
        }
        // Reading past the payload made zlib check the gzip trailer (CRC and size).
        let (code, zlib) = gzipStatus(gz, path: path)
        if code == Z_BUF_ERROR {
            throw DataError(file: path, "truncated: the gzip data ends before its trailer (zlib: \(zlib))", hint: "download or copy the file again")
        }
        if code != Z_OK { throw damaged(path, zlib) }
        return IDXFile(dims: dims, type: type, payload: bytes)
    }

    /// A gzip'd IDX file in one go with libdeflate, two and a half times zlib's speed here;
    /// nil for anything but a single-member gzip file whose header and payload agree.
    static func wellFormedGzip(_ path: String, expectedRanks: ClosedRange<Int>, types: [ElementType]) -> IDXFile? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size >= 18 else { return nil }
        var compressed = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < compressed.count {
            let n = compressed.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            done += n
        }
        guard compressed[0] == 0x1f, compressed[1] == 0x8b else { return nil }
        // The gzip trailer's ISIZE: the decompressed size modulo 2³².
        let size = compressed[(compressed.count - 4)...].reversed().reduce(0) { $0 << 8 | Int($1) }
        // Deflate expands at most 1032-fold: a larger claim is a damaged or crafted trailer,
        // which zlib's stream then reports, without allocating what it claims.
        guard size >= 4, size <= compressed.count * 1032, let decompressor = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(decompressor) }
        var ok = false, dims: [Int] = [], type = ElementType.ubyte
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { out, count in
            count = 0
            var consumed = 0, produced = 0
            let result = compressed.withUnsafeBytes { input in
                libdeflate_gzip_decompress_ex(decompressor, input.baseAddress, input.count, out.baseAddress, size, &consumed, &produced)
            }
            guard result == LIBDEFLATE_SUCCESS, consumed == compressed.count, produced == size else { return }
            let rank = Int(out[3]), headerSize = 4 + 4 * rank
            guard out[0] == 0, out[1] == 0, let t = ElementType(rawValue: out[2]), types.contains(t), expectedRanks.contains(rank),
                  size >= headerSize else { return }
            type = t
            dims = (0..<rank).map { i in (0..<4).reduce(0) { $0 << 8 | Int(out[4 + 4 * i + $1]) } }
            guard let elements = Shape.checkedCount(dims), elements <= size, elements * t.size == size - headerSize else { return }
            // The payload moves to the front of the same buffer: no second copy of it.
            memmove(out.baseAddress!, out.baseAddress! + headerSize, size - headerSize)
            count = size - headerSize
            ok = true
        }
        return ok ? IDXFile(dims: dims, type: type, payload: bytes) : nil
    }

    /// From a payload as it is in the file: big-endian floats are decoded.
    init(dims: [Int], type: ElementType, payload: [UInt8]) {
        if type == .ubyte {
            self.init(dims: dims, bytes: payload)
        } else {
            self.init(dims: dims, floats: (0..<(payload.count / 4)).map { i -> Float in
                var bits: UInt32 = 0
                for k in 0..<4 { bits = bits << 8 | UInt32(payload[4 * i + k]) }
                return Float(bitPattern: bits)
            })
        }
    }

    public init(dims: [Int], bytes: [UInt8]) {
        precondition(dims.reduce(1, *) == bytes.count, "IDX payload does not match its dimensions")
        self.dims = dims
        self.type = .ubyte
        self.bytes = bytes
        self.floats = []
    }

    public init(dims: [Int], floats: [Float]) {
        precondition(dims.reduce(1, *) == floats.count, "IDX payload does not match its dimensions")
        self.dims = dims
        self.type = .float
        self.bytes = []
        self.floats = floats
    }

    /// The file's bytes: header and payload.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [0, 0, type.rawValue, UInt8(dims.count)]
        for d in dims { out += [UInt8(d >> 24 & 0xff), UInt8(d >> 16 & 0xff), UInt8(d >> 8 & 0xff), UInt8(d & 0xff)] }
        if type == .ubyte { return out + bytes }
        out.reserveCapacity(out.count + 4 * floats.count)
        for f in floats { let b = f.bitPattern; out += [UInt8(b >> 24), UInt8(b >> 16 & 0xff), UInt8(b >> 8 & 0xff), UInt8(b & 0xff)] }
        return out
    }

    /// Writes the file, gzip-compressed when `gzip` (for tests and tools that make datasets).
    public func write(to path: String, gzip: Bool) throws(DataError) {
        guard let gz = gzopen(path, gzip ? "wb" : "wbT") else { throw DataError(file: path, "cannot create the file") }
        let data = encoded()
        let written = data.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
        guard gzclose(gz) == Z_OK, written == Int32(data.count) else { throw DataError(file: path, "cannot write the file") }
    }

    private static func damaged(_ path: String, _ zlib: String) -> DataError {
        DataError(file: path, "corrupt: the gzip data is damaged (zlib: \(zlib))", hint: "download or copy the file again")
    }

    private static func readExactly(_ gz: gzFile, into buffer: UnsafeMutableBufferPointer<UInt8>, _ count: Int,
                                    path: String, what: String) throws(DataError) {
        let done = try readUpTo(gz, into: buffer, count, path: path, what: what)
        guard done == count else { throw truncated(gz, path: path, what: what, found: done) }
    }

    /// Reads until `count` bytes or the end of the data; returns how many were read.
    private static func readUpTo(_ gz: gzFile, into buffer: UnsafeMutableBufferPointer<UInt8>, _ count: Int,
                                 path: String, what: String) throws(DataError) -> Int {
        var done = 0
        while done < count {
            let chunk = Int32(min(count - done, 1 << 30))
            let n = gzread(gz, buffer.baseAddress! + done, UInt32(chunk))
            if n < 0 {
                let (code, message) = gzipStatus(gz, path: path)
                // zlib reads ahead: damaged compressed data is found wherever, not in `what`.
                if code == Z_DATA_ERROR { throw damaged(path, message) }
                throw DataError(file: path, "cannot read \(what): \(message.isEmpty ? "read error" : message)", hint: "the file is corrupt or truncated")
            }
            if n == 0 { break }
            done += Int(n)
        }
        return done
    }

    private static func truncated(_ gz: gzFile, path: String, what: String, found: Int) -> DataError {
        let (code, zlib) = gzipStatus(gz, path: path)
        let detail = code != Z_OK && !zlib.isEmpty ? " (zlib: \(zlib))" : ""
        return DataError(file: path, "truncated: expected \(what), found only \(found) bytes\(detail)", hint: "download or copy the file again")
    }
}

/// zlib's state of a gzip stream: its code and message, without the "PATH: " zlib puts first.
public func gzipStatus(_ gz: gzFile, path: String) -> (code: Int32, message: String) {
    var code = Z_OK
    let text = gzerror(gz, &code).map { String(cString: $0) } ?? ""
    return (code, text.hasPrefix(path + ": ") ? String(text.dropFirst(path.count + 2)) : text)
}
