import DConfig
import DCore
import DLayers
import DNet
import DZoo

/// What the training loop reports; the commands decide how to show it.
public enum TrainEvent {
    /// Nets are built and initialised; `seedWasChosen` when the solver file set no seed.
    case started(seed: UInt64, seedWasChosen: Bool)
    case weightsLoaded(path: String, report: WeightsLoadReport)
    case progress(TrainProgress)
    case test(TestReport)
    case snapshot(path: String, iteration: Int)
    case finished(iteration: Int, seconds: Double)
}

public struct TrainProgress: Sendable {
    public var iteration: Int
    public var maxIter: Int
    /// The loss averaged over the last `average_loss` iterations.
    public var smoothedLoss: Double
    public var learningRate: Double
    public var imagesPerSecond: Double
    /// The train net's scalar outputs at this iteration.
    public var outputs: [(name: String, value: Double)]
}

public struct TestReport: Sendable {
    public var iteration: Int
    /// Which test net (0 for the first), and its file.
    public var net: Int
    public var netFile: String
    public var evaluation: Evaluation
}

/// Everything that can stop training: a config or data mistake found while building, a
/// weights file that does not fit, a failure while running, a snapshot that cannot be written.
public enum TrainError: Error {
    case config(ConfigError)
    case file(FileError)
    case run(RunError)
}

/// How to run, beyond what the solver file says.
public struct TrainOptions: Sendable {
    public var threads: Int
    /// A weights file to start from (fine-tuning), copied by layer name.
    public var weights: String?

    public init(threads: Int = 1, weights: String? = nil) {
        self.threads = threads; self.weights = weights
    }
}

/// The training loop of Caffe's Solver::Step, as a value that emits events.
public final class Trainer {
    public let solver: SolverSpec
    public let options: TrainOptions
    public let seed: UInt64
    public let seedWasChosen: Bool
    public let store: ParameterStore
    public let trainNet: Net
    public let testNets: [Net]
    public let optimizer: SGDOptimizer
    public private(set) var iteration = 0
    let parallel: Parallel

    public init(solver: SolverSpec, options: TrainOptions) throws(TrainError) {
        self.solver = solver
        self.options = options
        if let s = solver.randomSeed {
            seed = s; seedWasChosen = false
        } else {
            seed = UInt64(truncatingIfNeeded: ContinuousClock.now.hashValue) & 0x7fff_ffff
            seedWasChosen = true
        }
        parallel = Parallel(threads: options.threads)
        store = ParameterStore(seed: seed)
        let datasets = DatasetCache()
        let memory = MemoryPool()  // the test nets run between steps, never during one
        do {
            let trainSpec = try NetSpec.load(solver.trainNet)
            trainNet = try Net(spec: trainSpec, phase: .train, store: store,
                               context: BuildContext(phase: .train, netFile: solver.trainNet, seed: seed, datasets: datasets, threads: options.threads),
                               memory: memory)
            var tests: [Net] = []
            for file in solver.testNets {
                let spec = file == solver.trainNet ? trainSpec : try NetSpec.load(file)
                tests.append(try Net(spec: spec, phase: .test, store: store,
                                     context: BuildContext(phase: .test, netFile: file, seed: seed, datasets: datasets, threads: options.threads),
                                     memory: memory))
            }
            testNets = tests
        } catch {
            throw .config(error)
        }
        if !trainNet.nodes.contains(where: { $0.lossWeights.contains { $0 != 0 } }) {
            throw .config(ConfigError(file: solver.trainNet, message: "net '\(trainNet.name)' has no loss in phase TRAIN",
                                      hint: "add a loss layer such as SoftmaxWithLoss, or give a top a loss_weight"))
        }
        optimizer = SGDOptimizer(spec: solver, store: store)
    }

    func step(_ phase: Phase) -> StepContext {
        StepContext(phase: phase, iteration: iteration, seed: seed, parallel: parallel)
    }

    public func learningRate(at iteration: Int) -> Double {
        solver.lrPolicy.rate(base: solver.baseLR, iteration: iteration, maxIter: solver.maxIter)
    }

