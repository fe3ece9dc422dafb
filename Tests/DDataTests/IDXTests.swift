import CZlib
import DCore
@testable import DData
import Foundation
import Testing

/// A fresh directory for one test's files.
func temporaryDirectory(_ name: String = #function) -> String {
    let dir = NSTemporaryDirectory() + "dendrite-tests-\(getpid())-\(name.filter { $0.isLetter || $0.isNumber })"
    try? FileManager.default.removeItem(atPath: dir)
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct IDXFileTests {
    let images = IDXFile(dims: [3, 2, 2], bytes: [0, 1, 2, 3, 10, 11, 12, 13, 250, 251, 252, 255])
    let labels = IDXFile(dims: [3], bytes: [7, 0, 9])

    @Test(arguments: [true, false]) func readsWhatItWrote(gzip: Bool) throws {
        let dir = temporaryDirectory("rw\(gzip)")
        try images.write(to: dir + "/i", gzip: gzip)
        let back = try IDXFile.read(dir + "/i", expectedRanks: 3...3, role: "images")
        #expect(back.dims == [3, 2, 2])
        #expect(back.bytes == images.bytes)
        #expect(images.encoded().prefix(4) == [0, 0, 8, 3])  // magic 2051
    }

    /// gzip'd files are read in one go by libdeflate when they are well formed; a file of two
    /// gzip members (as `cat a.gz b.gz` makes) is not, and zlib's stream reads it the same.
    @Test func bothGzipReadersAgree() throws {
        let dir = temporaryDirectory()
        try images.write(to: dir + "/whole.gz", gzip: true)
        #expect(IDXFile.wellFormedGzip(dir + "/whole.gz", expectedRanks: 3...3, types: [.ubyte])?.bytes == images.bytes)
        let encoded = images.encoded()
        for (name, part) in [("a", Array(encoded[..<7])), ("b", Array(encoded[7...]))] {
            let gz = try #require(gzopen(dir + "/" + name, "wb"))
            _ = part.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
            gzclose(gz)
        }
        let two = try Data(contentsOf: URL(fileURLWithPath: dir + "/a")) + Data(contentsOf: URL(fileURLWithPath: dir + "/b"))
        try two.write(to: URL(fileURLWithPath: dir + "/two.gz"))
        #expect(IDXFile.wellFormedGzip(dir + "/two.gz", expectedRanks: 3...3, types: [.ubyte]) == nil)
        let read = try IDXFile.read(dir + "/two.gz", expectedRanks: 3...3, role: "images")
        #expect(read.dims == images.dims && read.bytes == images.bytes)
    }

    @Test func wrongMagicNamesBothNumbers() throws {
        let dir = temporaryDirectory()
        try labels.write(to: dir + "/l.gz", gzip: true)
        #expect(throws: DataError(file: dir + "/l.gz", "not an IDX images file: magic number 2049, expected 2051",
                                  hint: "are the images and labels files swapped?")) {
            try IDXFile.read(dir + "/l.gz", expectedRanks: 3...3, role: "images")
        }
    }

    @Test func truncatedPayload() throws {
        let dir = temporaryDirectory()
        let bytes = Array(images.encoded().dropLast(5))
        _ = FileManager.default.createFile(atPath: dir + "/t", contents: Data(bytes))
        #expect(throws: DataError(file: dir + "/t", "truncated: expected 12 payload bytes for dimensions 3×2×2, found only 7 bytes",
                                  hint: "download or copy the file again")) {
            try IDXFile.read(dir + "/t", expectedRanks: 3...3, role: "images")
        }
    }

    @Test func truncatedGzipStream() throws {
        let dir = temporaryDirectory()
        let big = IDXFile(dims: [200, 28, 28], bytes: (0..<(200 * 784)).map { UInt8(truncatingIfNeeded: $0 * 7919 % 251) })
        try big.write(to: dir + "/full.gz", gzip: true)
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/full.gz"))
        _ = FileManager.default.createFile(atPath: dir + "/cut.gz", contents: whole.prefix(whole.count / 2))
        do {
            _ = try IDXFile.read(dir + "/cut.gz", expectedRanks: 3...3, role: "images")
            Issue.record("read a truncated gzip file")
        } catch {
            #expect(error.file == dir + "/cut.gz")
            #expect(error.message.hasPrefix("truncated: expected 156800 payload bytes for dimensions 200×28×28, found only"))
        }
    }

    /// 2³¹ images of 28×28 claim 1.7 TB: refused from the header. 2³¹ labels claim 2 GiB, which
    /// a labels file might hold: read in pieces, the 12-byte file is refused as truncated.
    @Test func twoToThe31SamplesAreRefusedWithoutAllocatingThem() throws {
        let dir = temporaryDirectory()
        func header(_ magic: UInt32, _ dims: [UInt32]) -> Data {
            Data(([magic] + dims).flatMap { withUnsafeBytes(of: $0.bigEndian, Array.init) } + [1, 2, 3, 4])
        }
        _ = FileManager.default.createFile(atPath: dir + "/images", contents: header(0x0803, [1 << 31, 28, 28]))
        #expect(throws: DataError(file: dir + "/images", "header dimensions [2147483648, 28, 28] are implausibly large", hint: "the file is corrupt")) {
            try IDXFile.read(dir + "/images", expectedRanks: 3...3, role: "images")
        }
        _ = FileManager.default.createFile(atPath: dir + "/labels", contents: header(0x0801, [1 << 31]))
        #expect(throws: DataError(file: dir + "/labels", "truncated: expected 2147483648 payload bytes for dimensions 2147483648, found only 4 bytes",
                                  hint: "download or copy the file again")) {
            try IDXFile.read(dir + "/labels", expectedRanks: 1...1, role: "labels")
        }
    }

    /// Found by scripts/fuzz (its corpus keeps both): a header's claim is not allocated up front.
    /// A 32-byte raw file claiming 16 GiB of floats, and a gzip trailer claiming 4 GiB for
    /// some 30 compressed bytes, are refused by what the file holds (under libFuzzer's 2 GB malloc
    /// limit they were out-of-memory crashes).
    @Test func sizesClaimedByTheHeaderAreNotAllocatedBeforeTheDataIsThere() throws {
        let dir = temporaryDirectory()
        var raw: [UInt8] = [0, 0, 0x0D, 4]
        for d in [2, 1, 8_388_610, 254] { raw += withUnsafeBytes(of: UInt32(d).bigEndian, Array.init) }
        raw += [UInt8](repeating: 0x3F, count: 12)
        _ = FileManager.default.createFile(atPath: dir + "/claim.idx", contents: Data(raw))
        #expect(throws: DataError(file: dir + "/claim.idx", "truncated: expected 17045655520 payload bytes for dimensions 2×1×8388610×254, found only 12 bytes",
                                  hint: "download or copy the file again")) {
            try IDXFile.read(dir + "/claim.idx", expectedRanks: 1...4, types: [.ubyte, .float], role: "images")
        }
        try IDXFile(dims: [3], bytes: [1, 2, 3]).write(to: dir + "/l.gz", gzip: true)
        var gz = try Data(contentsOf: URL(fileURLWithPath: dir + "/l.gz"))
        gz.replaceSubrange((gz.count - 4)..., with: [0xFF, 0xFF, 0xFF, 0xF0])  // ISIZE: 4 GiB - 1
        _ = FileManager.default.createFile(atPath: dir + "/l.gz", contents: gz)
        #expect(throws: DataError(file: dir + "/l.gz", "corrupt: the gzip data is damaged (zlib: incorrect length check)",
                                  hint: "download or copy the file again")) {
            try IDXFile.read(dir + "/l.gz", expectedRanks: 1...1, role: "labels")
        }
    }

    /// The gzip trailer holds the CRC and the size: a file cut just before it, or with a wrong
    /// CRC, holds the whole payload and is still refused.
    @Test func aMissingOrWrongGzipTrailerIsAnError() throws {
        let dir = temporaryDirectory()
        try images.write(to: dir + "/i.gz", gzip: true)
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/i.gz"))
        _ = FileManager.default.createFile(atPath: dir + "/cut.gz", contents: whole.dropLast(8))
        #expect(throws: DataError(file: dir + "/cut.gz", "truncated: the gzip data ends before its trailer (zlib: unexpected end of file)",
                                  hint: "download or copy the file again")) {
            try IDXFile.read(dir + "/cut.gz", expectedRanks: 3...3, role: "images")
        }
        // A wrong CRC, in a file large enough that zlib reaches the trailer only after the payload.
        let big = IDXFile(dims: [200, 28, 28], bytes: (0..<(200 * 784)).map { UInt8(truncatingIfNeeded: $0 * 7919 % 251) })
        try big.write(to: dir + "/big.gz", gzip: true)
        var wrong = try Data(contentsOf: URL(fileURLWithPath: dir + "/big.gz"))
        wrong[wrong.count - 8] ^= 1  // the CRC's first byte
        _ = FileManager.default.createFile(atPath: dir + "/crc.gz", contents: wrong)
        do {
            _ = try IDXFile.read(dir + "/crc.gz", expectedRanks: 3...3, role: "images")
            Issue.record("read a file with a wrong CRC")
        } catch {
            #expect(error.file == dir + "/crc.gz" && error.message == "corrupt: the gzip data is damaged (zlib: incorrect data check)", "\(error)")
        }
    }

    @Test func extraBytesAreAnError() throws {
        let dir = temporaryDirectory()
        _ = FileManager.default.createFile(atPath: dir + "/x", contents: Data(images.encoded() + [1]))
        #expect(throws: DataError.self) { try IDXFile.read(dir + "/x", expectedRanks: 3...3, role: "images") }
    }

    @Test func missingFile() {
        #expect(throws: DataError.self) { try IDXFile.read("/nonexistent/x.gz", expectedRanks: 1...1, role: "labels") }
    }

    @Test func imageAndLabelCountsMustAgree() throws {
        let dir = temporaryDirectory()
        try images.write(to: dir + "/i", gzip: true)
        try IDXFile(dims: [2], bytes: [1, 2]).write(to: dir + "/l", gzip: true)
        #expect(throws: DataError(file: dir + "/l", "has 2 labels, but \(dir)/i has 3 images",
                                  hint: "images and labels must come from the same split")) {
            try IDXDataset(images: dir + "/i", labels: dir + "/l")
        }
    }

    @Test func datasetKeepsBytes() throws {
        let dir = temporaryDirectory()
        try images.write(to: dir + "/i", gzip: true)
        try labels.write(to: dir + "/l", gzip: false)
        let d = try IDXDataset(images: dir + "/i", labels: dir + "/l")
        #expect(d.count == 3 && d.sampleDims == [1, 2, 2] && d.sampleSize == 4 && d.channels == 1)
        #expect(Array(d.sampleBytes(1)) == [10, 11, 12, 13])
        #expect(d.labelRange == 10)
    }
}

