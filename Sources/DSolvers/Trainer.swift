import DConfig
import DCore
import DData
import DLayers
import DNet
import DZoo

/// What the training loop reports; the commands decide how to show it.
public enum TrainEvent {
    /// Nets are built and initialised; `seedWasChosen` when the solver file set no seed.
    case started(seed: UInt64, seedWasChosen: Bool, maxIter: Int)
    case weightsLoaded(path: String, report: WeightsLoadReport)
    /// Training continues from a solver state; `notes` says what differs from when it was saved.
    case resumed(path: String, iteration: Int, notes: [String])
    /// After every iteration, for a live progress line.
    case iteration(Int, loss: Double, learningRate: Double)
    /// `debug_info`: Caffe's per-layer statistics of the iteration just trained.
    case debugInfo(iteration: Int, [DebugRecord])
    case progress(TrainProgress)
    case test(TestReport)
    /// `monitor`: the watched layers' statistics, after each round of tests.
    case monitor(MonitorReport)
    /// Weights and solver state written.
    case snapshot(weights: String, state: String, iteration: Int)
    /// A new best value of the early-stopping metric, and where its weights went.
    case best(path: String, record: BestRecord)
    /// The plateau policy cut the rate.
    case rateReduced(iteration: Int, rate: Double, metric: String)
    case finished(FinishReport)
}

public struct TrainProgress: Sendable {
    public var iteration: Int
    public var maxIter: Int
    public var epoch: Double
    /// The loss averaged over the last `average_loss` iterations.
    public var smoothedLoss: Double
    public var learningRate: Double
    public var imagesPerSecond: Double
    /// The train net's scalar outputs other than its losses, at this iteration.
    public var outputs: [(name: String, value: Double)]
}

public struct TestReport: Sendable {
    public var iteration: Int
    public var epoch: Double
    /// The test net's name as reported (its `name:`, made unique).
    public var net: String
    public var evaluation: Evaluation
}

/// The best value of the watched metric so far.
public struct BestRecord: Sendable, Codable, Equatable {
    public var iteration: Int
    public var metric: String
    public var value: Double
}

public enum StopReason: String, Sendable {
    case maxIter = "max_iter", earlyStopping = "early_stopping", interrupted = "signal"
}

public struct FinishReport: Sendable {
    public var iteration: Int
    public var seconds: Double
    public var reason: StopReason
    public var best: BestRecord?
    /// Data-parallel training: the allreduce's cost, with its buckets and floats per step.
    public var communication: (stats: CommunicationStats, buckets: Int, floats: Int, ranks: Int)?
}

/// What the caller asks for between iterations (the commands map signals to it).
public enum TrainControl: Sendable {
    case proceed
    /// Write a snapshot and carry on.
    case snapshot
    /// Write a snapshot and stop.
    case stop
}

