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

public struct LayerSpec {
    public let name: String
    public let type: String
    public let bottoms: [String]
    public let tops: [String]
    public let params: [ParamSpec]
    /// `loss_weight` per top; empty means the type's default (1 for the first top of a loss).
    public let lossWeights: [Float]
    let include: [Phase?]
    let exclude: [Phase?]
    /// The layer's mapping, still open for its type's `<type>_param` keys.
    public let map: ConfigMap
    /// The layer as written, for writing it out again (a deploy net).
    public let node: YAMLNode
    public let location: ConfigLocation
    /// The location of the `type:` value, for "unknown layer type".
    public let typeLocation: ConfigLocation

    /// `layer 'conv1' (Convolution)`, the prefix of every message about this layer.
    public var context: String { "layer '\(name)' (\(type))" }

    /// Caffe's NetStateRule: with include rules, the layer is in a phase one of them names;
    /// otherwise it is in every phase no exclude rule names. A rule without `phase` matches all.
    public func isIncluded(in phase: Phase) -> Bool {
        if !include.isEmpty { return include.contains { $0 == nil || $0 == phase } }
        return !exclude.contains { $0 == nil || $0 == phase }
    }

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
        func rules(_ key: String) throws(ConfigError) -> [Phase?] {
            var out: [Phase?] = []
            for rule in try map.maps(key) {
                out.append(rule.has("phase") ? try rule.choice("phase", default: Phase.train) : nil)
                try rule.finish()
            }
            return out
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

    public init(node: YAMLNode, file: String) throws(ConfigError) {
        let map = try ConfigMap(node, context: "net")
        name = try map.string("name") ?? "net"
        guard let list = map.node("layer") else {
            throw map.missing("layer", hint: "a net is a list of layers: layer: [{name: …, type: …}, …]")
        }
        guard case .sequence(let items) = list.value else {
            throw ConfigError(at: list.location, "net: layer: expected a list of layers, found \(list.kindDescription)",
                              hint: "write each layer as a list item: 'layer:' then '  - name: …'")
        }
        var layers: [LayerSpec] = []
        for (i, item) in items.enumerated() { layers.append(try LayerSpec(item, index: i)) }
        try map.finish()
        self.layers = layers
        self.file = file
    }

    public static func load(_ path: String) throws(ConfigError) -> NetSpec {
        try NetSpec(node: try ConfigFile.load(path), file: path)
    }
}
