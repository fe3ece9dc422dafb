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
/// a layer without an equivalent is refused by name. The batch dimension is symbolic (`N`:
/// axis 0, or axis 1 of a recurrent net's time-major blobs). An LSTM's or RNN's carried state
/// becomes graph inputs and outputs that the caller carries.
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

    /// Throws a `ConfigError` for what cannot be exported, or the `FileError` of an entry file.
    public init(entry: Zoo.Entry) throws {
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
        let net = try Net(spec: try NetSpec.load(deployPath), phase: .test, store: store, context: BuildContext(phase: .test, netFile: deployPath, seed: 0))
        let weights = try entry.verifiedPath(card.weights)
        let report = try Weights.read(weights, into: store, for: .testing)
        guard report.initialised.isEmpty else {
            throw ConfigError(file: weights, message: "has no weights for \(report.initialised.joined(separator: ", "))")
        }
        var graph = GraphBuilder(net: net)
        for node in net.nodes { try graph.add(node, file: deployPath) }
        let outputs = graph.outputs()
        var g = Onnx_GraphProto()
        g.name = net.name
        g.node = graph.nodes
        g.initializer = graph.initializers
        g.input = graph.inputs
        g.output = outputs.map { graph.valueInfo($0.name, dims: net.blobs[$0.blob].shape.dims, batchAxis: graph.batchAxis(of: $0.blob)) }
            + graph.stateOutputs

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
            property("dendrite.class_names", json(card.classNames.map(YAMLText.quoted))),
            property("dendrite.input.data_type", card.inputType.rawValue),
            property("dendrite.input.scale", "\(card.scale)"),
            property("dendrite.input.mean_value", json(card.meanValues.map { "\($0)" })),
            property("dendrite.scores", json(outputs.filter(\.isScores).map { YAMLText.quoted($0.name) })),
        ]
        model = m
        inputs = graph.inputs.map(\.name)
        self.outputs = outputs.map(\.name) + graph.stateOutputs.map(\.name)
    }

    public func serialized() throws(ConfigError) -> [UInt8] {
        do { return try model.serializedBytes() } catch {
            throw ConfigError(file: model.graph.name, message: "cannot encode the ONNX model: \(error)")
        }
    }
}

/// The ONNX graph of a net, built node by node.
struct GraphBuilder {
    let net: Net
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    var inputs: [Onnx_ValueInfoProto] = []
    /// The recurrent state's outputs (hT, cT of each LSTM), after the net's own.
    var stateOutputs: [Onnx_ValueInfoProto] = []
    /// Each blob's ONNX name. A blob a layer rewrites in place is a new version of the same
    /// name; the last version keeps the plain name and earlier ones get `@version`.
    let names: [String]
    private var counter = 0
    /// The time-major blobs: what an LSTM or RNN reads or writes, the indices an Embed turns into
    /// its input, and what is computed from them.
    let timeMajor: Set<Int>

