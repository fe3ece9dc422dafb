import DConfig
import DCore
import DData

/// Batches from a dataset held as bytes or floats, converted as they are served: a pair of IDX
/// files (images and labels) here, a list of image files in `ImageDataLayer.swift`. Tops:
/// data [N, C, rows, cols] (C = 1 for rank-3 image files), and optionally label [N].
///
/// The sample order is the only mutable state of any layer: a train net's is part of the
/// solver state, so a resumed run sees the same batches; a test net's is rewound before each
/// test pass.
public final class IDXDataLayer: Layer {
    public let name: String
    public let dataset: IDXDataset
    public let batchSize: Int
    public let transform: ByteTransform
    /// Random distortions in TRAIN, and `crop_size` (centred) in TEST.
    public let augmentation: Augmentation
    /// Statistics of the training data divided out of every sample (`normalize`).
    public let normalization: Normalization?
    /// zca: the batch after whitening, before it is copied into the top (allocated once).
    private var whitened: [Float] = []
    /// `shuffle` as configured (an evaluation over the whole dataset visits it in file order).
    public let shuffle: Bool
    /// The order up to the last batch served (what a solver state records). In data-parallel
    /// training it is the order of the global batch, the same on every rank.
    public var order: SampleOrder
    /// The slice of each global batch this rank serves (data-parallel training; TRAIN only).
    public var shard = Shard.whole
    /// Turns picked samples into the values of a batch.
    private let builder: BatchBuilder
    /// TRAIN: builds the next batch while the net computes (nil in TEST).
    let prefetcher: BatchPrefetcher?

    public var bottomCount: ClosedRange<Int> { 0...0 }
    public var topCount: ClosedRange<Int> { 1...2 }

    /// A data layer serving `dataset` (IDXData, ImageData).
    init(name: String, dataset: IDXDataset, batchSize: Int, transform: (ByteTransform, Augmentation, Normalization?), shuffle: Bool, seed: UInt64,
         prefetch: Bool) {
        self.name = name
        self.dataset = dataset
        self.batchSize = batchSize
        (self.transform, augmentation, normalization) = transform
        self.shuffle = shuffle
        order = SampleOrder(count: dataset.count, shuffle: shuffle, seed: seed)
        // With `normalize`, samples are written raw and the statistics divided out after.
        builder = BatchBuilder(dataset: dataset, transform: normalization == nil ? transform.0 : ByteTransform(), augmentation: augmentation)
        prefetcher = prefetch ? BatchPrefetcher(capacity: batchSize * augmentation.outputDims(dataset.sampleDims).reduce(1, *)) : nil
    }

    convenience init(_ spec: LayerSpec, _ context: BuildContext) throws(ConfigError) {
        let p = try spec.block("idx_data_param")
        var images = ConfigFile.resolve(try p.requiredString("images"), relativeTo: context.netFile)
        var labels = ConfigFile.resolve(try p.requiredString("labels"), relativeTo: context.netFile)
        if context.phase == .test, let data = context.testData { (images, labels) = data }
        let batchSize = try p.int("batch_size", default: 0, min: 1)
        let shuffle = try p.bool("shuffle", default: false)
        let range = try p.ints("range")
        guard range.isEmpty || (range.count == 2 && range[0] >= 0 && range[0] < range[1]) else {
            throw p.error("range", "must be two sample indices [first, end] with 0 ≤ first < end, found \(range)",
                          hint: "range: [0, 50000] serves samples 0 to 49 999 (the end is excluded, as in Python's [0:50000])")
        }
        try p.finish()
        // Files given on the command line (dtest --images/--labels) replace the whole split.
        let commandLineData = context.phase == .test && context.testData != nil
        var dataset: IDXDataset
        do {
            dataset = try context.datasets.dataset(images: images, labels: labels)
        } catch {
            // The command line's files are named by no line of the net.
            if commandLineData { throw ConfigError(file: error.file, message: error.message, hint: error.hint) }
            throw p.error(error.file == labels && labels != images ? "labels" : "images", "\(error.file): \(error.message)", hint: error.hint)
        }
        if !range.isEmpty && !commandLineData {
            guard range[1] <= dataset.count else {
                throw p.error("range", "ends at sample \(range[1]), but \(images) holds \(dataset.count)", hint: "the end is at most \(dataset.count)")
            }
            dataset = context.datasets.subset(dataset, samples: range[0]..<range[1])
        }
        self.init(name: spec.name, dataset: dataset, batchSize: batchSize, transform: try Self.transform(spec, dataset: dataset, context: context),
                  shuffle: shuffle, seed: context.seed, prefetch: context.phase == .train)
    }

