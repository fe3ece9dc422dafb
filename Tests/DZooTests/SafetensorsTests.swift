import DConfig
import DCore
import DLayers
import DNet
@testable import DZoo
import Foundation
import Testing

func temporaryDirectory(_ name: String = #function) -> String {
    let dir = NSTemporaryDirectory() + "dendrite-zoo-tests-\(getpid())-\(name.filter { $0.isLetter || $0.isNumber })"
    try? FileManager.default.removeItem(atPath: dir)
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct SafetensorsTests {
    let file = SafetensorsFile(tensors: [
        ("conv1.weight", .init(shape: [2, 1, 1, 2], values: [1, -2, 3.5, 0])),
        ("conv1.bias", .init(shape: [2], values: [0.25, -0.125])),
    ], metadata: ["iteration": "5", "net": "t\"q"])

    @Test func roundTrip() throws {
        let path = temporaryDirectory() + "/w.safetensors"
        try file.write(to: path)
        #expect(try SafetensorsFile.read(path) == file)
    }

    @Test func layoutIsTheStandardOne() {
        let bytes = file.encoded()
        let n = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        #expect(n % 8 == 0)
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        #expect(header.contains("\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[2,1,1,2],\"data_offsets\":[0,16]}"))
        #expect(header.contains("\"conv1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}"))
        #expect(bytes.count == 8 + n + 24)
        // little-endian float32 1.0 is 00 00 80 3f
        #expect(Array(bytes[(8 + n)..<(8 + n + 4)]) == [0, 0, 0x80, 0x3f])
    }

    /// A header length of 2⁶² (or 2⁶⁴ − 1) is compared with the file's size before anything is
    /// allocated for it.
    @Test func absurdHeaderLengthsAreRefusedByTheFileSize() {
        for length in [UInt64(1) << 62, UInt64.max] {
            let bytes = withUnsafeBytes(of: length.littleEndian, Array.init) + Array("{}".utf8) + [UInt8](repeating: 0, count: 6)
            #expect(throws: FileError(path: "h.safetensors", "not a valid safetensors file: header length \(length) exceeds the file size 16",
                                      hint: "the file is corrupt or truncated; use an earlier snapshot")) {
                try SafetensorsFile.decode(bytes, path: "h.safetensors")
            }
        }
    }

    @Test func shapesThatOverflowAreRefused() {
        for shape in ["[4294967296, 4294967296]", "[4611686018427387904]", "[1000000]"] {
            let header = Array("{\"w\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,32]}}".utf8)
            let length = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init)
            do {
                _ = try SafetensorsFile.decode(length + header + [UInt8](repeating: 0, count: 32), path: "w.safetensors")
                Issue.record("decoded shape \(shape)")
            } catch {
                #expect(error.message.contains("is larger than the file's 32 data bytes"), "\(error.message)")
            }
        }
    }

    /// A file whose header gives `ranges` (two tensors of 2 floats) over `data` bytes.
    func decode(_ ranges: [(Int, Int)], data: Int) throws(FileError) -> SafetensorsFile {
        let entries = ranges.enumerated().map { i, r in "\"t\(i)\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\(r.0),\(r.1)]}" }
        let header = Array("{\(entries.joined(separator: ","))}".utf8)
        let length = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init)
        return try SafetensorsFile.decode(length + header + [UInt8](repeating: 0, count: data), path: "w.safetensors")
    }

    @Test func overlapsAndHolesAreRefused() throws {
        #expect(try decode([(8, 16), (0, 8)], data: 16).tensors.map(\.name) == ["t1", "t0"])
        let cases: [([(Int, Int)], Int, String)] = [
            ([(0, 8), (4, 12)], 12, "tensor 't1' (bytes 4..<12) overlaps tensor 't0' (bytes 0..<8)"),
            ([(0, 8), (0, 8)], 8, "overlaps tensor 't"),
            ([(0, 8), (12, 20)], 20, "bytes 8..<12 of the data belong to no tensor (tensor 't1' starts at 12)"),
            ([(4, 12), (12, 20)], 20, "bytes 0..<4 of the data belong to no tensor (tensor 't0' starts at 4)"),
            ([(0, 8), (8, 16)], 20, "bytes 16..<20 of the data belong to no tensor"),
        ]
        for (ranges, data, message) in cases {
            do {
                _ = try decode(ranges, data: data)
                Issue.record("decoded \(ranges) over \(data) bytes")
            } catch {
                #expect(error.message.hasPrefix("not a valid safetensors file: "), "\(error.message)")
                #expect(error.message.contains(message), "\(error.message)")
                #expect(error.hint?.contains("without overlaps or holes") == true)
            }
        }
    }

    @Test func atomicWritesNeverReplaceLinksOrDevices() throws {
        let dir = temporaryDirectory()
        try "keep".write(toFile: dir + "/target", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/target")
        #expect(throws: FileError.self) { try AtomicFile.write([1, 2, 3], to: dir + "/link") }
        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        do {
            try AtomicFile.write([1], to: dir + "/fifo")
            Issue.record("replaced a FIFO")
        } catch {
            #expect(error.message == "exists and is not a regular file (a device, directory or link); refusing to replace it")
        }
        #expect(try String(contentsOfFile: dir + "/target", encoding: .utf8) == "keep")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/link") == dir + "/target")
    }

    @Test func truncatedFileIsRefused() {
        let bytes = Array(file.encoded().dropLast(3))
        do {
            _ = try SafetensorsFile.decode(bytes, path: "w.safetensors")
            Issue.record("decoded a truncated file")
        } catch {
            #expect(error.message.hasPrefix("not a valid safetensors file: tensor 'conv1.bias' of shape [2] has byte range 16..<24, outside"))
            #expect(error.hint == "the file is corrupt or truncated; use an earlier snapshot")
        }
    }

    @Test func garbageIsRefused() {
        #expect(throws: FileError.self) { try SafetensorsFile.decode([1, 2, 3], path: "x") }
        #expect(throws: FileError.self) { try SafetensorsFile.decode([255, 255, 0, 0, 0, 0, 0, 0, 1], path: "x") }
        var bytes = file.encoded()
        bytes[10] = UInt8(ascii: "#")
        #expect(throws: FileError.self) { try SafetensorsFile.decode(bytes, path: "x") }
    }

    @Test func writeFailureLeavesTheOldFile() throws {
        let dir = temporaryDirectory()
        let path = dir + "/w.safetensors"
        try file.write(to: path)
        // A directory where the temporary file should go makes the write fail midway.
        try FileManager.default.createDirectory(atPath: "\(path).tmp-\(getpid())", withIntermediateDirectories: true)
        #expect(throws: FileError.self) { try SafetensorsFile(tensors: []).write(to: path) }
        #expect(try SafetensorsFile.read(path) == file)
    }

    @Test func createsMissingDirectories() throws {
        let path = temporaryDirectory() + "/a/b/w.safetensors"
        try file.write(to: path)
        #expect(FileManager.default.fileExists(atPath: path))
    }
}

