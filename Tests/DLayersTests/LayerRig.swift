import DConfig
import DCore
import DData
@testable import DLayers
import Testing

/// Decodes one layer from a YAML flow mapping, e.g.
/// `{name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 3}}`.
func makeLayer(_ yaml: String, phase: Phase = .train, netFile: String = "/tmp/dendrite-test/net.yaml") throws -> any Layer {
    let spec = try NetSpec(node: try YAML.parse("layer: [\(yaml)]", file: "test.yaml"), file: "test.yaml")
    return try LayerRegistry.make(spec.layers[0], BuildContext(phase: phase, netFile: netFile, seed: 1))
}

/// The error message `makeLayer` throws for `yaml`, or nil if it decodes.
func layerError(_ yaml: String) -> String? {
    do {
        _ = try makeLayer(yaml)
        return nil
    } catch let e as ConfigError {
        return e.message
    } catch {
        return "\(error)"
    }
}

/// One layer with memory for its bottoms, tops, gradients, parameters and work: a net of one.
final class LayerRig {
    let layer: any Layer
    let phase: Phase
    var bottoms: [Tensor]
    var tops: [Tensor]
    var bottomGrads: [Tensor]
    var topGrads: [Tensor]
    var params: [Tensor]
    var paramGrads: [Tensor]
    var work: [Tensor] = []
    var intWork: [Arena<Int32>] = []
    /// With `inPlace`, top 0 and bottom 0 are the same memory, as the net arranges it.
    let inPlace: Bool
    var iteration = 0
    var subBatch = 0
    var shard = Shard.whole

    init(_ layer: any Layer, bottoms: [(Shape, [Float])], phase: Phase = .train, inPlace: Bool = false, seed: UInt64 = 7) throws {
        self.layer = layer
        self.phase = phase
        self.inPlace = inPlace
        self.bottoms = bottoms.map { Tensor(shape: $0.0, values: $0.1) }
        let shapes = bottoms.map(\.0)
        let topShapes = try layer.topShapes(for: shapes)
        tops = topShapes.map { Tensor(shape: $0) }
        if inPlace { tops[0] = self.bottoms[0] }
        bottomGrads = shapes.map { Tensor(shape: $0) }
        topGrads = topShapes.map { Tensor(shape: $0) }
        if inPlace { topGrads[0] = bottomGrads[0] }
        let decls = layer.parameters(for: shapes)
        params = decls.map { Tensor(shape: $0.shape) }
        paramGrads = decls.map { Tensor(shape: $0.shape) }
        for (i, d) in decls.enumerated() {
            var rng = RandomStream(seed: seed, purpose: "test-param", i)
            d.filler.fill(params[i].view, rng: &rng)
        }
        for w in layer.workspace(for: shapes, phase: phase, threads: 2) {
            switch w.kind {
            case .float: work.append(Tensor(shape: Shape([w.count])))
            case .int32: intWork.append(Arena<Int32>(count: w.count))
            }
        }
    }

    func io(accumulate: Bool = false) -> LayerIO {
        LayerIO(bottoms: bottoms.map(\.view), bottomGrads: bottomGrads.indices.map { layer.propagates(toBottom: $0) ? bottomGrads[$0].view : nil },
                accumulateBottom: bottoms.map { _ in accumulate }, tops: tops.map(\.view), topGrads: topGrads.map(\.view),
                params: params.map(\.view), paramGrads: paramGrads.map(\.view), work: work.map(\.view),
                intWork: intWork.map { $0.view(offset: 0, shape: Shape([$0.count])) }, index: 0)
    }

    var step: StepContext { StepContext(phase: phase, iteration: iteration, seed: 42, parallel: Parallel(threads: 2), subBatch: subBatch, shard: shard) }

    @discardableResult
    func forward() throws -> [[Float]] {
        try layer.forward(io(), step)
        return tops.map(\.values)
    }

    /// Backward with the given top gradients; parameter gradients start from zero.
    func backward(topGrad: [[Float]], accumulate: Bool = false) {
        for (t, g) in zip(topGrads, topGrad) { t.view.copy(from: g) }
        for g in paramGrads { g.view.zero() }
        layer.backward(io(accumulate: accumulate), step)
    }
}

