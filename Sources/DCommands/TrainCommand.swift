import ArgumentParser
import DConfig
import DCore
import DNet
import DSolvers
import DZoo
#if canImport(Glibc)
import Glibc
#endif

/// `dtrain SOLVER.yaml`: trains the net the solver names and writes snapshots.
public struct TrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dtrain",
        abstract: "Train a net described in YAML, as Caffe's `caffe train`.",
        discussion: """
            Reads the solver file, builds the TRAIN net and the TEST net(s) it names, and trains \
            for max_iter iterations (or max_epoch epochs). Output lines are stable and parseable:
              train iter=100/10000 epoch=0.11 loss=0.2345 lr=0.0099 images/s=6789
              test iter=500 epoch=0.53 net=lenet accuracy=0.8912 loss=0.3012
              snapshot iter=500 weights=…_iter_500.safetensors state=…_iter_500.solverstate
              done iter=10000 seconds=165.1 stopped=max_iter
              card weights=…_iter_10000.safetensors samples=10000 accuracy=0.9026 loss=0.273345 card=…/model.yaml
            With debug_info in the solver or net, every iteration adds Caffe's per-layer lines:
              debug iter=7 [Forward] Layer ip1, top blob ip1 data: 0.4123
            With monitor: [layer, …] in the solver, each round of tests adds per layer the mean and \
            std of its activations on the first test batch, the fraction of dead units, their mean \
            |correlation| and each parameter's gradient-to-weight norm ratio:
              monitor iter=500 layer=ip1 mean=0.31 std=0.52 dead=0.00 |corr|=0.12 grad/weight=3.1e-3 grad/bias=2.4e-2
            On a terminal a live progress line is shown as well. Every run also appends its \
            events to <snapshot_prefix>_metrics.jsonl, and draws the losses, test accuracy and \
            learning rate in <snapshot_prefix>_curves.svg after each round of tests.
            Without snapshot_prefix in the solver, everything goes into a new entry of the \
            user zoo ($DENDRITE_ZOO, else ~/.dendrite/zoo) with a model card; see `dzoo`.
            Ctrl-C (SIGINT) and SIGTERM write a snapshot with its solver state and stop; SIGHUP \
            writes one and carries on. Resume with --snapshot <prefix>_iter_N.solverstate.
            Under Open MPI's mpirun (mpirun -np N dtrain solver.yaml), each process is one rank \
            of synchronous data-parallel training: batch_size is per rank, each rank reads its \
            slice of every global batch of N × batch_size, the gradients are averaged over the \
            ranks, and rank 0 alone prints and writes; see docs/SCALING.md.
            Errors name the file, line and column, and exit with status 1.
            """)

    @Argument(help: "The solver YAML file (see Configs/README.md).")
    public var solver: String

    @Option(name: .long, help: "Start from these weights, copied by layer name (fine-tuning): a safetensors file, zoo:NAME or zoo:NAME@ITER.")
    public var weights: String?

    @Flag(name: .long, help: "With --weights: carry on even when the file has weights for no layer of the net (otherwise an error).")
    public var allowCopyingNone = false

    @Option(name: .long, help: "Resume from this solver state (<prefix>_iter_N.solverstate, zoo:NAME or zoo:NAME@ITER), exactly where it stopped.")
    public var snapshot: String?

    @Option(name: .long, help: "The zoo entry to write (default: the net's name; -2, -3, … are added when it is taken).")
    public var zooName: String?

    @Option(name: .long, help: "The zoo directory to write the entry into (default: $DENDRITE_ZOO, else ~/.dendrite/zoo).")
    public var zoo: String?

    @Option(name: [.customLong("random-seed"), .customLong("random_seed")],
            help: "Replace the solver's random_seed (members of a committee differ by their seeds only).")
    var randomSeed: UInt64?

    @Flag(name: .long, help: "Build the nets, print them and the solver settings with every default filled in, and exit.")
    public var dryRun = false

    @Flag(name: .long, help: "Print nothing but errors (the log and metrics files are still written).")
    public var quiet = false

    @Option(name: .long, help: "Also append the output lines to this file (never one of the run's inputs or a zoo entry's file).")
    public var log: String?

    @Option(name: [.customLong("sigint-effect"), .customLong("sigint_effect")],
            help: "On SIGINT and SIGTERM: stop (snapshot, then exit 130/143), snapshot (and carry on), or none.")
    public var sigintEffect: SignalEffect = .stop

    @Option(name: [.customLong("sighup-effect"), .customLong("sighup_effect")],
            help: "On SIGHUP: snapshot (and carry on), stop, or none.")
    public var sighupEffect: SignalEffect = .snapshot

    @Flag(name: .long, help: "Time each layer's forward and backward, the zeroing of the gradients and the update instead of training (Caffe's `caffe time`: the train net alone, no test net is built), and list the step's matrix products (gemm lines). A max pooling run inside its convolution shows 'in CONV'.")
    public var time = false

    @Option(name: .long, help: "Steps per timed window with --time (after 10 untimed steps).")
    public var timeIterations = 20

    @Option(name: .long, help: "Timed windows with --time; the step time reported is the median window's.")
    public var timeWindows = 5

    @Option(name: .customLong("bucket-mib"), help: "Under mpirun: the size of the gradient allreduce's buckets, in MiB.")
    public var bucketMiB: Double = 1

    @Flag(name: .long, help: "Under mpirun: allreduce the gradients after backward rather than overlapping it (to measure what the overlap hides).")
    public var allreduceAfterBackward = false

    @OptionGroup public var compute: ComputeOptions

    public init() {}

    public mutating func validate() throws {
        if zoo?.isEmpty == true { throw ValidationError("--zoo needs a directory, found an empty string") }
        if timeIterations < 1 { throw ValidationError("--time-iterations must be at least 1, found \(timeIterations)") }
        if timeWindows < 1 { throw ValidationError("--time-windows must be at least 1, found \(timeWindows)") }
        if !(bucketMiB > 0 && bucketMiB <= 1024) { throw ValidationError("--bucket-mib must be above 0 and at most 1024, found \(bucketMiB)") }
        if weights != nil && snapshot != nil {
            throw ValidationError("give --weights (start from weights) or --snapshot (resume a run), not both")
        }
        if allowCopyingNone && weights == nil { throw ValidationError("--allow-copying-none goes with --weights") }
        if randomSeed != nil && snapshot != nil { throw ValidationError("a resumed run keeps the seed it started with; give --random-seed or --snapshot, not both") }
    }

    public func run() throws {
        guard let launch = MPILaunch.fromEnvironment() else { return try Console.run { console throws in try train(console, mpi: nil) } }
        try Console.run { console throws in
            if dryRun || time { throw RunError(message: "--dry-run and --time run in one process, not under mpirun", hint: "run dtrain \(dryRun ? "--dry-run" : "--time") without mpirun") }
            let communicator = try MPICommunicator()
            var console = console
            if communicator.rank != 0 { console.errorPrefix = "rank \(communicator.rank): " }
            do {
                try train(console, mpi: (launch, communicator))
            } catch let code as ExitCode {
                communicator.finalize()
                throw code
            } catch {
                // The other ranks may wait in a collective this one will never join: end the job.
                // A mistake in the config is the same on every rank: rank 0 reports it.
                let config = error is ConfigError || { if case .config = error as? TrainError { true } else { false } }()
                communicator.abort(code: communicator.rank == 0 || !config ? console.report(error) : 1)
            }
            communicator.finalize()
        }
    }

    /// A single process (`mpi` nil) or one rank of an mpirun job: rank 0 does all that a
    /// single process does; the other ranks train beside it and write nothing.
    func train(_ console: Console, mpi: (launch: MPILaunch, communicator: MPICommunicator)?) throws {
        let communicator = mpi?.communicator
        var spec = try SolverSpec.load(solver)
        if let randomSeed { spec.randomSeed = randomSeed }
        let threads = compute.resolvedThreads(sharedBy: mpi?.launch.localSize ?? 1)
        var zoo = Zoo.fromEnvironment()
        if let dir = self.zoo { zoo = Zoo(userRoot: dir, repositoryRoot: zoo.repositoryRoot) }
        // --weights replaces the solver's `weights`; a resume starts from neither.
        let weightFiles = try (self.weights.map { [$0] } ?? (self.snapshot == nil ? spec.weights : [])).map { try zoo.resolveWeights($0).path }
        let snapshot = try self.snapshot.map { s in
            guard Zoo.reference(s) != nil else { return s }
            let (weights, entry) = try zoo.resolveWeights(s.contains("@") ? s : latest(s, zoo))
            let state = Self.statePath(forWeights: weights)
            // The state too is checked against the card (the weights were, by resolveWeights).
            return try entry.map { try $0.verifiedPath(ConfigFile.fileName(of: state)) } ?? state
        }
        let netName = try spec.trainNet.load().name
        var options = TrainOptions(threads: threads, weights: weightFiles.first, dataProgress: Console.decodingProgress)
        options.communicator = communicator
        if let communicator, spec.randomSeed == nil {
            // Every rank must draw the same order, distortions and masks: rank 0's seed (below
            // 2³¹, exact in a double) goes to all.
            var seed = [communicator.rank == 0 ? Double(Trainer.chooseSeed()) : 0]
            try communicator.allreduceSum(&seed)
            options.chosenSeed = UInt64(seed[0])
        }
        options.buildsTestNets = !time
        options.bucketBytes = Int(bucketMiB * 1_048_576)
        options.overlapAllreduce = !allreduceAfterBackward
        if let communicator, communicator.rank != 0 {
            return try trainBesideRankZero(Trainer(solver: spec, options: options), snapshot: snapshot)
        }
        let destination = try RunDestination.resolve(spec, zooName: zooName, zooGiven: self.zoo != nil, snapshot: snapshot, netName: netName, zoo: zoo)
        options.snapshotPrefix = destination.snapshotPrefix
        let trainer = try Trainer(solver: spec, options: options)
        let names = spec.modelCard.classNames
        if !names.isEmpty, let scores = trainer.testNets.first.flatMap(ClassScores.init) ?? ClassScores(trainer.trainNet), scores.classes != names.count {
            throw ConfigError(at: spec.modelCard.classNamesLocation, "solver: model_card.class_names names \(names.count) classes, the net scores \(scores.classes)",
                              hint: "give one name per class, in label order")
        }
        if let log {
            // The log is appended to, not replaced: it must not be one of the run's inputs, a
            // file of a zoo entry, or anything but a regular file.
            let inputs = [spec.file, spec.trainNet.file] + spec.testNets.map(\.file) + weightFiles + [snapshot].compactMap { $0 }
                + (([trainer.trainNet] + trainer.testNets).flatMap(\.dataLayers).flatMap { [$0.dataset.imagesPath, $0.dataset.labelsPath] })
                + ([trainer.trainNet] + trainer.testNets).flatMap(\.textDataLayers).flatMap(\.corpus.paths)
            try Zoo.checkOutput(log, inputs: inputs)
        }
        let out = Output(console: console, quiet: quiet, logPath: log, underMPIRun: mpi != nil)
        if !time || dryRun {
            out.line("net '\(trainer.trainNet.name)' (\(spec.trainNet)), phase TRAIN:")
            Format.layerTable(trainer.trainNet).forEach { out.line("  " + $0) }
        }
        if time {
            try out.openLog()
            return printTiming(try trainer.timeLayers(iterations: timeIterations, windows: timeWindows, warmup: 10), out)
        }
        for (i, net) in trainer.testNets.enumerated() {
            out.line("test net '\(trainer.testNetNames[i])' (\(spec.testNets[i])), phase TEST:")
            Format.layerTable(net).forEach { out.line("  " + $0) }
        }
        if dryRun {
            out.line("solver (\(spec.file)), with every default filled in:")
            Format.effectiveSolver(spec, trainer: trainer).forEach { out.line("  " + $0) }
            if case .newEntry(let dir) = destination { out.line("snapshots would go to the new zoo entry \(dir)") }
            return try out.openLog()
        }

        // Everything that can fail on the inputs comes before anything is written.
        var loaded: [TrainEvent] = []
        for weights in weightFiles {
            let report = try trainer.loadWeights(weights)
            if report.copied.isEmpty && !allowCopyingNone {
                throw FileError(path: weights, "has weights for no layer of net '\(trainer.trainNet.name)'",
                                hint: "layer names must match: the file has \(report.ignored.joined(separator: ", ").orNone), the net \(report.initialised.joined(separator: ", ").orNone); "
                                    + "to train from the fillers anyway, add --allow-copying-none")
            }
            loaded.append(.weightsLoaded(path: weights, report: report))
        }
        if let snapshot {
            let notes = try trainer.resume(from: snapshot)
            if trainer.iteration > trainer.maxIter {
                throw FileError(path: snapshot, "is at iteration \(trainer.iteration), past this solver's max_iter of \(trainer.maxIter)",
                                hint: "raise max_iter (or max_epoch) in \(spec.file) to train on; dtest evaluates the snapshot as it is")
            }
            try out.openLog()
            if trainer.iteration == trainer.maxIter {
                // Nothing left to train: no test, no snapshot, no metrics line. Only a card whose
                // weights were never measured (the run that wrote them was stopped by a signal)
                // is completed.
                if case .entry(let writer) = destination, writer.card.metrics == nil, !writer.card.weights.isEmpty {
                    out.line("resume iter=\(trainer.iteration) state=\(snapshot): nothing to train, max_iter is \(trainer.maxIter); measuring the card's weights")
                    if let (file, e) = try ZooRecorder(writer: writer).finish(trainer) { out.line(cardLine(file, e, writer)) }
                    return
                }
                out.line("resume iter=\(trainer.iteration) state=\(snapshot): nothing to do, max_iter is \(trainer.maxIter); no file was changed")
                return
            }
            loaded.append(.resumed(path: snapshot, iteration: trainer.iteration, notes: notes))
        }
        try out.openLog()
        // A run killed mid-write (kill -9, a power cut) left temporary files that no process owns:
        // anywhere in its zoo entry (the snapshots and the card), else under its snapshot prefix.
        let abandoned: [String]
        if case .entry(let writer) = destination {
            abandoned = AtomicFile.removeAbandonedTemporaries(in: writer.directory)
        } else {
            let prefix = trainer.snapshotPrefix
            let namePrefix = prefix.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? prefix
            abandoned = AtomicFile.removeAbandonedTemporaries(in: ConfigFile.directory(of: prefix), namePrefix: namePrefix)
        }
        if !abandoned.isEmpty {
            out.line("removed \(abandoned.count) temporary file\(abandoned.count == 1 ? "" : "s") left by an interrupted write: \(abandoned.joined(separator: ", "))")
        }
        // From here on a signal is handled between iterations: an entry is never left half made.
        Signals.install(interrupt: sigintEffect, hangup: sighupEffect)
        var recorder: ZooRecorder?
        switch destination {
        case .newEntry(let dir):
            recorder = try ZooRecorder.create(directory: dir, trainer: trainer, command: ["dtrain"] + CommandLine.arguments.dropFirst())
            out.line("zoo entry=\(dir)")
        case .entry(let writer):
            recorder = ZooRecorder(writer: writer)
            out.line("zoo entry=\(writer.directory)")
        case .prefix:
            break
        }
        // However the run ends (an error, divergence, a signal), the card lists the files as
        // they are then: the metrics log grows during the run.
        defer { try? recorder?.writer.update() }
        // A resumed run continues the curves from what the metrics file already holds (read
        // before this run appends to it).
        let curves = CurvesFile(prefix: trainer.snapshotPrefix, title: "\(trainer.trainNet.name): training curves",
                                lastTestNet: trainer.testNetNames.last)
        let metrics = try MetricsLog(prefix: trainer.snapshotPrefix)
        if snapshot != nil, let warning = curves.readBack(metrics: metrics.path) { console.err(warning) }
        loaded.forEach { report($0, trainer, out, metrics, curves) }
        report(.started(seed: trainer.seed, seedWasChosen: trainer.seedWasChosen, maxIter: trainer.maxIter), trainer, out, metrics, curves)

        var recordingError: (any Error)?
        let signals = SignalControl(interrupt: sigintEffect, hangup: sighupEffect)
        trainer.stopRequested = signals.stopRequested
        var reason: StopReason?
        let started = ContinuousClock.now, firstIteration = trainer.iteration
        try trainer.synchronizeRanks()
        do {
            try trainer.run(control: signals.control) { event in
                if case .finished(let f) = event { reason = f.reason }
                if case .iteration(let it, let loss, let rate) = event {
                    let elapsed = Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000
                    let perIteration = elapsed / Double(max(1, it - firstIteration))
                    let eta = Format.duration(perIteration * Double(trainer.maxIter - it))
                    let images = Double(trainer.trainNet.builtBatchSize * spec.iterSize * (communicator?.size ?? 1)) / perIteration
                    out.live("iter \(it)/\(trainer.maxIter)  loss \(Format.value(loss))  lr \(Format.value(rate))  "
                             + "\(Int(images.rounded())) images/s  ETA \(eta)", force: it == trainer.maxIter)
                    return
                }
                report(event, trainer, out, metrics, curves)
                do { try recorder?.record(event) } catch { recordingError = recordingError ?? error }
            }
        } catch {
            // A new entry that failed before its first snapshot holds nothing dtest can use: it
            // goes, so that the zoo lists no model without weights.
            if case .newEntry(let dir) = destination, recorder?.writer.card.weights.isEmpty == true {
                recorder = nil
                out.clearLive()
                if (try? ZooInstaller.remove(directory: dir)) != nil {
                    out.line("zoo entry removed=\(dir): the run failed before its first snapshot")
                }
            }
            throw error
        }
        out.clearLive()
        if let recordingError { throw recordingError }
        // Stopped by a signal, the user wants out now: the card is brought up to date (in the
        // deferred update above) but its weights are not measured.
        let code = signals.exitCode(reason)
        if code == nil, let recorder, let (file, e) = try recorder.finish(trainer) { out.line(cardLine(file, e, recorder.writer)) }
        if let code { throw ExitCode(code) }
    }

    /// A rank other than 0 of an mpirun job: the same nets and the same steps as rank 0 (whose
    /// weights and optimiser state it takes at the start), on its own slice of each batch. It
    /// writes no file and prints only errors; a signal's stop is agreed with the other ranks.
    func trainBesideRankZero(_ trainer: Trainer, snapshot: String?) throws {
        if let snapshot {
            _ = try trainer.resume(from: snapshot)
            if trainer.iteration >= trainer.maxIter { return }  // rank 0 says why
        }
        Signals.install(interrupt: sigintEffect, hangup: sighupEffect)
        let signals = SignalControl(interrupt: sigintEffect, hangup: sighupEffect)
        trainer.stopRequested = signals.stopRequested
        var reason: StopReason?
        try trainer.synchronizeRanks()
        try trainer.run(control: signals.control) { event in
            if case .finished(let f) = event { reason = f.reason }
        }
        if let code = signals.exitCode(reason) { throw ExitCode(code) }
    }

    func cardLine(_ file: String, _ e: Evaluation, _ writer: ZooEntryWriter) -> String {
        "card weights=\(file) samples=\(e.samples) \(Format.outputs(e.outputs)) card=\(writer.directory)/\(ModelCard.fileName)"
    }

    /// zoo:NAME → zoo:NAME@<latest snapshot>, for resuming.
    func latest(_ reference: String, _ zoo: Zoo) throws -> String {
        guard let name = Zoo.reference(reference)?.name else { return reference }
        let entry = try zoo.entry(name)
        guard let last = entry.card.snapshots.last else {
            throw FileError(path: reference, "has no snapshot to resume from")
        }
        return "zoo:\(name)@\(last)"
    }

    static func statePath(forWeights path: String) -> String {
        (path.hasSuffix(".safetensors") ? String(path.dropLast(".safetensors".count)) : path) + ".solverstate"
    }

    /// One event: a stable line (or a few), a metrics record, and the curves (a warning on
    /// standard error, even with --quiet, when they cannot be written).
    func report(_ event: TrainEvent, _ trainer: Trainer, _ out: Output, _ metrics: MetricsLog, _ curves: CurvesFile) {
        metrics.record(event)
        if let warning = curves.record(event) {
            out.clearLive()
            out.console.err(warning)
        }
        switch event {
        case .started(let seed, let chosen, let maxIter):
            out.line("solver \(trainer.solver.type.rawValue) base_lr=\(Format.value(trainer.solver.baseLR)) max_iter=\(maxIter) "
                     + "threads=\(trainer.options.threads) random_seed=\(seed)"
                     + (chosen ? " (chosen; set random_seed to repeat this run)" : "") + " metrics=\(metrics.path)")
        case .weightsLoaded(let path, let report):
            out.line("weights \(path): copied \(report.copied.joined(separator: ", ").orNone)")
            if !report.initialised.isEmpty { out.line("  initialised from fillers: \(report.initialised.joined(separator: ", "))") }
            if !report.ignored.isEmpty { out.line("  ignored (not in this net): \(report.ignored.joined(separator: ", "))") }
        case .resumed(let path, let iteration, let notes):
            out.line("resume iter=\(iteration) state=\(path)")
            notes.forEach { out.line("  note: \($0)") }
        case .iteration:
            break
        case .debugInfo(let iteration, let records):
            // Caffe's debug_info lines, after the iteration they describe.
            for r in records {
                out.line("debug iter=\(iteration) [\(r.stage.rawValue)] Layer \(r.layer), \(r.blob) \(r.kind): \(Format.value(r.value))")
            }
        case .progress(let p):
            out.line("train iter=\(p.iteration)/\(p.maxIter) epoch=\(cFormat("%.2f", p.epoch)) loss=\(Format.value(p.smoothedLoss)) "
                     + "lr=\(Format.value(p.learningRate)) images/s=\(Int(p.imagesPerSecond.rounded()))"
                     + (p.outputs.isEmpty ? "" : " " + Format.outputs(p.outputs)))
        case .test(let t):
            out.line("test iter=\(t.iteration) epoch=\(cFormat("%.2f", t.epoch)) net=\(t.net) \(Format.outputs(t.evaluation.outputs))")
        case .monitor(let m):
            m.layers.forEach { out.line(Format.monitorLine(iteration: m.iteration, $0)) }
        case .snapshot(let weights, let state, let iteration):
            out.line("snapshot iter=\(iteration) weights=\(weights) state=\(state)")
        case .best(let path, let r):
            out.line("best iter=\(r.iteration) \(r.metric)=\(Format.value(r.value)) path=\(path)")
        case .rateReduced(let iteration, let rate, let metric):
            out.line("plateau iter=\(iteration) lr=\(Format.value(rate)) metric=\(metric)")
        case .finished(let f):
            var line = "done iter=\(f.iteration) seconds=\(cFormat("%.1f", f.seconds)) stopped=\(f.reason.rawValue)"
            if let b = f.best { line += " best_iter=\(b.iteration) best_\(b.metric)=\(Format.value(b.value))" }
            if let c = f.communication {
                line += " ranks=\(c.ranks) allreduce_buckets=\(c.buckets) allreduce_bytes=\(4 * c.floats)"
                let perStep = { (seconds: Double) in cFormat("%.3f", c.stats.steps > 0 ? 1000 * seconds / Double(c.stats.steps) : 0) }
                line += " allreduce_exposed_ms=\(perStep(c.stats.exposedSeconds)) allreduce_window_ms=\(perStep(c.stats.windowSeconds))"
            }
            out.line(line)
        }
    }

    /// The per-layer table (means over all timed steps), the step's matrix products (`gemm`
    /// lines), then one parseable `time` line with the median step time.
    func printTiming(_ t: StepTiming, _ out: Output) {
        var rows = [["layer", "type", "forward ms", "backward ms", "share", "GFLOP/s fwd", "GFLOP/s bwd"]]
        let layersMs = t.layers.reduce(0) { $0 + $1.forwardMs + $1.backwardMs }
        func rate(_ flops: Double, _ ms: Double) -> String { flops > 0 && ms > 0 ? cFormat("%.1f", flops / ms / 1e6) : "" }
        for l in t.layers {
            if let host = l.runsInside {
                rows.append([l.name, l.type, "in \(host)", "in \(host)", "", "", ""])
                continue
            }
            rows.append([l.name, l.type, cFormat("%.3f", l.forwardMs), cFormat("%.3f", l.backwardMs),
                         cFormat("%.1f%%", 100 * (l.forwardMs + l.backwardMs) / layersMs),
                         rate(l.forwardFlops, l.forwardMs), rate(l.backwardFlops, l.backwardMs)])
        }
        let flops = t.layers.reduce(0) { $0 + $1.forwardFlops + $1.backwardFlops }
        Format.table(rows).forEach { out.line($0) }
        Format.gemmLines(t.layers.flatMap(\.gemms)).forEach { out.line($0) }
        out.line("time step_ms=\(cFormat("%.3f", t.stepMs)) zeroing_ms=\(cFormat("%.3f", t.zeroingMs)) update_ms=\(cFormat("%.3f", t.updateMs)) gflop/s=\(rate(flops, t.stepMs)) iterations=\(timeIterations) windows=\(timeWindows) openblas=\(BLAS.coreName) kernels=\(SmallGEMM.level)")
    }
}

extension SignalEffect: ExpressibleByArgument {}

extension String {
    var orNone: String { isEmpty ? "none" : self }
}
