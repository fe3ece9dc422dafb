import DConfig
#if canImport(Glibc)
import Glibc
#endif

/// Keeps a user-zoo entry in step with a training run: the solver and net files copied in (with
/// their paths rewritten to work from the entry), a deploy net, and the model card, rewritten
/// atomically after every snapshot with the size and SHA-256 of every file.
public final class ZooEntryWriter {
    public private(set) var directory: String
    public private(set) var card: ModelCard
    /// Hashes by file name, valid while the file's size and modification time stay the same.
    private var hashed: [String: (signature: (size: Int, modified: Int), record: ModelCard.FileRecord)] = [:]

    /// Snapshots go to `<entry>/<name>_iter_N.safetensors`.
    public var snapshotPrefix: String { "\(directory)/\(card.name)" }

    init(directory: String, card: ModelCard) {
        self.directory = directory
        self.card = card
    }

    /// `root/name`, or `root/name-2`, `-3`, … when that exists: a new run never touches an
    /// earlier run's files.
    public static func freshDirectory(root: String, name: String) -> String {
        var dir = "\(root)/\(name)", n = 2
        while FileSystem.exists(dir) {
            dir = "\(root)/\(name)-\(n)"
            n += 1
        }
        return dir
    }

    /// Creates the entry of a new run in `directory`: copies of the solver and its nets, the
    /// deploy net and a first card. `inputShape` is one sample's [channels, height, width].
    /// The entry is assembled in a temporary directory and renamed into place, so that an
    /// interruption leaves either a complete entry or none.
    public static func create(directory: String, solver: SolverSpec, card: ModelCard, inputShape: [Int],
                              extraFiles: [(name: String, bytes: [UInt8])] = []) throws(FileError) -> ZooEntryWriter {
        var card = card
        card.inputShape = inputShape
        return try assemble(directory: directory, card: card, files: extraFiles) { writer throws(FileError) in
            try writer.populate(solver: solver, entry: directory, inputShape: inputShape)
        }
    }

    /// Creates an entry that no training run made (an imported model): `files` and a card that
    /// lists them, assembled and renamed into place as `create` does.
    public static func create(directory: String, card: ModelCard, files: [(name: String, bytes: [UInt8])]) throws(FileError) -> ZooEntryWriter {
        try assemble(directory: directory, card: card, files: files) { writer throws(FileError) in try writer.update() }
    }

    /// Writes `files`, then `finish` (which writes the card), into a temporary directory beside
    /// `directory` and renames it into place; a failure removes it.
    private static func assemble(directory: String, card: ModelCard, files: [(name: String, bytes: [UInt8])],
                                 finish: (ZooEntryWriter) throws(FileError) -> Void) throws(FileError) -> ZooEntryWriter {
        var card = card
        card.name = ConfigFile.fileName(of: directory)
        let staging = try FileSystem.temporaryDirectory(beside: directory)
        let writer = ZooEntryWriter(directory: staging, card: card)
        do throws(FileError) {
            for f in files { try AtomicFile.write(f.bytes, to: "\(staging)/\(f.name)") }
            try finish(writer)
            try FileSystem.rename(staging, to: directory)
        } catch {
            try? FileSystem.removeTree(staging)
            throw error
        }
        writer.directory = directory
        return writer
    }

