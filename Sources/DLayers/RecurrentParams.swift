import DConfig
import DCore

/// Caffe's `recurrent_param`, shared by `RNN` and `LSTM`: `num_output` (H, required),
/// `weight_filler` (xavier here; Caffe: constant 0), `bias_filler` (constant 0),
/// `expose_hidden`, and `debug_info`, accepted for Caffe's files: Caffe prints its unrolled
/// net's internals with it, and there is no unrolled net here.
struct RecurrentParams {
    let numOutput: Int
    let exposeHidden: Bool
    let weightFiller, biasFiller: Filler

    init(_ spec: LayerSpec) throws(ConfigError) {
        let p = try spec.block("recurrent_param")
        guard p.has("num_output") else { throw p.missing("num_output", hint: "the size H of the hidden state and of the output") }
        numOutput = try p.int("num_output", default: 1, min: 1)
        exposeHidden = try p.bool("expose_hidden", default: false)
        weightFiller = try p.filler("weight_filler", default: .xavier(.fanIn))
        biasFiller = try p.filler("bias_filler", default: .constant(value: 0))
        _ = try p.bool("debug_info", default: false)
        try p.finish()
    }
}