/// Everything that can stop training with an error.
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
    /// Where snapshots go instead of the solver's `snapshot_prefix` (a zoo entry).
    public var snapshotPrefix: String?
    /// Told how far the decoding of a long image list has come: (list, decoded, total).
    public var dataProgress: @Sendable (String, Int, Int) -> Void
    /// Data-parallel training over MPI: this process is one rank of the job.
    public var communicator: MPICommunicator?
    /// The seed to use when the solver sets none (data-parallel training: rank 0's choice, so
    /// that every rank draws the same).
    public var chosenSeed: UInt64?
    /// The gradient allreduce's bucket size, and whether buckets start during backward.
    public var bucketBytes = 1 << 20
    public var overlapAllreduce = true
    /// Whether the test nets are built (and their data read). `dtrain --time` times the train
    /// net alone, as `caffe time` does, and skips them, with what watches them (monitor,
    /// plateau, early stopping).
    public var buildsTestNets = true

    public init(threads: Int = 1, weights: String? = nil, snapshotPrefix: String? = nil,
                dataProgress: @escaping @Sendable (String, Int, Int) -> Void = { _, _, _ in }) {
        self.threads = threads; self.weights = weights; self.snapshotPrefix = snapshotPrefix; self.dataProgress = dataProgress
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
    /// The solver's or the train net's `debug_info`.
    public let debugInfo: Bool
    private var lastDebugRecords: [DebugRecord] = []
    /// The solver's `monitor` layers, found in the train net and the first test net.
    let monitorTargets: [LayerMonitorTarget]
    /// The parameter gradients hold a step trained by this run (not zeros, as at the start or
    /// after a resume, which restores no gradient): `monitor` reports ratios only then.
    private(set) var hasStepGradients = false
    /// Each test net's name in reports: its `name:`, with `#2`, `#3` added to repeats.
    public let testNetNames: [String]
    public let optimizer: Optimizer
    /// max_iter, or max_epoch converted to iterations.
    public let maxIter: Int
    public internal(set) var iteration = 0
    /// How often the plateau policy has cut the rate.
    public internal(set) var reductions = 0
    var plateau: Monitor?
    var earlyStopping: Monitor?
    let parallel: Parallel
    /// Samples per epoch of the first train data layer, and per iteration (of all ranks).
    let epochSamples: Int, iterationSamples: Int
    /// This process's part in data-parallel training; nil for a single process.
    public let dataParallel: DataParallel?
    /// Whether this process writes files: a single process, or rank 0 of a job.
    public var writesFiles: Bool { dataParallel?.isRoot ?? true }
    /// A stop this rank asked for after its vote of the last step was cast: voted next step.
    private var stopPending = false
    /// The ranks agreed, in the last step's allreduce, to stop after it.
    private var stopAgreed = false

    public init(solver: SolverSpec, options: TrainOptions) throws(TrainError) {
        self.solver = solver
        self.options = options
        if let s = solver.randomSeed {
            seed = s; seedWasChosen = false
        } else {
            seed = options.chosenSeed ?? Self.chooseSeed()
            seedWasChosen = true
        }
        parallel = Parallel(threads: options.threads)
        store = ParameterStore(seed: seed)
        let datasets = DatasetCache(progress: options.dataProgress)
        let memory = MemoryPool()  // the test nets run between steps, never during one
        do {
            let trainSpec = try solver.trainNet.load()
            debugInfo = solver.debugInfo || trainSpec.debugInfo
            // debug_info reports every blob, so nothing may be left unwritten or overwritten.
            trainNet = try Net(spec: trainSpec, phase: .train,
                               state: trainSpec.state(.train, adding: solver.trainState),
                               store: store,
                               context: BuildContext(phase: .train, netFile: solver.trainNet.file, seed: seed, datasets: datasets,
                                                     threads: options.threads, net: trainSpec),
                               memory: memory, poolsInsideConvolutions: !debugInfo, sharesBlobMemory: !debugInfo)
            var tests: [Net] = []
            for (i, source) in solver.testNets.enumerated() where options.buildsTestNets {
                let spec = source == solver.trainNet ? trainSpec : try source.load()
                let given = i < solver.testStates.count ? solver.testStates[i] : nil
                tests.append(try Net(spec: spec, phase: .test, state: spec.state(.test, adding: given),
                                     store: store,
                                     context: BuildContext(phase: .test, netFile: source.file, seed: seed, datasets: datasets,
                                                           threads: options.threads, net: spec),
                                     memory: memory))
            }
            testNets = tests
        } catch {
            throw .config(error)
        }
        // A test net is called by its net's name, with its test_state's stages if it has any.
        var names: [String] = []
        for (i, net) in testNets.enumerated() {
            let stages = i < solver.testStates.count ? solver.testStates[i].stages : []
            let base = stages.isEmpty ? net.name : "\(net.name)[\(stages.joined(separator: ","))]"
            let repeats = names.filter { $0 == base || $0.hasPrefix(base + "#") }.count
            names.append(repeats == 0 ? base : "\(base)#\(repeats + 1)")
        }
        testNetNames = names
        if !trainNet.nodes.contains(where: { $0.lossWeights.contains { $0 != 0 } }) {
            throw .config(solver.trainNet.error("net '\(trainNet.name)' has no loss in phase TRAIN",
                                                hint: "add a loss layer such as SoftmaxWithLoss, or give a top a loss_weight"))
        }
        optimizer = Optimizer(spec: solver, store: store)
        if let communicator = options.communicator {
            try Self.checkShardable(solver: solver, train: trainNet, tests: testNets)
            let dp = DataParallel(communicator: communicator, net: trainNet, bucketBytes: options.bucketBytes, overlap: options.overlapAllreduce)
            trainNet.dataLayers.forEach { $0.shard = dp.shard }
            dataParallel = dp
        } else {
            dataParallel = nil
        }
        // TextData counts characters: T·N per batch, N·S per epoch.
        let text = trainNet.dataLayers.isEmpty ? trainNet.textDataLayers.first : nil
        iterationSamples = (text?.samplesPerBatch ?? trainNet.builtBatchSize) * solver.iterSize * (dataParallel?.shard.count ?? 1)
        epochSamples = trainNet.dataLayers.first?.dataset.count ?? text?.samplesPerEpoch ?? iterationSamples
        if let epochs = solver.maxEpoch {
            guard !trainNet.dataLayers.isEmpty || text != nil else {
                throw .config(ConfigError(file: solver.file, message: "solver: max_epoch needs a data layer in the train net to count epochs",
                                          hint: "use max_iter"))
            }
            maxIter = Int((epochs * Double(epochSamples) / Double(iterationSamples)).rounded(.up))
        } else {
            maxIter = solver.maxIter ?? 0
        }
        guard options.buildsTestNets else {
            (monitorTargets, plateau, earlyStopping) = ([], nil, nil)
            return
        }
        if !solver.monitor.isEmpty && testNets.isEmpty {
            throw .config(ConfigError(at: solver.monitor[0].location, "solver: monitor: needs a test net, whose first batch is measured",
                                      hint: "set test_interval and test_iter"))
        }
        let (train, tests) = (trainNet, testNets)
        monitorTargets = try solver.monitor.map { m throws(TrainError) in
            try LayerMonitorTarget(m, train: train, test: tests[0], testName: names[0])
        }
        plateau = try solver.plateau.map { m throws(TrainError) in try Monitor(m, testNets: testNetNames, nets: testNets, key: "plateau") }
        earlyStopping = try solver.earlyStopping.map { m throws(TrainError) in
            try Monitor(m, testNets: testNetNames, nets: testNets, key: "early_stopping")
        }
    }

    /// A seed for a solver that sets none, below 2³¹ (Caffe's seeds are 32-bit).
    public static func chooseSeed() -> UInt64 { UInt64(truncatingIfNeeded: ContinuousClock.now.hashValue) & 0x7fff_ffff }

    /// Data-parallel training reads each rank's slice of every batch from IDXData or ImageData
    /// layers; the other ways of getting data would give every rank the same batch.
    static func checkShardable(solver: SolverSpec, train: Net, tests: [Net]) throws(TrainError) {
        if let text = ([train] + tests).flatMap(\.textDataLayers).first {
            throw .config(ConfigError(file: solver.file, message: "solver: data-parallel training (mpirun) cannot shard layer '\(text.name)' (TextData) yet",
                                      hint: "train this net in one process; IDXData and ImageData nets run under mpirun"))
        }
        guard !train.dataLayers.isEmpty else {
            throw .config(ConfigError(file: solver.file, message: "solver: data-parallel training (mpirun) needs an IDXData or ImageData layer in the train net '\(train.name)' to shard",
                                      hint: "every rank would otherwise train on the same data; run it in one process"))
        }
    }

    func step(_ phase: Phase) -> StepContext {
        StepContext(phase: phase, iteration: iteration, seed: seed, parallel: parallel,
                    shard: phase == .train ? dataParallel?.shard ?? .whole : .whole)
    }

    /// Asked between test batches: true makes a test end early (the command answers from the
    /// signals it has received).
    public var stopRequested: () -> Bool = { false }

    /// The best value of the early-stopping metric so far.
    public var bestRecord: BestRecord? { earlyStopping?.state.best }

    /// Passes over the training data completed before `iteration`: what a line about that
    /// iteration prints (a train line and a test line of one iteration agree).
    public func epoch(at iteration: Int) -> Double { Double(iteration * iterationSamples) / Double(max(epochSamples, 1)) }
    public var epoch: Double { epoch(at: iteration) }

    public func learningRate(at iteration: Int) -> Double {
        solver.learningRate(iteration: iteration, maxIter: maxIter, reductions: reductions)
    }

    /// Copies `--weights` into the parameters, by layer name.
    public func loadWeights(_ path: String) throws(TrainError) -> WeightsLoadReport {
        do {
            return try Weights.read(path, into: store)
        } catch {
            throw .file(error)
        }
    }


    /// The first test net over its whole dataset, with the weights in `path` copied into the
    /// parameters (for the model card, after training); nil without a test net.
    public func evaluate(weights path: String) throws(TrainError) -> Evaluation? {
        guard let net = testNets.first else { return nil }
        do { _ = try Weights.read(path, into: store) } catch { throw .file(error) }
        do { return try Evaluator.wholeDataset(net, step: step(.test)) } catch { throw .run(error) }
    }

    /// Test net `index`. Every pass starts from the same place, the first sample of its data
    /// in the configured order (Caffe's test nets continue where the last pass stopped): passes
    /// at different iterations see the same samples, and a resumed run repeats them exactly.
    public func test(_ index: Int) throws(TrainError) -> TestReport {
        try test(index, firstBatch: nil)
    }

    /// The same, calling `firstBatch` with the batch size right after the first batch's forward
    /// pass, while the net's blobs hold it.
    func test(_ index: Int, firstBatch: ((Int) -> Void)?) throws(TrainError) -> TestReport {
        testNets[index].dataLayers.forEach { $0.rewind() }
        testNets[index].textDataLayers.forEach { $0.rewind() }
        var first = true
        let afterBatch = { (n: Int) throws(RunError) -> Void in
            if first { firstBatch?(n) }
            first = false
        }
        // The ranks of a job share the test batches and add up their results; a test they are
        // in together is not cut short by one rank's signal.
        let shard = dataParallel?.shard ?? .whole
        let shouldStop = dataParallel == nil ? stopRequested : { false }
        var e: Evaluation
        do {
            switch solver.testIter[index] {
            case .batches(let n):
                e = try Evaluator.run(testNets[index], batches: n, step: step(.test), shard: shard, shouldStop: shouldStop, afterBatch: afterBatch)
            case .all:
                e = try Evaluator.wholeDataset(testNets[index], step: step(.test), shard: shard, shouldStop: shouldStop, afterBatch: afterBatch)
            }
        } catch {
            throw .run(error)
        }
        if let dataParallel {
            do { e = try dataParallel.reduce(e) } catch { throw .run(error) }
        }
        return TestReport(iteration: iteration, epoch: epoch, net: testNetNames[index], evaluation: e)
    }

    /// One update: forward and backward over `iter_size` batches, then the solver's step.
    /// Returns the loss (the mean over the batches). A NaN or infinite loss or gradient stops
    /// here, naming the layer where it first appeared.
    public func trainStep() throws(TrainError) -> Double {
        store.zeroGradients(parallel: parallel)
        var loss = 0.0
        var ctx = step(.train)
        for subBatch in 0..<solver.iterSize {
            ctx.subBatch = subBatch
            let l: Double
            do {
                l = try trainNet.forward(ctx)
            } catch {
                throw .run(error)
            }
            // The ranks of a job learn of a non-finite loss together, after the allreduce.
            guard l.isFinite || dataParallel != nil else {
                throw .run(diverged(l.isNaN ? "the loss is NaN" : "the loss is infinite", trainNet.firstNonFiniteOutput()))
            }
            loss += l
            if let dataParallel, subBatch == solver.iterSize - 1 {
                // The last batch's backward completes the gradients, bucket by bucket.
                dataParallel.beginStep()
                do { try trainNet.backward(ctx, afterLayer: dataParallel.layerFinished) } catch { throw .run(error) }
            } else {
                trainNet.backward(ctx)
            }
        }
        if let dataParallel {
            let agreed: (loss: Double, stop: Bool)
            do { agreed = try dataParallel.finish(loss: loss, stopVote: stopPending || stopRequested()) } catch { throw .run(error) }
            loss = agreed.loss
            stopAgreed = agreed.stop
            guard loss.isFinite else {
                throw .run(diverged(loss.isNaN ? "the loss is NaN" : "the loss is infinite",
                                    trainNet.firstNonFiniteOutput().map { "\($0) (on rank \(dataParallel.shard.index))" }))
            }
        }
        let rate = learningRate(at: iteration)
        let records = debugInfo ? trainNet.debugRecords() : []
        guard optimizer.update(rate: rate, iteration: iteration, parallel: parallel) else {
            throw .run(diverged("a gradient is NaN or infinite", trainNet.firstNonFiniteGradient()))
        }
        if debugInfo { lastDebugRecords = records + trainNet.updateRecords() }
        hasStepGradients = true
        iteration += 1
        return loss / Double(solver.iterSize)
    }

    func diverged(_ what: String, _ place: String?) -> RunError {
        RunError(message: "training diverged at iteration \(iteration): \(what)" + (place.map { "; it first appeared in \($0)" } ?? ""),
                 hint: "the learning rate is most probably too large: lower base_lr (now \(solver.baseLR)) and train again; no snapshot of the broken weights was written")
    }

    /// The path prefix of every file the run writes.
    public var snapshotPrefix: String { options.snapshotPrefix ?? solver.snapshotPrefix }
    public func snapshotPath(_ iteration: Int) -> String { "\(snapshotPrefix)_iter_\(iteration).safetensors" }
    public var bestPath: String { "\(snapshotPrefix)_best.safetensors" }

    func weightsMetadata() -> [String: String] {
        ["format": "dendrite-weights", "version": "1", "net": trainNet.name, "iteration": String(iteration)]
    }

    /// Writes the weights and the solver state of the current iteration, each atomically (in
    /// data-parallel training rank 0 writes; every rank holds the same weights).
    public func snapshot() throws(TrainError) -> (weights: String, state: String) {
        let path = snapshotPath(iteration)
        guard writesFiles else { return (path, SolverState.path(forWeights: path)) }
        do {
            let weights = Weights.file(of: store, metadata: weightsMetadata()).encoded()
            try AtomicFile.write(weights, to: path)
            let state = SolverState.make(self, weightsFile: path, weightsSHA256: SHA256.hex(weights))
            try state.file.write(to: SolverState.path(forWeights: path))
            return (path, SolverState.path(forWeights: path))
        } catch {
            throw .file(error)
        }
    }

    /// Data-parallel training: every rank takes rank 0's weights and optimiser history (after
    /// --weights or a resume), so that all ranks start alike. Every rank calls it.
    public func synchronizeRanks() throws(TrainError) {
        guard let dataParallel else { return }
        do { try dataParallel.broadcast(store, history: optimizer.history) } catch { throw .run(error) }
    }

    /// Continues from a solver state written by `snapshot()`.
    public func resume(from path: String) throws(TrainError) -> [String] {
        do {
            return try SolverState.restore(path, into: self)
        } catch {
            throw .file(error)
        }
    }

    enum TestOutcome { case carryOn, earlyStop, interrupted }

    /// Tests every test net, emits the results and feeds the watched metrics; says whether
    /// early stopping says to stop, or a stop was requested during the tests.
    func testAll(_ emit: (TrainEvent) -> Void) throws(TrainError) -> TestOutcome {
        var reports: [TestReport] = []
        var monitored: MonitorReport?
        for i in testNets.indices {
            // `monitor` measures the first batch of the first test net, between its forward
            // and the next batch's.
            let r = try test(i, firstBatch: i > 0 || monitorTargets.isEmpty ? nil : { n in
                monitored = MonitorReport(iteration: self.iteration, epoch: self.epoch, net: self.testNetNames[0], samples: n,
                                          layers: self.monitorRecords(testNet: self.testNets[0]))
            })
            // A stop was requested mid-test: no test of this iteration is reported or watched.
            if r.evaluation.interrupted { return .interrupted }
            reports.append(r)
        }
        reports.forEach { emit(.test($0)) }
        if let monitored { emit(.monitor(monitored)) }
        if var p = plateau {
            if !p.observe(reports, iteration: iteration), let patience = p.spec.patience, p.state.badTests >= patience {
                reductions += 1
                p.state.badTests = 0
                emit(.rateReduced(iteration: iteration, rate: learningRate(at: iteration), metric: p.spec.name))
            }
            plateau = p
        }
        guard var e = earlyStopping else { return .carryOn }
        defer { earlyStopping = e }
        if e.observe(reports, iteration: iteration), let record = e.state.best, writesFiles {
            do {
                var metadata = weightsMetadata()
                metadata["metric"] = record.metric
                metadata["value"] = String(record.value)
                try Weights.file(of: store, metadata: metadata).write(to: bestPath)
            } catch {
                throw .file(error)
            }
            emit(.best(path: bestPath, record: record))
        }
        if let patience = e.spec.patience, e.state.badTests >= patience { return .earlyStop }
        return .carryOn
    }

    /// Trains from the current iteration to max_iter: tests every `test_interval` (at the
    /// start, unless `test_initialization: false`, and at the end), reports every `display` iterations,
    /// snapshots every `snapshot` iterations and at the end, stops early when the watched
    /// metric stalls, and asks `control` between iterations whether to snapshot or stop.
    public func run(_ emit: (TrainEvent) -> Void) throws(TrainError) {
        try run(control: { .proceed }, emit)
    }

    public func run(control: () -> TrainControl, _ emit: (TrainEvent) -> Void) throws(TrainError) {
        let start = ContinuousClock.now
        // The iteration of the last snapshot written or resumed from: the end writes one only
        // where there is none.
        var snapshotted: Int? = iteration > 0 ? iteration : nil
        var window: [Double] = []
        var windowTime = Duration.zero, windowImages = 0  // training steps only, not tests
        // The loss is shown smoothed; other outputs (e.g. a train accuracy) as they are.
        let lossBlobs = Set(trainNet.nodes.flatMap { n in zip(n.tops, n.lossWeights).filter { $0.1 != 0 }.map(\.0) })
        let reportedOutputs = trainNet.scalarOutputs.filter { !lossBlobs.contains($0.blob) }
        var reason = StopReason.maxIter
        func seconds(since t: ContinuousClock.Instant) -> Double { Double((ContinuousClock.now - t) / .microseconds(1)) / 1e6 }
        func finish() throws(TrainError) {
            if snapshotted != iteration && (reason != .maxIter || solver.snapshotAfterTrain) {
                let s = try snapshot()
                emit(.snapshot(weights: s.weights, state: s.state, iteration: iteration))
            }
            emit(.finished(FinishReport(iteration: iteration, seconds: seconds(since: start), reason: reason, best: earlyStopping?.state.best,
                                        communication: dataParallel.map { ($0.stats, $0.bucketCount, $0.gradientCount, $0.shard.count) })))
        }
        /// Tests; true when the run is to end here: early stopping, or a stop requested during
        /// the test (the snapshot is then of this iteration, so that a resumed run begins with
        /// this very test).
        func testEnds() throws(TrainError) -> Bool {
            switch try testAll(emit) {
            case .carryOn: return false
            case .earlyStop: reason = .earlyStopping
            case .interrupted:
                guard control() == .stop else { return false }
                reason = .interrupted
            }
            try finish()
            return true
        }

        while iteration < maxIter {
            if solver.testInterval > 0, iteration % solver.testInterval == 0, iteration > 0 || solver.testInitialization {
                if try testEnds() { return }
            }
            let rate = learningRate(at: iteration)
            let stepStart = ContinuousClock.now
            let loss = try trainStep()
            windowTime += ContinuousClock.now - stepStart
            windowImages += iterationSamples
            emit(.iteration(iteration, loss: loss, learningRate: rate))
            if debugInfo { emit(.debugInfo(iteration: iteration - 1, lastDebugRecords)) }
            window.append(loss)
            if window.count > solver.averageLoss { window.removeFirst() }
            let done = iteration - 1
            if solver.display > 0, done % solver.display == 0 {
                let s = Double(windowTime / .microseconds(1)) / 1e6
                emit(.progress(TrainProgress(
                    iteration: done, maxIter: maxIter, epoch: epoch(at: done), smoothedLoss: window.reduce(0, +) / Double(window.count),
                    learningRate: rate, imagesPerSecond: s > 0 ? Double(windowImages) / s : 0,
                    outputs: reportedOutputs.map { ($0.name, Double(trainNet.data($0.blob)[0])) })))
                windowTime = .zero
                windowImages = 0
            }
            var request = control()
            if dataParallel != nil {
                // The ranks stop together, after the step whose allreduce carried a stop vote.
                if request == .stop && !stopAgreed { stopPending = true; request = .proceed }
                if stopAgreed { request = .stop }
            }
            if (solver.snapshot > 0 && iteration % solver.snapshot == 0) || request != .proceed {
                let s = try snapshot()
                snapshotted = iteration
                emit(.snapshot(weights: s.weights, state: s.state, iteration: iteration))
            }
            if request == .stop {
                reason = .interrupted
                return try finish()
            }
        }
        // The test at the end, whether or not max_iter is a multiple of test_interval.
        if solver.testInterval > 0, try testEnds() { return }
        try finish()
    }
}

