import DConfig
import DZoo
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import SwiftProtobuf

/// A Caffe net description (a `.prototxt`, or the net inside a `.caffemodel`), read with
/// swift-protobuf against Caffe's own schema (Proto/caffe.proto) and written as Dendrite YAML.
///
/// Dendrite's YAML is Caffe's vocabulary, so the net is carried over field for field: the
/// message's JSON (with Caffe's field names) rewritten as YAML. What changes: legacy V1
/// `layers` become `layer`s (type names and `blobs_lr`/`weight_decay` upgraded as Caffe's own
/// upgrade does), `engine` (CAFFE or CUDNN, a choice of implementation) is dropped, and blobs
/// stay out of the text. Dendrite then checks the YAML as it checks any net; `locate` moves
/// its errors back to the prototxt's lines.
public struct CaffeNet {
    public let file: String
    /// The layers as read (V1 layers upgraded), with their blobs when read from a caffemodel.
    public let layers: [Caffe_LayerParameter]
    /// The net as Dendrite YAML.
    public let yaml: String
    /// Filler keys that Caffe does not read for the filler's type (GoogLeNet's xavier fillers
    /// carry a `std`), left out of the YAML, where they would be errors: "conv1 weight_filler.std".
    public private(set) var droppedFillerKeys: [String] = []
    /// The data paths (ImageData's source and root_folder, a mean_file) given relative to the
    /// prototxt's directory and written absolute, so that the zoo entry's net finds them.
    public private(set) var absolutePaths: [String] = []
    /// The name of the net: Caffe's `name`, else the file's.
    public let name: String
    /// Per layer of `yaml`: its lines there and its entry in the prototxt.
    private let spans: [(lines: ClosedRange<Int>, source: PrototxtOutline.Entry?)]
    private let outline: PrototxtOutline?

