import DZoo
import Foundation
import Testing

/// `text` with every line indented by `spaces`, to nest a net under a solver key.
func indented(_ text: String, _ spaces: Int = 2) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { String(repeating: " ", count: spaces) + $0 }.joined(separator: "\n")
}

/// Nets written inside the solver (Caffe's net_param, train_net_param, test_net_param).
@Suite struct InlineNetTests {
    /// The tiny solver of EndToEndTests in `dir/sub/solver.yaml` with the tiny net inline as
    /// `net_param`: its data paths (`../images.gz`) are relative to the solver file.
    static func inlineSolver(_ dir: String, solver solverText: String = solver) throws -> String {
        try setUp(dir)
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        let inline = net.replacingOccurrences(of: "images: images.gz, labels: labels.gz", with: "images: ../images.gz, labels: ../labels.gz")
        let text = solverText.replacingOccurrences(of: "net: net.yaml\n", with: "") + "\nnet_param:\n" + indented(inline) + "\n"
        try text.write(toFile: dir + "/sub/solver.yaml", atomically: true, encoding: .utf8)
        return dir + "/sub/solver.yaml"
    }

    /// The train and test lines of a run, without their speeds.
    static func trace(_ out: String) -> [String] {
        out.split(separator: "\n").filter { $0.hasPrefix("train iter=") || $0.hasPrefix("test iter=") }.map { String($0.split(separator: " images/s")[0]) }
    }

    @Test func inlineNetTrainsAsTheSameNetInAFile() throws {
        let dir = temporaryDirectory()
        let inline = try Self.inlineSolver(dir)
        let fromFile = try run("dtrain", [dir + "/solver.yaml"])
        #expect(fromFile.status == 0, "\(fromFile.err)")
        let fromSolver = try run("dtrain", [inline])
        #expect(fromSolver.status == 0, "\(fromSolver.err)")
        // Same seed, same net, same data: the same losses and test results to the last digit.
        #expect(Self.trace(fromSolver.out).count == 9)
        #expect(Self.trace(fromSolver.out) == Self.trace(fromFile.out))
        #expect(fromSolver.out.contains("net 'tiny' (\(inline):11:3 (net_param)), phase TRAIN:\n"), "\(fromSolver.out)")
        // snapshot_prefix out/tiny is relative to the solver too.
        #expect(FileManager.default.fileExists(atPath: dir + "/sub/out/tiny_iter_60.safetensors"))
        let dry = try run("dtrain", [inline, "--dry-run"])
        #expect(dry.out.contains("\n  net_param: (written at \(inline):11:3)\n"), "\(dry.out)")

        // normalize: the TEST data layer finds the TRAIN one in the same inline net (there is no net file to read).
        let text = try String(contentsOfFile: inline, encoding: .utf8).replacingOccurrences(of: "{scale: 0.00390625}", with: "{normalize: per_channel}")
        try text.write(toFile: inline, atomically: true, encoding: .utf8)
        let normalized = try run("dtrain", [inline, "--dry-run"])
        #expect(normalized.status == 0, "\(normalized.err)")
    }

