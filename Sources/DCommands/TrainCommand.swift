import ArgumentParser
import DConfig
import DCore
import DNet
import DSolvers

/// `dtrain SOLVER.yaml`: trains the net the solver names and writes snapshots.
public struct TrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dtrain",
        abstract: "Train a net described in YAML, as Caffe's `caffe train`.",
        discussion: """
            Reads the solver file, builds the TRAIN net and the TEST net(s) it names, and trains \
            for max_iter iterations. Output lines are stable and parseable:
              train iter=100/10000 loss=0.2345 lr=0.0099 images/s=6789 loss=0.2101
              test iter=500 net=0 accuracy=0.8912 loss=0.3012
              snapshot iter=500 path=snapshots/lenet_iter_500.safetensors
            Errors name the file, line and column, and exit non-zero.
            """)

    @Argument(help: "The solver YAML file (see Configs/README.md).")
    public var solver: String

    @Option(name: .long, help: "Start from the weights in this safetensors file, copied by layer name (fine-tuning).")
    public var weights: String?

    @Flag(name: .long, help: "Time each layer's forward and backward over --time-iterations steps instead of training (Caffe's `caffe time`).")
    public var time = false

    @Option(name: .long, help: "Steps per timed window with --time (after 10 untimed steps).")
    public var timeIterations = 20

    @Option(name: .long, help: "Timed windows with --time; the step time reported is the median window's.")
    public var timeWindows = 5

    @OptionGroup public var compute: ComputeOptions

    public init() {}

    public mutating func validate() throws {
        if timeIterations < 1 { throw ValidationError("--time-iterations must be at least 1, found \(timeIterations)") }
        if timeWindows < 1 { throw ValidationError("--time-windows must be at least 1, found \(timeWindows)") }
    }

    public func run() throws {
        let console = Console()
        do {
            try train(console)
        } catch {
            throw ExitCode(console.report(error))
        }
    }

    func train(_ console: Console) throws {
        let spec = try SolverSpec.load(solver)
        let threads = compute.resolvedThreads()
        let trainer = try Trainer(solver: spec, options: TrainOptions(threads: threads, weights: weights))
        console.out("net '\(trainer.trainNet.name)' (\(spec.trainNet)), phase TRAIN:")
        Format.layerTable(trainer.trainNet).forEach { console.out("  " + $0) }
        if time {
            return printTiming(try trainer.timeLayers(iterations: timeIterations, windows: timeWindows, warmup: 10), console)
        }
        for (i, net) in trainer.testNets.enumerated() {
            console.out("test net \(i) (\(spec.testNets[i])), phase TEST:")
            Format.layerTable(net).forEach { console.out("  " + $0) }
        }
        try trainer.run { event in
            switch event {
            case .started(let seed, let chosen):
                console.out("solver \(spec.type.rawValue) base_lr=\(Format.value(spec.baseLR)) max_iter=\(spec.maxIter) threads=\(threads) random_seed=\(seed)"
                            + (chosen ? " (chosen; set random_seed to repeat this run)" : ""))
            case .weightsLoaded(let path, let report):
                console.out("weights \(path): copied \(report.copied.joined(separator: ", ").orNone)")
                if !report.initialised.isEmpty { console.out("  initialised from fillers: \(report.initialised.joined(separator: ", "))") }
                if !report.ignored.isEmpty { console.out("  ignored (not in this net): \(report.ignored.joined(separator: ", "))") }
            case .progress(let p):
                console.out("train iter=\(p.iteration)/\(p.maxIter) loss=\(Format.value(p.smoothedLoss)) lr=\(Format.value(p.learningRate)) "
                            + "images/s=\(Int(p.imagesPerSecond.rounded()))"
                            + (p.outputs.isEmpty ? "" : " " + Format.outputs(p.outputs)))
            case .test(let t):
                console.out("test iter=\(t.iteration) net=\(t.net) \(Format.outputs(t.evaluation.outputs))")
            case .snapshot(let path, let iteration):
                console.out("snapshot iter=\(iteration) path=\(path)")
            case .finished(let iteration, let seconds):
                console.out("done iter=\(iteration) seconds=\(cFormat("%.1f", seconds))")
            }
        }
    }
}

extension TrainCommand {
    /// The per-layer table (means over all timed steps), then one parseable `time` line with the
    /// median step time.
    func printTiming(_ t: (layers: [LayerTiming], stepMs: Double), _ console: Console) {
        var rows = [["layer", "type", "forward ms", "backward ms", "share", "GFLOP/s fwd", "GFLOP/s bwd"]]
        let layersMs = t.layers.reduce(0) { $0 + $1.forwardMs + $1.backwardMs }
        func rate(_ flops: Double, _ ms: Double) -> String { flops > 0 && ms > 0 ? cFormat("%.1f", flops / ms / 1e6) : "" }
        for l in t.layers {
            rows.append([l.name, l.type, cFormat("%.3f", l.forwardMs), cFormat("%.3f", l.backwardMs),
                         cFormat("%.1f%%", 100 * (l.forwardMs + l.backwardMs) / layersMs),
                         rate(l.forwardFlops, l.forwardMs), rate(l.backwardFlops, l.backwardMs)])
        }
        let flops = t.layers.reduce(0) { $0 + $1.forwardFlops + $1.backwardFlops }
        Format.table(rows).forEach { console.out($0) }
        console.out("time step_ms=\(cFormat("%.3f", t.stepMs)) gflop/s=\(rate(flops, t.stepMs)) iterations=\(timeIterations) windows=\(timeWindows) openblas=\(BLAS.coreName)")
    }
}

extension String {
    var orNone: String { isEmpty ? "none" : self }
}