    /// Writes the copies, the deploy net and the card into `directory`; data paths are
    /// rewritten for where the entry will finally be, `entry`.
    private func populate(solver: SolverSpec, entry: String, inputShape: [Int]) throws(FileError) {

        // The nets under fixed names (those written in the solver too, so that dtest and a
        // deploy have files); the solver's references to net files rewritten to match.
        var copies: [String: String] = [solver.trainNet.id: "net.yaml"], sources = [solver.trainNet]
        for (i, source) in solver.testNets.enumerated() where copies[source.id] == nil {
            copies[source.id] = i == 0 ? "test_net.yaml" : "test_net-\(i + 1).yaml"
            sources.append(source)
        }
        for source in sources {
            try copyNet(source, as: copies[source.id]!, entry: entry)
        }
        try copySolver(solver, netCopies: copies, inlineNets: sources.filter { $0.inline != nil }, entry: entry)
        card.net = copies[(solver.testNets.first ?? solver.trainNet).id] ?? "net.yaml"
        let trainSpec: NetSpec
        do { trainSpec = try solver.trainNet.load() } catch { throw FileError(error, file: solver.trainNet.file) }
        try AtomicFile.write(Array(DeployNet.text(from: trainSpec, inputShape: inputShape,
                                                  state: trainSpec.state(.test, adding: solver.testStates.first)).utf8), to: "\(directory)/\(card.deploy)")
        try update()
    }

    /// The entry that holds `statePath`, for a resumed run to continue in; nil when the state
    /// is not in a zoo entry.
    public static func containing(_ statePath: String) throws(FileError) -> ZooEntryWriter? {
        let dir = ConfigFile.directory(of: statePath)
        guard FileSystem.exists("\(dir)/\(ModelCard.fileName)") else { return nil }
        let entry = try Zoo.entry(at: dir, place: .user)
        return ZooEntryWriter(directory: dir, card: entry.card)
    }

    /// Copies a net file with its data paths rewritten in place, or writes a net from the
    /// solver out as a file of its own, its data paths rewritten the same way.
    func copyNet(_ source: NetSource, as name: String, entry: String) throws(FileError) {
        let edits = try Self.dataPathEdits(source, entry: entry)
        if let inline = source.inline {
            var paths: [ConfigLocation: String] = [:]
            for e in edits { paths[e.node.location] = e.value }
            let header = "# \(source.key ?? "net_param") of \(ConfigFile.fileName(of: source.file)), written out by dtrain with its data paths rewritten for this entry.\n"
            try AtomicFile.write(Array((header + YAMLText.block(inline.replacing(paths))).utf8), to: "\(directory)/\(name)")
            return
        }
        let text = try Self.text(source.file)
        try AtomicFile.write(Array(try Self.apply(edits, to: text, file: source.file).utf8), to: "\(directory)/\(name)")
    }

    /// The data paths of a net's data layers (and mean files), each to be replaced by the path
    /// that reaches the same file from the entry.
    static func dataPathEdits(_ source: NetSource, entry: String) throws(FileError) -> [Edit] {
        var edits: [Edit] = []
        do {
            let keys = ["IDXData": ("idx_data_param", ["images", "labels"]), "ImageData": ("image_data_param", ["source", "root_folder"]),
                        "TextData": ("text_data_param", ["source"])]
            for layer in try source.load().layers {
                guard let data = keys[layer.type] else { continue }
                for (block, keys) in [data, ("transform_param", ["mean_file"])] {
                    guard let p = layer.node.child(block) else { continue }
                    for key in keys {
                        guard let node = p.child(key), let value = node.scalar else { continue }
                        let path = FileSystem.reference(to: ConfigFile.resolve(value, relativeTo: source.file), from: entry)
                        edits.append(Edit(node: node, text: YAMLText.quoted(path), value: path))
                    }
                }
            }
        } catch {
            throw FileError(error, file: source.file)
        }
        return edits
    }

    /// The solver with its net file names replaced by the copies' names; nets written in the
    /// solver stay there, their data paths rewritten as in the copies.
    func copySolver(_ solver: SolverSpec, netCopies: [String: String], inlineNets: [NetSource], entry: String) throws(FileError) {
        let text = try Self.text(solver.file)
        var edits: [Edit] = []
        for source in inlineNets { edits += try Self.dataPathEdits(source, entry: entry) }
        let root: YAMLNode
        do { root = try ConfigFile.load(solver.file) } catch { throw FileError(error, file: solver.file) }
        for key in ["net", "train_net", "test_net"] {
            guard let node = root.child(key) else { continue }
            let scalars: [YAMLNode]
            if case .sequence(let items) = node.value { scalars = items } else { scalars = [node] }
            for s in scalars {
                guard let value = s.scalar, let copy = netCopies[ConfigFile.resolve(value, relativeTo: solver.file)] else { continue }
                edits.append(Edit(node: s, text: copy, value: copy))
            }
        }
        try AtomicFile.write(Array(try Self.apply(edits, to: text, file: solver.file).utf8), to: "\(directory)/\(card.solver)")
    }

