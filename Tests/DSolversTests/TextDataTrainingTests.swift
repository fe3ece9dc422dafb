import DConfig
import DCore
import DLayers
@testable import DSolvers
import Foundation
import Testing

/// A net reading TextData through the trainer: epochs count characters, a test pass covers
/// the TEST split once from its first step, and the data step is restored with a solver state.
@Suite struct TextDataTrainingTests {
    func trainer(_ dir: String) throws -> Trainer {
        try "abcdefghijklmnopqrst".write(toFile: dir + "/text.txt", atomically: true, encoding: .utf8)
        // data − label is −1 at every position, so EuclideanLoss is T·N / (2·T) = N/2 = 1.
        let net = """
            name: chars
            layer:
              - {name: text, type: TextData, top: [data, label], include: {phase: TRAIN}, text_data_param: {source: text.txt, batch_size: 2, seq_length: 3, test_fraction: 0.25, shuffle: true}}
              - {name: text, type: TextData, top: [data, label], include: {phase: TEST}, text_data_param: {source: text.txt, batch_size: 2, seq_length: 2, test_fraction: 0.25}}
              - {name: loss, type: EuclideanLoss, bottom: [data, label], top: loss}
            """
        try net.write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
        let solver = "net: net.yaml\nbase_lr: 0.1\nmax_epoch: 3\ntest_iter: all\ntest_interval: 100\nrandom_seed: 5\nsnapshot_prefix: out/c\n"
        try solver.write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
        return try Trainer(solver: try SolverSpec.load(dir + "/solver.yaml"), options: TrainOptions())
    }

    /// Stopped after 4 iterations (step 12: epoch 1, position 5), a resumed run's stream continues there.
    @Test func theStepIsPartOfTheSolverState() throws {
        let dir = temporaryDirectory()
        let first = try trainer(dir)
        var requests = 0
        try first.run(control: { requests += 1; return requests == 4 ? .stop : .proceed }) { _ in }
        #expect(first.iteration == 4 && first.trainNet.textDataLayers[0].step == 12)
        let resumed = try Trainer(solver: try SolverSpec.load(dir + "/solver.yaml"), options: TrainOptions())
        _ = try resumed.resume(from: dir + "/out/c_iter_4.solverstate")
        #expect(resumed.trainNet.textDataLayers[0].cursor == (1, 5) && resumed.trainNet.textDataLayers[0].step == 12)
    }

    @Test func epochsAndTestPassesCountCharacters() throws {
        let t = try trainer(temporaryDirectory())
        // TRAIN: a…o, 2 streams of 7 pairs: 14 samples an epoch, 6 a batch; 3 epochs = ⌈42/6⌉ = 7 iterations.
        #expect(t.epochSamples == 14 && t.iterationSamples == 6 && t.maxIter == 7)
        // TEST: p…t, 2 streams of 2 pairs: one batch of 2 × 2.
        for _ in 0..<2 {
            let r = try t.test(0)
            #expect(r.evaluation.batches == 1 && r.evaluation.samples == 4 && r.evaluation.value("loss") == 1)
        }
        let text = try #require(t.trainNet.textDataLayers.first)
        for _ in 0..<3 { #expect(try t.trainStep() == 1) }
        #expect(text.step == 9 && text.cursor == (1, 2))
    }
}
