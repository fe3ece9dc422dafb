@testable import DConfig
import Foundation
import Testing

@Suite struct NetSpecTests {
    func net(_ text: String) throws(ConfigError) -> NetSpec { try NetSpec(node: try YAML.parse(text, file: "net.yaml"), file: "net.yaml") }

    @Test func decodesCaffesCommonLayerFields() throws {
        let spec = try net("""
            name: lenet
            layer:
              - name: conv1
                type: Convolution
                bottom: data
                top: conv1
                param: [{lr_mult: 1}, {lr_mult: 2, decay_mult: 0}]
                loss_weight: 0.5
                include: {phase: TRAIN}
            """)
        let l = spec.layers[0]
        #expect(spec.name == "lenet")
        #expect(l.bottoms == ["data"] && l.tops == ["conv1"])
        #expect(l.params == [ParamSpec(lrMult: 1, decayMult: 1), ParamSpec(lrMult: 2, decayMult: 0)])
        #expect(l.lossWeights == [0.5])
        #expect(l.isIncluded(in: .train) && !l.isIncluded(in: .test))
    }

    @Test func phaseRules() throws {
        let spec = try net("""
            layer:
              - {name: a, type: ReLU}
              - {name: b, type: ReLU, exclude: {phase: TEST}}
              - {name: c, type: ReLU, include: [{phase: TEST}, {phase: TRAIN}]}
            """)
        #expect(spec.layers.map { $0.isIncluded(in: .test) } == [true, false, true])
        #expect(spec.layers.map { $0.isIncluded(in: .train) } == [true, true, true])
    }

    @Test func includeAndExcludeTogetherIsAnError() {
        #expect(throws: ConfigError(at: ConfigLocation(file: "net.yaml", line: 1, column: 64),
                                    "layer 'a' (ReLU): exclude: give either include or exclude rules, not both")) {
            try net("layer: [{name: a, type: ReLU, include: {phase: TEST}, exclude: {phase: TRAIN}}]")
        }
    }

    @Test func badPhaseSuggests() {
        do { _ = try net("layer: [{name: a, type: ReLU, include: {phase: TSET}}]"); Issue.record("accepted TSET") } catch {
            #expect(error.message == "layer 'a' (ReLU): include.phase: expected one of TRAIN, TEST, found 'TSET'")
            #expect(error.hint == "did you mean 'TEST'?")
        }
    }

    @Test func layerWithoutName() {
        #expect(throws: ConfigError(at: ConfigLocation(file: "net.yaml", line: 1, column: 9),
                                    "layer[0]: missing required key 'name'")) {
            try net("layer: [{type: ReLU}]")
        }
    }

    @Test func unknownTopLevelKey() {
        do { _ = try net("name: x\nlayers: []\nlayer: []\n"); Issue.record("accepted 'layers'") } catch {
            #expect(error.headline == "net.yaml:2:1: error: net: unknown key 'layers'")
            #expect(error.hint == "did you mean 'layer'?")
        }
    }

    @Test func layerMustBeAList() {
        #expect(throws: ConfigError.self) { try net("layer: {name: a}") }
    }
}

@Suite struct SolverSpecTests {
    func solver(_ text: String, file: String = "configs/lenet/solver.yaml") throws(ConfigError) -> SolverSpec {
        try SolverSpec(node: try YAML.parse(text, file: file), file: file)
    }

