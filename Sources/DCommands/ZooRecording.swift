import DConfig
import DCore
import DNet
import DSolvers
import DZoo

/// Where a dtrain run writes: a zoo entry (the default) or Caffe's `snapshot_prefix`.
enum RunDestination {
    /// The solver's explicit `snapshot_prefix`, or the Caffe default beside the solver file when
    /// resuming a run that was not in a zoo.
    case prefix(String)
    /// A new user-zoo entry, created once the nets are built.
    case newEntry(directory: String)
    /// The entry a resumed run continues in.
    case entry(ZooEntryWriter)

    /// The resolution rules of the README: an explicit `snapshot_prefix` wins; a resumed run
    /// continues where its state is; otherwise a new entry named after `--zoo-name` or the
    /// net, with `-2`, `-3`, … added when the name is taken.
    static func resolve(_ spec: SolverSpec, zooName: String?, zooGiven: Bool, snapshot: String?, netName: String, zoo: Zoo) throws -> RunDestination {
        if spec.snapshotPrefixGiven {
            if zooName != nil || zooGiven {
                throw ConfigError(file: spec.file, message: "\(zooName != nil ? "--zoo-name" : "--zoo") and snapshot_prefix both say where snapshots go",
                                  hint: "remove snapshot_prefix from the solver to write into the zoo")
            }
            return .prefix(spec.snapshotPrefix)
        }
        if let snapshot {
            guard let writer = try ZooEntryWriter.containing(snapshot) else { return .prefix(spec.snapshotPrefix) }
            // Links resolved: a link into ModelZoo/ must not be a way to change a shipped model.
            if let shipped = zoo.repositoryRoot, FileSystem.isWithin(writer.directory, shipped) {
                let name = ConfigFile.fileName(of: FileSystem.realPath(writer.directory) ?? writer.directory)
                throw FileError(path: snapshot, "belongs to '\(name)', a model shipped in the repository, which a resumed run would change",
                                hint: "install a copy in the user zoo and resume that: dzoo fetch-local \(writer.directory) --name my-\(name), then --snapshot zoo:my-\(name)")
            }
            return .entry(writer)
        }
        let name = zooName ?? netName
        guard Zoo.isValidName(name) else {
            throw spec.trainNet.error("'\(name)' cannot name a zoo entry", hint: "use letters, digits, '.', '_' and '-' (--zoo-name NAME)")
        }
        return .newEntry(directory: ZooEntryWriter.freshDirectory(root: zoo.userRoot, name: name))
    }

    var snapshotPrefix: String {
        switch self {
        case .prefix(let p): return p
        case .newEntry(let dir): return "\(dir)/\(ConfigFile.fileName(of: dir))"
        case .entry(let w): return w.snapshotPrefix
        }
    }
}

/// Keeps the zoo entry's card in step with the run's events.
final class ZooRecorder {
    let writer: ZooEntryWriter
    /// The weights the card points at: the latest snapshot, or the best one once there is one.
    private var weights: String?
    private var hasBest: Bool

    /// A resumed run starts from what the card already says, so that a best snapshot of the
    /// first part of the run stays what `zoo:NAME` loads.
    init(writer: ZooEntryWriter) {
        self.writer = writer
        weights = writer.card.weights.isEmpty ? nil : writer.card.weights
        hasBest = writer.card.weights.hasSuffix("_best.safetensors")
    }

