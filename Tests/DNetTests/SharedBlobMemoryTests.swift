import DConfig
import DCore
import DLayers
@testable import DNet
import Testing

/// A train net built with `sharesBlobMemory` gives gradients and the data no backward reads to
/// other blobs once they are used (`Net.blobLayout`): the same bits as a net that keeps them all,
/// in less memory.
@Suite struct SharedBlobMemoryTests {
    func build(_ yaml: String, phase: Phase = .train, shared: Bool) throws -> Net {
        let spec = try NetSpec(node: try YAML.parse(yaml, file: "net.yaml"), file: "net.yaml")
        return try Net(spec: spec, phase: phase, store: ParameterStore(seed: 5),
                       context: BuildContext(phase: phase, netFile: "net.yaml", seed: 5), sharesBlobMemory: shared)
    }

    /// Every way a gradient is seeded, written, added to or read: a convolution and an inner
    /// product whose tops only a Sigmoid and a TanH read (their data is reused), an in-place
    /// ReLU, a blob read by two layers (its gradient added), an Eltwise, a loss weight on an
    /// inner layer's top and a gradient for the input (force_backward).
    static let net = """
        name: shared
        force_backward: true
        layer:
          - {name: data, type: DummyData, top: [data, label], dummy_data_param: {shape: [{dim: [4, 2, 6, 6]}, {dim: [4]}], data_filler: [{type: gaussian, std: 1}, {type: constant, value: 2}]}}
          - {name: conv, type: Convolution, bottom: data, top: conv, convolution_param: {num_output: 3, kernel_size: 3, weight_filler: {type: xavier}, bias_filler: {type: gaussian, std: 0.1}}}
          - {name: convs, type: Sigmoid, bottom: conv, top: convs}
          - {name: ip1, type: InnerProduct, bottom: convs, top: ip1, inner_product_param: {num_output: 8, weight_filler: {type: xavier}}}
          - {name: t1, type: TanH, bottom: ip1, top: t1}
          - {name: aux, type: InnerProduct, bottom: t1, top: aux, loss_weight: 0.5, inner_product_param: {num_output: 1, weight_filler: {type: xavier}}}
          - {name: ip2, type: InnerProduct, bottom: t1, top: ip2, inner_product_param: {num_output: 8, weight_filler: {type: xavier}}}
          - {name: r2, type: ReLU, bottom: ip2, top: ip2}
          - {name: ip3a, type: InnerProduct, bottom: ip2, top: ip3a, inner_product_param: {num_output: 5, weight_filler: {type: xavier}}}
          - {name: ip3b, type: InnerProduct, bottom: ip2, top: ip3b, inner_product_param: {num_output: 5, weight_filler: {type: xavier}}}
          - {name: sum, type: Eltwise, bottom: [ip3a, ip3b], top: sum}
          - {name: s, type: Sigmoid, bottom: sum, top: s}
          - {name: ip4, type: InnerProduct, bottom: s, top: ip4, inner_product_param: {num_output: 3, weight_filler: {type: xavier}}}
          - {name: loss, type: SoftmaxWithLoss, bottom: [ip4, label], top: loss}
        """

    /// Three steps of plain SGD: each step's loss and parameter gradients, the input's gradient
    /// (if it has one) and the weights after, as bits.
    func train(_ net: Net) throws -> (losses: [UInt64], grads: [[UInt32]], input: [UInt32], weights: [UInt32]) {
        let step = StepContext(phase: .train)
        var losses: [UInt64] = [], grads: [[UInt32]] = []
        for _ in 0..<3 {
            net.store.zeroGradients()
            losses.append(try net.forward(step).bitPattern)
            net.backward(step)
            grads.append(net.store.parameters.flatMap(\.grad.values).map(\.bitPattern))
            for p in net.store.parameters {
                p.value.view.copy(from: zip(p.value.values, p.grad.values).map { $0 - 0.1 * $1 })
            }
        }
        let input = net.blob(named: "data").flatMap(net.grad)?.toArray() ?? []
        return (losses, grads, input.map(\.bitPattern), net.store.parameters.flatMap(\.value.values).map(\.bitPattern))
    }