    /// `transform_param`, checked against the data's dimensions [channels, height, width].
    static func transform(_ spec: LayerSpec, dataset: IDXDataset, context: BuildContext) throws(ConfigError) -> (ByteTransform, Augmentation, Normalization?) {
        let t = try spec.block("transform_param")
        let dims = dataset.sampleDims, channels = dims[0]
        let scale = try t.float("scale", default: 1)
        guard scale != 0 else {
            throw t.error("scale", "must not be 0: every sample would become zero",
                          hint: "scale multiplies each value after the mean is subtracted, e.g. scale: 0.00390625 maps bytes to [0, 1)")
        }
        var transform = ByteTransform(scale: scale, meanValues: try t.doubles("mean_value").map(Float.init))
        if transform.meanValues.count > 1 && transform.meanValues.count != channels {
            throw t.error("mean_value", "gives \(transform.meanValues.count) means for \(channels) channel\(channels == 1 ? "" : "s")",
                          hint: "give one mean per channel, or one for all")
        }
        if let file = try t.string("mean_file") {
            if t.has("mean_value") { throw t.error("mean_file", "give mean_file or mean_value, not both (as in Caffe)") }
            transform.meanImage = try meanImage(t, ConfigFile.resolve(file, relativeTo: context.netFile), dims: dims)
        }
        var a = Augmentation()
        a.mirror = try t.bool("mirror", default: false)
        a.cropSize = try t.int("crop_size", default: 0, min: 0)
        if a.cropSize > min(dims[1], dims[2]) {
            throw t.error("crop_size", "is \(a.cropSize), larger than the \(dims[2])×\(dims[1]) images", hint: "crop at most \(min(dims[1], dims[2])) pixels")
        }
        a.cropPad = try t.int("pad", default: 0, min: 0)
        if a.cropPad > 0 && a.cropSize == 0 {
            // Shifts of whole pixels: a crop of the image's own size from the padded image.
            guard dims[1] == dims[2] else {
                throw t.error("pad", "pads the random crop, and these images are \(dims[2])×\(dims[1]), not square", hint: "give crop_size too")
            }
            a.cropSize = dims[1]
        }
        if a.cropPad > a.cropSize {
            throw t.error("pad", "is \(a.cropPad), more than the crop's side \(a.cropSize): a crop could miss the image", hint: "pad by a few pixels, e.g. pad: 2")
        }
        func amount(_ key: String, default value: Double = 0) throws(ConfigError) -> Double {
            let v = try t.double(key, default: value)
            guard v >= 0, v.isFinite else { throw t.error(key, "must be a finite number ≥ 0, found \(v)") }
            return v
        }
        a.translation = try amount("translation")
        a.rotation = try amount("rotation")
        a.zoom = try amount("zoom")
        if a.zoom >= 1 { throw t.error("zoom", "must be below 1 (the factor is drawn from [1 − zoom, 1 + zoom]), found \(a.zoom)") }
        a.shear = try amount("shear")
        a.elasticAlpha = try amount("elastic_alpha")
        a.elasticSigma = try amount("elastic_sigma", default: a.elasticAlpha > 0 ? 4 : 0)
        if a.elasticAlpha > 0 && a.elasticSigma == 0 {
            throw t.error("elastic_sigma", "must be positive with elastic_alpha: the displacements are smoothed by a Gaussian of this width",
                          hint: "Simard et al. used elastic_alpha: 34, elastic_sigma: 4 on 28×28 digits")
        }
        a.eraseProbability = try amount("erase_probability")
        if a.eraseProbability > 1 { throw t.error("erase_probability", "is a probability, at most 1, found \(a.eraseProbability)", hint: "Zhong et al. erase with erase_probability: 0.5") }
        if t.has("erase_area") {
            let area = try t.doubles("erase_area")
            guard area.count == 2, area[0] > 0, area[0] <= area[1], area[1] < 1 else {
                throw t.error("erase_area", "must be [low, high], fractions of the image with 0 < low ≤ high < 1, found \(area)",
                              hint: "torchvision's RandomErasing uses erase_area: [0.02, 0.33]")
            }
            a.eraseArea = area[0]...area[1]
        }
        a.eraseAspect = try amount("erase_aspect", default: a.eraseAspect)
        if a.eraseAspect < 1 {
            throw t.error("erase_aspect", "must be at least 1 (the ratio is drawn from [1 / erase_aspect, erase_aspect]), found \(a.eraseAspect)", hint: "torchvision's RandomErasing uses 3.3")
        }
        let eraseValue = try t.double("erase_value", default: 0)
        a.eraseValue = Float(eraseValue)
        guard a.eraseValue.isFinite else { throw t.error("erase_value", "must be a finite number within Float's range, found \(eraseValue)") }
        for key in ["erase_area", "erase_aspect", "erase_value"] where t.has(key) && a.eraseProbability == 0 {
            throw t.error(key, "applies only when erase_probability is above 0", hint: "add erase_probability: 0.5")
        }
        var normalization: Normalization?
        let mode: Normalization.Mode? = t.has("normalize") ? try t.choice("normalize", default: Normalization.Mode.perChannel) : nil
        let epsilon = try amount("zca_epsilon", default: 0.1)
        if t.has("zca_epsilon") && mode != .zca { throw t.error("zca_epsilon", "applies to normalize: zca only") }
        if let mode {
            for key in ["scale", "mean_value", "mean_file"] where t.has(key) {
                throw t.error(key, "normalize divides out the training data's statistics; it replaces scale, mean_value and mean_file", hint: "remove \(key)")
            }
            if mode != .perChannel && a.cropSize > 0 {
                throw t.error("normalize", "\(mode.rawValue) statistics are per pixel of the whole image, which crop_size moves", hint: "use normalize: per_channel with crop_size")
            }
            let source = try trainingData(spec, own: dataset, context: context)
            guard source.sampleDims == dims else {
                throw t.error("normalize", "the training data's samples are \(Shape(source.sampleDims)), this layer's \(Shape(dims))")
            }
            do {
                normalization = try context.datasets.normalization(mode, of: source, epsilon: Float(epsilon))
            } catch {
                throw t.error("normalize", "\(error.file): \(error.message)", hint: error.hint)
            }
        }
        try t.finish()
        return (transform, a, normalization)
    }

