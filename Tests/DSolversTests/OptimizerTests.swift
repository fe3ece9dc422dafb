import DConfig
import DCore
import DLayers
import DNet
@testable import DSolvers
import Foundation
import Testing

/// Each solver type against its published update rule (Caffe's *_solver.cpp), computed by
/// hand in Double for one parameter of two weights over two steps.
@Suite struct OptimizerRuleTests {
    func optimizer(_ solverText: String) throws -> (Optimizer, Parameter) {
        let spec = try NetSpec(node: try YAML.parse("""
            layer:
              - {name: in, type: Input, top: x, input_param: {shape: {dim: [1, 2]}}}
              - {name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 1, bias_term: false}}
            """, file: "n.yaml"), file: "n.yaml")
        let store = ParameterStore(seed: 1)
        _ = try Net(spec: spec, phase: .train, store: store, context: BuildContext(phase: .train, netFile: "n.yaml", seed: 1))
        let solver = try SolverSpec(node: try YAML.parse("net: n.yaml\nbase_lr: 0.1\nmax_iter: 2\n" + solverText, file: "s.yaml"), file: "s.yaml")
        return (Optimizer(spec: solver, store: store), store.parameters[0])
    }

    let w0: [Double] = [0.5, -1.5]
    let grads: [[Double]] = [[0.2, -0.4], [-0.1, 0.3]]
    let lr = 0.1

