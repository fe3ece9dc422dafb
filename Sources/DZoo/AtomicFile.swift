import DConfig
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file could not be written or read; `message` says which and why, in one line.
public struct FileError: Error, Sendable, CustomStringConvertible, Equatable {
    public var path: String
    public var message: String
    public var hint: String?

    public init(path: String, _ message: String, hint: String? = nil) {
        self.path = path; self.message = message; self.hint = hint
    }

    public var description: String { "\(path): error: \(message)" + (hint.map { "\nhint: \($0)" } ?? "") }

    /// A config error as a file error, keeping its line, column and hint.
    public init(_ error: ConfigError, file: String) {
        self.init(path: error.location?.description ?? error.file ?? file, error.message, hint: error.hint)
    }
}

/// Writes files so that a reader sees either the old content or the new, never a mix: the
/// bytes go to a temporary file in the same directory, are flushed to disk, and the temporary
/// file is then renamed over the target. A full disk or an interrupted write leaves the
/// previous file as it was.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws(FileError) {
        // Renaming over a device (/dev/null), a directory or a link would replace it, not
        // write to it.
        var existing = stat()
        if lstat(path, &existing) == 0 && (existing.st_mode & S_IFMT) != S_IFREG {
            throw FileError(path: path, "exists and is not a regular file (a device, directory or link); refusing to replace it",
                            hint: "write to a new file name")
        }
        try createDirectories(for: path)
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path, "cannot create \(temporary)", errno) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                close(fd); unlink(temporary)
                throw failure(path, "cannot write", code)
            }
            done += n
        }
        if fsync(fd) != 0 {
            let code = errno
            close(fd); unlink(temporary)
            throw failure(path, "cannot flush to disk", code)
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw failure(path, "cannot move the new file into place", code)
        }
        // The rename itself reaches the disk only with its directory (a power cut would
        // otherwise lose it); a directory that cannot be opened or flushed has the file anyway.
        let directory = open(ConfigFile.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 { fsync(directory); close(directory) }
    }

    /// The temporary files `write` leaves behind when its process is killed mid-write: the
    /// files in `directory` whose names start with `namePrefix` and end in `.tmp-PID`, where
    /// no process PID is running any more. Removes them and returns their names.
    public static func removeAbandonedTemporaries(in directory: String, namePrefix: String = "") -> [String] {
        // Callers keep this to Dendrite's own files: a run's snapshot prefix, or a zoo entry.
        var removed: [String] = []
        for name in FileSystem.list(directory) where name.hasPrefix(namePrefix) {
            guard let marker = name.ranges(of: ".tmp-").last, let pid = Int32(name[marker.upperBound...]), pid > 0,
                  pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            if unlink("\(directory)/\(name)") == 0 { removed.append(name) }
        }
        return removed.sorted()
    }

    /// Creates the directories above `path` that do not exist yet (`mkdir -p` of its parent).
    public static func createDirectories(for path: String) throws(FileError) {
        var prefix = ""
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        for (i, part) in parts.enumerated() {
            prefix += (i == 0 ? "" : "/") + part
            guard !part.isEmpty, part != ".", part != ".." else { continue }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw failure(path, "cannot create the directory \(prefix)", errno)
            }
        }
    }

    static func failure(_ path: String, _ what: String, _ code: Int32) -> FileError {
        let reason = String(cString: strerror(code))
        let hint: String? = code == ENOSPC || code == EDQUOT
            ? "the disk is full; the previous file, if any, is unchanged. Free space and run again"
            : nil
        return FileError(path: path, "\(what): \(reason)", hint: hint)
    }

    /// The whole file, or a `FileError` saying why not.
    public static func read(_ path: String) throws(FileError) -> [UInt8] {
        var bytes: [UInt8] = []
        try readChunks(path) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The file's SHA-256 and size, read a chunk at a time (datasets are tens of megabytes,
    /// and need not be held in memory to be hashed).
    public static func sha256(_ path: String) throws(FileError) -> (hex: String, size: Int) {
        var hash = SHA256(), size = 0
        try readChunks(path) { chunk in
            hash.update(chunk)
            size += chunk.count
        }
        return (hash.finalize(), size)
    }

    /// Calls `body` with the file's bytes in order, 1 MiB at a time.
    static func readChunks(_ path: String, _ body: (ArraySlice<UInt8>) -> Void) throws(FileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(path, "cannot open", errno) }
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(path, "cannot read", errno)
            }
            if n == 0 { break }
            body(chunk[..<n])
        }
    }
}