    /// `mean_file`: an IDX file (bytes or floats) of one sample's shape, [C, H, W] or, for one
    /// channel, [H, W].
    static func meanImage(_ t: ConfigMap, _ path: String, dims: [Int]) throws(ConfigError) -> [Float] {
        let file = try t.idxBlob("mean_file", path: path, ranks: 2...3, role: "mean image", binaryproto: (
            "Caffe's binaryproto mean files are not read yet",
            "write the mean image as an IDX file of the data's shape \(Shape(dims)) (bytes or floats), or use normalize: per_pixel, which computes it"))
        let fileDims = file.dims.count == 2 ? [1] + file.dims : file.dims
        guard fileDims == dims else {
            throw t.error("mean_file", "\(path): the mean image is \(Shape(fileDims)), the data's samples \(Shape(dims))",
                          hint: "the mean image must have the shape of one sample, before crop_size")
        }
        return file.values
    }

    /// The dataset whose statistics `normalize` divides out: the training data, that is this
    /// layer's own in TRAIN, else that of the TRAIN-phase data layer with the same first top.
    static func trainingData(_ spec: LayerSpec, own: IDXDataset, context: BuildContext) throws(ConfigError) -> IDXDataset {
        if context.phase == .train { return own }
        let net: NetSpec
        if let built = context.net { net = built } else { net = try NetSpec.load(context.netFile) }
        guard let train = net.layers.first(where: { ["IDXData", "ImageData"].contains($0.type) && $0.isIncluded(in: .train) && $0.tops.first == spec.tops.first }) else {
            throw ConfigError(at: spec.typeLocation, "layer '\(spec.name)': normalize takes its statistics from the training data, and this net has no TRAIN-phase data layer with top '\(spec.tops.first ?? "")'",
                              hint: "keep the TRAIN and TEST data layers in one net file (statistics from the test data would leak it into the model)")
        }
        let layer = try LayerRegistry.make(train, BuildContext(phase: .train, netFile: context.netFile, seed: context.seed, datasets: context.datasets,
                                                               threads: context.threads, net: net))
        guard let data = layer as? IDXDataLayer else {
            throw ConfigError(at: train.typeLocation, "layer '\(train.name)' serves no dataset to take statistics from")
        }
        return data.dataset
    }