@Suite struct WeightsTests {
    func store(_ layers: String) throws -> ParameterStore {
        let spec = try NetSpec(node: try YAML.parse("layer:\n  - {name: in, type: Input, top: x, input_param: {shape: {dim: [1, 3]}}}\n" + layers, file: "n.yaml"), file: "n.yaml")
        let store = ParameterStore(seed: 1)
        _ = try Net(spec: spec, phase: .train, store: store, context: BuildContext(phase: .train, netFile: "n.yaml", seed: 1))
        return store
    }

    @Test func nonFiniteWeightsAreRefused() throws {
        let net = try store("  - {name: ip1, type: InnerProduct, bottom: x, top: h, inner_product_param: {num_output: 2}}\n")
        let file = SafetensorsFile(tensors: [("ip1.weight", .init(shape: [2, 3], values: [0, 1, .nan, 0, 0, 0])),
                                             ("ip1.bias", .init(shape: [2], values: [0, 0]))])
        do {
            _ = try Weights.load(file, from: "w.safetensors", into: net)
            Issue.record("NaN weights were loaded")
        } catch {
            #expect(error.message == "'ip1.weight' holds NaN or infinite values")
        }
    }

    @Test func copiesByLayerNameAndReports() throws {
        let source = try store("""
              - {name: ip1, type: InnerProduct, bottom: x, top: h, inner_product_param: {num_output: 2}}
              - {name: old, type: InnerProduct, bottom: h, top: y, inner_product_param: {num_output: 5}}
            """)
        let target = try store("""
              - {name: ip1, type: InnerProduct, bottom: x, top: h, inner_product_param: {num_output: 2}}
              - {name: new, type: InnerProduct, bottom: h, top: y, inner_product_param: {num_output: 2}}
            """)
        let file = Weights.file(of: source, metadata: [:])
        let report = try Weights.load(file, from: "w", into: target)
        #expect(report == WeightsLoadReport(copied: ["ip1"], initialised: ["new"], ignored: ["old"]))
        #expect(target["ip1.weight"]!.value.values == source["ip1.weight"]!.value.values)
    }

    @Test func shapeMismatchNamesBothShapesAndSuggestsRenaming() throws {
        let source = try store("  - {name: ip1, type: InnerProduct, bottom: x, top: h, inner_product_param: {num_output: 2}}")
        let target = try store("  - {name: ip1, type: InnerProduct, bottom: x, top: h, inner_product_param: {num_output: 4}}")
        #expect(throws: FileError(path: "w.safetensors", "cannot copy 'ip1.weight': the file has shape 2×3, the net 4×3",
                                  hint: "to learn layer 'ip1' from scratch instead, rename it in the net")) {
            try Weights.load(Weights.file(of: source, metadata: [:]), from: "w.safetensors", into: target)
        }
    }
}
