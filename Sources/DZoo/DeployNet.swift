import DConfig

/// The deploy net of a train/test net (Caffe's deploy.prototxt): the layers of its first test
/// net (TEST, with the first `test_state`'s stages) with the data layer replaced by an `Input`
/// layer of one sample, no layer that needs labels, and the SoftmaxWithLoss replaced by a
/// Softmax whose top `prob` holds the class probabilities.
public enum DeployNet {
    public static let probabilities = "prob"

    /// `inputShape` is one sample's [channels, height, width]; `state` picks the layers (the
    /// TEST phase, and the stages that pick an autoencoder's test data layer).
    public static func text(from spec: NetSpec, inputShape: [Int], state: NetState, writtenBy: String = "dtrain") -> String {
        var out = "name: \(YAMLText.quoted(spec.name))\nlayer:\n"
        var labels = Set<String>(), classifies = false
        for layer in spec.layers where layer.isIncluded(in: state) {
            if layer.type == "IDXData" || layer.type == "ImageData" {
                guard let data = layer.tops.first else { continue }
                labels.formUnion(layer.tops.dropFirst())
                out += "  - name: \(YAMLText.quoted(layer.name))\n    type: Input\n    top: \(YAMLText.quoted(data))\n"
                out += "    input_param: {shape: {dim: [\(([1] + inputShape).map(String.init).joined(separator: ", "))]}}\n"
                continue
            }
            // TextData: one step of one stream, data [1, 1] and (for recurrent layers) cont [1, 1].
            if layer.type == "TextData" {
                guard let data = layer.tops.first else { continue }
                labels.formUnion(layer.tops.dropFirst().prefix(1))
                let inputs = [data] + layer.tops.dropFirst(2).prefix(1)
                let shape = "{dim: [\(([1] + inputShape).map(String.init).joined(separator: ", "))]}"
                out += "  - name: \(YAMLText.quoted(layer.name))\n    type: Input\n    top: [\(inputs.map(YAMLText.quoted).joined(separator: ", "))]\n"
                out += "    input_param: {shape: [\(inputs.map { _ in shape }.joined(separator: ", "))]}\n"
                continue
            }
            if layer.type == "SoftmaxWithLoss", let scores = layer.bottoms.first, !labels.contains(scores) {
                out += "  - name: \(probabilities)\n    type: Softmax\n    bottom: \(YAMLText.quoted(scores))\n    top: \(probabilities)\n"
                if let axis = layer.node.child("softmax_param")?.child("axis")?.scalar { out += "    softmax_param: {axis: \(axis)}\n" }
                labels.formUnion(layer.tops)  // no loss: what reads it (bits per character) goes too
                classifies = true
                continue
            }
            // Anything fed by labels (accuracy, losses) has no meaning without them.
            if layer.type.hasSuffix("Loss") || layer.bottoms.contains(where: labels.contains) {
                labels.formUnion(layer.tops.filter { !layer.bottoms.contains($0) })
                continue
            }
            guard case .mapping(let pairs) = layer.node.value else { continue }
            var first = true
            for (key, value) in pairs {
                guard let k = key.scalar, !["include", "exclude", "loss_weight"].contains(k) else { continue }
                out += (first ? "  - " : "    ") + "\(YAMLText.flow(key)): \(YAMLText.flow(value))\n"
                first = false
            }
        }
        let output = classifies ? "output class probabilities '\(probabilities)'" : "no classifier: its outputs are the last layers' tops"
        return "# Deploy net of '\(spec.name)', written by \(writtenBy): input one sample, \(output).\n" + out
    }
}
