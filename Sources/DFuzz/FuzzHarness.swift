import DCommands
import DConfig
import DData
import DInterop
import DSolvers
import DZoo
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// One parser that a fuzz target feeds: `scripts/fuzz TARGET` names it, and `Tests/Fuzz/corpus/TARGET/`
/// holds its seeds and the inputs that once broke it.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A net or solver file: YAML events → nodes → `NetSpec` / `SolverSpec` (and a solver's inline nets).
    case yaml
    /// An IDX file as written (raw), and gzip'd: zlib's stream and the IDX header and payload checks.
    case idx, idxGzip = "idx-gzip"
    /// A weights file.
    case safetensors
    /// A `.solverstate` resumed into a small trainer, beside the weights file it names.
    case solverState = "solver-state"
    /// A zoo entry's card, `model.yaml`.
    case card
    /// A `dzoo fetch-local` archive (.tar.gz).
    case archive
    /// An image for `dtest --predict` (PNG, PGM/PPM, JPEG, …), decoded at 1 and 3 channels.
    case image
    /// An `ImageData` list file.
    case imageList = "image-list"
    /// A `TextData` corpus, and a zoo entry's `vocabulary.json`.
    case text, vocabulary
    /// A Caffe net for `dzoo import-caffe`: the text format through swift-protobuf and the
    /// outline that locates errors, then the YAML it becomes (parsed, not built: building
    /// allocates what the net declares).
    case prototxt
    /// A Caffe model's weights (binary protobuf, V1 layers upgraded) imported with a small
    /// net (`caffemodelNet`): every blob checked and mapped to its parameter.
    case caffemodel
}

/// Runs one target on inputs, each written to a file where the parser reads files, so that the
/// parser is entered exactly as the commands enter it. Every input must come back as accepted or
/// refused with an error; a trap, a crash or a huge allocation is what the fuzzer looks for.
public final class FuzzHarness {
    public let target: FuzzTarget
    public let directory: String
    let path: String
    /// The solver-state target's trainer: a two-parameter net, snapshotted once so that the
    /// weights a state names exist beside it.
    let trainer: Trainer?

    /// `directory` must exist; the harness writes its input file and (for solver states) a
    /// snapshot there.
    public init(target: FuzzTarget, directory: String) throws {
        self.target = target
        self.directory = directory
        let names: [FuzzTarget: String] = [
            .yaml: "input.yaml", .idx: "input.idx", .idxGzip: "input.idx.gz", .safetensors: "input.safetensors",
            .solverState: "input.solverstate", .card: "model.yaml", .archive: "input.tar.gz", .image: "input.image",
            .imageList: "list.txt", .text: "corpus.txt", .vocabulary: "vocabulary.json",
            .prototxt: "input.prototxt", .caffemodel: "input.caffemodel",
        ]
        path = "\(directory)/\(names[target] ?? target.rawValue)"
        if target == .caffemodel {
            try AtomicFile.write(Array(Self.caffemodelNet.utf8), to: "\(directory)/net.prototxt")
        }
        if target == .solverState {
            let solverPath = "\(directory)/solver.yaml"
            try AtomicFile.write(Array(Self.stateSolver.utf8), to: solverPath)
            let t = try Trainer(solver: try SolverSpec.load(solverPath),
                                options: TrainOptions(threads: 1, snapshotPrefix: "\(directory)/fuzz"))
            _ = try t.snapshot()
            trainer = t
        } else {
            trainer = nil
        }
    }

    /// Adam keeps two histories per parameter; DummyData needs no files.
    static let stateSolver = """
        type: Adam
        base_lr: 0.01
        max_iter: 1
        random_seed: 7
        net_param:
          name: fuzz
          layer:
            - {name: data, type: DummyData, top: [x, y], dummy_data_param: {shape: [{dim: [2, 3]}, {dim: [2, 2]}]}}
            - {name: ip, type: InnerProduct, bottom: x, top: p, inner_product_param: {num_output: 2}}
            - {name: loss, type: EuclideanLoss, bottom: [p, y], top: loss}

        """

    /// The caffemodel target's net: conv (one 2×2 filter, no bias) and ip (2 outputs).
    static let caffemodelNet = """
        name: "fuzz"
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 2 dim: 2 } } }
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 1 kernel_size: 2 bias_term: false } }
        layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip" inner_product_param { num_output: 2 } }

        """

    /// The snapshot the solver-state target's trainer wrote: the valid seed of its corpus.
    public var stateSeedPath: String { "\(directory)/fuzz_iter_0.solverstate" }

    /// Feeds `bytes` to the target's parser. Returns nil when it was accepted, or the error
    /// that refused it.
    @discardableResult
    public func run(_ bytes: [UInt8]) -> (any Error)? {
        do {
            switch target {
            case .safetensors:
                _ = try SafetensorsFile.decode(bytes, path: path)
            case .text:
                _ = try TextCorpus(path: path, bytes: bytes)
            case .vocabulary:
                _ = try TextCorpus.vocabulary(jsonBytes: bytes, path: path)
            default:
                try AtomicFile.write(bytes, to: path)
                try readFile()
            }
            return nil
        } catch {
            return error
        }
    }

    func readFile() throws {
        switch target {
        case .yaml:
            let node = try ConfigFile.load(path)
            // A file is either kind; each decoder must refuse the other cleanly.
            if let solver = try? SolverSpec(node: node, file: path) {
                _ = try solver.trainNet.load()
                for net in solver.testNets { _ = try net.load() }
            } else {
                _ = try NetSpec(node: node, file: path)
            }
        case .idx, .idxGzip:
            _ = try IDXFile.read(path, expectedRanks: 1...4, types: [.ubyte, .float], role: "images")
        case .solverState:
            _ = try trainer?.resume(from: path)
        case .card:
            _ = try ModelCard.load(path)
        case .archive:
            _ = try TarGz.read(path, maxBytes: 1 << 24)
        case .image:
            _ = try ImageFile.load(path, channels: 1, height: 28, width: 28)
            _ = try ImageFile.load(path, channels: 3, height: 8, width: 8)
        case .imageList:
            _ = try ImageList.parse(path)
        case .prototxt:
            let net = try CaffeNet(prototxt: path)
            _ = try NetSpec(node: try YAML.parse(net.yaml, file: path), file: path)
        case .caffemodel:
            _ = try CaffeImport(prototxt: "\(directory)/net.prototxt", caffemodel: path)
        case .safetensors, .text, .vocabulary:
            break  // in memory, in run(_:)
        }
    }
}
