import DConfig
import DCore
import DData
import DNet
@testable import DSolvers
import Foundation
import Testing

/// Caffe's solver keys for states, final snapshots and starting weights.
@Suite struct SolverVocabularyTests {
    /// Caffe's mnist_autoencoder pattern: one net file, tested on two datasets chosen by stage.
    @Test func testStatesMakeOneTestNetEach() throws {
        let dir = temporaryDirectory()
        let staged = twoClassNet.replacingOccurrences(of: """
                idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 16}
                include: {phase: TEST}
            """, with: """
                idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 16}
                include: {phase: TEST, stage: on-train}
              - name: data
                type: IDXData
                top: [data, label]
                transform_param: {scale: 0.00390625}
                idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 4}
                include: {phase: TEST, stage: on-test}
            """)
        #expect(staged != twoClassNet)
        let path = try writeSolver(dir, "test_state: [{stage: on-train}, {stage: on-test}]\ntest_compute_loss: true\nsnapshot_after_train: false",
                                   maxIter: 20, testInterval: 20, net: staged)
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "test_iter: 1", with: "test_iter: [2, 3]")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let spec = try SolverSpec.load(path)
        #expect(spec.testNets.count == 2 && spec.testStates.map(\.stages) == [["on-train"], ["on-test"]])
        let t = try Trainer(solver: spec, options: TrainOptions(threads: 1))
        #expect(t.testNetNames == ["tiny[on-train]", "tiny[on-test]"])
        #expect(t.testNets.map { $0.dataLayers[0].batchSize } == [16, 4])
        var tested: [String] = [], snapshots = 0
        try t.run { event in
            if case .test(let r) = event { tested.append("\(r.net)@\(r.iteration):\(r.evaluation.samples)") }
            if case .snapshot = event { snapshots += 1 }
        }
        #expect(tested == ["tiny[on-train]@0:32", "tiny[on-test]@0:12", "tiny[on-train]@20:32", "tiny[on-test]@20:12"])
        #expect(snapshots == 0)  // snapshot_after_train: false, and no `snapshot` interval
        // A state per test net, no more and no fewer; a state sets no phase of its own.
        let bad = try writeSolver(temporaryDirectory("bad"), "test_state: [{stage: a}, {stage: b}, {stage: c}]", testIter: 1, net: staged)
        #expect(throws: ConfigError.self) { try SolverSpec.load(bad) }
        let phase = try writeSolver(temporaryDirectory("phase"), "train_state: {phase: TEST}", net: staged)
        do { _ = try SolverSpec.load(phase); Issue.record("accepted") } catch { #expect(error.message.contains("train_state.phase: is TRAIN for this net")) }
    }

    @Test func solverWeightsAreResolvedAgainstTheSolverFile() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir, "weights: [first.safetensors, zoo:lenet]")
        #expect(try SolverSpec.load(path).weights == [dir + "/first.safetensors", "zoo:lenet"])
    }

    /// `debug_info`: per layer, every top's and parameter's data after forward, every bottom
    /// and parameter gradient after backward, and each parameter after the update, as Caffe
    /// prints them (mean absolute values).
    @Test func debugInfoReportsEveryLayer() throws {
        let dir = temporaryDirectory()
        let t = try Trainer(solver: try SolverSpec.load(try writeSolver(dir, "debug_info: true", maxIter: 2, testInterval: 0, testIter: 1)),
                            options: TrainOptions(threads: 1))
        var records: [(Int, [DebugRecord])] = []
        try t.run { if case .debugInfo(let i, let r) = $0 { records.append((i, r)) } }
        #expect(records.map(\.0) == [0, 1])
        let last = records[1].1
        func value(_ stage: DebugRecord.Stage, _ layer: String, _ blob: String, _ kind: String) -> Double? {
            last.first { $0.stage == stage && $0.layer == layer && $0.blob == blob && $0.kind == kind }?.value
        }
        #expect(last.filter { $0.stage == .forward }.map(\.layer).contains("loss"))
        // The update lines hold the parameters as they are after the last step.
        let w = t.store["ip2.weight"]!.value.values
        let expected = w.map { Double(abs($0)) }.reduce(0, +) / Double(w.count)
        #expect(abs((value(.update, "ip2", "param 0", "data") ?? -1) - expected) < 1e-6)
        #expect((value(.backward, "ip2", "bottom blob h", "diff") ?? 0) > 0)
        #expect(value(.backward, "ip1", "bottom blob data", "diff") == nil)  // the data takes no gradient
        #expect(value(.forward, "loss", "top blob loss", "data") != nil)
    }
}
