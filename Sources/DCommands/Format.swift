import DCore
import DConfig
import DNet
import DSolvers

public enum Format {
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

    public static func bytes(_ n: Int) -> String {
        n >= 1 << 20 ? cFormat("%.1f MB", Double(n) / 1048576) : cFormat("%.1f KB", Double(n) / 1024)
    }

    /// A value for a key=value line: enough digits to compare runs, no more.
    public static func value(_ x: Double) -> String { cFormat("%.6g", x) }

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

    /// One `gemm m=… n=… k=… op=NN count=C` line per distinct product shape, in first-use
    /// order: what `scripts/bench` times OpenBLAS on for its floor.
    static func gemmLines(_ shapes: [GEMMShape]) -> [String] {
        var order: [GEMMShape] = [], counts: [GEMMShape: Int] = [:]
        for s in shapes {
            if counts[s] == nil { order.append(s) }
            counts[s, default: 0] += 1
        }
        return order.map { "gemm \($0) count=\(counts[$0]!)" }
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

extension Format {
    /// 95 → "1m35s"
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(s % 3600 / 60)m" }
        return s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }

    /// Every solver setting as YAML, defaults included (dtrain --dry-run).
    static func effectiveSolver(_ s: SolverSpec, trainer: Trainer) -> [String] {
        var lines: [String] = []
        func add(_ key: String, _ value: Any) { lines.append("\(key): \(value)") }
        // A net written in the solver is shown by where it is (its layers are listed above).
        func place(_ n: NetSource) -> String { n.inline.map { "(written at \($0.location))" } ?? n.file }
        if s.testNets.allSatisfy({ $0 == s.trainNet }) {
            add(s.trainNet.inline == nil ? "net" : "net_param", place(s.trainNet))
        } else {
            add(s.trainNet.inline == nil ? "train_net" : "train_net_param", place(s.trainNet))
            let inline = s.testNets.filter { $0.inline != nil }, files = s.testNets.filter { $0.inline == nil }
            if !inline.isEmpty { add("test_net_param", "[\(inline.map(place).joined(separator: ", "))]") }
            if !files.isEmpty { add("test_net", "[\(files.map(place).joined(separator: ", "))]") }
        }
        add("type", s.type.rawValue)
        add("base_lr", value(s.baseLR))
        switch s.lrPolicy {
        case .fixed: add("lr_policy", "fixed")
        case .step(let g, let n): add("lr_policy", "step"); add("gamma", value(g)); add("stepsize", n)
        case .multistep(let g, let v): add("lr_policy", "multistep"); add("gamma", value(g)); add("stepvalue", v)
        case .exp(let g): add("lr_policy", "exp"); add("gamma", value(g))
        case .inv(let g, let p): add("lr_policy", "inv"); add("gamma", value(g)); add("power", value(p))
        case .poly(let p): add("lr_policy", "poly"); add("power", value(p))
        case .sigmoid(let g, let n): add("lr_policy", "sigmoid"); add("gamma", value(g)); add("stepsize", n)
        case .cosine: add("lr_policy", "cosine")
        case .plateau(let g): add("lr_policy", "plateau"); add("gamma", value(g))
        }
        if let p = s.plateau { add("plateau", metric(p)) }
        add("warmup_iter", s.warmupIter)
        add("momentum", value(s.momentum))
        if s.type == .adam { add("momentum2", value(s.momentum2)) }
        if [.adaGrad, .rmsProp, .adaDelta, .adam].contains(s.type) { add("delta", value(s.delta)) }
        if s.type == .rmsProp { add("rms_decay", value(s.rmsDecay)) }
        add("weight_decay", value(s.weightDecay))
        add("regularization_type", s.regularization.rawValue)
        add("clip_gradients", s.clipGradients.map(value) ?? "-1  # off")
        add("iter_size", s.iterSize)
        if let e = s.maxEpoch { add("max_epoch", value(e)); lines.append("# = max_iter \(trainer.maxIter)") } else { add("max_iter", trainer.maxIter) }
        add("test_iter", "[" + s.testIter.map { if case .batches(let n) = $0 { return String(n) } else { return "all" } }.joined(separator: ", ") + "]")
        add("test_interval", s.testInterval)
        add("test_initialization", s.testInitialization)
        add("display", s.display)
        add("average_loss", s.averageLoss)
        add("snapshot", s.snapshot)
        add("snapshot_prefix", s.snapshotPrefixGiven ? s.snapshotPrefix : "none  # snapshots go into a zoo entry")
        add("random_seed", trainer.seedWasChosen ? "\(trainer.seed)  # chosen for this run" : String(trainer.seed))
        if let e = s.earlyStopping { add("early_stopping", metric(e)) }
        if !s.monitor.isEmpty { add("monitor", "[\(s.monitor.map(\.name).joined(separator: ", "))]") }
        return lines
    }

    /// `monitor iter=500 layer=ip1 mean=0.31 std=0.52 dead=0.00 |corr|=0.12 grad/weight=3.1e-3`:
    /// three digits are enough to watch a trend; `-` where a number is undefined (no pair of
    /// varying units, no training step yet).
    static func monitorLine(iteration: Int, _ r: LayerMonitorRecord) -> String {
        let a = r.activations
        var line = "monitor iter=\(iteration) layer=\(r.layer) mean=\(cFormat("%.3g", a.mean)) std=\(cFormat("%.3g", a.std)) "
            + "dead=\(cFormat("%.2f", a.deadFraction)) |corr|=\(a.meanAbsCorrelation.map { cFormat("%.2f", $0) } ?? "-")"
        for (name, ratio) in r.gradientRatios { line += " grad/\(name)=\(ratio.map(shortExponent) ?? "-")" }
        return line
    }

    /// 0.00312 → "3.1e-3" (C's "%.1e" with the exponent's padding and plus sign dropped); 0 → "0".
    static func shortExponent(_ x: Double) -> String {
        guard x.isFinite, x != 0 else { return cFormat("%g", x) }
        let s = cFormat("%.1e", x)
        guard let e = s.firstIndex(of: "e") else { return s }
        let mantissa = s[..<e], exponent = Int(s[s.index(after: e)...]) ?? 0
        return "\(mantissa)e\(exponent)"
    }

    static func metric(_ m: MetricSpec) -> String {
        "{metric: \(m.name), mode: \(m.minimize ? "min" : "max"), patience: \(m.patience.map(String.init) ?? "none"), min_delta: \(value(m.minDelta))}"
    }
}


extension Format {
    /// counts[true class][predicted class]
    static func confusionCounts(labels: [Int], predictions: [Int], classes: Int) -> [[Int]] {
        var counts = Array(repeating: Array(repeating: 0, count: classes), count: classes)
        for (l, p) in zip(labels, predictions) where l >= 0 && l < classes && p >= 0 && p < classes { counts[l][p] += 1 }
        return counts
    }

    /// The confusion matrix as a table: a row per true class (named when names are given),
    /// a column per predicted class, and each class's recall.
    static func confusion(labels: [Int], predictions: [Int], classes: Int, names: [String]) -> [String] {
        let counts = confusionCounts(labels: labels, predictions: predictions, classes: classes)
        var rows = [["true \\ predicted"] + (0..<classes).map(String.init) + ["recall"]]
        for (k, row) in counts.enumerated() {
            let total = row.reduce(0, +)
            let label = names.isEmpty ? String(k) : "\(k) \(printable(names[k]))"
            rows.append([label] + row.map(String.init) + [total == 0 ? "-" : cFormat("%.3f", Double(row[k]) / Double(total))])
        }
        return table(rows)
    }
}

extension Format {
    /// Text from a file (a card's class names, description) made safe for a terminal:
    /// control characters and bidirectional overrides become `?`, so that one line stays one
    /// line and reads as written.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { u in
            let v = u.value
            let unsafe = v < 0x20 || (0x7f...0x9f).contains(v) || (0x200e...0x200f).contains(v)
                || (0x202a...0x202e).contains(v) || (0x2066...0x2069).contains(v)
            return unsafe ? "?" : u
        }))
    }
}
