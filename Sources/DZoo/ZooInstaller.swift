import DConfig

/// Moving entries in and out of the user zoo without ever leaving one half-written: an install
/// is checked completely in a temporary directory beside its destination and renamed into
/// place; a removal renames the entry away before deleting it.
public enum ZooInstaller {
    /// Installs the entry in `source` (a directory or a `.tar.gz` from `export`) into `root`
    /// under `name` (default: the card's name).
    public static func install(_ source: String, as name: String?, into root: String) throws(FileError) -> Zoo.Entry {
        let members = try readMembers(source)
        guard let cardBytes = members.first(where: { $0.path == ModelCard.fileName })?.bytes else {
            throw FileError(path: source, "has no \(ModelCard.fileName)", hint: "a zoo entry holds its model card; make archives with `dzoo export`")
        }
        let card: ModelCard
        do {
            card = try ModelCard(node: try YAML.parse(String(decoding: cardBytes, as: UTF8.self), file: "\(source):\(ModelCard.fileName)"))
        } catch {
            throw FileError(path: error.location?.description ?? "\(source)/\(ModelCard.fileName)", "damaged model card: \(error.message)",
                            hint: error.hint ?? "nothing was installed")
        }
        // Exactly the files the card lists, each with its size and checksum.
        let listed = Dictionary(card.files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        for m in members where m.path != ModelCard.fileName {
            guard let record = listed[m.path] else {
                throw FileError(path: source, "holds '\(m.path)', which the card does not list", hint: "an entry holds exactly the files its card lists")
            }
            guard m.bytes.count == record.size, SHA256.hex(m.bytes) == record.sha256 else {
                throw FileError(path: source, "'\(m.path)' does not match its checksum in the card (size \(m.bytes.count), card \(record.size))",
                                hint: "the file was changed or damaged after the card was written; nothing was installed")
            }
        }
        for record in card.files where !members.contains(where: { $0.path == record.path }) {
            throw FileError(path: source, "lacks '\(record.path)', which the card lists", hint: "nothing was installed")
        }
        let target = name ?? card.name
        guard Zoo.isValidName(target) else {
            throw FileError(path: source, "'\(target)' cannot name a zoo entry", hint: "use letters, digits, '.', '_' and '-' (--name NAME)")
        }
        let destination = "\(root)/\(target)"
        guard !FileSystem.exists(destination) else {
            throw FileError(path: destination, "already exists in the user zoo", hint: "remove it first (dzoo remove \(target)) or install under another name with --name")
        }
        let staging = try FileSystem.temporaryDirectory(beside: destination)
        do throws(FileError) {
            for m in members { try AtomicFile.write(m.bytes, to: "\(staging)/\(m.path)") }
            let problems = ZooVerifier.problems(in: staging, card: card)
            guard problems.isEmpty else {
                throw FileError(path: source, "fails verification: \(problems[0].replacingPrefix(staging + "/", with: ""))", hint: "nothing was installed")
            }
            try FileSystem.rename(staging, to: destination)
        } catch {
            try? FileSystem.removeTree(staging)
            throw error
        }
        return Zoo.Entry(name: target, directory: destination, place: .user, card: card)
    }

    /// The most an archive may hold uncompressed (1 GiB).
    public static let maxArchiveBytes = 1 << 30

    /// The files of an entry directory or archive; anything but regular top-level files is refused.
    static func readMembers(_ source: String) throws(FileError) -> [TarGz.Member] {
        if FileSystem.isDirectory(source) {
            var members: [TarGz.Member] = []
            for name in FileSystem.list(source).sorted() {
                let path = "\(source)/\(name)"
                guard FileSystem.isRegularFile(path) else {
                    throw FileError(path: path, "is not a regular file (a link or a directory)", hint: "a zoo entry holds regular files only")
                }
                members.append(TarGz.Member(path: name, bytes: try AtomicFile.read(path)))
            }
            return members
        }
        guard FileSystem.exists(source) else { throw FileError(path: source, "no such file or directory") }
        // Entries are megabytes; the bound keeps a small hostile archive from inflating into
        // all of memory before its members are checked against the card.
        let archive = try TarGz.read(source, maxBytes: maxArchiveBytes)
        for m in archive.members where m.path.contains("/") {
            throw FileError(path: source, "holds '\(archive.root)/\(m.path)' in a subdirectory", hint: "a zoo entry holds regular files at its top level only")
        }
        return archive.members
    }

    /// Packs a verified entry into `path`; returns the number of files.
    public static func export(_ entry: Zoo.Entry, to path: String) throws(FileError) -> Int {
        try Zoo.checkOutput(path, inputs: entry.card.files.map { entry.path($0.path) } + [entry.path(ModelCard.fileName)])
        let problems = ZooVerifier.problems(in: entry.directory, card: entry.card)
        guard problems.isEmpty else {
            throw FileError(path: entry.directory, "fails verification: \(problems[0])", hint: "`dzoo verify \(entry.name)` lists every problem")
        }
        let total = entry.card.totalBytes
        guard total <= maxArchiveBytes else {
            throw FileError(path: entry.directory, "holds \(total) bytes, more than the \(maxArchiveBytes) that fetch-local accepts",
                            hint: "remove snapshots the entry does not need, or share the directory itself")
        }
        var members: [TarGz.Member] = [TarGz.Member(path: ModelCard.fileName, bytes: try AtomicFile.read(entry.path(ModelCard.fileName)))]
        for f in entry.card.files { members.append(TarGz.Member(path: f.path, bytes: try AtomicFile.read(entry.path(f.path)))) }
        try TarGz.write(members, root: entry.name, to: path)
        return members.count
    }

    /// Deletes an entry directory, readable card or not: first renamed out of the zoo, so that
    /// an interrupted removal leaves no half-entry under the model's name.
    public static func remove(directory: String) throws(FileError) {
        let trash = try FileSystem.temporaryDirectory(beside: directory)
        try FileSystem.rename(directory, to: "\(trash)/entry")
        try FileSystem.removeTree(trash)
    }
}