    /// `mean_file`'s image as a TEST sample sees it: its centre, with `crop_size`.
    public var centredMeanImage: [Float] {
        var crop = Augmentation()
        crop.cropSize = augmentation.cropSize
        let dims = dataset.sampleDims
        var out = [Float](repeating: 0, count: sampleDims.reduce(1, *)), none: RandomStream? = nil
        transform.meanImage.withUnsafeBufferPointer { m in
            out.withUnsafeMutableBufferPointer { crop.copyCropMirror(m.baseAddress!, channels: dims[0], height: dims[1], width: dims[2], into: $0.baseAddress!, random: &none) }
        }
        return out
    }

    /// One sample's dimensions as served: [channels, height, width], after `crop_size`.
    public var sampleDims: [Int] { augmentation.outputDims(dataset.sampleDims) }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        [Shape([batchSize] + sampleDims), Shape([batchSize])]
    }

    /// Back to the first sample of the first epoch, in the configured order.
    public func rewind() {
        order = SampleOrder(count: dataset.count, shuffle: shuffle, seed: order.seed)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let n = io.tops[0].shape[0], size = sampleDims.reduce(1, *)
        let data = io.tops[0].base
        let random = step.phase == .train
        let picks: [SamplePick]
        if let prefetcher, let batch = prefetcher.take(BatchPrefetcher.Key(order: order, seed: step.seed, random: random, count: n, shard: shard)) {
            data.update(from: batch.data, count: n * size)
            (picks, order) = (batch.picks, batch.orderAfter)
        } else {
            picks = order.picks(n, shard: shard)
            builder.build(picks, random: random, seed: step.seed, into: SendablePointer(data), parallel: step.parallel)
        }
        if io.tops.count > 1 {
            for (b, pick) in picks.enumerated() { io.tops[1].base[b] = Float(dataset.labels[pick.index]) }
        }
        prefetcher?.start(after: BatchPrefetcher.Key(order: order, seed: step.seed, random: random, count: n, shard: shard), builder)
        normalization?.apply(data, count: n, size: size, channels: sampleDims[0], scratch: &whitened, parallel: step.parallel)
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {}
}

/// Builds batches from picked samples: each sample is distorted with its own stream (keyed on
/// its place in the order), so any thread may build any sample and the bits stay the same.
struct BatchBuilder: Sendable {
    let dataset: IDXDataset
    let transform: ByteTransform
    let augmentation: Augmentation

