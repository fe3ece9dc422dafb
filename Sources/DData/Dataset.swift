/// A labelled image dataset kept as its IDX files hold it: bytes become floats only when a
/// batch is filled (60 000 28×28 images are 47 MB as bytes, 188 MB as floats). Images are
/// rank 3 (N×H×W, one channel) or rank 4 (N×C×H×W, channels first), of unsigned bytes or of
/// 32-bit floats (already-normalised data); labels are rank 1, unsigned bytes.
public final class IDXDataset: Sendable {
    public let imagesPath: String
    public let labelsPath: String
    /// Dimensions of one sample: [channels, rows, cols].
    public let sampleDims: [Int]
    public let count: Int
    /// The images' element type: `.float` files are served as they are (before the transform).
    public let elementType: IDXFile.ElementType
    let pixels: [UInt8]
    let values: [Float]
    /// Class indices (IDX labels are bytes; an image list's may be larger).
    public let labels: [Int32]
    /// For an image list, the line of each sample in it (errors point there); empty for IDX.
    public let labelLines: [Int]
    /// The samples of the files that this dataset holds, when it is a subset of them
    /// (`idx_data_param.range`); nil for all of them.
    public let range: Range<Int>?
    /// The index in the files of sample 0 (errors name file indices).
    public var firstSample: Int { range?.lowerBound ?? 0 }

    public var sampleSize: Int { sampleDims.reduce(1, *) }
    public var channels: Int { sampleDims[0] }

    public init(images: String, labels: String) throws(DataError) {
        let imageFile = try IDXFile.read(images, expectedRanks: 3...4, types: [.ubyte, .float], role: "images")
        let labelFile = try IDXFile.read(labels, expectedRanks: 1...1, role: "labels")
        guard imageFile.dims[0] == labelFile.dims[0] else {
            throw DataError(file: labels, "has \(labelFile.dims[0]) labels, but \(images) has \(imageFile.dims[0]) images",
                            hint: "images and labels must come from the same split")
        }
        guard imageFile.dims[0] > 0 else { throw DataError(file: images, "holds no images") }
        guard imageFile.dims.dropFirst().allSatisfy({ $0 > 0 }) else {
            throw DataError(file: images, "has empty images (dimensions \(imageFile.dims.map(String.init).joined(separator: "×")))")
        }
        imagesPath = images
        labelsPath = labels
        sampleDims = imageFile.dims.count == 3 ? [1] + imageFile.dims.dropFirst() : Array(imageFile.dims.dropFirst())
        count = imageFile.dims[0]
        elementType = imageFile.type
        pixels = imageFile.bytes
        values = imageFile.floats
        self.labels = labelFile.bytes.map(Int32.init)
        labelLines = []
        range = nil
    }

    /// A byte dataset already in memory (decoded image files): `pixels` holds `labels.count`
    /// samples of `sampleDims` ([channels, rows, cols]) each, channels first.
    public init(imagesPath: String, labelsPath: String, sampleDims: [Int], pixels: [UInt8], labels: [Int32], labelLines: [Int] = []) {
        precondition(sampleDims.count == 3 && pixels.count == labels.count * sampleDims.reduce(1, *), "dataset shape")
        self.imagesPath = imagesPath
        self.labelsPath = labelsPath
        self.sampleDims = sampleDims
        count = labels.count
        elementType = .ubyte
        self.pixels = pixels
        values = []
        self.labels = labels
        self.labelLines = labelLines
        range = nil
    }