    /// Reads a prototxt.
    public init(prototxt path: String) throws(ConfigError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError(file: path, message: "cannot read the file: \(Self.reason(error))")
        }
        let outline: PrototxtOutline?
        do { outline = try PrototxtOutline(text) } catch {
            throw ConfigError(at: ConfigLocation(file: path, line: error.line, column: error.column), error.message,
                              hint: "a prototxt is protobuf text format: name: value, and name { … } for a message")
        }
        let net: Caffe_NetParameter
        do { net = try Caffe_NetParameter(textFormatString: text) } catch {
            throw Self.parseError(error, path: path, outline: outline)
        }
        try self.init(net, file: path, outline: outline)
    }

    /// Reads the net inside a caffemodel (binary protobuf): its layers and their blobs.
    public init(caffemodel path: String, bytes: [UInt8]) throws(ConfigError) {
        let net: Caffe_NetParameter
        do { net = try Caffe_NetParameter(serializedBytes: bytes) } catch {
            throw ConfigError(file: path, message: "not a Caffe model (binary NetParameter): \(error)",
                              hint: "a truncated download? A .caffemodel is protobuf's binary format; its net description is the .prototxt")
        }
        try self.init(net, file: path, outline: nil)
    }

    private init(_ net: Caffe_NetParameter, file: String, outline: PrototxtOutline?) throws(ConfigError) {
        self.file = file
        self.outline = outline
        var net = net
        var sources: [PrototxtOutline.Entry?]
        if !net.layers.isEmpty {
            let v1Entries = outline?.top("layers") ?? []
            guard net.layer.isEmpty else {
                throw ConfigError(at: v1Entries.first.map { Self.location($0, file) }, "the net has both 'layer' and legacy 'layers' entries",
                                  hint: "Caffe reads one or the other: write every layer in one form")
            }
            for (i, v1) in net.layers.enumerated() {
                let source = i < v1Entries.count ? v1Entries[i] : nil
                net.layer.append(try Self.upgrade(v1, at: source.map { Self.location($0, file) } ?? ConfigLocation(file: file, line: 1, column: 1)))
            }
            net.layers = []
            sources = v1Entries.count == net.layer.count ? v1Entries : Array(repeating: nil, count: net.layer.count)
        } else {
            let entries = outline?.top("layer") ?? []
            sources = entries.count == net.layer.count ? entries : Array(repeating: nil, count: net.layer.count)
        }
        layers = net.layer
        name = net.hasName && !net.name.isEmpty ? net.name : String(file.split(separator: "/").last ?? "net").split(separator: ".").first.map(String.init) ?? "net"

        // The text: the net's own fields, then one block per layer.
        var header = net
        header.layer = []
        header.name = name
        var lines: [String] = []
        do {
            for (key, value) in try Self.object(header) { lines.append("\(key): \(JSONToYAML.flow(value))") }
            lines.append("layer:")
            var spans: [(lines: ClosedRange<Int>, source: PrototxtOutline.Entry?)] = []
            var dropped: [String] = [], absolute: [String] = []
            for (layer, source) in zip(net.layer, sources) {
                var text = layer
                text.blobs = []
                Self.dropEngine(&text)
                if outline != nil { Self.makeDataPathsAbsolute(&text, netFile: file, rewritten: &absolute) }
                let first = lines.count + 1
                for (i, (key, value)) in try Self.object(text).enumerated() {
                    let kept = Self.droppingUnreadFillerKeys(value, path: "\(layer.name) \(key)", dropped: &dropped)
                    lines.append((i == 0 ? "  - " : "    ") + "\(key): \(JSONToYAML.flow(kept))")
                }
                spans.append((first...max(first, lines.count), source))
            }
            self.spans = spans
            droppedFillerKeys = dropped
            absolutePaths = absolute
        } catch {
            throw ConfigError(file: file, message: "cannot write the net as YAML: \(error)")
        }
        yaml = lines.joined(separator: "\n") + "\n"
    }

    /// Dendrite takes a net's relative data paths from the net file's directory, and the
    /// imported net lives in the zoo: each relative path is joined to the prototxt's directory
    /// (a root_folder keeps its trailing slash, as it is a prefix).
    static func makeDataPathsAbsolute(_ layer: inout Caffe_LayerParameter, netFile: String, rewritten: inout [String]) {
        let directory = FileSystem.absolute(ConfigFile.directory(of: netFile))
        // nil for a path to keep (protobuf's setters would mark an unset field as set).
        func absolute(_ path: String, set: Bool) -> String? {
            guard set, !path.isEmpty, !path.hasPrefix("/") else { return nil }
            rewritten.append(path)
            return directory + "/" + path
        }
        let image = layer.imageDataParam
        if let p = absolute(image.source, set: image.hasSource) { layer.imageDataParam.source = p }
        if let p = absolute(image.rootFolder, set: image.hasRootFolder) { layer.imageDataParam.rootFolder = p }
        let transform = layer.transformParam
        if let p = absolute(transform.meanFile, set: transform.hasMeanFile) { layer.transformParam.meanFile = p }
    }

    /// A Dendrite error in `yaml` at the place in the prototxt it comes from: the layer's
    /// entry, or the entry of the key the error names within it.
    public func locate(_ error: ConfigError) -> ConfigError {
        guard let at = error.location, let outline else {
            return ConfigError(file: file, message: error.message, hint: error.hint)
        }
        let yamlLines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let key = at.line >= 1 && at.line <= yamlLines.count ? Self.key(in: yamlLines[at.line - 1], before: at.column) : nil
        var entry: PrototxtOutline.Entry?
        if let span = spans.first(where: { $0.lines.contains(at.line) }), let source = span.source {
            entry = key.flatMap { source.findAny($0) } ?? source
        } else if let key {
            entry = outline.entries.first { $0.name == key }
        }
        guard let entry else { return ConfigError(file: file, message: error.message, hint: error.hint) }
        return ConfigError(at: Self.location(entry, file), error.message, hint: error.hint)
    }

    /// The prototxt entry of layer `index` (for errors about its weights).
    public func location(ofLayer index: Int) -> ConfigLocation {
        guard index < spans.count, let e = spans[index].source else { return ConfigLocation(file: file, line: 1, column: 1) }
        return Self.location(e, file)
    }

    // MARK: - Reading

    static func location(_ e: PrototxtOutline.Entry, _ file: String) -> ConfigLocation {
        ConfigLocation(file: file, line: e.line, column: e.column)
    }

    /// Why a file could not be read as text: FoundationEssentials' error carries the errno.
    static func reason(_ error: any Error) -> String {
        guard let error = error as? CocoaError else { return "\(error)" }
        if let posix = error.underlying as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        return [.fileReadCorruptFile, .fileReadInapplicableStringEncoding].contains(error.code) ? "not UTF-8 text" : "\(error.code)"
    }

    /// swift-protobuf's error placed at the first entry that fails to parse on its own.
    static func parseError(_ error: any Error, path: String, outline: PrototxtOutline?) -> ConfigError {
        guard let outline, let entry = outline.firstFailing({ (try? Caffe_NetParameter(textFormatString: $0)) != nil }) else {
            return ConfigError(file: path, message: "not a Caffe net: \(error)", hint: "check it against Caffe's caffe.proto")
        }
        let layer = outline.entries.first { $0.bytes.contains(entry.bytes.lowerBound) && ($0.name == "layer" || $0.name == "layers") }
        let inLayer = layer.flatMap { $0.find(["name"]) }.map { " in layer \(outline.text(of: $0).dropFirst("name".count).drop { $0 == ":" || $0 == " " })" } ?? ""
        let message: String, hint: String?
        switch error as? TextFormatDecodingError {
        case .unknownField?:
            message = "unknown field '\(entry.name)'\(inLayer)"
            hint = "Caffe's schema (BVLC master) has no such field here; fields that forks of Caffe added are not read"
        case .unrecognizedEnumValue?:
            message = "'\(entry.name)'\(inLayer) has a value Caffe does not know"
            hint = nil
        case .malformedNumber?:
            message = "'\(entry.name)'\(inLayer) is not a number of the field's type"
            hint = nil
        default:
            message = "cannot read '\(entry.name)'\(inLayer) (\(error))"
            hint = "a message is written name { … }, a value name: value"
        }
        return ConfigError(at: location(entry, path), message, hint: hint)
    }

    /// The top-level fields of `message` as swift-protobuf writes them in JSON, in order.
    static func object(_ message: some SwiftProtobuf.Message) throws -> [(key: String, value: JSONToYAML.Value)] {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        guard case .object(let pairs) = try JSONToYAML.parse(try message.jsonString(options: options)) else { throw JSONToYAML.Malformed() }
        return pairs
    }

    /// The name of the YAML key whose value holds `column` on `line`.
    static func key(in line: Substring, before column: Int) -> String? {
        let chars = Array(line.prefix(max(0, column - 1) + 64))
        var end = min(chars.count, max(0, column - 1))
        // The key at the column itself, else the nearest one before it.
        if let colon = chars[end...].firstIndex(where: { !($0.isLetter || $0.isNumber || $0 == "_") }), chars[colon] == ":", colon > end {
            end = colon
        } else {
            guard let colon = chars[..<end].lastIndex(of: ":") else { return nil }
            end = colon
        }
        var start = end
        while start > 0 && (chars[start - 1].isLetter || chars[start - 1].isNumber || chars[start - 1] == "_") { start -= 1 }
        return start < end ? String(chars[start..<end]) : nil
    }

    /// The keys each filler type reads in Caffe (filler.hpp); the type defaults to constant.
    static let fillerKeys: [String: Set<String>] = [
        "constant": ["value"], "uniform": ["min", "max"], "gaussian": ["mean", "std", "sparse"],
        "positive_unitball": [], "xavier": ["variance_norm"], "msra": ["variance_norm"], "bilinear": [],
    ]

    /// `value` without the keys of its fillers (`*filler` blocks) that their type does not read.
    static func droppingUnreadFillerKeys(_ value: JSONToYAML.Value, path: String, dropped: inout [String]) -> JSONToYAML.Value {
        guard case .object(let pairs) = value else { return value }
        return .object(pairs.map { key, v in
            guard key.hasSuffix("filler"), case .object(let fields) = v else {
                return (key, droppingUnreadFillerKeys(v, path: "\(path).\(key)", dropped: &dropped))
            }
            var type = "constant"
            if let t = fields.first(where: { $0.key == "type" }), case .string(let quoted) = t.value { type = String(quoted.dropFirst().dropLast()) }
            guard let read = fillerKeys[type] else { return (key, v) }  // an unknown type: Dendrite's error names it
            let kept = fields.filter { $0.key == "type" || read.contains($0.key) }
            dropped += fields.filter { $0.key != "type" && !read.contains($0.key) }.map { "\(path).\(key).\($0.key)" }
            return (key, .object(kept))
        })
    }

    // MARK: - Upgrading

    /// V1LayerParameter's type names, as Caffe's UpgradeV1LayerType gives them.
    static let v1Types: [String: String] = [
        "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
        "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data", "DECONVOLUTION": "Deconvolution",
        "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp",
        "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
        "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
        "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN", "POOLING": "Pooling",
        "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid", "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
        "SILENCE": "Silence", "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice",
        "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
    ]

    /// A V1 layer as a current one. Its `*_param` fields have the same names and message types
    /// in both (at other field numbers), so the JSON of one, with the V1-only fields rewritten,
    /// is the JSON of the other.
    static func upgrade(_ v1: Caffe_V1LayerParameter, at location: ConfigLocation) throws(ConfigError) -> Caffe_LayerParameter {
        var text = v1
        text.blobs = []
        let layer: Caffe_LayerParameter
        do {
            var options = JSONEncodingOptions()
            options.preserveProtoFieldNames = true
            guard case .object(var fields) = try JSONToYAML.parse(try text.jsonString(options: options)) else {
                throw ConfigError(at: location, "cannot upgrade this V1 layer")
            }
            func take(_ key: String) -> JSONToYAML.Value? {
                fields.firstIndex { $0.key == key }.map { fields.remove(at: $0).value }
            }
            func list(_ key: String) -> [JSONToYAML.Value] {
                if case .array(let items) = take(key) { items } else { [] }
            }
            if fields.contains(where: { $0.key == "layer" }) {
                throw ConfigError(at: location, "a V0 layer (layers { layer { … } }) is older than Dendrite reads",
                                  hint: "upgrade the file with Caffe's upgrade_net_proto_text tool")
            }
            // An enum value's JSON is its name in quotes.
            let type = if case .string(let quoted) = take("type") { String(quoted.dropFirst().dropLast()) } else { "NONE" }
            guard let name = v1Types[type] else {
                throw ConfigError(at: location, "V1 layer type '\(type)' has no current name", hint: "give the layer a type")
            }
            fields.append(("type", .string("\"\(name)\"")))
            // V1's parallel lists `param`, `blob_share_mode`, `blobs_lr` and `weight_decay` are
            // one ParamSpec per parameter now.
            let columns = [("name", list("param")), ("share_mode", list("blob_share_mode")),
                           ("lr_mult", list("blobs_lr")), ("decay_mult", list("weight_decay"))]
            let count = columns.map(\.1.count).max() ?? 0
            if count > 0 {
                fields.append(("param", .array((0..<count).map { i in
                    .object(columns.compactMap { key, values in i < values.count ? (key, values[i]) : nil })
                })))
            }
            let json = JSONToYAML.json(.object(fields))
            layer = try Caffe_LayerParameter(jsonString: json)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(at: location, "cannot upgrade this V1 layer: \(error)")
        }
        var upgraded = layer
        upgraded.blobs = v1.blobs
        return upgraded
    }

    /// `engine` picks Caffe's or cuDNN's implementation; Dendrite has one.
    static func dropEngine(_ l: inout Caffe_LayerParameter) {
        if l.hasConvolutionParam { l.convolutionParam.clearEngine() }
        if l.hasPoolingParam { l.poolingParam.clearEngine() }
        if l.hasReluParam { l.reluParam.clearEngine() }
        if l.hasSigmoidParam { l.sigmoidParam.clearEngine() }
        if l.hasSoftmaxParam { l.softmaxParam.clearEngine() }
        if l.hasTanhParam { l.tanhParam.clearEngine() }
    }
}

extension PrototxtOutline.Entry {
    /// The first entry named `name` at any depth below this one.
    func findAny(_ name: String) -> PrototxtOutline.Entry? {
        for c in children ?? [] {
            if c.name == name { return c }
            if let found = c.findAny(name) { return found }
        }
        return nil
    }
}
