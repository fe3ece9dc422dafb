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
        } catch let e as ConfigError {
            #expect(e.headline == "s.yaml:5:11: error: solver: momentum: AdaGrad does not use momentum; found 0.9")
        } catch { Issue.record("\(error)") }
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