    /// Writes the samples `picks` into `data` [picks.count, C, H, W].
    func build(_ picks: [SamplePick], random: Bool, seed: UInt64, into data: SendablePointer, parallel: Parallel) {
        let dims = dataset.sampleDims, outSize = augmentation.outputDims(dims).reduce(1, *)
        guard !augmentation.isIdentity else {
            for (b, pick) in picks.enumerated() { dataset.write(sample: pick.index, transform, into: data.pointer + b * outSize) }
            return
        }
        let (before, after) = transform.split
        parallel.forChunks(picks.count) { range in
            let raw = UnsafeMutablePointer<Float>.allocate(capacity: dataset.sampleSize + Augmentation.scratchCount(dims) + outSize)
            defer { raw.deallocate() }
            let scratch = raw + dataset.sampleSize, distorted = scratch + Augmentation.scratchCount(dims)
            for b in range {
                let pick = picks[b]
                dataset.write(sample: pick.index, before, into: raw)
                var rng = random ? Augmentation.stream(seed: seed, epoch: pick.epoch, position: pick.position) : nil
                augmentation.apply(raw, dims: dims, into: distorted, random: &rng, scratch: scratch)
                after.apply(UnsafeBufferPointer(start: distorted, count: outSize), channels: dims[0], into: data.pointer + b * outSize)
            }
        }
    }
}

/// A TRAIN data layer's next batch, built on a thread of its own while the net computes the
/// current one (Caffe's `BasePrefetchingDataLayer`). A prefetched batch is served only if it
/// was started from exactly the state the layer is in (order, seed, phase, size), so it is the
/// batch the layer would have built itself; after a resume or a rewind the layer builds anew.
final class BatchPrefetcher {
    struct Key: Equatable {
        var order: SampleOrder
        var seed: UInt64
        var random: Bool
        var count: Int
        var shard: Shard
    }

    private let worker = BackgroundWorker(label: "dendrite.prefetch")
    /// The batch being built: [capacity] floats, touched by the worker until `wait`.
    private let buffer: UnsafeMutablePointer<Float>
    private let capacity: Int
    private var pending: (key: Key, picks: [SamplePick], orderAfter: SampleOrder)?
    /// Batches served from the prefetch (for tests).
    private(set) var served = 0

    init(capacity: Int) {
        self.capacity = capacity
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        worker.wait()
        buffer.deallocate()
    }

    /// Starts building the batch that follows `key`'s state.
    func start(after key: Key, _ builder: BatchBuilder) {
        var next = key.order
        let picks = next.picks(key.count, shard: key.shard)
        precondition(picks.count * builder.augmentation.outputDims(builder.dataset.sampleDims).reduce(1, *) <= capacity, "batch larger than the prefetch buffer")
        pending = (key, picks, next)
        let out = SendablePointer(buffer), (random, seed) = (key.random, key.seed)
        worker.start { builder.build(picks, random: random, seed: seed, into: out, parallel: .serial) }
    }

    /// The batch started from `key`'s state, once built; nil if none was.
    func take(_ key: Key) -> (data: UnsafePointer<Float>, picks: [SamplePick], orderAfter: SampleOrder)? {
        worker.wait()
        defer { pending = nil }
        guard let pending, pending.key == key else { return nil }
        served += 1
        return (UnsafePointer(buffer), pending.picks, pending.orderAfter)
    }
}

/// Tops whose values the caller sets (a deploy net's input). `input_param: {shape: {dim: […]}}`
/// gives each top's shape, as in Caffe.
public final class InputLayer: Layer {
    public let name: String
    public let shapes: [Shape]

    public var bottomCount: ClosedRange<Int> { 0...0 }
    public var topCount: ClosedRange<Int> { shapes.count...shapes.count }

    init(_ spec: LayerSpec) throws(ConfigError) {
        name = spec.name
        let p = try spec.block("input_param")
        var shapes: [Shape] = []
        for s in try p.maps("shape") {
            let dims = try s.ints("dim")
            if let bad = dims.first(where: { $0 < 1 }) { throw s.error("dim", "dimensions must be positive, found \(bad)") }
            try s.finish()
            shapes.append(Shape(dims))
        }
        try p.finish()
        guard !shapes.isEmpty else { throw p.missing("shape", hint: "e.g. input_param: {shape: {dim: [1, 1, 28, 28]}}") }
        self.shapes = shapes
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] { shapes }
    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {}
    public func backward(_ io: LayerIO, _ step: StepContext) {}
}
