import DConfig
import DCore
import DLayers
import DNet
import DZoo

/// `dzoo import-caffe`: a Caffe net (prototxt) and optionally its weights (caffemodel) as a zoo
/// entry: the net as Dendrite YAML, a deploy net, the weights as safetensors and a card that
/// records both source files. Everything is checked (the nets built in both phases, every blob's
/// shape against its parameter) before anything is written, and the entry is assembled aside
/// and renamed into place: a failure leaves no entry.
public struct CaffeImport {
    public let net: CaffeNet
    /// The weights of every parameter: the caffemodel's, else the fillers' (seed 1).
    public let weights: SafetensorsFile
    public let deploy: String
    /// The net built in phase TEST, with the weights.
    public let testNet: Net
    /// One sample's shape, from the net's first Input layer (or input header).
    public let inputShape: [Int]
    /// Without a caffemodel, the layers initialised by their fillers; and caffemodel layers the
    /// net does not have (ignored, as Caffe ignores them).
    public private(set) var initialised: [String] = []
    public private(set) var ignored: [String] = []
    let sources: [ModelCard.DataFile]

    /// Throws a `ConfigError` located in the prototxt, or the `FileError` of a file it cannot read.
    public init(prototxt: String, caffemodel: String?) throws {
        let net = try CaffeNet(prototxt: prototxt)
        self.net = net
        let spec: NetSpec
        let store = ParameterStore(seed: 1)
        var nets: [Net] = []
        do {
            spec = try NetSpec(node: try YAML.parse(net.yaml, file: prototxt), file: prototxt)
            // TRAIN first: a train/test net's data layers are TRAIN's, and their error (Caffe's
            // Data reads LMDB) says more than TEST's missing blob.
            for phase in [Phase.train, .test] {
                nets.append(try Net(spec: spec, phase: phase, store: store, context: BuildContext(phase: phase, netFile: prototxt, seed: 1, net: spec)))
            }
        } catch {
            throw net.locate(error)
        }
        var sources = [ModelCard.DataFile(role: "caffe net", path: FileSystem.absolute(prototxt), sha256: try AtomicFile.sha256(prototxt).hex)]
        if let caffemodel {
            let bytes = try AtomicFile.read(caffemodel)
            let model = try CaffeNet(caffemodel: caffemodel, bytes: bytes)
            var tensors: [(name: String, entry: SafetensorsFile.Entry)] = []
            for layer in model.layers where !layer.blobs.isEmpty {
                guard let node = nets.lazy.compactMap({ $0.nodes.first { $0.name == layer.name } }).first else {
                    ignored.append(layer.name)
                    continue
                }
                let at = net.layers.firstIndex { $0.name == layer.name }.map { net.location(ofLayer: $0) }
                tensors += try Self.tensors(of: layer, for: node, file: caffemodel, at: at)
            }
            let report = try Weights.load(SafetensorsFile(tensors: tensors), from: caffemodel, into: store, for: .testing)
            // Caffe's fine-tuning copy skips such layers; an import that did would hand out
            // random weights under the model's name. (Protobuf has no end marker: a file cut
            // between two layers parses, and shows here.)
            if let missing = report.initialised.first {
                let at = net.layers.firstIndex { $0.name == missing }.map { net.location(ofLayer: $0) }
                let message = "layer '\(missing)' has no weights in \(caffemodel)"
                    + (report.initialised.count > 1 ? ", nor \(report.initialised.dropFirst().joined(separator: ", "))" : "")
                let hint = "a truncated download, or the weights of another net? Without the caffemodel, the weights come from the fillers"
                throw at.map { ConfigError(at: $0, message, hint: hint) } ?? ConfigError(file: caffemodel, message: message, hint: hint)
            }
            sources.append(ModelCard.DataFile(role: "caffe weights", path: FileSystem.absolute(caffemodel), sha256: SHA256.hex(bytes)))
        } else {
            initialised = nets[1].nodes.filter { !$0.parameters.isEmpty }.map(\.name)
        }
        self.sources = sources
        weights = Weights.file(of: store, metadata: ["format": "pt", "source": "dzoo import-caffe"])
        let test = nets[1]
        testNet = test
        // The deploy net's input: an Input's, or that of the data layer it replaces.
        let input = test.nodes.first { ["Input", "ImageData", "IDXData"].contains($0.type) }.flatMap { $0.tops.first }.map { test.blobs[$0].shape.dims }
        inputShape = Array((input ?? []).dropFirst())
        deploy = DeployNet.text(from: spec, inputShape: inputShape, state: spec.state(.test), writtenBy: "dzoo import-caffe")
    }

