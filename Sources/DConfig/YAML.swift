import CLibYAML

/// A position in a config file, 1-based as editors show it.
public struct ConfigLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file; self.line = line; self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A YAML node with the place it starts, as libyaml's document API reports it.
public struct YAMLNode: Sendable {
    public indirect enum Value: Sendable {
        /// `plain` is false for quoted and block scalars, which are always strings.
        case scalar(String, plain: Bool)
        case sequence([YAMLNode])
        /// Keys are scalars; the order is the file's.
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    public var value: Value
    public var location: ConfigLocation

    public init(value: Value, location: ConfigLocation) {
        self.value = value
        self.location = location
    }

    public var scalar: String? {
        if case .scalar(let s, _) = value { return s }
        return nil
    }

    /// The node with every location set to `location`: for nodes Dendrite writes itself in
    /// place of something in a file, so that messages point at that.
    func relocated(to location: ConfigLocation) -> YAMLNode {
        switch value {
        case .scalar: return YAMLNode(value: value, location: location)
        case .sequence(let items): return YAMLNode(value: .sequence(items.map { $0.relocated(to: location) }), location: location)
        case .mapping(let pairs):
            return YAMLNode(value: .mapping(pairs.map { ($0.key.relocated(to: location), $0.value.relocated(to: location)) }), location: location)
        }
    }

    /// The node with the scalars at the locations of `strings` replaced by those strings
    /// (quoted when written out): for a copy of a net with its paths rewritten.
    public func replacing(_ strings: [ConfigLocation: String]) -> YAMLNode {
        switch value {
        case .scalar:
            return strings[location].map { YAMLNode(value: .scalar($0, plain: false), location: location) } ?? self
        case .sequence(let items):
            return YAMLNode(value: .sequence(items.map { $0.replacing(strings) }), location: location)
        case .mapping(let pairs):
            return YAMLNode(value: .mapping(pairs.map { ($0.key, $0.value.replacing(strings)) }), location: location)
        }
    }

    /// How the node reads in an error message: `'five hundred'`, `a list`, `a mapping`.
    public var kindDescription: String {
        switch value {
        case .scalar(let s, _): return "'\(s.count > 40 ? String(s.prefix(40)) + "…" : s)'"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }

    /// The value of `key` in a mapping node, without the key bookkeeping of `ConfigMap`.
    public func child(_ key: String) -> YAMLNode? {
        guard case .mapping(let pairs) = value else { return nil }
        return pairs.first { $0.key.scalar == key }?.value
    }

    /// A plain scalar that YAML reads as null (`~`, `null`, or nothing at all).
    public var isNull: Bool {
        if case .scalar(let s, plain: true) = value { return ["", "~", "null", "Null", "NULL"].contains(s) }
        return false
    }
}

public enum YAML {
    /// Caffe's repeated fields that Dendrite reads (`top: [a, b]`): a duplicate of one of these
    /// keys is most likely a prototxt habit, one line per value.
    static let repeatedFields: Set<String> = [
        "bottom", "top", "layer", "layers", "param", "include", "exclude", "loss_weight", "propagate_down",
        "stage", "not_stage", "kernel_size", "stride", "pad", "dilation", "dim", "shape", "input", "input_dim",
        "input_shape", "mean_value", "slice_point", "offset", "coeff", "data_filler", "stepvalue", "test_iter",
        "test_net", "test_net_param", "test_state", "monitor", "weights", "class_names",
    ]
    /// Nesting deeper than this is refused (an anchor that contains itself would never end).
    static let maxDepth = 64
    /// More nodes than this, counting aliases expanded, is refused (the "billion laughs").
    static let maxNodes = 1_000_000

    /// Parses the first document of `text`. An empty document is an empty mapping.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> YAMLNode {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw ConfigError(file: file, message: "cannot initialise the YAML parser (out of memory?)")
        }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        var document = yaml_document_t()
        let loaded: Bool = bytes.withUnsafeBufferPointer { buf in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            return yaml_parser_load(&parser, &document) == 1
        }
        guard loaded else {
            let mark = parser.problem_mark
            let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
            let context = parser.context.map { " " + String(cString: $0) } ?? ""
            throw ConfigError(
                at: ConfigLocation(file: file, line: mark.line + 1, column: mark.column + 1),
                "invalid YAML: \(problem)\(context)",
                hint: "check the indentation and that every ':' in a value is quoted")
        }
        defer { yaml_document_delete(&document) }
        guard let root = yaml_document_get_root_node(&document) else {
            return YAMLNode(value: .mapping([]), location: ConfigLocation(file: file, line: 1, column: 1))
        }
        var budget = maxNodes
        return try convert(root, in: &document, file: file, depth: 0, budget: &budget)
    }

    private static func convert(
        _ node: UnsafeMutablePointer<yaml_node_t>, in document: inout yaml_document_t,
        file: String, depth: Int, budget: inout Int
    ) throws(ConfigError) -> YAMLNode {
        let mark = node.pointee.start_mark
        let location = ConfigLocation(file: file, line: mark.line + 1, column: mark.column + 1)
        budget -= 1
        guard depth < maxDepth, budget > 0 else {
            throw ConfigError(at: location, "the YAML is nested too deeply or expands to too many nodes",
                              hint: "anchors and aliases that refer to themselves are not supported")
        }
        switch node.pointee.type {
        case YAML_SCALAR_NODE:
            let s = node.pointee.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
            return YAMLNode(value: .scalar(text, plain: s.style == YAML_PLAIN_SCALAR_STYLE), location: location)
        case YAML_SEQUENCE_NODE:
            var items: [YAMLNode] = []
            var item = node.pointee.data.sequence.items.start
            while item != node.pointee.data.sequence.items.top {
                guard let child = yaml_document_get_node(&document, item!.pointee) else { break }
                items.append(try convert(child, in: &document, file: file, depth: depth + 1, budget: &budget))
                item = item! + 1
            }
            return YAMLNode(value: .sequence(items), location: location)
        case YAML_MAPPING_NODE:
            var pairs: [(key: YAMLNode, value: YAMLNode)] = []
            var seen: [String: ConfigLocation] = [:]
            var pair = node.pointee.data.mapping.pairs.start
            while pair != node.pointee.data.mapping.pairs.top {
                guard let k = yaml_document_get_node(&document, pair!.pointee.key),
                      let v = yaml_document_get_node(&document, pair!.pointee.value) else { break }
                let key = try convert(k, in: &document, file: file, depth: depth + 1, budget: &budget)
                guard let name = key.scalar else {
                    throw ConfigError(at: key.location, "a mapping key must be a plain name, found \(key.kindDescription)")
                }
                if let first = seen[name] {
                    throw ConfigError(at: key.location, "duplicate key '\(name)' (first at line \(first.line))",
                                      hint: repeatedFields.contains(name)
                                          ? "a repeated Caffe field is a YAML list: \(name): [a, b]"
                                          : "'\(name)' is given twice, " + (first.line == key.location.line
                                              ? "on line \(first.line) at columns \(first.column) and \(key.location.column)"
                                              : "at lines \(first.line) and \(key.location.line)") + ": keep one")
                }
                seen[name] = key.location
                pairs.append((key, try convert(v, in: &document, file: file, depth: depth + 1, budget: &budget)))
                pair = pair! + 1
            }
            return YAMLNode(value: .mapping(pairs), location: location)
        default:
            return YAMLNode(value: .scalar("", plain: true), location: location)
        }
    }
}
