/// Writing YAML (and JSON): nodes back as flow-style text, and strings quoted so that any
/// content reads back as the same string.
public enum YAMLText {
    /// `s` as a double-quoted string that JSON and YAML both read back as `s`: quotes,
    /// backslashes and control characters escaped (`\uXXXX` means the same in both).
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            // C0 and C1 controls, DEL, and what YAML folds or refuses inside quotes.
            case _ where u.value < 0x20 || (0x7f...0x9f).contains(u.value) || [0x2028, 0x2029, 0xfeff, 0xfffe, 0xffff].contains(u.value):
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// A node in flow style, on one line: `{num_output: 20, weight_filler: {type: xavier}}`.
    /// Plain scalars stay plain (numbers, booleans, names); others are quoted.
    public static func flow(_ node: YAMLNode) -> String {
        switch node.value {
        case .scalar(let s, let plain):
            return plain && isSafePlain(s) ? s : quoted(s)
        case .sequence(let items):
            return "[" + items.map(flow).joined(separator: ", ") + "]"
        case .mapping(let pairs):
            return "{" + pairs.map { flow($0.key) + ": " + flow($0.value) }.joined(separator: ", ") + "}"
        }
    }

    /// A node as a block-style document, one key per line, for a file a person reads (a net
    /// copied out of a solver): mappings and lists that fit on a line of 120 characters
    /// stay in flow style, as net files write layers' parameter blocks. Reads back as the same
    /// tree of scalars (locations aside).
    public static func block(_ node: YAMLNode) -> String {
        blockLines(node, indent: 0).map { $0 + "\n" }.joined()
    }

    static func blockLines(_ node: YAMLNode, indent: Int) -> [String] {
        let pad = String(repeating: " ", count: indent), width = 120
        switch node.value {
        case .scalar:
            return [pad + flow(node)]
        case .mapping(let pairs):
            if pairs.isEmpty { return [pad + "{}"] }
            var lines: [String] = []
            for (key, value) in pairs {
                let head = pad + flow(key) + ":"
                if case .scalar = value.value {
                    lines.append(head + " " + flow(value))
                } else if case let text = flow(value), head.count + 1 + text.count <= width {
                    lines.append(head + " " + text)
                } else {
                    lines.append(head)
                    lines += blockLines(value, indent: indent + 2)
                }
            }
            return lines
        case .sequence(let items):
            if items.isEmpty { return [pad + "[]"] }
            var lines: [String] = []
            for item in items {
                let text = flow(item)
                if pad.count + 2 + text.count <= width {
                    lines.append(pad + "- " + text)
                } else {
                    // The item's block, its first line after the dash: "- name: conv1".
                    var sub = blockLines(item, indent: indent + 2)
                    sub[0] = pad + "- " + sub[0].dropFirst(indent + 2)
                    lines += sub
                }
            }
            return lines
        }
    }

    /// A plain scalar that means the same inside a flow collection.
    static func isSafePlain(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first else { return false }
        let negativeNumber = first == "-" && s.dropFirst().first.map { $0.isNumber || $0 == "." } == true
        if !negativeNumber && "-?:,[]{}#&*!|>'\"%@` ".unicodeScalars.contains(first) { return false }
        return !s.contains { ",[]{}#\"'".contains($0) } && !s.contains(": ") && !s.hasSuffix(":") && !s.hasSuffix(" ")
    }
}