/// Caffe's gradient check: compares backward's gradients of L = Σ_t Σ_i top_t[i]·r_t[i] (r fixed
/// random weights) with central differences of step `h`, for every element of the bottoms in
/// `checkBottoms` and of the parameters in `checkParameters` (all when nil). Passes when |analytic − numeric| ≤ threshold · max(|a|, |n|, 1).
/// Returns the number of elements compared, so that a test can assert it checked something.
@discardableResult
func checkGradients(_ rig: LayerRig, checkBottoms: [Int]? = nil, checkParameters: [Int]? = nil, h: Float = 1e-2, threshold: Float = 1e-3,
                    sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> Int {
    let bottomsToCheck = checkBottoms ?? Array(rig.bottoms.indices)
    // In place, forward overwrites bottom 0: keep the inputs to restore before each pass.
    let saved = rig.bottoms.map(\.values)
    try rig.forward()
    var rng = RandomStream(seed: 99)
    let weights = rig.tops.map { t in (0..<t.shape.count).map { _ in rng.nextUnitFloat() * 2 - 1 } }
    func objective() throws -> Double {
        try rig.forward()
        var total = 0.0
        for (t, w) in zip(rig.tops, weights) {
            for (v, r) in zip(t.values, w) { total += Double(v) * Double(r) }
        }
        return total
    }
    // Analytic gradients, from a clean forward.
    rig.bottoms[0].view.copy(from: saved[0])
    try rig.forward()
    rig.backward(topGrad: weights)
    let analyticBottoms = rig.bottomGrads.map(\.values)
    let analyticParams = rig.paramGrads.map(\.values)

    var compared = 0
    func check(_ target: Tensor, _ analytic: [Float], _ what: String) throws {
        for i in 0..<target.shape.count {
            let original = target.view[i]
            target.view[i] = original + h
            let plus = try objective()
            target.view[i] = original - h
            let minus = try objective()
            target.view[i] = original
            let numeric = Float((plus - minus) / Double(2 * h))
            let a = analytic[i]
            let scale = max(abs(a), abs(numeric), 1)
            #expect(abs(a - numeric) <= threshold * scale,
                    "\(what)[\(i)]: backward \(a), finite difference \(numeric)", sourceLocation: sourceLocation)
            compared += 1
        }
    }
    for b in bottomsToCheck {
        if rig.inPlace && b == 0 {
            // In place, the bottom is overwritten by forward: restore it before each probe.
            for i in 0..<rig.bottoms[0].shape.count {
                let original = saved[0][i]
                func objectiveAt(_ x: Float) throws -> Double {
                    rig.bottoms[0].view.copy(from: saved[0])
                    rig.bottoms[0].view[i] = x
                    return try objective()
                }
                let numeric = Float((try objectiveAt(original + h) - objectiveAt(original - h)) / Double(2 * h))
                let a = analyticBottoms[0][i]
                #expect(abs(a - numeric) <= threshold * max(abs(a), abs(numeric), 1),
                        "bottom 0 (in place)[\(i)]: backward \(a), finite difference \(numeric)", sourceLocation: sourceLocation)
                compared += 1
            }
            rig.bottoms[0].view.copy(from: saved[0])
        } else {
            try check(rig.bottoms[b], analyticBottoms[b], "bottom \(b)")
        }
    }
    for (p, param) in rig.params.enumerated() where checkParameters?.contains(p) ?? true { try check(param, analyticParams[p], "parameter \(p)") }
    return compared
}

/// Backward with `accumulate` adds onto what the bottom gradients held.
func checkAccumulation(_ rig: LayerRig, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
    try rig.forward()
    var rng = RandomStream(seed: 5)
    let weights = rig.tops.map { t in (0..<t.shape.count).map { _ in rng.nextUnitFloat() - 0.5 } }
    rig.backward(topGrad: weights)
    let fresh = rig.bottomGrads.map(\.values)
    let prior = rig.bottomGrads.map { g in (0..<g.shape.count).map { Float($0 % 5) - 2 } }
    for (g, p) in zip(rig.bottomGrads, prior) { g.view.copy(from: p) }
    rig.backward(topGrad: weights, accumulate: true)
    for b in rig.bottoms.indices where rig.layer.propagates(toBottom: b) {
        for i in 0..<prior[b].count {
            #expect(abs(rig.bottomGrads[b].values[i] - (prior[b][i] + fresh[b][i])) <= 1e-5 * max(1, abs(fresh[b][i])),
                    "bottom \(b)[\(i)] did not accumulate", sourceLocation: sourceLocation)
        }
    }
}

/// `count` values spread over ±scale, none within `gap` of zero or of each other (for ReLU and
/// max pooling, whose gradients jump there).
func distinctValues(_ count: Int, seed: UInt64 = 3, scale: Float = 1, gap: Float = 0.05) -> [Float] {
    var rng = RandomStream(seed: seed)
    var values = (0..<count).map { Float($0) + 0.5 }  // distinct, one apart
    values.shuffle(using: &rng)
    let spread = Float(count)
    return values.map { v in
        let x = (v / spread * 2 - 1) * scale
        return abs(x) < gap ? x + (x < 0 ? -gap : gap) : x
    }
}

/// Values in [-scale, scale) from a seeded stream.
func randomValues(_ count: Int, seed: UInt64 = 11, scale: Float = 1) -> [Float] {
    var rng = RandomStream(seed: seed)
    return (0..<count).map { _ in (rng.nextUnitFloat() * 2 - 1) * scale }
}

func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
}
