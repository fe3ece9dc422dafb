#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DCore
@testable import DLayers
import Testing

@Suite struct SigmoidLayerTests {
    static let yaml = "{name: sig, type: Sigmoid, bottom: x, top: y}"
    static let steep = "{name: sig, type: Sigmoid, bottom: x, top: y, sigmoid_param: {steepness: 2}}"

    @Test func forwardByHand() throws {
        // σ(0) = 1/2;  σ(ln 3) = 1 / (1 + 1/3) = 3/4;  σ(−ln 3) = 1 / (1 + 3) = 1/4;  σ(2) = 1 / (1 + e^−2) = 0.8807971
        let ln3: Float = 1.0986123  // ln 3
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 2]), [0, ln3, -ln3, 2])])
        #expect(rig.tops[0].shape == Shape([2, 2]))
        #expect(close(try rig.forward()[0], [0.5, 0.75, 0.25, 0.8807971]))
        // dx = dy·y·(1 − y): 1/4, 3/16, 3/16, 0.8807971·0.1192029 = 0.1049936
        rig.backward(topGrad: [[1, 1, 1, 1]])
        #expect(close(rig.bottomGrads[0].values, [0.25, 0.1875, 0.1875, 0.1049936]))
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), randomValues(12, scale: 3))])
        #expect(try checkGradients(rig) == 12)
        try checkAccumulation(rig)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        #expect(try makeLayer(Self.yaml).supportsInPlace)
        let x = randomValues(12, scale: 3), dy = randomValues(12, seed: 12)
        let out = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), x)])
        let inPlace = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
    }

    @Test func steepnessByHand() throws {
        // c = 2: c·x = 0, ln 3, −ln 3, 2, so y is as above: 1/2, 3/4, 1/4, 0.8807971
        let ln3: Float = 1.0986123
        let rig = try LayerRig(try makeLayer(Self.steep), bottoms: [(Shape([2, 2]), [0, ln3 / 2, -ln3 / 2, 1])])
        #expect(close(try rig.forward()[0], [0.5, 0.75, 0.25, 0.8807971]))
        // dx = dy·c·y·(1 − y) = 2·(1/4, 3/16, 3/16, 0.1049936)
        rig.backward(topGrad: [[1, 1, 1, 1]])
        #expect(close(rig.bottomGrads[0].values, [0.5, 0.375, 0.375, 0.2099872]))
    }

    @Test func steepnessOneKeepsTheBits() throws {
        // The plain sigmoid, bit for bit: 1 / (1 + e^−x) as the kernel computes it without a
        // steepness, and dy·y·(1 − y), with the key or without.
        let x = randomValues(40, scale: 6), dy = randomValues(40, seed: 12)
        let plain = Tensor(shape: Shape([40]), values: x)
        ActivationKernel.sigmoidForward(input: plain.view, output: plain.view, steepness: 1, parallel: .serial)
        let expectedY = plain.values
        for yaml in [Self.yaml, "{name: sig, type: Sigmoid, bottom: x, top: y, sigmoid_param: {steepness: 1}}"] {
            let rig = try LayerRig(try makeLayer(yaml), bottoms: [(Shape([40]), x)])
            let y = try rig.forward()[0]
            #expect(y == expectedY)
            rig.backward(topGrad: [dy])
            #expect(rig.bottomGrads[0].values == (0..<40).map { dy[$0] * y[$0] * (1 - y[$0]) })
        }
    }

    @Test func steepnessGradients() throws {
        let rig = try LayerRig(try makeLayer(Self.steep), bottoms: [(Shape([3, 4]), randomValues(12, scale: 1.5))])
        #expect(try checkGradients(rig) == 12)
        try checkAccumulation(rig)
        let inPlace = try LayerRig(try makeLayer(Self.steep), bottoms: [(Shape([3, 4]), randomValues(12, scale: 1.5))], inPlace: true)
        #expect(try checkGradients(inPlace) == 12)
    }

    @Test func configErrors() {
        // Caffe's sigmoid_param has only engine (its own code or cuDNN); Dendrite has one, and rejects
        // the key as it rejects tanh_param.engine.
        #expect(layerError("{name: sig, type: Sigmoid, sigmoid_param: {engine: CAFFE}}")
                == "layer 'sig' (Sigmoid): unknown key 'engine' in sigmoid_param")
        #expect(layerError("{name: sig, type: Sigmoid, sigmoid_param: {steepness: steep}}")
                == "layer 'sig' (Sigmoid): sigmoid_param.steepness: expected a number, found 'steep'")
    }
}