    /// Runs two steps with `grads` and compares the weights after each with `expected`.
    func check(_ solverText: String, _ expected: (_ step: Int, _ w: inout [Double], _ state: inout [[Double]]) -> Void,
               tolerance: Float = 2e-6, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (opt, p) = try optimizer(solverText)
        p.value.view.copy(from: w0.map(Float.init))
        var w = w0, state = [[Double]](repeating: [0, 0], count: 2)
        for step in 0..<2 {
            p.grad.view.copy(from: grads[step].map(Float.init))
            #expect(opt.update(rate: lr, iteration: step))
            expected(step, &w, &state)
            for i in 0..<2 {
                #expect(abs(p.value.view[i] - Float(w[i])) <= tolerance * max(1, Float(abs(w[i]))),
                        "step \(step) weight \(i): \(p.value.view[i]) vs \(w[i])", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func sgd() throws {
        try check("type: SGD\nmomentum: 0.9\nweight_decay: 0.01\n") { step, w, s in
            for i in 0..<2 {
                let g = grads[step][i] + 0.01 * w[i]
                s[0][i] = 0.9 * s[0][i] + lr * g
                w[i] -= s[0][i]
            }
        }
    }

    @Test func nesterov() throws {
        try check("type: Nesterov\nmomentum: 0.9\n") { step, w, s in
            for i in 0..<2 {
                let previous = s[0][i]
                s[0][i] = 0.9 * s[0][i] + lr * grads[step][i]
                w[i] -= 1.9 * s[0][i] - 0.9 * previous
            }
        }
    }

    @Test func adaGrad() throws {
        try check("type: AdaGrad\ndelta: 1e-6\n") { step, w, s in
            for i in 0..<2 {
                let g = grads[step][i]
                s[0][i] += g * g
                w[i] -= lr * g / (s[0][i].squareRoot() + 1e-6)
            }
        }
    }

    @Test func rmsProp() throws {
        try check("type: RMSProp\nrms_decay: 0.9\ndelta: 1e-6\n") { step, w, s in
            for i in 0..<2 {
                let g = grads[step][i]
                s[0][i] = 0.9 * s[0][i] + 0.1 * g * g
                w[i] -= lr * g / (s[0][i].squareRoot() + 1e-6)
            }
        }
    }

    @Test func adaDelta() throws {
        try check("type: AdaDelta\nmomentum: 0.95\ndelta: 1e-6\n") { step, w, s in
            for i in 0..<2 {
                let g = grads[step][i]
                s[0][i] = 0.95 * s[0][i] + 0.05 * g * g
                let u = g * ((s[1][i] + 1e-6) / (s[0][i] + 1e-6)).squareRoot()
                s[1][i] = 0.95 * s[1][i] + 0.05 * u * u
                w[i] -= lr * u
            }
        }
    }

    @Test func adam() throws {
        try check("type: Adam\nmomentum: 0.9\nmomentum2: 0.999\ndelta: 1e-8\n") { step, w, s in
            let t = Double(step + 1)
            for i in 0..<2 {
                let g = grads[step][i]
                s[0][i] = 0.9 * s[0][i] + 0.1 * g
                s[1][i] = 0.999 * s[1][i] + 0.001 * g * g
                let mHat = s[0][i] / (1 - pow(0.9, t)), vHat = s[1][i] / (1 - pow(0.999, t))
                w[i] -= lr * mHat / (vHat.squareRoot() + 1e-8)
            }
        }
    }

    @Test func clippingScalesToTheGlobalNorm() throws {
        // ‖(0.2, −0.4)‖ ≈ 0.447 > 0.1: the gradient is scaled by 0.1/0.447 before plain SGD.
        try check("clip_gradients: 0.1\n") { step, w, _ in
            let norm = (grads[step][0] * grads[step][0] + grads[step][1] * grads[step][1]).squareRoot()
            let scale = min(1, 0.1 / norm)
            for i in 0..<2 { w[i] -= lr * grads[step][i] * scale }
        }
    }

    @Test func iterSizeAveragesTheAccumulatedGradients() throws {
        try check("iter_size: 4\n") { step, w, _ in
            for i in 0..<2 { w[i] -= lr * grads[step][i] / 4 }
        }
    }

    @Test func nanGradientIsReported() throws {
        let (opt, p) = try optimizer("")
        p.grad.view.copy(from: [.nan, 0])
        #expect(!opt.update(rate: 0.1, iteration: 0))
        p.grad.view.copy(from: [1, .infinity])
        #expect(!opt.update(rate: 0.1, iteration: 0))
    }

    @Test func adaGradRefusesMomentum() {
        do {
            _ = try SolverSpec(node: try YAML.parse("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\ntype: AdaGrad\nmomentum: 0.9\n", file: "s.yaml"), file: "s.yaml")
            Issue.record("accepted momentum with AdaGrad")
        } catch {
            #expect(error.headline == "s.yaml:5:11: error: solver: momentum: AdaGrad does not use momentum; found 0.9")
        }
    }
}

/// Parameters of at least 32 768 elements are updated in chunks spread over the threads of the
/// `Parallel` passed to `Optimizer.update`: each element's update is the same whatever the split,
/// so every thread count must give the same bits as one thread.
@Suite struct ParallelUpdateTests {
    /// Above the 32 768 (1 << 15) elements from which `Optimizer.update` splits a parameter.
    static let count = 40_000

    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomStream(seed: seed)
        return (0..<count).map { _ in rng.nextUnitFloat() * 2 - 1 }
    }

    static let w0 = Self.values(Self.count, seed: 1)
    static let grads = (0..<3).map { Self.values(Self.count, seed: 10 + UInt64($0)) }
    static let lr = 0.01
    /// Ends of the three chunks of a 3-thread split (13 334, 13 333, 13 333 elements), and a middle one.
    static let probes = [0, 13_333, 13_334, 20_000, 26_666, 26_667, 39_999]

    static let solvers = [
        "type: SGD\nmomentum: 0.9\nweight_decay: 0.01\n",
        "type: Nesterov\nmomentum: 0.9\nweight_decay: 0.01\nregularization_type: L1\niter_size: 2\n",
        "type: AdaGrad\ndelta: 1e-6\n",
        "type: RMSProp\nrms_decay: 0.9\ndelta: 1e-6\n",
        "type: AdaDelta\nmomentum: 0.95\ndelta: 1e-6\n",
        "type: Adam\nmomentum: 0.9\nmomentum2: 0.999\ndelta: 1e-8\nweight_decay: 0.01\n",
    ]

    /// An optimizer over one parameter of `count` elements, the weight [1, count] of an InnerProduct.
    func optimizer(_ solverText: String) throws -> (Optimizer, Parameter) {
        let spec = try NetSpec(node: try YAML.parse("""
            layer:
              - {name: in, type: Input, top: x, input_param: {shape: {dim: [1, \(Self.count)]}}}
              - {name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 1, bias_term: false}}
            """, file: "n.yaml"), file: "n.yaml")
        let store = ParameterStore(seed: 1)
        _ = try Net(spec: spec, phase: .train, store: store, context: BuildContext(phase: .train, netFile: "n.yaml", seed: 1))
        let solver = try SolverSpec(node: try YAML.parse("net: n.yaml\nbase_lr: 0.1\nmax_iter: 3\n" + solverText, file: "s.yaml"), file: "s.yaml")
        let p = try #require(store.parameters.first)
        try #require(p.shape.count == Self.count)
        return (Optimizer(spec: solver, store: store), p)
    }

    /// Three updates from `w0` with `grads`, split over `threads`: the weights and the history after them.
    func run(_ solverText: String, threads: Int) throws -> (weights: [Float], history: [[Float]]) {
        let (opt, p) = try optimizer(solverText)
        p.value.view.copy(from: Self.w0)
        for step in 0..<Self.grads.count {
            p.grad.view.copy(from: Self.grads[step])
            #expect(opt.update(rate: Self.lr, iteration: step, parallel: Parallel(threads: threads)))
        }
        return (p.value.values, opt.history[0].map(\.values))
    }

    /// The first index where `a` and `b` differ in their bits, if any.
    static func firstDifference(_ a: [Float], _ b: [Float]) -> Int? {
        guard a.count == b.count else { return -1 }
        return a.indices.first { a[$0].bitPattern != b[$0].bitPattern }
    }

    // count ≥ 1 << 15: the update is split into min(threads, 256) chunks, run concurrently (300 threads hit the cap).
    @Test(arguments: solvers) func threadsGiveTheSameBits(_ solverText: String) throws {
        let serial = try run(solverText, threads: 1)
        #expect(Self.firstDifference(serial.weights, Self.w0) != nil, "the update changed nothing")
        for threads in [2, 3, 7, 300] {
            let split = try run(solverText, threads: threads)
            #expect(Self.firstDifference(split.weights, serial.weights) == nil, "weights, \(threads) threads")
            #expect(split.history.count == serial.history.count)
            for (h, (a, b)) in zip(split.history, serial.history).enumerated() {
                #expect(Self.firstDifference(a, b) == nil, "history \(h), \(threads) threads")
            }
        }
    }

    // Split over 3 threads (count ≥ 1 << 15), elements at the chunk ends follow Caffe's SGD, in Double.
    @Test func sgdMatchesTheFormula() throws {
        let split = try run(Self.solvers[0], threads: 3)
        for i in Self.probes {
            var w = Double(Self.w0[i]), v = 0.0
            for g in Self.grads {
                v = 0.9 * v + Self.lr * (Double(g[i]) + 0.01 * w)
                w -= v
            }
            #expect(abs(Double(split.weights[i]) - w) <= 2e-6 * max(1, abs(w)), "weight \(i): \(split.weights[i]) vs \(w)")
        }
    }

    // Split over 3 threads (count ≥ 1 << 15), elements at the chunk ends follow Adam (Kingma and Ba's
    // Algorithm 1, with the L2 decay added to the gradient), in Double.
    @Test func adamMatchesTheFormula() throws {
        let split = try run(Self.solvers[5], threads: 3)
        for i in Self.probes {
            var w = Double(Self.w0[i]), m = 0.0, v = 0.0
            for (step, g) in Self.grads.enumerated() {
                let t = Double(step + 1), grad = Double(g[i]) + 0.01 * w
                m = 0.9 * m + 0.1 * grad
                v = 0.999 * v + 0.001 * grad * grad
                let mHat = m / (1 - pow(0.9, t)), vHat = v / (1 - pow(0.999, t))
                w -= Self.lr * mHat / (vHat.squareRoot() + 1e-8)
            }
            #expect(abs(Double(split.weights[i]) - w) <= 2e-6 * max(1, abs(w)), "weight \(i): \(split.weights[i]) vs \(w)")
        }
    }

    // Split over 3 threads (count ≥ 1 << 15): a NaN or infinite gradient in any one chunk is reported, and
    // each update starts with clean per-chunk flags.
    @Test func nonFiniteGradientInAnyChunkIsReported() throws {
        let (opt, p) = try optimizer("type: SGD\nmomentum: 0.9\n")
        let bad: [(index: Int, value: Float)] = [(0, .nan), (20_000, .infinity), (39_999, -.infinity)]
        for (index, value) in bad {
            var g = Self.grads[0]
            g[index] = value
            p.grad.view.copy(from: g)
            #expect(!opt.update(rate: Self.lr, iteration: 0, parallel: Parallel(threads: 3)), "\(value) at \(index)")
        }
        p.grad.view.copy(from: Self.grads[0])
        #expect(opt.update(rate: Self.lr, iteration: 1, parallel: Parallel(threads: 3)))
    }
}

/// SGD with L2 decay runs in one SIMD pass that also checks the gradients: every element gets
/// the bits of the formula computed element by element in Float, for every tail length, and a
/// NaN or infinity in the vector part or in the tail is reported.
@Suite struct FusedSGDTests {
    @Test(arguments: [1, 7, 8, 9, 16, 37]) func bitsOfTheFormula(count: Int) {
        let (mu, rate, decay): (Float, Float, Float) = (0.9, 0.05, 5e-4)
        let w0 = (0..<count).map { Float($0 % 11) * 0.37 - 1.2 }, g = (0..<count).map { Float($0 % 5) * -0.21 + 0.3 }
        let v0 = (0..<count).map { Float($0 % 3) * 0.01 }
        var w = w0, v = v0
        for i in 0..<count {
            v[i] = mu * v[i] + rate * (g[i] + decay * w[i])
            w[i] -= v[i]
        }
        let weights = Tensor(shape: Shape([count])), grads = Tensor(shape: Shape([count])), history = Tensor(shape: Shape([count]))
        weights.view.copy(from: w0); grads.view.copy(from: g); history.view.copy(from: v0)
        #expect(OptimizerKernel.update(.sgd(momentum: mu), weights: weights.view, grads: grads.view, history: [history.view], rate: rate, decay: decay, l1: false))
        #expect(weights.values.map(\.bitPattern) == w.map(\.bitPattern))
        #expect(history.values.map(\.bitPattern) == v.map(\.bitPattern))
        for bad in [Float.nan, .infinity, -.infinity] {
            for index in Set([0, count / 2, count - 1]) {
                var gb = g
                gb[index] = bad
                grads.view.copy(from: gb)
                #expect(!OptimizerKernel.update(.sgd(momentum: mu), weights: weights.view, grads: grads.view, history: [history.view], rate: rate, decay: decay, l1: false),
                        "\(bad) at \(index) of \(count)")
            }
        }
    }
}

@Suite struct ScheduleTests {
    func spec(_ text: String) throws -> SolverSpec {
        try SolverSpec(node: try YAML.parse("net: n.yaml\nbase_lr: 0.1\n" + text, file: "s.yaml"), file: "s.yaml")
    }

