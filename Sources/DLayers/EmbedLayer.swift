import DConfig
import DCore

/// Caffe's Embed: a learned lookup table, y[…, :] = W[x[…], :] + b, for integer indices stored
/// as floats (word ids). It equals an InnerProduct over one-hot vectors, without building them.
/// Shapes: bottom [D…] (any shape) → top [D…, num_output]; weight [input_dim, num_output] (one
/// row per index: Caffe's layout, InnerProduct's transposed), bias [num_output].
public final class EmbedLayer: Layer {
    public let name: String
    public let numOutput: Int
    public let inputDim: Int
    public let biasTerm: Bool
    let weightFiller, biasFiller: Filler

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("embed_param")
        guard p.has("num_output") else { throw p.missing("num_output", hint: "the size of each embedding vector") }
        numOutput = try p.int("num_output", default: 1, min: 1)
        guard p.has("input_dim") else {
            throw p.missing("input_dim", hint: "the number of rows of the table: one more than the largest index (the vocabulary size)")
        }
        inputDim = try p.int("input_dim", default: 1, min: 1)
        biasTerm = try p.bool("bias_term", default: true)
        weightFiller = try p.filler("weight_filler", default: .xavier(.fanIn))
        biasFiller = try p.filler("bias_filler", default: .constant(value: 0))
        try p.finish()
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        [Shape(bottoms[0].dims + [numOutput])]
    }

    public func parameters(for bottoms: [Shape]) -> [ParameterDecl] {
        let weight = ParameterDecl("weight", Shape([inputDim, numOutput]), filler: weightFiller)
        return biasTerm ? [weight, ParameterDecl("bias", Shape([numOutput]), filler: biasFiller)] : [weight]
    }

    /// An index has no gradient (Caffe refuses to propagate to it too).
    public func propagates(toBottom i: Int) -> Bool { false }

    /// Forward copies rows (moving data: nothing) and adds the bias, one per output value;
    /// backward adds every output gradient into its weight row and into the bias gradient.
    public func flops(for bottoms: [Shape]) -> (forward: Double, backward: Double) {
        let outputs = Double(bottoms[0].count * numOutput), bias: Double = biasTerm ? 1 : 0
        return (bias * outputs, (1 + bias) * outputs)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        do {
            try EmbedKernel.forward(indices: io.bottoms[0], weight: io.params[0], bias: biasTerm ? io.params[1] : nil,
                                    output: io.tops[0], rows: inputDim, columns: numOutput)
        } catch {
            let v = error.value
            let value = v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(v)
            throw LayerError("index \(value) at position \(error.position) of the bottom (shape \(io.bottoms[0].shape)) is not a whole number in 0..<\(inputDim)",
                             hint: "the bottom holds row indices into the table; input_dim (\(inputDim)) must exceed the largest index, e.g. the vocabulary size")
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {
        EmbedKernel.backward(indices: io.bottoms[0], outputGrad: io.topGrads[0]!, weightGrad: io.paramGrads[0],
                             biasGrad: biasTerm ? io.paramGrads[1] : nil, rows: inputDim, columns: numOutput)
    }
}
