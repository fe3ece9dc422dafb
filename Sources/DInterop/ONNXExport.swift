import DConfig
import DCore
import DLayers
import DNet
import DZoo
import FoundationEssentials
import SwiftProtobuf

/// `dzoo export-onnx`: a zoo entry's deploy net and weights as an ONNX model (opset 13, IR
/// version 7), written with swift-protobuf from our onnx.proto.
///
/// Every deploy layer becomes ONNX operators that compute what it computes in phase TEST; a
/// layer with no part in a deploy net (data layers, losses, Accuracy) is refused by name. The
/// batch dimension is symbolic (`N`: axis 0, or axis 1 of a recurrent net's time-major blobs).
/// An LSTM's or RNN's steps are unrolled, and its carried state, unless exposed, becomes graph
/// inputs and outputs that the caller carries.
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
        for node in net.nodes where node.layer is LSTMLayer || node.layer is RNNLayer {
            // All but x_static [N, …], which has no time axis.
            let staticInput = Self.recurrentInputs(node).staticInput
            timeMajor.formUnion(node.bottoms.enumerated().filter { $0.offset != staticInput }.map(\.element) + node.tops)
        }
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
            lstm(l, node: node, x: x, y: y, shapes: shapes)
        case let l as RNNLayer:
            rnn(l, node: node, x: x, y: y, shapes: shapes)

        case let l as ConvolutionLayer:
            convolution("Conv", l.params, node: node, x: x[0], y: y, shapes: shapes)
        case let l as DeconvolutionLayer:
            // Caffe's weight [C, OC/group, kh, kw] is ConvTranspose's layout too.
            convolution("ConvTranspose", l.params, node: node, x: x[0], y: y, shapes: shapes)

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
            reshape(name, x[0], from: node.bottoms[0], to: node.tops[0], y[0])

        case let l as SliceLayer:
            let a = l.axis < 0 ? l.axis + shapes[0].count : l.axis
            let sizes = node.tops.map { net.blobs[$0].shape.dims[a] }
            emit("Split", name, [x[0], int64Constant("\(name)/sizes", sizes)], y, [attribute("axis", int: a)])

        case let l as TileLayer:
            let a = l.axis < 0 ? l.axis + shapes[0].count : l.axis
            let repeats = shapes[0].indices.map { $0 == a ? l.tiles : 1 }
            emit("Tile", name, [x[0], int64Constant("\(name)/repeats", repeats)], y)

        case let l as CropLayer:
            // Bottom 1 gives only the shape, which the top has. The batch axis is sliced only
            // when it is cropped, so that an uncropped one stays symbolic.
            let starts = l.axisOffsets(Shape(shapes[0])), out = net.blobs[node.tops[0]].shape.dims
            let axes = out.indices.filter { $0 > 0 || starts[0] != 0 || out[0] != shapes[0][0] }
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
            // TopK breaks ties towards the lower index, Caffe towards the larger: rank the values
            // reversed along the axis, then map the indices back, i → n − 1 − i.
            let rank = shapes[0].count, flat = l.axis == nil
            let a = l.axis.map { $0 < 0 ? $0 + rank : $0 } ?? 1
            var ranked = x[0]
            if flat {  // each sample's flattened values: [N, n]
                ranked = temporary(name, "flat")
                emit("Flatten", name + "/flatten", x, [ranked], [attribute("axis", int: 1)])
            }
            let n = flat ? shapes[0].dropFirst().reduce(1, *) : shapes[0][a]
            let reversed = temporary(name, "reversed"), values = temporary(name, "values")
            let reversedIndices = temporary(name, "reversed_indices"), indices = temporary(name, "indices")
            emit("Slice", name + "/reverse", [ranked, int64Constant("\(name)/reverse_starts", [-1]), int64Constant("\(name)/reverse_ends", [Int.min]),
                                             int64Constant("\(name)/reverse_axes", [a]), int64Constant("\(name)/reverse_steps", [-1])], [reversed])
            emit("TopK", name, [reversed, int64Constant("\(name)/k", [l.topK])], [values, reversedIndices],
                 [attribute("axis", int: a), attribute("largest", int: 1), attribute("sorted", int: 1)])
            emit("Sub", name + "/unreverse", [int64Constant("\(name)/last", [n - 1]), reversedIndices], [indices])
            let float = attribute("to", int: Int(Onnx_TensorProto.DataType.float.rawValue))
            if !flat {  // along the axis: the indices, or the values with out_max_val
                if l.outMaxValue { emit("Identity", name + "/values", [values], y) } else { emit("Cast", name + "/cast", [indices], y, [float]) }
            } else {
                // Caffe's top [N, 1, top_k(, 1)], or [N, 2, top_k(, 1)]: the indices, then the values.
                let floats = temporary(name, "floats"), rows = l.outMaxValue ? temporary(name, "rows") : floats
                emit("Cast", name + "/cast", [indices], [floats], [float])
                if l.outMaxValue { emit("Concat", name + "/values", [floats, values], [rows], [attribute("axis", int: 1)]) }
                let out = net.blobs[node.tops[0]].shape.dims
                emit("Reshape", name + "/shape", [rows, int64Constant("\(name)/shape", [0] + out.dropFirst())], y)
            }

        case let l as InnerProductLayer where l.axis == 1:
            var input = x[0]
            if shapes[0].count > 2 {
                input = temporary(name, "flat")
                emit("Flatten", name + "/flatten", [x[0]], [input], [attribute("axis", int: 1)])
            }
            let w = parameter(0)
            var inputs = [input, constant(w.name, dims: w.dims, w.values)]
            if l.biasTerm { let b = parameter(1); inputs.append(constant(b.name, dims: b.dims, b.values)) }
            emit("Gemm", name, inputs, y, [attribute("transB", int: l.transpose ? 0 : 1)])

        case let l as InnerProductLayer:
            // From another axis a, e.g. the last of a recurrent net's [T, N, K]: the axes from a
            // on flattened to K, then MatMul with Wᵀ [K, M] over the axes before a.
            let a = l.axis < 0 ? l.axis + shapes[0].count : l.axis
            var input = x[0]
            if a < shapes[0].count - 1 {
                input = temporary(name, "flat")
                emit("Reshape", name + "/flatten", [x[0], int64Constant("\(name)/flat_shape", Array(repeating: 0, count: a) + [-1])], [input])
            }
            let w = parameter(0)
            let (m, k) = l.transpose ? (w.dims[1], w.dims[0]) : (w.dims[0], w.dims[1])
            let wt = l.transpose ? w.values : (0..<(k * m)).map { w.values[($0 % m) * k + $0 / m] }
            let product = l.biasTerm ? temporary(name, "product") : y[0]
            emit("MatMul", name, [input, constant(w.name, dims: [k, m], wt)], [product])
            if l.biasTerm {
                let b = parameter(1)
                emit("Add", name + "/bias", [product, constant(b.name, dims: b.dims, b.values)], y)
            }

        case let l as PoolingLayer:
            pool(l, name: name, x: x[0], y: y[0], input: shapes[0], output: net.blobs[node.tops[0]].shape.dims)

        case let l as ReLULayer:
            if l.slope == 0 { emit("Relu", name, x, y) } else { emit("LeakyRelu", name, x, y, [attribute("alpha", float: l.slope)]) }
        case is SigmoidLayer: emit("Sigmoid", name, x, y)
        case is TanHLayer: emit("Tanh", name, x, y)
        case is AbsValLayer: emit("Abs", name, x, y)
        case is DropoutLayer, is NoiseLayer: emit("Identity", name, x, y)  // the identity at test time
        case is SilenceLayer: break  // a sink: nothing to compute
        case is SplitLayer: for (i, top) in y.enumerated() { emit("Identity", "\(name)/\(i)", x, [top]) }

        case let l as SoftmaxLayer:
            emit("Softmax", name, x, y, [attribute("axis", int: l.axis)])

        case let l as LRNLayer:
            guard l.region == .acrossChannels else { lrnWithinChannel(l, name: name, x: x[0], y: y[0]); break }
            emit("LRN", name, x, y, [attribute("size", int: l.localSize), attribute("alpha", float: l.alpha),
                                     attribute("beta", float: l.beta), attribute("bias", float: l.k)])

        case let l as BatchNormLayer:
            guard l.useGlobalStats ?? true else {
                // use_global_stats: false normalises by the batch's own statistics, per channel
                // over every axis but 1: (x − μ)/√(σ² + eps), σ² the biased variance.
                let axes = [0] + Array(2..<shapes[0].count)
                let (mean, centred, squares, variance) = (temporary(name, "mean"), temporary(name, "centred"), temporary(name, "squares"), temporary(name, "variance"))
                let std = temporary(name, "std")
                emit("ReduceMean", name + "/mean", x, [mean], [attribute("axes", ints: axes)])
                emit("Sub", name + "/centre", [x[0], mean], [centred])
                emit("Mul", name + "/squares", [centred, centred], [squares])
                emit("ReduceMean", name + "/variance", [squares], [variance], [attribute("axes", ints: axes)])
                emit("Sqrt", name + "/std", [affine(name, variance, scale: 1, shift: l.eps)], [std])
                emit("Div", name, [centred, std], y)
                break
            }
            // Global statistics: μ = mean/factor, σ² = variance/factor (0 when factor is 0).
            let factor = parameter(2).values.first ?? 0, s: Float = factor == 0 ? 0 : 1 / factor
            let mean = parameter(0), variance = parameter(1)
            let c = mean.values.count
            emit("BatchNormalization", name, [
                x[0], constant("\(name)/scale", dims: [c], Array(repeating: 1, count: c)), constant("\(name)/shift", dims: [c], Array(repeating: 0, count: c)),
                constant(mean.name, dims: [c], mean.values.map { $0 * s }), constant(variance.name, dims: [c], variance.values.map { $0 * s }),
            ], y, [attribute("epsilon", float: l.eps)])

        case let l as ScaleLayer:
            let fromBottom = node.bottoms.count == 2
            let scale: String
            if fromBottom {
                scale = try operand(x[1], shape: shapes[1], axis: l.operand.axis, into: shapes[0], name: name, refuse: refuse)
            } else {
                let p = parameter(0)
                scale = constant(p.name, dims: try broadcast(p.dims, axis: l.operand.axis, into: shapes[0], refuse: refuse), p.values)
            }
            let scaled = l.biasTerm ? temporary(name, "scaled") : y[0]
            emit("Mul", name, [x[0], scale], [scaled])
            if l.biasTerm {
                let bias = parameter(fromBottom ? 0 : 1)
                let dims = try broadcast(bias.dims, axis: l.operand.axis, into: shapes[0], refuse: refuse)
                emit("Add", name + "/bias", [scaled, constant(bias.name, dims: dims, bias.values)], y)
            }

        case let l as BiasLayer:
            let bias: String
            if node.bottoms.count == 2 {
                bias = try operand(x[1], shape: shapes[1], axis: l.operand.axis, into: shapes[0], name: name, refuse: refuse)
            } else {
                let p = parameter(0)
                bias = constant(p.name, dims: try broadcast(p.dims, axis: l.operand.axis, into: shapes[0], refuse: refuse), p.values)
            }
            emit("Add", name, [x[0], bias], y)

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
                // ONNX's Mul takes two: a chain, left to right as Caffe multiplies.
                var product = x[0]
                for (i, factor) in x.dropFirst().enumerated() {
                    let out = i == x.count - 2 ? y[0] : temporary(name, "product\(i)")
                    emit("Mul", i == 0 ? name : "\(name)/\(i)", [product, factor], [out])
                    product = out
                }
            case .max: emit("Max", name, x, y)
            }

        case let l as FlattenLayer:
            let rank = shapes[0].count
            if l.axis == 1 || l.axis == 1 - rank, l.endAxis == -1 || l.endAxis == rank - 1 {
                emit("Flatten", name, x, y, [attribute("axis", int: 1)])
            } else {
                reshape(name, x[0], from: node.bottoms[0], to: node.tops[0], y[0])
            }

        case _ where node.bottoms.isEmpty:
            throw refuse("makes its own data: a deploy net reads it from an Input layer instead")
        case let l where l.isLoss || node.type == "Accuracy":
            throw refuse("needs labels to train or evaluate: a deploy net has no losses or Accuracy")
        default:
            throw refuse("has no ONNX export")
        }
    }

    /// Reshape to the top's shape, with 0 (ONNX: keep the input's) for a batch axis that stays
    /// where it was, so that it stays symbolic.
    mutating func reshape(_ name: String, _ x: String, from bottom: Int, to top: Int, _ y: String) {
        let (input, out, axis) = (net.blobs[bottom].shape.dims, net.blobs[top].shape.dims, batchAxis(of: bottom))
        let dims = out.enumerated().map { i, d in i == axis && i < input.count && d == input[i] ? 0 : d }
        emit("Reshape", name, [x, int64Constant("\(name)/shape", dims)], [y])
    }

    /// The axis of a blob that is the batch: 1 in a recurrent net's time-major [T, N, …]
    /// blobs, else 0.
    func batchAxis(of blob: Int) -> Int { timeMajor.contains(blob) ? 1 : 0 }

    /// Conv or ConvTranspose with the layer's weight and bias, over one or two spatial axes
    /// after the channel axis. Axes before the channel axis are images: [N, T, C, L] with axis 2
    /// is reshaped to [N·T, C, L] and back.
    mutating func convolution(_ op: String, _ c: ConvolutionParams, node: Net.Node, x: String, y: [String], shapes: [[Int]]) {
        let rank = shapes[0].count, a = c.axis < 0 ? c.axis + rank : c.axis, spatial = rank - a - 1
        var inputs = [x]
        if a != 1 {
            inputs[0] = temporary(node.name, "images")
            emit("Reshape", node.name + "/images", [x, int64Constant("\(node.name)/images_shape", [-1] + shapes[0][a...])], [inputs[0]])
        }
        for p in node.parameters.prefix(c.biasTerm ? 2 : 1) { inputs.append(constant(p.name, dims: p.value.shape.dims, p.value.values)) }
        // One value per spatial axis: (h, w), or h alone for one axis.
        func perAxis(_ h: Int, _ w: Int) -> [Int] { Array([h, w].prefix(spatial)) }
        let w = c.window, pads = perAxis(w.padH, w.padW)
        let output = a != 1 ? temporary(node.name, "output") : y[0]
        emit(op, node.name, inputs, [output], [
            attribute("kernel_shape", ints: perAxis(w.kernelH, w.kernelW)), attribute("strides", ints: perAxis(w.strideH, w.strideW)),
            attribute("pads", ints: pads + pads), attribute("dilations", ints: perAxis(c.dilationH, c.dilationW)),
            attribute("group", int: c.group),
        ])
        if a != 1 {
            // The top's shape with −1 for the batch: the images axis holds N·T.
            let out = net.blobs[node.tops[0]].shape.dims
            emit("Reshape", node.name + "/shape", [output, int64Constant("\(node.name)/shape", [-1] + out.dropFirst())], y)
        }
    }

    /// Where a recurrent layer's bottoms are: x, cont, optionally x_static, and with
    /// `expose_hidden` the initial states last (h, and c for an LSTM).
    static func recurrentInputs(_ node: Net.Node) -> (staticInput: Int?, states: Int, exposed: Bool) {
        let (states, exposed) = node.layer is LSTMLayer ? (2, (node.layer as? LSTMLayer)?.exposeHidden ?? false)
                                                         : (1, (node.layer as? RNNLayer)?.exposeHidden ?? false)
        let hasStatic = node.bottoms.count == 3 + (exposed ? states : 0)
        return (hasStatic ? 2 : nil, states, exposed)
    }

    /// Caffe's LSTM or RNN over the T steps of x [T, N, …], unrolled into one-step ONNX `op`
    /// nodes: ONNX's own cannot restart a sequence where cont_t is 0 inside its input, so each
    /// step gets the carried state times cont_t. x is flattened to [T, N, I], and x_static
    /// [N, …] joins it at every step ([T, N, I + S]), its weights appended to the input
    /// weights `w` ([1, G, I + S]). The initial state is the exposed bottoms, or graph inputs
    /// `NAME/h0` (`NAME/c0`) [1, N, H] that the caller carries, the final state the exposed
    /// tops, or graph outputs `NAME/hT` (`NAME/cT`). Writes h over the steps [T, N, H] to `output`.
    mutating func recurrentSteps(_ op: String, node: Net.Node, x: [String], tops: [String], shapes: [[Int]],
                                 w: String, r: String, b: String, hidden h: Int, output: String) {
        let name = node.name, (staticInput, stateCount, exposed) = Self.recurrentInputs(node)
        let (steps, batch) = (shapes[0][0], shapes[0][1])
        var input = x[0]
        if shapes[0].count != 3 {
            input = temporary(name, "x")
            emit("Reshape", name + "/x", [x[0], int64Constant("\(name)/x_shape", [steps, 0, -1])], [input])
        }
        if let staticInput {
            // [N, …] → [N, S] → [1, N, S] → [T, N, S], beside x's I values.
            let (flat, step, repeated, joined) = (temporary(name, "static"), temporary(name, "static_step"), temporary(name, "static_steps"), temporary(name, "x_static"))
            emit("Flatten", name + "/static", [x[staticInput]], [flat], [attribute("axis", int: 1)])
            emit("Unsqueeze", name + "/static_step", [flat, int64Constant("\(name)/static_axes", [0])], [step])
            emit("Tile", name + "/static_steps", [step, int64Constant("\(name)/static_repeats", [steps, 1, 1])], [repeated])
            emit("Concat", name + "/x_static", [input, repeated], [joined], [attribute("axis", int: 2)])
            input = joined
        }
        let stateNames = ["h", "c"].prefix(stateCount)
        var state: [String] = stateNames.map { s in
            if exposed { return x[x.count - stateCount + (s == "h" ? 0 : 1)] }
            inputs.append(valueInfo("\(name)/\(s)0", dims: [1, batch, h], batchAxis: 1))
            return "\(name)/\(s)0"
        }
        let final: [String] = stateNames.enumerated().map { i, s in
            if exposed { return tops[1 + i] }
            stateOutputs.append(valueInfo("\(name)/\(s)T", dims: [1, batch, h], batchAxis: 1))
            return "\(name)/\(s)T"
        }
        let mask = temporary(name, "cont")  // cont [T, N] → [T, N, 1]
        emit("Unsqueeze", name + "/cont", [x[1], int64Constant("\(name)/cont_axes", [2])], [mask])
        var hs: [String] = []
        for t in 0..<steps {
            func at(_ v: String, _ what: String) -> String {
                guard steps > 1 else { return v }
                let out = temporary(name, "\(what)\(t)")
                emit("Slice", "\(name)/\(what)\(t)", [v, int64Constant("\(name)/\(what)\(t)_start", [t]), int64Constant("\(name)/\(what)\(t)_end", [t + 1]),
                                                    int64Constant("\(name)/\(what)\(t)_axes", [0])], [out])
                return out
            }
            let (xt, maskT) = (at(input, "x"), at(mask, "cont"))
            let carried: [String] = zip(stateNames, state).map { s, v in
                let out = temporary(name, "\(s)\(t)_in")
                emit("Mul", "\(name)/\(s)\(t)_cont", [v, maskT], [out])
                return out
            }
            state = t == steps - 1 ? final : stateNames.map { temporary(name, "\($0)\(t)") }
            // Y [1, 1, N, H] is h_t again: the steps' h are taken from the state outputs.
            emit(op, steps > 1 ? "\(name)/step\(t)" : name, [xt, w, r, b, ""] + carried, [""] + state, [attribute("hidden_size", int: h)])
            hs.append(state[0])
        }
        emit("Concat", name + "/steps", hs, [output], [attribute("axis", int: 0)])
    }

    /// The input weights with x_static's appended to each row: [G, I] and [G, S] → [G, I + S].
    func joinedInputWeights(_ node: Net.Node, _ staticInput: Int?, rows: Int) -> (values: [Float], columns: Int) {
        let wx = node.parameters[0].value
        guard staticInput != nil else { return (wx.values, wx.shape.dims[1]) }
        let ws = node.parameters[2].value
        let (i, s) = (wx.shape.dims[1], ws.shape.dims[1])
        var joined: [Float] = []
        joined.reserveCapacity(rows * (i + s))
        for r in 0..<rows {
            joined += wx.values[(r * i)..<((r + 1) * i)]
            joined += ws.values[(r * s)..<((r + 1) * s)]
        }
        return (joined, i + s)
    }

    /// Caffe's LSTM as ONNX LSTM steps (`recurrentSteps`). Caffe's gate blocks i, f, o, g
    /// become ONNX's i, o, f, c; ONNX's second bias (on R·h) is 0.
    mutating func lstm(_ l: LSTMLayer, node: Net.Node, x: [String], y: [String], shapes: [[Int]]) {
        let h = l.numOutput, staticInput = Self.recurrentInputs(node).staticInput
        func gates(_ values: [Float], columns: Int) -> [Float] {
            // Rows in blocks of H: Caffe's i, f, o, g → ONNX's i, o, f, c.
            [0, 2, 1, 3].flatMap { block in values[(block * h * columns)..<((block + 1) * h * columns)] }
        }
        let input = joinedInputWeights(node, staticInput, rows: 4 * h)
        let (bc, whc) = (node.parameters[1], node.parameters[staticInput == nil ? 2 : 3])
        let w = constant(node.parameters[0].name, dims: [1, 4 * h, input.columns], gates(input.values, columns: input.columns))
        let r = constant(whc.name, dims: [1, 4 * h, h], gates(whc.value.values, columns: h))
        let b = constant(bc.name, dims: [1, 8 * h], gates(bc.value.values, columns: 1) + Array(repeating: 0, count: 4 * h))
        recurrentSteps("LSTM", node: node, x: x, tops: y, shapes: shapes, w: w, r: r, b: b, hidden: h, output: y[0])
    }

    /// Caffe's RNN: ONNX RNN steps (`recurrentSteps`) give h_t = tanh(W_xh·x_t + b_h + W_hh·h);
    /// then Caffe's output o_t = tanh(W_ho·h_t + b_o).
    mutating func rnn(_ l: RNNLayer, node: Net.Node, x: [String], y: [String], shapes: [[Int]]) {
        let name = node.name, h = l.numOutput, staticInput = Self.recurrentInputs(node).staticInput
        let rest = node.parameters.dropFirst(staticInput == nil ? 2 : 3).map(\.self)  // W_hh, W_ho, b_o
        let (bh, whh, who, bo) = (node.parameters[1], rest[0], rest[1], rest[2])
        let input = joinedInputWeights(node, staticInput, rows: h)
        let w = constant(node.parameters[0].name, dims: [1, h, input.columns], input.values)
        let r = constant(whh.name, dims: [1, h, h], whh.value.values)
        let b = constant(bh.name, dims: [1, 2 * h], bh.value.values + Array(repeating: 0, count: h))
        let (hidden, product, sum) = (temporary(name, "h"), temporary(name, "Who_h"), temporary(name, "o_in"))
        recurrentSteps("RNN", node: node, x: x, tops: y, shapes: shapes, w: w, r: r, b: b, hidden: h, output: hidden)
        let wo = who.value.values  // [H, H] → its transpose, for h [T, N, H] · Wᵀ
        emit("MatMul", name + "/output", [hidden, constant(who.name, dims: [h, h], (0..<(h * h)).map { wo[($0 % h) * h + $0 / h] })], [product])
        emit("Add", name + "/output_bias", [product, constant(bo.name, dims: [h], bo.value.values)], [sum])
        emit("Tanh", name + "/output_tanh", [sum], [y[0]])
    }

    /// A per-channel operand of `dims` applied from `axis` of a bottom of rank `shape.count`, as
    /// ONNX broadcasts (right-aligned): the operand's dims followed by ones.
    func broadcast(_ dims: [Int], axis: Int, into shape: [Int], refuse: (String) -> ConfigError) throws(ConfigError) -> [Int] {
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0, a + dims.count <= shape.count else { throw refuse("its operand does not fit the bottom") }
        return dims + Array(repeating: 1, count: shape.count - a - dims.count)
    }

    /// Bottom 1 `x` as the operand of a Scale or Bias applied from `axis` of bottom 0: its dims
    /// followed by ones (Unsqueeze), as ONNX broadcasts. [N, C] from axis 0 of [N, C, H, W] → [N, C, 1, 1].
    mutating func operand(_ x: String, shape: [Int], axis: Int, into bottom: [Int], name: String,
                          refuse: (String) -> ConfigError) throws(ConfigError) -> String {
        let ones = try broadcast(shape, axis: axis, into: bottom, refuse: refuse).count - shape.count
        guard ones > 0, !shape.isEmpty else { return x }
        let out = temporary(name, "operand")
        emit("Unsqueeze", name + "/operand", [x, int64Constant("\(name)/operand_axes", Array(shape.count..<(shape.count + ones)))], [out])
        return out
    }

    /// Caffe's pooling: windows may run past the padded image on the bottom and right when
    /// rounding up (CEIL), and an average divides by the window's part inside the padded image.
    /// ONNX gets explicit, exact pads: the end pads grow by what the last window overhangs, so
    /// the output size is ONNX's floor rule; MAX ignores padding as Caffe does; for AVE,
    /// AveragePool with count_include_pad divides by k², and a constant map rescales the
    /// windows Caffe divides by less. STOCHASTIC in TEST is the expectation of its draw,
    /// Σw²/Σw over each window with w = max(x, 0) (0 where Σw = 0): a ratio of two averages
    /// over the same windows, whose divisors cancel.
    mutating func pool(_ l: PoolingLayer, name: String, x: String, y: String, input: [Int], output: [Int]) {
        let w = l.window
        let (h, wd, oh, ow) = (input[2], input[3], output[2], output[3])
        let extraH = max(0, (oh - 1) * w.strideH + w.kernelH - (h + 2 * w.padH))
        let extraW = max(0, (ow - 1) * w.strideW + w.kernelW - (wd + 2 * w.padW))
        let window = [attribute("kernel_shape", ints: [w.kernelH, w.kernelW]), attribute("strides", ints: [w.strideH, w.strideW]),
                      attribute("pads", ints: [w.padH, w.padW, w.padH + extraH, w.padW + extraW])]
        // The sum over each window divided by k² (zero padding counted), or by the plane's area.
        func average(_ input: String, _ output: String, _ node: String) {
            if l.global {
                emit("GlobalAveragePool", node, [input], [output])
            } else {
                emit("AveragePool", node, [input], [output], window + [attribute("count_include_pad", int: 1)])
            }
        }
        switch l.method {
        case .max:
            if l.global { emit("GlobalMaxPool", name, [x], [y]) } else { emit("MaxPool", name, [x], [y], window) }
        case .ave:
            // Caffe's divisor: the window clipped to the padded image, [−pad, size + pad).
            var rescale = [Float](repeating: 1, count: oh * ow)
            for i in 0..<oh where !l.global {
                let rows = min(i * w.strideH - w.padH + w.kernelH, h + w.padH) - (i * w.strideH - w.padH)
                for j in 0..<ow {
                    let cols = min(j * w.strideW - w.padW + w.kernelW, wd + w.padW) - (j * w.strideW - w.padW)
                    rescale[i * ow + j] = Float(w.kernelH * w.kernelW) / Float(rows * cols)
                }
            }
            if rescale.allSatisfy({ $0 == 1 }) {
                average(x, y, name)
            } else {
                let mean = temporary(name, "mean")
                average(x, mean, name)
                emit("Mul", name + "/divisor", [mean, constant("\(name)/divisor", dims: [1, 1, oh, ow], rescale)], [y])
            }
        case .stochastic:
            let (positive, squares) = (temporary(name, "positive"), temporary(name, "squares"))
            let (sum, squareSum, ratio, nonzero) = (temporary(name, "sum"), temporary(name, "square_sum"), temporary(name, "ratio"), temporary(name, "nonzero"))
            let zero = constant("\(name)/zero", dims: [], [0])
            emit("Relu", name + "/positive", [x], [positive])
            emit("Mul", name + "/squares", [positive, positive], [squares])
            average(positive, sum, name + "/sum")
            average(squares, squareSum, name + "/square_sum")
            emit("Div", name + "/ratio", [squareSum, sum], [ratio])
            emit("Greater", name + "/nonzero", [sum, zero], [nonzero])
            emit("Where", name, [nonzero, ratio, zero], [y])
        }
    }

    /// Caffe's WITHIN_CHANNEL LRN: y = x·(1 + α·mean of x² over the n×n window)^−β, the mean
    /// an average pooling with stride 1 and pad (n − 1)/2 that keeps the plane (windows never
    /// leave the padded image, so the divisor is always n²).
    mutating func lrnWithinChannel(_ l: LRNLayer, name: String, x: String, y: String) {
        let half = (l.localSize - 1) / 2
        let (squares, mean, scale) = (temporary(name, "squares"), temporary(name, "mean"), temporary(name, "scale"))
        emit("Mul", name + "/squares", [x, x], [squares])
        emit("AveragePool", name + "/mean", [squares], [mean], [
            attribute("kernel_shape", ints: [l.localSize, l.localSize]), attribute("strides", ints: [1, 1]),
            attribute("pads", ints: [half, half, half, half]), attribute("count_include_pad", int: 1),
        ])
        emit("Pow", name, [affine(name, mean, scale: l.alpha, shift: 1), constant("\(name)/power", dims: [], [-l.beta])], [scale])
        emit("Mul", name + "/normalise", [x, scale], [y])
    }
}