/// A watched test output (early stopping, the plateau policy) and its progress.
struct Monitor {
    struct State: Codable, Equatable {
        var best: BestRecord?
        var badTests = 0
    }

    let spec: MetricSpec
    let net: Int
    let output: String
    var state = State()

    /// Finds the metric among the test nets' outputs: `name` in the first test net that has it,
    /// or `net/name`.
    init(_ spec: MetricSpec, testNets names: [String], nets: [Net], key: String) throws(TrainError) {
        self.spec = spec
        var netIndex: Int?, output = spec.name
        if let slash = spec.name.lastIndex(of: "/") {
            let netName = String(spec.name[..<slash])
            output = String(spec.name[spec.name.index(after: slash)...])
            netIndex = names.firstIndex(of: netName)
        } else {
            netIndex = nets.firstIndex { $0.scalarOutputs.contains { $0.name == output } }
        }
        let available = nets.enumerated().flatMap { i, n in n.scalarOutputs.map { names.count > 1 ? "\(names[i])/\($0.name)" : $0.name } }
        guard let index = netIndex, nets[index].scalarOutputs.contains(where: { $0.name == output }) else {
            throw .config(ConfigError(at: spec.location, "solver: \(key).metric: no test net has an output '\(spec.name)'",
                                      hint: (Suggestion.hint(for: spec.name, in: available).map { $0 + "; " } ?? "")
                                          + "test outputs: \(available.joined(separator: ", ").isEmpty ? "none" : available.joined(separator: ", "))"))
        }
        net = index
        self.output = output
    }

    /// Records a test; returns true when the metric improved on the best by more than min_delta.
    mutating func observe(_ reports: [TestReport], iteration: Int) -> Bool {
        guard let value = reports[net].evaluation.value(output) else { return false }
        let improved: Bool
        if let best = state.best?.value {
            improved = spec.minimize ? value < best - spec.minDelta : value > best + spec.minDelta
        } else {
            improved = true
        }
        if improved {
            state.best = BestRecord(iteration: iteration, metric: spec.name, value: value)
            state.badTests = 0
        } else {
            state.badTests += 1
        }
        return improved
    }
}
