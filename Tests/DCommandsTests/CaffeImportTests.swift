import DConfig
import DInterop
import DLayers
import DNet
import DZoo
import Foundation
import Testing

/// A LeNet-shaped deploy net in Caffe's current format, smaller (8×8 input), with a BatchNorm.
let caffeLeNet = """
    name: "LeNet"
    layer {
      name: "data"
      type: "Input"
      top: "data"
      input_param { shape: { dim: 1 dim: 1 dim: 8 dim: 8 } }
    }
    layer {
      name: "conv1"
      type: "Convolution"
      bottom: "data"
      top: "conv1"
      param { lr_mult: 1 }
      param { lr_mult: 2 }
      convolution_param {
        num_output: 2
        kernel_size: 3
        stride: 1
        engine: CAFFE
        weight_filler { type: "xavier" }
        bias_filler { type: "constant" }
      }
    }
    layer {
      name: "bn1"
      type: "BatchNorm"
      bottom: "conv1"
      top: "conv1"
    }
    layer {
      name: "pool1"
      type: "Pooling"
      bottom: "conv1"
      top: "pool1"
      pooling_param { pool: MAX kernel_size: 2 stride: 2 }
    }
    layer {
      name: "ip1"
      type: "InnerProduct"
      bottom: "pool1"
      top: "ip1"
      inner_product_param { num_output: 3 weight_filler { type: "xavier" } }
    }
    layer { name: "prob" type: "Softmax" bottom: "ip1" top: "prob" }

    """

/// The same net in the legacy V1 format, with an input header (conv1 and ip1 only).
let caffeV1Net = """
    name: "V1Net"
    input: "data"
    input_dim: 1
    input_dim: 1
    input_dim: 8
    input_dim: 8
    layers {
      name: "conv1"
      type: CONVOLUTION
      bottom: "data"
      top: "conv1"
      blobs_lr: 1
      blobs_lr: 2
      weight_decay: 1
      weight_decay: 0
      convolution_param { num_output: 2 kernel_size: 3 }
    }
    layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
    layers {
      name: "ip1" type: INNER_PRODUCT bottom: "conv1" top: "ip1"
      param: "ip1w"
      inner_product_param { num_output: 3 }
    }
    layers { name: "prob" type: SOFTMAX bottom: "ip1" top: "prob" }

    """

/// Blob values 0, 0.01, 0.02, … for a blob of `shape` (legacy 4-d when `legacy`).
func caffeBlob(_ shape: [Int], legacy: Bool = false, start: Float = 0) -> Caffe_BlobProto {
    var b = Caffe_BlobProto()
    if legacy {
        let d = Array(repeating: 1, count: 4 - shape.count) + shape
        (b.num, b.channels, b.height, b.width) = (Int32(d[0]), Int32(d[1]), Int32(d[2]), Int32(d[3]))
    } else {
        b.shape.dim = shape.map(Int64.init)
    }
    b.data = (0..<shape.reduce(1, *)).map { start + Float($0) / 100 }
    return b
}

/// The weights of `caffeLeNet` as a caffemodel: conv1 with shaped blobs, ip1 with legacy ones,
/// bn1 with a moving-average factor of 4, and a layer the net does not have.
func caffeLeNetModel(convShape: [Int] = [2, 1, 3, 3], dropping: String? = nil) throws -> [UInt8] {
    var net = Caffe_NetParameter()
    net.name = "LeNet"
    func layer(_ name: String, _ type: String, _ blobs: [Caffe_BlobProto]) -> Caffe_LayerParameter {
        var l = Caffe_LayerParameter()
        (l.name, l.type, l.blobs) = (name, type, blobs)
        return l
    }
    var factor = Caffe_BlobProto()
    factor.shape.dim = [1]
    factor.data = [4]
    net.layer = [layer("conv1", "Convolution", [caffeBlob(convShape), caffeBlob([2], start: 1)]),
                 layer("bn1", "BatchNorm", [caffeBlob([2], start: 2), caffeBlob([2], start: 3), factor]),
                 layer("ip1", "InnerProduct", [caffeBlob([3, 18], legacy: true), caffeBlob([3], legacy: true)]),
                 layer("fc_old", "InnerProduct", [caffeBlob([2, 2])])].filter { $0.name != dropping }
    return try net.serializedBytes()
}

