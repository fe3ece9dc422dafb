import DConfig
import DCore
import DData
import DNet
import DZoo
import FoundationEssentials

/// The solver state written beside each snapshot: everything besides the weights that a
/// resumed run needs to continue on the very same trajectory. It is a safetensors file: the
/// optimiser's history as tensors `<parameter>.history0` (and `.history1`), and in its metadata
/// the iteration, the solver type, the seed, the thread count and OpenBLAS kernel, the train
/// data's position, the plateau and early-stopping progress, the weights file with its SHA-256,
/// and fingerprints of the net and the solver file.
struct SolverState {
    static let format = "dendrite-solverstate"
    static let version = "1"

    /// The parts of the metadata that are not plain strings.
    struct Progress: Codable {
        struct Cursor: Codable, Equatable {
            /// 0 for the train net (states of earlier versions also hold 1 + i for test net i).
            var net: Int
            var layer: String
            var epoch: Int
            var position: Int
        }
        var cursors: [Cursor]
        var reductions: Int
        var plateau: Monitor.State?
        var earlyStopping: Monitor.State?
    }

    var file: SafetensorsFile

    static func path(forWeights weights: String) -> String {
        (weights.hasSuffix(".safetensors") ? String(weights.dropLast(".safetensors".count)) : weights) + ".solverstate"
    }

    /// The net's layers and parameter shapes, hashed: it changes when the net does, not when a
    /// comment does.
    static func fingerprint(_ net: Net) -> String {
        var text = ""
        for node in net.nodes {
            text += "\(node.name):\(node.type):" + node.parameters.map { "\($0.name)=\($0.shape)" }.joined(separator: ",") + ";"
        }
        return SHA256.hex(Array(text.utf8))
    }

    static func solverHash(_ path: String) -> String {
        (try? AtomicFile.sha256(path))?.hex ?? ""
    }

