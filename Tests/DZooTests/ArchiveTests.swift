@testable import DZoo
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp for one test, removed afterwards.
private func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    var template = Array("/tmp/dzoo-archive-XXXXXX".utf8CString)
    let made: UnsafeMutablePointer<CChar>? = mkdtemp(&template)
    let dir = String(cString: try #require(made))
    defer { sh("rm -rf '\(dir)'") }
    try body(dir)
}

/// Runs `command` with /bin/sh (through posix_spawn); its exit status.
@discardableResult
private func sh(_ command: String) -> Int32 {
    var pid: pid_t = 0
    var argv: [UnsafeMutablePointer<CChar>?] = ["sh", "-c", command].map { (s: String) in strdup(s) } + [nil]
    var env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
    defer { (argv + env).forEach { free($0) } }
    guard posix_spawn(&pid, "/bin/sh", nil, nil, &argv, &env) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return status
}

/// Plain write, without AtomicFile's fsync, for the many files of the fuzz test.
private func save(_ bytes: [UInt8], _ path: String) {
    guard let f = fopen(path, "wb") else { return }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
}

/// A ustar header built by hand (independently of TarGz's writer), then `data` padded to 512.
private func ustar(_ name: String, type: Character = "0", data: [UInt8] = [], link: String = "", prefix: String = "",
                   size: String? = nil, magic: String = "ustar\u{0}00", badChecksum: Bool = false) -> [UInt8] {
    var h = [UInt8](repeating: 0, count: 512)
    func put(_ s: String, _ at: Int) { for (i, b) in s.utf8.enumerated() { h[at + i] = b } }
    func octal(_ v: Int, _ digits: Int) -> String { let s = String(v, radix: 8); return String(repeating: "0", count: digits - s.count) + s }
    put(name, 0); put("0000644", 100); put("0000000", 108); put("0000000", 116)
    put(size ?? octal(data.count, 11), 124); put(octal(0, 11), 136)
    h[156] = type.asciiValue ?? 0
    put(link, 157); put(magic, 257); put(prefix, 345)
    put("        ", 148)
    let sum = h.reduce(0) { $0 + Int($1) } + (badChecksum ? 1 : 0)
    put(octal(sum, 6), 148); h[154] = 0
    return h + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
}

/// pax extended header data: `LENGTH key=value\n` records.
private func paxRecord(_ key: String, _ value: String) -> [UInt8] {
    let body = " \(key)=\(value)\n"
    var length = body.utf8.count + 1
    if String(length).count + body.utf8.count != length { length += 1 }
    return Array("\(length)\(body)".utf8)
}