    @Test func trainingGivesTheSameBitsInLessMemory() throws {
        let shared = try build(Self.net, shared: true), apart = try build(Self.net, shared: false)
        let (a, b) = (try train(shared), try train(apart))
        #expect(a.losses == b.losses)
        #expect(a.grads == b.grads)
        #expect(!a.input.isEmpty && a.input == b.input, "the input's gradient is never overwritten")
        #expect(a.weights == b.weights)
        #expect(shared.activationBytes < apart.activationBytes)

        let blob = { (name: String) in try #require(shared.blobs.firstIndex { $0.name == name }) }
        // Read in backward, so kept: the input, what an InnerProduct or Convolution reads, the
        // Sigmoid's and TanH's outputs, the in-place ReLU's slot, the weighted and the final loss.
        for name in ["data", "convs", "t1", "ip2", "ip3a", "sum", "s", "aux", "loss"] {
            #expect(shared.holdsData(try blob(name)), "\(name)")
        }
        #expect(shared.holdsGradient(try blob("data")))
        #expect(shared.firstNonFiniteOutput() == nil && shared.firstNonFiniteGradient() == nil)
        // Apart, everything is kept.
        #expect(apart.blobs.indices.allSatisfy { apart.holdsData($0) && (apart.grad($0) == nil || apart.holdsGradient($0)) })
    }

    /// A chain, by hand: input [4, 16] → ip1 [4, 16] → s1 → ip2 [4, 16] → s2 → ip3 [4, 8] →
    /// EuclideanLoss. Apart: ip1's and ip2's data (64 floats each, read by no backward) and the
    /// gradients of ip1, s1, ip2, s2 (64 each), ip3 (32) and the loss (1, padded to 16): 432
    /// floats. Shared: ip1's and ip2's data one after the other, and backward needs two 64-float
    /// gradients at once (the top's and the bottom's of the layer running): 128 floats.
    @Test func aChainNeedsItsTwoLargestGradientsAtOnce() throws {
        let chain = """
            layer:
              - {name: data, type: DummyData, top: [data, target], dummy_data_param: {shape: [{dim: [4, 16]}, {dim: [4, 8]}], data_filler: [{type: gaussian, std: 1}]}}
              - {name: ip1, type: InnerProduct, bottom: data, top: ip1, inner_product_param: {num_output: 16, weight_filler: {type: xavier}}}
              - {name: s1, type: Sigmoid, bottom: ip1, top: s1}
              - {name: ip2, type: InnerProduct, bottom: s1, top: ip2, inner_product_param: {num_output: 16, weight_filler: {type: xavier}}}
              - {name: s2, type: Sigmoid, bottom: ip2, top: s2}
              - {name: ip3, type: InnerProduct, bottom: s2, top: ip3, inner_product_param: {num_output: 8, weight_filler: {type: xavier}}}
              - {name: loss, type: EuclideanLoss, bottom: [ip3, target], top: loss}
            """
        let shared = try build(chain, shared: true), apart = try build(chain, shared: false)
        #expect(apart.activationBytes - shared.activationBytes == 4 * (432 - 128))
        let (a, b) = (try train(shared), try train(apart))
        #expect(a.losses == b.losses && a.grads == b.grads && a.weights == b.weights)
        let ip1 = try #require(shared.blob(named: "ip1")), ip2 = try #require(shared.blob(named: "ip2"))
        #expect(!shared.holdsData(ip1) && !shared.holdsData(ip2), "their memory went to gradients")
    }

    /// Only a train net shares: a test net keeps every blob, which dtest may read after forward.
    @Test func aTestNetKeepsEveryBlob() throws {
        let test = try build(Self.net, phase: .test, shared: true), plain = try build(Self.net, phase: .test, shared: false)
        #expect(test.activationBytes == plain.activationBytes)
        #expect(test.blobs.indices.allSatisfy(test.holdsData))
    }
}