    @Test func inlineTrainAndTestNets() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        let lines = net.split(separator: "\n").map(String.init)
        // The TRAIN net without the TEST data layer and the accuracy, the TEST net without the TRAIN data layer.
        let trainNet = net.replacingOccurrences(of: lines[8...13].joined(separator: "\n") + "\n", with: "")
            .replacingOccurrences(of: "  - {name: accuracy, type: Accuracy, bottom: [s, label], top: accuracy, include: {phase: TEST}}\n", with: "")
        let testNet = net.replacingOccurrences(of: lines[2...7].joined(separator: "\n") + "\n", with: "")
            .replacingOccurrences(of: "name: tiny", with: "name: held-out")
        #expect(trainNet != net && testNet != net)
        let text = solver.replacingOccurrences(of: "net: net.yaml\n", with: "")
            + "\ntrain_net_param:\n" + indented(trainNet) + "\ntest_net_param:\n  -\n" + indented(testNet, 4) + "\n"
        try text.write(toFile: dir + "/inline.yaml", atomically: true, encoding: .utf8)
        let r = try run("dtrain", [dir + "/inline.yaml"])
        #expect(r.status == 0, "\(r.err)")
        let tests = r.out.split(separator: "\n").filter { $0.hasPrefix("test iter=") }
        #expect(tests.count == 3 && tests.allSatisfy { $0.contains(" net=held-out accuracy=") }, "\(r.out)")
        // The same split written as files gives the same run.
        try trainNet.write(toFile: dir + "/train.yaml", atomically: true, encoding: .utf8)
        try testNet.write(toFile: dir + "/test.yaml", atomically: true, encoding: .utf8)
        try solver.replacingOccurrences(of: "net: net.yaml\n", with: "train_net: train.yaml\ntest_net: test.yaml\n")
            .write(toFile: dir + "/files.yaml", atomically: true, encoding: .utf8)
        let files = try run("dtrain", [dir + "/files.yaml"])
        #expect(files.status == 0, "\(files.err)")
        #expect(Self.trace(r.out) == Self.trace(files.out))
    }

    @Test func errorsPointIntoTheSolver() throws {
        let dir = temporaryDirectory()
        let misspelt = try Self.inlineSolver(dir, solver: solver)
        var text = try String(contentsOfFile: misspelt, encoding: .utf8)
        text = text.replacingOccurrences(of: "kernel_size: 3, pad", with: "kernal_size: 3, pad")
        try text.write(toFile: misspelt, atomically: true, encoding: .utf8)
        let r = try run("dtrain", [misspelt])
        #expect(r.status == 1)
        // Line 19, column 40 of the net file: the net starts on line 11 of the solver, indented by 2.
        #expect(r.err == "\(misspelt):29:42: error: layer 'conv' (Convolution): unknown key 'kernal_size' in convolution_param\nhint: did you mean 'kernel_size'?\n")

        try (solver + "\nnet_param: {layer: []}\n").write(toFile: dir + "/both.yaml", atomically: true, encoding: .utf8)
        let both = try run("dtrain", [dir + "/both.yaml"])
        #expect(both.status == 1)
        #expect(both.err.hasPrefix("\(dir)/both.yaml:11:12: error: solver: net_param: give one of net, net_param, train_net and train_net_param, found net and net_param\n"))

        // A data path of an inline net is taken from the solver's directory.
        text = text.replacingOccurrences(of: "kernal_size", with: "kernel_size").replacingOccurrences(of: "images: ../images.gz, labels: ../labels.gz, batch_size: 8, shuffle",
                                                                                                        with: "images: images.gz, labels: ../labels.gz, batch_size: 8, shuffle")
        try text.write(toFile: misspelt, atomically: true, encoding: .utf8)
        let path = try run("dtrain", [misspelt])
        #expect(path.status == 1)
        #expect(path.err.hasPrefix("\(misspelt):17:32: error: layer 'data' (IDXData): idx_data_param.images: \(dir)/sub/images.gz: cannot open the images file\n"), "\(path.err)")
    }

    @Test func zooEntryOfAnInlineNet() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        let inline = try Self.inlineSolver(dir, solver: zooSolver)
        let r = try run("dtrain", [inline], zoo: zoo)
        #expect(r.status == 0, "\(r.err)")
        let card = try ModelCard.load(zoo + "/tiny/model.yaml")
        #expect(card.net == "net.yaml")
        let metrics = try #require(card.metrics)

        // The net is written out as a file of the entry, its data paths rewritten to reach the data.
        let copy = try String(contentsOfFile: zoo + "/tiny/net.yaml", encoding: .utf8)
        #expect(copy.hasPrefix("# net_param of solver.yaml, written out by dtrain with its data paths rewritten for this entry.\nname: tiny\nlayer:\n"), "\(copy)")
        #expect(copy.contains("idx_data_param: {images: \"../../images.gz\", labels: \"../../labels.gz\", batch_size: 8, shuffle: true}"), "\(copy)")
        // The solver copy keeps the net inline, with the same paths.
        let solverCopy = try String(contentsOfFile: zoo + "/tiny/solver.yaml", encoding: .utf8)
        #expect(solverCopy.contains("\nnet_param:\n  name: tiny\n"))
        #expect(solverCopy.contains("images: \"../../images.gz\", labels: \"../../labels.gz\""))
        #expect(!solverCopy.contains("../images.gz, "))

        // dtest zoo:NAME measures what the card says, through the written-out net.
        let json = try run("dtest", ["zoo:tiny", "--json"], zoo: zoo)
        #expect(json.status == 0, "\(json.err)")
        let measured = try jsonOutputs(json.out)
        #expect(!metrics.values.isEmpty)
        for (name, value) in metrics.values { #expect(measured[name] == value, "\(name)") }
        #expect(try run("dzoo", ["verify", "tiny"], zoo: zoo).status == 0)

        // The entry's own solver resumes the run in the entry.
        let resumed = try run("dtrain", [zoo + "/tiny/solver.yaml", "--snapshot", "zoo:tiny@30"], zoo: zoo)
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(resumed.out.contains("resume iter=30 state=\(zoo)/tiny/tiny_iter_30.solverstate"))
        #expect(try ModelCard.load(zoo + "/tiny/model.yaml").metrics?.values.map(\.value) == metrics.values.map(\.value))
    }
}