@Suite struct CaffeImportTests {
    func write(_ text: String, _ path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func importsANetAndItsWeightsIntoTheZoo() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        try write(caffeLeNet, dir + "/lenet.prototxt")
        try Data(try caffeLeNetModel()).write(to: URL(fileURLWithPath: dir + "/lenet.caffemodel"))
        let r = try run("dzoo", ["import-caffe", dir + "/lenet.prototxt", dir + "/lenet.caffemodel", "--name", "lenet"], zoo: zoo)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix("imported lenet into \(zoo)/lenet: 6 layers, input 1×8×8, weights lenet.safetensors\n"), "\(r.out)")
        #expect(r.out.contains("note: caffemodel layers that the net does not have, ignored: fc_old\n"))
        #expect(!r.out.contains("from the fillers"))

        // The weights, blob i as parameter i; BatchNorm's statistics divided by its factor 4.
        let weights = try SafetensorsFile.read(zoo + "/lenet/lenet.safetensors")
        #expect(weights["conv1.weight"] == .init(shape: [2, 1, 3, 3], values: (0..<18).map { Float($0) / 100 }))
        #expect(weights["conv1.bias"] == .init(shape: [2], values: [1, 1.01]))
        #expect(weights["bn1.mean"] == .init(shape: [2], values: [2 / 4, 2.01 / 4]))
        #expect(weights["bn1.variance"] == .init(shape: [2], values: [3 / 4, 3.01 / 4]))
        #expect(weights["bn1.factor"] == .init(shape: [1], values: [1]))
        #expect(weights["ip1.weight"]?.shape == [3, 18] && weights["ip1.weight"]?.values[17] == 0.17)
        #expect(weights["ip1.bias"] == .init(shape: [3], values: [0, 0.01, 0.02]))

        // The card records both sources; the entry verifies (weights against the deploy net).
        let card = try ModelCard.load(zoo + "/lenet/model.yaml")
        #expect(card.importedFrom.map(\.role) == ["caffe net", "caffe weights"])
        #expect(card.importedFrom[0].sha256 == (try AtomicFile.sha256(dir + "/lenet.prototxt").hex))
        #expect(card.inputShape == [1, 8, 8] && card.solver.isEmpty)
        let verify = try run("dzoo", ["verify", "lenet"], zoo: zoo)
        #expect(verify.status == 0 && verify.out.hasPrefix("ok lenet (user)"), "\(verify.out)\(verify.err)")
        // The net carries over key for key; engine (CAFFE or CUDNN) is dropped.
        let yaml = try String(contentsOfFile: zoo + "/lenet/net.yaml", encoding: .utf8)
        #expect(yaml.contains("    convolution_param: {num_output: 2, kernel_size: [3], stride: [1], weight_filler: {type: xavier}, bias_filler: {type: constant}}\n"), "\(yaml)")
        #expect(yaml.contains("    input_param: {shape: [{dim: [1, 1, 8, 8]}]}\n"))
        #expect(!yaml.contains("engine"))

