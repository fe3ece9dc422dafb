import DCore
import DNet

/// Which layers a weights file initialised, by layer name (Caffe's CopyTrainedLayersFrom).
public struct WeightsLoadReport: Sendable, Equatable {
    /// Layers whose parameters came from the file.
    public var copied: [String] = []
    /// Layers with parameters the file does not have: they keep their fillers' values.
    public var initialised: [String] = []
    /// Layers in the file that this net does not have.
    public var ignored: [String] = []
}

public enum Weights {
    /// The layer part of a tensor name: `conv1` for `conv1.weight`.
    public static func layerName(_ tensor: String) -> String {
        tensor.lastIndex(of: ".").map { String(tensor[..<$0]) } ?? tensor
    }

    /// Every parameter of the store as a safetensors file, named `<layer>.weight` and so on.
    public static func file(of store: ParameterStore, metadata: [String: String]) -> SafetensorsFile {
        SafetensorsFile(tensors: store.parameters.map { p in
            (p.name, SafetensorsFile.Entry(shape: p.shape.dims, values: p.value.values))
        }, metadata: metadata)
    }

    /// What the weights are read for: a shape mismatch is fixed differently when training
    /// (learn that layer from scratch) and when testing (use the net they were trained with).
    public enum Purpose: Sendable { case training, testing }

    /// Reads the weights file at `path` into the store by layer name; a solver state or a
    /// feature dump given as weights is refused with a hint.
    public static func read(_ path: String, into store: ParameterStore, for purpose: Purpose = .training) throws(FileError) -> WeightsLoadReport {
        let file = try SafetensorsFile.read(path)
        switch file.metadata["format"] {
        case "dendrite-solverstate":
            throw FileError(path: path, "is a solver state, not weights",
                            hint: "resume from it with dtrain --snapshot, or use its .safetensors weights")
        case "dendrite-features":
            throw FileError(path: path, "holds features written by dtest --dump, not weights",
                            hint: "give the .safetensors snapshot of a training run, or a zoo:NAME reference")
        default:
            break
        }
        return try load(file, from: path, into: store, for: purpose)
    }

    /// Copies tensors into the store's parameters with the same names. A tensor whose shape
    /// differs is an error that names both shapes and, for training, suggests renaming the layer.
    public static func load(_ file: SafetensorsFile, from path: String, into store: ParameterStore,
                            for purpose: Purpose = .training) throws(FileError) -> WeightsLoadReport {
        var report = WeightsLoadReport()
        for p in store.parameters {
            let layer = layerName(p.name)
            guard let entry = file[p.name] else {
                if !report.initialised.contains(layer) { report.initialised.append(layer) }
                continue
            }
            guard entry.shape == p.shape.dims else {
                throw FileError(
                    path: path, "cannot copy '\(p.name)': the file has shape \(Shape(entry.shape)), the net \(p.shape)",
                    hint: purpose == .training ? "to learn layer '\(layer)' from scratch instead, rename it in the net"
                        : "these weights were trained with another net; test them with the net file they were trained with")
            }
            guard entry.values.allSatisfy(\.isFinite) else {
                throw FileError(path: path, "'\(p.name)' holds NaN or infinite values", hint: "these weights come from a diverged run; use an earlier snapshot")
            }
            p.value.view.copy(from: entry.values)
            if !report.copied.contains(layer) { report.copied.append(layer) }
        }
        report.initialised.removeAll { report.copied.contains($0) }
        let netNames = Set(store.parameters.map(\.name))
        for name in file.tensors.map(\.name) where !netNames.contains(name) {
            let layer = layerName(name)
            if !report.ignored.contains(layer) && !report.copied.contains(layer) { report.ignored.append(layer) }
        }
        return report
    }
}
