#if canImport(Glibc)
import Glibc
#endif
import DCore
import DSolvers
import DZoo

/// The JSON Lines metrics file every run appends to, `<snapshot_prefix>_metrics.jsonl`: one
/// object per event, each with `"v": 1` (the format version), `"event"`, and the wall time
/// since the run started. Documented in the README ("Metrics file").
final class MetricsLog {
    let path: String
    private let fd: Int32
    private let start = ContinuousClock.now

    init(prefix: String) throws {
        path = prefix + "_metrics.jsonl"
        try AtomicFile.createDirectories(for: path)
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw OutputError(message: "\(path): error: cannot open the metrics file: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    static func number(_ x: Double) -> String { x.isFinite ? cFormat("%.9g", x) : "null" }

    /// Appends one event; `fields` are already JSON values.
    func write(_ event: String, _ fields: [(String, String)]) {
        let seconds = Double((ContinuousClock.now - start) / .microseconds(1)) / 1e6
        let line = JSONText.object([("v", "1"), ("event", JSONText.string(event)), ("time", Self.number(seconds))] + fields) + "\n"
        Console.write(fd, line)
    }

    /// One monitored layer: its activation statistics and gradient-to-weight ratios.
    static func layer(_ r: LayerMonitorRecord) -> String {
        let a = r.activations
        return JSONText.object([
            ("blob", JSONText.string(r.blob)), ("units", String(a.units)), ("mean", number(a.mean)), ("std", number(a.std)),
            ("dead", number(a.deadFraction)), ("abs_corr", a.meanAbsCorrelation.map(number) ?? "null"),
            ("varying_units", String(a.varyingUnits)),
            ("grad_to_weight", JSONText.object(r.gradientRatios.map { ($0.parameter, $0.ratio.map(number) ?? "null") })),
        ])
    }

    func record(_ event: TrainEvent) {
        switch event {
        case .started(let seed, _, let maxIter):
            write("start", [("random_seed", String(seed)), ("max_iter", String(maxIter))])
        case .weightsLoaded(let path, _):
            write("weights", [("path", JSONText.string(path))])
        case .resumed(let path, let iteration, _):
            write("resume", [("path", JSONText.string(path)), ("iteration", String(iteration))])
        case .progress(let p):
            write("train", [("iteration", String(p.iteration)), ("epoch", Self.number(p.epoch)), ("lr", Self.number(p.learningRate)),
                            ("loss", Self.number(p.smoothedLoss)), ("images_per_s", Self.number(p.imagesPerSecond)),
                            ("outputs", JSONText.object(p.outputs.map { ($0.name, Self.number($0.value)) }))])
        case .test(let t):
            write("test", [("iteration", String(t.iteration)), ("epoch", Self.number(t.epoch)), ("net", JSONText.string(t.net)),
                           ("samples", String(t.evaluation.samples)), ("outputs", JSONText.object(t.evaluation.outputs.map { ($0.name, Self.number($0.value)) }))])
        case .monitor(let m):
            write("monitor", [("iteration", String(m.iteration)), ("epoch", Self.number(m.epoch)), ("net", JSONText.string(m.net)),
                              ("samples", String(m.samples)), ("layers", JSONText.object(m.layers.map { ($0.layer, Self.layer($0)) }))])
        case .snapshot(let weights, let state, let iteration):
            write("snapshot", [("iteration", String(iteration)), ("weights", JSONText.string(weights)), ("state", JSONText.string(state))])
        case .best(let path, let r):
            write("best", [("iteration", String(r.iteration)), ("metric", JSONText.string(r.metric)), ("value", Self.number(r.value)),
                           ("path", JSONText.string(path))])
        case .rateReduced(let iteration, let rate, let metric):
            write("lr_reduced", [("iteration", String(iteration)), ("lr", Self.number(rate)), ("metric", JSONText.string(metric))])
        case .finished(let f):
            var fields = [("iteration", String(f.iteration)), ("seconds", Self.number(f.seconds)), ("reason", JSONText.string(f.reason.rawValue))]
            if let b = f.best { fields += [("best_iteration", String(b.iteration)), ("best_value", Self.number(b.value))] }
            write("done", fields)
        case .iteration, .debugInfo:
            break
        }
    }
}
