import ArgumentParser
import DConfig
import DCore
import DLayers
import DNet
import DSolvers
import DZoo

/// `dtest --model NET.yaml --weights FILE`: runs the TEST phase and reports every output.
public struct TestCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dtest",
        abstract: "Evaluate trained weights on a net's TEST phase, as Caffe's `caffe test`.",
        discussion: """
            Prints the mean of every scalar output of the net (accuracy, loss, …) over the test \
            set, as one parseable line:
              test samples=10000 batches=100 accuracy=0.9012 loss=0.2788
            Without --iterations the whole test set is covered exactly once.
            With --time it instead measures inference speed over the whole test set:
              time images/s=21000 batch=100 load_s=0.06 windows=5
            """)

    @Option(name: .long, help: "The net YAML file.")
    public var model: String

    @Option(name: .long, help: "The weights (a safetensors snapshot from dtrain). Optional with --time.")
    public var weights: String?

    @Option(name: .long, help: "Batches to run, continuing through the data as Caffe does (default: the whole test set once).")
    public var iterations: Int?

    @Flag(name: .long, help: "Measure inference speed: one untimed pass over the test set, then --time-windows timed ones.")
    public var time = false

    @Option(name: .long, help: "Timed passes with --time; the median is reported.")
    public var timeWindows = 5

    @OptionGroup public var compute: ComputeOptions

    public init() {}

    public mutating func validate() throws {
        if let n = iterations, n < 1 { throw ValidationError("--iterations must be at least 1, found \(n)") }
        if timeWindows < 1 { throw ValidationError("--time-windows must be at least 1, found \(timeWindows)") }
        if weights == nil && !time { throw ValidationError("missing --weights (only --time runs without weights)") }
    }

    public func run() throws {
        let console = Console()
        do {
            let threads = compute.resolvedThreads()
            let clock = ContinuousClock(), start = clock.now
            let spec = try NetSpec.load(model)
            let store = ParameterStore(seed: 0)
            let net = try Net(spec: spec, phase: .test, store: store, context: BuildContext(phase: .test, netFile: model, seed: 0, threads: threads))
            if let weights {
                let report = try Weights.load(try SafetensorsFile.read(weights), from: weights, into: store)
                if !report.initialised.isEmpty {
                    throw FileError(path: weights, "has no weights for layer\(report.initialised.count == 1 ? "" : "s") \(report.initialised.joined(separator: ", "))",
                                    hint: "is this the snapshot of this net? Layer names must match")
                }
            }
            let loadSeconds = Double((clock.now - start) / .microseconds(1)) / 1e6
            let step = StepContext(phase: .test, parallel: Parallel(threads: threads))
            if time {
                var rates: [Double] = []
                for window in 0...timeWindows {
                    let t = clock.now
                    let e = try Evaluator.wholeDataset(net, step: step)
                    let seconds = Double((clock.now - t) / .microseconds(1)) / 1e6
                    if window > 0 { rates.append(Double(e.samples) / seconds) }
                }
                rates.sort()
                console.out("time images/s=\(Int(rates[rates.count / 2].rounded())) batch=\(net.builtBatchSize) "
                            + "load_s=\(cFormat("%.3f", loadSeconds)) windows=\(timeWindows) threads=\(threads) openblas=\(BLAS.coreName)")
                return
            }
            let evaluation = try iterations.map { n throws(RunError) in try Evaluator.run(net, batches: n, step: step) }
                ?? Evaluator.wholeDataset(net, step: step)
            console.out("test samples=\(evaluation.samples) batches=\(evaluation.batches) \(Format.outputs(evaluation.outputs))")
        } catch {
            throw ExitCode(console.report(error))
        }
    }
}
