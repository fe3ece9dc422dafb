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
    /// Nesting deeper than this is refused as soon as the parser opens the level: a file of
    /// tens of thousands of `[` fails at once rather than after libyaml has built it all.
    static let maxDepth = 64
    /// More nodes than this, counting each alias as the nodes it stands for, is refused (the
    /// "billion laughs"): the count is kept as nodes are made, so the refusal comes early too.
    static let maxNodes = 1_000_000

    /// Parses the one document of `text` from libyaml's events. An empty file is an empty
    /// mapping; a second document (`---`) is an error, not silently ignored.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> YAMLNode {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw ConfigError(file: file, message: "cannot initialise the YAML parser (out of memory?)")
        }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { (buf) throws(ConfigError) -> YAMLNode in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var builder = Builder(file: file)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let mark = parser.problem_mark
                    let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
                    let context = parser.context.map { " " + String(cString: $0) } ?? ""
                    throw ConfigError(
                        at: ConfigLocation(file: file, line: mark.line + 1, column: mark.column + 1),
                        "invalid YAML: \(problem)\(context)",
                        hint: "check the indentation and that every ':' in a value is quoted")
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                try builder.take(event)
            }
            return builder.root ?? YAMLNode(value: .mapping([]), location: ConfigLocation(file: file, line: 1, column: 1))
        }
    }

    /// Builds the tree from events, with the checks that must not wait for the whole tree.
    struct Builder {
        let file: String
        var root: YAMLNode?
        var documents = 0
        /// Open collections, innermost last; `made` is the node budget when each opened.
        var stack: [(node: YAMLNode, anchor: String?, made: Int, key: YAMLNode?, seen: [String: ConfigLocation])] = []
        /// Anchored nodes and how many nodes each stands for.
        var anchors: [String: (node: YAMLNode, size: Int)] = [:]
        var budget = YAML.maxNodes

        init(file: String) { self.file = file }

        func location(_ event: yaml_event_t) -> ConfigLocation {
            ConfigLocation(file: file, line: event.start_mark.line + 1, column: event.start_mark.column + 1)
        }

        static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            p.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }

        mutating func spend(_ nodes: Int, at location: ConfigLocation) throws(ConfigError) {
            budget -= nodes
            guard budget >= 0 else {
                throw ConfigError(at: location, "the YAML expands to more than \(YAML.maxNodes) nodes",
                                  hint: "aliases (*name) stand for everything their anchor (&name) holds; a config needs far fewer")
            }
        }

        mutating func take(_ event: yaml_event_t) throws(ConfigError) {
            let here = location(event)
            switch event.type {
            case YAML_DOCUMENT_START_EVENT:
                documents += 1
                guard documents == 1 else {
                    throw ConfigError(at: here, "a second YAML document; a config file holds one",
                                      hint: "remove the '---' and what follows it, or move that into a file of its own")
                }
            case YAML_SCALAR_EVENT:
                let s = event.data.scalar
                let text = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
                try spend(1, at: here)
                try add(YAMLNode(value: .scalar(text, plain: s.style == YAML_PLAIN_SCALAR_STYLE), location: here), anchor: Self.string(s.anchor), size: 1)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                guard stack.count < YAML.maxDepth else {
                    throw ConfigError(at: here, "the YAML is nested more than \(YAML.maxDepth) levels deep",
                                      hint: "a config needs a few levels; check for unclosed brackets")
                }
                try spend(1, at: here)
                let sequence = event.type == YAML_SEQUENCE_START_EVENT
                let anchor = Self.string(sequence ? event.data.sequence_start.anchor : event.data.mapping_start.anchor)
                stack.append((YAMLNode(value: sequence ? .sequence([]) : .mapping([]), location: here), anchor, budget, nil, [:]))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let open = stack.popLast() else { return }
                try add(open.node, anchor: open.anchor, size: open.made - budget + 1)
            case YAML_ALIAS_EVENT:
                let name = Self.string(event.data.alias.anchor) ?? ""
                guard let anchored = anchors[name] else {
                    throw ConfigError(at: here, "the alias *\(name) names no anchor before it", hint: "define it first with &\(name)")
                }
                try spend(anchored.size, at: here)
                try add(anchored.node, anchor: nil, size: anchored.size)
            default:
                break  // stream and document ends carry nothing
            }
        }

        /// Puts a finished node into the innermost open collection (or makes it the root).
        mutating func add(_ node: YAMLNode, anchor: String?, size: Int) throws(ConfigError) {
            if let anchor { anchors[anchor] = (node, size) }
            guard var open = stack.popLast() else {
                root = node
                return
            }
            switch open.node.value {
            case .sequence(var items):
                open.node.value = .scalar("", plain: true)  // release the array before appending: no copy
                items.append(node)
                open.node.value = .sequence(items)
            case .mapping(var pairs):
                if let key = open.key {
                    open.node.value = .scalar("", plain: true)
                    pairs.append((key, node))
                    open.node.value = .mapping(pairs)
                    open.key = nil
                } else {
                    guard let name = node.scalar else {
                        throw ConfigError(at: node.location, "a mapping key must be a plain name, found \(node.kindDescription)")
                    }
                    if let first = open.seen[name] {
                        throw ConfigError(at: node.location, "duplicate key '\(name)' (first at line \(first.line))",
                                          hint: YAML.repeatedFields.contains(name)
                                              ? "a repeated Caffe field is a YAML list: \(name): [a, b]"
                                              : "'\(name)' is given twice, " + (first.line == node.location.line
                                                  ? "on line \(first.line) at columns \(first.column) and \(node.location.column)"
                                                  : "at lines \(first.line) and \(node.location.line)") + ": keep one")
                    }
                    open.seen[name] = node.location
                    open.key = node
                }
            case .scalar:
                break
            }
            stack.append(open)
        }
    }
}
