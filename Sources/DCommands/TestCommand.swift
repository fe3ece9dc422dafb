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
            """)

    @Option(name: .long, help: "The net YAML file.")
    public var model: String

    @Option(name: .long, help: "The weights (a safetensors snapshot from dtrain).")
    public var weights: String

    @Option(name: .long, help: "Batches to run, continuing through the data as Caffe does (default: the whole test set once).")
    public var iterations: Int?

    @OptionGroup public var compute: ComputeOptions

    public init() {}

    public mutating func validate() throws {
        if let n = iterations, n < 1 { throw ValidationError("--iterations must be at least 1, found \(n)") }
    }

    public func run() throws {
        let console = Console()
        do {
            let threads = compute.resolvedThreads()
            let spec = try NetSpec.load(model)
            let store = ParameterStore(seed: 0)
            let net = try Net(spec: spec, phase: .test, store: store, context: BuildContext(phase: .test, netFile: model, seed: 0, threads: threads))
            let report = try Weights.load(try SafetensorsFile.read(weights), from: weights, into: store)
            if !report.initialised.isEmpty {
                throw FileError(path: weights, "has no weights for layer\(report.initialised.count == 1 ? "" : "s") \(report.initialised.joined(separator: ", "))",
                                hint: "is this the snapshot of this net? Layer names must match")
            }
            let step = StepContext(phase: .test, parallel: Parallel(threads: threads))
            let evaluation = try iterations.map { n throws(RunError) in try Evaluator.run(net, batches: n, step: step) }
                ?? Evaluator.wholeDataset(net, step: step)
            console.out("test samples=\(evaluation.samples) batches=\(evaluation.batches) \(Format.outputs(evaluation.outputs))")
        } catch {
            throw ExitCode(console.report(error))
        }
    }
}
