/// Reads one YAML mapping of a config and remembers which keys were asked for, so that
/// `finish()` can report every other key as unknown with a "did you mean" hint. Every error
/// is located at the offending key or value.
///
/// `context` names the thing being decoded (`layer 'conv1' (Convolution)`, `solver`), `path`
/// where this mapping sits inside it (`convolution_param.weight_filler`).
public final class ConfigMap {
    public let location: ConfigLocation
    public let context: String
    public let path: String
    private let entries: [(key: YAMLNode, value: YAMLNode)]
    /// The keys this mapping accepts: those asked for so far, in the order asked.
    public private(set) var knownKeys: [String] = []

    public init(_ node: YAMLNode, context: String, path: String = "") throws(ConfigError) {
        let what = path.isEmpty ? context : "\(context): \(path)"
        guard case .mapping(let pairs) = node.value else {
            throw ConfigError(at: node.location, "\(what): expected a mapping of keys to values, found \(node.kindDescription)")
        }
        self.entries = pairs
        self.location = node.location
        self.context = context
        self.path = path
    }

    /// `convolution_param.kernel_size` for the key `kernel_size` of this mapping.
    public func qualified(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// An error about `key` located at its value (or at this mapping if the key is absent).
    public func error(_ key: String, _ message: String, hint: String? = nil) -> ConfigError {
        let at = entries.first { $0.key.scalar == key }?.value.location ?? location
        return ConfigError(at: at, "\(context): \(qualified(key)): \(message)", hint: hint)
    }

    /// "missing required key", located at this mapping; or, when an unknown key here looks
    /// like a misspelling of it, "unknown key" at that key with a "did you mean".
    public func missing(_ key: String, hint: String? = nil) -> ConfigError {
        for (k, _) in entries {
            guard let name = k.scalar, !knownKeys.contains(name), Suggestion.closest(to: name, in: [key]) != nil else { continue }
            return ConfigError(at: k.location, "\(context): unknown key '\(name)'\(path.isEmpty ? "" : " in \(path)")",
                               hint: "did you mean '\(key)'?")
        }
        return ConfigError(at: location, "\(context): missing required key '\(qualified(key))'", hint: hint)
    }

    /// An error about this mapping as a whole.
    public func error(_ message: String, hint: String? = nil) -> ConfigError {
        ConfigError(at: location, "\(context): \(path.isEmpty ? "" : "\(path): ")\(message)", hint: hint)
    }

    /// The value node of `key`, registering the key as known.
    public func node(_ key: String) -> YAMLNode? {
        if !knownKeys.contains(key) { knownKeys.append(key) }
        return entries.first { $0.key.scalar == key }?.value
    }

    public func has(_ key: String) -> Bool { node(key) != nil }

    /// Every key of the mapping in file order, for mappings whose keys are data (names).
    public var keys: [String] { entries.compactMap(\.key.scalar) }

    /// Fails on the first key that was never asked for.
    public func finish() throws(ConfigError) {
        for (key, _) in entries {
            guard let name = key.scalar, !knownKeys.contains(name) else { continue }
            let place = path.isEmpty ? "" : " in \(path)"
            throw ConfigError(
                at: key.location, "\(context): unknown key '\(name)'\(place)",
                hint: Suggestion.hint(for: name, in: knownKeys)
                    ?? "known keys\(place): \(knownKeys.joined(separator: ", "))")
        }
    }

    // MARK: Typed values

    private func typed<T>(_ key: String, _ expected: String, _ parse: (String) -> T?) throws(ConfigError) -> T? {
        guard let n = node(key) else { return nil }
        return try Self.typed(n, expected, parse) { error(key, $0) }
    }

    private static func typed<T>(_ n: YAMLNode, _ expected: String, _ parse: (String) -> T?,
                                 _ fail: (String) -> ConfigError) throws(ConfigError) -> T {
        if n.isNull { throw fail("expected \(expected), found nothing") }
        guard let s = n.scalar, let v = parse(s) else { throw fail("expected \(expected), found \(n.kindDescription)") }
        return v
    }

    static func parseInt(_ s: String) -> Int? {
        if let i = Int(s) { return i }
        // 1e4 is a fine way to write 10000
        if let d = Double(s), d.isFinite, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
        return nil
    }

    static func parseDouble(_ s: String) -> Double? {
        guard let d = Double(s), d.isFinite else { return nil }
        return d
    }

    static func parseBool(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return nil
        }
    }