        // A second import under the same name is refused and changes nothing.
        let again = try run("dzoo", ["import-caffe", dir + "/lenet.prototxt", "--name", "lenet"], zoo: zoo)
        #expect(again.status == 1 && again.err.hasPrefix("\(zoo)/lenet: error: exists already\n"), "\(again.err)")
        #expect(try ModelCard.load(zoo + "/lenet/model.yaml") == card)
    }

    @Test func upgradesV1LayersAndInputHeaders() throws {
        let dir = temporaryDirectory()
        try write(caffeV1Net, dir + "/v1.prototxt")
        let imported = try CaffeImport(prototxt: dir + "/v1.prototxt", caffemodel: nil)
        #expect(imported.net.layers.map(\.type) == ["Convolution", "ReLU", "InnerProduct", "Softmax"])
        #expect(imported.inputShape == [1, 8, 8])
        #expect(imported.initialised == ["conv1", "ip1"])
        #expect(imported.net.yaml.contains("input: [data]\ninput_dim: [1, 1, 8, 8]\n"), "\(imported.net.yaml)")
        #expect(imported.net.yaml.contains("    param: [{lr_mult: 1.0, decay_mult: 1.0}, {lr_mult: 2.0, decay_mult: 0.0}]\n"))
        #expect(imported.net.yaml.contains("    param: [{name: ip1w}]\n"), "\(imported.net.yaml)")
        #expect(imported.weights["conv1.weight"]?.shape == [2, 1, 3, 3])
    }

    /// A prototxt that cannot be read says why, from the error's errno.
    @Test func anUnreadablePrototxtSaysWhy() throws {
        let dir = temporaryDirectory()
        try Data([0x6e, 0x61, 0x6d, 0x65, 0xff, 0xfe]).write(to: URL(fileURLWithPath: dir + "/latin1.prototxt"))
        for (path, reason) in [(dir + "/missing.prototxt", "No such file or directory"), (dir, "Is a directory"),
                               (dir + "/latin1.prototxt", "not UTF-8 text")] {
            #expect(throws: ConfigError(file: path, message: "cannot read the file: \(reason)")) { try CaffeImport(prototxt: path, caffemodel: nil) }
        }
    }

    /// A train net that reads images: its relative data paths, which Dendrite would take from
    /// the zoo entry's directory, are written absolute (from the prototxt's directory), and the
    /// deploy net's input has the data layer's shape.
    @Test func anImageDataNetKeepsItsDataAndInputShape() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
        try Data(Array("P5\n4 4\n255\n".utf8) + (0..<16).map { UInt8($0 * 16) }).write(to: URL(fileURLWithPath: dir + "/images/a.pgm"))
        try write("a.pgm 0\n", dir + "/images/list.txt")
        try write("""
            name: "images"
            layer { name: "data" type: "ImageData" top: "data" top: "label"
              image_data_param { source: "images/list.txt" root_folder: "images/" batch_size: 2 new_height: 8 new_width: 8 is_color: false }
              transform_param { crop_size: 6 } }
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            """, dir + "/net.prototxt")
        let r = try run("dzoo", ["import-caffe", dir + "/net.prototxt", "--name", "images"], zoo: zoo)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix("note: data paths taken from the prototxt's directory, written absolute: images/list.txt, images/\nimported images into \(zoo)/images: 3 layers, input 1×6×6,"), "\(r.out)")
        let net = try String(contentsOfFile: zoo + "/images/net.yaml", encoding: .utf8)
        #expect(net.contains("image_data_param: {source: \(dir)/images/list.txt, batch_size: 2, new_height: 8, new_width: 8, is_color: false, root_folder: \(dir)/images/}"), "\(net)")
        #expect(!net.contains("mean_file"))
        let deploy = try String(contentsOfFile: zoo + "/images/deploy.yaml", encoding: .utf8)
        #expect(deploy.contains("input_param: {shape: {dim: [1, 1, 6, 6]}}"), "\(deploy)")
        // The entry's own net finds the images from the zoo: dtest evaluates on them.
        let check = try run("dtest", ["zoo:images"], zoo: zoo)
        #expect(check.status == 0 && check.out.hasPrefix("test samples=1 batches=1 loss="), "\(check.out)\(check.err)")
    }

    /// Each mistake is one error at its line in the prototxt, and leaves no entry.
    @Test(arguments: [
        ("layer {\n  name: \"a\"\n  type: \"Input\"\n", "4:1: error: expected '}' before the end of the file"),
        (caffeLeNet.replacingOccurrences(of: "kernel_size: 3", with: "kernal_size: 3"), "17:5: error: unknown field 'kernal_size' in layer \"conv1\""),
        // A fork's field holding a message: the field is named, not the first key inside it.
        (caffeLeNet.replacingOccurrences(of: "layer { name: \"prob\"", with: "layer { name: \"bn\" type: \"BatchNorm\" bottom: \"ip1\" top: \"ip1\"\n  batch_norm_param { scale_filler { type: \"constant\" } } }\nlayer { name: \"prob\""),
         "45:22: error: unknown field 'scale_filler' in layer \"bn\""),
        // Inside a message with required fields (Clip's min and max).
        (caffeLeNet.replacingOccurrences(of: "layer { name: \"prob\"", with: "layer { name: \"clip\" type: \"Clip\" bottom: \"ip1\" top: \"ip1\"\n  clip_param { min: 0 maximum: 1 } }\nlayer { name: \"prob\""),
         "45:23: error: unknown field 'maximum' in layer \"clip\""),
        (caffeLeNet.replacingOccurrences(of: "pool: MAX", with: "pool: MAXIMUM"), "35:19: error: 'pool' in layer \"pool1\" has a value Caffe does not know"),
        (caffeLeNet.replacingOccurrences(of: "type: \"Pooling\"", with: "type: \"SPP\""), "32:3: error: layer 'pool1': 'SPP' is a Caffe layer type that Dendrite does not have\n"),
        (caffeLeNet.replacingOccurrences(of: "type: \"Input\"", with: "type: \"Data\""), "4:3: error: layer 'data': 'Data' is a Caffe layer type that Dendrite does not have\n"),
        (caffeLeNet.replacingOccurrences(of: "stride: 1", with: "stride: 0"), "18:5: error: layer 'conv1'"),
    ])
    func aBadNetIsALocatedError(_ text: String, _ expected: String) throws {
        let dir = temporaryDirectory("bad-net-\(abs(text.hashValue))"), zoo = dir + "/zoo"
        try write(text, dir + "/net.prototxt")
        let r = try run("dzoo", ["import-caffe", dir + "/net.prototxt", "--name", "bad"], zoo: zoo)
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("\(dir)/net.prototxt:\(expected)"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count <= 2)
        #expect(!FileManager.default.fileExists(atPath: zoo + "/bad"))
    }

    @Test func aDataLayerPointsAtIDXData() throws {
        let dir = temporaryDirectory()
        try write(caffeLeNet.replacingOccurrences(of: "type: \"Input\"", with: "type: \"Data\""), dir + "/net.prototxt")
        #expect(throws: (any Error).self) { try CaffeImport(prototxt: dir + "/net.prototxt", caffemodel: nil) }
        let r = try run("dzoo", ["import-caffe", dir + "/net.prototxt", "--name", "x"], zoo: dir + "/zoo")
        #expect(r.err.contains("IDXData"), "\(r.err)")
    }

    @Test func badWeightsAreRefusedAndLeaveNoEntry() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        try write(caffeLeNet, dir + "/lenet.prototxt")
        // A blob whose shape does not fit: an error at the layer's line.
        try Data(try caffeLeNetModel(convShape: [2, 1, 5, 5])).write(to: URL(fileURLWithPath: dir + "/wrong.caffemodel"))
        let wrong = try run("dzoo", ["import-caffe", dir + "/lenet.prototxt", dir + "/wrong.caffemodel", "--name", "w"], zoo: zoo)
        #expect(wrong.status == 1)
        #expect(wrong.err.hasPrefix("\(dir)/lenet.prototxt:8:1: error: layer 'conv1' (Convolution): the caffemodel's blob 0 has shape 2×1×5×5, the net's parameter 2×1×3×3\n"), "\(wrong.err)")
        // A truncated file.
        let bytes = try caffeLeNetModel()
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: dir + "/short.caffemodel"))
        let short = try run("dzoo", ["import-caffe", dir + "/lenet.prototxt", dir + "/short.caffemodel", "--name", "s"], zoo: zoo)
        #expect(short.status == 1)
        #expect(short.err.hasPrefix("\(dir)/short.caffemodel: error: not a Caffe model"), "\(short.err)")
        // A caffemodel without a layer's weights (protobuf has no end marker: a file cut between
        // two layers parses): an error at that layer, not random weights.
        try Data(try caffeLeNetModel(dropping: "ip1")).write(to: URL(fileURLWithPath: dir + "/cut.caffemodel"))
        let cut = try run("dzoo", ["import-caffe", dir + "/lenet.prototxt", dir + "/cut.caffemodel", "--name", "c"], zoo: zoo)
        let ip1 = try #require(caffeLeNet.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0 == "  name: \"ip1\"" })
        #expect(cut.status == 1)
        #expect(cut.err.hasPrefix("\(dir)/lenet.prototxt:\(ip1):1: error: layer 'ip1' has no weights in \(dir)/cut.caffemodel\nhint: a truncated download"), "\(cut.err)")
        #expect(!FileManager.default.fileExists(atPath: zoo + "/w") && !FileManager.default.fileExists(atPath: zoo + "/s") && !FileManager.default.fileExists(atPath: zoo + "/c"))
    }
}

