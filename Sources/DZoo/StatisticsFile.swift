import DData

/// The training data's statistics of a zoo entry whose data layer used `normalize: per_pixel`
/// or `zca`: a safetensors file with `mean`, `std` (per_pixel) and `whitening` (zca, D×D), and
/// in its metadata the mode, zca's epsilon and the SHA-256 of the training images they came
/// from. `dtest --predict` applies them to image files.
public enum StatisticsFile {
    public static let name = "statistics.safetensors"
    static let format = "dendrite-statistics"

    public static func encode(_ n: Normalization, source: ModelCard.DataFile?) -> [UInt8] {
        var tensors: [(String, SafetensorsFile.Entry)] = [("mean", .init(shape: [n.mean.count], values: n.mean))]
        if !n.std.isEmpty { tensors.append(("std", .init(shape: [n.std.count], values: n.std))) }
        if !n.whitening.isEmpty { tensors.append(("whitening", .init(shape: [n.mean.count, n.mean.count], values: n.whitening))) }
        return SafetensorsFile(tensors: tensors, metadata: [
            "format": format, "mode": n.mode.rawValue, "epsilon": String(n.epsilon),
            "source": source?.path ?? "", "source_sha256": source?.sha256 ?? "",
        ]).encoded()
    }

    /// The statistics of `card`, read from the card (per_channel) or its entry's file.
    public static func load(_ card: ModelCard, entry: String, elements: Int) throws(FileError) -> Normalization? {
        guard !card.normalize.isEmpty else { return nil }
        let cardPath = "\(entry)/\(ModelCard.fileName)"
        guard let mode = Normalization.Mode(rawValue: card.normalize) else {
            throw FileError(path: cardPath, "input.normalize is '\(card.normalize)'; this Dendrite knows \(Normalization.Mode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if mode == .perChannel {
            guard card.normalizeMean.count == card.inputShape.first, card.normalizeStd.count == card.normalizeMean.count,
                  card.normalizeStd.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw FileError(path: cardPath, "input.normalize_mean and normalize_std must give one mean and one positive std per channel")
            }
            return Normalization(mode: mode, mean: card.normalizeMean.map(Float.init), std: card.normalizeStd.map(Float.init))
        }
        let path = "\(entry)/\(card.statistics)"
        guard !card.statistics.isEmpty else { throw FileError(path: cardPath, "input.normalize is \(mode.rawValue) but the card names no statistics file") }
        let file = try SafetensorsFile.read(path)
        guard file.metadata["format"] == format, file.metadata["mode"] == mode.rawValue, let mean = file["mean"], mean.shape == [elements] else {
            throw FileError(path: path, "is not the \(mode.rawValue) statistics of a sample of \(elements) values", hint: "`dzoo verify` checks the entry")
        }
        if mode == .perPixel {
            guard let std = file["std"], std.shape == [elements], std.values.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw FileError(path: path, "has no positive std of \(elements) values")
            }
            return Normalization(mode: mode, mean: mean.values, std: std.values)
        }
        guard let w = file["whitening"], w.shape == [elements, elements], w.values.allSatisfy(\.isFinite) else {
            throw FileError(path: path, "has no \(elements)×\(elements) whitening matrix")
        }
        return Normalization(mode: mode, mean: mean.values, std: [], whitening: w.values, epsilon: Float(file.metadata["epsilon"] ?? "") ?? 0)
    }

    /// The mean image of `mean_file` as the deploy input sees it: a safetensors file with the
    /// tensor `mean` [C, H, W].
    public static let meanImageName = "mean.safetensors"

    public static func encodeMeanImage(_ mean: [Float], shape: [Int]) -> [UInt8] {
        SafetensorsFile(tensors: [("mean", .init(shape: shape, values: mean))], metadata: ["format": "dendrite-mean-image"]).encoded()
    }

    /// The mean image that `card` names, of the card's input shape; nil without `mean_file`.
    public static func loadMeanImage(_ card: ModelCard, entry: String) throws(FileError) -> [Float]? {
        guard !card.meanFile.isEmpty else { return nil }
        let path = "\(entry)/\(card.meanFile)"
        let file = try SafetensorsFile.read(path)
        guard let mean = file["mean"], mean.shape == card.inputShape, mean.values.allSatisfy(\.isFinite) else {
            throw FileError(path: path, "holds no finite mean image of the input's shape \(card.inputShape)", hint: "`dzoo verify` checks the entry")
        }
        return mean.values
    }
}
