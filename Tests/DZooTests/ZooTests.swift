import DConfig
import DCore
import DData
import DLayers
import DNet
import Testing
@testable import DZoo
#if canImport(Glibc)
import Glibc
#endif

private func scratchDirectory(_ name: String = #function) -> String {
    let dir = "/tmp/dendrite-zoo-\(getpid())-\(name.filter { $0.isLetter || $0.isNumber })"
    try? FileSystem.removeTree(dir)
    _ = mkdir(dir, 0o755)
    return dir
}

private func write(_ text: String, _ path: String) throws {
    try AtomicFile.write(Array(text.utf8), to: path)
}

private let tinyNet = """
    # a comment that must survive the copy
    name: tiny
    layer:
      - name: data
        type: IDXData
        top: [data, label]
        transform_param: {scale: 0.5}
        idx_data_param:
          images: "data/images.idx"   # quoted
          labels: data/labels.idx
          batch_size: 2
      - {name: ip, type: InnerProduct, bottom: data, top: s, inner_product_param: {num_output: 3, weight_filler: {type: uniform, min: -0.5, max: 0.5}}}
      - {name: accuracy, type: Accuracy, bottom: [s, label], top: accuracy, include: {phase: TEST}}
      - {name: loss, type: SoftmaxWithLoss, bottom: [s, label], top: loss}
    """

/// A directory with tiny IDX data, the net above and a solver; returns the solver's path.
private func makeConfig(_ dir: String) throws -> String {
    try AtomicFile.createDirectories(for: dir + "/cfg/data/images.idx")
    try IDXFile(dims: [4, 2, 2], bytes: Array(0..<16)).write(to: dir + "/cfg/data/images.idx", gzip: false)
    try IDXFile(dims: [4], bytes: [0, 1, 2, 0]).write(to: dir + "/cfg/data/labels.idx", gzip: false)
    try write(tinyNet, dir + "/cfg/net.yaml")
    try write("net: net.yaml   # the net\nbase_lr: 0.1\nmax_iter: 1\nrandom_seed: 5\n", dir + "/cfg/solver.yaml")
    return dir + "/cfg/solver.yaml"
}

/// A complete zoo entry `root/name` with weights, as dtrain leaves one.
private func makeEntry(_ dir: String, root: String, name: String = "tiny") throws -> ZooEntryWriter {
    let solver = try SolverSpec.load(try makeConfig(dir))
    var card = ModelCard(name: "", provenance: .init(command: "dtrain solver.yaml", dendrite: ModelCard.dendriteVersion, randomSeed: 5, threads: 1, date: "2026-11-27T00:00:00Z"))
    card.classNames = ["a", "b", "c"]
    let writer = try ZooEntryWriter.create(directory: "\(root)/\(name)", solver: solver, card: card, inputShape: [1, 2, 2])
    let store = ParameterStore(seed: 1)
    _ = try Net(spec: try solver.trainNet.load(), phase: .train, store: store,
                context: BuildContext(phase: .train, netFile: solver.trainNet.file, seed: 1))
    try Weights.file(of: store, metadata: [:]).write(to: "\(writer.directory)/\(name)_iter_1.safetensors")
    try writer.update(weights: "\(name)_iter_1.safetensors")
    return writer
}

@Suite struct ModelCardTests {
    @Test func roundTripsThroughYAML() throws {
        var card = ModelCard(name: "m", provenance: .init(command: "dtrain 'a b.yaml' --zoo-name m", dendrite: "0.1.0", randomSeed: 7, threads: 2, date: "2026-11-27T01:02:03Z"))
        card.description = "quotes \" and \\ and a\nnewline, C1 \u{85}\u{80}, separators \u{2028}\u{2029}, DEL \u{7f}, tab \t"
        card.licence = "MIT"
        card.datasetName = "Fashion-MNIST"
        card.datasetFiles = [.init(role: "test images", path: "/d/t10k.gz", sha256: String(repeating: "a", count: 64))]
        card.classNames = ["T-shirt/top", "Ankle boot", "#1", "yes"]
        card.inputShape = [1, 28, 28]
        card.scale = 0.00390625
        card.meanValues = [127.5]
        card.weights = "m_iter_10.safetensors"
        card.metrics = .init(iteration: 10, net: "m", samples: 100, values: [("accuracy", 0.8806000000238419), ("loss", 0.1 + 0.2), ("a, b: {c}", 1)])
        card.snapshots = [5, 10]
        card.files = [.init(path: "net.yaml", size: 12, sha256: String(repeating: "b", count: 64))]
        card.provenance.kernels = "avx2"
        let text = card.yaml()
        let back = try ModelCard(node: try YAML.parse(text, file: "model.yaml"))
        #expect(back == card)
        #expect(back.provenance.kernelsOrPlain == "avx2")
        #expect(back.metrics?.values[0].value == 0.8806000000238419)
    }

