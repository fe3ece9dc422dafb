import DCore
import DData
import Foundation
import Testing

/// Runs one of the built executables (they sit next to the test bundle) and returns its exit
/// status and output. The user zoo is a scratch directory unless `zoo` names one, so that no
/// test writes into ~/.dendrite; `directory` is the working directory (default: this process's).
/// dtrain and dtest run on 2 threads unless `--threads` is given:
/// the tests compare runs bit for bit, and the bits depend on the thread count (workers' partial
/// sums are added in worker order), which would otherwise follow the machine's core count.
func run(_ tool: String, _ arguments: [String], zoo: String? = nil, environment extra: [String: String] = [:],
         directory: String? = nil) throws -> (status: Int32, out: String, err: String) {
    let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    let process = Process()
    process.executableURL = tool.hasPrefix("/") ? URL(fileURLWithPath: tool) : bin.appendingPathComponent(tool)
    let pinned = (tool == "dtrain" || tool == "dtest") && !arguments.contains("--threads")
    process.arguments = arguments + (pinned ? ["--threads", "2"] : [])
    var environment = ProcessInfo.processInfo.environment
    environment["DENDRITE_ZOO"] = zoo ?? NSTemporaryDirectory() + "dendrite-e2e-\(getpid())-default-zoo"
    environment.merge(extra) { $1 }
    process.environment = environment
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationReason == .exit, "\(tool) crashed: \(String(decoding: e, as: UTF8.self))")
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func temporaryDirectory(_ name: String = #function) -> String {
    let dir = NSTemporaryDirectory() + "dendrite-e2e-\(getpid())-\(name.filter { $0.isLetter || $0.isNumber })"
    try? FileManager.default.removeItem(atPath: dir)
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// 40 4×4 images of two classes (bright top or bright bottom half) with labels.
func writeData(_ dir: String) throws {
    var rng = RandomStream(seed: 3)
    var pixels: [UInt8] = [], labels: [UInt8] = []
    for i in 0..<40 {
        labels.append(UInt8(i % 2))
        for p in 0..<16 { pixels.append(UInt8(((p < 8) == (i % 2 == 0) ? 160 : 40) + Int(rng.next() % 60))) }
    }
    try IDXFile(dims: [40, 4, 4], bytes: pixels).write(to: dir + "/images.gz", gzip: true)
    try IDXFile(dims: [40], bytes: labels).write(to: dir + "/labels.gz", gzip: true)
}

let net = """
    name: tiny
    layer:
      - name: data
        type: IDXData
        top: [data, label]
        transform_param: {scale: 0.00390625}
        idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8, shuffle: true}
        include: {phase: TRAIN}
      - name: data
        type: IDXData
        top: [data, label]
        transform_param: {scale: 0.00390625}
        idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8}
        include: {phase: TEST}
      - name: conv
        type: Convolution
        bottom: data
        top: conv
        convolution_param: {num_output: 3, kernel_size: 3, pad: 1}
      - {name: pool, type: Pooling, bottom: conv, top: pool, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}
      - {name: relu, type: ReLU, bottom: pool, top: pool}
      - {name: ip, type: InnerProduct, bottom: pool, top: s, inner_product_param: {num_output: 2}}
      - {name: accuracy, type: Accuracy, bottom: [s, label], top: accuracy, include: {phase: TEST}}
      - {name: loss, type: SoftmaxWithLoss, bottom: [s, label], top: loss}
    """

let solver = """
    net: net.yaml
    base_lr: 0.1
    momentum: 0.9
    max_iter: 60
    test_iter: 5
    test_interval: 30
    display: 10
    snapshot: 30
    snapshot_prefix: out/tiny
    random_seed: 2
    """

func setUp(_ dir: String, net netText: String = net, solver solverText: String = solver) throws {
    try writeData(dir)
    try netText.write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
    try solverText.write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
}

@Suite struct TrainAndTestTests {
    @Test func trainThenTestReproducesTheFinalTest() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        let train = try run("dtrain", [dir + "/solver.yaml", "--threads", "2"])
        #expect(train.status == 0, "\(train.err)")
        let lines = train.out.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("  conv   Convolution      data → conv      8×3×4×4     30") })
        // 5 iterations per epoch: 50 completed before iteration 50, as a test line there says too.
        #expect(lines.contains { $0.hasPrefix("train iter=50/60 epoch=10.00 loss=") })
        #expect(lines.filter { $0.hasPrefix("test iter=") }.count == 3)
        #expect(lines.contains("snapshot iter=30 weights=\(dir)/out/tiny_iter_30.safetensors state=\(dir)/out/tiny_iter_30.solverstate"))
        #expect(lines.contains("snapshot iter=60 weights=\(dir)/out/tiny_iter_60.safetensors state=\(dir)/out/tiny_iter_60.solverstate"))
        #expect(lines.last?.hasPrefix("done iter=60 seconds=") == true && lines.last?.hasSuffix(" stopped=max_iter") == true)
        let finalTest = try #require(lines.last { $0.hasPrefix("test iter=60 epoch=12.00 net=tiny ") })

        let test = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/out/tiny_iter_60.safetensors"])
        #expect(test.status == 0, "\(test.err)")
        // 5 batches of 8 cover the 40 samples in order, as the final test during training did.
        #expect(test.out.split(separator: "\n").first.map(String.init) == "test samples=40 batches=5 " + finalTest.dropFirst("test iter=60 epoch=12.00 net=tiny ".count))
        #expect(test.out.contains("confusion matrix (rows: true class, columns: predicted class):\n  true \\ predicted  0   1   recall\n  0                 20  0   1.000\n"))
        #expect(finalTest.contains("accuracy=1 "))
    }

    @Test func timeListsTheStepsMatrixProducts() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        let train = try run("dtrain", [dir + "/solver.yaml", "--time", "--time-iterations", "1", "--time-windows", "1"])
        #expect(train.status == 0, "\(train.err)")
        // conv over the batch: [3, 9]·[9, 8·16] and its weight gradient (it reads the data, so no
        // input gradient); ip: [8, 12]·[12, 2] with W read transposed, dW, and dx.
        #expect(train.out.split(separator: "\n").filter { $0.hasPrefix("gemm ") } == [
            "gemm m=3 n=128 k=9 op=NN count=1", "gemm m=3 n=9 k=128 op=NT count=1",
            "gemm m=8 n=2 k=12 op=NT count=1", "gemm m=2 n=12 k=8 op=TN count=1", "gemm m=8 n=12 k=2 op=NN count=1"])
        #expect(train.out.contains("\ntime step_ms="))
        let test = try run("dtest", ["--model", dir + "/net.yaml", "--time", "--time-windows", "1"])
        #expect(test.status == 0, "\(test.err)")
        #expect(test.out.split(separator: "\n").filter { $0.hasPrefix("gemm ") } == ["gemm m=3 n=128 k=9 op=NN count=1", "gemm m=8 n=2 k=12 op=NT count=1"])
    }

    @Test func timeBuildsTheTrainNetAlone() throws {
        // The test net's data does not exist: training refuses to start, --time never reads it.
        let dir = temporaryDirectory()
        try setUp(dir, net: net.replacingOccurrences(of: "idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8}",
                                                     with: "idx_data_param: {images: missing.gz, labels: labels.gz, batch_size: 8}"))
        let train = try run("dtrain", [dir + "/solver.yaml"])
        #expect(train.status != 0 && train.err.contains("missing.gz"), "\(train.err)")
        let time = try run("dtrain", [dir + "/solver.yaml", "--time", "--time-iterations", "1", "--time-windows", "1"])
        #expect(time.status == 0, "\(time.err)")
        #expect(time.out.contains("\ntime step_ms="))
    }

    @Test func fineTuningReportsWhatWasCopied() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        #expect(try run("dtrain", [dir + "/solver.yaml"]).status == 0)
        let renamed = net.replacingOccurrences(of: "name: ip,", with: "name: ip_new,")
        try renamed.write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
        let r = try run("dtrain", [dir + "/solver.yaml", "--weights", dir + "/out/tiny_iter_60.safetensors"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("weights \(dir)/out/tiny_iter_60.safetensors: copied conv\n  initialised from fillers: ip_new\n  ignored (not in this net): ip\n"))
    }

    @Test func sameSeedSameOutput() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        let a = try run("dtrain", [dir + "/solver.yaml", "--threads", "1"]).out
        let b = try run("dtrain", [dir + "/solver.yaml", "--threads", "1"]).out
        func trace(_ s: String) -> [String] { s.split(separator: "\n").filter { $0.hasPrefix("train iter=") || $0.hasPrefix("test iter=") }.map { String($0.split(separator: " images/s")[0]) } }
        #expect(trace(a) == trace(b))
        #expect(trace(a).count == 9)
    }
}

