import DCore
import DNet
import DSolvers

enum Format {
    /// 431080 → "431,080"
    static func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, c) in s.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    static func bytes(_ n: Int) -> String {
        n >= 1 << 20 ? cFormat("%.1f MB", Double(n) / 1048576) : cFormat("%.1f KB", Double(n) / 1024)
    }

    /// A value for a key=value line: enough digits to compare runs, no more.
    static func value(_ x: Double) -> String { cFormat("%.6g", x) }

    /// Columns padded to their widest cell.
    static func table(_ rows: [[String]]) -> [String] {
        guard let columns = rows.map(\.count).max() else { return [] }
        let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count)
            }.joined(separator: "  ")
        }
    }

    /// The layer table: layer, type, bottoms → tops, output shape, parameters; then totals.
    static func layerTable(_ net: Net) -> [String] {
        var rows = [["layer", "type", "bottoms → tops", "output", "params"]]
        for s in net.summary {
            let wiring = (s.bottoms.isEmpty ? "" : s.bottoms.joined(separator: ", ") + " ") + "→ " + s.tops.joined(separator: ", ")
            let shapes = s.topShapes.map(\.description).joined(separator: ", ")
            rows.append([s.name, s.type, wiring, shapes, Format.grouped(s.parameterCount) + (s.frozen ? " (frozen)" : "")])
        }
        let total = "total: \(grouped(net.parameterCount)) parameters (\(bytes(4 * net.parameterCount))), "
            + "activations and gradients \(bytes(net.activationBytes))"
        return table(rows) + [total]
    }

    static func outputs(_ values: [(name: String, value: Double)]) -> String {
        values.map { "\($0.name)=\(value($0.value))" }.joined(separator: " ")
    }
}