    @Test func refusesImpossibleFileRecords() throws {
        var card = ModelCard(name: "m", provenance: .init(command: "", dendrite: "", randomSeed: 0, threads: 1, date: ""))
        for weights in ["../other/w.safetensors", "/abs/w.safetensors", "m_iter_1.solverstate"] {
            card.weights = weights
            #expect(throws: ConfigError.self, "\(weights)") { try ModelCard(node: try YAML.parse(card.yaml(), file: "model.yaml")) }
        }
        card.weights = ""
        card.files = [.init(path: "w", size: -1, sha256: String(repeating: "a", count: 64))]
        #expect(throws: ConfigError.self) { try ModelCard(node: try YAML.parse(card.yaml(), file: "model.yaml")) }
        card.files = [.init(path: "w", size: 1, sha256: "xyz")]
        #expect(throws: ConfigError.self) { try ModelCard(node: try YAML.parse(card.yaml(), file: "model.yaml")) }
    }

    @Test func refusesMeansThatDoNotMatchTheChannels() throws {
        var card = ModelCard(name: "m", provenance: .init(command: "", dendrite: "", randomSeed: 0, threads: 1, date: ""))
        card.inputShape = [3, 4, 4]
        card.meanValues = [1, 2]
        do {
            _ = try ModelCard(node: try YAML.parse(card.yaml(), file: "model.yaml"))
            Issue.record("2 means for 3 channels were accepted")
        } catch {
            #expect(error.message == "model card: input.mean_value: gives 2 means for 3 channels")
        }
        card.meanValues = [1, 2, 3]
        #expect(try ModelCard(node: try YAML.parse(card.yaml(), file: "model.yaml")).meanValues == [1, 2, 3])
    }

    @Test func refusesOtherVersionsAndUnknownKeys() throws {
        let card = ModelCard(name: "m", provenance: .init(command: "", dendrite: "", randomSeed: 0, threads: 1, date: ""))
        let newer = card.yaml().split(separator: "\n").map { $0 == "version: 1" ? "version: 2" : $0 }.joined(separator: "\n")
        #expect(throws: ConfigError.self) { try ModelCard(node: try YAML.parse(newer, file: "model.yaml")) }
        do {
            _ = try ModelCard(node: try YAML.parse(card.yaml() + "weigths: x\n", file: "model.yaml"))
            Issue.record("an unknown key was accepted")
        } catch {
            #expect(error.description.contains("model.yaml:"))
            #expect(error.description.contains("unknown key 'weigths'"))
        }
    }
}

@Suite struct ZooEntryTests {
    /// Caffe's mnist_autoencoder picks its test data layer by stage: the deploy net takes the
    /// first test net's stages, so it has an Input, and it says it has no classifier.
    @Test func deployNetOfAStagedAutoencoder() throws {
        let spec = try NetSpec(node: try YAML.parse("""
            name: ae
            layer:
              - {name: data, type: IDXData, top: data, include: {phase: TRAIN}, idx_data_param: {images: a, labels: b, batch_size: 2}}
              - {name: data, type: IDXData, top: data, include: {phase: TEST, stage: test-on-train}, idx_data_param: {images: a, labels: b, batch_size: 2}}
              - {name: data, type: IDXData, top: data, include: {phase: TEST, stage: test-on-test}, idx_data_param: {images: c, labels: d, batch_size: 2}}
              - {name: flat, type: Flatten, bottom: data, top: flat}
              - {name: code, type: InnerProduct, bottom: data, top: code, inner_product_param: {num_output: 3}}
              - {name: decode, type: InnerProduct, bottom: code, top: decode, inner_product_param: {num_output: 4}}
              - {name: loss, type: SigmoidCrossEntropyLoss, bottom: [decode, flat], top: loss}
            """, file: "net.yaml"), file: "net.yaml")
        let text = DeployNet.text(from: spec, inputShape: [1, 2, 2], state: spec.state(.test, adding: NetStateAddition(stages: ["test-on-test"])))
        #expect(text.hasPrefix("# Deploy net of 'ae', written by dtrain: input one sample, no classifier: its outputs are the last layers' tops.\n"))
        let deploy = try Net(spec: try NetSpec(node: try YAML.parse(text, file: "deploy.yaml"), file: "deploy.yaml"), phase: .test,
                             store: ParameterStore(seed: 0), context: BuildContext(phase: .test, netFile: "deploy.yaml", seed: 0))
        #expect(deploy.nodes.map(\.type) == ["Input", "Flatten", "InnerProduct", "InnerProduct"])
        #expect(deploy.blobs[deploy.nodes[0].tops[0]].shape == Shape([1, 1, 2, 2]))
    }

