#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// UTF-8 text files, one after the other, read as a sequence of Unicode scalars (not grapheme
/// clusters: "é" written as "e" + U+0301 is two symbols), each replaced by its index in the
/// vocabulary, the sorted set of scalars of all the files. Train and test splits share the
/// vocabulary, which depends on the files alone.
public final class TextCorpus: Sendable {
    /// The files, in the order their text is joined.
    public let paths: [String]
    /// The distinct scalars of the file in ascending order of their code points.
    public let vocabulary: [Unicode.Scalar]
    /// The file, each scalar as its vocabulary index.
    public let indices: [Int32]

    /// The vocabulary as strings of one scalar each (for a model card or `vocabulary.json`).
    public var vocabularyStrings: [String] { vocabulary.map { String(Character($0)) } }

    /// The vocabulary as a JSON array of one-scalar strings in index order (`vocabulary.json`
    /// of a zoo entry): `"`, `\` and control characters escaped, everything else as it is.
    public var vocabularyJSON: String {
        let items = vocabulary.map { s -> String in
            switch s {
            case "\"": return "\"\\\"\""
            case "\\": return "\"\\\\\""
            case "\n": return "\"\\n\""
            case "\t": return "\"\\t\""
            case "\r": return "\"\\r\""
            default:
                if s.value < 0x20 || s.value == 0x7F {
                    let hex = String(s.value, radix: 16)
                    return "\"\\u" + String(repeating: "0", count: 4 - hex.count) + hex + "\""
                }
                return "\"" + String(Character(s)) + "\""
            }
        }
        return "[" + items.joined(separator: ", ") + "]\n"
    }

    /// The vocabulary in the bytes of a `vocabulary.json`, which must be UTF-8 (as JSON text is).
    public static func vocabulary(jsonBytes bytes: [UInt8], path: String) throws(DataError) -> [Unicode.Scalar] {
        _ = try decode(bytes, path: path)  // the byte offset of the first malformed sequence, if any
        return try vocabulary(json: String(decoding: bytes, as: UTF8.self), path: path)
    }