/// Gzips the blocks (plus the end-of-archive blocks unless `end` is false) into `path`.
private func writeTarGz(_ blocks: [[UInt8]], end: Bool = true, to path: String) throws {
    let tar = blocks.flatMap { $0 } + (end ? [UInt8](repeating: 0, count: 1024) : [])
    save(try #require(TarGz.gzip(tar)), path)
}

/// The message of the error `read` throws; records an issue when it accepts the archive.
private func refusal(_ path: String, maxBytes: Int = 1 << 33, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    do throws(FileError) {
        let result = try TarGz.read(path, maxBytes: maxBytes)
        Issue.record("accepted: \(result)", sourceLocation: sourceLocation)
        return ""
    } catch {
        return error.message
    }
}

/// Bytes that do not compress, so that cutting the archive cuts the data.
private func noise(_ count: Int, seed: UInt64 = 42) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

private let sample: [TarGz.Member] = [
    .init(path: "model.yaml", bytes: Array("name: fashion-lenet\nlayers: 7\n".utf8)),
    .init(path: "snapshots/w_iter_100.safetensors", bytes: noise(3000)),
    .init(path: "EMPTY", bytes: []),
]

@Suite struct ArchiveTests {
    @Test func roundTripIsExactAndReproducible() throws {
        try withTemporaryDirectory { dir in
            try TarGz.write(sample, root: "fashion-lenet", to: dir + "/a.tar.gz")
            let (root, members) = try TarGz.read(dir + "/a.tar.gz")
            #expect(root == "fashion-lenet")
            #expect(members == sample)
            try TarGz.write(sample, root: "fashion-lenet", to: dir + "/b.tar.gz")
            #expect(try AtomicFile.read(dir + "/a.tar.gz") == AtomicFile.read(dir + "/b.tar.gz"))
        }
    }

    @Test func longNamesUseThePrefixField() throws {
        try withTemporaryDirectory { dir in
            let long = [TarGz.Member(path: String(repeating: "d", count: 90) + "/" + String(repeating: "f", count: 90), bytes: [1, 2, 3])]
            try TarGz.write(long, root: "e", to: dir + "/a.tar.gz")
            #expect(try TarGz.read(dir + "/a.tar.gz").members == long)
            #expect(sh("/usr/bin/tar -tzf \(dir)/a.tar.gz | grep -qx 'e/\(long[0].path)'") == 0)
            // One component of more than 100 bytes cannot be split.
            let tooLong = [TarGz.Member(path: String(repeating: "x", count: 101), bytes: [])]
            #expect(throws: FileError.self) { try TarGz.write(tooLong, root: "e", to: dir + "/b.tar.gz") }
        }
    }

    @Test func writerRefusesWhatTheReaderWould() throws {
        try withTemporaryDirectory { dir in
            for (members, root, reason) in [
                ([TarGz.Member(path: "../x", bytes: [])], "e", "'..'"),
                ([TarGz.Member(path: "/x", bytes: [])], "e", "absolute"),
                ([TarGz.Member(path: "a", bytes: []), TarGz.Member(path: "a", bytes: [])], "e", "twice"),
                ([TarGz.Member(path: "a", bytes: []), TarGz.Member(path: "a/b", bytes: [])], "e", "both a file and a directory"),
                ([], "..", "'..'"), ([], "a/b", "'/'"), ([], ".", "'.'"),
            ] {
                do throws(FileError) {
                    try TarGz.write(members, root: root, to: dir + "/a.tar.gz")
                    Issue.record("wrote \(members) under \(root)")
                } catch { #expect(error.message.contains(reason), "\(error)") }
            }
        }
    }

    @Test func systemTarListsOurArchive() throws {
        try withTemporaryDirectory { dir in
            try TarGz.write(sample, root: "fashion-lenet", to: dir + "/a.tar.gz")
            #expect(sh("/usr/bin/tar -tzf \(dir)/a.tar.gz > \(dir)/list") == 0)
            let listed = String(decoding: try AtomicFile.read(dir + "/list"), as: UTF8.self).split(separator: "\n").map(String.init)
            #expect(listed == ["fashion-lenet/", "fashion-lenet/model.yaml", "fashion-lenet/snapshots/",
                               "fashion-lenet/snapshots/w_iter_100.safetensors", "fashion-lenet/EMPTY"])
            #expect(sh("mkdir \(dir)/x && /usr/bin/tar -xzf \(dir)/a.tar.gz -C \(dir)/x") == 0)
            #expect(try AtomicFile.read(dir + "/x/fashion-lenet/snapshots/w_iter_100.safetensors") == sample[1].bytes)
        }
    }

    @Test(arguments: ["gnu", "pax", "ustar"]) func readsWhatSystemTarWrites(format: String) throws {
        try withTemporaryDirectory { dir in
            // Over 100 bytes: GNU tar writes an 'L' header, pax a 'path' record, ustar the prefix field.
            let long = String(repeating: "d", count: 60) + "/" + String(repeating: "f", count: 60)
            let expected = sample + [TarGz.Member(path: long, bytes: Array("deep".utf8))]
            for m in expected { try AtomicFile.write(m.bytes, to: "\(dir)/src/entry/\(m.path)") }
            #expect(sh("/usr/bin/tar --format=\(format) -czf \(dir)/e.tar.gz -C \(dir)/src entry") == 0)
            let (root, members) = try TarGz.read(dir + "/e.tar.gz")
            #expect(root == "entry")
            #expect(members.sorted { $0.path < $1.path } == expected.sorted { $0.path < $1.path })
        }
    }

    @Test func refusesPathsOutsideTheEntry() throws {
        try withTemporaryDirectory { dir in
            let a = dir + "/a.tar.gz"
            for (blocks, reason) in [
                ([ustar("/etc/passwd", data: [1])], "member '/etc/passwd': the path is absolute"),
                ([ustar("e/../../x", data: [1])], "member 'e/../../x': the path has a '..' component"),
                ([ustar("e/a", data: [1]), ustar("f/b", data: [2])], "member 'f/b' is not under the top directory 'e/'"),
                ([ustar("x", data: [1])], "member 'x' is not inside a top directory"),
                ([ustar("./", type: "5"), ustar("./x", data: [1])], "member './': the path has an empty or '.' component"),
                ([ustar("", data: [1])], "the name is empty"),
                ([ustar("e/a", data: [1]), ustar("e/a", data: [1])], "member 'e/a': it appears twice"),
                ([ustar("e/a", data: [1]), ustar("e/a/b", data: [1])], "'e/a' is both a file and a directory"),
                ([ustar("x", type: "x", data: paxRecord("path", "e/../y")), ustar("e/ok", data: [1])], "member 'e/../y': the path has a '..' component"),
            ] as [([[UInt8]], String)] {
                try writeTarGz(blocks, to: a)
                let message = refusal(a)
                #expect(message.contains(reason), "\(message)")
            }
        }
    }

    @Test func refusesLinksAndSpecialFiles() throws {
        try withTemporaryDirectory { dir in
            // Real links, archived by the system tar.
            #expect(sh("mkdir -p \(dir)/s/entry && echo hi > \(dir)/s/entry/a && ln -s /etc/passwd \(dir)/s/entry/evil"
                       + " && /usr/bin/tar -czf \(dir)/sym.tar.gz -C \(dir)/s entry") == 0)
            var message = refusal(dir + "/sym.tar.gz")
            #expect(message == "member 'entry/evil' is a symbolic link (to /etc/passwd, which points outside the entry); zoo archives hold regular files only")
            #expect(sh("rm \(dir)/s/entry/evil && ln \(dir)/s/entry/a \(dir)/s/entry/b && /usr/bin/tar -czf \(dir)/hard.tar.gz -C \(dir)/s entry") == 0)
            message = refusal(dir + "/hard.tar.gz")
            #expect(message.contains("is a hard link (to entry/"), "\(message)")
            #expect(!message.contains("outside"), "\(message)")
            // Crafted ones, for the cases tar would not make from a real tree.
            let a = dir + "/a.tar.gz"
            for (blocks, reason) in [
                ([ustar("e/l", type: "2", link: "../../x")], "member 'e/l' is a symbolic link (to ../../x, which points outside the entry)"),
                ([ustar("e/d/l", type: "2", link: "../a")], "member 'e/d/l' is a symbolic link (to ../a); zoo"),
                ([ustar("e/h", type: "1", link: "other/a")], "member 'e/h' is a hard link (to other/a, which points outside the entry)"),
                ([ustar("e/p", type: "6")], "member 'e/p' is a device or FIFO"),
                ([ustar("e/c", type: "3")], "member 'e/c' is a device or FIFO"),
            ] as [([[UInt8]], String)] {
                try writeTarGz(blocks, to: a)
                message = refusal(a)
                #expect(message.contains(reason), "\(message)")
            }
        }
    }

    @Test func readsExtendedHeaders() throws {
        try withTemporaryDirectory { dir in
            let long = "e/" + String(repeating: "n", count: 150)
            try writeTarGz([
                ustar("pax_global_header", type: "g", data: paxRecord("comment", "0123abcd")),
                ustar("e/", type: "5"),
                ustar("././@LongLink", type: "L", data: Array(long.utf8) + [0], magic: "ustar  \u{0}"),
                ustar(String(long.prefix(100)), data: [1], magic: "ustar  \u{0}"),
                ustar("x", type: "x", data: paxRecord("mtime", "1.5") + paxRecord("path", "e/pax name")),
                ustar("e/truncated", data: [2]),
                ustar("ok", data: [3], prefix: "e/sub"),
            ], to: dir + "/a.tar.gz")
            let (root, members) = try TarGz.read(dir + "/a.tar.gz")
            #expect(root == "e")
            #expect(members == [.init(path: String(long.dropFirst(2)), bytes: [1]), .init(path: "pax name", bytes: [2]), .init(path: "sub/ok", bytes: [3])])
        }
    }

    @Test func refusesDamagedArchives() throws {
        try withTemporaryDirectory { dir in
            let a = dir + "/a.tar.gz"
            let good = [TarGz.Member(path: "weights", bytes: noise(200_000))]
            try TarGz.write(good, root: "e", to: a)
            let bytes = try AtomicFile.read(a)

            save(Array(bytes.prefix(bytes.count / 2)), a)
            var message = refusal(a)
            #expect(message.hasPrefix("truncated: the compressed data ends early, near member 'e/weights'"), "\(message)")

            var corrupted = bytes
            corrupted[bytes.count / 2] ^= 0x55
            save(corrupted, a)
            message = refusal(a)
            #expect(message.hasPrefix("corrupt gzip data"), "\(message)")

            // The same in compressed text, where deflate's codes rather than the CRC break.
            let text = [TarGz.Member(path: "model.yaml", bytes: Array(String(repeating: "layer: {type: ReLU, name: relu}\n", count: 400).utf8))]
            try TarGz.write(text, root: "e", to: a)
            var damaged = try AtomicFile.read(a)
            damaged[damaged.count / 3] ^= 0xff
            save(damaged, a)
            message = refusal(a)
            #expect(message.hasPrefix("corrupt gzip data"), "\(message)")

            save(Array("name: not an archive\n".utf8), a)
            #expect(refusal(a) == "not a gzip file")
            save([], a)
            #expect(refusal(a) == "not a gzip file")
            #expect(sh("echo hi > \(dir)/f && /usr/bin/tar -cf \(a) -C \(dir) f") == 0)   // tar without gzip
            #expect(refusal(a) == "not a gzip file")
            #expect(refusal(dir + "/missing.tar.gz").hasPrefix("cannot open"))

            try TarGz.write(good, root: "e", to: a)
            message = refusal(a, maxBytes: 100_000)
            #expect(message.hasPrefix("the archive holds more than 100000 bytes uncompressed"), "\(message)")
            #expect(try TarGz.read(a, maxBytes: 200_000 + 10240 + 3 * 512).members == good)
        }
    }

    @Test func refusesBrokenHeaders() throws {
        try withTemporaryDirectory { dir in
            let a = dir + "/a.tar.gz"
            let file = ustar("e/a", data: Array(repeating: 7, count: 1000))
            for (blocks, end, reason) in [
                // libarchive's messages, after what Dendrite knows of where it was.
                ([ustar("e/a", data: [1], badChecksum: true)], true, "not a tar archive inside the gzip data (libarchive: Unrecognized archive format)"),
                ([ustar("e/a", data: [1], size: "12x")], true, "not a tar archive inside the gzip data (libarchive: Unrecognized archive format)"),
                ([ustar("e/a", data: [1]), ustar("e/b", data: [1], badChecksum: true)], true, "a broken header after member 'e/a' (libarchive: Damaged tar archive)"),
                ([Array(file.prefix(700))], false, "member 'e/a': Truncated tar archive"),
                ([file, Array(file.prefix(100))], false, "a broken header after member 'e/a' (libarchive: Truncated tar archive)"),
                ([ustar("x", type: "x", data: Array("99 path=e/b\n".utf8)), ustar("e/b")], true, "a broken header (libarchive: Ignoring malformed pax extended attribute)"),
                ([ustar("x", type: "x", data: paxRecord("path", "e/b"))], true, "a broken header (libarchive: Damaged tar archive)"),
                ([], true, "the archive is empty"),
            ] as [([[UInt8]], Bool, String)] {
                try writeTarGz(blocks, end: end, to: a)
                let message = refusal(a)
                #expect(message.hasPrefix(reason), "\(message)")
            }
            // The end of the data right after a member's padding, without the zero blocks, is accepted.
            try writeTarGz([file], end: false, to: a)
            #expect(try TarGz.read(a).members == [.init(path: "a", bytes: Array(repeating: 7, count: 1000))])
            // As tar reads them: a pre-POSIX header (no magic), a name field cut at its first NUL.
            try writeTarGz([ustar("e/a", data: [1], magic: ""), ustar("e/b\u{0}junk", data: [2])], to: a)
            #expect(try TarGz.read(a).members == [.init(path: "a", bytes: [1]), .init(path: "b", bytes: [2])])
        }
    }

    @Test func damagedInputNeverCrashes() throws {
        try withTemporaryDirectory { dir in
            let a = dir + "/a.tar.gz"
            let tar = ustar("e/", type: "5") + ustar("e/a", data: Array("hello".utf8))
                + ustar("x", type: "x", data: paxRecord("path", "e/long") + paxRecord("size", "3")) + ustar("e/b", data: [1, 2, 3])
                + ustar("e/l", type: "2", link: "a") + [UInt8](repeating: 0, count: 1024)
            var random = noise(40_000, seed: 7).makeIterator()
            func next() -> Int { Int(random.next() ?? 0) << 8 | Int(random.next() ?? 0) }
            for round in 0..<300 {
                var bytes = tar
                for _ in 0...(round % 4) { bytes[next() % bytes.count] = UInt8(next() & 0xff) }
                if round % 3 == 0 { bytes = Array(bytes.prefix(next() % bytes.count)) }
                var compressed = try #require(TarGz.gzip(bytes))
                if round % 5 == 0 { compressed[next() % compressed.count] ^= UInt8(1 + next() % 255) }
                save(compressed, a)
                _ = try? TarGz.read(a)   // a FileError or a result, never a crash
            }
        }
    }
}
