#if canImport(Glibc)
import Glibc
#endif
import DConfig
import DSolvers
import DZoo

/// The series `<prefix>_curves.svg` draws, gathered from the trainer's events as they come or
/// read back from the metrics file of the run being resumed (the same operations either way,
/// so that a resumed run's picture is the one a straight run would have drawn).
struct Curves {
    struct Point: Equatable {
        var iteration: Int
        var value: Double
    }

    struct Series {
        var name: String
        var points: [Point] = []
    }

    /// The smoothed loss of the `train` lines (every `display` iterations).
    var trainLoss: [Point] = []
    /// The rate of the `train` lines.
    var learningRate: [Point] = []
    /// One series per test net, in the order they were first reported.
    var testLoss: [Series] = []
    /// Only for test nets with an output named like accuracy.
    var testAccuracy: [Series] = []
    /// A `resume` was seen and its `start` not yet: that start continues the curves.
    private var resuming = false

    /// A run starts: a fresh run (not resumed) draws its own curves, not those of an earlier
    /// run that used the same prefix.
    mutating func started() {
        if !resuming { self = Curves() }
        resuming = false
    }

    /// A run resumes at `iteration`: what an earlier run drew after it (it went on past the
    /// snapshot being resumed) is not this run's history.
    mutating func resumed(at iteration: Int) {
        trainLoss.removeAll { $0.iteration > iteration }
        learningRate.removeAll { $0.iteration > iteration }
        for i in testLoss.indices { testLoss[i].points.removeAll { $0.iteration > iteration } }
        for i in testAccuracy.indices { testAccuracy[i].points.removeAll { $0.iteration > iteration } }
        resuming = true
    }

    mutating func train(iteration: Int, loss: Double, learningRate rate: Double) {
        Self.add(Point(iteration: iteration, value: loss), to: &trainLoss)
        Self.add(Point(iteration: iteration, value: rate), to: &learningRate)
    }

    mutating func test(iteration: Int, net: String, outputs: [(name: String, value: Double)]) {
        if let loss = Self.pick(outputs, "loss") { Self.add(Point(iteration: iteration, value: loss), net: net, to: &testLoss) }
        if let accuracy = Self.pick(outputs, "accuracy") { Self.add(Point(iteration: iteration, value: accuracy), net: net, to: &testAccuracy) }
    }

    mutating func record(_ event: TrainEvent) {
        switch event {
        case .started: started()
        case .resumed(_, let iteration, _): resumed(at: iteration)
        case .progress(let p): train(iteration: p.iteration, loss: p.smoothedLoss, learningRate: p.learningRate)
        case .test(let t) where !t.evaluation.interrupted: test(iteration: t.iteration, net: t.net, outputs: t.evaluation.outputs)
        default: break
        }
    }

    /// One line of a metrics file (README, "Metrics file"); lines it cannot read (another
    /// version, a line cut short by a crash) are skipped: the picture is a convenience, and
    /// the metrics file stays the record.
    mutating func read(metricsLine line: Substring) {
        guard line.hasPrefix("{"), let node = try? YAML.parse(String(line), file: "metrics"),
              node.child("v")?.scalar == "1", let event = node.child("event")?.scalar else { return }
        func int(_ key: String) -> Int? { node.child(key)?.scalar.flatMap { Int($0) } }
        // JSON's null (a NaN or infinity when written) reads back as NaN, which is not drawn.
        func number(_ n: YAMLNode?) -> Double { n?.scalar.flatMap { Double($0) } ?? .nan }
        switch event {
        case "start": started()
        case "resume": if let i = int("iteration") { resumed(at: i) }
        case "train":
            if let i = int("iteration") { train(iteration: i, loss: number(node.child("loss")), learningRate: number(node.child("lr"))) }
        case "test":
            guard let i = int("iteration"), let net = node.child("net")?.scalar, case .mapping(let pairs) = node.child("outputs")?.value else { return }
            test(iteration: i, net: net, outputs: pairs.compactMap { p -> (name: String, value: Double)? in p.key.scalar.map { ($0, number(p.value)) } })
        default: break
        }
    }

    /// The output to draw as the net's `kind` ("loss", "accuracy"): the one of that name, else
    /// the first whose name contains it (`loss_total`, `top1_accuracy`).
    static func pick(_ outputs: [(name: String, value: Double)], _ kind: String) -> Double? {
        (outputs.first { $0.name.lowercased() == kind } ?? outputs.first { $0.name.lowercased().contains(kind) })?.value
    }

