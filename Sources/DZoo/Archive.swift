import CLibArchive
import CZlib
import DData
#if canImport(Glibc)
import Glibc
#endif

/// Zoo entries travel as one gzip'd ustar archive holding a single top directory
/// (`fashion-lenet/model.yaml`, …). libarchive reads and writes the tar format (ustar, GNU long
/// names, pax records); zlib does the gzip layer, so that its errors (damaged data, a stream cut
/// short, a wrong CRC) and the bound on the uncompressed size are checked as the bytes are
/// inflated. Archives come from other people, so the reader is strict: it returns regular files
/// only and refuses whatever could land outside the entry or that `tar -x` would turn into
/// something else (links, devices, `..`, duplicates).
public enum TarGz {
    /// One regular file of an archive: its path relative to the archive's single top directory, and its bytes.
    public struct Member: Sendable, Equatable {
        public var path: String
        public var bytes: [UInt8]
        public init(path: String, bytes: [UInt8]) { self.path = path; self.bytes = bytes }
    }

    /// Writes `members` under a top directory `root/` as a gzip'd ustar archive, atomically to `path`.
    /// Times and owners are fixed, so the same members always give the same bytes.
    public static func write(_ members: [Member], root: String, to path: String) throws(FileError) {
        if let why = problem(root) ?? (root.contains("/") ? "it contains '/'" : nil) {
            throw FileError(path: path, "cannot use '\(root)' as the top directory: \(why)")
        }
        // Entries in order: the top directory, then each member after the directories it implies
        // (directory entries give extracted subdirectories mode 0755 whatever the umask).
        var entries: [(name: String, bytes: [UInt8]?)] = [(root + "/", nil)], layout = Layout()
        _ = layout.add(root, directory: true)
        for member in members {
            let full = root + "/" + member.path
            if let why = problem(member.path) ?? layout.add(full, directory: false) { throw FileError(path: path, "cannot write member '\(full)': \(why)") }
            entries += layout.added.map { ($0 + "/", nil) } + [(full, member.bytes)]
        }
        // The tar stream is at most a header and a padded body per entry, plus the end blocks
        // and the padding to a whole 10 KiB record.
        let capacity = entries.reduce(2 * 10240) { $0 + 1024 + ($1.bytes?.count ?? 0) + 512 }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        guard let a = archive_write_new() else { throw FileError(path: path, "cannot write the archive: libarchive failed to start") }
        defer { archive_write_free(a) }
        func failure(_ what: String) -> FileError {
            FileError(path: path, "cannot write \(what): \(archive_error_string(a).map { String(cString: $0) } ?? "libarchive failed")")
        }
        func check(_ status: Int32, _ what: String) throws(FileError) {
            guard status == ARCHIVE_OK else { throw failure(what) }
        }
        var used = 0
        try check(archive_write_set_format_ustar(a), "the archive")
        try check(archive_write_open_memory(a, buffer, capacity, &used), "the archive")
        for (name, bytes) in entries {
            guard let e = archive_entry_new() else { throw FileError(path: path, "cannot write member '\(name)': out of memory") }
            defer { archive_entry_free(e) }
            archive_entry_set_pathname(e, name)
            archive_entry_set_filetype(e, bytes == nil ? fileTypeDirectory : fileTypeRegular)
            archive_entry_set_perm(e, bytes == nil ? 0o755 : 0o644)
            archive_entry_set_size(e, Int64(bytes?.count ?? 0))
            archive_entry_set_mtime(e, 0, 0)
            try check(archive_write_header(a, e), "member '\(name)'")
            if let bytes, !bytes.isEmpty {
                let written = bytes.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
                guard written == bytes.count else { throw failure("member '\(name)'") }
            }
        }
        try check(archive_write_close(a), "the archive")
        guard let compressed = gzip(Array(UnsafeRawBufferPointer(start: buffer, count: used))) else {
            throw FileError(path: path, "cannot compress the archive: zlib failed")
        }
        try AtomicFile.write(compressed, to: path)
    }