    /// Writes the entry `directory` (which must not exist yet).
    public func write(to directory: String, command: String) throws(FileError) -> ZooEntryWriter {
        var card = ModelCard(name: "", provenance: ModelCard.Provenance(
            command: command, dendrite: ModelCard.dendriteVersion, randomSeed: 1, threads: 1, date: utcTimestamp()))
        card.description = "Caffe's '\(net.name)', imported from \(ConfigFile.fileName(of: net.file))"
            + (sources.count > 1 ? " with the weights of \(ConfigFile.fileName(of: sources[1].path))" : " (weights from the fillers: no caffemodel)")
        card.importedFrom = sources
        card.inputShape = inputShape
        card.solver = ""
        let weightsName = "\(ConfigFile.fileName(of: directory)).safetensors"
        card.weights = weightsName
        return try ZooEntryWriter.create(directory: directory, card: card, files: [
            ("net.yaml", Array(("# Imported by dzoo import-caffe from \(net.file)\n" + net.yaml).utf8)),
            ("deploy.yaml", Array(deploy.utf8)),
            (weightsName, weights.encoded()),
        ])
    }

    /// The layer's blobs under the names of the node's parameters (Caffe's blob i is Dendrite's
    /// parameter i). A blob with a shape must have the parameter's; a legacy 4-d one (num,
    /// channels, height, width), the parameter's count. BatchNorm's mean and variance are
    /// divided by its moving-average factor (its third blob), which becomes 1, as Caffe does
    /// when it reads them.
    static func tensors(of layer: Caffe_LayerParameter, for node: Net.Node, file: String,
                        at location: ConfigLocation?) throws(ConfigError) -> [(name: String, entry: SafetensorsFile.Entry)] {
        func fail(_ message: String, hint: String? = nil) -> ConfigError {
            location.map { ConfigError(at: $0, message, hint: hint) } ?? ConfigError(file: file, message: message, hint: hint)
        }
        guard layer.blobs.count == node.parameters.count else {
            throw fail("layer '\(layer.name)' (\(node.type)): the caffemodel holds \(layer.blobs.count) blob\(layer.blobs.count == 1 ? "" : "s"), the net has \(node.parameters.count) parameter\(node.parameters.count == 1 ? "" : "s")",
                       hint: "is \(file) the weights of this net? (bias_term in the prototxt decides whether there is a bias)")
        }
        var values = layer.blobs.map { $0.data.isEmpty ? $0.doubleData.map(Float.init) : $0.data }
        if node.type == "BatchNorm", values.count == 3, values[2].count == 1 {
            let factor = values[2][0] == 0 ? 0 : 1 / values[2][0]
            values[0] = values[0].map { $0 * factor }
            values[1] = values[1].map { $0 * factor }
            values[2] = [1]
        }
        var out: [(name: String, entry: SafetensorsFile.Entry)] = []
        for (i, (blob, parameter)) in zip(layer.blobs, node.parameters).enumerated() {
            let expected = parameter.shape.dims
            let shape = blob.hasShape ? blob.shape.dim.map(Int.init) : [blob.num, blob.channels, blob.height, blob.width].map(Int.init)
            let described = shape.map(String.init).joined(separator: "×")
            // Legacy dimensions match by count, computed without overflow (they come from the file).
            var count: Int? = 1
            for d in shape {
                guard let n = count, d >= 0 else { count = nil; break }
                let (product, overflow) = n.multipliedReportingOverflow(by: d)
                count = overflow ? nil : product
            }
            let fits = blob.hasShape ? shape == expected : count == expected.reduce(1, *)
            guard fits else {
                throw fail("layer '\(layer.name)' (\(node.type)): the caffemodel's blob \(i) has shape \(described), the net's parameter \(Shape(expected))",
                           hint: "is \(file) the weights of this net?")
            }
            guard values[i].count == expected.reduce(1, *) else {
                throw fail("layer '\(layer.name)': the caffemodel's blob \(i) holds \(values[i].count) values for shape \(described)")
            }
            out.append((parameter.name, SafetensorsFile.Entry(shape: expected, values: values[i])))
        }
        return out
    }
}
