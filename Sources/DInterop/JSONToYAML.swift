/// swift-protobuf's JSON of a Caffe message, rewritten as YAML flow text in the same order:
/// keys unquoted, plain words and numbers unquoted, everything else kept as a JSON string
/// (which YAML reads the same). Only what `jsonString()` writes is handled: compact JSON.
/// (Also the V1 layers' upgrade edits a message's JSON with it: Foundation's JSONSerialization
/// would link all of Foundation and ICU into every command, ~6 MB of resident memory.)
enum JSONToYAML {
    indirect enum Value {
        case object([(key: String, value: Value)])
        case array([Value])
        /// A number, true, false or null, as written.
        case literal(String)
        /// A string, with its JSON quotes and escapes.
        case string(String)
    }

    struct Malformed: Error {}

    static func parse(_ json: String) throws(Malformed) -> Value {
        var p = Parser(bytes: Array(json.utf8))
        let v = try p.value()
        guard p.i == p.bytes.count else { throw Malformed() }
        return v
    }

    /// One value in flow style: `{num_output: 20, kernel_size: [5]}`.
    static func flow(_ v: Value) -> String {
        switch v {
        case .object(let pairs): "{" + pairs.map { "\($0.key): \(flow($0.value))" }.joined(separator: ", ") + "}"
        case .array(let items): "[" + items.map(flow).joined(separator: ", ") + "]"
        case .literal(let text): text
        case .string(let quoted): plain(quoted) ?? quoted
        }
    }

    /// The value as compact JSON again (keys are field names, which need no escapes).
    static func json(_ v: Value) -> String {
        switch v {
        case .object(let pairs): "{" + pairs.map { "\"\($0.key)\":\(json($0.value))" }.joined(separator: ",") + "}"
        case .array(let items): "[" + items.map(json).joined(separator: ",") + "]"
        case .literal(let text), .string(let text): text
        }
    }

    /// The string's content when YAML reads it back unquoted as the same string or number:
    /// letters, digits, `_ . / -`, not starting with `-` or `.`, and not a YAML keyword.
    /// (swift-protobuf writes 64-bit integers as strings; they come out as numbers.)
    static func plain(_ quoted: String) -> String? {
        let inner = quoted.dropFirst().dropLast()
        guard !inner.isEmpty, inner.count <= 200,
              inner.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_./-".unicodeScalars.contains($0)) }),
              let first = inner.first, first != "-", first != ".",
              !["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"].contains(inner.lowercased())
        else { return nil }
        return String(inner)
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        mutating func value() throws(Malformed) -> Value {
            guard i < bytes.count else { throw Malformed() }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var pairs: [(key: String, value: Value)] = []
                if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                while true {
                    guard case .string(let quoted) = try value() else { throw Malformed() }
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw Malformed() }
                    i += 1
                    pairs.append((String(quoted.dropFirst().dropLast()), try value()))
                    guard i < bytes.count else { throw Malformed() }
                    i += 1
                    if bytes[i - 1] == UInt8(ascii: "}") { return .object(pairs) }
                    guard bytes[i - 1] == UInt8(ascii: ",") else { throw Malformed() }
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [Value] = []
                if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    items.append(try value())
                    guard i < bytes.count else { throw Malformed() }
                    i += 1
                    if bytes[i - 1] == UInt8(ascii: "]") { return .array(items) }
                    guard bytes[i - 1] == UInt8(ascii: ",") else { throw Malformed() }
                }
            case UInt8(ascii: "\""):
                let start = i
                i += 1
                while i < bytes.count && bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
                guard i < bytes.count else { throw Malformed() }
                i += 1
                return .string(String(decoding: bytes[start..<i], as: UTF8.self))
            default:
                let start = i
                while i < bytes.count && !",]}".utf8.contains(bytes[i]) { i += 1 }
                guard i > start else { throw Malformed() }
                return .literal(String(decoding: bytes[start..<i], as: UTF8.self))
            }
        }
    }
}
