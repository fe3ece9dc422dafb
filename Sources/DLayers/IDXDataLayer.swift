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
    /// `shuffle` as configured (an evaluation over the whole dataset visits it in file order).
    public let shuffle: Bool
    public var order: SampleOrder

    public var bottomCount: ClosedRange<Int> { 0...0 }
    public var topCount: ClosedRange<Int> { 1...2 }

    /// A data layer serving `dataset` (IDXData, ImageData).
    init(name: String, dataset: IDXDataset, batchSize: Int, transform: ByteTransform, shuffle: Bool, seed: UInt64) {
        self.name = name
        self.dataset = dataset
        self.batchSize = batchSize
        self.transform = transform
        self.shuffle = shuffle
        order = SampleOrder(count: dataset.count, shuffle: shuffle, seed: seed)
    }

    convenience init(_ spec: LayerSpec, _ context: BuildContext) throws(ConfigError) {
        let p = try spec.block("idx_data_param")
        var images = ConfigFile.resolve(try p.requiredString("images"), relativeTo: context.netFile)
        var labels = ConfigFile.resolve(try p.requiredString("labels"), relativeTo: context.netFile)
        if context.phase == .test, let data = context.testData { (images, labels) = data }
        let batchSize = try p.int("batch_size", default: 0, min: 1)
        let shuffle = try p.bool("shuffle", default: false)
        try p.finish()
        let dataset: IDXDataset
        do {
            dataset = try context.datasets.dataset(images: images, labels: labels)
        } catch {
            throw p.error("images", "\(error.file): \(error.message)", hint: error.hint)
        }
        self.init(name: spec.name, dataset: dataset, batchSize: batchSize, transform: try Self.transform(spec, channels: dataset.channels),
                  shuffle: shuffle, seed: context.seed)
    }

    /// `transform_param`, checked against the data's channels.
    static func transform(_ spec: LayerSpec, channels: Int) throws(ConfigError) -> ByteTransform {
        let t = try spec.block("transform_param")
        let transform = ByteTransform(scale: try t.float("scale", default: 1), meanValues: try t.doubles("mean_value").map(Float.init))
        try t.finish()
        if transform.meanValues.count > 1 && transform.meanValues.count != channels {
            throw t.error("mean_value", "gives \(transform.meanValues.count) means for \(channels) channel\(channels == 1 ? "" : "s")",
                          hint: "give one mean per channel, or one for all")
        }
        return transform
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        [Shape([batchSize] + dataset.sampleDims), Shape([batchSize])]
    }

    /// Back to the first sample of the first epoch, in the configured order.
    public func rewind() {
        order = SampleOrder(count: dataset.count, shuffle: shuffle, seed: order.seed)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let n = io.tops[0].shape[0], size = dataset.sampleSize
        let data = io.tops[0].base
        let labels = io.tops.count > 1 ? io.tops[1].base : nil
        for b in 0..<n {
            let i = order.next()
            dataset.write(sample: i, transform, into: data + b * size)
            labels?[b] = Float(dataset.labels[i])
        }
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {}
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