    @Test func deployNetOfACharacterModel() throws {
        let spec = try NetSpec(node: try YAML.parse("""
            name: chars
            layer:
              - {name: text, type: TextData, top: [data, label, cont], text_data_param: {source: t.txt, batch_size: 2, seq_length: 3}}
              - {name: col, type: Reshape, bottom: data, top: col, reshape_param: {shape: {dim: [0, 0, 1]}}}
              - {name: scores, type: InnerProduct, bottom: col, top: scores, inner_product_param: {num_output: 5, axis: 2}}
              - {name: loss, type: SoftmaxWithLoss, bottom: [scores, label], top: loss, softmax_param: {axis: 2}}
              - {name: bpc, type: Power, bottom: loss, top: bits_per_char, power_param: {scale: 1.4426950408889634}}
            """, file: "net.yaml"), file: "net.yaml")
        // One step of one stream: data and cont [1, 1]; the softmax keeps the loss's axis.
        let text = DeployNet.text(from: spec, inputShape: [1], state: spec.state(.test, adding: nil))
        let deploy = try Net(spec: try NetSpec(node: try YAML.parse(text, file: "deploy.yaml"), file: "deploy.yaml"), phase: .test,
                             store: ParameterStore(seed: 0), context: BuildContext(phase: .test, netFile: "deploy.yaml", seed: 0))
        #expect(deploy.nodes.map(\.type) == ["Input", "Reshape", "InnerProduct", "Softmax"])
        #expect(deploy.nodes[0].tops.map { deploy.blobs[$0].name } == ["data", "cont"])
        #expect(deploy.nodes[0].tops.map { deploy.blobs[$0].shape } == [Shape([1, 1]), Shape([1, 1])])
        #expect(deploy.nodes[3].tops.map { deploy.blobs[$0].shape } == [Shape([1, 1, 5])])
    }

    @Test func textDataSourceIsADataPath() throws {
        let dir = scratchDirectory()
        let net = "name: c\nlayer:\n  - {name: text, type: TextData, top: [data, label], text_data_param: {source: data/t.txt, batch_size: 2, seq_length: 3}}\n"
        try AtomicFile.write(Array(net.utf8), to: dir + "/net.yaml")
        for sub in ["/data", "/zoo"] { _ = mkdir(dir + sub, 0o755) }
        try AtomicFile.write(Array("abc".utf8), to: dir + "/data/t.txt")
        let edits = try ZooEntryWriter.dataPathEdits(.file(dir + "/net.yaml"), entry: dir + "/zoo/entry")
        #expect(edits.map(\.value) == ["../../data/t.txt"])
    }