    /// Appends, replacing any point at the same or a later iteration: a resumed run that
    /// repeats the test of the iteration it resumed at draws that test once.
    static func add(_ p: Point, to points: inout [Point]) {
        while let last = points.last, last.iteration >= p.iteration { points.removeLast() }
        points.append(p)
    }

    static func add(_ p: Point, net: String, to series: inout [Series]) {
        if let i = series.firstIndex(where: { $0.name == net }) {
            add(p, to: &series[i].points)
        } else {
            series.append(Series(name: net, points: [p]))
        }
    }
}

/// The SVG text of the curves: plain SVG 1.1 with no script, style sheet, font or other
/// external resource, so that any browser shows it from the file alone. Up to three panels
/// share the iteration axis: the losses, the test accuracy (when a test net has one), and the
/// learning rate.
enum CurvesSVG {
    static let width = 880.0
    static let left = 80.0
    static let plotWidth = 560.0
    static let plotHeight = 200.0
    /// Space between panels, for the iteration tick labels and the next panel's title.
    static let gap = 70.0
    static let top = 60.0
    /// A line has at most this many points: a plot 560 pixels wide shows no more, and a long
    /// run with `display: 1` would otherwise rewrite megabytes at every test.
    static let maxPoints = 2000
    static let colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    enum Scale: Equatable { case linear, log }

    struct Line {
        var name: String
        var colour: String
        var points: [Curves.Point]
        /// Test values come every `test_interval` iterations: dots show where each was measured.
        var dots: Bool
    }

    struct Panel {
        var title: String
        var lines: [Line]
        var bounded01 = false
    }

