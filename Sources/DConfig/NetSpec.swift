/// The net definition as written: layers in file order, with Caffe's common layer fields
/// decoded. Each layer's `<type>_param` blocks stay in `LayerSpec.map` until the layer type
/// reads them (DLayers), because only the type knows its keys.

public enum Phase: String, Sendable, CaseIterable, CustomStringConvertible {
    case train = "TRAIN", test = "TEST"
    public var description: String { rawValue }
}

/// One entry of a layer's `param` list: per-parameter learning-rate and decay multipliers, and
/// an optional name that makes layers share the parameter.
public struct ParamSpec: Sendable, Equatable {
    public var name: String?
    public var lrMult: Float
    public var decayMult: Float

    public init(name: String? = nil, lrMult: Float = 1, decayMult: Float = 1) {
        self.name = name; self.lrMult = lrMult; self.decayMult = decayMult
    }
}

/// Caffe's NetState: which layers a net keeps. The phase comes from how the net is used; the
/// level and stages from the net file's `state` and the solver's `train_state`/`test_state`.
public struct NetState: Sendable, Equatable {
    public var phase: Phase
    public var level: Int
    public var stages: [String]

    public init(phase: Phase, level: Int = 0, stages: [String] = []) {
        self.phase = phase; self.level = level; self.stages = stages
    }
}

/// A level and stages to add to a net's state: the net file's own `state`, or the solver's
/// `train_state`/`test_state` (a level there replaces the net's, stages are added, as Caffe
/// merges them).
public struct NetStateAddition: Sendable, Equatable {
    public var level: Int?
    public var stages: [String]

    public init(level: Int? = nil, stages: [String] = []) { self.level = level; self.stages = stages }

    /// A `state` block; a `phase` in it must be `phase`, the phase the net is used in.
    init(_ map: ConfigMap, phase: Phase?) throws(ConfigError) {
        if let phase, map.has("phase"), try map.choice("phase", default: phase) != phase {
            throw map.error("phase", "is \(phase) for this net; a state sets only the level and stages")
        }
        _ = map.node("phase")  // a net file's own state: the phase comes from how the net is used
        level = try map.int("level")
        stages = try map.strings("stage")
        try map.finish()
    }
}

/// Caffe's NetStateRule: a layer's `include`/`exclude` entry. It matches a state when every
/// condition it gives holds: the phase, level ≥ `min_level`, level ≤ `max_level`, every
/// `stage` among the state's stages and no `not_stage` among them.
public struct NetStateRule: Sendable, Equatable {
    public var phase: Phase?
    public var minLevel: Int?
    public var maxLevel: Int?
    public var stages: [String] = []
    public var notStages: [String] = []

    public func matches(_ state: NetState) -> Bool {
        if let phase, phase != state.phase { return false }
        if let minLevel, state.level < minLevel { return false }
        if let maxLevel, state.level > maxLevel { return false }
        return stages.allSatisfy(state.stages.contains) && !notStages.contains(where: state.stages.contains)
    }
}

public struct LayerSpec {
    public let name: String
    public let type: String
    public let bottoms: [String]
    public let tops: [String]
    public let params: [ParamSpec]
    /// `loss_weight` per top; empty means the type's default (1 for the first top of a loss).
    public let lossWeights: [Float]
    let include: [NetStateRule]
    let exclude: [NetStateRule]
    /// `propagate_down`, one per bottom: false keeps the gradient from that bottom.
    public let propagateDown: [Bool]
    /// The layer's mapping, still open for its type's `<type>_param` keys.
    public let map: ConfigMap
    /// The layer as written, for writing it out again (a deploy net).
    public let node: YAMLNode
    public let location: ConfigLocation
    /// The location of the `type:` value, for "unknown layer type".
    public let typeLocation: ConfigLocation

    /// `layer 'conv1' (Convolution)`, the prefix of every message about this layer.
    public var context: String { "layer '\(name)' (\(type))" }