    /// Reads what `vocabularyJSON` writes (a JSON array of strings of one scalar each; any
    /// JSON string escape is accepted) back into the vocabulary. `path` names the file in errors.
    public static func vocabulary(json text: String, path: String) throws(DataError) -> [Unicode.Scalar] {
        let s = Array(text.unicodeScalars)
        var i = 0
        func fail(_ what: String) -> DataError {
            DataError(file: path, "is not a vocabulary: \(what) at character \(i)",
                      hint: "vocabulary.json is a JSON array of one-character strings, as dtrain writes it for a TextData net")
        }
        func skipSpace() { while i < s.count, [" ", "\n", "\t", "\r"].contains(s[i]) { i += 1 } }
        func hex4() throws(DataError) -> UInt32 {
            guard i + 4 <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<(i + 4)])), radix: 16) else { throw fail("a bad \\u escape") }
            i += 4
            return v
        }
        func string() throws(DataError) -> [Unicode.Scalar] {
            guard i < s.count, s[i] == "\"" else { throw fail("expected a string") }
            i += 1
            var out: [Unicode.Scalar] = []
            while true {
                guard i < s.count else { throw fail("an unterminated string") }
                let c = s[i]; i += 1
                if c == "\"" { return out }
                guard c == "\\" else { out.append(c); continue }
                guard i < s.count else { throw fail("an unterminated string") }
                let e = s[i]; i += 1
                switch e {
                case "\"", "\\", "/": out.append(e)
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "u":
                    var v = try hex4()
                    if (0xD800..<0xDC00).contains(v), i + 6 <= s.count, s[i] == "\\", s[i + 1] == "u" {
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone surrogate") }
                        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(v) else { throw fail("a lone surrogate") }
                    out.append(u)
                default: throw fail("an unknown escape '\\\(e)'")
                }
            }
        }
        skipSpace()
        guard i < s.count, s[i] == "[" else { throw fail("expected '['") }
        i += 1
        skipSpace()
        var items: [Unicode.Scalar] = []
        if i < s.count, s[i] == "]" { i += 1 } else {
            while true {
                skipSpace()
                let item = try string()
                guard item.count == 1 else { throw fail("an entry of \(item.count) characters") }
                items.append(item[0])
                skipSpace()
                guard i < s.count else { throw fail("an unterminated array") }
                if s[i] == "]" { i += 1; break }
                guard s[i] == "," else { throw fail("expected ',' or ']'") }
                i += 1
            }
        }
        skipSpace()
        guard i == s.count else { throw fail("text after the array") }
        guard !items.isEmpty else { throw fail("an empty array") }
        guard Set(items).count == items.count else { throw fail("a character listed twice") }
        return items
    }

    public convenience init(paths: [String]) throws(DataError) {
        var files: [(path: String, bytes: [UInt8])] = []
        for path in paths { files.append((path, try Self.readBytes(path))) }
        try self.init(files: files)
    }

    /// The corpus of one file's `bytes`, as if read from `path`.
    public convenience init(path: String, bytes: [UInt8]) throws(DataError) {
        try self.init(files: [(path, bytes)])
    }

    /// The corpus of the files' bytes, joined in order with nothing between them. Every file must
    /// hold text: an empty one is more likely a wrong path than an intended part of the corpus.
    public init(files: [(path: String, bytes: [UInt8])]) throws(DataError) {
        precondition(!files.isEmpty, "a corpus is read from at least one file")
        var scalars: [Unicode.Scalar] = []
        for (path, bytes) in files {
            guard !bytes.isEmpty else {
                throw DataError(file: path, "the text file is empty", hint: "TextData trains on the characters of UTF-8 text files; give ones with text in them")
            }
            scalars += try Self.decode(bytes, path: path)
        }
        let vocabulary = Array(Set(scalars)).sorted { $0.value < $1.value }
        var index: [UInt32: Int32] = [:]
        for (i, s) in vocabulary.enumerated() { index[s.value] = Int32(i) }
        paths = files.map(\.path)
        self.vocabulary = vocabulary
        indices = scalars.map { index[$0.value]! }
    }

    static func readBytes(_ path: String) throws(DataError) -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            throw DataError(file: path, "cannot open the text file",
                            hint: "check the path; relative paths are taken from the net file's directory (the solver's, for a net written in the solver)")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count {
                if ferror(file) != 0 { throw DataError(file: path, "cannot read the text file", hint: "is it a directory or unreadable?") }
                break
            }
        }
        return bytes
    }

    /// The scalars of `bytes`, or an error at the byte offset of the first malformed sequence
    /// (overlong forms, surrogates and code points above U+10FFFF are malformed).
    static func decode(_ bytes: [UInt8], path: String) throws(DataError) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            var value: UInt32, length: Int, minimum: UInt32
            switch b0 {
            case 0x00...0x7F: value = UInt32(b0); length = 1; minimum = 0
            case 0xC0...0xDF: value = UInt32(b0 & 0x1F); length = 2; minimum = 0x80
            case 0xE0...0xEF: value = UInt32(b0 & 0x0F); length = 3; minimum = 0x800
            case 0xF0...0xF7: value = UInt32(b0 & 0x07); length = 4; minimum = 0x10000
            default: throw malformed(path, offset: i, byte: b0)
            }
            for k in 1..<length {
                guard i + k < n else { throw malformed(path, offset: i, byte: b0, truncated: true) }
                let b = bytes[i + k]
                guard b & 0xC0 == 0x80 else { throw malformed(path, offset: i, byte: b0) }
                value = value << 6 | UInt32(b & 0x3F)
            }
            guard value >= minimum, let scalar = Unicode.Scalar(value) else { throw malformed(path, offset: i, byte: b0) }
            out.append(scalar)
            i += length
        }
        return out
    }

    static func malformed(_ path: String, offset: Int, byte: UInt8, truncated: Bool = false) -> DataError {
        let hex = String(byte, radix: 16, uppercase: true)
        return DataError(file: path, "is not UTF-8: \(truncated ? "a truncated" : "a malformed") sequence at byte offset \(offset) (0x\(hex.count == 1 ? "0" + hex : hex))",
                         hint: "convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8")
    }
}