/// Every user mistake gives a located one-line error (and maybe a hint line), exit status 1,
/// and never a crash.
@Suite struct MistakeTests {
    func trainError(net netText: String = net, solver solverText: String = solver, extra: [String] = [],
                    _ function: String = #function) throws -> (status: Int32, err: String, dir: String) {
        let dir = temporaryDirectory(function)
        try setUp(dir, net: netText, solver: solverText)
        let r = try run("dtrain", [dir + "/solver.yaml"] + extra)
        return (r.status, r.err, dir)
    }

    @Test func misspeltKey() throws {
        let r = try trainError(net: net.replacingOccurrences(of: "kernel_size: 3, pad", with: "kernal_size: 3, pad"))
        #expect(r.status == 1)
        #expect(r.err == "\(r.dir)/net.yaml:19:40: error: layer 'conv' (Convolution): unknown key 'kernal_size' in convolution_param\nhint: did you mean 'kernel_size'?\n")
    }

    /// A net file that is not there is reported at the solver line that names it.
    @Test func missingNetFileIsLocatedInTheSolver() throws {
        let r = try trainError(solver: solver.replacingOccurrences(of: "net: net.yaml", with: "net: nets/lenet.yaml"))
        #expect(r.status == 1)
        #expect(r.err == "\(r.dir)/solver.yaml:1:6: error: \(r.dir)/nets/lenet.yaml: no such file\nhint: the path is taken from the solver file's directory\n", "\(r.err)")
        let test = try trainError(solver: solver.replacingOccurrences(of: "net: net.yaml", with: "train_net: net.yaml\ntest_net: [net.yaml, other.yaml]")
            .replacingOccurrences(of: "test_iter: 5", with: "test_iter: [5, 5]"))
        #expect(test.err.hasPrefix("\(test.dir)/solver.yaml:2:22: error: \(test.dir)/other.yaml: no such file"), "\(test.err)")
    }