    init(net: Net) {
        self.net = net
        var timeMajor = Set<Int>()
        for node in net.nodes where node.layer is LSTMLayer || node.layer is RNNLayer { timeMajor.formUnion(node.bottoms + node.tops) }
        for node in net.nodes.reversed() where node.type == "Embed" && node.tops.contains(where: timeMajor.contains) {
            timeMajor.formUnion(node.bottoms)
        }
        for node in net.nodes where node.type != "Input" && node.bottoms.first.map(timeMajor.contains) == true {
            timeMajor.formUnion(node.tops)
        }
        self.timeMajor = timeMajor
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

    /// A float tensor's name and shape, with axis `batchAxis` the symbolic `N`.
    func valueInfo(_ name: String, dims: [Int], batchAxis: Int = 0) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.enumerated().map { axis, d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if axis == batchAxis { dim.dimParam = "N" } else { dim.dimValue = Int64(d) }
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

    mutating func int64Constant(_ name: String, _ values: [Int]) -> String {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = [Int64(values.count)]
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        t.int64Data = values.map(Int64.init)
        initializers.append(t)
        return name
    }

    /// y = x·a + b elementwise with scalars, leaving out a multiply by 1 and an add of 0.
    mutating func affine(_ layer: String, _ x: String, scale a: Float, shift b: Float) -> String {
        var v = x
        if a != 1 {
            let out = temporary(layer, "scaled")
            emit("Mul", layer + "/scale", [v, constant("\(layer)/scale", dims: [], [a])], [out])
            v = out
        }
        if b != 0 {
            let out = temporary(layer, "shifted")
            emit("Add", layer + "/shift", [v, constant("\(layer)/shift", dims: [], [b])], [out])
            v = out
        }
        return v
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

    mutating func add(_ node: Net.Node, file: String) throws(ConfigError) {
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
            for t in node.tops { inputs.append(valueInfo(names[t], dims: net.blobs[t].shape.dims, batchAxis: batchAxis(of: t))) }

        case let l as LSTMLayer:
            try lstm(l, node: node, x: x, y: y[0], shapes: shapes, refuse: refuse)
        case let l as RNNLayer:
            try rnn(l, node: node, x: x, y: y[0], shapes: shapes, refuse: refuse)

        case let l as ConvolutionLayer:
            try convolution("Conv", l.params, node: node, x: x[0], y: y, shapes: shapes, refuse: refuse)
        case let l as DeconvolutionLayer:
            // Caffe's weight [C, OC/group, kh, kw] is ConvTranspose's layout too.
            try convolution("ConvTranspose", l.params, node: node, x: x[0], y: y, shapes: shapes, refuse: refuse)

        case let l as EmbedLayer:
            // The indices are floats holding integers: Gather wants them as integers.
            let indices = temporary(name, "indices")
            emit("Cast", name + "/cast", x, [indices], [attribute("to", int: Int(Onnx_TensorProto.DataType.int64.rawValue))])
            let w = parameter(0)
            let rows = l.biasTerm ? temporary(name, "rows") : y[0]
            emit("Gather", name, [constant(w.name, dims: w.dims, w.values), indices], [rows], [attribute("axis", int: 0)])
            if l.biasTerm {
                let b = parameter(1)
                emit("Add", name + "/bias", [rows, constant(b.name, dims: b.dims, b.values)], y)
            }

        case let l as ELULayer: emit("Elu", name, x, y, [attribute("alpha", float: l.alpha)])
        case is BNLLLayer: emit("Softplus", name, x, y)

        case let l as PReLULayer:
            let slope = parameter(0)
            let dims = l.channelShared ? [1] : try broadcast(slope.dims, axis: 1, into: shapes[0], refuse: refuse)
            emit("PRelu", name, [x[0], constant(slope.name, dims: dims, slope.values)], y)

        case let l as PowerLayer:
            // (shift + scale·x)^power
            let base = affine(name, x[0], scale: l.scale, shift: l.shift)
            if l.power == 1 {
                emit("Identity", name, [base], y)
            } else {
                emit("Pow", name, [base, constant("\(name)/power", dims: [], [l.power])], y)
            }

        case let l as ExpLayer:
            // base^shift · e^(scale·ln(base)·x)
            let e = l.outerScale == 1 ? y[0] : temporary(name, "exp")
            emit("Exp", name, [affine(name, x[0], scale: l.innerScale, shift: 0)], [e])
            if l.outerScale != 1 { emit("Mul", name + "/outer", [e, constant("\(name)/outer", dims: [], [l.outerScale])], y) }

        case let l as LogLayer:
            // ln(shift + scale·x) / ln(base)
            let ln = l.baseScale == 1 ? y[0] : temporary(name, "ln")
            emit("Log", name, [affine(name, x[0], scale: l.scale, shift: l.shift)], [ln])
            if l.baseScale != 1 { emit("Mul", name + "/base", [ln, constant("\(name)/base", dims: [], [l.baseScale])], y) }

        case let l as ThresholdLayer:
            let above = temporary(name, "above")
            emit("Greater", name, [x[0], constant("\(name)/threshold", dims: [], [l.threshold])], [above])
            emit("Cast", name + "/cast", [above], y, [attribute("to", int: Int(Onnx_TensorProto.DataType.float.rawValue))])

        case is ReshapeLayer:
            // The top's shape, with 0 (ONNX: keep the input's) for a batch axis it keeps.
            let out = net.blobs[node.tops[0]].shape.dims
            let dims = out.enumerated().map { i, d in i == 0 && d == shapes[0][0] ? 0 : d }
            emit("Reshape", name, [x[0], int64Constant("\(name)/shape", dims)], y)

        case let l as SliceLayer:
            let a = l.axis < 0 ? l.axis + shapes[0].count : l.axis
            let sizes = node.tops.map { net.blobs[$0].shape.dims[a] }
            emit("Split", name, [x[0], int64Constant("\(name)/sizes", sizes)], y, [attribute("axis", int: a)])

        case let l as TileLayer:
            let a = l.axis < 0 ? l.axis + shapes[0].count : l.axis
            let repeats = shapes[0].indices.map { $0 == a ? l.tiles : 1 }
            emit("Tile", name, [x[0], int64Constant("\(name)/repeats", repeats)], y)

        case let l as CropLayer:
            // Bottom 1 gives only the shape, which the top has.
            let starts = l.axisOffsets(Shape(shapes[0])), out = net.blobs[node.tops[0]].shape.dims
            let axes = Array(out.indices.dropFirst())  // the batch axis is never cropped in a deploy net's sense: keep it whole
            guard starts[0] == 0, out[0] == shapes[0][0] else { throw refuse("a crop of the batch axis is not exported") }
            emit("Slice", name, [x[0], int64Constant("\(name)/starts", axes.map { starts[$0] }),
                                 int64Constant("\(name)/ends", axes.map { starts[$0] + out[$0] }), int64Constant("\(name)/axes", axes)], y)

        case let l as ReductionLayer:
            // Every axis from `axis` on, to one value, times the coefficient.
            let rank = shapes[0].count, a = l.axis < 0 ? l.axis + rank : l.axis
            let axes = Array(a..<rank)
            let reduced = l.coefficient == 1 ? y[0] : temporary(name, "reduced")
            let keep = attribute("keepdims", int: 0)
            switch l.operation {
            case .sum: emit("ReduceSum", name, [x[0], int64Constant("\(name)/axes", axes)], [reduced], [keep])
            case .absoluteSum: emit("ReduceL1", name, x, [reduced], [attribute("axes", ints: axes), keep])
            case .sumOfSquares: emit("ReduceSumSquare", name, x, [reduced], [attribute("axes", ints: axes), keep])
            case .mean: emit("ReduceMean", name, x, [reduced], [attribute("axes", ints: axes), keep])
            }
            if l.coefficient != 1 { emit("Mul", name + "/coefficient", [reduced, constant("\(name)/coefficient", dims: [], [l.coefficient])], y) }

        case let l as MVNLayer:
            // (x − mean) / (√(mean of (x − mean)²) + eps), over each channel's values (or each sample's).
            let axes = Array((l.acrossChannels ? 1 : 2)..<shapes[0].count)
            let mean = temporary(name, "mean"), centred = l.normalizeVariance ? temporary(name, "centred") : y[0]
            emit("ReduceMean", name + "/mean", x, [mean], [attribute("axes", ints: axes)])
            emit("Sub", name + "/centre", [x[0], mean], [centred])
            if l.normalizeVariance {
                let (variance, std, denominator) = (temporary(name, "variance"), temporary(name, "std"), temporary(name, "denominator"))
                emit("ReduceSumSquare", name + "/squares", [centred], [variance + "/sum"], [attribute("axes", ints: axes)])
                let count = axes.map { shapes[0][$0] }.reduce(1, *)
                emit("Mul", name + "/variance", [variance + "/sum", constant("\(name)/inverse_count", dims: [], [1 / Float(count)])], [variance])
                emit("Sqrt", name + "/std", [variance], [std])
                emit("Add", name + "/eps", [std, constant("\(name)/eps", dims: [], [l.epsilon])], [denominator])
                emit("Div", name, [centred, denominator], y)
            }

        case let l as ArgMaxLayer:
            guard l.topK == 1, !l.outMaxValue else { throw refuse("only the index of the largest value (top_k 1, no out_max_val) is exported") }
            // Ties go to the larger index, as in Caffe: select_last_index.
            let rank = shapes[0].count
            let indices = temporary(name, "indices")
            if let axis = l.axis {
                emit("ArgMax", name, x, [indices], [attribute("axis", int: axis < 0 ? axis + rank : axis), attribute("keepdims", int: 1),
                                                     attribute("select_last_index", int: 1)])
                emit("Cast", name + "/cast", [indices], y, [attribute("to", int: Int(Onnx_TensorProto.DataType.float.rawValue))])
            } else {
                // Over each sample's flattened values, then Caffe's top shape [N, 1, 1(, 1)].
                let flat = temporary(name, "flat"), floats = temporary(name, "floats")
                emit("Flatten", name + "/flatten", x, [flat], [attribute("axis", int: 1)])
                emit("ArgMax", name, [flat], [indices], [attribute("axis", int: 1), attribute("keepdims", int: 1), attribute("select_last_index", int: 1)])
                emit("Cast", name + "/cast", [indices], [floats], [attribute("to", int: Int(Onnx_TensorProto.DataType.float.rawValue))])
                let out = net.blobs[node.tops[0]].shape.dims
                emit("Reshape", name + "/shape", [floats, int64Constant("\(name)/shape", [0] + out.dropFirst())], y)
            }

        case let l as InnerProductLayer where l.axis == shapes[0].count - 1 && l.axis > 1:
            // Over the last axis of [T, N, K] (a recurrent net's scores): MatMul with Wᵀ [K, M].
            let w = parameter(0)
            let (m, k) = l.transpose ? (w.dims[1], w.dims[0]) : (w.dims[0], w.dims[1])
            let wt = l.transpose ? w.values : (0..<(k * m)).map { w.values[($0 % m) * k + $0 / m] }
            let product = l.biasTerm ? temporary(name, "product") : y[0]
            emit("MatMul", name, [x[0], constant(w.name, dims: [k, m], wt)], [product])
            if l.biasTerm {
                let b = parameter(1)
                emit("Add", name + "/bias", [product, constant(b.name, dims: b.dims, b.values)], y)
            }

        case let l as InnerProductLayer:
            guard l.axis == 1 else { throw refuse("only axis 1, or the last axis, is exported") }
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

    /// The axis of a blob that is the batch: 1 in a recurrent net's time-major [T, N, …]
    /// blobs, else 0.
    func batchAxis(of blob: Int) -> Int { timeMajor.contains(blob) ? 1 : 0 }

    /// Conv or ConvTranspose of [N, C, H, W] with the layer's weight and bias.
    mutating func convolution(_ op: String, _ c: ConvolutionParams, node: Net.Node, x: String, y: [String], shapes: [[Int]],
                              refuse: (String) -> ConfigError) throws(ConfigError) {
        guard c.axis == 1, shapes[0].count == 4 else { throw refuse("only 2-D (de)convolutions of [N, C, H, W] are exported") }
        var inputs = [x]
        for p in node.parameters.prefix(c.biasTerm ? 2 : 1) { inputs.append(constant(p.name, dims: p.value.shape.dims, p.value.values)) }
        let w = c.window
        emit(op, node.name, inputs, y, [
            attribute("kernel_shape", ints: [w.kernelH, w.kernelW]), attribute("strides", ints: [w.strideH, w.strideW]),
            attribute("pads", ints: [w.padH, w.padW, w.padH, w.padW]), attribute("dilations", ints: [c.dilationH, c.dilationW]),
            attribute("group", int: c.group),
        ])
    }

    /// A recurrent layer's carried state over one step (T = 1): graph inputs `NAME/h0` (and
    /// `NAME/c0`) in, outputs `NAME/hT` (and `NAME/cT`) out, each [1, N, H], which the caller
    /// carries. Caffe's cont multiplies the carried state, so it enters multiplied by cont.
    /// Returns the masked initial states.
    mutating func recurrentState(_ name: String, kind: String, bottoms: Int, exposeHidden: Bool, input: [Int], cont: String,
                                 states: [String], hidden h: Int, refuse: (String) -> ConfigError) throws(ConfigError) -> [String] {
        guard !exposeHidden, bottoms == 2 else { throw refuse("only \(kind) with bottoms x and cont (no x_static, no expose_hidden) is exported") }
        guard input.count == 3, input[0] == 1 else {
            throw refuse("only one step per forward (T = 1, as a deploy net runs) is exported: cont may restart a sequence within T, which ONNX's \(kind) cannot")
        }
        let mask = temporary(name, "cont")  // cont [1, N] → [1, N, 1]
        emit("Unsqueeze", name + "/cont", [cont, int64Constant("\(name)/cont_axes", [2])], [mask])
        return states.map { s in
            inputs.append(valueInfo("\(name)/\(s)0", dims: [1, input[1], h], batchAxis: 1))
            stateOutputs.append(valueInfo("\(name)/\(s)T", dims: [1, input[1], h], batchAxis: 1))
            let masked = temporary(name, "\(s)0")
            emit("Mul", "\(name)/\(s)0_cont", ["\(name)/\(s)0", mask], [masked])
            return masked
        }
    }

    /// Caffe's LSTM over one step, as ONNX's LSTM with its state carried by the caller
    /// (`recurrentState`). Caffe's gate blocks i, f, o, g become ONNX's i, o, f, c; ONNX's
    /// second bias (on R·h) is 0.
    mutating func lstm(_ l: LSTMLayer, node: Net.Node, x: [String], y: String, shapes: [[Int]],
                       refuse: (String) -> ConfigError) throws(ConfigError) {
        let name = node.name, h = l.numOutput
        let state = try recurrentState(name, kind: "an LSTM", bottoms: node.bottoms.count, exposeHidden: l.exposeHidden, input: shapes[0],
                                       cont: x.count > 1 ? x[1] : "", states: ["h", "c"], hidden: h, refuse: refuse)
        func gates(_ values: [Float], columns: Int) -> [Float] {
            // Rows in blocks of H: Caffe's i, f, o, g → ONNX's i, o, f, c.
            [0, 2, 1, 3].flatMap { block in values[(block * h * columns)..<((block + 1) * h * columns)] }
        }
        let wxc = node.parameters[0], bc = node.parameters[1], whc = node.parameters[2]
        let input = wxc.value.shape.dims[1]
        let w = constant(wxc.name, dims: [1, 4 * h, input], gates(wxc.value.values, columns: input))
        let r = constant(whc.name, dims: [1, 4 * h, h], gates(whc.value.values, columns: h))
        let b = constant(bc.name, dims: [1, 8 * h], gates(bc.value.values, columns: 1) + Array(repeating: 0, count: 4 * h))
        let sequence = temporary(name, "Y")
        emit("LSTM", name, [x[0], w, r, b, "", state[0], state[1]], [sequence, "\(name)/hT", "\(name)/cT"], [attribute("hidden_size", int: h)])
        // Y [T, directions = 1, N, H] → [T, N, H].
        emit("Squeeze", name + "/squeeze", [sequence, int64Constant("\(name)/squeeze_axes", [1])], [y])
    }

    /// Caffe's RNN over one step: ONNX's RNN gives h_t = tanh(W_xh·x + b_h + W_hh·h) with the
    /// state carried by the caller (`recurrentState`); then o_t = tanh(W_ho·h_t + b_o).
    mutating func rnn(_ l: RNNLayer, node: Net.Node, x: [String], y: String, shapes: [[Int]],
                      refuse: (String) -> ConfigError) throws(ConfigError) {
        let name = node.name, h = l.numOutput
        let state = try recurrentState(name, kind: "an RNN", bottoms: node.bottoms.count, exposeHidden: l.exposeHidden, input: shapes[0],
                                       cont: x.count > 1 ? x[1] : "", states: ["h"], hidden: h, refuse: refuse)
        let (wxh, bh, whh, who, bo) = (node.parameters[0], node.parameters[1], node.parameters[2], node.parameters[3], node.parameters[4])
        let input = wxh.value.shape.dims[1]
        let w = constant(wxh.name, dims: [1, h, input], wxh.value.values)
        let r = constant(whh.name, dims: [1, h, h], whh.value.values)
        let b = constant(bh.name, dims: [1, 2 * h], bh.value.values + Array(repeating: 0, count: h))
        let (sequence, hidden, product, sum) = (temporary(name, "Y"), temporary(name, "h"), temporary(name, "Who_h"), temporary(name, "o_in"))
        emit("RNN", name, [x[0], w, r, b, "", state[0]], [sequence, "\(name)/hT"], [attribute("hidden_size", int: h)])
        emit("Squeeze", name + "/squeeze", [sequence, int64Constant("\(name)/squeeze_axes", [1])], [hidden])
        let wo = who.value.values  // [H, H] → its transpose, for h [T, N, H] · Wᵀ
        emit("MatMul", name + "/output", [hidden, constant(who.name, dims: [h, h], (0..<(h * h)).map { wo[($0 % h) * h + $0 / h] })], [product])
        emit("Add", name + "/output_bias", [product, constant(bo.name, dims: [h], bo.value.values)], [sum])
        emit("Tanh", name + "/output_tanh", [sum], [y])
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
