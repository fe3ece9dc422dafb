import DConfig
import DCore
import DData
import DLayers
import DNet
#if canImport(Glibc)
import Glibc
#endif

/// The two places models live: the repository's `ModelZoo/` (shipped models, read-only by
/// convention) and the user zoo (`$DENDRITE_ZOO`, else `~/.dendrite/zoo`), where dtrain writes
/// and `dzoo fetch-local` installs. A name is looked up in the user zoo first.
public struct Zoo: Sendable {
    public enum Place: String, Sendable { case repository = "repo", user }

    public struct Entry: Sendable {
        public var name: String
        public var directory: String
        public var place: Place
        public var card: ModelCard

        public func path(_ file: String) -> String { "\(directory)/\(file)" }
        /// The entry's weights file of a snapshot iteration, if it has one.
        public func weightsFile(iteration: Int) -> String? {
            card.files.map(\.path).first { $0.hasSuffix("_iter_\(iteration).safetensors") }
        }

        /// The path of the entry's `file` once its size and SHA-256 are checked against the
        /// card: what is loaded through the zoo is what the card describes (hashing a snapshot
        /// costs far less than one pass over a test set).
        public func verifiedPath(_ file: String) throws(FileError) -> String {
            let path = path(file)
            guard let record = card.files.first(where: { $0.path == file }) else {
                throw FileError(path: path, "is not listed in the card of '\(name)'", hint: "`dzoo verify \(name)` checks the entry")
            }
            let (hex, size) = try AtomicFile.sha256(path)
            guard size == record.size, hex == record.sha256 else {
                throw FileError(path: path, "does not match the card of '\(name)': "
                                    + (size != record.size ? "\(size) bytes, the card says \(record.size)" : "its SHA-256 differs"),
                                hint: "the file changed after it was written; `dzoo verify \(name)` lists what changed, and another snapshot of the entry may be intact")
            }
            return path
        }
    }

    public let userRoot: String
    public let repositoryRoot: String?

    public init(userRoot: String, repositoryRoot: String?) {
        self.userRoot = userRoot
        self.repositoryRoot = repositoryRoot
    }

    /// Where names are looked up, in order.
    var roots: [(String, Place)] { [(userRoot, .user)] + (repositoryRoot.map { [($0, .repository)] } ?? []) }

