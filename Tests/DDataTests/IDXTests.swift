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
        #expect(IDXFile.wellFormedGzip(dir + "/whole.gz", expectedRanks: 3...3)?.bytes == images.bytes)
        let encoded = images.encoded()
        for (name, part) in [("a", Array(encoded[..<7])), ("b", Array(encoded[7...]))] {
            let gz = try #require(gzopen(dir + "/" + name, "wb"))
            _ = part.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
            gzclose(gz)
        }
        let two = try Data(contentsOf: URL(fileURLWithPath: dir + "/a")) + Data(contentsOf: URL(fileURLWithPath: dir + "/b"))
        try two.write(to: URL(fileURLWithPath: dir + "/two.gz"))
        #expect(IDXFile.wellFormedGzip(dir + "/two.gz", expectedRanks: 3...3) == nil)
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
        FileManager.default.createFile(atPath: dir + "/t", contents: Data(bytes))
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
        FileManager.default.createFile(atPath: dir + "/cut.gz", contents: whole.prefix(whole.count / 2))
        do {
            _ = try IDXFile.read(dir + "/cut.gz", expectedRanks: 3...3, role: "images")
            Issue.record("read a truncated gzip file")
        } catch {
            #expect(error.file == dir + "/cut.gz")
            #expect(error.message.hasPrefix("truncated: expected 156800 payload bytes for dimensions 200×28×28, found only"))
        }
    }

    @Test func extraBytesAreAnError() throws {
        let dir = temporaryDirectory()
        FileManager.default.createFile(atPath: dir + "/x", contents: Data(images.encoded() + [1]))
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
        #expect(d.count == 3 && d.sampleDims == [2, 2] && d.sampleSize == 4)
        #expect(Array(d.sampleBytes(1)) == [10, 11, 12, 13])
        #expect(d.labelRange == 10)
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