    @Test func boundsThatKeepTheArithmeticInRange() {
        for (text, message) in [("iter_size: 4611686018427387904\nmax_iter: 1", "solver: iter_size: must be at most 1048576, found 4611686018427387904"),
                                ("max_epoch: 1e300", "solver: max_epoch: must be at most a million, found 1e+300")] {
            do {
                _ = try solver("net: net.yaml\nbase_lr: 0.01\n" + text + "\n")
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.message == message)
            }
        }
    }

    @Test func defaultsAndPathResolution() throws {
        let s = try solver("net: net.yaml\nbase_lr: 0.01\nmax_iter: 100\n")
        #expect(s.trainNet == .file("configs/lenet/net.yaml"))
        #expect(s.testNets.isEmpty)
        #expect(s.type == .sgd && s.lrPolicy == .fixed && s.momentum == 0 && s.weightDecay == 0)
        #expect(s.display == 0 && s.averageLoss == 1 && s.testInitialization)
        #expect(s.snapshotPrefix == "configs/lenet/solver")
        #expect(s.randomSeed == nil)
    }

    @Test func caffeLenetSolver() throws {
        let s = try solver("""
            net: net.yaml
            test_iter: 100
            test_interval: 500
            base_lr: 0.01
            momentum: 0.9
            weight_decay: 0.0005
            lr_policy: inv
            gamma: 0.0001
            power: 0.75
            display: 100
            max_iter: 10000
            snapshot: 5000
            snapshot_prefix: snapshots/lenet
            random_seed: 1
            solver_mode: CPU
            """)
        #expect(s.lrPolicy == .inv(gamma: 0.0001, power: 0.75))
        #expect(s.testNets == [.file("configs/lenet/net.yaml")] && s.testIter == [.batches(100)])
        #expect(s.snapshotPrefix == "configs/lenet/snapshots/lenet")
        #expect(s.randomSeed == 1)
    }

    @Test func policyNeedsItsParameters() {
        do { _ = try solver("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\nlr_policy: step\ngamma: 0.1\n"); Issue.record("accepted") } catch {
            #expect(error.message == "solver: lr_policy: the 'step' policy needs 'stepsize'")
        }
        #expect(throws: ConfigError.self) { try solver("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\nlr_policy: multistep\ngamma: 0.1\nstepvalue: [5, 3]\n") }
    }

    @Test func valuesThatWouldTrainBackwardsAreRefused() {
        let cases = [
            ("lr_policy: step\ngamma: -1\nstepsize: 10", "s.yaml:5:8: error: solver: gamma: must not be negative with the 'step' policy, found -1.0"),
            ("lr_policy: multistep\ngamma: -0.5\nstepvalue: [5]", "s.yaml:5:8: error: solver: gamma: must not be negative with the 'multistep' policy, found -0.5"),
            ("lr_policy: exp\ngamma: -1", "s.yaml:5:8: error: solver: gamma: must not be negative with the 'exp' policy, found -1.0"),
            ("lr_policy: inv\ngamma: -1\npower: 0.75", "s.yaml:5:8: error: solver: gamma: must not be negative with the 'inv' policy, found -1.0"),
            ("weight_decay: -1", "s.yaml:4:15: error: solver: weight_decay: must not be negative, found -1.0"),
            ("clip_gradients: 0", "s.yaml:4:17: error: solver: clip_gradients: must be positive (the largest gradient norm), found 0"),
        ]
        for (text, headline) in cases {
            do {
                _ = try solver("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\n" + text + "\n", file: "s.yaml")
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.headline == headline)
                if text.hasPrefix("clip") { #expect(error.hint == "a negative value turns clipping off, as does leaving the key out") }
            }
        }
        // sigmoid's gamma sets its direction; -1 turns clipping off, as in Caffe.
        #expect(throws: Never.self) { try solver("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\nlr_policy: sigmoid\ngamma: -0.1\nstepsize: 5\n") }
        #expect((try? solver("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\nclip_gradients: -1\n"))?.clipGradients == nil)
        #expect((try? solver("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\nclip_gradients: 5\n"))?.clipGradients == 5)
    }

    @Test func caffesOldSolverTypeNamesTheNewKey() {
        for (value, headline, hint) in [
            ("ADAM", "s.yaml:4:14: error: solver: solver_type: Caffe's old name for type; write type: Adam", nil as String?),
            ("RMSPROP", "s.yaml:4:14: error: solver: solver_type: Caffe's old name for type; write type: RMSProp", nil),
            ("FOO", "s.yaml:4:14: error: solver: solver_type: Caffe's old name for type; write type: …",
             "type is one of SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam"),
        ] {
            do {
                _ = try solver("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\nsolver_type: \(value)\n", file: "s.yaml")
                Issue.record("accepted solver_type: \(value)")
            } catch {
                #expect(error.headline == headline)
                #expect(error.hint == hint)
            }
        }
    }

    @Test func misspeltSolverKey() {
        do { _ = try solver("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\nmomentun: 0.9\n"); Issue.record("accepted") } catch {
            #expect(error.headline == "configs/lenet/solver.yaml:4:1: error: solver: unknown key 'momentun'")
            #expect(error.hint == "did you mean 'momentum'?")
        }
    }

    @Test func testIntervalNeedsTestIter() {
        #expect(throws: ConfigError.self) { try solver("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\ntest_interval: 10\n") }
    }

    @Test func gpuModeIsRefused() {
        do { _ = try solver("net: n.yaml\nbase_lr: 0.1\nmax_iter: 1\nsolver_mode: GPU\n"); Issue.record("accepted") } catch {
            #expect(error.message == "solver: solver_mode: Dendrite trains on the CPU; found 'GPU'")
        }
    }

    @Test func missingBaseLR() {
        #expect(throws: ConfigError(at: ConfigLocation(file: "s.yaml", line: 1, column: 1), "solver: missing required key 'base_lr'",
                                    hint: "the learning rate, e.g. base_lr: 0.01")) {
            try solver("net: n.yaml\nmax_iter: 1\n", file: "s.yaml")
        }
    }

    @Test func inlineNetServesBothPhases() throws {
        let s = try solver("""
            base_lr: 0.1
            max_iter: 1
            test_iter: [1, 2]
            test_interval: 1
            net_param:
              name: inline
              layer:
                - {name: data, type: IDXData, top: [data, label], idx_data_param: {images: ../d/i.gz, labels: l.gz, batch_size: 2}}
            """, file: "configs/s.yaml")
        #expect(s.trainNet.inline != nil && s.trainNet.key == "net_param" && s.trainNet.file == "configs/s.yaml")
        #expect(s.trainNet.description == "configs/s.yaml:6:3 (net_param)")
        // Like `net`, the one net is built again for each test_iter entry.
        #expect(s.testNets == [s.trainNet, s.trainNet])
        let net = try s.trainNet.load()
        #expect(net.name == "inline" && net.layers.map(\.name) == ["data"])
        #expect(net.layers[0].location == ConfigLocation(file: "configs/s.yaml", line: 8, column: 7))
    }

    @Test func inlineTrainAndTestNetsInCaffesOrder() throws {
        // Caffe builds the test_net_param nets first, then the test_net files.
        let s = try solver("""
            train_net_param: {name: t, layer: [{name: a, type: ReLU}]}
            test_net: [c.yaml]
            test_net_param:
              - {name: a, layer: [{name: a, type: ReLU}]}
              - {name: b, layer: [{name: b, type: ReLU}]}
            test_iter: [1, 1, 1]
            test_interval: 5
            base_lr: 1
            max_iter: 1
            """, file: "s.yaml")
        #expect(s.trainNet.key == "train_net_param")
        #expect(s.testNets.map(\.description) == ["s.yaml:4:5 (test_net_param[0])", "s.yaml:5:5 (test_net_param[1])", "c.yaml"])
        #expect(try s.testNets[1].load().name == "b")
        // A single mapping is a list of one.
        let one = try solver("train_net: t.yaml\ntest_net_param: {layer: []}\ntest_iter: 1\ntest_interval: 5\nbase_lr: 1\nmax_iter: 1\n", file: "s.yaml")
        #expect(one.testNets.map(\.key) == ["test_net_param"])
    }

    @Test func inlineNetErrors() {
        func error(_ text: String) -> String? {
            do { _ = try solver("base_lr: 1\nmax_iter: 1\n" + text, file: "s.yaml"); return nil } catch { return error.description }
        }
        #expect(error("net: n.yaml\nnet_param: {layer: []}\n")
                == "s.yaml:4:12: error: solver: net_param: give one of net, net_param, train_net and train_net_param, found net and net_param\n"
                + "hint: net and net_param serve both phases; train_net and train_net_param go with test_net or test_net_param")
        #expect(error("train_net: t.yaml\ntrain_net_param: {layer: []}\n")?.hasPrefix(
            "s.yaml:4:18: error: solver: train_net_param: give one of net, net_param, train_net and train_net_param, found train_net and train_net_param\n") == true)
        #expect(error("net_param: {layer: []}\ntest_net_param: [{layer: []}]\n")
                == "s.yaml:4:17: error: solver: test_net_param: give test nets with train_net or train_net_param, not with net_param\nhint: net_param is used for both phases")
        #expect(error("net_param: net.yaml\n")
                == "s.yaml:3:12: error: solver: net_param: expected a net (a mapping with name and layer), found 'net.yaml'\nhint: write the net's keys under net_param: name, layer, …")
        #expect(error("train_net: t.yaml\ntest_net_param: [{layer: []}, [1]]\n")?.hasPrefix(
            "s.yaml:4:31: error: solver: test_net_param[1]: expected a net (a mapping with name and layer), found a list") == true)
        #expect(error("net: {layer: []}\n")
                == "s.yaml:3:6: error: solver: net: expected the name of a net file, found a mapping\nhint: write a net inside the solver as net_param")
        #expect(error("")?.hasPrefix("s.yaml:1:1: error: solver: missing required key 'net'\nhint: name the net file (net: net.yaml), or write the net in the solver") == true)
    }

    @Test func errorsInsideAnInlineNetPointIntoTheSolver() throws {
        let s = try solver("base_lr: 1\nmax_iter: 1\nnet_param:\n  layer:\n    - {name: a, type: ReLU, include: {phase: TSET}}\n  layers: []\n", file: "s.yaml")
        do { _ = try s.trainNet.load(); Issue.record("loaded") } catch {
            #expect(error.headline == "s.yaml:5:46: error: layer 'a' (ReLU): include.phase: expected one of TRAIN, TEST, found 'TSET'")
        }
        let t = try solver("base_lr: 1\nmax_iter: 1\nnet_param:\n  layer: []\n  layers: []\n", file: "s.yaml")
        do { _ = try t.trainNet.load(); Issue.record("loaded") } catch {
            #expect(error.headline == "s.yaml:5:3: error: net_param: unknown key 'layers'")
        }
    }

    @Test func separateTrainAndTestNets() throws {
        let s = try solver("train_net: train.yaml\ntest_net: [a.yaml, /abs/b.yaml]\ntest_iter: [1, 2]\ntest_interval: 5\nbase_lr: 1\nmax_iter: 1\n", file: "s.yaml")
        #expect(s.trainNet == .file("train.yaml"))
        #expect(s.testNets == [.file("a.yaml"), .file("/abs/b.yaml")])
    }
}

