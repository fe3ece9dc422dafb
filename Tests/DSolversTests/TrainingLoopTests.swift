import DConfig
import DCore
import DData
import DNet
@testable import DSolvers
import DZoo
import Foundation
import Testing

@Suite(.serialized) struct ResumeTests {
    func trainer(_ path: String, threads: Int = 2) throws -> Trainer {
        try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: threads))
    }

    func weights(_ t: Trainer) -> [Float] { t.store.parameters.flatMap(\.value.values) }

    /// N iterations, a stop, M more from the solver state = N + M straight, bit for bit:
    /// the data order (shuffled), dropout masks, momentum and the test cursors all carry over.
    @Test func stopAndResumeEqualsAStraightRun() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, "snapshot: 25\n", maxIter: 60, testInterval: 10)
        let straight = try trainer(path)
        var straightTests: [Double] = []
        try straight.run { if case .test(let t) = $0 { straightTests.append(t.evaluation.outputs[1].value) } }

        let first = try trainer(path)
        var requests = 0
        try first.run(control: { requests += 1; return requests == 37 ? .stop : .proceed }) { _ in }
        #expect(first.iteration == 37)
        let resumed = try trainer(path)
        let notes = try resumed.resume(from: dir + "/out/tiny_iter_37.solverstate")
        #expect(notes.isEmpty)
        #expect(resumed.iteration == 37)
        var resumedTests: [Double] = []
        try resumed.run { if case .test(let t) = $0 { resumedTests.append(t.evaluation.outputs[1].value) } }
        #expect(weights(resumed) == weights(straight))
        #expect(resumed.optimizer.history.flatMap { $0.flatMap(\.values) } == straight.optimizer.history.flatMap { $0.flatMap(\.values) })
        #expect(resumedTests == Array(straightTests.suffix(resumedTests.count)))  // tests at 40, 50, 60
        #expect(resumedTests.count == 3)
    }

    /// A stop requested in the middle of a test pass: the snapshot is of that iteration, and the
    /// resumed run begins with that test, so its tests are the straight run's (every test pass
    /// starts from the first test sample).
    @Test func aStopDuringATestResumesToTheSameTests() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, maxIter: 60, testInterval: 10, testIter: 2)
        func tests(_ t: Trainer, control: @escaping () -> TrainControl = { .proceed }) throws -> [Int: [Double]] {
            var found: [Int: [Double]] = [:]
            try t.run(control: control) { if case .test(let r) = $0 { found[r.iteration] = r.evaluation.outputs.map(\.value) } }
            return found
        }
        let straight = try tests(try trainer(path))
        #expect(straight.keys.sorted() == [0, 10, 20, 30, 40, 50, 60])

        // Asked before each test batch: the 10th ask is before the second batch of the test at 40.
        let first = try trainer(path)
        var asks = 0, stop = false
        first.stopRequested = { asks += 1; stop = stop || asks == 10; return stop }
        let partial = try tests(first, control: { stop ? .stop : .proceed })
        #expect(partial.keys.sorted() == [0, 10, 20, 30])  // the interrupted test is not reported
        #expect(first.iteration == 40)
        let resumed = try trainer(path)
        _ = try resumed.resume(from: dir + "/out/tiny_iter_40.solverstate")
        let after = try tests(resumed)
        #expect(after.keys.sorted() == [40, 50, 60])
        for (iteration, values) in after { #expect(values == straight[iteration], "test at \(iteration)") }
    }

    /// Every test pass covers the same samples: the same weights test the same at any iteration.
    @Test func everyTestPassStartsFromTheFirstTestSample() throws {
        let dir = temporaryDirectory()
        let t = try trainer(try writeSolver(dir, maxIter: 10, testIter: 1))
        let once = try t.test(0), twice = try t.test(0)
        #expect(once.evaluation.outputs.map(\.value) == twice.evaluation.outputs.map(\.value))
        #expect(t.testNets[0].dataLayers[0].order.position == 16)  // one batch of 16 from the start
    }

    @Test func refusesAWeightsFile() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, maxIter: 5)
        try trainer(path).run { _ in }
        #expect(throws: FileError(path: dir + "/out/tiny_iter_5.safetensors", "is a weights file, not a solver state",
                                  hint: "--snapshot takes the .solverstate written beside each snapshot; to start from these weights, use --weights")) {
            _ = try SolverState.restore(dir + "/out/tiny_iter_5.safetensors", into: try trainer(path))
        }
    }

    @Test func refusesAnotherSolverType() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, maxIter: 5)
        try trainer(path).run { _ in }
        let adam = try writeSolver(dir, "type: Adam\n", maxIter: 5)
        do {
            _ = try SolverState.restore(dir + "/out/tiny_iter_5.solverstate", into: try trainer(adam))
            Issue.record("resumed an SGD state with Adam")
        } catch let e as FileError {
            #expect(e.message == "was written by the SGD solver; this solver is Adam")
        }
    }

    @Test func refusesAnotherNet() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, maxIter: 5)
        try trainer(path).run { _ in }
        let other = try String(contentsOfFile: dir + "/net.yaml", encoding: .utf8).replacingOccurrences(of: "num_output: 6", with: "num_output: 7")
        try other.write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
        do {
            _ = try SolverState.restore(dir + "/out/tiny_iter_5.solverstate", into: try trainer(path))
            Issue.record("resumed with another net")
        } catch let e as FileError {
            #expect(e.message == "belongs to another net ('tiny' with other layers or shapes) than 'tiny'")
        }
    }

    @Test func refusesReplacedWeights() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, "snapshot: 2\n", maxIter: 4)
        try trainer(path).run { _ in }
        try FileManager.default.removeItem(atPath: dir + "/out/tiny_iter_2.safetensors")
        try FileManager.default.copyItem(atPath: dir + "/out/tiny_iter_4.safetensors", toPath: dir + "/out/tiny_iter_2.safetensors")
        do {
            _ = try SolverState.restore(dir + "/out/tiny_iter_2.solverstate", into: try trainer(path))
            Issue.record("resumed with replaced weights")
        } catch let e as FileError {
            #expect(e.message == "is not the weights this solver state was written with (its SHA-256 differs)")
        }
    }
}