/// Caffe's example nets (Tests/CaffeNets: renditions of BVLC Caffe's examples/ and models/)
/// import and build in both phases. The parameter counts are the published ones (LeNet's 431 080,
/// CaffeNet's and AlexNet's 60 965 224, GoogLeNet's 6 998 552) or counted by hand (the
/// CIFAR-10 nets: 5×5 convolutions 3→32→32→64 with biases, then 64×4×4 → 64 → 10 for quick and
/// 64×4×4 → 10 for full).
@Suite struct CaffeExampleNetTests {
    static let directory = FileManager.default.currentDirectoryPath + "/Tests/CaffeNets"

    @Test(arguments: [
        ("lenet.prototxt", 9, "1×28×28", "431,080"),
        ("cifar10_quick.prototxt", 13, "3×32×32", "145,578"),
        ("cifar10_full.prototxt", 14, "3×32×32", "89,578"),
        ("bvlc_reference_caffenet.deploy.prototxt", 24, "3×227×227", "60,965,224"),
        ("bvlc_alexnet.deploy.prototxt", 24, "3×227×227", "60,965,224"),
        ("bvlc_googlenet.deploy.prototxt", 143, "3×224×224", "6,998,552"),
    ])
    func deployNetImportsAndBuilds(_ file: String, _ layers: Int, _ input: String, _ parameters: String) throws {
        let r = try run("dzoo", ["import-caffe", "\(Self.directory)/\(file)", "--name", "example", "--dry-run"], zoo: temporaryDirectory("example-\(file)"))
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("\n  total: \(parameters) parameters ("), "\(r.out)")
        #expect(r.out.hasSuffix("checked: \(layers) layers, input \(input); --dry-run wrote nothing\n"), "\(r.out)")
    }

    /// GoogLeNet's xavier fillers carry a `std`, which Caffe ignores: it is left out, and said.
    @Test func unreadFillerKeysAreLeftOutAndSaid() throws {
        let r = try run("dzoo", ["import-caffe", "\(Self.directory)/bvlc_googlenet.deploy.prototxt", "--name", "g", "--dry-run"], zoo: temporaryDirectory())
        #expect(r.out.hasPrefix("note: filler keys that Caffe ignores for their filler type, left out: conv1/7x7_s2 convolution_param.weight_filler.std, "
                                + "conv2/3x3_reduce convolution_param.weight_filler.std, conv2/3x3 convolution_param.weight_filler.std and 54 more\n"), "\(r.out)")
    }

    /// The train/test nets: their LMDB Data layers are a located error that points at
    /// IDXData and ImageData; with the data layers replaced (by DummyData), they import and
    /// build, the autoencoder's stage-selected TEST layers included.
    @Test(arguments: [
        ("lenet_train_test.prototxt", "4:3", [("mnist", "shape { dim: 64 dim: 1 dim: 28 dim: 28 } shape { dim: 64 }", "top: \"data\" top: \"label\"")], 10, "431,080"),
        ("mnist_autoencoder.prototxt", "4:3", [("data", "shape { dim: 100 dim: 1 dim: 28 dim: 28 }", "top: \"data\"")], 19, "2,837,314"),
    ])
    func trainTestNetImportsWithoutItsDataLayers(_ file: String, _ at: String, _ data: [(name: String, shape: String, tops: String)], _ layers: Int, _ parameters: String) throws {
        let dir = temporaryDirectory("example-\(file)")
        let text = try String(contentsOfFile: "\(Self.directory)/\(file)", encoding: .utf8)
        let r = try run("dzoo", ["import-caffe", "\(Self.directory)/\(file)", "--name", "x"], zoo: dir + "/zoo")
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("\(Self.directory)/\(file):\(at): error: layer '\(data[0].name)': 'Data' is a Caffe layer type that Dendrite does not have\n"
                                + "hint: Data reads LMDB or LevelDB databases; Dendrite reads IDX files with IDXData, or a list of image files with ImageData"), "\(r.err)")
        // Every `layer { … }` block of type Data goes; one DummyData comes first.
        var blocks = text.components(separatedBy: "\nlayer {")
        let header = blocks.removeFirst()
        blocks = blocks.filter { !$0.contains("type: \"Data\"") }
        let dummy = data.map { "\nlayer { name: \"\($0.name)\" type: \"DummyData\" \($0.tops) dummy_data_param { \($0.shape) } }" }.joined()
        try (header + dummy + blocks.map { "\nlayer {" + $0 }.joined()).write(toFile: dir + "/net.prototxt", atomically: true, encoding: .utf8)
        let ok = try run("dzoo", ["import-caffe", dir + "/net.prototxt", "--name", "x", "--dry-run"], zoo: dir + "/zoo")
        #expect(ok.status == 0, "\(ok.err)")
        #expect(ok.out.contains("\n  total: \(parameters) parameters ("), "\(ok.out)")
        #expect(ok.out.hasSuffix("checked: \(layers) layers, input none (no Input layer); --dry-run wrote nothing\n"), "\(ok.out)")
    }

    /// scripts/check-caffe-files, which imports a directory of Caffe's own files: one line per
    /// file by outcome, and the counts.
    @Test func checkCaffeFilesSortsTheOutcomes() throws {
        let dir = temporaryDirectory()
        for file in ["lenet.prototxt", "lenet_train_test.prototxt"] {
            try FileManager.default.copyItem(atPath: "\(Self.directory)/\(file)", toPath: "\(dir)/\(file)")
        }
        try caffeLeNet.replacingOccurrences(of: "kernel_size: 3", with: "kernal_size: 3").write(toFile: dir + "/misspelt.prototxt", atomically: true, encoding: .utf8)
        let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        let r = try run("/bin/bash", ["scripts/check-caffe-files", "--bin", bin, dir], zoo: dir + "/zoo")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == """
            built         \(dir)/lenet.prototxt: checked: 9 layers, input 1×28×28; --dry-run wrote nothing
            missing type  \(dir)/lenet_train_test.prototxt:4:3: error: layer 'mnist': 'Data' is a Caffe layer type that Dendrite does not have
            error         \(dir)/misspelt.prototxt:17:5: error: unknown field 'kernal_size' in layer "conv1"
            3 files: 1 built, 1 missing a type, 1 other located errors, 0 unlocated

            """, "\(r.out)")
    }
}