@Suite struct ConfigFileTests {
    @Test func resolvesAgainstTheNamingFile() {
        #expect(ConfigFile.resolve("net.yaml", relativeTo: "a/b/solver.yaml") == "a/b/net.yaml")
        #expect(ConfigFile.resolve("/data/x.gz", relativeTo: "a/solver.yaml") == "/data/x.gz")
        #expect(ConfigFile.resolve("net.yaml", relativeTo: "solver.yaml") == "net.yaml")
        #expect(ConfigFile.resolve("../d/x", relativeTo: "/c/s.yaml") == "/c/../d/x")
    }

    @Test func missingFile() {
        #expect(throws: ConfigError(file: "/nonexistent/solver.yaml", message: "no such file")) {
            try ConfigFile.load("/nonexistent/solver.yaml")
        }
    }

    @Test func emptyAndSpecialFilesSaySo() throws {
        #expect(throws: ConfigError(file: "/dev/null", message: "is not a regular file (it is a character device)", hint: "give the path of a YAML file")) {
            try ConfigFile.load("/dev/null")
        }
        let dir = NSTemporaryDirectory() + "dendrite-config-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try " \n\n".write(toFile: dir + "/empty.yaml", atomically: false, encoding: .utf8)
        #expect(throws: ConfigError(file: dir + "/empty.yaml", message: "is empty",
                                    hint: "a config file is a YAML mapping of keys to values; see Configs/README.md")) {
            try ConfigFile.load(dir + "/empty.yaml")
        }
        // A link to a YAML file is read through.
        try "base_lr: 1\n".write(toFile: dir + "/s.yaml", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.yaml", withDestinationPath: dir + "/s.yaml")
        #expect(try ConfigFile.load(dir + "/link.yaml").child("base_lr")?.scalar == "1")
    }
}