@Suite(.serialized) struct StoppingTests {
    @Test func divergenceStopsAtOnceWithoutASnapshot() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, baseLR: 1e9)
        let t = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: 1))
        let e = try #require(runError { () throws(TrainError) in try t.run { (_: TrainEvent) in } })
        #expect(e.message.hasPrefix("training diverged at iteration "))
        #expect(e.message.contains("it first appeared in "))
        #expect(e.hint == "the learning rate is most probably too large: lower base_lr (now 1000000000.0) and train again; no snapshot of the broken weights was written")
        #expect(t.iteration < 5)
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))  // nothing was written but the metrics of no one
    }

    @Test func earlyStoppingKeepsTheBestAndStops() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, "early_stopping: {metric: loss, patience: 3, min_delta: 0.01}\n", maxIter: 100_000, testInterval: 5)
        let t = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: 1))
        var finish: FinishReport?, bests: [BestRecord] = [], losses: [Int: Double] = [:]
        try t.run { event in
            switch event {
            case .finished(let f): finish = f
            case .best(_, let r): bests.append(r)
            case .test(let r): losses[r.iteration] = r.evaluation.value("loss")
            default: break
            }
        }
        let f = try #require(finish)
        #expect(f.reason == .earlyStopping)
        #expect(f.iteration < 1000)
        let best = try #require(f.best)
        #expect(best == bests.last)
        #expect(best.value == losses[best.iteration])
        #expect(f.iteration == best.iteration + 3 * 5)  // three tests without improvement
        let saved = try SafetensorsFile.read(dir + "/out/tiny_best.safetensors")
        #expect(saved.metadata["iteration"] == String(best.iteration))
    }

    @Test func unknownMetricIsAConfigError() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, "early_stopping: {metric: acuracy}\n")
        let spec = try SolverSpec.load(path)
        var found: ConfigError?
        do { _ = try Trainer(solver: spec, options: TrainOptions()) } catch { if case .config(let c) = error { found = c } }
        #expect(found?.message == "solver: early_stopping.metric: no test net has an output 'acuracy'")
        #expect(found?.hint == "did you mean 'accuracy'?; test outputs: accuracy, loss")
    }

    @Test func plateauCutsTheRate() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, "gamma: 0.5\nplateau: {metric: accuracy, patience: 1}\n", maxIter: 60, testInterval: 5, lrPolicy: "plateau")
        let t = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: 1))
        var cuts: [Double] = []
        try t.run { if case .rateReduced(_, let rate, _) = $0 { cuts.append(rate) } }
        #expect(!cuts.isEmpty)
        #expect(cuts == (1...cuts.count).map { 0.5 * pow(0.5, Double($0)) })
        #expect(t.reductions == cuts.count)
    }

    @Test func maxEpochCountsSamples() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir)
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "max_iter: 60", with: "max_epoch: 3")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let t = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions())
        #expect(t.maxIter == 15)  // 40 samples × 3 epochs / batches of 8
    }

    /// "test every test_interval iterations, and at the end": also when max_iter is not a
    /// multiple of test_interval.
    @Test func theLastIterationIsTested() throws {
        let dir = temporaryDirectory()
        let t = try Trainer(solver: try SolverSpec.load(try writeSolver(dir, maxIter: 30, testInterval: 20)), options: TrainOptions(threads: 1))
        var tested: [Int] = []
        try t.run { if case .test(let r) = $0 { tested.append(r.iteration) } }
        #expect(tested == [0, 20, 30])
    }

    /// A trainer resumed at max_iter tests once more and rewrites no snapshot (dtrain does not
    /// even run it: see WrongResultTests).
    @Test func resumedAtMaxIterRewritesNothing() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, maxIter: 10)
        try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: 1)).run { _ in }
        let state = try Data(contentsOf: URL(fileURLWithPath: dir + "/out/tiny_iter_10.solverstate"))
        let t = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: 1))
        _ = try t.resume(from: dir + "/out/tiny_iter_10.solverstate")
        var events: [String] = []
        try t.run { events.append("\($0)".prefix { $0 != "(" }.description) }
        #expect(events == ["test", "finished"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/out/tiny_iter_10.solverstate")) == state)
    }

    /// iter_size: 2 at batch 16 takes the same steps as batch 32 (without dropout: the
    /// gradients are means over the same 32 samples, summed in another order).
    @Test func iterSizeMatchesTheLargerBatch() throws {
        let noDropout = twoClassNet.replacingOccurrences(of: "  - {name: drop, type: Dropout, bottom: h, top: h, dropout_param: {dropout_ratio: 0.2}}\n", with: "")
        #expect(noDropout != twoClassNet)
        func trained(_ batch: Int, iterSize: Int) throws -> [Float] {
            let dir = temporaryDirectory("iterSize\(batch)x\(iterSize)")
            let net = noDropout.replacingOccurrences(of: "batch_size: 8, shuffle: true", with: "batch_size: \(batch), shuffle: true")
            let t = try Trainer(solver: try SolverSpec.load(try writeSolver(dir, "iter_size: \(iterSize)\n", maxIter: 12, baseLR: 0.1, net: net)),
                                options: TrainOptions(threads: 1))
            try t.run { _ in }
            return t.store.parameters.flatMap(\.value.values)
        }
        let big = try trained(32, iterSize: 1), accumulated = try trained(16, iterSize: 2)
        #expect(big.count == accumulated.count)
        for (a, b) in zip(big, accumulated) { #expect(abs(a - b) <= 1e-5 * max(1, abs(a)), "\(a) vs \(b)") }
        #expect(big != (try trained(16, iterSize: 1)))  // the comparison can tell steps apart
    }

    /// With iter_size > 1 each batch of a step draws its own dropout masks: two batches of the
    /// same 16 samples then give another step than one batch of them. With one mask for both,
    /// the two steps differ only by rounding (the accumulating GEMMs sum in another order).
    @Test func iterSizeDrawsADropoutMaskPerBatch() throws {
        func trained(iterSize: Int) throws -> [Float] {
            let dir = temporaryDirectory("dropoutIterSize\(iterSize)")
            let net = twoClassNet.replacingOccurrences(of: "batch_size: 8, shuffle: true", with: "batch_size: 16")
            let path = try writeSolver(dir, "iter_size: \(iterSize)\n", maxIter: 1, testInterval: 0, net: net)
            try writeTwoClassData(dir, count: 16)
            let t = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: 1))
            try t.run { _ in }
            return t.store.parameters.flatMap(\.value.values)
        }
        let once = try trained(iterSize: 1), twice = try trained(iterSize: 2)
        #expect(once.count == twice.count)
        let largest = zip(once, twice).map { abs($0 - $1) }.max() ?? 0
        #expect(largest > 1e-3, "largest difference \(largest)")
    }

    @Test func testIterAllCoversTheTestSet() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir)
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "test_iter: 1", with: "test_iter: all")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let t = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions())
        let r = try t.test(0)
        #expect(r.evaluation.samples == 40 && r.evaluation.batches == 3)
    }
}

/// The RunError `body` throws, if any.
func runError(_ body: () throws(TrainError) -> Void) -> RunError? {
    do { try body() } catch { if case .run(let e) = error { return e } }
    return nil
}
