/// The outline of a protobuf text-format file (a Caffe prototxt): its entries, `name: value`
/// and `name { … }`, with their lines, columns and text, read by a scanner that knows the
/// syntax only, not the schema. swift-protobuf's parser says whether a file is valid and what
/// it holds, but not where; the outline says where: the line of a layer, of a parameter, of the
/// first entry that does not parse.
struct PrototxtOutline {
    struct Entry {
        var name: String
        var line: Int, column: Int
        /// The entry's text, `name: value` or `name { … }`, as bytes of the file.
        var bytes: Range<Int>
        /// The entries of a message value; nil for a scalar or a list.
        var children: [Entry]?

        /// The first entry at `path` below this one (depth first), e.g. ["convolution_param", "dilation"].
        func find(_ path: some Collection<String>) -> Entry? {
            guard let first = path.first else { return self }
            for c in children ?? [] where c.name == first {
                if let found = c.find(path.dropFirst()) { return found }
            }
            return nil
        }
    }

    struct SyntaxError: Error {
        var line: Int, column: Int
        var message: String
    }

    let text: [UInt8]
    let entries: [Entry]

    init(_ text: String) throws(SyntaxError) {
        self.text = Array(text.utf8)
        var scanner = Scanner(text: self.text)
        entries = try scanner.entries(closing: nil)
    }

    func text(of entry: Entry) -> String { String(decoding: text[entry.bytes], as: UTF8.self) }

    /// The entries named `name` at the top level, in order (the `layer` blocks, say).
    func top(_ name: String) -> [Entry] { entries.filter { $0.name == name } }

    /// The innermost entry that makes `parses` fail, found by parsing each top-level entry
    /// alone, then each entry inside a failing block alone (wrapped in its parents), and so on.
    /// Nil when every entry parses alone (the fault is between entries, e.g. a repeated
    /// singular field).
    func firstFailing(_ parses: (String) -> Bool) -> Entry? {
        func search(_ entries: [Entry], _ prefix: String, _ suffix: String) -> Entry? {
            for e in entries where !parses(prefix + text(of: e) + suffix) {
                // A block that fails even empty is itself the fault (an unknown message field).
                guard let children = e.children, parses(prefix + e.name + " {\n}" + suffix) else { return e }
                return search(children, prefix + e.name + " {\n", "\n}" + suffix) ?? e
            }
            return nil
        }
        return search(entries, "", "")
    }

    private struct Scanner {
        let text: [UInt8]
        var i = 0, line = 1, lineStart = 0
        /// Messages open around the scanner; the scanner recurses once per level, so a file of
        /// nested braces must not take the stack. Caffe's nets nest 4 deep; protobuf's own
        /// parsers stop at 100.
        var depth = 0
        static let maxDepth = 100

        var column: Int { i - lineStart + 1 }

        mutating func skipSpace() {
            while i < text.count {
                switch text[i] {
                case UInt8(ascii: "\n"): i += 1; line += 1; lineStart = i
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): i += 1
                case UInt8(ascii: "#"): while i < text.count && text[i] != UInt8(ascii: "\n") { i += 1 }
                default: return
                }
            }
        }

        func error(_ message: String) -> SyntaxError { SyntaxError(line: line, column: column, message: message) }

        static func isWordByte(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "_")
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
        }

        /// Entries up to `closing` (a `}` or `>`), or to the end of the text when nil.
        mutating func entries(closing: UInt8?) throws(SyntaxError) -> [Entry] {
            var out: [Entry] = []
            while true {
                skipSpace()
                guard i < text.count else {
                    if let closing { throw error("expected '\(Character(UnicodeScalar(closing)))' before the end of the file") }
                    return out
                }
                if let closing, text[i] == closing { return out }
                out.append(try entry())
                skipSpace()
                if i < text.count && (text[i] == UInt8(ascii: ",") || text[i] == UInt8(ascii: ";")) { i += 1 }
            }
        }

        mutating func entry() throws(SyntaxError) -> Entry {
            let start = i, startLine = line, startColumn = column
            guard i < text.count, Self.isWordByte(text[i]), text[i] != UInt8(ascii: "-") else { throw error("expected a field name") }
            while i < text.count && Self.isWordByte(text[i]) { i += 1 }
            let name = String(decoding: text[start..<i], as: UTF8.self)
            skipSpace()
            var colon = false
            if i < text.count && text[i] == UInt8(ascii: ":") { colon = true; i += 1; skipSpace() }
            guard i < text.count else { throw error("expected a value for '\(name)' before the end of the file") }
            var children: [Entry]?
            switch text[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "<"):
                children = try message()
            case UInt8(ascii: "["):
                try list()
            default:
                guard colon else { throw error("expected ':' or '{' after '\(name)'") }
                try scalar()
            }
            return Entry(name: name, line: startLine, column: startColumn, bytes: start..<i, children: children)
        }

        /// `{ entries }` or `< entries >`.
        mutating func message() throws(SyntaxError) -> [Entry] {
            guard depth < Self.maxDepth else { throw error("messages nested more than \(Self.maxDepth) deep") }
            let closing = text[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: ">")
            i += 1
            depth += 1
            let inner = try entries(closing: closing)
            depth -= 1
            i += 1
            return inner
        }

        /// `[a, b, …]` of scalars or messages.
        mutating func list() throws(SyntaxError) {
            i += 1
            skipSpace()
            if i < text.count && text[i] == UInt8(ascii: "]") { i += 1; return }
            while true {
                skipSpace()
                guard i < text.count else { throw error("expected ']' before the end of the file") }
                if text[i] == UInt8(ascii: "{") || text[i] == UInt8(ascii: "<") { _ = try message() } else { try scalar() }
                skipSpace()
                guard i < text.count else { throw error("expected ']' before the end of the file") }
                if text[i] == UInt8(ascii: "]") { i += 1; return }
                guard text[i] == UInt8(ascii: ",") else { throw error("expected ',' or ']' in a list") }
                i += 1
            }
        }

        /// A number, an identifier (an enum value, true, inf), or one or more quoted strings.
        mutating func scalar() throws(SyntaxError) {
            if text[i] == UInt8(ascii: "\"") || text[i] == UInt8(ascii: "'") {
                while i < text.count && (text[i] == UInt8(ascii: "\"") || text[i] == UInt8(ascii: "'")) {
                    let quote = text[i]
                    i += 1
                    while true {
                        guard i < text.count, text[i] != UInt8(ascii: "\n") else { throw error("unterminated string") }
                        if text[i] == quote { i += 1; break }
                        i += text[i] == UInt8(ascii: "\\") ? 2 : 1
                    }
                    // Adjacent strings are one value ("a" "b"); the space after the last one
                    // is not part of the entry.
                    let end = (i, line, lineStart)
                    skipSpace()
                    if i >= text.count || (text[i] != UInt8(ascii: "\"") && text[i] != UInt8(ascii: "'")) {
                        (i, line, lineStart) = end
                        return
                    }
                }
                return
            }
            let start = i
            while i < text.count && Self.isWordByte(text[i]) { i += 1 }
            if i == start { throw error("expected a value") }
        }
    }
}