    @Test func unknownLayerType() throws {
        let r = try trainError(net: net.replacingOccurrences(of: "type: Pooling", with: "type: Pool"))
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("\(r.dir)/net.yaml:20:24: error: layer 'pool': unknown layer type 'Pool'\nhint: known types: "))
    }

    @Test func missingBottom() throws {
        let r = try trainError(net: net.replacingOccurrences(of: "bottom: pool, top: s", with: "bottom: pool2, top: s"))
        #expect(r.status == 1)
        #expect(r.err == "\(r.dir)/net.yaml:22:44: error: layer 'ip' (InnerProduct): unknown bottom blob 'pool2' (bottom 0)\nhint: did you mean 'pool'?; blobs available here in phase TRAIN: data, label, conv, pool\n")
    }

    @Test func duplicateTop() throws {
        let r = try trainError(net: net.replacingOccurrences(of: "bottom: pool, top: pool", with: "bottom: pool, top: conv"))
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("\(r.dir)/net.yaml:21:49: error: layer 'relu' (ReLU): top 'conv' is already produced by layer 'conv'\n"))
    }

    @Test func wrongScalarType() throws {
        let r = try trainError(solver: solver.replacingOccurrences(of: "max_iter: 60", with: "max_iter: sixty"))
        #expect(r.status == 1)
        #expect(r.err == "\(r.dir)/solver.yaml:4:11: error: solver: max_iter: expected an integer, found 'sixty'\n")
    }

    @Test func badDataPath() throws {
        let r = try trainError(net: net.replacingOccurrences(of: "images: images.gz, labels: labels.gz, batch_size: 8, shuffle", with: "images: imgs.gz, labels: labels.gz, batch_size: 8, shuffle"))
        #expect(r.status == 1)
        #expect(r.err == "\(r.dir)/net.yaml:7:30: error: layer 'data' (IDXData): idx_data_param.images: \(r.dir)/imgs.gz: cannot open the images file\nhint: check the path; relative paths are taken from the net file's directory (the solver's, for a net written in the solver)\n")
    }

    @Test func truncatedDataset() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/images.gz"))
        try whole.prefix(whole.count - 40).write(to: URL(fileURLWithPath: dir + "/images.gz"))
        let r = try run("dtrain", [dir + "/solver.yaml"])
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("\(dir)/net.yaml:7:30: error: layer 'data' (IDXData): idx_data_param.images: \(dir)/images.gz: truncated: expected 640 payload bytes for dimensions 40×4×4, found only"))
    }

    @Test func missingSolverFile() throws {
        let r = try run("dtrain", ["/nonexistent/solver.yaml"])
        #expect(r.status == 1)
        #expect(r.err == "/nonexistent/solver.yaml: error: no such file\n")
    }

    @Test func malformedYAML() throws {
        let r = try trainError(solver: "net: net.yaml\nbase_lr: [0.1\n")
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("\(r.dir)/solver.yaml:3:1: error: invalid YAML: "))
    }

    @Test func corruptWeights() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        try Data([1, 2, 3, 4]).write(to: URL(fileURLWithPath: dir + "/w.safetensors"))
        let r = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors"])
        #expect(r.status == 1)
        #expect(r.err == "\(dir)/w.safetensors: error: not a valid safetensors file: 4 bytes, shorter than the 8-byte header length\nhint: the file is corrupt or truncated; use an earlier snapshot\n")
    }

    @Test func weightsOfAnotherShape() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        #expect(try run("dtrain", [dir + "/solver.yaml"]).status == 0)
        try net.replacingOccurrences(of: "num_output: 3", with: "num_output: 4").write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
        let r = try run("dtrain", [dir + "/solver.yaml", "--weights", dir + "/out/tiny_iter_60.safetensors"])
        #expect(r.status == 1)
        #expect(r.err == "\(dir)/out/tiny_iter_60.safetensors: error: cannot copy 'conv.weight': the file has shape 3×1×3×3, the net 4×1×3×3\nhint: to learn layer 'conv' from scratch instead, rename it in the net\n")
        // dtest learns nothing: its hint is about the net, not about renaming.
        let t = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/out/tiny_iter_60.safetensors"])
        #expect(t.status == 1)
        #expect(t.err == "\(dir)/out/tiny_iter_60.safetensors: error: cannot copy 'conv.weight': the file has shape 3×1×3×3, the net 4×1×3×3\n"
                + "hint: these weights were trained with another net; test them with the net file they were trained with\n")
    }

    /// Checked once when the nets are built, against the labels file, not when the batch that
    /// holds the bad label comes.
    @Test func labelOutOfRange() throws {
        let r = try trainError(net: net.replacingOccurrences(of: "num_output: 2}", with: "num_output: 1}"))
        #expect(r.status == 1)
        #expect(r.err == "\(r.dir)/labels.gz: error: label 1 of sample 1 is not a class index in 0..<1 of layer 'loss' (SoftmaxWithLoss)\n"
                + "hint: the labels go up to 1 and the scores of 'loss' have 1 class; set num_output of the layer before it to the number of classes, or ignore_label\n")
    }

    @Test func labelOutOfRangeLateInTheFileIsFoundAtStartUp() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        var labels = (0..<40).map { UInt8($0 % 2) }
        labels[37] = 250
        try IDXFile(dims: [40], bytes: labels).write(to: dir + "/labels.gz", gzip: true)
        let r = try run("dtrain", [dir + "/solver.yaml"])
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("\(dir)/labels.gz: error: label 250 of sample 37 is not a class index in 0..<2 of layer 'loss' (SoftmaxWithLoss)\n"), "\(r.err)")
        #expect(!r.out.contains("train iter="), "trained before refusing")
        // dtest checks the labels it is given too, and an ignore_label that covers them passes.
        let t = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/none.safetensors"])
        #expect(t.err.hasPrefix("\(dir)/labels.gz: error: label 250 of sample 37 is not a class index in 0..<2 of layer 'accuracy' (Accuracy)\n"), "\(t.err)")
        let ignoring = net.replacingOccurrences(of: "top: accuracy,", with: "top: accuracy, accuracy_param: {ignore_label: 250},")
            .replacingOccurrences(of: "top: loss}", with: "top: loss, loss_param: {ignore_label: 250}}")
        try ignoring.write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
        let ok = try run("dtrain", [dir + "/solver.yaml"])
        #expect(ok.status == 0, "\(ok.err)")
    }

    /// --random-seed trains exactly as the solver's random_seed does (a committee's members
    /// differ by it only), and the card records the seed used.
    @Test func randomSeedOptionReplacesTheSolvers() throws {
        let dir = temporaryDirectory()
        try setUp(dir, solver: zooSolver)
        func finalTest(_ args: [String]) throws -> String {
            let r = try run("dtrain", [dir + "/solver.yaml", "--zoo", dir + "/zoo"] + args)
            #expect(r.status == 0, "\(r.err)")
            return r.out.split(separator: "\n").last { $0.hasPrefix("test iter=60 ") }.map(String.init) ?? "none"
        }
        let option = try finalTest(["--random-seed", "7", "--zoo-name", "by-option"])
        let fileTwo = try finalTest(["--zoo-name", "file-2"])
        try zooSolver.replacingOccurrences(of: "random_seed: 2", with: "random_seed: 7")
            .write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
        let fileSeven = try finalTest(["--zoo-name", "file-7"])
        #expect(option == fileSeven && option != fileTwo, "\(option) | \(fileSeven) | \(fileTwo)")
        let card = try String(contentsOfFile: dir + "/zoo/by-option/model.yaml", encoding: .utf8)
        #expect(card.contains("random_seed: 7"), "\(card)")
        let both = try run("dtrain", [dir + "/solver.yaml", "--random-seed", "3", "--snapshot", "zoo:file-7"])
        #expect(both.status != 0 && both.err.contains("give --random-seed or --snapshot, not both"), "\(both.err)")
    }

    /// A validation split carved from one pair of files (`idx_data_param.range`): each phase
    /// reads its own samples, an epoch is the TRAIN range, errors name file indices, and the
    /// card records which samples each phase read.
    @Test func rangeCarvesAValidationSplit() throws {
        let dir = temporaryDirectory()
        let split = net.replacingOccurrences(of: "batch_size: 8, shuffle: true}", with: "batch_size: 8, shuffle: true, range: [0, 24]}")
            .replacingOccurrences(of: "batch_size: 8}", with: "batch_size: 8, range: [24, 40]}")
        try setUp(dir, net: split, solver: zooSolver.replacingOccurrences(of: "test_iter: 5", with: "test_iter: 2"))
        var labels = (0..<40).map { UInt8($0 % 2) }
        labels[37] = 250  // in the validation range only
        try IDXFile(dims: [40], bytes: labels).write(to: dir + "/labels.gz", gzip: true)
        let bad = try run("dtrain", [dir + "/solver.yaml", "--zoo", dir + "/zoo"])
        #expect(bad.err.hasPrefix("\(dir)/labels.gz: error: label 250 of sample 37 is not a class index in 0..<2 of layer 'accuracy' (Accuracy)\n"), "\(bad.err)")
        // Two ranges of one labels file in one net are checked each.
        let twoRanges = """
            name: two
            layer:
              - {name: a, type: IDXData, top: [da, la], idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8, range: [0, 24]}}
              - {name: b, type: IDXData, top: [db, lb], idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8, range: [24, 40]}}
              - {name: ipa, type: InnerProduct, bottom: da, top: sa, inner_product_param: {num_output: 2}}
              - {name: ipb, type: InnerProduct, bottom: db, top: sb, inner_product_param: {num_output: 2}}
              - {name: acca, type: Accuracy, bottom: [sa, la], top: acca}
              - {name: accb, type: Accuracy, bottom: [sb, lb], top: accb}
            """
        try twoRanges.write(toFile: dir + "/two.yaml", atomically: true, encoding: .utf8)
        let two = try run("dtest", ["--model", dir + "/two.yaml", "--weights", dir + "/none.safetensors"])
        #expect(two.err.hasPrefix("\(dir)/labels.gz: error: label 250 of sample 37 is not a class index in 0..<2 of layer 'accb' (Accuracy)\n"), "\(two.err)")
        labels[37] = 1
        try IDXFile(dims: [40], bytes: labels).write(to: dir + "/labels.gz", gzip: true)
        let ok = try run("dtrain", [dir + "/solver.yaml", "--zoo", dir + "/zoo"])
        #expect(ok.status == 0, "\(ok.err)")
        #expect(ok.out.contains("train iter=30/60 epoch=10.00 loss="), "24 samples of 8 are 3 iterations an epoch: \(ok.out)")
        // The TEST pass covers its 16 samples once: 2 batches of 8.
        #expect(ok.out.contains("card weights=tiny_iter_60.safetensors samples=16 accuracy="), "\(ok.out)")
        let card = try String(contentsOfFile: dir + "/zoo/tiny/model.yaml", encoding: .utf8)
        #expect(card.contains("role: \"train images, samples 0..<24\", path: \"\(dir)/images.gz\""), "\(card)")
        #expect(card.contains("role: \"test labels, samples 24..<40\", path: \"\(dir)/labels.gz\""), "\(card)")
        // A range past the file's end, or not [first, end], is located.
        for (range, message) in [("[24, 41]", "idx_data_param.range: ends at sample 41, but \(dir)/images.gz holds 40"),
                                 ("[24, 24]", "idx_data_param.range: must be two sample indices [first, end] with 0 ≤ first < end, found [24, 24]"),
                                 ("[30]", "idx_data_param.range: must be two sample indices [first, end] with 0 ≤ first < end, found [30]")] {
            try split.replacingOccurrences(of: "range: [24, 40]", with: "range: \(range)").write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
            let r = try run("dtrain", [dir + "/solver.yaml", "--zoo", dir + "/zoo"])
            #expect(r.status == 1 && r.err.hasPrefix("\(dir)/net.yaml:13:") && r.err.contains(message), "\(r.err)")
        }
    }
}
