import DConfig
import DCore
import DLayers
import DNet
@testable import DSolvers
import Foundation
import Testing

@Suite struct LearningRateTests {
    @Test func caffeFormulasAtChosenIterations() {
        let base = 0.01
        #expect(LRPolicy.fixed.rate(base: base, iteration: 123, maxIter: 1000) == 0.01)
        // step: 0.01 · 0.1^floor(250 / 100) = 0.0001
        #expect(abs(LRPolicy.step(gamma: 0.1, stepsize: 100).rate(base: base, iteration: 250, maxIter: 0) - 0.0001) < 1e-15)
        #expect(LRPolicy.step(gamma: 0.1, stepsize: 100).rate(base: base, iteration: 99, maxIter: 0) == 0.01)
        // multistep [100, 300]: at 100 one step, at 299 still one, at 300 two
        let ms = LRPolicy.multistep(gamma: 0.5, stepvalues: [100, 300])
        #expect([99, 100, 299, 300].map { ms.rate(base: 1, iteration: $0, maxIter: 0) } == [1, 0.5, 0.5, 0.25])
        // exp: 0.01 · 0.99^10
        #expect(abs(LRPolicy.exp(gamma: 0.99).rate(base: base, iteration: 10, maxIter: 0) - 0.01 * 0.9043820750088043) < 1e-15)
        // inv (Caffe's LeNet): 0.01 · (1 + 1e-4 · 10000)^−0.75 = 0.01 · 2^−0.75 = 0.005946035575013605
        #expect(abs(LRPolicy.inv(gamma: 1e-4, power: 0.75).rate(base: base, iteration: 10000, maxIter: 0) - 0.005946035575013605) < 1e-15)
        // poly: 0.01 · (1 − 250/1000)^2 = 0.005625
        #expect(abs(LRPolicy.poly(power: 2).rate(base: base, iteration: 250, maxIter: 1000) - 0.005625) < 1e-15)
        // sigmoid at the step: half the base rate
        #expect(LRPolicy.sigmoid(gamma: 0.05, stepsize: 200).rate(base: base, iteration: 200, maxIter: 0) == 0.005)
    }
}

@Suite struct SGDTests {
    func store(lrMult: Float, decayMult: Float) throws -> (ParameterStore, Parameter) {
        let spec = try NetSpec(node: try YAML.parse("""
            layer:
              - {name: in, type: Input, top: x, input_param: {shape: {dim: [1, 2]}}}
              - {name: ip, type: InnerProduct, bottom: x, top: y, param: [{lr_mult: \(lrMult), decay_mult: \(decayMult)}], inner_product_param: {num_output: 1, bias_term: false}}
            """, file: "n.yaml"), file: "n.yaml")
        let store = ParameterStore(seed: 1)
        _ = try Net(spec: spec, phase: .train, store: store, context: BuildContext(phase: .train, netFile: "n.yaml", seed: 1))
        return (store, store.parameters[0])
    }

    func solver(_ extra: String) throws -> SolverSpec {
        try SolverSpec(node: try YAML.parse("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\n" + extra, file: "s.yaml"), file: "s.yaml")
    }

    /// Two steps of Caffe's update, computed by hand:
    /// g = ∇ + λ·dm·w;  v ← μ·v + lr·lm·g;  w ← w − v   (λ = 0.01, dm = 2, μ = 0.9, lr = 0.1, lm = 0.5)
    @Test func momentumAndL2MatchTheFormula() throws {
        let (store, p) = try store(lrMult: 0.5, decayMult: 2)
        let sgd = Optimizer(spec: try solver("momentum: 0.9\nweight_decay: 0.01\n"), store: store)
        p.value.view.copy(from: [1, -2])
        p.grad.view.copy(from: [0.5, 0.25])
        _ = sgd.update(rate: 0.1, iteration: 0)
        // g = [0.5 + 0.02·1, 0.25 + 0.02·(−2)] = [0.52, 0.21];  v = 0.05·g = [0.026, 0.0105]
        #expect(close(p.value.values, [0.974, -2.0105]))
        #expect(close(sgd.history[0][0].values, [0.026, 0.0105]))
        p.grad.view.copy(from: [0, 0])
        _ = sgd.update(rate: 0.1, iteration: 0)
        // g = 0.02·w = [0.01948, −0.04021];  v = 0.9·v + 0.05·g = [0.024374, 0.0074395]
        #expect(close(sgd.history[0][0].values, [0.024374, 0.0074395]))
        #expect(close(p.value.values, [0.974 - 0.024374, -2.0105 - 0.0074395]))
    }

    @Test func l1AddsTheSignOfTheWeight() throws {
        let (store, p) = try store(lrMult: 1, decayMult: 1)
        let sgd = Optimizer(spec: try solver("weight_decay: 0.1\nregularization_type: L1\n"), store: store)
        p.value.view.copy(from: [3, -0.5])
        p.grad.view.copy(from: [0, 0])
        _ = sgd.update(rate: 0.1, iteration: 0)
        // w − 0.1·0.1·sign(w)
        #expect(close(p.value.values, [2.99, -0.49]))
    }

    @Test func frozenParameterIsNotUpdated() throws {
        let (store, p) = try store(lrMult: 0, decayMult: 1)
        let sgd = Optimizer(spec: try solver("momentum: 0.9\nweight_decay: 0.1\n"), store: store)
        p.value.view.copy(from: [1, 2])
        p.grad.view.copy(from: [5, 5])
        _ = sgd.update(rate: 0.1, iteration: 0)
        #expect(p.value.values == [1, 2])
    }
}

func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-6) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
}

@Suite(.serialized) struct TrainerTests {
    func losses(_ solverPath: String, threads: Int) throws -> [Double] {
        let trainer = try Trainer(solver: try SolverSpec.load(solverPath), options: TrainOptions(threads: threads))
        return try (0..<40).map { _ in try trainer.trainStep() }
    }