/// Rank-4 files (N×C×H×W, channels first) and float files (type 0x0D).
@Suite struct IDXChannelsAndFloatsTests {
    /// 2 images of 3 channels of 2×2: channel c of image n holds 100n + 10c + pixel.
    let colour: IDXFile = {
        var bytes: [UInt8] = []
        for n in 0..<2 { for c in 0..<3 { for p in 0..<4 { bytes.append(UInt8(100 * n + 10 * c + p)) } } }
        return IDXFile(dims: [2, 3, 2, 2], bytes: bytes)
    }()
    let floats = IDXFile(dims: [2, 1, 2], floats: [-1.5, 0.25, 3e-8, .greatestFiniteMagnitude])

    @Test(arguments: [true, false]) func rank4AndFloatsRoundTrip(gzip: Bool) throws {
        let dir = temporaryDirectory("rt\(gzip)")
        try colour.write(to: dir + "/c", gzip: gzip)
        try floats.write(to: dir + "/f", gzip: gzip)
        #expect(colour.encoded().prefix(4) == [0, 0, 8, 4])   // magic 2052
        #expect(floats.encoded().prefix(8) == [0, 0, 0x0D, 3, 0, 0, 0, 2])  // magic 3331, then 2
        #expect(floats.encoded()[16..<20] == [0xBF, 0xC0, 0, 0])  // −1.5, big-endian
        let c = try IDXFile.read(dir + "/c", expectedRanks: 3...4, types: [.ubyte, .float], role: "images")
        #expect(c.dims == [2, 3, 2, 2] && c.type == .ubyte && c.bytes == colour.bytes)
        let f = try IDXFile.read(dir + "/f", expectedRanks: 3...4, types: [.ubyte, .float], role: "images")
        #expect(f.dims == [2, 1, 2] && f.type == .float && f.floats == floats.floats && f.bytes.isEmpty)
    }

