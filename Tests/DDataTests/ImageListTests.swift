import CSTBImage
@testable import DData
import Foundation
import Synchronization
import Testing

/// Writes a w×h PNG of `channels` whose pixel (x, y, c) is `value(x, y, c)`.
func writePNG(_ path: String, width: Int, height: Int, channels: Int, _ value: (Int, Int, Int) -> UInt8) {
    var pixels: [UInt8] = []
    for y in 0..<height { for x in 0..<width { for c in 0..<channels { pixels.append(value(x, y, c)) } } }
    precondition(stbi_write_png(path, Int32(width), Int32(height), Int32(channels), pixels, Int32(width * channels)) != 0)
}

@Suite struct ImageListTests {
    func write(_ dir: String, _ list: String) throws -> String {
        try list.write(toFile: dir + "/list.txt", atomically: true, encoding: .utf8)
        return dir + "/list.txt"
    }

    @Test func decodesColourChannelsFirstWithLabels() throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/img", withIntermediateDirectories: true)
        writePNG(dir + "/img/a.png", width: 3, height: 2, channels: 3) { x, y, c in UInt8(100 * c + 10 * y + x) }
        writePNG(dir + "/img/b c.png", width: 3, height: 2, channels: 1) { x, y, _ in UInt8(10 * y + x) }
        // Blank lines and comments are skipped; a path may hold spaces; paths are relative to the list.
        let list = try write(dir, "# a comment\nimg/a.png 7\n\nimg/b c.png   300  \n")
        let d = try ImageList.load(list, ImageList.Options())
        #expect(d.count == 2 && d.sampleDims == [3, 2, 3] && d.labels == [7, 300])
        #expect(Array(d.sampleBytes(0)) == [0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112, 200, 201, 202, 210, 211, 212])
        #expect(Array(d.sampleBytes(1)) == [0, 1, 2, 10, 11, 12, 0, 1, 2, 10, 11, 12, 0, 1, 2, 10, 11, 12])  // grey → three equal channels
        // Grey: one channel (a colour file by stb_image's luminance, (77R + 150G + 29B) >> 8).
        let grey = try ImageList.load(list, ImageList.Options(color: false))
        #expect(grey.sampleDims == [1, 2, 3])
        #expect(Array(grey.sampleBytes(0)) == (0..<6).map { i in
            let x = i % 3, y = i / 3
            let r = 10 * y + x, g = 100 + r, b = 200 + r
            return UInt8((77 * r + 150 * g + 29 * b) >> 8)
        })
        // root_folder takes relative paths from elsewhere; new_height × new_width resizes.
        let moved = try write(dir, "a.png 1\n")
        let resized = try ImageList.load(moved, ImageList.Options(root: dir + "/img", height: 4, width: 6))
        #expect(resized.sampleDims == [3, 4, 6])
    }

    /// The bytes do not depend on the thread count; the error is the first bad line's.
    @Test func threadsDecodeTheSameBytesAndReportTheFirstBadLine() throws {
        let dir = temporaryDirectory()
        for k in 0..<9 { writePNG(dir + "/\(k).png", width: 5, height: 3, channels: 3) { x, y, c in UInt8(truncatingIfNeeded: 31 * k + 7 * x + 3 * y + c) } }
        let list = try write(dir, (0..<9).map { "\($0).png \($0)" }.joined(separator: "\n") + "\n")
        let one = try ImageList.load(list, ImageList.Options(), threads: 1), three = try ImageList.load(list, ImageList.Options(), threads: 3)
        #expect((0..<9).allSatisfy { Array(one.sampleBytes($0)) == Array(three.sampleBytes($0)) })
        let bad = try write(dir, (0..<9).map { $0 == 4 || $0 == 7 ? "missing\($0).png 0" : "\($0).png \($0)" }.joined(separator: "\n") + "\n")
        #expect(throws: DataError(file: bad + ":5", "cannot open the image '\(dir)/missing4.png'",
                                  hint: "relative paths are taken from the list file's directory; set root_folder to take them from another")) {
            try ImageList.load(bad, ImageList.Options(), threads: 3)
        }
    }

    @Test func badLinesAreLocated() throws {
        let dir = temporaryDirectory()
        writePNG(dir + "/a.png", width: 2, height: 2, channels: 1) { _, _, _ in 5 }
        writePNG(dir + "/big.png", width: 3, height: 2, channels: 1) { _, _, _ in 5 }
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/bad.png"))
        func refused(_ list: String, _ expected: DataError) throws {
            let path = try write(dir, list)
            #expect(throws: expected) { try ImageList.load(path, ImageList.Options()) }
        }
        let list = dir + "/list.txt"
        let usage = "one image per line: its path, a space, its class index"
        try refused("a.png 1\nmissing.png 0\n", DataError(file: list + ":2", "cannot open the image '\(dir)/missing.png'",
                                                         hint: "relative paths are taken from the list file's directory; set root_folder to take them from another"))
        try refused("a.png 1\na.png 2\nbad.png 0\n", DataError(file: list + ":3", "cannot decode the image '\(dir)/bad.png': unknown image type",
                                                              hint: "PNG, binary PGM/PPM, JPEG, BMP and GIF can be read"))
        try refused("a.png\n", DataError(file: list + ":1", "expected 'path label', found 'a.png'", hint: usage))
        try refused("a.png one\n", DataError(file: list + ":1", "the label 'one' is not a class index (a whole number from 0 to 16777216)"))
        try refused("a.png -1\n", DataError(file: list + ":1", "the label '-1' is not a class index (a whole number from 0 to 16777216)"))
        try refused("a.png 1\nbig.png 1\n", DataError(file: list + ":2", "the image '\(dir)/big.png' is 3×2 pixels, the list's first is 2×2",
                                                     hint: "set new_height and new_width to resize every image to one size"))
        try refused("# nothing\n\n", DataError(file: list, "lists no images", hint: usage))
        #expect(throws: DataError(file: dir + "/none.txt", "cannot open the image list",
                                  hint: "check the path; relative paths are taken from the net file's directory (the solver's, for a net written in the solver)")) {
            try ImageList.load(dir + "/none.txt", ImageList.Options())
        }
    }

    @Test func longListsReportProgress() throws {
        let dir = temporaryDirectory()
        writePNG(dir + "/a.png", width: 1, height: 1, channels: 1) { _, _, _ in 9 }
        let list = try write(dir, String(repeating: "a.png 0\n", count: 2500))
        for threads in [1, 2] {
            let reports = Mutex<[Int]>([])
            let d = try ImageList.load(list, ImageList.Options(color: false), threads: threads) { done, total in
                #expect(total == 2500)
                reports.withLock { $0.append(done) }
            }
            #expect(d.count == 2500 && reports.withLock { $0.sorted() } == [1000, 2000, 2500])
        }
    }
}