    /// Reads and fully checks an archive: returns the top directory name and the regular files
    /// under it (paths relative to it, in archive order). `maxBytes` bounds the uncompressed
    /// size, so that a small hostile file cannot make the reader inflate without end.
    public static func read(_ path: String, maxBytes: Int = 1 << 33) throws(FileError) -> (root: String, members: [Member]) {
        guard let gz = gzopen(path, "rb") else { throw AtomicFile.failure(path, "cannot open", errno) }
        defer { gzclose(gz) }
        _ = gzbuffer(gz, 1 << 17)
        // zlib passes input that is not gzip through unchanged; a zoo archive must be compressed.
        guard gzdirect(gz) == 0 else {
            throw FileError(path: path, "not a gzip file", hint: "a zoo archive is a .tar.gz, as made by `tar -czf NAME.tar.gz NAME`")
        }
        let source = TarSource(Input(gz: gz, path: path, maxBytes: maxBytes))
        guard let a = archive_read_new() else { throw FileError(path: path, "cannot read the archive: libarchive failed to start") }
        defer { archive_read_free(a) }
        archive_read_support_format_tar(a)
        let client = Unmanaged.passUnretained(source).toOpaque()
        // libarchive pulls the inflated bytes through this callback; a zlib error is kept as the cause.
        let status = archive_read_open(a, client, nil, { _, client, out in
            let source = Unmanaged<TarSource>.fromOpaque(client!).takeUnretainedValue()
            return source.next(out!)
        }, nil)
        /// The error to report: zlib's when it found damage (the cause), else libarchive's.
        func failure(_ message: String, hint: String? = "the archive is corrupt; copy or download it again") -> FileError {
            if let error = source.error { return error }
            return source.input.fail(message, hint: hint)
        }
        func libarchiveMessage() -> String { archive_error_string(a).map { String(cString: $0) } ?? "unreadable" }
        guard status == ARCHIVE_OK else { throw failure("not a tar archive inside the gzip data (libarchive: \(libarchiveMessage()))") }
        var root: String?, members: [Member] = [], layout = Layout()
        while true {
            var e: OpaquePointer?
            let status = archive_read_next_header(a, &e)
            if status == ARCHIVE_EOF { break }
            let after = source.input.member.map { " after member '\($0)'" } ?? ""
            guard status == ARCHIVE_OK, let e else { throw failure("a broken header\(after) (libarchive: \(libarchiveMessage()))") }
            guard let cName = archive_entry_pathname(e) else { throw failure("a member\(after) has no name") }
            guard let name = String(validating: Array(UnsafeBufferPointer(start: cName, count: strlen(cName))).map { UInt8(bitPattern: $0) }, as: UTF8.self) else {
                throw failure("a member\(after): the name is not valid UTF-8", hint: nil)
            }
            source.input.member = name
            let type = archive_entry_filetype(e)
            let relative = type == fileTypeDirectory && name.hasSuffix("/") ? String(name.dropLast()) : name
            if let why = problem(relative) {
                throw failure("member '\(name)': \(why)", hint: name.hasPrefix("./")
                    ? "the archive was made inside the entry (tar -C DIR .); make it from the parent: tar -czf NAME.tar.gz NAME" : nil)
            }
            let parts = relative.split(separator: "/"), top = String(parts[0])
            if let root, top != root { throw failure("member '\(name)' is not under the top directory '\(root)/'; an archive holds one entry only", hint: nil) }
            root = top
            let hardLink = archive_entry_hardlink(e).map { String(cString: $0) }
            if hardLink != nil || type == fileTypeSymbolicLink {
                let target = hardLink ?? archive_entry_symlink(e).map { String(cString: $0) } ?? ""
                // A symbolic link is relative to its directory, a hard link to the archive.
                let outside = escapes(target, from: hardLink == nil ? Array(parts.dropLast()) : [], root: top) ? ", which points outside the entry" : ""
                throw failure("member '\(name)' is a \(hardLink == nil ? "symbolic" : "hard") link (to \(target)\(outside)); zoo archives hold regular files only",
                              hint: "store copies of the files instead (tar --dereference --hard-dereference)")
            }
            let size = Int(archive_entry_size(e))
            switch type {
            case fileTypeDirectory:
                guard size == 0 else { throw failure("member '\(name)': a directory entry with \(size) bytes of data", hint: nil) }
                if let clash = layout.add(relative, directory: true) { throw failure("member '\(name)': \(clash)", hint: nil) }
            case fileTypeRegular:
                guard parts.count > 1 else {
                    throw failure("member '\(name)' is not inside a top directory", hint: "make the archive from the parent: tar -czf NAME.tar.gz NAME")
                }
                if let clash = layout.add(relative, directory: false) { throw failure("member '\(name)': \(clash)", hint: nil) }
                // The buffer grows with the data read, so that a header claiming a huge size
                // allocates nothing it does not fill.
                var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = chunk.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
                    if n == 0 { break }
                    guard n > 0 else { throw failure("member '\(name)': \(libarchiveMessage())", hint: "the file was cut short or damaged; copy or download it again") }
                    bytes += chunk[..<n]
                }
                guard bytes.count == size else { throw failure("truncated: member '\(name)' has \(size) bytes, the archive ends after \(bytes.count)") }
                members.append(Member(path: parts.dropFirst().joined(separator: "/"), bytes: bytes))
            case fileTypeCharacter, fileTypeBlock, fileTypeFIFO, fileTypeSocket:
                throw failure("member '\(name)' is a device or FIFO; zoo archives hold regular files only", hint: nil)
            default:
                throw failure("member '\(name)' has an unsupported type (mode \(String(type, radix: 8))); zoo archives hold regular files only", hint: nil)
            }
        }
        // Read to the end so that zlib checks the rest, including the CRC in the gzip trailer.
        if let error = source.error ?? source.input.drain() { throw error }
        guard let root else { throw FileError(path: path, "the archive is empty", hint: "a zoo archive holds one entry in a single top directory") }
        return (root, members)
    }

    // libarchive's file types (AE_IF… in archive_entry.h, macros with a cast that Swift does not import).
    static let fileTypeRegular: mode_t = 0o100000, fileTypeDirectory: mode_t = 0o040000, fileTypeSymbolicLink: mode_t = 0o120000
    static let fileTypeCharacter: mode_t = 0o020000, fileTypeBlock: mode_t = 0o060000, fileTypeFIFO: mode_t = 0o010000, fileTypeSocket: mode_t = 0o140000

    /// Why `path` cannot name a member, or nil. Shared by writer and reader, so that what one writes the other reads.
    static func problem(_ path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return path.isEmpty ? "the name is empty"
            : path.utf8.contains(0) ? "the name contains a NUL byte"
            : path.hasPrefix("/") ? "the path is absolute"
            : parts.contains("..") ? "the path has a '..' component"
            : parts.contains(where: { $0.isEmpty || $0 == "." }) ? "the path has an empty or '.' component" : nil
    }

    /// Whether a link target leaves the entry: absolute, or climbing above the top directory.
    static func escapes(_ target: String, from base: [Substring], root: String) -> Bool {
        var stack = base
        for part in target.split(separator: "/") where part != "." {
            if part != ".." { stack.append(part) } else if stack.count > 1 { stack.removeLast() } else { return true }
        }
        return target.hasPrefix("/") || stack.first.map(String.init) != root
    }

    /// Compresses to gzip in memory, for AtomicFile; deflate's own gzip header has time 0,
    /// which keeps the output reproducible.
    static func gzip(_ input: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        let size = Int32(MemoryLayout<z_stream>.size)   // windowBits 15 + 16 asks for the gzip format
        guard deflateInit2_(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, size) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 1 << 16), status = Z_OK, offset = 0
        input.withUnsafeBufferPointer { source in
            while status == Z_OK {
                if stream.avail_in == 0 {   // avail_in is 32 bits: feed at most 1 GiB at a time
                    stream.next_in = source.baseAddress.map { UnsafeMutablePointer(mutating: $0 + offset) }
                    stream.avail_in = UInt32(min(source.count - offset, 1 << 30))
                    offset += Int(stream.avail_in)
                }
                chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress; stream.avail_out = UInt32(out.count)
                    status = deflate(&stream, offset == source.count ? Z_FINISH : Z_NO_FLUSH)
                }
                output += chunk[..<(chunk.count - Int(stream.avail_out))]
            }
        }
        return status == Z_STREAM_END ? output : nil
    }

    /// Every path names one thing: no duplicates, no file that is also a directory. `add`
    /// records a path and says why it clashes, if it does; `added` are the directories it
    /// implied that were not seen before (the writer emits entries for them).
    struct Layout {
        var files: Set<String> = [], dirs: Set<String> = [], added: [String] = []
        mutating func add(_ path: String, directory: Bool) -> String? {
            added = []
            var prefix = ""
            for part in path.split(separator: "/").dropLast() {
                prefix += prefix.isEmpty ? String(part) : "/" + part
                if files.contains(prefix) { return "'\(prefix)' is both a file and a directory" }
                if dirs.insert(prefix).inserted { added.append(prefix) }
            }
            if directory ? files.contains(path) : dirs.contains(path) { return "'\(path)' is both a file and a directory" }
            if directory { dirs.insert(path) } else if !files.insert(path).inserted { return "it appears twice in the archive" }
            return nil
        }
    }
}

