/// A mistake in a config file, or a file that cannot be read: where it is, what is wrong and,
/// when we can tell, how to fix it. Commands print it as
/// `net.yaml:14:7: error: layer 'conv1' (Convolution): unknown key 'kernal_size'` and a hint line.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var location: ConfigLocation?
    /// The file when there is no line to point at (e.g. it does not exist).
    public var file: String?
    public var message: String
    public var hint: String?

    public init(at location: ConfigLocation?, _ message: String, hint: String? = nil) {
        self.location = location
        self.file = location?.file
        self.message = message
        self.hint = hint
    }

    public init(file: String, message: String, hint: String? = nil) {
        self.location = nil
        self.file = file
        self.message = message
        self.hint = hint
    }

    /// The first line, `file:line:column: error: message`.
    public var headline: String {
        let place = location.map { "\($0): " } ?? file.map { "\($0): " } ?? ""
        return "\(place)error: \(message)"
    }

    public var description: String {
        hint.map { "\(headline)\nhint: \($0)" } ?? headline
    }
}

/// "Did you mean …?" for misspelt keys, types and enum values.
public enum Suggestion {
    /// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
    public static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        let w = Array(word.lowercased())
        var best: (String, Int)?
        for c in candidates {
            let d = editDistance(w, Array(c.lowercased()))
            if d <= max(2, w.count / 3), d < (best?.1 ?? .max) { best = (c, d) }
        }
        return best?.0
    }

    public static func hint(for word: String, in candidates: some Sequence<String>) -> String? {
        closest(to: word, in: candidates).map { "did you mean '\($0)'?" }
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
