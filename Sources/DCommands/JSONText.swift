import DConfig

/// JSON written by hand: the few shapes the commands print (`--json`, the metrics file).
public enum JSONText {
    /// The shortest text that reads back as the same double; null for NaN and infinities.
    public static func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }

    public static func string(_ s: String) -> String { YAMLText.quoted(s) }

    /// `values` are already JSON.
    public static func object(_ values: [(String, String)]) -> String {
        "{" + values.map { "\(string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    public static func array(_ values: [String]) -> String { "[" + values.joined(separator: ",") + "]" }
}