/// The inflated bytes as libarchive's read callback hands them over: `next` points libarchive
/// at the next chunk, or keeps zlib's error and returns −1 (libarchive then fails, and the
/// reader reports the kept error as the cause).
private final class TarSource {
    var input: Input
    var error: FileError?
    /// The chunk libarchive reads until it asks for the next one.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
    init(_ input: Input) { self.input = input }
    deinit { buffer.deallocate() }

    func next(_ out: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        do {
            let chunk = try input.read(buffer.count)
            buffer.copyBytes(from: chunk)
            out.pointee = UnsafeRawPointer(buffer.baseAddress)
            return chunk.count
        } catch {
            self.error = error
            return -1
        }
    }
}

/// The archive's uncompressed bytes, with the checks every read needs: zlib's errors (damaged
/// data, a stream cut short) and the limit on the uncompressed size.
private struct Input {
    let gz: gzFile, path: String, maxBytes: Int
    var consumed = 0, member: String?
    var place: String { member.map { ", near member '\($0)'" } ?? "" }   // zlib reads ahead: near, not at

    /// `count` bytes, or fewer at the end of the data. The array grows with the data actually
    /// read, so that a header claiming a huge size allocates nothing it does not fill. Reading
    /// one byte over the limit is enough to know it is exceeded (and cannot overflow).
    mutating func read(_ count: Int) throws(FileError) -> [UInt8] {
        let wanted = count <= maxBytes - consumed ? count : maxBytes - consumed + 1
        var out: [UInt8] = []
        while out.count < wanted {
            let start = out.count, n = min(wanted - start, 1 << 20)
            out += repeatElement(0, count: n)
            let got = max(-1, Int(out.withUnsafeMutableBytes { gzread(gz, $0.baseAddress.map { $0 + start }, UInt32(n)) }))
            out.removeLast(n - max(0, got))
            consumed += max(0, got)
            if got <= 0 { if let error = zlibError() { throw error } else { break } }
        }
        if consumed > maxBytes {
            throw FileError(path: path, "the archive holds more than \(maxBytes) bytes uncompressed\(place)", hint: "it is corrupt or not a zoo entry")
        }
        return out
    }

    /// zlib's error, if any. It reports a stream that ends early as Z_BUF_ERROR, not as a failed read.
    func zlibError() -> FileError? {
        let (code, detail) = gzipStatus(gz, path: path)
        switch code {
        case Z_OK: return nil
        case Z_BUF_ERROR:
            return FileError(path: path, "truncated: the compressed data ends early\(place) (zlib: \(detail))", hint: "the file was cut short; copy or download it again")
        case Z_ERRNO: return FileError(path: path, "cannot read\(place): \(String(cString: strerror(errno)))")
        default: return FileError(path: path, "corrupt gzip data\(place) (zlib: \(detail))", hint: "the file is damaged; copy it again")
        }
    }

    /// Reads to the end of the stream, so that zlib checks it all; the error found, if any.
    mutating func drain() -> FileError? {
        do throws(FileError) { while try !read(1 << 16).isEmpty {} } catch { return error }
        return nil
    }

    /// A broken tar header or member is often the symptom of damaged compressed data further
    /// on; when zlib finds such damage, report it instead, as the cause.
    mutating func fail(_ message: String, hint: String? = nil) -> FileError {
        drain() ?? FileError(path: path, message, hint: hint)
    }
}
