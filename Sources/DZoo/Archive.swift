import CZlib
#if canImport(Glibc)
import Glibc
#endif

/// Zoo entries travel as one gzip'd ustar archive holding a single top directory
/// (`fashion-lenet/model.yaml`, …). Archives come from other people, so the reader is strict:
/// it returns regular files only and refuses whatever could land outside the entry or that
/// `tar -x` would turn into something else (links, devices, `..`, duplicates).
/// Long names: the writer uses the ustar `prefix` field and refuses what does not fit. The
/// reader also takes what GNU tar writes for them: GNU `L`/`K` headers and pax `x` records
/// `path`, `linkpath`, `size` (other pax keys are metadata a zoo entry does not keep); it
/// skips pax global (`g`) headers, which `git archive` writes for its commit id.
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
        var tar: [UInt8] = [], layout = Layout()
        _ = layout.add(root, directory: true)
        try appendHeader(&tar, root + "/", type: "5", size: 0, archive: path)
        for member in members {
            let full = root + "/" + member.path
            if let why = problem(member.path) ?? layout.add(full, directory: false) { throw FileError(path: path, "cannot write member '\(full)': \(why)") }
            // Directory entries give extracted subdirectories mode 0755 whatever the umask.
            for dir in layout.added { try appendHeader(&tar, dir + "/", type: "5", size: 0, archive: path) }
            try appendHeader(&tar, full, type: "0", size: member.bytes.count, archive: path)
            tar += member.bytes + [UInt8](repeating: 0, count: padding(member.bytes.count))
        }
        // Two zero blocks end the archive; tar itself pads to whole 10 KiB records.
        tar += [UInt8](repeating: 0, count: 1024 + (10240 - (tar.count + 1024) % 10240) % 10240)
        guard let compressed = gzip(tar) else { throw FileError(path: path, "cannot compress the archive: zlib failed") }
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
        var input = Input(gz: gz, path: path, maxBytes: maxBytes)
        var root: String?, members: [Member] = [], layout = Layout()
        var ext: [String: [UInt8]] = [:]   // long name, link or size for the next member
        while true {
            let h = try input.read(512)
            // A zero block ends the archive; so does the end of the data right after a member, as for tar.
            if h.isEmpty || h.count == 512 && h.allSatisfy({ $0 == 0 }) { break }
            guard h.count == 512 else { throw input.fail("truncated: the archive ends inside a header\(input.place)") }
            let shown = "member '" + String(decoding: h[0..<100].prefix { $0 != 0 }, as: UTF8.self) + "'"
            guard checksumOK(h) else { throw input.fail("\(shown): bad header checksum", hint: "the archive is corrupt; copy or download it again") }
            let gnu = h[257..<265].elementsEqual("ustar  \0".utf8)
            guard gnu || h[257..<265].elementsEqual("ustar\u{0}00".utf8) else {
                throw input.fail("\(shown): not a ustar header (unknown magic)", hint: "make the archive again with a current tar")
            }
            guard let sizeField = octal(h[124..<136]) else { throw input.fail("\(shown): the size field is not an octal number") }
            let type = Character(Unicode.Scalar(h[156]))
            if "LKxg".contains(type) {
                guard sizeField <= 1 << 20 else { throw input.fail("\(shown): extended header of \(sizeField) bytes is implausibly large") }
                let body = try input.data(sizeField, of: shown)
                // A GNU long name is NUL-terminated.
                let long = [type == "L" ? "path" : "linkpath": Array(body.reversed().drop { $0 == 0 }.reversed())]
                guard let records = "LK".contains(type) ? long : pax(body[...]) else { throw input.fail("\(shown): malformed pax header") }
                if type != "g" { ext.merge(records) { $1 } }
                continue
            }
            // GNU headers keep times where ustar keeps the prefix.
            guard let nameField = field(h[0..<100]), let prefix = gnu ? [] : field(h[345..<500]) else {
                throw input.fail("\(shown): the name contains a NUL byte")
            }
            let nameBytes = ext["path"] ?? (prefix.isEmpty ? Array(nameField) : prefix + [0x2F] + nameField)
            guard let name = String(validating: nameBytes, as: UTF8.self) else { throw input.fail("\(shown): the name is not valid UTF-8") }
            input.member = name
            let size = ext["size"].map { Int(String(decoding: $0, as: UTF8.self)) ?? -1 } ?? sizeField
            guard (0..<(1 << 60)).contains(size) else { throw input.fail("member '\(name)': the pax size is not a decimal number") }
            let relative = type == "5" && name.hasSuffix("/") ? String(name.dropLast()) : name
            if let why = problem(relative) {
                throw input.fail("member '\(name)': \(why)", hint: name.hasPrefix("./")
                    ? "the archive was made inside the entry (tar -C DIR .); make it from the parent: tar -czf NAME.tar.gz NAME" : nil)
            }
            let parts = relative.split(separator: "/"), top = String(parts[0])
            if let root, top != root { throw input.fail("member '\(name)' is not under the top directory '\(root)/'; an archive holds one entry only") }
            root = top
            switch type {
            case "1", "2":
                let target = String(decoding: ext["linkpath"] ?? Array(h[157..<257].prefix { $0 != 0 }), as: UTF8.self)
                // A symbolic link is relative to its directory, a hard link to the archive.
                let outside = escapes(target, from: type == "2" ? Array(parts.dropLast()) : [], root: top) ? ", which points outside the entry" : ""
                throw input.fail("member '\(name)' is a \(type == "2" ? "symbolic" : "hard") link (to \(target)\(outside)); zoo archives hold regular files only",
                                 hint: "store copies of the files instead (tar --dereference --hard-dereference)")
            case "3", "4", "6":
                throw input.fail("member '\(name)' is a device or FIFO; zoo archives hold regular files only")
            case "5":
                guard size == 0 else { throw input.fail("member '\(name)': a directory entry with \(size) bytes of data") }
                if let clash = layout.add(relative, directory: true) { throw input.fail("member '\(name)': \(clash)") }
            case "\0", "0", "7":
                guard parts.count > 1 else {
                    throw input.fail("member '\(name)' is not inside a top directory", hint: "make the archive from the parent: tar -czf NAME.tar.gz NAME")
                }
                if let clash = layout.add(relative, directory: false) { throw input.fail("member '\(name)': \(clash)") }
                members.append(Member(path: parts.dropFirst().joined(separator: "/"), bytes: try input.data(size, of: "member '\(name)'")))
            default:
                throw input.fail("member '\(name)' has the unsupported type '\(type)'; zoo archives hold regular files only")
            }
            ext = [:]
        }
        guard ext.isEmpty else { throw input.fail("the archive ends with an extended header that describes no member") }
        // Read to the end so that zlib checks the rest, including the CRC in the gzip trailer.
        if let error = input.drain() { throw error }
        guard let root else { throw FileError(path: path, "the archive is empty", hint: "a zoo archive holds one entry in a single top directory") }
        return (root, members)
    }

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

    static func padding(_ size: Int) -> Int { (512 - size % 512) % 512 }
    /// A NUL-terminated header field; nil when other bytes follow the NUL (a name with a NUL in it).
    static func field(_ f: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard let end = f.firstIndex(of: 0) else { return f }
        return f[end...].allSatisfy { $0 == 0 } ? f[..<end] : nil
    }

    /// A numeric header field: octal digits, optionally led by spaces and ended by NULs or spaces.
    static func octal(_ f: ArraySlice<UInt8>) -> Int? {
        let digits = f.drop { $0 == 0x20 }.prefix { (0x30...0x37).contains($0) }
        guard !digits.isEmpty, f[digits.endIndex...].allSatisfy({ $0 == 0 || $0 == 0x20 }) else { return nil }
        return digits.reduce(0) { $0 * 8 + Int($1 - 0x30) }
    }

    /// The stored checksum is the sum of the header's bytes with the checksum field read as spaces.
    static func checksumOK(_ h: [UInt8]) -> Bool {
        octal(h[148..<156]) == h[..<148].reduce(8 * 0x20) { $0 + Int($1) } + h[156...].reduce(0) { $0 + Int($1) }
    }

    /// pax records are `LENGTH key=value\n`, LENGTH counting the whole record in bytes.
    static func pax(_ data: ArraySlice<UInt8>) -> [String: [UInt8]]? {
        var records: [String: [UInt8]] = [:], i = data.startIndex
        while i < data.endIndex {
            guard let space = data[i...].firstIndex(of: 0x20), let length = Int(String(decoding: data[i..<space], as: UTF8.self)),
                  length >= space - i + 2, length <= data.endIndex - i, data[i + length - 1] == 0x0A,
                  let equals = data[(space + 1)..<(i + length - 1)].firstIndex(of: 0x3D) else { return nil }
            records[String(decoding: data[(space + 1)..<equals], as: UTF8.self)] = Array(data[(equals + 1)..<(i + length - 1)])
            i += length
        }
        return records
    }

    static func appendHeader(_ tar: inout [UInt8], _ name: String, type: Character, size: Int, archive: String) throws(FileError) {
        let bytes = Array(name.utf8)
        // Over 100 bytes, the path is split at a '/' into prefix (≤ 155) and name (≤ 100).
        let cut = bytes.count <= 100 ? nil : bytes.indices.first { bytes[$0] == 0x2F && $0 <= 155 && (1...100).contains(bytes.count - $0 - 1) }
        guard bytes.count <= 100 || cut != nil else {
            throw FileError(path: archive, "cannot write member '\(name)': the path is too long for ustar (155 bytes, '/', 100)", hint: "shorten the names")
        }
        guard size < 1 << 33 else { throw FileError(path: archive, "cannot write member '\(name)': ustar holds files under 8 GiB") }
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ field: some Collection<UInt8>, at offset: Int) { h.replaceSubrange(offset..<(offset + field.count), with: field) }
        func octal(_ value: Int, _ width: Int) -> [UInt8] {   // zero-padded, NUL-terminated
            let digits = Array(String(value, radix: 8).utf8)
            return [UInt8](repeating: 0x30, count: width - 1 - digits.count) + digits + [0]
        }
        if let cut { put(bytes[..<cut], at: 345); put(bytes[(cut + 1)...], at: 0) } else { put(bytes, at: 0) }
        put(octal(type == "5" ? 0o755 : 0o644, 8) + octal(0, 8) + octal(0, 8) + octal(size, 12) + octal(0, 12), at: 100)
        h[156] = type.asciiValue ?? 0x30
        put("ustar\u{0}00".utf8, at: 257)
        put(octal(h.reduce(256) { $0 + Int($1) }, 7) + [0x20], at: 148)
        tar += h
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

    /// `size` bytes of a member's data, then the padding to a whole block.
    mutating func data(_ size: Int, of member: String) throws(FileError) -> [UInt8] {
        var data = try read(size + TarGz.padding(size))
        guard data.count == size + TarGz.padding(size) else {
            throw fail("truncated: \(member) has \(size) bytes, the archive ends after \(min(size, data.count))", hint: "the file was cut short; copy or download it again")
        }
        data.removeLast(TarGz.padding(size))
        return data
    }

    /// zlib's error, if any. It reports a stream that ends early as Z_BUF_ERROR, not as a failed read.
    func zlibError() -> FileError? {
        var code = Z_OK
        let text = gzerror(gz, &code).map { String(cString: $0) } ?? ""   // "PATH: what went wrong"
        let detail = text.hasPrefix(path + ": ") ? String(text.dropFirst(path.count + 2)) : text
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
