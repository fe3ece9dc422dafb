import DConfig
import DData

/// What a net needs while it is built: the phase, the file its paths are relative to, the seed
/// for data order, datasets already loaded by another net, and the threads it will run on
/// (work memory is planned per thread).
public final class BuildContext {
    public let phase: Phase
    /// The net file, or the solver file for a net written in the solver: data paths resolve
    /// against it.
    public let netFile: String
    /// The net being built, when the caller has it (a net written in the solver has no file of
    /// its own to read it from again); else layers that look at other layers read `netFile`.
    public let net: NetSpec?
    public let seed: UInt64
    public let datasets: DatasetCache
    public let threads: Int
    /// Images and labels that replace those of every TEST-phase data layer (`dtest --images`).
    public let testData: (images: String, labels: String)?

    public init(phase: Phase, netFile: String, seed: UInt64, datasets: DatasetCache = DatasetCache(), threads: Int = 1,
                testData: (images: String, labels: String)? = nil, net: NetSpec? = nil) {
        self.phase = phase; self.netFile = netFile; self.seed = seed; self.datasets = datasets; self.net = net
        self.threads = max(1, threads)
        self.testData = testData
    }
}

/// Datasets by file pair (or image list), so that a train and a test net reading the same
/// files share them.
public final class DatasetCache {
    private var loaded: [String: IDXDataset] = [:]
    /// Told how far the decoding of a long image list has come: (list, decoded, total).
    let progress: @Sendable (String, Int, Int) -> Void

    public init(progress: @escaping @Sendable (String, Int, Int) -> Void = { _, _, _ in }) { self.progress = progress }

    public func dataset(images: String, labels: String) throws(DataError) -> IDXDataset {
        let key = images + "\u{0}" + labels
        if let d = loaded[key] { return d }
        let d = try IDXDataset(images: images, labels: labels)
        loaded[key] = d
        return d
    }

    private var subsets: [String: IDXDataset] = [:]

    /// Samples `range` of `dataset` (`idx_data_param.range`), copied once for every net.
    public func subset(_ dataset: IDXDataset, samples range: Range<Int>) -> IDXDataset {
        let key = "\(dataset.imagesPath)\u{0}\(dataset.labelsPath)\u{0}\(range.lowerBound)\u{0}\(range.upperBound)"
        if let d = subsets[key] { return d }
        let d = IDXDataset(dataset, samples: range)
        subsets[key] = d
        return d
    }

    private var statistics: [String: Normalization] = [:]

    /// The statistics of `dataset`, computed once however many layers divide them out.
    public func normalization(_ mode: Normalization.Mode, of dataset: IDXDataset, epsilon: Float) throws(DataError) -> Normalization {
        let key = "\(ObjectIdentifier(dataset).hashValue)\u{0}\(mode.rawValue)\u{0}\(epsilon)"
        if let n = statistics[key] { return n }
        let n = try Normalization.compute(mode, of: dataset, epsilon: epsilon)
        statistics[key] = n
        return n
    }

    private var corpora: [String: TextCorpus] = [:]

    /// The text files at `paths`, joined, as vocabulary indices (TextData), read once for every net.
    public func textCorpus(_ paths: [String]) throws(DataError) -> TextCorpus {
        let key = paths.joined(separator: "\u{0}")
        if let c = corpora[key] { return c }
        let c = try TextCorpus(paths: paths)
        corpora[key] = c
        return c
    }

    public func imageList(_ path: String, _ options: ImageList.Options, threads: Int) throws(DataError) -> IDXDataset {
        let key = "list\u{0}\(path)\u{0}\(options.root)\u{0}\(options.height)×\(options.width)\u{0}\(options.color)"
        if let d = loaded[key] { return d }
        let progress = progress
        let d = try ImageList.load(path, options, threads: threads) { done, total in progress(path, done, total) }
        loaded[key] = d
        return d
    }
}

/// Maps each YAML `type:` to the layer that decodes it.
public enum LayerRegistry {
    public typealias Factory = @Sendable (LayerSpec, BuildContext) throws(ConfigError) -> any Layer

