import DConfig
import DCore
import DLayers
import DNet
import DZoo
import Foundation
import SwiftProtobuf

/// `dzoo export-onnx`: a zoo entry's deploy net and weights as an ONNX model (opset 13, IR
/// version 7), written with swift-protobuf from our onnx.proto.
///
/// Every deploy layer becomes ONNX operators that compute what it computes in phase TEST, and
/// a layer without an equivalent is refused by name. The batch dimension is symbolic (`N`).
/// The graph's outputs are the deploy net's outputs (the blobs no layer reads) and, for an
/// output a Softmax makes, the scores it reads (the logits; `dendrite.scores` lists them). The
/// card's class names and input preprocessing are metadata properties: `dendrite.class_names`
/// (a JSON list), `dendrite.input.scale` and `dendrite.input.mean_value`, applied in Caffe's
/// order: (x − mean)·scale.
public struct ONNXExport {
    public static let opset: Int64 = 13
    public static let irVersion: Int64 = 7

    public let model: Onnx_ModelProto
    /// The graph's input and output names.
    public let inputs: [String]
    public let outputs: [String]

    public init(entry: Zoo.Entry) throws(ConfigError) {
        let card = entry.card
        guard !card.weights.isEmpty else {
            throw ConfigError(file: entry.path("model.yaml"), message: "'\(entry.name)' has no weights to export", hint: "train it first")
        }
        if !card.meanFile.isEmpty || !card.normalize.isEmpty {
            throw ConfigError(file: entry.path("model.yaml"),
                              message: "'\(entry.name)' divides out \(card.meanFile.isEmpty ? "training-set statistics (normalize: \(card.normalize))" : "a mean image (mean_file)"), which the export does not carry yet",
                              hint: "only a scale and per-channel mean values are exported, as metadata")
        }
        let deployPath = entry.path(card.deploy)
        let store = ParameterStore(seed: 0)
        let net: Net
        do {
            let spec = try NetSpec.load(deployPath)
            net = try Net(spec: spec, phase: .test, store: store, context: BuildContext(phase: .test, netFile: deployPath, seed: 0))
            let weights = try entry.verifiedPath(card.weights)
            let report = try Weights.read(weights, into: store, for: .testing)
            guard report.initialised.isEmpty else {
                throw ConfigError(file: weights, message: "has no weights for \(report.initialised.joined(separator: ", "))")
            }
        } catch let error as ConfigError {
            throw error
        } catch let error as FileError {
            throw ConfigError(file: error.path, message: error.message, hint: error.hint)
        } catch {
            throw ConfigError(file: deployPath, message: "\(error)")
        }
        var graph = GraphBuilder(net: net)
        for (index, node) in net.nodes.enumerated() {
            try graph.add(node, index: index, file: deployPath)
        }
        let outputs = graph.outputs()
        var g = Onnx_GraphProto()
        g.name = net.name
        g.node = graph.nodes
        g.initializer = graph.initializers
        g.input = graph.inputs
        g.output = outputs.map { graph.valueInfo($0.name, dims: net.blobs[$0.blob].shape.dims) }

        var m = Onnx_ModelProto()
        m.irVersion = Self.irVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Self.opset
        m.opsetImport = [opset]
        m.producerName = "Dendrite"
        m.producerVersion = ModelCard.dendriteVersion
        m.docString = "\(card.name): \(card.description)"
        m.graph = g
        func property(_ key: String, _ value: String) -> Onnx_StringStringEntryProto {
            var p = Onnx_StringStringEntryProto()
            (p.key, p.value) = (key, value)
            return p
        }
        let json = { (items: [String]) in "[" + items.joined(separator: ", ") + "]" }
        m.metadataProps = [
            property("dendrite.name", card.name),
            property("dendrite.class_names", json(card.classNames.map(JSONString.quoted))),
            property("dendrite.input.data_type", card.inputType.rawValue),
            property("dendrite.input.scale", "\(card.scale)"),
            property("dendrite.input.mean_value", json(card.meanValues.map { "\($0)" })),
            property("dendrite.scores", json(outputs.filter(\.isScores).map { JSONString.quoted($0.name) })),
        ]
        model = m
        inputs = graph.inputs.map(\.name)
        self.outputs = outputs.map(\.name)
    }