    @Test func entryHoldsRewrittenCopiesADeployNetAndACard() throws {
        let dir = scratchDirectory()
        let writer = try makeEntry(dir, root: dir + "/zoo")
        let entry = writer.directory
        // The data paths now point from the entry to the data; comments survive.
        let net = String(decoding: try AtomicFile.read(entry + "/net.yaml"), as: UTF8.self)
        #expect(net.contains("# a comment that must survive the copy"))
        #expect(net.contains("images: \"../../cfg/data/images.idx\"   # quoted"))
        #expect(net.contains("labels: \"../../cfg/data/labels.idx\"\n"))
        _ = try Net(spec: try NetSpec.load(entry + "/net.yaml"), phase: .test, store: ParameterStore(seed: 0),
                    context: BuildContext(phase: .test, netFile: entry + "/net.yaml", seed: 0))
        let solver = String(decoding: try AtomicFile.read(entry + "/solver.yaml"), as: UTF8.self)
        #expect(solver.hasPrefix("net: net.yaml   # the net\n"))

        // The deploy net: one input sample, no labels, probabilities out.
        let deploy = try Net(spec: try NetSpec.load(entry + "/deploy.yaml"), phase: .test, store: ParameterStore(seed: 0),
                             context: BuildContext(phase: .test, netFile: entry + "/deploy.yaml", seed: 0))
        #expect(deploy.nodes.map(\.type) == ["Input", "InnerProduct", "Softmax"])
        #expect(deploy.blobs[deploy.nodes[2].tops[0]].name == "prob")
        #expect(deploy.blobs[deploy.nodes[0].tops[0]].shape == Shape([1, 1, 2, 2]))
        // A negative number stays a number.
        #expect(String(decoding: try AtomicFile.read(entry + "/deploy.yaml"), as: UTF8.self).contains("min: -0.5"))

        let card = try ModelCard.load(entry + "/model.yaml")
        #expect(card.files.map(\.path) == ["deploy.yaml", "net.yaml", "solver.yaml", "tiny_iter_1.safetensors"])
        #expect(card.snapshots == [1])
        #expect(card.weights == "tiny_iter_1.safetensors")
        #expect(ZooVerifier.problems(in: entry, card: card).isEmpty)
    }

    @Test func netsWrittenInTheSolverGetFilesOfTheirOwn() throws {
        // train_net_param and test_net_param: the entry gets net.yaml and test_net.yaml written out from the
        // mappings, with the data paths (relative to the solver) rewritten; the card names the test net.
        let dir = scratchDirectory()
        _ = try makeConfig(dir)
        let body = tinyNet.split(separator: "\n").dropFirst().map { "  " + $0 }.joined(separator: "\n")
        let test = body.replacingOccurrences(of: "name: tiny", with: "name: tiny-test")
        try write("train_net_param:\n\(body)\ntest_net_param:\n  -\n\(test.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))\n"
                    + "test_iter: 1\ntest_interval: 1\nbase_lr: 0.1\nmax_iter: 1\n", dir + "/cfg/inline.yaml")
        let solver = try SolverSpec.load(dir + "/cfg/inline.yaml")
        #expect(solver.testNets.map(\.key) == ["test_net_param[0]"])
        let card = ModelCard(name: "", provenance: .init(command: "dtrain inline.yaml", dendrite: ModelCard.dendriteVersion, randomSeed: 5, threads: 1, date: "2026-11-27T00:00:00Z"))
        let entry = try ZooEntryWriter.create(directory: dir + "/zoo/inline", solver: solver, card: card, inputShape: [1, 2, 2]).directory
        #expect(try ModelCard.load(entry + "/model.yaml").net == "test_net.yaml")
        for (file, name) in [("net.yaml", "tiny"), ("test_net.yaml", "tiny-test")] {
            let text = String(decoding: try AtomicFile.read(entry + "/" + file), as: UTF8.self)
            #expect(text.contains("images: \"../../cfg/data/images.idx\""), "\(text)")
            let net = try Net(spec: try NetSpec.load(entry + "/" + file), phase: .test, store: ParameterStore(seed: 0),
                              context: BuildContext(phase: .test, netFile: entry + "/" + file, seed: 0))
            #expect(net.name == name)
        }
        let copy = String(decoding: try AtomicFile.read(entry + "/solver.yaml"), as: UTF8.self)
        #expect(copy.contains("images: \"../../cfg/data/images.idx\"   # quoted"))
        #expect(FileSystem.exists(entry + "/deploy.yaml"))
    }