    /// Samples `range` of this dataset (a validation split carved from the training files):
    /// a copy, so that everything that reads a dataset, normalisation statistics included,
    /// sees only these samples.
    public init(_ whole: IDXDataset, samples range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= whole.count && !range.isEmpty, "subset range")
        imagesPath = whole.imagesPath
        labelsPath = whole.labelsPath
        sampleDims = whole.sampleDims
        count = range.count
        elementType = whole.elementType
        let values = range.lowerBound * whole.sampleSize..<range.upperBound * whole.sampleSize
        pixels = whole.pixels.isEmpty ? [] : Array(whole.pixels[values])
        self.values = whole.values.isEmpty ? [] : Array(whole.values[values])
        labels = Array(whole.labels[range])
        labelLines = whole.labelLines.isEmpty ? [] : Array(whole.labelLines[range])
        self.range = whole.firstSample + range.lowerBound..<whole.firstSample + range.upperBound
    }

    /// Number of distinct label values + 1 for the largest: the classes the labels imply.
    public var labelRange: Int { Int(labels.max() ?? 0) + 1 }

    /// Writes sample `i`, transformed, to `out` (`sampleSize` floats, channels first).
    public func write(sample i: Int, _ transform: ByteTransform, into out: UnsafeMutablePointer<Float>) {
        let range = i * sampleSize..<(i + 1) * sampleSize
        if elementType == .ubyte {
            pixels[range].withUnsafeBufferPointer { transform.apply($0, channels: channels, into: out) }
        } else {
            values[range].withUnsafeBufferPointer { transform.apply($0, channels: channels, into: out) }
        }
    }

    /// The raw bytes of sample `i` of a byte dataset.
    public func sampleBytes(_ i: Int) -> ArraySlice<UInt8> { pixels[i * sampleSize..<(i + 1) * sampleSize] }
}

/// The order in which samples are visited: epoch after epoch, in file order or shuffled per
/// epoch with a stream derived from the solver seed. Its whole state is (epoch, position), so
/// a resumed run continues with the very same samples.
/// A sample of a batch: its index in the dataset, and the epoch and position in the data order
/// at which it was drawn.
public struct SamplePick: Sendable, Equatable {
    public var index: Int
    public var epoch: Int
    public var position: Int
}

/// One of `count` ranks of data-parallel training: rank `index` reads the `index`-th slice of
/// every global batch.
public struct Shard: Sendable, Equatable {
    public var index: Int
    public var count: Int
    public init(index: Int, count: Int) { self.index = index; self.count = count }
    public static let whole = Shard(index: 0, count: 1)
}

public struct SampleOrder: Sendable, Equatable {
    public let count: Int
    public let shuffle: Bool
    public let seed: UInt64
    public private(set) var epoch: Int = 0
    public private(set) var position: Int = 0
    private var permutation: [Int32] = []

    public init(count: Int, shuffle: Bool, seed: UInt64, epoch: Int = 0, position: Int = 0) {
        self.count = count; self.shuffle = shuffle; self.seed = seed
        self.epoch = epoch; self.position = position
        preparePermutation()
    }

    private mutating func preparePermutation() {
        guard shuffle else { permutation = []; return }
        var rng = RandomStream(seed: seed, purpose: "data-order", epoch)
        permutation = (0..<Int32(count)).map { $0 }
        // Fisher–Yates
        var i = count - 1
        while i > 0 {
            let j = Int(rng.next() % UInt64(i + 1))
            permutation.swapAt(i, j)
            i -= 1
        }
    }

    /// The next sample index, moving to the next epoch (and its order) at the end.
    public mutating func next() -> Int {
        let index = shuffle ? Int(permutation[position]) : position
        position += 1
        if position == count {
            position = 0
            epoch += 1
            preparePermutation()
        }
        return index
    }

    /// The next `count` samples with their places in the order (what a sample's random
    /// distortion is keyed on).
    public mutating func picks(_ count: Int) -> [SamplePick] {
        (0..<count).map { _ in
            let (epoch, position) = (epoch, position)
            return SamplePick(index: next(), epoch: epoch, position: position)
        }
    }

    /// This shard's part of the next `count · shard.count` samples: the global batch that one
    /// process with `shard.count` times the batch would draw, of which each rank takes its slice.
    public mutating func picks(_ count: Int, shard: Shard) -> [SamplePick] {
        let all = picks(count * shard.count)
        return Array(all[shard.index * count ..< (shard.index + 1) * count])
    }

    /// Moves past `count` samples (another rank's batch).
    public mutating func skip(_ count: Int) {
        for _ in 0..<count { _ = next() }
    }

    /// Positions left before the epoch ends.
    public var remainingInEpoch: Int { count - position }

    public static func == (a: SampleOrder, b: SampleOrder) -> Bool {
        a.count == b.count && a.shuffle == b.shuffle && a.seed == b.seed && a.epoch == b.epoch && a.position == b.position
    }
}

import DCore
