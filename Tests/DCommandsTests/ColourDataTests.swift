import CSTBImage
import DData
import DZoo
import Foundation
import Testing

/// 40 colour images, 3×4×4 channels first: class 0 is reddish, class 1 bluish, with noise.
func writeColourData(_ dir: String, floats: Bool = false, seed: UInt64 = 5) throws {
    var rng = SplitMix(seed: seed)
    var pixels: [UInt8] = [], labels: [UInt8] = []
    for i in 0..<40 {
        labels.append(UInt8(i % 2))
        for c in 0..<3 {
            let base = c == (i % 2 == 0 ? 0 : 2) ? 170 : 60
            for _ in 0..<16 { pixels.append(UInt8(base + Int(rng.next() % 50))) }
        }
    }
    if floats {
        try IDXFile(dims: [40, 3, 4, 4], floats: pixels.map { Float($0) / 255 }).write(to: dir + "/images.gz", gzip: true)
    } else {
        try IDXFile(dims: [40, 3, 4, 4], bytes: pixels).write(to: dir + "/images.gz", gzip: true)
    }
    try IDXFile(dims: [40], bytes: labels).write(to: dir + "/labels.gz", gzip: true)
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Rank-4 (colour) and float IDX data through dtrain, the zoo, dtest and --predict.
@Suite struct ColourDataTests {
    let colourSolver = zooSolver.replacingOccurrences(of: "class_names: [bright top, bright bottom]", with: "class_names: [red, blue]")

    @Test func aColourNetTrainsAndPredictsFromColourAndGreyFiles() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        try writeColourData(dir)
        let colourNet = net.replacingOccurrences(of: "transform_param: {scale: 0.00390625}", with: "transform_param: {scale: 0.00390625, mean_value: [100, 100, 100]}")
        try setUp(dir, net: colourNet, solver: colourSolver)
        try writeColourData(dir)  // setUp wrote the grey data
        let train = try run("dtrain", [dir + "/solver.yaml"], zoo: zoo)
        #expect(train.status == 0, "\(train.err)")
        #expect(train.out.contains("data → conv      8×3×4×4"), "\(train.out)")
        let card = try ModelCard.load(zoo + "/tiny/model.yaml")
        #expect(card.inputShape == [3, 4, 4] && card.inputType == .bytes && card.meanValues == [100, 100, 100])
        #expect(try String(contentsOfFile: zoo + "/tiny/deploy.yaml", encoding: .utf8).contains("dim: [1, 3, 4, 4]"))
        #expect(try run("dzoo", ["verify", "tiny"], zoo: zoo).status == 0)
        let test = try run("dtest", ["zoo:tiny"], zoo: zoo)
        #expect(test.out.hasPrefix("test samples=40 batches=5 accuracy=1 "), "\(test.out)\(test.err)")

        // Training samples 0 (red) and 1 (blue) as colour PNG files get their classes; a grey
        // file is given three equal channels, as an RGB file with equal channels is.
        let images = try IDXFile.read(dir + "/images.gz", expectedRanks: 4...4, role: "images")
        func interleaved(_ n: Int) -> [UInt8] {
            (0..<16).flatMap { i in (0..<3).map { c in images.bytes[n * 48 + c * 16 + i] } }
        }
        #expect(stbi_write_png(dir + "/red.png", 4, 4, 3, interleaved(0), 12) != 0)
        #expect(stbi_write_png(dir + "/blue.png", 4, 4, 3, interleaved(1), 12) != 0)
        let plane = Array(images.bytes[16..<32])
        #expect(stbi_write_png(dir + "/grey.png", 4, 4, 1, plane, 4) != 0)
        #expect(stbi_write_png(dir + "/grey3.png", 4, 4, 3, plane.flatMap { [$0, $0, $0] }, 12) != 0)
        let r = try run("dtest", ["zoo:tiny", "--top", "2", "--predict", dir + "/red.png", dir + "/blue.png", dir + "/grey.png", dir + "/grey3.png"], zoo: zoo)
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").filter { $0.hasPrefix("predict ") }
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("predict file=\(dir)/red.png class=0 "), "\(r.out)")
        #expect(lines[1].hasPrefix("predict file=\(dir)/blue.png class=1 "), "\(r.out)")
        let greyTable = r.out.components(separatedBy: "predict file=\(dir)/grey").dropFirst().map { $0.split(separator: "\n").dropFirst().joined(separator: "\n") }
        #expect(greyTable.count == 2 && greyTable[0] == greyTable[1], "\(r.out)")
    }

    /// A grey model given a colour file: stb_image converts it to grey (luminance).
    @Test func aGreyModelTakesColourFiles() throws {
        let dir = temporaryDirectory()
        let images = try IDXFile.read("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", expectedRanks: 3...3, role: "images")
        let grey = Array(images.bytes[0..<784])
        #expect(stbi_write_png(dir + "/grey.png", 28, 28, 1, grey, 28) != 0)
        #expect(stbi_write_png(dir + "/rgb.png", 28, 28, 3, grey.flatMap { [$0, $0, $0] }, 84) != 0)
        let r = try run("dtest", ["zoo:fashion-lenet", "--json", "--predict", dir + "/grey.png", dir + "/rgb.png"], zoo: dir + "/zoo")
        #expect(r.status == 0, "\(r.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let predictions = try #require(object["predictions"] as? [[String: Any]])
        // An RGB file with equal channels is the grey image again.
        let tops = predictions.compactMap { ($0["top"] as? [[String: Any]])?.first?["probability"] as? Double }
        #expect(tops.count == 2 && tops[0] == tops[1], "\(r.out)")
    }

    @Test func floatDataTrainsAndIsNotForPredict() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        try setUp(dir, net: net.replacingOccurrences(of: "transform_param: {scale: 0.00390625}", with: "transform_param: {scale: 1}"), solver: colourSolver)
        try writeColourData(dir, floats: true)
        let train = try run("dtrain", [dir + "/solver.yaml"], zoo: zoo)
        #expect(train.status == 0, "\(train.err)")
        let card = try ModelCard.load(zoo + "/tiny/model.yaml")
        #expect(card.inputShape == [3, 4, 4] && card.inputType == .floats)
        #expect(try run("dtest", ["zoo:tiny"], zoo: zoo).out.hasPrefix("test samples=40 batches=5 accuracy=1 "))
        try Data(Array("P5\n4 4\n255\n".utf8) + [UInt8](repeating: 1, count: 16)).write(to: URL(fileURLWithPath: dir + "/x.pgm"))
        let p = try run("dtest", ["zoo:tiny", "--predict", dir + "/x.pgm"], zoo: zoo)
        #expect(p.status == 1)
        #expect(p.err.hasPrefix("error: --predict classifies image files; 'tiny' was trained on float IDX data"), "\(p.err)")
    }

    /// ImageData: the colour samples as PNG files listed in a text file, trained into the zoo;
    /// the entry's copy of the net finds the list from the entry.
    @Test func imageDataTrainsFromAListOfFiles() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        try FileManager.default.createDirectory(atPath: dir + "/png", withIntermediateDirectories: true)
        try writeColourData(dir)
        let images = try IDXFile.read(dir + "/images.gz", expectedRanks: 4...4, role: "images")
        var list = ""
        for n in 0..<40 {
            let pixels = (0..<16).flatMap { i in (0..<3).map { c in images.bytes[n * 48 + c * 16 + i] } }
            #expect(stbi_write_png(dir + "/png/\(n).png", 4, 4, 3, pixels, 12) != 0)
            list += "\(n).png \(n % 2)\n"
        }
        try list.write(toFile: dir + "/png/list.txt", atomically: true, encoding: .utf8)
        let imageNet = net.replacingOccurrences(of: "type: IDXData", with: "type: ImageData")
            .replacingOccurrences(of: "idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8, shuffle: true}",
                                  with: "image_data_param: {source: png/list.txt, batch_size: 8, shuffle: true}")
            .replacingOccurrences(of: "idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8}",
                                  with: "image_data_param: {source: png/list.txt, batch_size: 8}")
        try imageNet.write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
        try colourSolver.write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
        let train = try run("dtrain", [dir + "/solver.yaml"], zoo: zoo)
        #expect(train.status == 0, "\(train.err)")
        #expect(train.out.contains("  data   ImageData        → data, label    8×3×4×4, 8  0\n"), "\(train.out)")
        #expect(try ModelCard.load(zoo + "/tiny/model.yaml").inputShape == [3, 4, 4])
        #expect(try String(contentsOfFile: zoo + "/tiny/net.yaml", encoding: .utf8).contains("source: \"../../png/list.txt\""))
        // The same model as the IDX data gives: the same bytes in the same order.
        let viaZoo = try run("dtest", ["zoo:tiny"], zoo: zoo)
        #expect(viaZoo.out.hasPrefix("test samples=40 batches=5 accuracy=1 "), "\(viaZoo.out)\(viaZoo.err)")
        #expect(try run("dzoo", ["verify", "tiny"], zoo: zoo).status == 0)

        // A bad line is located in the list, under the net's location of `source`.
        try "0.png 0\n1.png one\n".write(toFile: dir + "/png/list.txt", atomically: true, encoding: .utf8)
        let bad = try run("dtrain", [dir + "/solver.yaml"], zoo: zoo)
        #expect(bad.status == 1)
        #expect(bad.err.contains("error: layer 'data' (ImageData): image_data_param.source: \(dir)/png/list.txt:2: the label 'one' is not a class index"), "\(bad.err)")
        // A label beyond the net's classes is found when the net is built, at its line (after a
        // comment and a blank line, the second sample is on line 4).
        try "# path label\n0.png 0\n\n1.png 7\n".write(toFile: dir + "/png/list.txt", atomically: true, encoding: .utf8)
        let range = try run("dtrain", [dir + "/solver.yaml"], zoo: zoo)
        #expect(range.status == 1)
        #expect(range.err.hasPrefix("\(dir)/png/list.txt:4: error: label 7 of sample 1 is not a class index in 0..<2 of layer 'loss' (SoftmaxWithLoss)\n"), "\(range.err)")
    }

    /// The grid: N rows of a plain and a distorted cell, enlarged to at least 96 pixels; the
    /// plain cell is the sample itself.
    @Test func showAugmentDrawsPlainAndDistortedSamples() throws {
        let dir = temporaryDirectory()
        try setUp(dir, net: net.replacingOccurrences(of: "transform_param: {scale: 0.00390625}\n    idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8, shuffle: true}",
                                                     with: "transform_param: {scale: 0.00390625, rotation: 30, elastic_alpha: 2, elastic_sigma: 1}\n    idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8, shuffle: true}"))
        try writeColourData(dir)
        let r = try run("dtest", ["--model", dir + "/net.yaml", "--show-augment", "3", "--out", dir + "/grid.png"])
        #expect(r.status == 0, "\(r.err)")
        // Cells of 4×4 enlarged 24 times to 96×96, 4-pixel gaps: 2·96 + 12 by 3·100 + 4.
        #expect(r.out == "show-augment samples=3 seed=1 out=\(dir)/grid.png size=204x304\n")
        var w: Int32 = 0, h: Int32 = 0, c: Int32 = 0
        let pixels = try #require(stbi_load(dir + "/grid.png", &w, &h, &c, 3))
        defer { stbi_image_free(pixels) }
        #expect(w == 204 && h == 304 && c == 3)
        let images = try IDXFile.read(dir + "/images.gz", expectedRanks: 4...4, role: "images")
        func cell(_ row: Int, _ column: Int) -> [UInt8] {
            var out: [UInt8] = []
            for p in 0..<16 {
                let y = 4 + row * 100 + (p / 4) * 24 + 12, x = 4 + column * 100 + (p % 4) * 24 + 12
                for ch in 0..<3 { out.append(pixels[(y * 204 + x) * 3 + ch]) }
            }
            return out
        }
        for row in 0..<3 {
            var sample: [UInt8] = []
            for p in 0..<16 { for ch in 0..<3 { sample.append(images.bytes[row * 48 + ch * 16 + p]) } }
            let plain = cell(row, 0), distorted = cell(row, 1)
            #expect(plain == sample)
            #expect(distorted != plain)
        }
        let bad = try run("dtest", ["--model", dir + "/net.yaml", "--show-augment", "3", "--out", dir + "/grid.jpg"])
        #expect(bad.status != 0 && bad.err.contains("--show-augment N writes a PNG file: give --out FILE.png"), "\(bad.err)")
    }

    /// The training data's statistics are applied alike by dtrain's test net, dtest and
    /// --predict (from the card or the entry's statistics file), and dtest notices when the
    /// training data they came from changed.
    /// The same for Caffe's `mean_file` (an IDX mean image), stored in the entry for --predict.
    @Test(arguments: ["per_channel", "per_pixel", "zca", "mean_file"])
    func normalizedModelsPredictAsTheyTest(_ mode: String) throws {
        let dir = temporaryDirectory("normalized-\(mode)"), zoo = dir + "/zoo"
        let transform = mode == "mean_file" ? "{scale: 0.00390625, mean_file: mean.idx}" : "{normalize: \(mode)}"
        let normalized = net.replacingOccurrences(of: "transform_param: {scale: 0.00390625}", with: "transform_param: \(transform)")
        try setUp(dir, net: normalized, solver: colourSolver)
        try writeColourData(dir)
        let meanImage = (0..<48).map { Float($0 * 5) }
        try IDXFile(dims: [3, 4, 4], floats: meanImage).write(to: dir + "/mean.idx", gzip: false)
        #expect(try run("dtrain", [dir + "/solver.yaml"], zoo: zoo).status == 0)
        let card = try ModelCard.load(zoo + "/tiny/model.yaml")
        #expect(card.normalize == (mode == "mean_file" ? "" : mode))
        #expect(card.statistics == (["per_pixel", "zca"].contains(mode) ? "statistics.safetensors" : ""))
        #expect(card.normalizeMean.count == (mode == "per_channel" ? 3 : 0))
        #expect(card.meanFile == (mode == "mean_file" ? "mean.safetensors" : ""))
        if mode == "mean_file" {
            #expect(try SafetensorsFile.read(zoo + "/tiny/mean.safetensors")["mean"]?.values == meanImage)
        }
        #expect(try run("dzoo", ["verify", "tiny"], zoo: zoo).status == 0)
        let json = try run("dtest", ["zoo:tiny", "--json"], zoo: zoo)
        let measured = try jsonOutputs(json.out)
        for (name, value) in try #require(card.metrics).values { #expect(measured[name] == value, "\(name)") }

        // --predict on samples 0 and 1 as PNG files gives the test net's probabilities.
        let dump = try run("dtest", ["zoo:tiny", "--dump", "s", "--out", dir + "/s.safetensors"], zoo: zoo)
        #expect(dump.status == 0, "\(dump.err)")
        let scores = try #require(try SafetensorsFile.read(dir + "/s.safetensors")["s"])
        let images = try IDXFile.read(dir + "/images.gz", expectedRanks: 4...4, role: "images")
        var files: [String] = []
        for n in 0..<2 {
            var pixels: [UInt8] = []
            for p in 0..<16 { for c in 0..<3 { pixels.append(images.bytes[n * 48 + c * 16 + p]) } }
            #expect(stbi_write_png(dir + "/\(n).png", 4, 4, 3, pixels, 12) != 0)
            files.append(dir + "/\(n).png")
        }
        let r = try run("dtest", ["zoo:tiny", "--json", "--top", "2", "--predict"] + files, zoo: zoo)
        #expect(r.status == 0, "\(r.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let predictions = try #require(object["predictions"] as? [[String: Any]])
        for n in 0..<2 {
            let logits = scores.values[(2 * n)..<(2 * n + 2)].map(Double.init)
            let p1 = 1 / (1 + exp(logits[0] - logits[1]))
            let top = try #require(predictions[n]["top"] as? [[String: Any]])
            let probability = top.first { ($0["class"] as? Int) == 1 }?["probability"] as? Double
            #expect(abs((probability ?? -1) - p1) < 1e-5, "sample \(n): \(probability ?? -1) against \(p1)")
        }

        // Other training data: the statistics would change, and dtest says so.
        guard mode != "mean_file" else { return }
        try writeColourData(dir, floats: false, seed: 6)
        let changed = try run("dtest", ["zoo:tiny"], zoo: zoo)
        #expect(changed.status == 1)
        #expect(changed.err.hasPrefix("\(dir)/images.gz: error: is not the training data of 'tiny' (its SHA-256 differs from the card's)"), "\(changed.err)")
    }

    @Test func meanValuesMustMatchTheChannels() throws {
        let dir = temporaryDirectory()
        try setUp(dir, net: net.replacingOccurrences(of: "transform_param: {scale: 0.00390625}", with: "transform_param: {scale: 0.00390625, mean_value: [1, 2]}"))
        try writeColourData(dir)
        let r = try run("dtrain", [dir + "/solver.yaml"])
        #expect(r.status == 1)
        #expect(r.err.contains("error: layer 'data' (IDXData): transform_param.mean_value: gives 2 means for 3 channels"), "\(r.err)")
    }
}

