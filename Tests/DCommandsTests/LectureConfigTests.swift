import DCore
import DData
import DZoo
import Foundation
import Testing

/// The lecture's shipped nets, run for a few iterations on a small synthesised stand-in for
/// Fashion-MNIST: the configs' structure (what is shared, frozen and carried from file to file)
/// is what these check, not what they learn.
@Suite struct LectureConfigTests {
    static let configs = FileManager.default.currentDirectoryPath + "/Configs"

    /// 30 random 28×28 byte images with labels 0…9, under Fashion-MNIST's four file names.
    static func writeFashionStandIn(_ dir: String) throws {
        var rng = RandomStream(seed: 11)
        let pixels = (0..<30 * 784).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let labels = (0..<30).map { UInt8($0 % 10) }
        for split in ["train", "t10k"] {
            try IDXFile(dims: [30, 28, 28], bytes: pixels).write(to: "\(dir)/\(split)-images-idx3-ubyte.gz", gzip: true)
            try IDXFile(dims: [30], bytes: labels).write(to: "\(dir)/\(split)-labels-idx1-ubyte.gz", gzip: true)
        }
    }

    /// Copies a shipped config file into `dir`, reading the stand-in data in batches of 10,
    /// with the textual replacements `edits` on top.
    static func copy(_ file: String, from config: String, to dir: String, edits: [(String, String)] = []) throws {
        var text = try String(contentsOfFile: "\(configs)/\(config)/\(file)", encoding: .utf8)
            .replacingOccurrences(of: "/usr/share/datasets/fashion-mnist", with: dir)
            .replacingOccurrences(of: "batch_size: 100", with: "batch_size: 10")
            .replacingOccurrences(of: "batch_size: 64", with: "batch_size: 10")
        for (old, new) in edits {
            #expect(text.contains(old), "\(config)/\(file) no longer contains '\(old)'")
            text = text.replacingOccurrences(of: old, with: new)
        }
        try text.write(toFile: "\(dir)/\(file)", atomically: true, encoding: .utf8)
    }

    /// Each decoder of the tied autoencoder uses its encoder's weight: its snapshot holds four
    /// weight tensors where net.yaml's holds eight, and one bias per layer in both.
    @Test func tiedAutoencoderKeepsOneWeightPerPair() throws {
        let dir = temporaryDirectory()
        try Self.writeFashionStandIn(dir)
        let short = [("test_iter: [500, 100]", "test_iter: [1, 1]"), ("max_iter: 5000", "max_iter: 2"), ("snapshot: 5000", "snapshot: 2\nsnapshot_prefix: out/ae")]
        for (net, solver) in [("net.yaml", "solver.yaml"), ("net-tied.yaml", "solver-tied.yaml")] {
            try Self.copy(net, from: "fashion-autoencoder", to: dir)
            try Self.copy(solver, from: "fashion-autoencoder", to: dir, edits: short)
            let r = try run("dtrain", ["\(dir)/\(solver)"])
            #expect(r.status == 0, "\(solver): \(r.err)")
            let names = Set(try SafetensorsFile.read("\(dir)/out/ae_iter_2.safetensors").tensors.map(\.name))
            let biases = Set((1...4).flatMap { ["encode\($0).bias", "decode\($0).bias"] })
            let encoders = Set((1...4).map { "encode\($0).weight" }), decoders = Set((1...4).map { "decode\($0).weight" })
            #expect(names == biases.union(encoders).union(net == "net.yaml" ? decoders : []), "\(net): \(names.sorted())")
        }
    }

    /// The greedy chain: each stage reads the one before through its solver's `weights`, keeps
    /// the layers it inherits frozen (`lr_mult: 0`), and fine-tuning starts from all three.
    @Test func pretrainingChainCarriesFrozenEncoders() throws {
        let dir = temporaryDirectory()
        try Self.writeFashionStandIn(dir)
        let short = [("test_iter: 100 ", "test_iter: 1 "), ("_iter_2000", "_iter_2")]
        for file in ["stage-1-net.yaml", "stage-2-net.yaml", "stage-3-net.yaml", "mlp.yaml"] {
            try Self.copy(file, from: "fashion-pretraining", to: dir)
        }
        for stage in 1...3 {
            try Self.copy("stage-\(stage).yaml", from: "fashion-pretraining", to: dir,
                          edits: (stage == 1 ? [] : short.suffix(1)) + [short[0], ("max_iter: 2000", "max_iter: 2"), ("snapshot: 2000", "snapshot: 2")])
            let r = try run("dtrain", ["\(dir)/stage-\(stage).yaml"])
            #expect(r.status == 0, "stage \(stage): \(r.err)")
        }
        try Self.copy("finetune.yaml", from: "fashion-pretraining", to: dir, edits: [short[0], short[1], ("max_iter: 4000", "max_iter: 2"), ("snapshot: 4000", "snapshot: 2")])
        let r = try run("dtrain", ["\(dir)/finetune.yaml"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("copied ip1, ip2, ip3\n  initialised from fillers: ip4\n  ignored (not in this net): decode3"), "\(r.out)")

        func tensor(_ stage: Int, _ name: String) throws -> [Float] {
            try #require(try SafetensorsFile.read("\(dir)/runs/stage-\(stage)_iter_2.safetensors")[name]).values
        }
        // Trained where it is new, then frozen: ip1 changes in stage 1 only, ip2 in stage 2 only.
        #expect(try tensor(2, "ip1.weight") == tensor(1, "ip1.weight"))
        #expect(try tensor(3, "ip1.weight") == tensor(1, "ip1.weight"))
        #expect(try tensor(3, "ip2.weight") == tensor(2, "ip2.weight"))
        #expect(try tensor(3, "ip2.bias") == tensor(2, "ip2.bias"))
        #expect(try SafetensorsFile.read("\(dir)/runs/stage-2_iter_2.safetensors")["decode2.weight"] == nil)
    }
}
