import DConfig
import DCore
import DLayers
@testable import DNet
import Foundation
import Testing

/// Caffe's net vocabulary beyond phases: stages and levels in include/exclude rules, the net's
/// own `state`, `propagate_down`, `force_backward` and the legacy `input` fields.
@Suite struct NetStateTests {
    func layerNames(_ yaml: String, _ state: NetState) throws -> [String] {
        let spec = try NetSpec(node: try YAML.parse(yaml, file: "net.yaml"), file: "net.yaml")
        return spec.layers.filter { $0.isIncluded(in: state) }.map(\.name)
    }

    @Test func rulesMatchPhaseStagesAndLevels() throws {
        let yaml = """
            layer:
              - {name: always, type: ReLU}
              - {name: onTrainData, type: ReLU, include: {phase: TEST, stage: test-on-train}}
              - {name: onTestData, type: ReLU, include: {phase: TEST, stage: test-on-test}}
              - {name: deep, type: ReLU, include: {min_level: 2}}
              - {name: shallow, type: ReLU, include: {max_level: 0}}
              - {name: notDeploy, type: ReLU, exclude: {stage: deploy}}
              - {name: both, type: ReLU, include: [{stage: a, not_stage: b}, {phase: TRAIN}]}
            """
        #expect(try layerNames(yaml, NetState(phase: .train)) == ["always", "shallow", "notDeploy", "both"])
        #expect(try layerNames(yaml, NetState(phase: .test, stages: ["test-on-train"])) == ["always", "onTrainData", "shallow", "notDeploy"])
        #expect(try layerNames(yaml, NetState(phase: .test, level: 3, stages: ["test-on-test", "deploy", "a"])) == ["always", "onTestData", "deep", "both"])
        #expect(try layerNames(yaml, NetState(phase: .test, stages: ["a", "b"])) == ["always", "shallow", "notDeploy"])
    }

    @Test func theNetsStateAddsToTheSolvers() throws {
        let spec = try NetSpec(node: try YAML.parse("state: {level: 1, stage: [x]}\nlayer: [{name: a, type: ReLU}]", file: "n.yaml"), file: "n.yaml")
        #expect(spec.state(.test) == NetState(phase: .test, level: 1, stages: ["x"]))
        #expect(spec.state(.test, adding: NetStateAddition(level: 4, stages: ["y"])) == NetState(phase: .test, level: 4, stages: ["x", "y"]))
        #expect(spec.state(.train, adding: NetStateAddition(stages: ["y"])) == NetState(phase: .train, level: 1, stages: ["x", "y"]))
    }

    @Test func propagateDownAndForceBackward() throws {
        // x feeds an InnerProduct; with propagate_down: [false] no gradient reaches x … 
        let base = """
            layer:
              - {name: in, type: Input, top: [x, t], input_param: {shape: [{dim: [2, 3]}, {dim: [2, 2]}]}}
              - {name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 2}}
              - {name: loss, type: EuclideanLoss, bottom: [y, t], top: loss}
            """
        let plain = try buildNet(base)
        #expect(plain.grad(plain.blob(named: "x")!) == nil)  // inputs lead to nothing learned
        let forced = try buildNet("force_backward: true\n" + base)
        #expect(forced.grad(forced.blob(named: "x")!) != nil)
        #expect(forced.grad(forced.blob(named: "t")!) != nil)
        let stopped = try buildNet("force_backward: true\n" + base.replacingOccurrences(of: "bottom: [y, t], top: loss}", with: "bottom: [y, t], top: loss, propagate_down: [true, false]}"))
        #expect(stopped.grad(stopped.blob(named: "x")!) != nil && stopped.grad(stopped.blob(named: "t")!) == nil)
        // … and the gradient forced onto x is the true one: d loss / dx = Wᵀ(y − t)/N.
        forced.data(forced.blob(named: "x")!).copy(from: [1, 2, 3, -1, 0, 1])
        forced.data(forced.blob(named: "t")!).copy(from: [0, 1, 1, 0])
        forced.store.zeroGradients()
        try forced.forward(StepContext(phase: .train))
        forced.backward(StepContext(phase: .train))
        let w = forced.store["ip.weight"]!.value.values, y = forced.data(forced.blob(named: "y")!).toArray()
        let d = [y[0] - 0, y[1] - 1, y[2] - 1, y[3] - 0].map { $0 / 2 }
        var expected: [Float] = []
        for n in 0..<2 {
            for k in 0..<3 { expected.append(d[2 * n] * w[k] + d[2 * n + 1] * w[3 + k]) }
        }
        #expect(zip(forced.grad(forced.blob(named: "x")!)!.toArray(), expected).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(buildError("layer: [{name: r, type: ReLU, bottom: x, top: x, propagate_down: [true, false]}]")?.message.contains("propagate_down: gives 2 values for 1 bottom") == true)
    }

    @Test func legacyInputsBecomeAnInputLayer() throws {
        let shaped = try buildNet("input: [data]\ninput_shape: [{dim: [1, 3, 4, 4]}]\nlayer: [{name: r, type: ReLU, bottom: data, top: y}]", phase: .test)
        #expect(shaped.nodes.first?.type == "Input" && shaped.blobs[shaped.blob(named: "data")!].shape == Shape([1, 3, 4, 4]))
        let dims = try buildNet("input: [a, b]\ninput_dim: [1, 1, 2, 2, 5, 1, 1, 1]\nlayer: [{name: r, type: ReLU, bottom: a, top: y}]", phase: .test)
        #expect(dims.blobs[dims.blob(named: "b")!].shape == Shape([5, 1, 1, 1]))
        #expect(buildError("input: [a]\ninput_dim: [1, 2]\nlayer: [{name: r, type: ReLU, bottom: a, top: y}]")?.message.contains("input_dim takes four per input") == true)
        #expect(buildError("input_shape: [{dim: [1]}]\nlayer: [{name: r, type: ReLU, bottom: a, top: y}]")?.message.contains("gives shapes but no input names") == true)
    }
}