    public func serialized() throws(ConfigError) -> [UInt8] {
        do { return try model.serializedBytes() } catch {
            throw ConfigError(file: model.graph.name, message: "cannot encode the ONNX model: \(error)")
        }
    }
}

/// JSON string quoting for the metadata.
enum JSONString {
    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

/// The ONNX graph of a net, built node by node.
struct GraphBuilder {
    let net: Net
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    var inputs: [Onnx_ValueInfoProto] = []
    /// Each blob's ONNX name. A blob a layer rewrites in place is a new version of the same
    /// name; the last version keeps the plain name and earlier ones get `@version`.
    let names: [String]
    private var counter = 0

    init(net: Net) {
        self.net = net
        var last: [String: Int] = [:], seen: [String: Int] = [:]
        for (i, b) in net.blobs.enumerated() { last[b.name] = i }
        names = net.blobs.enumerated().map { i, b in
            defer { seen[b.name, default: 0] += 1 }
            return last[b.name] == i ? b.name : "\(b.name)@\(seen[b.name, default: 0])"
        }
    }

    /// The blobs no layer reads, in order, and before each that a Softmax makes, the scores
    /// the Softmax reads.
    func outputs() -> [(name: String, blob: Int, isScores: Bool)] {
        var out: [(name: String, blob: Int, isScores: Bool)] = []
        for (i, b) in net.blobs.enumerated() where b.consumers.isEmpty && b.producer.map({ net.nodes[$0].type != "Input" }) ?? false {
            if let p = b.producer, net.nodes[p].type == "Softmax", let scores = net.nodes[p].bottoms.first, !out.contains(where: { $0.blob == scores }) {
                out.append((names[scores], scores, true))
            }
            out.append((names[i], i, false))
        }
        return out
    }

    func valueInfo(_ name: String, dims: [Int]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.enumerated().map { axis, d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if axis == 0 { dim.dimParam = "N" } else { dim.dimValue = Int64(d) }
            return dim
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }

    // MARK: - Building blocks

    mutating func emit(_ op: String, _ name: String, _ inputs: [String], _ outputs: [String], _ attributes: [Onnx_AttributeProto] = []) {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name
        n.input = inputs
        n.output = outputs
        n.attribute = attributes
        nodes.append(n)
    }

    /// A name for an intermediate value of layer `layer`.
    mutating func temporary(_ layer: String, _ what: String) -> String {
        counter += 1
        return "\(layer)/\(what)#\(counter)"
    }

    mutating func constant(_ name: String, dims: [Int], _ values: [Float]) -> String {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }  // little-endian, as ONNX stores raw data
        initializers.append(t)
        return name
    }

    func attribute(_ name: String, ints: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = ints.map(Int64.init)
        return a
    }

    func attribute(_ name: String, int: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(int)
        return a
    }

    func attribute(_ name: String, float: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = float
        return a
    }

    // MARK: - Layers