    /// `$DENDRITE_ZOO` or `~/.dendrite/zoo`; and `$DENDRITE_MODELZOO`, else the `ModelZoo/` of
    /// the checkout that holds the running program or the working directory.
    public static func fromEnvironment() -> Zoo {
        let env = { (name: String) -> String? in getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        let user = env("DENDRITE_ZOO") ?? ((env("HOME") ?? ".") + "/.dendrite/zoo")
        let repository = env("DENDRITE_MODELZOO") ?? findRepositoryZoo()
        return Zoo(userRoot: user, repositoryRoot: repository)
    }

    static func findRepositoryZoo() -> String? {
        var starts: [String] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 { starts.append(String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        if let cwd = FileSystem.workingDirectory() { starts.append(cwd + "/.") }
        for start in starts {
            var dir = ConfigFile.directory(of: start)
            while true {
                if FileSystem.isDirectory("\(dir)/ModelZoo") && FileSystem.exists("\(dir)/Package.swift") { return "\(dir)/ModelZoo" }
                let up = ConfigFile.directory(of: dir)
                if up == dir || dir.isEmpty || dir == "." { break }
                dir = up
            }
        }
        return nil
    }

    /// Refuses an output file that would replace one of `inputs`, land inside a zoo entry (an
    /// entry holds exactly the files its card lists), or write into a device, directory or link.
    public static func checkOutput(_ path: String, inputs: [String]) throws(FileError) {
        if FileSystem.exists(path) && !FileSystem.isRegularFile(path) {
            throw FileError(path: path, "exists and is not a regular file (a device, directory or link)", hint: "write to a new file name")
        }
        let resolved = FileSystem.realPath(path)
        for input in inputs where resolved != nil && FileSystem.realPath(input) == resolved {
            throw FileError(path: path, "is also an input of this command; writing it would destroy that input", hint: "choose another file name")
        }
        let directory = ConfigFile.directory(of: path)
        if FileSystem.exists("\(directory)/\(ModelCard.fileName)") {
            throw FileError(path: path, "would go into the zoo entry \(directory), which holds only the files its card lists",
                            hint: "write it outside the zoo")
        }
    }

    /// A name usable as a directory: letters, digits, `.`, `_`, `-`, not starting with `.`.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && name.count <= 100
            && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "._-".unicodeScalars.contains($0) }
    }

    /// `zoo:NAME` or `zoo:NAME@ITER`; nil for anything else (a path).
    public static func reference(_ text: String) -> (name: String, iteration: Int?)? {
        guard text.hasPrefix("zoo:") else { return nil }
        let rest = text.dropFirst(4)
        guard let at = rest.lastIndex(of: "@") else { return (String(rest), nil) }
        // Anything but a whole number is no iteration at all (-1 never names a snapshot).
        let number = Int(rest[rest.index(after: at)...]).flatMap { $0 >= 0 ? $0 : nil } ?? -1
        return (String(rest[..<at]), number)
    }

    /// Every entry of both zoos (user zoo first), and the directories whose card is unreadable.
    public func entries() -> (entries: [Entry], problems: [FileError]) {
        var found: [Entry] = [], problems: [FileError] = []
        for (root, place) in roots {
            for name in FileSystem.list(root).sorted() where !name.hasPrefix(".") && FileSystem.isDirectory("\(root)/\(name)") {
                do {
                    found.append(try Self.entry(at: "\(root)/\(name)", place: place))
                } catch {
                    problems.append(error)
                }
            }
        }
        return (found, problems)
    }

    public static func entry(at directory: String, place: Place) throws(FileError) -> Entry {
        let cardPath = "\(directory)/\(ModelCard.fileName)"
        guard FileSystem.exists(cardPath) else {
            throw FileError(path: directory, "is not a zoo entry: it has no \(ModelCard.fileName)")
        }
        do {
            let card = try ModelCard.load(cardPath)
            let name = ConfigFile.fileName(of: directory)
            return Entry(name: name, directory: directory, place: place, card: card)
        } catch {
            throw FileError(path: error.location?.description ?? cardPath, error.message,
                            hint: error.hint ?? "the card is damaged; restore the entry from its export or retrain it")
        }
    }

    /// The entry called `name`: the user zoo's, else the repository's.
    public func entry(_ name: String) throws(FileError) -> Entry {
        guard Self.isValidName(name) else {
            throw FileError(path: "zoo:\(name)", "is not a valid model name", hint: "names use letters, digits, '.', '_' and '-'")
        }
        for (root, place) in roots {
            let dir = "\(root)/\(name)"
            if FileSystem.isDirectory(dir) { return try Self.entry(at: dir, place: place) }
        }
        let names = entries().entries.map(\.name)
        throw FileError(path: "zoo:\(name)", "no such model in the user zoo (\(userRoot)) or the repository's (\(repositoryRoot ?? "not found"))",
                        hint: Suggestion.hint(for: name, in: names) ?? (names.isEmpty ? "the zoos are empty" : "`dzoo list` shows: \(names.joined(separator: ", "))"))
    }

    /// The weights file a `zoo:NAME[@ITER]` reference names, checked against the card, with its
    /// entry; any other text is a path and is returned as it is.
    public func resolveWeights(_ text: String) throws(FileError) -> (path: String, entry: Entry?) {
        guard let ref = Self.reference(text) else { return (text, nil) }
        let entry = try entry(ref.name)
        guard let iteration = ref.iteration else {
            guard !entry.card.weights.isEmpty else { throw entry.noWeights(text) }
            return (try entry.verifiedPath(entry.card.weights), entry)
        }
        guard iteration >= 0, let file = entry.weightsFile(iteration: iteration) else {
            throw FileError(path: text, iteration < 0 ? "does not end in a snapshot iteration (zoo:NAME@ITER takes a whole number)" : "has no snapshot at iteration \(iteration)",
                            hint: "its snapshots: \(entry.card.snapshots.isEmpty ? "none" : entry.card.snapshots.map(String.init).joined(separator: ", "))")
        }
        return (try entry.verifiedPath(file), entry)
    }
}

extension String {
    func replacingPrefix(_ prefix: String, with other: String) -> String {
        hasPrefix(prefix) ? other + dropFirst(prefix.count) : self
    }
}

/// What an entry must satisfy: every file the card lists is there with its size and SHA-256,
/// there is no other file, the nets parse, every weights file holds exactly the parameters
/// of the deploy net, with their shapes, and the statistics of `normalize` fit the input.
public enum ZooVerifier {
    /// The problems found, one line each; empty when the entry is sound.
    public static func problems(in directory: String, card: ModelCard) -> [String] {
        var problems: [String] = []
        let listed = Set(card.files.map(\.path))
        for name in FileSystem.list(directory).sorted() where name != ModelCard.fileName && !listed.contains(name) {
            problems.append("\(directory)/\(name): not listed in the card")
        }
        for f in card.files {
            let path = "\(directory)/\(f.path)"
            guard !f.path.contains("/"), f.path != ModelCard.fileName else {
                problems.append("\(path): the card lists a file outside the entry's top level"); continue
            }
            guard let (hash, size) = try? AtomicFile.sha256(path) else { problems.append("\(path): missing"); continue }
            if size != f.size { problems.append("\(path): \(size) bytes, the card says \(f.size)") }
            if hash != f.sha256 { problems.append("\(path): SHA-256 \(hash), the card says \(f.sha256)") }
        }
        for required in [card.net, card.deploy, card.solver, card.weights] where !required.isEmpty && !listed.contains(required) {
            problems.append("\(directory)/\(required): named by the card but not listed among its files")
        }
        if card.weights.isEmpty, let last = card.latestIteration {
            problems.append("\(directory)/\(ModelCard.fileName): lists snapshots up to iteration \(last) but names no weights (the card's 'weights:' is missing)")
        }
        if !problems.isEmpty { return problems }
        let deployPath = "\(directory)/\(card.deploy)"
        do throws(ConfigError) {
            let store = ParameterStore(seed: 0)
            let deploySpec = try NetSpec.load(deployPath)
            if let data = deploySpec.layers.first(where: { ["IDXData", "ImageData", "TextData"].contains($0.type) }) {
                return ["\(data.location): the deploy net reads data (layer '\(data.name)'); a deploy net starts with an Input layer"]
            }
            let deployNet = try Net(spec: deploySpec, phase: .test, store: store, context: BuildContext(phase: .test, netFile: deployPath, seed: 0))
            if let input = deployNet.nodes.first(where: { $0.type == "Input" })?.tops.first,
               Array(deployNet.blobs[input].shape.dims.dropFirst()) != card.inputShape {
                problems.append("\(directory)/\(ModelCard.fileName): input.shape is \(card.inputShape), the deploy net's input \(Shape(Array(deployNet.blobs[input].shape.dims.dropFirst())))")
            }
            do {
                _ = try StatisticsFile.load(card, entry: directory, elements: card.inputShape.reduce(1, *))
                _ = try StatisticsFile.loadMeanImage(card, entry: directory)
            } catch {
                problems.append("\(error.path): \(error.message)")
            }
            for f in card.files where f.path.hasSuffix(".safetensors") && f.path != card.statistics && f.path != card.meanFile {
                let path = "\(directory)/\(f.path)"
                do {
                    let file = try SafetensorsFile.read(path)
                    for p in store.parameters {
                        guard let e = file[p.name] else { problems.append("\(path): no tensor '\(p.name)' for the net's \(p.shape)"); continue }
                        if e.shape != p.shape.dims { problems.append("\(path): '\(p.name)' has shape \(Shape(e.shape)), the net \(p.shape)") }
                    }
                    let names = Set(store.parameters.map(\.name))
                    for (name, _) in file.tensors where !names.contains(name) { problems.append("\(path): tensor '\(name)' is not in the net") }
                } catch {
                    problems.append("\(error.path): \(error.message)")
                }
            }
        } catch {
            problems.append("\(error.location?.description ?? error.file ?? deployPath): \(error.message)")
        }
        // A character model's vocabulary: output k of the net is its entry k.
        if listed.contains("vocabulary.json") {
            let path = "\(directory)/vocabulary.json"
            do throws(DataError) {
                guard let bytes = try? AtomicFile.read(path) else { throw DataError(file: path, "cannot be read") }
                _ = try TextCorpus.vocabulary(jsonBytes: bytes, path: path)
            } catch {
                problems.append("\(error.file): \(error.message)")
            }
        }
        return problems
    }