    /// As Caffe decides: with include rules, the layer is in a net whose state one of them
    /// matches; otherwise in every net whose state no exclude rule matches.
    public func isIncluded(in state: NetState) -> Bool {
        if !include.isEmpty { return include.contains { $0.matches(state) } }
        return !exclude.contains { $0.matches(state) }
    }

    public func isIncluded(in phase: Phase) -> Bool { isIncluded(in: NetState(phase: phase)) }

    init(_ node: YAMLNode, index: Int) throws(ConfigError) {
        let probe = try ConfigMap(node, context: "layer[\(index)]")
        let name = try probe.requiredString("name")
        let type = try probe.requiredString("type")
        let map = try ConfigMap(node, context: "layer '\(name)' (\(type))")
        self.name = name
        self.type = type
        self.map = map
        self.node = node
        self.location = node.location
        self.typeLocation = map.node("type")?.location ?? node.location
        _ = map.node("name")
        bottoms = try map.strings("bottom")
        tops = try map.strings("top")
        lossWeights = try map.doubles("loss_weight").map(Float.init)
        var params: [ParamSpec] = []
        for p in try map.maps("param") {
            params.append(ParamSpec(name: try p.string("name"), lrMult: try p.float("lr_mult", default: 1),
                                    decayMult: try p.float("decay_mult", default: 1)))
            try p.finish()
        }
        self.params = params
        func rules(_ key: String) throws(ConfigError) -> [NetStateRule] {
            var out: [NetStateRule] = []
            for rule in try map.maps(key) {
                var r = NetStateRule()
                r.phase = rule.has("phase") ? try rule.choice("phase", default: Phase.train) : nil
                r.minLevel = try rule.int("min_level")
                r.maxLevel = try rule.int("max_level")
                r.stages = try rule.strings("stage")
                r.notStages = try rule.strings("not_stage")
                try rule.finish()
                out.append(r)
            }
            return out
        }
        if map.has("propagate_down") {
            let flags = try map.bools("propagate_down")
            guard flags.count == bottoms.count else {
                throw map.error("propagate_down", "gives \(flags.count) values for \(bottoms.count) bottom\(bottoms.count == 1 ? "" : "s")",
                                hint: "one true or false per bottom")
            }
            propagateDown = flags
        } else {
            propagateDown = bottoms.map { _ in true }
        }
        include = try rules("include")
        exclude = try rules("exclude")
        if !include.isEmpty && !exclude.isEmpty {
            throw map.error("exclude", "give either include or exclude rules, not both")
        }
    }
}

public struct NetSpec {
    public let name: String
    public let layers: [LayerSpec]
    public let file: String
    /// The net's own `state`: a level and stages that the solver's states add to.
    public let state: NetStateAddition
    /// `force_backward`: every layer that can runs backward and every bottom that can gets a
    /// gradient, whether or not it leads to something learned.
    public let forceBackward: Bool
    /// Caffe's legacy inputs (`input` with `input_shape` or `input_dim`): blobs the caller sets,
    /// served as an `Input` layer before the others.
    public let legacyInputs: [(name: String, dims: [Int])]
    /// `debug_info`: as the solver's, for this net.
    public let debugInfo: Bool