    public func int(_ key: String) throws(ConfigError) -> Int? { try typed(key, "an integer", Self.parseInt) }

    public func int(_ key: String, default value: Int, min lower: Int? = nil) throws(ConfigError) -> Int {
        let v = try int(key) ?? value
        if let lower, v < lower { throw error(key, "must be at least \(lower), found \(v)") }
        return v
    }

    public func double(_ key: String) throws(ConfigError) -> Double? { try typed(key, "a number", Self.parseDouble) }

    public func double(_ key: String, default value: Double) throws(ConfigError) -> Double {
        try double(key) ?? value
    }

    public func float(_ key: String, default value: Float) throws(ConfigError) -> Float {
        try double(key).map(Float.init) ?? value
    }

    public func bool(_ key: String, default value: Bool) throws(ConfigError) -> Bool {
        try typed(key, "true or false", Self.parseBool) ?? value
    }

    public func string(_ key: String) throws(ConfigError) -> String? { try typed(key, "a string", { $0 }) }

    public func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let s = try string(key) else { throw missing(key) }
        return s
    }

    /// One of `E`'s raw values, e.g. `pool: MAX`.
    public func choice<E: RawRepresentable & CaseIterable>(_ key: String, default value: E) throws(ConfigError) -> E
    where E.RawValue == String {
        guard let n = node(key) else { return value }
        let names = E.allCases.map(\.rawValue)
        guard let s = n.scalar, let v = E(rawValue: s) else {
            throw ConfigError(
                at: n.location, "\(context): \(qualified(key)): expected one of \(names.joined(separator: ", ")), found \(n.kindDescription)",
                hint: n.scalar.flatMap { Suggestion.hint(for: $0, in: names) })
        }
        return v
    }

    /// A scalar or a list of scalars, as Caffe's repeated fields (`top: conv1` or `top: [a, b]`).
    private func list<T>(_ key: String, _ expected: String, _ parse: (String) -> T?) throws(ConfigError) -> [T] {
        guard let n = node(key) else { return [] }
        let fail = { (m: String) in self.error(key, m) }
        if case .sequence(let items) = n.value {
            var out: [T] = []
            for item in items {
                out.append(try Self.typed(item, expected, parse) { m in
                    ConfigError(at: item.location, "\(self.context): \(self.qualified(key)): \(m)")
                })
            }
            return out
        }
        return [try Self.typed(n, "\(expected) or a list of them", parse, fail)]
    }

    public func strings(_ key: String) throws(ConfigError) -> [String] { try list(key, "a name", { $0 }) }
    public func ints(_ key: String) throws(ConfigError) -> [Int] { try list(key, "an integer", Self.parseInt) }
    public func doubles(_ key: String) throws(ConfigError) -> [Double] { try list(key, "a number", Self.parseDouble) }
    public func bools(_ key: String) throws(ConfigError) -> [Bool] { try list(key, "true or false", Self.parseBool) }

    /// A nested mapping, e.g. `weight_filler: {type: xavier}`.
    public func map(_ key: String) throws(ConfigError) -> ConfigMap? {
        guard let n = node(key) else { return nil }
        return try ConfigMap(n, context: context, path: qualified(key))
    }

    /// A mapping or a list of mappings (Caffe's repeated messages: `param`, `include`).
    public func maps(_ key: String) throws(ConfigError) -> [ConfigMap] {
        guard let n = node(key) else { return [] }
        if case .sequence(let items) = n.value {
            var out: [ConfigMap] = []
            for (i, item) in items.enumerated() {
                out.append(try ConfigMap(item, context: context, path: "\(qualified(key))[\(i)]"))
            }
            return out
        }
        return [try ConfigMap(n, context: context, path: qualified(key))]
    }
}