    /// The card record of a file as it is now.
    public static func record(_ directory: String, _ name: String) throws(FileError) -> ModelCard.FileRecord {
        let (hash, size) = try AtomicFile.sha256("\(directory)/\(name)")
        return ModelCard.FileRecord(path: name, size: size, sha256: hash)
    }
}

/// The few file-system queries the zoo needs, without Foundation.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        var s = stat()
        return lstat(path, &s) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var s = stat()
        return stat(path, &s) == 0 && (s.st_mode & S_IFMT) == S_IFDIR
    }

    public static func isRegularFile(_ path: String) -> Bool {
        var s = stat()
        return lstat(path, &s) == 0 && (s.st_mode & S_IFMT) == S_IFREG
    }

    /// Size and modification time, to tell whether a file changed since it was hashed.
    public static func signature(_ path: String) -> (size: Int, modified: Int)? {
        var s = stat()
        guard stat(path, &s) == 0 else { return nil }
        return (Int(s.st_size), Int(s.st_mtim.tv_sec) * 1_000_000_000 + Int(s.st_mtim.tv_nsec))
    }

    /// The names in a directory, without `.` and `..`; empty when it cannot be read.
    public static func list(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a directory and everything under it (`rm -r`), without following links.
    public static func removeTree(_ path: String) throws(FileError) {
        var s = stat()
        guard lstat(path, &s) == 0 else { return }
        if (s.st_mode & S_IFMT) == S_IFDIR {
            for name in list(path) { try removeTree("\(path)/\(name)") }
            guard rmdir(path) == 0 else { throw FileError(path: path, "cannot remove: \(String(cString: strerror(errno)))") }
        } else {
            guard unlink(path) == 0 else { throw FileError(path: path, "cannot remove: \(String(cString: strerror(errno)))") }
        }
    }

    /// A new, empty directory beside `path` (on the same file system, so it can be renamed
    /// into place).
    public static func temporaryDirectory(beside path: String) throws(FileError) -> String {
        try AtomicFile.createDirectories(for: path)
        var template = Array("\(ConfigFile.directory(of: path))/.incoming-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else {
            throw FileError(path: path, "cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func rename(_ from: String, to: String) throws(FileError) {
        guard Glibc.rename(from, to) == 0 else {
            throw FileError(path: to, "cannot move \(from) into place: \(String(cString: strerror(errno)))")
        }
    }

    /// The canonical path, with every symbolic link resolved; nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `path` is `directory` or lies inside it, links resolved.
    public static func isWithin(_ path: String, _ directory: String) -> Bool {
        guard let p = realPath(path), let d = realPath(directory) else { return false }
        return p == d || p.hasPrefix(d.hasSuffix("/") ? d : d + "/")
    }

    /// The process's working directory, or nil when it cannot be read.
    static func workingDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `path` made absolute against the working directory, with `.` and `..` folded.
    public static func absolute(_ path: String) -> String {
        var base = path
        if !path.hasPrefix("/") { base = (workingDirectory() ?? ".") + "/" + path }
        var parts: [Substring] = []
        for part in base.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `target` relative to `directory` when both lie under a common directory other than
    /// `/` (a checkout, a home directory), else `target` made absolute: data in the same tree
    /// keeps working when the tree moves, data elsewhere keeps working when the entry moves.
    /// Links are resolved first (a zoo under a linked home directory, say): `..` steps are
    /// taken from where the entry really is.
    public static func reference(to target: String, from directory: String) -> String {
        let parent = ConfigFile.directory(of: absolute(directory)), name = ConfigFile.fileName(of: absolute(directory))
        let realDirectory = realPath(directory) ?? ((realPath(parent) ?? parent) + "/" + name)
        let t = (realPath(target) ?? absolute(target)).split(separator: "/"), d = absolute(realDirectory).split(separator: "/")
        var common = 0
        while common < t.count && common < d.count && t[common] == d[common] { common += 1 }
        guard common > 0 else { return "/" + t.joined(separator: "/") }
        return (Array(repeating: "..", count: d.count - common) + t[common...].map(String.init)).joined(separator: "/")
    }
}

extension Zoo.Entry {
    /// Why the card names no weights, for `path` (the reference or directory given): no
    /// snapshot yet, or a card that lost its `weights:` line.
    public func noWeights(_ path: String) -> FileError {
        guard let last = card.latestIteration else { return FileError(path: path, "has no snapshot yet", hint: "its training has not written one") }
        return FileError(path: path, "its card names no weights, although it lists snapshots up to iteration \(last)",
                         hint: "the card is damaged (dzoo verify checks it); zoo:\(name)@\(last) names that snapshot")
    }
}