    @Test func verifyFindsTamperingMissingExtraFilesAndWrongShapes() throws {
        let dir = scratchDirectory()
        let entry = try makeEntry(dir, root: dir + "/zoo").directory
        let card = try ModelCard.load(entry + "/model.yaml")

        var bytes = try AtomicFile.read(entry + "/solver.yaml")
        bytes[0] ^= 1
        try AtomicFile.write(bytes, to: entry + "/solver.yaml")
        try write("x", entry + "/extra.txt")
        let problems = ZooVerifier.problems(in: entry, card: card)
        #expect(problems.contains { $0.hasSuffix("solver.yaml: SHA-256 \(SHA256.hex(bytes)), the card says \(card.files[2].sha256)") })
        #expect(problems.contains { $0.hasSuffix("extra.txt: not listed in the card") })

        unlink(entry + "/extra.txt")
        bytes[0] ^= 1
        try AtomicFile.write(bytes, to: entry + "/solver.yaml")
        // Weights of another shape, with a card that is consistent about them.
        try SafetensorsFile(tensors: [("ip.weight", .init(shape: [2, 4], values: Array(repeating: 0, count: 8))),
                                      ("ip.bias", .init(shape: [3], values: [0, 0, 0]))]).write(to: entry + "/tiny_iter_1.safetensors")
        var resealed = card
        resealed.files[3] = try ZooVerifier.record(entry, "tiny_iter_1.safetensors")
        #expect(ZooVerifier.problems(in: entry, card: resealed) == ["\(entry)/tiny_iter_1.safetensors: 'ip.weight' has shape 2×4, the net 3×4"])

        var reshaped = resealed
        reshaped.inputShape = [1, 28, 28]
        #expect(ZooVerifier.problems(in: entry, card: reshaped).contains("\(entry)/model.yaml: input.shape is [1, 28, 28], the deploy net's input 1×2×2"))

        unlink(entry + "/tiny_iter_1.safetensors")
        #expect(ZooVerifier.problems(in: entry, card: card).contains("\(entry)/tiny_iter_1.safetensors: missing"))
    }

    @Test func newRunsNeverReuseADirectory() throws {
        let dir = scratchDirectory()
        #expect(ZooEntryWriter.freshDirectory(root: dir, name: "m") == dir + "/m")
        _ = mkdir(dir + "/m", 0o755)
        _ = mkdir(dir + "/m-2", 0o755)
        #expect(ZooEntryWriter.freshDirectory(root: dir, name: "m") == dir + "/m-3")
    }

    @Test func referencesAndNames() throws {
        #expect(Zoo.reference("zoo:fashion-lenet")! == ("fashion-lenet", nil))
        #expect(Zoo.reference("zoo:fashion-lenet@5000")! == ("fashion-lenet", 5000))
        #expect(Zoo.reference("zoo:m@x")! == ("m", -1))
        #expect(Zoo.reference("weights.safetensors") == nil)
        #expect(Zoo.isValidName("fashion-lenet_2.b"))
        for bad in ["", ".hidden", "a/b", "..", "a b", "ü"] { #expect(!Zoo.isValidName(bad), "\(bad)") }

        let dir = scratchDirectory()
        _ = try makeEntry(dir, root: dir + "/user")
        let zoo = Zoo(userRoot: dir + "/user", repositoryRoot: dir + "/none")
        #expect(try zoo.resolveWeights("zoo:tiny").path == dir + "/user/tiny/tiny_iter_1.safetensors")
        #expect(try zoo.resolveWeights("zoo:tiny@1").path == dir + "/user/tiny/tiny_iter_1.safetensors")
        #expect(try zoo.resolveWeights("w.safetensors").path == "w.safetensors")
        #expect(throws: FileError.self) { try zoo.resolveWeights("zoo:tiny@2") }
        do {
            _ = try zoo.resolveWeights("zoo:tiyn")
            Issue.record("a misspelt name resolved")
        } catch {
            #expect(error.hint == "did you mean 'tiny'?")
        }
    }

    @Test func referencesBetweenTreesAreRelativeElseAbsolute() {
        #expect(FileSystem.reference(to: "/work/main/Configs/xor/a.idx", from: "/work/main/ModelZoo/xor") == "../../Configs/xor/a.idx")
        #expect(FileSystem.reference(to: "/usr/share/datasets/f.gz", from: "/root/.dendrite/zoo/m") == "/usr/share/datasets/f.gz")
        #expect(FileSystem.absolute("/a/./b/../c") == "/a/c")
    }
}
