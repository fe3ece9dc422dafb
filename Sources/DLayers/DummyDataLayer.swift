import DConfig
import DCore

/// Caffe's `DummyData`: tops of given shapes filled by fillers, for trying a net without a
/// dataset. `dummy_data_param`: `shape` (one `{dim: […]}` for every top, or one per top, or
/// Caffe's older `num`/`channels`/`height`/`width`, each one value or one per top) and
/// `data_filler` (none: constant 0; one for every top; or one per top). A top whose filler
/// is random is filled anew at every forward, from a stream keyed by the seed, the layer, the
/// top and the iteration.
public final class DummyDataLayer: Layer {
    public let name: String
    let shapes: [Shape]
    let fillers: [Filler]

    public var bottomCount: ClosedRange<Int> { 0...0 }
    public var topCount: ClosedRange<Int> { shapes.count...shapes.count }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("dummy_data_param")
        let tops = max(1, spec.tops.count)
        func perTop<T>(_ values: [T], _ key: String) throws(ConfigError) -> [T] {
            if values.count == 1 { return Array(repeating: values[0], count: tops) }
            guard values.count == tops else { throw p.error(key, "gives \(values.count) values for \(tops) top\(tops == 1 ? "" : "s")", hint: "give one for every top, or one per top") }
            return values
        }
        var dims: [[Int]]
        let shapeMaps = try p.maps("shape")
        let legacy = ["num", "channels", "height", "width"]
        if !shapeMaps.isEmpty {
            if let key = legacy.first(where: p.has) { throw p.error(key, "give shape or num/channels/height/width, not both") }
            var given: [[Int]] = []
            for m in shapeMaps {
                given.append(try m.ints("dim"))
                try m.finish()
            }
            dims = try perTop(given, "shape")
        } else if legacy.contains(where: p.has) {
            var columns: [[Int]] = []
            for key in legacy { columns.append(try perTop(p.has(key) ? try p.ints(key) : [1], key)) }
            dims = (0..<tops).map { t in columns.map { $0[t] } }
        } else {
            throw p.missing("shape", hint: "e.g. dummy_data_param: {shape: {dim: [64, 1, 28, 28]}}")
        }
        if let bad = dims.joined().first(where: { $0 < 1 }) { throw p.error("shape", "dimensions must be positive, found \(bad)") }
        var fillers: [Filler] = []
        for m in try p.maps("data_filler") { fillers.append(try ConfigMap.filler(m)) }
        self.fillers = fillers.isEmpty ? Array(repeating: .constant(value: 0), count: tops) : try perTop(fillers, "data_filler")
        try p.finish()
        shapes = dims.map(Shape.init)
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { shapes }

    /// A random draw per element of each top a random filler fills (constant and bilinear
    /// fillers draw nothing); no backward.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        var draws = 0
        for (shape, filler) in zip(shapes, fillers) {
            switch filler {
            case .constant, .bilinear: continue
            default: draws += shape.count
            }
        }
        return elementwiseFlops(draws, forward: 1, backward: 0)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        for (t, filler) in fillers.enumerated() {
            var rng = RandomStream(seed: step.seed, purpose: "dummy-data", io.index, t, step.iteration)
            filler.fill(io.tops[t], rng: &rng)
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {}
}