    static func make(_ t: Trainer, weightsFile: String, weightsSHA256: String) -> SolverState {
        var tensors: [(String, SafetensorsFile.Entry)] = []
        for (p, history) in zip(t.optimizer.parameters, t.optimizer.history) {
            for (k, h) in history.enumerated() {
                tensors.append(("\(p.name).history\(k)", .init(shape: p.shape.dims, values: h.values)))
            }
        }
        // The train net's data only: test passes rewind theirs.
        var cursors = t.trainNet.dataLayers.map { Progress.Cursor(net: 0, layer: $0.name, epoch: $0.order.epoch, position: $0.order.position) }
        cursors += t.trainNet.textDataLayers.map { Progress.Cursor(net: 0, layer: $0.name, epoch: $0.cursor.epoch, position: $0.cursor.position) }
        let progress = Progress(cursors: cursors, reductions: t.reductions, plateau: t.plateau?.state, earlyStopping: t.earlyStopping?.state)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // the same state gives the same bytes
        let json = (try? encoder.encode(progress)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return SolverState(file: SafetensorsFile(tensors: tensors, metadata: [
            "format": format, "version": version,
            "iteration": String(t.iteration), "solver_type": t.solver.type.rawValue, "random_seed": String(t.seed),
            "weights": ConfigFile.fileName(of: weightsFile), "weights_sha256": weightsSHA256,
            "net": t.trainNet.name, "net_fingerprint": fingerprint(t.trainNet), "solver_sha256": solverHash(t.solver.file),
            "threads": String(t.options.threads), "openblas_core": BLAS.coreName, "progress": json,
            "ranks": String(t.dataParallel?.shard.count ?? 1),
        ]))
    }

    /// Loads the state at `path` and the weights it names into `t`. Refuses a weights file, a
    /// state of another solver type or another net, and weights that changed since.
    static func restore(_ path: String, into t: Trainer) throws(FileError) -> [String] {
        let file = try SafetensorsFile.read(path)
        let m = file.metadata
        guard m["format"] == format else {
            if m["format"] == "dendrite-weights" {
                throw FileError(path: path, "is a weights file, not a solver state",
                                hint: "--snapshot takes the .solverstate written beside each snapshot; to start from these weights, use --weights")
            }
            throw FileError(path: path, "is not a Dendrite solver state (no format \"\(format)\" in its metadata)")
        }
        guard m["version"] == version else {
            throw FileError(path: path, "is a solver state of version \(m["version"] ?? "?"); this Dendrite reads version \(version)")
        }
        guard m["solver_type"] == t.solver.type.rawValue else {
            throw FileError(path: path, "was written by the \(m["solver_type"] ?? "?") solver; this solver is \(t.solver.type.rawValue)",
                            hint: "resume with the solver type it was trained with; its history does not carry over to another type")
        }
        guard m["net_fingerprint"] == fingerprint(t.trainNet) else {
            throw FileError(path: path, "belongs to another net ('\(m["net"] ?? "?")' with other layers or shapes) than '\(t.trainNet.name)'",
                            hint: "resume with the net it was trained with; to start another net from these weights, use --weights")
        }
        guard let iteration = m["iteration"].flatMap(Int.init), let seedText = m["random_seed"], let seed = UInt64(seedText),
              let weightsName = m["weights"], let json = m["progress"],
              let progress = try? JSONDecoder().decode(Progress.self, from: Data(json.utf8)) else {
            throw FileError(path: path, "has incomplete metadata", hint: "the file is corrupt; use an earlier snapshot")
        }
        var notes: [String] = []
        if seed != t.seed {
            throw FileError(path: path, "was trained with random_seed \(seed), this solver has \(t.seed)",
                            hint: "set random_seed: \(seed) in the solver file to continue the same run")
        }
        // The data order is the global batch's, but the batch per rank times the ranks is the
        // batch of the run: another rank count would continue another run.
        let ranks = t.dataParallel?.shard.count ?? 1, written = m["ranks"].flatMap(Int.init) ?? 1
        guard written == ranks else {
            throw FileError(path: path, "was written by a run of \(written) process\(written == 1 ? "" : "es")\(written > 1 ? " (mpirun -np \(written))" : ""), this run has \(ranks)",
                            hint: written > 1 ? "resume with mpirun -np \(written), or start a new run from its weights with --weights"
                                : "resume it without mpirun, or start a new run from its weights with --weights")
        }
        if m["solver_sha256"] != solverHash(t.solver.file) { notes.append("the solver file changed since this state was written") }
        if m["threads"] != String(t.options.threads) {
            notes.append("it was written with \(m["threads"] ?? "?") threads, this run uses \(t.options.threads): sums may round differently")
        }
        if let core = m["openblas_core"], core != BLAS.coreName {
            notes.append("it was written with OpenBLAS's \(core) kernels, this run uses \(BLAS.coreName): sums may round differently")
        }

        let dir = path.lastIndex(of: "/").map { String(path[...$0]) } ?? ""
        let weightsPath = dir + weightsName
        let weightBytes = try AtomicFile.read(weightsPath)
        guard SHA256.hex(weightBytes) == m["weights_sha256"] else {
            throw FileError(path: weightsPath, "is not the weights this solver state was written with (its SHA-256 differs)",
                            hint: "the file was replaced or damaged; resume from another snapshot")
        }
        let weights = try SafetensorsFile.decode(weightBytes, path: weightsPath)
        let report = try Weights.load(weights, from: weightsPath, into: t.store)
        guard report.initialised.isEmpty else {
            throw FileError(path: weightsPath, "lacks weights for \(report.initialised.joined(separator: ", "))")
        }
        for (p, history) in zip(t.optimizer.parameters, t.optimizer.history) {
            for (k, h) in history.enumerated() {
                guard let entry = file["\(p.name).history\(k)"], entry.shape == p.shape.dims else {
                    throw FileError(path: path, "has no history \(k) of shape \(p.shape) for '\(p.name)'", hint: "the file is corrupt; use an earlier snapshot")
                }
                h.view.copy(from: entry.values)
            }
        }
        // States written before test passes rewound their data also hold test nets' positions
        // (net 1 + i), which no longer matter.
        for c in progress.cursors where c.net == 0 {
            if let text = t.trainNet.textDataLayers.first(where: { $0.name == c.layer }), c.position < text.streamLength {
                text.cursor = (c.epoch, c.position)
                continue
            }
            guard let layer = t.trainNet.dataLayers.first(where: { $0.name == c.layer }),
                  c.position < layer.dataset.count else {
                throw FileError(path: path, "has a data position for layer '\(c.layer)' that this net does not have")
            }
            layer.order = SampleOrder(count: layer.dataset.count, shuffle: layer.order.shuffle, seed: layer.order.seed,
                                      epoch: c.epoch, position: c.position)
        }
        t.iteration = iteration
        t.reductions = progress.reductions
        if let s = progress.plateau { t.plateau?.state = s }
        if let s = progress.earlyStopping { t.earlyStopping?.state = s }
        return notes
    }
}