/// Every shipped solver builds its nets (every key of every layer checked) with `--dry-run`.
@Suite struct ShippedConfigTests {
    static let root = FileManager.default.currentDirectoryPath + "/Configs"
    static let solvers = ["fashion-lenet/solver.yaml", "fashion-augment/solver.yaml", "fashion-mlp/solver.yaml", "fashion-mlp/early-stopping.yaml",
                          "fashion-deep-mlp/solver.yaml", "fashion-deep-mlp/solver-elastic.yaml", "fashion-committee/solver.yaml",
                          "fashion-best/solver.yaml", "fashion-best/validation-solver.yaml", "fashion-autoencoder/solver.yaml", "fashion-autoencoder/solver-tied.yaml",
                          "fashion-footwear/solver.yaml", "fashion-footwear/scratch-solver.yaml", "xor/solver.yaml", "xor/perceptron-solver.yaml",
                          "fashion-bn/solver.yaml", "fashion-bn/solver-5x.yaml", "fashion-bn/plain.yaml", "fashion-bn/plain-5x.yaml",
                          "fashion-pretraining/stage-1.yaml", "fashion-pretraining/stage-2.yaml", "fashion-pretraining/stage-3.yaml",
                          "fashion-pretraining/finetune.yaml", "fashion-pretraining/scratch.yaml", "char-lstm/solver.yaml"]

    @Test(arguments: solvers) func builds(_ solver: String) throws {
        let r = try run("dtrain", [Self.root + "/" + solver, "--dry-run"])
        #expect(r.status == 0, "\(solver): \(r.err)")
    }

    /// Its data is made by scripts/make-tinted-fashion, which CI does not run (30 s).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: root + "/cifar10-quick/data/tinted-train-images-idx4-ubyte")))
    func cifar10QuickBuilds() throws {
        let r = try run("dtrain", [Self.root + "/cifar10-quick/solver.yaml", "--dry-run"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("100×3×32×32"), "\(r.out)")
    }
}