/// The Python of scripts/bootstrap --interop (a virtual environment with PyPI's protobuf over
/// Debian's PyTorch), when it can import both.
let interopPython: String? = {
    let python = FileManager.default.currentDirectoryPath + "/.venv-interop/bin/python"
    return shell("\(python) -c 'import torch, google.protobuf'") == 0 ? python : nil
}()

/// scripts/interop/caffe_reference.py's caffemodels and PyTorch outputs, written once per test
/// run (the CaffeNet case is a 97 MB caffemodel) for the tests that compare with them.
let caffeReference: String? = {
    guard let python = interopPython else { return nil }
    let dir = temporaryDirectory("caffe-reference")
    return shell("\(python) scripts/interop/caffe_reference.py \(dir)") == 0 ? dir : nil
}()

/// The cases `caffeReference` wrote: each net's name, input shape and compared blob.
func caffeReferenceCases(_ dir: String) throws -> [(name: String, input: [Int], blob: String)] {
    let cases = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/cases.json"))) as? [[String: Any]])
    return try cases.map { c in
        (try #require(c["name"] as? String), try #require(c["input"] as? [Int]), try #require(c["blob"] as? String))
    }
}

/// A file of raw little-endian float32 values.
func rawFloats(_ path: String) throws -> [Float] {
    try Data(contentsOf: URL(fileURLWithPath: path)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

/// `measured` has `expected`'s count, and every value within 1e-5 of the largest magnitude of
/// `expected`, which must exceed `floor` (outputs near 0 would let anything pass).
func expectWithinRelative(_ measured: [Float], _ expected: [Float], floor: Float, _ what: String,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(measured.count == expected.count, "\(what)", sourceLocation: sourceLocation)
    let scale = expected.map(abs).max() ?? 0
    // A NaN on either side counts as the largest difference (max() would pass over it).
    let worst = zip(measured, expected).map { abs($0 - $1) }.map { $0.isNaN ? .infinity : $0 }.max() ?? .infinity
    #expect(scale > floor && worst <= 1e-5 * scale, "\(what): largest difference \(worst) for outputs up to \(scale)", sourceLocation: sourceLocation)
}

@Suite struct CaffeNumericsTests {
    /// Caffemodels written by Python (PyPI protobuf, our caffe.proto) with random weights:
    /// Dendrite's forward pass of the imported net matches PyTorch's forward of the same net
    /// (scripts/interop/caffe_reference.py) to 1e-5 of the output's largest magnitude, for LeNet
    /// (a V1 caffemodel with legacy blob dimensions), CaffeNet at 67×67 and a BatchNorm net.
    @Test(.enabled(if: interopPython != nil, "needs scripts/bootstrap --interop (PyTorch and PyPI's protobuf in .venv-interop)"))
    func importedNetsMatchPyTorch() throws {
        let dir = try #require(caffeReference, "scripts/interop/caffe_reference.py failed")
        let cases = try caffeReferenceCases(dir)
        #expect(cases.map(\.name) == ["lenet", "caffenet", "batchnorm"])
        for (name, _, blob) in cases {
            let imported = try CaffeImport(prototxt: "\(dir)/\(name).prototxt", caffemodel: "\(dir)/\(name).caffemodel")
            #expect(imported.initialised.isEmpty && imported.ignored.isEmpty, "\(name): \(imported.initialised) \(imported.ignored)")
            let net = imported.testNet
            net.data(try #require(net.blob(named: "data"))).copy(from: try rawFloats("\(dir)/\(name).input"))
            try net.forward(StepContext(phase: .test))
            expectWithinRelative(net.data(try #require(net.blob(named: blob))).toArray(), try rawFloats("\(dir)/\(name).output"), floor: 0.1, name)
        }
    }
}