    /// The card of a new run: the solver's `model_card` block, the data the nets read, and how
    /// the run was started.
    static func create(directory: String, trainer: Trainer, command: [String]) throws -> ZooRecorder {
        let spec = trainer.solver
        var card = ModelCard(name: "", provenance: ModelCard.Provenance(
            command: command.map(shellQuoted).joined(separator: " "), dendrite: ModelCard.dendriteVersion,
            randomSeed: trainer.seed, threads: trainer.options.threads, date: utcTimestamp(),
            openblasCore: BLAS.coreName, openblasVersion: BLAS.version, cpu: BLASStartup.cpuModel(),
            kernels: SmallGEMM.level.description))
        card.description = spec.modelCard.description
        card.licence = spec.modelCard.licence
        card.datasetName = spec.modelCard.dataset
        card.classNames = spec.modelCard.classNames
        var seen = Set<String>()
        for (phase, net) in [("train", trainer.trainNet)] + trainer.testNets.prefix(1).map({ ("test", $0) }) {
            for layer in net.dataLayers {
                let samples = layer.dataset.range.map { ", samples \($0.lowerBound)..<\($0.upperBound)" } ?? ""
                for (kind, path) in [("images", layer.dataset.imagesPath), ("labels", layer.dataset.labelsPath)] where seen.insert(path + samples).inserted {
                    card.datasetFiles.append(.init(role: "\(phase) \(kind)\(samples)", path: FileSystem.absolute(path), sha256: try AtomicFile.sha256(path).hex))
                }
            }
            for path in net.textDataLayers.flatMap(\.corpus.paths) where seen.insert(path).inserted {
                card.datasetFiles.append(.init(role: "\(phase) text", path: FileSystem.absolute(path), sha256: try AtomicFile.sha256(path).hex))
            }
        }
        var inputShape: [Int] = []
        var extraFiles: [(name: String, bytes: [UInt8])] = []
        // TextData: output k of the model is the vocabulary's entry k.
        if let text = trainer.trainNet.textDataLayers.first {
            inputShape = [1]  // the deploy net's data and cont are [T = 1, N = 1]
            extraFiles.append(("vocabulary.json", Array(text.corpus.vocabularyJSON.utf8)))
        }
        if let data = trainer.trainNet.dataLayers.first {
            inputShape = data.sampleDims
            if let n = data.normalization {
                card.normalize = n.mode.rawValue
                if n.mode == .perChannel {
                    (card.normalizeMean, card.normalizeStd) = (n.mean.map(Double.init), n.std.map(Double.init))
                } else {
                    card.statistics = StatisticsFile.name
                    extraFiles.append((StatisticsFile.name, StatisticsFile.encode(n, source: card.datasetFiles.first)))
                }
            }
            card.inputType = data.dataset.elementType == .ubyte ? .bytes : .floats
            card.scale = Double(data.transform.scale)
            card.meanValues = data.transform.meanValues.map(Double.init)
            if !data.transform.meanImage.isEmpty {
                card.meanFile = StatisticsFile.meanImageName
                extraFiles.append((StatisticsFile.meanImageName, StatisticsFile.encodeMeanImage(data.centredMeanImage, shape: data.sampleDims)))
            }
        }
        return ZooRecorder(writer: try ZooEntryWriter.create(directory: directory, solver: spec, card: card, inputShape: inputShape, extraFiles: extraFiles))
    }

    func record(_ event: TrainEvent) throws {
        switch event {
        case .snapshot(let path, _, _):
            if !hasBest { weights = ConfigFile.fileName(of: path) }
            try writer.update(weights: weights, clearMetrics: true)
        case .best(let path, _):
            hasBest = true
            weights = ConfigFile.fileName(of: path)
            try writer.update(weights: weights, clearMetrics: true)
        case .finished(let report):
            var provenance = writer.card.provenance
            provenance.trainingSeconds += report.seconds
            try writer.update(provenance: provenance)
        default:
            break
        }
    }

    /// Measures the card's weights on the whole test set and records the result.
    func finish(_ trainer: Trainer) throws -> (weights: String, evaluation: Evaluation)? {
        let card = writer.card
        guard !card.weights.isEmpty, let e = try trainer.evaluate(weights: "\(writer.directory)/\(card.weights)") else {
            try writer.update()
            return nil
        }
        let iteration = card.weights.hasSuffix("_best.safetensors") ? (trainer.bestRecord?.iteration ?? trainer.iteration)
            : Int(card.weights.dropFirst("\(card.name)_iter_".count).dropLast(".safetensors".count)) ?? trainer.iteration
        // A NaN or infinite output has no place among numbers that dtest must reproduce.
        let finite = e.outputs.filter { $0.value.isFinite }
        // The metrics were measured here: the card names this machine's kernel (a resumed run
        // may end on another machine than the one that started it).
        var provenance = card.provenance
        provenance.threads = trainer.options.threads
        (provenance.openblasCore, provenance.openblasVersion, provenance.cpu) = (BLAS.coreName, BLAS.version, BLASStartup.cpuModel())
        provenance.kernels = SmallGEMM.level.description
        try writer.update(metrics: ModelCard.Metrics(iteration: iteration, net: trainer.testNetNames[0], samples: e.samples, values: finite),
                          provenance: provenance)
        return (card.weights, e)
    }

}

/// `word` as a POSIX shell reads it back.
func shellQuoted(_ word: String) -> String {
    let safe = word.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_./:=@,+%".unicodeScalars.contains($0)) }
    return safe && !word.isEmpty ? word : "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}