    /// Records the files as they are now, the snapshots, the weights `zoo:NAME` loads, their
    /// metrics and what measured them, and rewrites the card.
    public func update(weights: String? = nil, metrics: ModelCard.Metrics? = nil, clearMetrics: Bool = false,
                       provenance: ModelCard.Provenance? = nil) throws(FileError) {
        var records: [ModelCard.FileRecord] = []
        var snapshots: [Int] = []
        for name in FileSystem.list(directory).sorted() where name != ModelCard.fileName && !name.hasPrefix(".") && !name.contains(".tmp-") {
            let path = "\(directory)/\(name)"
            guard FileSystem.isRegularFile(path), let signature = FileSystem.signature(path) else { continue }
            if let h = hashed[name], h.signature == signature {
                records.append(h.record)
            } else {
                let record = try ZooVerifier.record(directory, name)
                hashed[name] = (signature, record)
                records.append(record)
            }
            let prefix = "\(card.name)_iter_", suffix = ".safetensors"
            if name.hasPrefix(prefix), name.hasSuffix(suffix), let i = Int(name.dropFirst(prefix.count).dropLast(suffix.count)) {
                snapshots.append(i)
            }
        }
        card.files = records
        card.snapshots = snapshots.sorted()
        if let weights { card.weights = weights }
        if clearMetrics { card.metrics = nil }
        if let metrics { card.metrics = metrics }
        if let provenance { card.provenance = provenance }
        try AtomicFile.write(Array(card.yaml().utf8), to: "\(directory)/\(ModelCard.fileName)")
    }

    static func text(_ path: String) throws(FileError) -> String {
        String(decoding: try AtomicFile.read(path), as: UTF8.self)
    }

    /// A scalar of a YAML file to replace by `text`, which reads as the string `value`.
    struct Edit {
        var node: YAMLNode
        var text: String
        var value: String
    }

    /// Replaces each edited scalar where it stands, so that comments and layout survive.
    static func apply(_ edits: [Edit], to text: String, file: String) throws(FileError) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
        // Right to left within a line, so that earlier columns stay valid.
        for edit in edits.sorted(by: { ($0.node.location.line, $0.node.location.column) > ($1.node.location.line, $1.node.location.column) }) {
            let loc = edit.node.location, value = edit.node.scalar ?? ""
            guard loc.line >= 1, loc.line <= lines.count, loc.column >= 1, loc.column <= lines[loc.line - 1].count else {
                throw FileError(path: file, "cannot rewrite '\(value)' at \(loc.line):\(loc.column)")
            }
            let line = lines[loc.line - 1], start = loc.column - 1
            var end = start
            if line[start] == "\"" || line[start] == "'" {
                end = start + 1
                while end < line.count && line[end] != line[start] { end += (line[end] == "\\" && line[start] == "\"") ? 2 : 1 }
                end += 1
            } else {
                end = start + value.unicodeScalars.count
            }
            guard end <= line.count else { throw FileError(path: file, "cannot rewrite '\(value)' at \(loc.line):\(loc.column)") }
            lines[loc.line - 1] = Array(line[..<start]) + Array(edit.text.unicodeScalars) + Array(line[end...])
        }
        return lines.map { String(String.UnicodeScalarView($0)) }.joined(separator: "\n")
    }
}

/// The time now as UTC ISO 8601, for provenance.
public func utcTimestamp() -> String {
    var t = time(nil), parts = tm()
    gmtime_r(&t, &parts)
    func two(_ x: Int32) -> String { x < 10 ? "0\(x)" : "\(x)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}
