#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DCore
@testable import DLayers
import Testing

@Suite struct BNLLLayerTests {
    static let yaml = "{name: bnll, type: BNLL, bottom: x, top: y}"

    @Test func forwardByHand() throws {
        // log(1 + eˣ): x = 0 → ln 2 = 0.6931472;  ln 3 → ln 4 = 1.3862944;  −ln 3 → ln 4/3 = 0.2876821;
        // 2 → 2 + ln(1 + e⁻²) = 2.1269280;  −30 → ≈ e⁻³⁰ = 9.357623e−14;  100 → 100 (e¹⁰⁰ would overflow a Float)
        let ln3: Float = 1.0986123
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([2, 3]), [0, ln3, -ln3, 2, -30, 100])])
        let y = try rig.forward()[0]
        #expect(close(y, [0.6931472, 1.3862944, 0.2876821, 2.1269280, 0, 100]))
        #expect(abs(y[4] - 9.357623e-14) < 1e-19)
        // dx = dy·σ(x): 1/2, 3/4, 1/4, 0.8807971, 9.357623e−14, 1
        rig.backward(topGrad: [[1, 1, 1, 1, 1, 1]])
        let dx = rig.bottomGrads[0].values
        #expect(close(dx, [0.5, 0.75, 0.25, 0.8807971, 0, 1]))
        #expect(abs(dx[4] - 9.357623e-14) < 1e-19)  // relative accuracy where σ is tiny
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), randomValues(12, scale: 4))])
        #expect(try checkGradients(rig) == 12)
        try checkAccumulation(rig)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        #expect(try makeLayer(Self.yaml).supportsInPlace)
        let x = randomValues(12, scale: 4), dy = randomValues(12, seed: 12)
        let out = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), x)])
        let inPlace = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([3, 4]), x)], inPlace: true)
        #expect(inPlace.tops[0].view.base == inPlace.bottoms[0].view.base)
        let y = try out.forward()[0]
        #expect(try inPlace.forward()[0] == y)
        out.backward(topGrad: [dy])
        inPlace.backward(topGrad: [dy])
        #expect(inPlace.bottomGrads[0].values == out.bottomGrads[0].values)
        // and the gradient from the top is σ(x) computed from x, to rounding
        let sigma = x.map { 1 / (1 + exp(-$0)) }
        #expect(close(out.bottomGrads[0].values, zip(dy, sigma).map { $0 * $1 }))
    }

    @Test func configErrors() {
        #expect(layerError("{name: bnll, type: BNLL, bnll_param: {}}")
                == "layer 'bnll' (BNLL): unknown key 'bnll_param'")
    }
}
