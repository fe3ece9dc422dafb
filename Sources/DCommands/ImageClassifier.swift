import DConfig
import DCore
import DData
import DLayers
import DNet
import DZoo

/// A zoo model that classifies image files as `dtest --predict` does: its deploy net, built
/// for up to `batch` images, with the card's weights and the card's preprocessing of the bytes.
/// Not thread-safe: one caller at a time (dserve keeps each in an actor).
public final class ImageClassifier {
    public let entry: Zoo.Entry
    /// The input of one image: [channels, height, width].
    public let channels: Int, height: Int, width: Int
    public let batch: Int
    let net: Net
    let input: Int, probabilities: Int
    let transform: ByteTransform
    let normalization: Normalization?
    let step: StepContext
    var scratch: [Float] = []

    /// `command` names the caller in errors ("--predict", "dserve").
    public init(entry: Zoo.Entry, threads: Int, batch: Int = 1, command: String = "--predict") throws {
        let card = entry.card
        guard !card.weights.isEmpty else { throw entry.noWeights(entry.name) }
        guard card.inputType == .bytes else {
            throw RunError(message: "\(command) classifies image files; '\(entry.name)' was trained on float IDX data, whose preprocessing an image file cannot repeat",
                           hint: "evaluate it on float IDX files with dtest --images and --labels")
        }
        let file = entry.path(card.deploy)
        let spec = try Self.deploySpec(file, batch: batch)
        let store = ParameterStore(seed: 0)
        net = try Net(spec: spec, phase: .test, state: spec.state(.test), store: store,
                      context: BuildContext(phase: .test, netFile: file, seed: 0, threads: threads))
        try TestCommand.readEveryWeight(try entry.verifiedPath(card.weights), into: store)
        guard let input = net.nodes.first(where: { $0.layer is InputLayer }).flatMap({ $0.tops.first }),
              let prob = net.blob(named: DeployNet.probabilities) else {
            throw RunError(message: "\(file): the deploy net needs an Input layer and a '\(DeployNet.probabilities)' top")
        }
        let dims = Array(net.blobs[input].shape.dims.dropFirst())
        guard dims.count == 3 else { throw RunError(message: "\(command) takes images; the input of '\(entry.name)' has shape \(net.blobs[input].shape)") }
        guard card.meanValues.count <= 1 || card.meanValues.count == dims[0] else {
            throw RunError(message: "\(entry.path(ModelCard.fileName)): the card gives \(card.meanValues.count) means for an input of \(dims[0]) channels")
        }
        (self.entry, self.input, probabilities, self.batch) = (entry, input, prob, batch)
        (channels, height, width) = (dims[0], dims[1], dims[2])
        transform = ByteTransform(scale: Float(card.scale), meanValues: card.meanValues.map(Float.init),
                                  meanImage: try StatisticsFile.loadMeanImage(card, entry: entry.directory) ?? [])
        normalization = try StatisticsFile.load(card, entry: entry.directory, elements: dims.reduce(1, *))
        step = StepContext(phase: .test, parallel: Parallel(threads: threads))
    }

    public var classNames: [String] { entry.card.classNames }

    /// The first layer's filters as a PNG (`dtest --visualize`'s picture), nil when it has
    /// none that can be drawn.
    public func firstLayerFilters() throws -> [UInt8]? { try FilterPicture.firstLayerPNG(net) }

    /// The memory the loaded net holds: its parameters and its activations.
    public var memoryBytes: Int { net.activationBytes + 4 * net.nodes.reduce(0) { $0 + $1.parameters.reduce(0) { $0 + $1.value.shape.count } } }

    /// The deploy net with its Input's batch set to `batch` (deploy nets are written for one).
    static func deploySpec(_ file: String, batch: Int) throws(ConfigError) -> NetSpec {
        let root = try ConfigFile.load(file)
        let spec = try NetSpec(node: root, file: file)
        guard batch != 1 else { return spec }
        var firstDims: [ConfigLocation: String] = [:]
        for layer in spec.layers where layer.type == "Input" {
            guard let shape = layer.node.child("input_param")?.child("shape") else { continue }
            let shapes: [YAMLNode]
            if case .sequence(let items) = shape.value { shapes = items } else { shapes = [shape] }
            for s in shapes {
                if case .sequence(let dims)? = s.child("dim")?.value, let first = dims.first { firstDims[first.location] = String(batch) }
            }
        }
        return try NetSpec(node: root.replacing(firstDims), file: file)
    }

    /// The class probabilities of each image, given as `channels`·`height`·`width` bytes (as
    /// `ImageFile` decodes them), up to `batch` images in one forward pass.
    public func probabilities(_ images: [[UInt8]]) throws -> [[Float]] {
        precondition(!images.isEmpty && images.count <= batch, "\(images.count) images for a batch of \(batch)")
        let size = channels * height * width
        if net.batchSize != images.count { try net.setBatchSize(images.count) }
        let x = net.data(input).base
        for (i, bytes) in images.enumerated() {
            precondition(bytes.count == size, "an image of \(bytes.count) bytes for an input of \(size)")
            // As the data layer: the card's scale and means, or the raw values and then the
            // training data's statistics.
            bytes.withUnsafeBufferPointer { (normalization == nil ? transform : ByteTransform()).apply($0, channels: channels, into: x + i * size) }
        }
        normalization?.apply(x, count: images.count, size: size, channels: channels, scratch: &scratch, parallel: .serial)
        _ = try net.forward(step)
        let p = net.data(probabilities).toArray(), classes = p.count / images.count
        return (0..<images.count).map { Array(p[($0 * classes)..<(($0 + 1) * classes)]) }
    }

    /// Class indices from the most probable down, ties to the lower index, at most `top`.
    public static func ranked<T: Comparable>(_ p: [T], top: Int) -> [Int] {
        Array(p.indices.sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }.prefix(top))
    }
}