    public static let factories: [String: Factory] = [
        "IDXData": { s, c throws(ConfigError) in try IDXDataLayer(s, c) },
        "ImageData": { s, c throws(ConfigError) in try IDXDataLayer.imageData(s, c) },
        "Input": { s, _ throws(ConfigError) in try InputLayer(s) },
        "InnerProduct": { s, _ throws(ConfigError) in try InnerProductLayer(s) },
        "Embed": { s, _ throws(ConfigError) in try EmbedLayer(s) },
        "RNN": { s, _ throws(ConfigError) in try RNNLayer(s) },
        "Convolution": { s, _ throws(ConfigError) in try ConvolutionLayer(s) },
        "Deconvolution": { s, _ throws(ConfigError) in try DeconvolutionLayer(s) },
        "Pooling": { s, _ throws(ConfigError) in try PoolingLayer(s) },
        "LRN": { s, _ throws(ConfigError) in try LRNLayer(s) },
        "DummyData": { s, _ throws(ConfigError) in try DummyDataLayer(s) },
        "TextData": { s, c throws(ConfigError) in try TextDataLayer(s, c) },
        "ReLU": { s, _ throws(ConfigError) in try ReLULayer(s) },
        "Sigmoid": { s, _ throws(ConfigError) in try SigmoidLayer(s) },
        "TanH": { s, _ throws(ConfigError) in try TanHLayer(s) },
        "ELU": { s, _ throws(ConfigError) in try ELULayer(s) },
        "PReLU": { s, _ throws(ConfigError) in try PReLULayer(s) },
        "AbsVal": { s, _ throws(ConfigError) in try AbsValLayer(s) },
        "BNLL": { s, _ throws(ConfigError) in try BNLLLayer(s) },
        "Power": { s, _ throws(ConfigError) in try PowerLayer(s) },
        "Exp": { s, _ throws(ConfigError) in try ExpLayer(s) },
        "Log": { s, _ throws(ConfigError) in try LogLayer(s) },
        "Threshold": { s, _ throws(ConfigError) in try ThresholdLayer(s) },
        "Softmax": { s, _ throws(ConfigError) in try SoftmaxLayer(s) },
        "SoftmaxWithLoss": { s, _ throws(ConfigError) in try SoftmaxWithLossLayer(s) },
        "Accuracy": { s, _ throws(ConfigError) in try AccuracyLayer(s) },
        "Dropout": { s, _ throws(ConfigError) in try DropoutLayer(s) },
        "EuclideanLoss": { s, _ throws(ConfigError) in try EuclideanLossLayer(s) },
        "Flatten": { s, _ throws(ConfigError) in try FlattenLayer(s) },
        "Reshape": { s, _ throws(ConfigError) in try ReshapeLayer(s) },
        "BatchNorm": { s, _ throws(ConfigError) in try BatchNormLayer(s) },
        "SigmoidCrossEntropyLoss": { s, _ throws(ConfigError) in try SigmoidCrossEntropyLossLayer(s) },
        "Noise": { s, _ throws(ConfigError) in try NoiseLayer(s) },
        "Concat": { s, _ throws(ConfigError) in try ConcatLayer(s) },
        "Slice": { s, _ throws(ConfigError) in try SliceLayer(s) },
        "Split": { s, _ throws(ConfigError) in try SplitLayer(s) },
        "Eltwise": { s, _ throws(ConfigError) in try EltwiseLayer(s) },
        "Crop": { s, _ throws(ConfigError) in try CropLayer(s) },
        "Tile": { s, _ throws(ConfigError) in try TileLayer(s) },
        "Silence": { s, _ throws(ConfigError) in try SilenceLayer(s) },
        "Reduction": { s, _ throws(ConfigError) in try ReductionLayer(s) },
        "ArgMax": { s, _ throws(ConfigError) in try ArgMaxLayer(s) },
        "Bias": { s, _ throws(ConfigError) in try BiasLayer(s) },
        "Scale": { s, _ throws(ConfigError) in try ScaleLayer(s) },
        "MVN": { s, _ throws(ConfigError) in try MVNLayer(s) },
        "HingeLoss": { s, _ throws(ConfigError) in try HingeLossLayer(s) },
        "InfogainLoss": { s, c throws(ConfigError) in try InfogainLossLayer(s, c) },
        "ContrastiveLoss": { s, _ throws(ConfigError) in try ContrastiveLossLayer(s) },
        "LSTM": { s, _ throws(ConfigError) in try LSTMLayer(s) },
    ]

    public static var knownTypes: [String] { factories.keys.sorted() }

    /// Caffe's layer types that Dendrite does not have, with what to use instead where there
    /// is something.
    static let caffeOnlyTypes: [String: String?] = {
        let data = "Dendrite's data layers are IDXData (IDX files), ImageData (a list of image files), TextData, DummyData and Input"
        return [
            "Data": "Data reads LMDB or LevelDB databases; Dendrite reads IDX files with IDXData, or a list of image files with ImageData",
            "WindowData": data, "HDF5Data": data, "MemoryData": data,
            "HDF5Output": "write a blob to a file with dtest --dump BLOB --out FILE.safetensors",
            "Python": "Dendrite runs no Python layers",
            "MultinomialLogisticLoss": "SoftmaxWithLoss computes Softmax followed by this loss on the scores, more stably",
            "SPP": nil, "Im2col": nil, "BatchReindex": nil, "Filter": nil, "Parameter": nil, "Clip": nil, "Swish": nil,
        ]
    }()