    /// `context` names the net in messages: `net` for a net file, the solver's key
    /// (`net_param`) for a net written in the solver.
    public init(node: YAMLNode, file: String, context: String = "net") throws(ConfigError) {
        let map = try ConfigMap(node, context: context)
        name = try map.string("name") ?? "net"
        guard let list = map.node("layer") else {
            throw map.missing("layer", hint: "a net is a list of layers: layer: [{name: …, type: …}, …]")
        }
        guard case .sequence(let items) = list.value else {
            throw ConfigError(at: list.location, "\(context): layer: expected a list of layers, found \(list.kindDescription)",
                              hint: "write each layer as a list item: 'layer:' then '  - name: …'")
        }
        var layers: [LayerSpec] = []
        for (i, item) in items.enumerated() { layers.append(try LayerSpec(item, index: i)) }
        state = try map.map("state").map { m throws(ConfigError) in try NetStateAddition(m, phase: nil) } ?? NetStateAddition()
        forceBackward = try map.bool("force_backward", default: false)
        debugInfo = try map.bool("debug_info", default: false)
        legacyInputs = try Self.legacyInputs(map)
        if !legacyInputs.isEmpty {
            // The same as the Input layer a Dendrite file would write, placed first.
            let shapes = legacyInputs.map { "{dim: [\($0.dims.map(String.init).joined(separator: ", "))]}" }.joined(separator: ", ")
            let text = "{name: legacy_input, type: Input, top: [\(legacyInputs.map(\.name).joined(separator: ", "))], input_param: {shape: [\(shapes)]}}"
            let node = try YAML.parse(text, file: file)
            layers.insert(try LayerSpec(node.relocated(to: map.node("input")?.location ?? map.location), index: 0), at: 0)
        }
        try map.finish()
        self.layers = layers
        self.file = file
    }

    /// `input: [data]` with `input_shape: [{dim: [...]}]` (one per input) or `input_dim: [n, c,
    /// h, w, …]` (four per input), as Caffe's deploy files write them.
    static func legacyInputs(_ map: ConfigMap) throws(ConfigError) -> [(name: String, dims: [Int])] {
        let names = try map.strings("input")
        let shapes = try map.maps("input_shape").map { m throws(ConfigError) in
            let dims = try m.ints("dim")
            try m.finish()
            return dims
        }
        let flat = try map.ints("input_dim")
        if names.isEmpty {
            if !shapes.isEmpty || !flat.isEmpty { throw map.error(shapes.isEmpty ? "input_dim" : "input_shape", "gives shapes but no input names", hint: "add input: [data]") }
            return []
        }
        var dims: [[Int]]
        if !shapes.isEmpty && !flat.isEmpty { throw map.error("input_dim", "give input_shape or input_dim, not both") }
        if !shapes.isEmpty {
            dims = shapes
        } else {
            guard flat.count == 4 * names.count else {
                throw map.error("input_dim", "gives \(flat.count) dimensions for \(names.count) input\(names.count == 1 ? "" : "s"); input_dim takes four per input",
                                hint: "or give input_shape: [{dim: [...]}] per input")
            }
            dims = stride(from: 0, to: flat.count, by: 4).map { Array(flat[$0..<$0 + 4]) }
        }
        guard dims.count == names.count else {
            throw map.error("input_shape", "gives \(dims.count) shapes for \(names.count) input\(names.count == 1 ? "" : "s")")
        }
        if let bad = dims.joined().first(where: { $0 < 1 }) { throw map.error("input", "dimensions must be positive, found \(bad)") }
        return Array(zip(names, dims)).map { (name: $0.0, dims: $0.1) }
    }

    /// Every stage the layers' include and exclude rules name (`stage` and `not_stage`), in
    /// the order first named: the stages a state can usefully add (`dtest --stage`).
    public var stageNames: [String] {
        var names: [String] = []
        for layer in layers {
            for rule in layer.include + layer.exclude {
                for s in rule.stages + rule.notStages where !names.contains(s) { names.append(s) }
            }
        }
        return names
    }

    /// The state of this net in `phase`, with the solver's `train_state`/`test_state` merged in.
    public func state(_ phase: Phase, adding solver: NetStateAddition? = nil) -> NetState {
        NetState(phase: phase, level: solver?.level ?? state.level ?? 0, stages: state.stages + (solver?.stages ?? []))
    }

    public static func load(_ path: String) throws(ConfigError) -> NetSpec {
        try NetSpec(node: try ConfigFile.load(path), file: path)
    }
}
