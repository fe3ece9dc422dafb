import DConfig
import DCore
import DLayers
@testable import DNet
import Testing

/// Nets whose wiring goes through the structure layers (Concat, Slice, Split, Eltwise).
@Suite struct StructureNetTests {
    func setInputs(_ net: Net) {
        net.data(net.blob(named: "data")!).copy(from: (0..<50).map { Float(($0 * 37) % 23) / 11 - 1 })
        net.data(net.blob(named: "label")!).copy(from: [2, 0])
    }

    /// Every parameter gradient against central differences of the net's loss; returns how many were compared.
    func checkNetGradients(_ net: Net, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let step = StepContext(phase: .train)
        net.store.zeroGradients()
        try net.forward(step)
        net.backward(step)
        var compared = 0
        for p in net.store.parameters {
            let analytic = p.grad.values
            for i in 0..<p.shape.count {
                let x = p.value.view[i]
                p.value.view[i] = x + 1e-2
                let plus = try net.forward(step)
                p.value.view[i] = x - 1e-2
                let minus = try net.forward(step)
                p.value.view[i] = x
                let numeric = Float((plus - minus) / 2e-2)
                #expect(abs(numeric - analytic[i]) <= 2e-3 * max(1, abs(numeric), abs(analytic[i])),
                        "\(p.name)[\(i)]: backward \(analytic[i]), finite difference \(numeric)", sourceLocation: sourceLocation)
                compared += 1
            }
        }
        return compared
    }

    /// One plain gradient step lowers the loss.
    func stepLowersLoss(_ net: Net) throws -> Bool {
        let step = StepContext(phase: .train)
        net.store.zeroGradients()
        let before = try net.forward(step)
        net.backward(step)
        for p in net.store.parameters {
            for i in 0..<p.shape.count { p.value.view[i] -= 0.05 * p.grad.view[i] }
        }
        return try net.forward(step) < before
    }

    @Test func concatOfTwoBranches() throws {
        // Two inner products of the image, joined on the channels: [2, 3] and [2, 2] → [2, 5].
        let net = try buildNet("""
            layer:
            \(inputs)
              - {name: ipa, type: InnerProduct, bottom: data, top: a, inner_product_param: {num_output: 3, weight_filler: {type: gaussian, std: 0.3}}}
              - {name: ipb, type: InnerProduct, bottom: data, top: b, inner_product_param: {num_output: 2, weight_filler: {type: gaussian, std: 0.3}}}
              - {name: cat, type: Concat, bottom: [a, b], top: ab}
              - {name: relu, type: ReLU, bottom: ab, top: ab}
              - {name: ip, type: InnerProduct, bottom: ab, top: s, inner_product_param: {num_output: 3, weight_filler: {type: gaussian, std: 0.5}}}
              - {name: loss, type: SoftmaxWithLoss, bottom: [s, label], top: loss}
            """)
        #expect(net.blobs[net.blob(named: "ab")!].shape == Shape([2, 5]))
        setInputs(net)
        #expect(try checkNetGradients(net) == (3 * 25 + 3) + (2 * 25 + 2) + (3 * 5 + 3))
        #expect(try stepLowersLoss(net))
    }

    @Test func sliceFeedingTwoLayers() throws {
        // The flattened image cut at 10: [2, 10] to one inner product, [2, 15] to another; their sum is the score.
        let net = try buildNet("""
            layer:
            \(inputs)
              - {name: flat, type: Flatten, bottom: data, top: flat}
              - {name: slice, type: Slice, bottom: flat, top: [head, tail], slice_param: {slice_point: 10}}
              - {name: iph, type: InnerProduct, bottom: head, top: h, inner_product_param: {num_output: 3, weight_filler: {type: gaussian, std: 0.3}}}
              - {name: ipt, type: InnerProduct, bottom: tail, top: t, inner_product_param: {num_output: 3, weight_filler: {type: gaussian, std: 0.3}}}
              - {name: sum, type: Eltwise, bottom: [h, t], top: s, eltwise_param: {coeff: [1, 0.5]}}
              - {name: loss, type: SoftmaxWithLoss, bottom: [s, label], top: loss}
            """)
        #expect(net.blobs[net.blob(named: "head")!].shape == Shape([2, 10]))
        #expect(net.blobs[net.blob(named: "tail")!].shape == Shape([2, 15]))
        setInputs(net)
        #expect(try checkNetGradients(net) == (3 * 10 + 3) + (3 * 15 + 3))
        #expect(try stepLowersLoss(net))
    }

    /// An explicit Split gives the gradients the net's own fan-out gives (each consumer adding
    /// its part to the blob's gradient), bit for bit.
    @Test func explicitSplitMatchesFanOut() throws {
        func net(split: Bool) throws -> Net {
            try buildNet("""
                layer:
                \(inputs)
                  - {name: ip, type: InnerProduct, bottom: data, top: h, inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 0.3}}}
                \(split ? "  - {name: split, type: Split, bottom: h, top: [h1, h2]}" : "")
                  - {name: ipa, type: InnerProduct, bottom: \(split ? "h1" : "h"), top: a, inner_product_param: {num_output: 3}}
                  - {name: ipb, type: InnerProduct, bottom: \(split ? "h2" : "h"), top: b, inner_product_param: {num_output: 3}}
                  - {name: lossa, type: SoftmaxWithLoss, bottom: [a, label], top: lossa}
                  - {name: lossb, type: SoftmaxWithLoss, bottom: [b, label], top: lossb, loss_weight: 0.5}
                """)
        }
        var grads: [[Float]] = []
        for n in [try net(split: false), try net(split: true)] {
            setInputs(n)
            n.store.zeroGradients()
            try n.forward(StepContext(phase: .train))
            n.backward(StepContext(phase: .train))
            grads.append(n.store.parameters.flatMap(\.grad.values))
        }
        #expect(grads[0].count == (4 * 25 + 4) + 2 * (3 * 4 + 3))
        #expect(grads[0] == grads[1])
        #expect(grads[0].contains { $0 != 0 })
    }

    /// A blob given twice to one layer: the layer writes its first bottom's gradient and adds the second's.
    @Test func sameBlobTwiceInOneLayer() throws {
        let net = try buildNet("""
            layer:
            \(inputs)
              - {name: ip, type: InnerProduct, bottom: data, top: h, inner_product_param: {num_output: 3, weight_filler: {type: gaussian, std: 0.3}}}
              - {name: square, type: Eltwise, bottom: [h, h], top: s, eltwise_param: {operation: PROD}}
              - {name: loss, type: SoftmaxWithLoss, bottom: [s, label], top: loss}
            """)
        setInputs(net)
        #expect(try checkNetGradients(net) == 3 * 25 + 3)
    }

    @Test func arityErrors() {
        let silence = buildError("""
            layer:
            \(inputs)
              - {name: s, type: Silence, bottom: [data, label], top: x}
            """)
        #expect(silence?.message == "layer 's' (Silence): takes 0 tops, found 1")
        let eltwise = buildError("""
            layer:
            \(inputs)
              - {name: e, type: Eltwise, bottom: data, top: x}
            """)
        #expect(eltwise?.message == "layer 'e' (Eltwise): takes 2 or more bottoms, found 1")
    }

    @Test func silenceHidesOutputs() throws {
        let net = try buildNet("""
            layer:
            \(inputs)
              - {name: s, type: Silence, bottom: [data, label]}
            """)
        #expect(net.outputs.isEmpty)
        try net.forward(StepContext(phase: .train))
    }
}