    @Test func floatsWhereBytesAreExpectedNameTheTypes() throws {
        let dir = temporaryDirectory()
        try floats.write(to: dir + "/f", gzip: true)
        #expect(throws: DataError(file: dir + "/f", "not an IDX labels file: magic number 3331, expected 2049",
                                  hint: "an IDX labels file of unsigned bytes has magic number 2049")) {
            try IDXFile.read(dir + "/f", expectedRanks: 1...1, role: "labels")
        }
        try IDXFile(dims: [2], floats: [1, 0]).write(to: dir + "/fl", gzip: false)
        #expect(throws: DataError(file: dir + "/fl", "not an IDX labels file: magic number 3329, expected 2049",
                                  hint: "labels must be unsigned bytes (class indices 0…255)")) {
            try IDXFile.read(dir + "/fl", expectedRanks: 1...1, role: "labels")
        }
    }

    @Test func truncatedFloatPayload() throws {
        let dir = temporaryDirectory()
        _ = FileManager.default.createFile(atPath: dir + "/t", contents: Data(floats.encoded().dropLast(2)))
        #expect(throws: DataError(file: dir + "/t", "truncated: expected 16 payload bytes for dimensions 2×1×2, found only 14 bytes",
                                  hint: "download or copy the file again")) {
            try IDXFile.read(dir + "/t", expectedRanks: 3...4, types: [.ubyte, .float], role: "images")
        }
    }

    @Test func colourDatasetServesChannelsFirst() throws {
        let dir = temporaryDirectory()
        try colour.write(to: dir + "/i", gzip: true)
        try IDXFile(dims: [2], bytes: [1, 0]).write(to: dir + "/l", gzip: true)
        let d = try IDXDataset(images: dir + "/i", labels: dir + "/l")
        #expect(d.sampleDims == [3, 2, 2] && d.channels == 3 && d.elementType == .ubyte)
        var out = [Float](repeating: 0, count: 12)
        // One mean per channel: 100 + 10c + p − (10c) → 100 + p, halved.
        out.withUnsafeMutableBufferPointer { d.write(sample: 1, ByteTransform(scale: 0.5, meanValues: [0, 10, 20]), into: $0.baseAddress!) }
        #expect(out == [50, 50.5, 51, 51.5, 50, 50.5, 51, 51.5, 50, 50.5, 51, 51.5])
    }

    @Test func floatDatasetServesValuesThroughTheTransform() throws {
        let dir = temporaryDirectory()
        try IDXFile(dims: [2, 2, 2], floats: [0.5, -0.5, 2, 4, 1, 2, 3, 4]).write(to: dir + "/i", gzip: false)
        try IDXFile(dims: [2], bytes: [0, 1]).write(to: dir + "/l", gzip: false)
        let d = try IDXDataset(images: dir + "/i", labels: dir + "/l")
        #expect(d.sampleDims == [1, 2, 2] && d.elementType == .float)
        var out = [Float](repeating: 0, count: 4)
        out.withUnsafeMutableBufferPointer { d.write(sample: 0, ByteTransform(scale: 2, meanValues: [0.5]), into: $0.baseAddress!) }
        #expect(out == [0, -2, 3, 7])
    }

    @Test func emptyImagesAreRefused() throws {
        let dir = temporaryDirectory()
        try IDXFile(dims: [2, 0, 4], bytes: []).write(to: dir + "/i", gzip: false)
        try IDXFile(dims: [2], bytes: [0, 1]).write(to: dir + "/l", gzip: false)
        #expect(throws: DataError(file: dir + "/i", "has empty images (dimensions 2×0×4)")) {
            try IDXDataset(images: dir + "/i", labels: dir + "/l")
        }
    }
}