    mutating func add(_ node: Net.Node, index: Int, file: String) throws(ConfigError) {
        let x = node.bottoms.map { names[$0] }, y = node.tops.map { names[$0] }
        let shapes = node.bottoms.map { net.blobs[$0].shape.dims }
        let name = node.name
        func refuse(_ why: String) -> ConfigError {
            ConfigError(file: file, message: "layer '\(name)' (\(node.type)): \(why)", hint: "docs/INTEROP.md lists what the ONNX export maps")
        }
        func parameter(_ i: Int) -> (name: String, dims: [Int], values: [Float]) {
            let p = node.parameters[i]
            return (p.name, p.value.shape.dims, p.value.values)
        }
        switch node.layer {
        case _ where node.type == "Input":
            for t in node.tops { inputs.append(valueInfo(names[t], dims: net.blobs[t].shape.dims)) }

        case let l as ConvolutionLayer:
            let c = l.params
            guard c.axis == 1, shapes[0].count == 4 else { throw refuse("only 2-D convolutions of [N, C, H, W] are exported") }
            let w = parameter(0)
            var inputs = [x[0], constant(w.name, dims: w.dims, w.values)]
            if c.biasTerm { let b = parameter(1); inputs.append(constant(b.name, dims: b.dims, b.values)) }
            let win = c.window
            emit("Conv", name, inputs, y, [
                attribute("kernel_shape", ints: [win.kernelH, win.kernelW]), attribute("strides", ints: [win.strideH, win.strideW]),
                attribute("pads", ints: [win.padH, win.padW, win.padH, win.padW]), attribute("dilations", ints: [c.dilationH, c.dilationW]),
                attribute("group", int: c.group),
            ])

        case let l as InnerProductLayer:
            guard l.axis == 1 else { throw refuse("only axis 1 is exported (Gemm takes [N, K])") }
            var input = x[0]
            if shapes[0].count > 2 {
                input = temporary(name, "flat")
                emit("Flatten", name + "/flatten", [x[0]], [input], [attribute("axis", int: 1)])
            }
            let w = parameter(0)
            var inputs = [input, constant(w.name, dims: w.dims, w.values)]
            if l.biasTerm { let b = parameter(1); inputs.append(constant(b.name, dims: b.dims, b.values)) }
            emit("Gemm", name, inputs, y, [attribute("transB", int: l.transpose ? 0 : 1)])

        case let l as PoolingLayer:
            guard shapes[0].count == 4 else { throw refuse("only pooling of [N, C, H, W] is exported") }
            try pool(l, name: name, x: x[0], y: y[0], input: shapes[0], output: net.blobs[node.tops[0]].shape.dims, refuse: refuse)

        case let l as ReLULayer:
            if l.slope == 0 { emit("Relu", name, x, y) } else { emit("LeakyRelu", name, x, y, [attribute("alpha", float: l.slope)]) }
        case is SigmoidLayer: emit("Sigmoid", name, x, y)
        case is TanHLayer: emit("Tanh", name, x, y)
        case is AbsValLayer: emit("Abs", name, x, y)
        case is DropoutLayer: emit("Identity", name, x, y)  // the identity at test time
        case is SplitLayer: for (i, top) in y.enumerated() { emit("Identity", "\(name)/\(i)", x, [top]) }

        case let l as SoftmaxLayer:
            emit("Softmax", name, x, y, [attribute("axis", int: l.axis)])

        case let l as LRNLayer:
            guard l.region == .acrossChannels else { throw refuse("norm_region WITHIN_CHANNEL has no ONNX operator") }
            emit("LRN", name, x, y, [attribute("size", int: l.localSize), attribute("alpha", float: l.alpha),
                                     attribute("beta", float: l.beta), attribute("bias", float: l.k)])

        case let l as BatchNormLayer:
            guard l.useGlobalStats ?? true else { throw refuse("use_global_stats: false normalises by each batch's own statistics") }
            // Global statistics: μ = mean/factor, σ² = variance/factor (0 when factor is 0).
            let factor = parameter(2).values.first ?? 0, s: Float = factor == 0 ? 0 : 1 / factor
            let mean = parameter(0), variance = parameter(1)
            let c = mean.values.count
            emit("BatchNormalization", name, [
                x[0], constant("\(name)/scale", dims: [c], Array(repeating: 1, count: c)), constant("\(name)/shift", dims: [c], Array(repeating: 0, count: c)),
                constant(mean.name, dims: [c], mean.values.map { $0 * s }), constant(variance.name, dims: [c], variance.values.map { $0 * s }),
            ], y, [attribute("epsilon", float: l.eps)])

        case let l as ScaleLayer:
            guard node.bottoms.count == 1 else { throw refuse("a scale from a second bottom is not exported") }
            let scale = parameter(0)
            let dims = try broadcast(scale.dims, axis: l.operand.axis, into: shapes[0], refuse: refuse)
            let scaled = l.biasTerm ? temporary(name, "scaled") : y[0]
            emit("Mul", name, [x[0], constant(scale.name, dims: dims, scale.values)], [scaled])
            if l.biasTerm {
                let bias = parameter(1)
                emit("Add", name + "/bias", [scaled, constant(bias.name, dims: dims, bias.values)], y)
            }

        case let l as BiasLayer:
            guard node.bottoms.count == 1 else { throw refuse("a bias from a second bottom is not exported") }
            let bias = parameter(0)
            let dims = try broadcast(bias.dims, axis: l.operand.axis, into: shapes[0], refuse: refuse)
            emit("Add", name, [x[0], constant(bias.name, dims: dims, bias.values)], y)

        case let l as ConcatLayer:
            emit("Concat", name, x, y, [attribute("axis", int: l.axis < 0 ? l.axis + shapes[0].count : l.axis)])

        case let l as EltwiseLayer:
            switch l.operation {
            case .sum:
                var terms = x
                if l.coefficients.contains(where: { $0 != 1 }) {
                    terms = zip(x, l.coefficients).enumerated().map { i, pair in
                        let out = temporary(name, "term\(i)")
                        emit("Mul", "\(name)/coefficient\(i)", [pair.0, constant("\(name)/coefficient\(i)", dims: [], [pair.1])], [out])
                        return out
                    }
                }
                emit("Sum", name, terms, y)
            case .prod:
                guard x.count == 2 else { throw refuse("a product of more than two bottoms is not exported") }
                emit("Mul", name, x, y)
            case .max: emit("Max", name, x, y)
            }

        case let l as FlattenLayer:
            let rank = shapes[0].count
            guard l.axis == 1 || l.axis == 1 - rank, l.endAxis == -1 || l.endAxis == rank - 1 else {
                throw refuse("only a Flatten from axis 1 to the end is exported")
            }
            emit("Flatten", name, x, y, [attribute("axis", int: 1)])

        default:
            throw refuse("has no ONNX export")
        }
    }

