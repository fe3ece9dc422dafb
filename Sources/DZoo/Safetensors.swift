import DConfig
import DCore
import FoundationEssentials

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// mapping each tensor name to its dtype, shape and byte range, then the raw little-endian
/// data. Dendrite writes float32 tensors only, so numpy, PyTorch and any safetensors reader
/// open its snapshots.
public struct SafetensorsFile: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var shape: [Int]
        public var values: [Float]

        public init(shape: [Int], values: [Float]) {
            self.shape = shape; self.values = values
        }
    }

    /// Tensors in file order.
    public var tensors: [(name: String, entry: Entry)]
    public var metadata: [String: String]

    public init(tensors: [(name: String, entry: Entry)], metadata: [String: String] = [:]) {
        self.tensors = tensors; self.metadata = metadata
    }

    public subscript(name: String) -> Entry? { tensors.first { $0.name == name }?.entry }

    public static func == (a: SafetensorsFile, b: SafetensorsFile) -> Bool {
        a.metadata == b.metadata && a.tensors.map(\.name) == b.tensors.map(\.name) && a.tensors.map(\.entry) == b.tensors.map(\.entry)
    }

    // MARK: Writing

    public func encoded() -> [UInt8] {
        var header = "{"
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(Self.json($0)):\(Self.json(metadata[$0]!))" }
            header += "\"__metadata__\":{\(pairs.joined(separator: ","))},"
        }
        var offset = 0
        header += tensors.map { name, e in
            defer { offset += 4 * e.values.count }
            return "\(Self.json(name)):{\"dtype\":\"F32\",\"shape\":[\(e.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + 4 * e.values.count)]}"
        }.joined(separator: ",")
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }  // pad to 8 bytes with spaces
        var out: [UInt8] = []
        out.reserveCapacity(8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for (_, e) in tensors {
            for v in e.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        }
        return out
    }

    static func json(_ s: String) -> String { YAMLText.quoted(s) }

    public func write(to path: String) throws(FileError) { try AtomicFile.write(encoded(), to: path) }

    // MARK: Reading

    private struct HeaderEntry: Decodable {
        var dtype: String
        var shape: [Int]
        var data_offsets: [Int]
    }

    private enum HeaderValue: Decodable {
        case tensor(HeaderEntry)
        case metadata([String: String])
        init(from decoder: Decoder) throws {
            if let t = try? HeaderEntry(from: decoder) { self = .tensor(t); return }
            self = .metadata(try [String: String](from: decoder))
        }
    }

    /// Reads and checks a file: every failure (truncation, a bad header, a dtype other than
    /// F32, a byte range outside the data) is a `FileError` that says what is wrong.
    public static func read(_ path: String) throws(FileError) -> SafetensorsFile {
        try decode(try AtomicFile.read(path), path: path)
    }

    public static func decode(_ bytes: [UInt8], path: String) throws(FileError) -> SafetensorsFile {
        func corrupt(_ why: String) -> FileError {
            FileError(path: path, "not a valid safetensors file: \(why)", hint: "the file is corrupt or truncated; use an earlier snapshot")
        }
        guard bytes.count >= 8 else { throw corrupt("\(bytes.count) bytes, shorter than the 8-byte header length") }
        let n = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard n <= UInt64(bytes.count - 8) else { throw corrupt("header length \(n) exceeds the file size \(bytes.count)") }
        let headerEnd = 8 + Int(n)
        let values: [String: HeaderValue]
        do {
            values = try JSONDecoder().decode([String: HeaderValue].self, from: Data(bytes[8..<headerEnd]))
        } catch {
            throw corrupt("the JSON header does not parse")
        }
        let dataCount = bytes.count - headerEnd
        var tensors: [(String, Entry, Int)] = []
        var metadata: [String: String] = [:]
        for (name, value) in values {
            switch value {
            case .metadata(let m):
                guard name == "__metadata__" else { throw corrupt("entry '\(name)' is not a tensor") }
                metadata = m
            case .tensor(let t):
                guard t.dtype == "F32" else {
                    throw FileError(path: path, "tensor '\(name)' has dtype \(t.dtype); Dendrite reads F32 only",
                                    hint: "convert the weights to float32")
                }
                guard t.shape.allSatisfy({ $0 >= 0 }), t.data_offsets.count == 2 else { throw corrupt("tensor '\(name)' has a malformed shape or offsets") }
                let (begin, end) = (t.data_offsets[0], t.data_offsets[1])
                // The element count of a hostile shape can overflow; it must fit the data anyway.
                guard let count = Shape.checkedCount(t.shape), count <= dataCount / 4 else {
                    throw corrupt("tensor '\(name)' of shape \(t.shape) is larger than the file's \(dataCount) data bytes")
                }
                guard begin >= 0, begin <= end, end <= dataCount, end - begin == 4 * count else {
                    throw corrupt("tensor '\(name)' of shape \(t.shape) has byte range \(begin)..<\(end), outside the \(dataCount) data bytes or of the wrong size")
                }
                var floats = [Float](repeating: 0, count: count)
                floats.withUnsafeMutableBytes { dst in
                    bytes.withUnsafeBytes { src in
                        dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(headerEnd + begin)..<(headerEnd + end)]))
                    }
                }
                #if _endian(big)
                floats = floats.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
                #endif
                tensors.append((name, Entry(shape: t.shape, values: floats), begin))
            }
        }
        // The format's rule: the tensors' byte ranges tile the data, in some order, with
        // neither overlaps nor holes (a hole or an overlap is a writer's bug, or tampering).
        tensors.sort { ($0.2, $0.2 + 4 * $0.1.values.count) < ($1.2, $1.2 + 4 * $1.1.values.count) }
        let tiling = "the format requires the tensors' data_offsets to cover the data exactly, without overlaps or holes; write the file again with a safetensors library"
        var expected = 0
        for (i, (name, entry, begin)) in tensors.enumerated() {
            guard begin == expected else {
                let end = begin + 4 * entry.values.count
                throw FileError(
                    path: path, begin > expected
                        ? "not a valid safetensors file: bytes \(expected)..<\(begin) of the data belong to no tensor (tensor '\(name)' starts at \(begin))"
                        : "not a valid safetensors file: tensor '\(name)' (bytes \(begin)..<\(end)) overlaps tensor '\(tensors[i - 1].0)' (bytes \(tensors[i - 1].2)..<\(expected))",
                    hint: tiling)
            }
            expected = begin + 4 * entry.values.count
        }
        guard expected == dataCount else {
            throw FileError(path: path, "not a valid safetensors file: bytes \(expected)..<\(dataCount) of the data belong to no tensor",
                            hint: tiling)
        }
        return SafetensorsFile(tensors: tensors.map { ($0.0, $0.1) }, metadata: metadata)
    }
}