@Suite struct SampleOrderTests {
    @Test func fileOrderWrapsIntoTheNextEpoch() {
        var order = SampleOrder(count: 3, shuffle: false, seed: 1)
        #expect((0..<7).map { _ in order.next() } == [0, 1, 2, 0, 1, 2, 0])
        #expect(order.epoch == 2 && order.position == 1)
    }

    @Test func shuffleIsAPermutationPerEpochAndSeeded() {
        var a = SampleOrder(count: 50, shuffle: true, seed: 9), b = SampleOrder(count: 50, shuffle: true, seed: 9)
        let first = (0..<50).map { _ in a.next() }, second = (0..<50).map { _ in a.next() }
        #expect(Set(first) == Set(0..<50) && Set(second) == Set(0..<50))
        #expect(first != Array(0..<50))
        #expect(first != second)
        #expect((0..<50).map { _ in b.next() } == first)
        var c = SampleOrder(count: 50, shuffle: true, seed: 10)
        #expect((0..<50).map { _ in c.next() } != first)
    }

    @Test func resumesFromEpochAndPosition() {
        var straight = SampleOrder(count: 20, shuffle: true, seed: 4)
        for _ in 0..<33 { _ = straight.next() }
        var resumed = SampleOrder(count: 20, shuffle: true, seed: 4, epoch: straight.epoch, position: straight.position)
        #expect((0..<30).map { _ in straight.next() } == (0..<30).map { _ in resumed.next() })
    }
}

@Suite struct TransformTests {
    @Test func scaleAndMean() {
        let t = ByteTransform(scale: 0.5, meanValues: [10])
        let bytes: [UInt8] = [10, 12, 0, 255]
        var out = [Float](repeating: 0, count: 4)
        bytes.withUnsafeBufferPointer { b in out.withUnsafeMutableBufferPointer { t.apply(b, channels: 1, into: $0.baseAddress!) } }
        #expect(out == [0, 1, -5, 122.5])
    }
}