    /// Decodes `spec` into its layer and checks that no key is left unread.
    public static func make(_ spec: LayerSpec, _ context: BuildContext) throws(ConfigError) -> any Layer {
        if let instead = caffeOnlyTypes[spec.type] {
            throw ConfigError(at: spec.typeLocation, "layer '\(spec.name)': '\(spec.type)' is a Caffe layer type that Dendrite does not have",
                              hint: instead ?? "Configs/README.md lists the layer types Dendrite has")
        }
        guard let factory = factories[spec.type] else {
            throw ConfigError(
                at: spec.typeLocation, "layer '\(spec.name)': unknown layer type '\(spec.type)'",
                hint: (Suggestion.hint(for: spec.type, in: knownTypes).map { $0 + " " } ?? "")
                    + "known types: \(knownTypes.joined(separator: ", "))")
        }
        let layer = try factory(spec, context)
        try spec.map.finish()
        return layer
    }
}

extension LayerSpec {
    /// The `<type>_param` block `key`; an empty one when the file has none, so that defaults apply.
    public func block(_ key: String) throws(ConfigError) -> ConfigMap {
        if let block = try map.map(key) { return block }
        return try ConfigMap(YAMLNode(value: .mapping([]), location: location), context: context, path: key)
    }
}

extension ConfigMap {
    /// A filler block such as `weight_filler: {type: xavier}`; only the keys of its type are accepted.
    public func filler(_ key: String, default value: Filler) throws(ConfigError) -> Filler {
        guard let m = try map(key) else { return value }
        return try Self.filler(m)
    }

    /// `key`'s file, which Caffe reads as a binaryproto blob (`mean_file`, Infogain's `source`),
    /// read as IDX instead: its dimensions and values (bytes become floats). A `.binaryproto`
    /// path is refused with `binaryproto`'s message and hint.
    func idxBlob(_ key: String, path: String, ranks: ClosedRange<Int>, role: String,
                 binaryproto: (message: String, hint: String)) throws(ConfigError) -> (dims: [Int], values: [Float]) {
        if path.hasSuffix(".binaryproto") { throw error(key, "\(path): \(binaryproto.message)", hint: binaryproto.hint) }
        let file: IDXFile
        do {
            file = try IDXFile.read(path, expectedRanks: ranks, types: [.ubyte, .float], role: role)
        } catch {
            throw self.error(key, "\(error.file): \(error.message)", hint: error.hint)
        }
        return (file.dims, file.type == .ubyte ? file.bytes.map(Float.init) : file.floats)
    }

    /// The filler that the block `m` describes, e.g. `{type: gaussian, std: 0.01}`.
    static func filler(_ m: ConfigMap) throws(ConfigError) -> Filler {
        enum Kind: String, CaseIterable {
            case constant, uniform, gaussian, positiveUnitball = "positive_unitball", xavier, msra, bilinear
        }
        let kind = try m.choice("type", default: Kind.constant)
        let filler: Filler
        switch kind {
        case .constant: filler = .constant(value: try m.float("value", default: 0))
        case .uniform:
            let lo = try m.float("min", default: 0), hi = try m.float("max", default: 1)
            guard lo <= hi else { throw m.error("max", "must not be below min (\(lo)), found \(hi)") }
            filler = .uniform(min: lo, max: hi)
        case .gaussian:
            let mean = try m.float("mean", default: 0)
            let std = try m.float("std", default: 1)
            guard std >= 0 else { throw m.error("std", "must not be negative, found \(std)") }
            // Caffe's default −1 means dense; any other value is the sparse rule.
            let sparse = try m.int("sparse", default: -1, min: -1)
            filler = sparse == -1 ? .gaussian(mean: mean, std: std) : .sparseGaussian(mean: mean, std: std, sparse: sparse)
        case .positiveUnitball: filler = .positiveUnitball
        case .xavier: filler = .xavier(try m.choice("variance_norm", default: Filler.VarianceNorm.fanIn))
        case .msra: filler = .msra(try m.choice("variance_norm", default: Filler.VarianceNorm.fanIn))
        case .bilinear: filler = .bilinear
        }
        try m.finish()
        return filler
    }
}

import DCore
