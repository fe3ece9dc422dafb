import DConfig
import DCore
import DData
@testable import DLayers
import Foundation
import Testing

/// TextData: time-major batches [T, N] of N contiguous streams, hand-checked on tiny corpora.
@Suite struct TextDataLayerTests {
    static let dir: String = {
        let dir = NSTemporaryDirectory() + "dendrite-text-data-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var long = ""
        for i in 0..<200 { long.unicodeScalars.append(Unicode.Scalar(UInt8(97 + i * 7 % 26))) }
        var files: [(String, [UInt8])] = []
        files.append(("abc.txt", Array("abcdefghijklmno".utf8)))
        files.append(("twenty.txt", Array("abcdefghijklmnopqrst".utf8)))
        files.append(("long.txt", Array(long.utf8)))
        files.append(("empty.txt", []))
        files.append(("latin1.txt", [0x61, 0x62, 0xE9, 0x63]))
        files.append(("short.txt", Array("abcdef".utf8)))
        for (name, bytes) in files { FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes)) }
        return dir
    }()

    func layer(_ param: String, phase: Phase = .train, seed: UInt64 = 1) throws -> TextDataLayer {
        let yaml = "{name: text, type: TextData, top: [data, label, cont], text_data_param: {\(param)}}"
        let spec = try NetSpec(node: try YAML.parse("layer: [\(yaml)]", file: "test.yaml"), file: "test.yaml")
        let layer = try LayerRegistry.make(spec.layers[0], BuildContext(phase: phase, netFile: Self.dir + "/net.yaml", seed: seed))
        return try #require(layer as? TextDataLayer)
    }

    /// One forward: data, label and cont, each T·N values in [T, N] order.
    func batch(_ layer: TextDataLayer) throws -> (data: [Float], label: [Float], cont: [Float]) {
        let shape = Shape([layer.seqLength, layer.batchSize])
        #expect(try layer.topShapes(for: []) == [shape, shape, shape])
        let tops = (0..<3).map { _ in Tensor(shape: shape) }
        let io = LayerIO(bottoms: [], bottomGrads: [], accumulateBottom: [], tops: tops.map(\.view), topGrads: [nil, nil, nil],
                         params: [], paramGrads: [], work: [], intWork: [], index: 0)
        try layer.forward(io, StepContext(phase: .train))
        return (tops[0].values, tops[1].values, tops[2].values)
    }

    @Test func streamsAdvanceByTAndWrapWithContZero() throws {
        // 15 characters a…o (indices 0…14): 14 pairs, 2 streams of S = 7 — a…g and h…n.
        let l = try layer("source: abc.txt, batch_size: 2, seq_length: 3")
        #expect(l.vocabulary == "abcdefghijklmno".map(String.init))
        #expect(l.streamLength == 7 && l.samplesPerEpoch == 14 && l.samplesPerBatch == 6 && l.batchesPerPass == 2)
        let b1 = try batch(l)
        #expect(b1.data == [0, 7, 1, 8, 2, 9])  // t = 0: a h; t = 1: b i; t = 2: c j
        #expect(b1.label == [1, 8, 2, 9, 3, 10])
        #expect(b1.cont == [0, 0, 1, 1, 1, 1])
        let b2 = try batch(l)
        #expect(b2.data == [3, 10, 4, 11, 5, 12] && b2.label == [4, 11, 5, 12, 6, 13] && b2.cont == [1, 1, 1, 1, 1, 1])
        // The third batch ends the streams (g n → h o) and starts them again at t = 1, with cont 0.
        let b3 = try batch(l)
        #expect(b3.data == [6, 13, 0, 7, 1, 8] && b3.label == [7, 14, 1, 8, 2, 9] && b3.cont == [1, 1, 0, 0, 1, 1])
        #expect(l.step == 9 && l.cursor == (1, 2))
        l.rewind()
        #expect(try batch(l).data == b1.data)
        l.cursor = (epoch: 1, position: 2)
        #expect(try batch(l).data == [2, 9, 3, 10, 4, 11])
    }

    @Test func testFractionSplitsTheFileAndKeepsOneVocabulary() throws {
        // 20 characters a…t; test_fraction 0.25 keeps the last 5, p…t, for TEST.
        let test = try layer("source: twenty.txt, batch_size: 2, seq_length: 2, test_fraction: 0.25", phase: .test)
        #expect(test.vocabulary.count == 20 && test.text.count == 5 && test.streamLength == 2)
        let b = try batch(test)  // streams p q | r s
        #expect(b.data == [15, 17, 16, 18] && b.label == [16, 18, 17, 19] && b.cont == [0, 0, 1, 1])
        // TRAIN reads a…o with the same indices as the file of those 15 characters alone.
        let train = try layer("source: twenty.txt, batch_size: 2, seq_length: 3, test_fraction: 0.25")
        #expect(train.text.count == 15 && train.vocabulary.count == 20)
        #expect(try batch(train).data == [0, 7, 1, 8, 2, 9])
    }

    @Test func aListOfFilesIsJoinedInOrderWithOneVocabulary() throws {
        // "abcdef" then "abcdefghijklmno": 21 characters, the vocabulary of both, a…o.
        let l = try layer("source: [short.txt, abc.txt], batch_size: 2, seq_length: 3")
        #expect(l.corpus.paths == [Self.dir + "/short.txt", Self.dir + "/abc.txt"])
        #expect(l.vocabulary == "abcdefghijklmno".map(String.init) && l.text.count == 21 && l.streamLength == 10)
        // Streams: pairs 0…9 (a…f a…d) and 10…19 (e…o), so the second starts at the 11th character, e.
        let b = try batch(l)
        #expect(b.data == [0, 4, 1, 5, 2, 6] && b.label == [1, 5, 2, 6, 3, 7])
        // The other order reads the same characters from other places.
        let swapped = try layer("source: [abc.txt, short.txt], batch_size: 2, seq_length: 3")
        #expect(swapped.vocabulary == l.vocabulary)
        #expect(try batch(swapped).data == [0, 10, 1, 11, 2, 12])
        // Too short together: the message counts the files.
        let message: String
        do { _ = try layer("source: [short.txt, short.txt], batch_size: 2, seq_length: 6"); message = "accepted" } catch { message = "\(error)" }
        #expect(message.contains("seq_length: the 2 files of source: the text has 12 characters, too few for 2 streams of at least seq_length 6 (it needs 13)"), "\(message)")
    }

    @Test func shuffleShiftsEachEpochBySeed() throws {
        // 200 characters, 4 streams of S = 49, T = 5: ten batches cross into the second epoch.
        let param = "source: long.txt, batch_size: 4, seq_length: 5, shuffle: true"
        func run(_ l: TextDataLayer) throws -> [(data: [Float], label: [Float], cont: [Float])] { try (0..<10).map { _ in try batch(l) } }
        let a = try layer(param, seed: 1), b = try layer(param, seed: 1), c = try layer(param, seed: 2)
        let ra = try run(a), rb = try run(b), rc = try run(c)
        #expect(ra.map(\.data) == rb.map(\.data) && ra.map(\.cont) == rb.map(\.cont))
        #expect(ra.map(\.data) != rc.map(\.data))
        #expect(a.shift(epoch: 0) != c.shift(epoch: 0))
        // Step by step: stream j reads pair j·S + (r_e + u) mod S; cont is 0 exactly at an epoch's
        // first step and where the offset is 0; where cont is 1 the input is the last label.
        let text = a.text.map(Float.init), s = 49
        var previous: [Float] = []
        for g in 0..<50 {
            let (bat, t) = (ra[g / 5], g % 5)
            let e = g / s, u = g % s, offset = (a.shift(epoch: e) + u) % s
            let data = Array(bat.data[4 * t..<4 * t + 4]), label = Array(bat.label[4 * t..<4 * t + 4]), cont = Array(bat.cont[4 * t..<4 * t + 4])
            #expect(data == (0..<4).map { text[$0 * s + offset] } && label == (0..<4).map { text[$0 * s + offset + 1] })
            #expect(cont == Array(repeating: u == 0 || offset == 0 ? 0 : 1, count: 4))
            if cont[0] == 1 { #expect(data == previous) }
            previous = label
        }
        // TEST ignores shuffle.
        let test = try layer(param, phase: .test, seed: 1)
        #expect(test.shift(epoch: 0) == 0 && test.shift(epoch: 3) == 0)
    }

    @Test func errorsAreLocatedWithAHint() throws {
        func message(_ param: String, phase: Phase = .train) -> String {
            do { _ = try layer(param, phase: phase); return "accepted" } catch let e as ConfigError { return e.description } catch { return "\(error)" }
        }
        let path = Self.dir + "/"
        let empty = message("source: empty.txt, batch_size: 1, seq_length: 1")
        #expect(empty.hasPrefix("test.yaml:1:") && empty.contains("text_data_param.source: \(path)empty.txt: the text file is empty\nhint: "))
        #expect(message("source: latin1.txt, batch_size: 1, seq_length: 1").contains("\(path)latin1.txt: is not UTF-8: a malformed sequence at byte offset 2 (0xE9)\nhint: convert"))
        #expect(message("source: missing.txt, batch_size: 1, seq_length: 1").contains("\(path)missing.txt: cannot open the text file\nhint: check the path"))
        // In a list, each file is checked and named: an empty one is an error, not a no-op.
        #expect(message("source: [abc.txt, empty.txt], batch_size: 1, seq_length: 1").contains("text_data_param.source: \(path)empty.txt: the text file is empty"))
        #expect(message("source: [abc.txt, latin1.txt], batch_size: 1, seq_length: 1").contains("\(path)latin1.txt: is not UTF-8: a malformed sequence at byte offset 2"))
        #expect(message("source: [], batch_size: 1, seq_length: 1").contains("text_data_param.source"))
        let short = message("source: short.txt, batch_size: 2, seq_length: 3")
        #expect(short.contains("text_data_param.seq_length: \(path)short.txt: the text has 6 characters, too few for 2 streams of at least seq_length 3 (it needs 7)\nhint: lower batch_size or seq_length"))
        #expect(message("source: short.txt, batch_size: 2, seq_length: 2") == "accepted")
        // The TEST split of a fraction 0.25 of 20 characters is 5: too few for 2 × 3.
        #expect(message("source: twenty.txt, batch_size: 2, seq_length: 3, test_fraction: 0.25", phase: .test)
            .contains("its TEST split has 5 characters, too few for 2 streams of at least seq_length 3 (it needs 7)\nhint: lower batch_size or seq_length, or change test_fraction"))
        for bad in ["0", "1", "1.5", "-0.1"] {
            #expect(message("source: twenty.txt, batch_size: 1, seq_length: 1, test_fraction: \(bad)").contains("text_data_param.test_fraction: must be between 0 and 1 (both excluded)"))
        }
        #expect(message("source: twenty.txt, batch_size: 1").contains("seq_length"))
        #expect(message("source: twenty.txt, seq_length: 1").contains("batch_size"))
        #expect(message("source: twenty.txt, batch_size: 0, seq_length: 1").contains("batch_size: must be at least 1"))
        #expect(message("source: twenty.txt, batch_size: 1, seq_length: 1, shufle: true").contains("shufle"))
    }
}