    @Test func sameSeedSameLossTrace() throws {
        let path = try writeSolver(temporaryDirectory())
        let a = try losses(path, threads: 1), b = try losses(path, threads: 1)
        #expect(a == b)
        #expect(try losses(path, threads: 2) == losses(path, threads: 2))
    }

    @Test func anotherSeedAnotherTrace() throws {
        let dir = temporaryDirectory()
        let a = try losses(try writeSolver(dir), threads: 1)
        var text = try String(contentsOfFile: dir + "/solver.yaml", encoding: .utf8)
        text = text.replacingOccurrences(of: "random_seed: 7", with: "random_seed: 8")
        try text.write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
        #expect(try losses(dir + "/solver.yaml", threads: 1) != a)
    }

    @Test func learnsTheTwoClassProblem() throws {
        let dir = temporaryDirectory()
        let path = try writeSolver(dir)
        let trainer = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: 2))
        var tests: [Double] = [], snapshots: [String] = []
        try trainer.run { event in
            if case .test(let t) = event { tests.append(t.evaluation.value("accuracy") ?? -1) }
            if case .snapshot(let weights, _, _) = event { snapshots.append(weights) }
        }
        #expect(tests.count == 4)  // iterations 0, 20, 40 and the end
        #expect(tests.last == 1)
        #expect(snapshots == [dir + "/out/tiny_iter_60.safetensors"])  // snapshot: 0 writes only the final one
        #expect(FileManager.default.fileExists(atPath: snapshots[0]))
    }

    @Test func layerTimesCarryEachLayersFlops() throws {
        // The 4×4 two-class images (batch 8) upsampled by a Deconvolution (2 outputs, kernel 2, stride 2) to
        // 8×2×8×8, then ELU. Deconvolution: 2·C·(OC/G)·kh·kw·H·W·N = 2·1·2·4·16·8 = 2 048 forward, and
        // as it reads the data, whose gradient nobody needs, only the weight gradient's 2 048 backward;
        // ELU over 1 024 values: 3 per value each way; ip1 (128 → 6, batch 8): 2·8·128·6 = 12 288
        // forward, twice that backward, as its bottom needs a gradient. The counts are checked, and
        // that the timed parts fit in the step, never how long anything took.
        let net = twoClassNet.replacingOccurrences(of: "  - {name: ip1, type: InnerProduct, bottom: data, top: h, inner_product_param: {num_output: 6}}\n  - {name: relu, type: ReLU, bottom: h, top: h}",
                                                   with: "  - {name: up, type: Deconvolution, bottom: data, top: u, convolution_param: {num_output: 2, kernel_size: 2, stride: 2}}\n"
                                                       + "  - {name: elu, type: ELU, bottom: u, top: u}\n"
                                                       + "  - {name: ip1, type: InnerProduct, bottom: u, top: h, inner_product_param: {num_output: 6}}")
        #expect(net != twoClassNet)
        let path = try writeSolver(temporaryDirectory(), net: net)
        let trainer = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: 1))
        let timing = try trainer.timeLayers(iterations: 1, windows: 1, warmup: 0)
        let layers = timing.layers
        // One window of one step: the layers, the zeroing and the update are parts of that step.
        let parts = layers.reduce(0) { $0 + $1.forwardMs + $1.backwardMs } + timing.zeroingMs + timing.updateMs
        #expect(timing.zeroingMs > 0 && timing.updateMs > 0 && parts <= timing.stepMs)
        let up = try #require(layers.first { $0.name == "up" }), elu = try #require(layers.first { $0.name == "elu" })
        #expect((up.forwardFlops, up.backwardFlops) == (2048, 2048))
        #expect((elu.forwardFlops, elu.backwardFlops) == (3072, 3072))
        let ip1 = try #require(layers.first { $0.name == "ip1" })
        #expect((ip1.forwardFlops, ip1.backwardFlops) == (12288, 24576))
        // The data layer runs no backward, and counts none.
        #expect(layers.first { $0.name == "data" }.map { ($0.forwardFlops, $0.backwardFlops) } ?? (-1, -1) == (0, 0))
    }

    @Test func wholeDatasetEvaluationCoversEachSampleOnce() throws {
        let path = try writeSolver(temporaryDirectory())
        let trainer = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: 1))
        let net = trainer.testNets[0]  // 40 samples in batches of 16: 16, 16 and 8
        let e = try Evaluator.wholeDataset(net, step: StepContext(phase: .test))
        #expect(e.samples == 40 && e.batches == 3)
        #expect(net.batchSize == 16)
        let again = try Evaluator.wholeDataset(net, step: StepContext(phase: .test))
        #expect(e.outputs.map(\.value) == again.outputs.map(\.value))
    }
}

/// The shipped XOR example: one hidden layer learns all four points; without it, a perceptron
/// cannot, because no straight line separates XOR's classes.
@Suite struct XORExampleTests {
    static let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Configs/xor").path

    /// Trains for the solver's max_iter (no snapshot) and returns the test accuracy.
    func accuracy(_ solver: String) throws -> Double {
        let trainer = try Trainer(solver: try SolverSpec.load(Self.configs + "/" + solver), options: TrainOptions(threads: 1))
        for _ in 0..<trainer.maxIter { _ = try trainer.trainStep() }
        return try #require(try trainer.test(0).evaluation.value("accuracy"))
    }

    @Test func hiddenLayerLearnsXOR() throws {
        #expect(try accuracy("solver.yaml") == 1)
    }

    @Test func perceptronCannot() throws {
        #expect(try accuracy("perceptron-solver.yaml") <= 0.75)
    }
}