    /// Copies `--weights` into the parameters, by layer name.
    public func loadWeights(_ path: String) throws(TrainError) -> WeightsLoadReport {
        do {
            return try Weights.load(try SafetensorsFile.read(path), from: path, into: store)
        } catch {
            throw .file(error)
        }
    }

    public func test(_ index: Int) throws(TrainError) -> TestReport {
        do {
            let e = try Evaluator.run(testNets[index], batches: solver.testIter[index], step: step(.test))
            return TestReport(iteration: iteration, net: index, netFile: solver.testNets[index], evaluation: e)
        } catch {
            throw .run(error)
        }
    }

    /// One forward and backward pass on the next batch, and the update. Returns the loss.
    public func trainStep() throws(TrainError) -> Double {
        store.zeroGradients()
        let loss: Double
        do {
            loss = try trainNet.forward(step(.train))
        } catch {
            throw .run(error)
        }
        trainNet.backward(step(.train))
        optimizer.update(rate: learningRate(at: iteration))
        iteration += 1
        return loss
    }

    public func snapshotPath(_ iteration: Int) -> String { "\(solver.snapshotPrefix)_iter_\(iteration).safetensors" }

    public func snapshot() throws(TrainError) -> String {
        let path = snapshotPath(iteration)
        let metadata = ["format": "dendrite-weights", "version": "1", "net": trainNet.name, "iteration": String(iteration)]
        do {
            try Weights.file(of: store, metadata: metadata).write(to: path)
        } catch {
            throw .file(error)
        }
        return path
    }

    /// Trains from the current iteration to `max_iter`: tests every `test_interval` (and at
    /// the start, unless `test_initialization: false`), reports every `display` iterations,
    /// snapshots every `snapshot` iterations and at the end.
    public func run(_ emit: (TrainEvent) -> Void) throws(TrainError) {
        emit(.started(seed: seed, seedWasChosen: seedWasChosen))
        if let path = options.weights { emit(.weightsLoaded(path: path, report: try loadWeights(path))) }
        let start = ContinuousClock.now
        var window: [Double] = []
        var windowStart = ContinuousClock.now, windowImages = 0
        let batch = trainNet.batchSize
        // The loss is shown smoothed; other outputs (e.g. a train accuracy) as they are.
        let lossBlobs = Set(trainNet.nodes.flatMap { n in zip(n.tops, n.lossWeights).filter { $0.1 != 0 }.map(\.0) })
        let reportedOutputs = trainNet.scalarOutputs.filter { !lossBlobs.contains($0.blob) }

        func testAll() throws(TrainError) {
            for i in testNets.indices { emit(.test(try test(i))) }
            windowStart = ContinuousClock.now  // images/s counts training only
        }
        while iteration < solver.maxIter {
            if solver.testInterval > 0, iteration % solver.testInterval == 0, iteration > 0 || solver.testInitialization {
                try testAll()
            }
            let rate = learningRate(at: iteration)
            let loss = try trainStep()
            windowImages += batch
            window.append(loss)
            if window.count > solver.averageLoss { window.removeFirst() }
            let done = iteration - 1
            if solver.display > 0, done % solver.display == 0 {
                let seconds = Double((ContinuousClock.now - windowStart) / .milliseconds(1)) / 1000
                emit(.progress(TrainProgress(
                    iteration: done, maxIter: solver.maxIter, smoothedLoss: window.reduce(0, +) / Double(window.count),
                    learningRate: rate, imagesPerSecond: seconds > 0 ? Double(windowImages) / seconds : 0,
                    outputs: reportedOutputs.map { ($0.name, Double(trainNet.data($0.blob)[0])) })))
                windowStart = ContinuousClock.now
                windowImages = 0
            }
            if solver.snapshot > 0, iteration % solver.snapshot == 0 {
                emit(.snapshot(path: try snapshot(), iteration: iteration))
            }
        }
        if solver.testInterval > 0, iteration % solver.testInterval == 0 { try testAll() }
        if solver.snapshot == 0 || iteration % solver.snapshot != 0 {
            emit(.snapshot(path: try snapshot(), iteration: iteration))
        }
        emit(.finished(iteration: iteration, seconds: Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000))
    }
}