    /// A per-channel operand of `dims` applied from `axis` of a bottom of rank `shape.count`, as
    /// ONNX broadcasts (right-aligned): the operand's dims followed by ones.
    func broadcast(_ dims: [Int], axis: Int, into shape: [Int], refuse: (String) -> ConfigError) throws(ConfigError) -> [Int] {
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0, a + dims.count <= shape.count else { throw refuse("its operand does not fit the bottom") }
        return dims + Array(repeating: 1, count: shape.count - a - dims.count)
    }

    /// Caffe's pooling: windows may run past the padded image on the bottom and right when
    /// rounding up (CEIL), and an average divides by the window's part inside the padded image.
    /// ONNX gets explicit, exact pads: the end pads grow by what the last window overhangs, so
    /// the output size is ONNX's floor rule; MAX ignores padding as Caffe does; for AVE,
    /// AveragePool with count_include_pad divides by k², and a constant map rescales the
    /// windows Caffe divides by less.
    mutating func pool(_ l: PoolingLayer, name: String, x: String, y: String, input: [Int], output: [Int],
                       refuse: (String) -> ConfigError) throws(ConfigError) {
        if l.global {
            switch l.method {
            case .max: emit("GlobalMaxPool", name, [x], [y])
            case .ave: emit("GlobalAveragePool", name, [x], [y])
            case .stochastic: throw refuse("STOCHASTIC pooling has no ONNX operator")
            }
            return
        }
        let w = l.window
        let (h, wd, oh, ow) = (input[2], input[3], output[2], output[3])
        let extraH = max(0, (oh - 1) * w.strideH + w.kernelH - (h + 2 * w.padH))
        let extraW = max(0, (ow - 1) * w.strideW + w.kernelW - (wd + 2 * w.padW))
        let attributes = [attribute("kernel_shape", ints: [w.kernelH, w.kernelW]), attribute("strides", ints: [w.strideH, w.strideW]),
                          attribute("pads", ints: [w.padH, w.padW, w.padH + extraH, w.padW + extraW])]
        switch l.method {
        case .max:
            emit("MaxPool", name, [x], [y], attributes)
        case .ave:
            // Caffe's divisor: the window clipped to the padded image, [−pad, size + pad).
            var rescale = [Float](repeating: 1, count: oh * ow)
            for i in 0..<oh {
                let rows = min(i * w.strideH - w.padH + w.kernelH, h + w.padH) - (i * w.strideH - w.padH)
                for j in 0..<ow {
                    let cols = min(j * w.strideW - w.padW + w.kernelW, wd + w.padW) - (j * w.strideW - w.padW)
                    rescale[i * ow + j] = Float(w.kernelH * w.kernelW) / Float(rows * cols)
                }
            }
            let all = attributes + [attribute("count_include_pad", int: 1)]
            if rescale.allSatisfy({ $0 == 1 }) {
                emit("AveragePool", name, [x], [y], all)
            } else {
                let mean = temporary(name, "mean")
                emit("AveragePool", name, [x], [mean], all)
                emit("Mul", name + "/divisor", [mean, constant("\(name)/divisor", dims: [1, 1, oh, ow], rescale)], [y])
            }
        case .stochastic:
            throw refuse("STOCHASTIC pooling has no ONNX operator")
        }
    }
}