    @Test func warmupRisesLinearly() throws {
        let s = try spec("max_iter: 100\nwarmup_iter: 10\n")
        #expect(abs(s.learningRate(iteration: 0, maxIter: 100, reductions: 0) - 0.01) < 1e-12)
        #expect(abs(s.learningRate(iteration: 4, maxIter: 100, reductions: 0) - 0.05) < 1e-12)
        #expect(s.learningRate(iteration: 10, maxIter: 100, reductions: 0) == 0.1)
    }

    @Test func cosineAndPlateau() throws {
        let c = try spec("max_iter: 100\nlr_policy: cosine\n")
        #expect(c.learningRate(iteration: 0, maxIter: 100, reductions: 0) == 0.1)
        #expect(abs(c.learningRate(iteration: 50, maxIter: 100, reductions: 0) - 0.05) < 1e-12)
        #expect(abs(c.learningRate(iteration: 100, maxIter: 100, reductions: 0)) < 1e-12)
        let p = try spec("max_iter: 100\nlr_policy: plateau\ngamma: 0.5\nplateau: {metric: loss, patience: 2}\ntest_iter: 1\ntest_interval: 10\n")
        #expect(p.learningRate(iteration: 7, maxIter: 100, reductions: 2) == 0.025)
    }

    @Test func testIterAllAndMaxEpoch() throws {
        let s = try spec("max_epoch: 2.5\ntest_iter: all\ntest_interval: 100\n")
        #expect(s.testIter == [.all])
        #expect(s.maxEpoch == 2.5 && s.maxIter == nil)
        #expect(throws: ConfigError.self) { try spec("max_epoch: 2\nmax_iter: 10\n") }
        #expect(throws: ConfigError.self) { try spec("max_iter: 10\ntest_iter: most\ntest_interval: 5\n") }
    }
}