    static func render(_ curves: Curves, title: String) -> String {
        // A test net keeps its colour in every panel; the train loss has the first colour.
        let nets = curves.testLoss.map(\.name) + curves.testAccuracy.map(\.name).filter { n in !curves.testLoss.contains { $0.name == n } }
        func colour(_ net: String) -> String { colours[(1 + (nets.firstIndex(of: net) ?? 0)) % colours.count] }
        var panels = [Panel(title: "loss", lines: [Line(name: "train loss (smoothed)", colour: colours[0], points: curves.trainLoss, dots: false)]
                             + curves.testLoss.map { Line(name: "test loss: \($0.name)", colour: colour($0.name), points: $0.points, dots: true) })]
        if !curves.testAccuracy.isEmpty {
            panels.append(Panel(title: "test accuracy",
                                lines: curves.testAccuracy.map { Line(name: "accuracy: \($0.name)", colour: colour($0.name), points: $0.points, dots: true) },
                                bounded01: true))
        }
        panels.append(Panel(title: "learning rate", lines: [Line(name: "learning rate", colour: colours[0], points: curves.learningRate, dots: false)]))

        // Only finite values are drawn: a NaN or infinite loss has no place on an axis.
        for p in panels.indices {
            for l in panels[p].lines.indices { panels[p].lines[l].points = thin(panels[p].lines[l].points.filter { $0.value.isFinite }) }
        }
        let iterations = panels.flatMap { $0.lines.flatMap { $0.points.map { Double($0.iteration) } } }
        var xLow = iterations.min() ?? 0, xHigh = iterations.max() ?? 1
        if xHigh - xLow < 2 { xLow -= 1; xHigh += 1 }  // one iteration: the points sit in the middle
        let xTicks = ticks(xLow, xHigh, integers: true)

        let height = top + Double(panels.count) * (plotHeight + gap)
        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(n(width))" height="\(n(height))" viewBox="0 0 \(n(width)) \(n(height))" font-family="sans-serif" font-size="12">
            <title>\(escape(title))</title>
            <rect x="0" y="0" width="\(n(width))" height="\(n(height))" fill="white"/>
            <text x="\(n(left))" y="28" font-size="16" font-weight="bold">\(escape(title))</text>

            """
        for (i, panel) in panels.enumerated() {
            let y0 = top + Double(i) * (plotHeight + gap)
            svg += draw(panel, y0: y0, xLow: xLow, xHigh: xHigh, xTicks: xTicks, last: i == panels.count - 1)
        }
        return svg + "</svg>\n"
    }

    /// Log when every value is positive and they span at least a factor of 10: a loss falls
    /// fast and then slowly, and on a linear axis the late progress (the part worth watching)
    /// is a flat line at the bottom; a step or plateau schedule cuts the rate tenfold at a
    /// time. Otherwise (a narrow range, or a loss that can be zero or negative) linear. An
    /// accuracy is always linear: a log axis would squeeze its end, 0.85 to 0.9, into a line.
    static func scale(_ values: [Double], bounded01: Bool = false) -> Scale {
        guard !bounded01, let low = values.min(), let high = values.max(), low > 0, high / low >= 10 else { return .linear }
        return .log
    }

    static func draw(_ panel: Panel, y0: Double, xLow: Double, xHigh: Double, xTicks: [Double], last: Bool) -> String {
        let values = panel.lines.flatMap { $0.points.map(\.value) }
        let yScale = Self.scale(values, bounded01: panel.bounded01)
        var low = values.min() ?? 0, high = values.max() ?? 1
        var yTicks: [Double]
        if yScale == .log {
            low = pow(10, floor(log10(low))); high = pow(10, ceil(log10(high)))
            yTicks = logTicks(low, high)
        } else {
            if panel.bounded01 { low = min(low, 0); high = max(high, 1) }
            if high - low <= 0 || !(high - low).isFinite {
                // A constant series: a band around it, so that nothing divides by zero.
                let pad = low == 0 || !low.isFinite ? 1 : abs(low) * 0.1
                low -= pad; high += pad
            } else if !panel.bounded01 {
                let pad = (high - low) * 0.05
                low -= pad; high += pad
            }
            yTicks = ticks(low, high, integers: false)
        }
        let f: (Double) -> Double = yScale == .log ? { log10($0) } : { $0 }
        let fLow = f(low), fHigh = f(high)
        func px(_ x: Double) -> Double { left + (x - xLow) / (xHigh - xLow) * plotWidth }
        func py(_ y: Double) -> Double {
            let t = (f(y) - fLow) / (fHigh - fLow)
            return y0 + (1 - min(1, max(0, t.isFinite ? t : 0))) * plotHeight
        }

        var s = "<g>\n"
        s += "<text x=\"\(n(left))\" y=\"\(n(y0 - 8))\" font-size=\"13\" font-weight=\"bold\">\(escape(panel.title + (yScale == .log ? " (log scale)" : "")))</text>\n"
        for t in yTicks {
            let y = py(t)
            s += "<line x1=\"\(n(left))\" y1=\"\(n(y))\" x2=\"\(n(left + plotWidth))\" y2=\"\(n(y))\" stroke=\"#e0e0e0\"/>"
            s += "<text x=\"\(n(left - 6))\" y=\"\(n(y + 4))\" text-anchor=\"end\">\(escape(label(t)))</text>\n"
        }
        for t in xTicks {
            let x = px(t)
            s += "<line x1=\"\(n(x))\" y1=\"\(n(y0))\" x2=\"\(n(x))\" y2=\"\(n(y0 + plotHeight))\" stroke=\"#e0e0e0\"/>"
            s += "<text x=\"\(n(x))\" y=\"\(n(y0 + plotHeight + 16))\" text-anchor=\"middle\">\(escape(label(t)))</text>\n"
        }
        s += "<rect x=\"\(n(left))\" y=\"\(n(y0))\" width=\"\(n(plotWidth))\" height=\"\(n(plotHeight))\" fill=\"none\" stroke=\"#444\"/>\n"
        if last { s += "<text x=\"\(n(left + plotWidth / 2))\" y=\"\(n(y0 + plotHeight + 34))\" text-anchor=\"middle\">iteration</text>\n" }
        if values.isEmpty {
            s += "<text x=\"\(n(left + plotWidth / 2))\" y=\"\(n(y0 + plotHeight / 2))\" text-anchor=\"middle\" fill=\"#888\">no values yet</text>\n"
        }
        for line in panel.lines where !line.points.isEmpty {
            let points = line.points.map { "\(n(px(Double($0.iteration)))),\(n(py($0.value)))" }.joined(separator: " ")
            s += "<polyline data-series=\"\(escape(line.name))\" fill=\"none\" stroke=\"\(line.colour)\" stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"\(points)\"/>\n"
            if line.dots {
                for p in line.points {
                    s += "<circle cx=\"\(n(px(Double(p.iteration))))\" cy=\"\(n(py(p.value)))\" r=\"2.5\" fill=\"\(line.colour)\"/>"
                }
                s += "\n"
            }
        }
        // The legend, right of the plot so that it never hides a line.
        let legendX = left + plotWidth + 16
        for (i, line) in panel.lines.enumerated() {
            let y = y0 + 12 + Double(i) * 18
            s += "<line x1=\"\(n(legendX))\" y1=\"\(n(y - 4))\" x2=\"\(n(legendX + 20))\" y2=\"\(n(y - 4))\" stroke=\"\(line.colour)\" stroke-width=\"2\"/>"
            let name = line.name.count > 30 ? String(line.name.prefix(29)) + "…" : line.name
            s += "<text x=\"\(n(legendX + 26))\" y=\"\(n(y))\">\(escape(name))</text>\n"
        }
        return s + "</g>\n"
    }

    /// At most `maxPoints`, evenly spaced, the last always kept (it is the one being watched).
    static func thin(_ points: [Curves.Point]) -> [Curves.Point] {
        guard points.count > maxPoints else { return points }
        let stride = (points.count + maxPoints - 2) / (maxPoints - 1)
        var kept = Swift.stride(from: 0, to: points.count - 1, by: stride).map { points[$0] }
        kept.append(points[points.count - 1])
        return kept
    }

    /// About five round values (1, 2 or 5 × 10^k apart) from `low` to `high`.
    static func ticks(_ low: Double, _ high: Double, integers: Bool) -> [Double] {
        let raw = (high - low) / 5
        guard raw > 0, raw.isFinite else { return [] }
        let magnitude = pow(10, floor(log10(raw)))
        let f = raw / magnitude
        var step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * magnitude
        if integers { step = max(1, step.rounded()) }
        let first = (low / step).rounded(.up)
        // Multiples of the step, not a running sum, so that 0.1 + 0.2 does not drift.
        return (0..<12).map { (first + Double($0)) * step }.filter { $0 <= high + step * 1e-9 }
    }

    /// The powers of ten from `low` to `high` (themselves powers of ten), with 2 and 5 between
    /// them when there are only one or two decades.
    static func logTicks(_ low: Double, _ high: Double) -> [Double] {
        let a = Int(log10(low).rounded()), b = Int(log10(high).rounded())
        guard b > a else { return [low] }
        let every = max(1, (b - a + 7) / 8)
        var t: [Double] = []
        for e in Swift.stride(from: a, through: b, by: every) {
            let d = pow(10, Double(e))
            t.append(d)
            if b - a <= 2 && e < b { t += [2 * d, 5 * d] }
        }
        return t
    }

    static func label(_ v: Double) -> String { cFormat("%g", abs(v) < 1e-12 ? 0 : v) }

    /// Coordinates to the hundredth of a pixel.
    static func n(_ v: Double) -> String { cFormat("%.2f", v) }

    /// Text safe inside an element or a double-quoted attribute.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            // XML 1.0 cannot hold most control characters, even escaped.
            case _ where c.value < 0x20 && c != "\t" && c != "\n" && c != "\r": out += "?"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

/// What dserve draws: a run's learning curves from its metrics file (JSON Lines, the text so
/// far of a run in progress), as dtrain draws `<prefix>_curves.svg`.
public enum LearningCurves {
    public static func svg(metrics text: String, title: String) -> String {
        var curves = Curves()
        for line in text.split(separator: "\n") { curves.read(metricsLine: line) }
        return CurvesSVG.render(curves, title: title)
    }

    /// Text safe inside an HTML or XML element or a double-quoted attribute.
    public static func escape(_ s: String) -> String { CurvesSVG.escape(s) }
}

/// `<prefix>_curves.svg`, beside the metrics file: rewritten (atomically) after each round of
/// tests and at the end of the run.
final class CurvesFile {
    let path: String
    let title: String
    private(set) var curves = Curves()
    /// The nets tested each round; the picture is drawn once the last has reported.
    let lastTestNet: String?
    /// The last warning printed, so that a full disk is reported once, not at every test.
    private var warned: String?

    init(prefix: String, title: String, lastTestNet: String?) {
        path = prefix + "_curves.svg"
        self.title = title
        self.lastTestNet = lastTestNet
    }

    /// Continues the curves of the run being resumed from what its metrics file holds.
    /// Returns a warning when the file cannot be read (the curves then start empty).
    func readBack(metrics: String) -> String? {
        guard access(metrics, F_OK) == 0 else { return nil }
        do throws(FileError) {
            let bytes = try AtomicFile.read(metrics)
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") { curves.read(metricsLine: line) }
            return nil
        } catch {
            return "\(error.path): warning: cannot read the metrics file back (\(error.message)); the curves start from this run"
        }
    }

    /// Takes one event; returns a one-line warning when the picture was due and could not be
    /// written. Training goes on either way: the picture is for watching, not the record.
    func record(_ event: TrainEvent) -> String? {
        curves.record(event)
        switch event {
        case .test(let t) where t.net == lastTestNet: break
        case .finished: break
        default: return nil
        }
        do throws(FileError) {
            try AtomicFile.write(Array(CurvesSVG.render(curves, title: title).utf8), to: path)
            warned = nil
            return nil
        } catch {
            let line = "\(error.path): warning: cannot write the training curves: \(error.message); training goes on"
            guard line != warned else { return nil }
            warned = line
            return line
        }
    }
}
