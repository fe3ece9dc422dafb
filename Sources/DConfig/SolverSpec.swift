/// The solver file, with Caffe's SolverParameter names. Paths are resolved against the
/// solver file; defaults are Caffe's unless noted in Configs/README.md.

public enum SolverType: String, Sendable, CaseIterable {
    case sgd = "SGD", nesterov = "Nesterov", adaGrad = "AdaGrad", rmsProp = "RMSProp"
    case adaDelta = "AdaDelta", adam = "Adam"
}

public enum RegularizationType: String, Sendable, CaseIterable {
    case l2 = "L2", l1 = "L1"
}

/// Caffe's learning-rate policies with the parameters each one needs, and Dendrite's own
/// `cosine` and `plateau`.
public enum LRPolicy: Sendable, Equatable {
    case fixed
    case step(gamma: Double, stepsize: Int)
    case multistep(gamma: Double, stepvalues: [Int])
    case exp(gamma: Double)
    case inv(gamma: Double, power: Double)
    case poly(power: Double)
    case sigmoid(gamma: Double, stepsize: Int)
    /// base_lr · ½(1 + cos(π·it / max_iter))
    case cosine
    /// base_lr · gamma^(number of reductions so far); the trainer decides the reductions.
    case plateau(gamma: Double)

    public enum Name: String, CaseIterable { case fixed, step, multistep, exp, inv, poly, sigmoid, cosine, plateau }
}

/// The solver's `model_card` block: what a zoo entry's card says about the model beyond what
/// training measures.
public struct CardTemplate: Sendable, Equatable {
    public var description = ""
    public var licence = ""
    /// The dataset's name (its files and their SHA-256 are recorded from the data layers).
    public var dataset = ""
    /// Label i's name is `classNames[i]`.
    public var classNames: [String] = []
    /// Where `class_names` is written, for an error about their count.
    public var classNamesLocation: ConfigLocation?

    public init() {}

    init(_ map: ConfigMap) throws(ConfigError) {
        description = try map.string("description") ?? ""
        licence = try map.string("licence") ?? ""
        dataset = try map.string("dataset") ?? ""
        classNames = try map.strings("class_names")
        classNamesLocation = map.node("class_names")?.location
        try map.finish()
    }
}

/// A test output to watch, for early stopping and the plateau policy: `accuracy`, `loss`, or
/// any scalar output of a test net, optionally as `<test net>/<output>`.
public struct MetricSpec: Sendable, Equatable {
    public var name: String
    /// True when smaller is better: the default for names containing "loss".
    public var minimize: Bool
    /// An improvement must exceed this to count.
    public var minDelta: Double
    /// Tests without improvement before acting; nil for "never" (early stopping then only keeps the best).
    public var patience: Int?
    public var location: ConfigLocation

    init(_ m: ConfigMap, patienceRequired: Bool) throws(ConfigError) {
        name = try m.string("metric") ?? "loss"
        enum Mode: String, CaseIterable { case min, max }
        let defaultMode: Mode = name.lowercased().contains("loss") ? .min : .max
        minimize = try m.choice("mode", default: defaultMode) == .min
        minDelta = try m.double("min_delta", default: 0)
        guard minDelta >= 0 else { throw m.error("min_delta", "must not be negative, found \(minDelta)") }
        patience = try m.int("patience")
        if let p = patience, p < 1 { throw m.error("patience", "must be at least 1, found \(p)") }
        if patienceRequired && patience == nil { throw m.missing("patience", hint: "tests without improvement before the rate is reduced, e.g. patience: 3") }
        location = m.node("metric")?.location ?? m.location
        try m.finish()
    }
}

/// A layer named in the solver's `monitor` list, with where it is named (for errors the
/// trainer finds once the nets are built).
public struct MonitoredLayer: Sendable, Equatable {
    public var name: String
    public var location: ConfigLocation
}

/// How many test batches: a count, or the whole test set once (`test_iter: all`).
public enum TestIterations: Sendable, Equatable {
    case batches(Int)
    case all
}

/// Where a net comes from: a net file, or a mapping written inside the solver file (Caffe's
/// `net_param`, `train_net_param` and `test_net_param`), whose paths resolve against the solver
/// file and whose errors point into it.
public struct NetSource: Sendable, Equatable, CustomStringConvertible {
    /// The net file; for an inline net the solver file.
    public var file: String
    /// The net's mapping, for an inline net.
    public var inline: YAMLNode?
    /// The solver key that holds an inline net: `net_param`, `test_net_param[1]`.
    public var key: String?
    /// Where the solver names the net file, for an error about the file itself (missing, unreadable).
    public var reference: ConfigLocation?

    public static func file(_ path: String, reference: ConfigLocation? = nil) -> NetSource {
        NetSource(file: path, inline: nil, key: nil, reference: reference)
    }

    public static func inline(_ node: YAMLNode, key: String, solver: String) -> NetSource {
        NetSource(file: solver, inline: node, key: key, reference: nil)
    }

    /// The same net: the same file, or the same key of the same solver.
    public static func == (a: NetSource, b: NetSource) -> Bool { a.file == b.file && a.key == b.key }

    /// A key for dictionaries of nets: the file, or the file and the key.
    public var id: String { key.map { "\(file)#\($0)" } ?? file }

    /// The file, or `solver.yaml:3:3 (net_param)` for an inline net.
    public var description: String {
        guard let inline, let key else { return file }
        return "\(inline.location) (\(key))"
    }

    /// The net as written.
    public func load() throws(ConfigError) -> NetSpec {
        guard let inline else {
            do {
                return try NetSpec.load(file)
            } catch {
                // The file itself (not a line in it) is at fault: point at the solver line that names it.
                guard let reference, error.location == nil, error.file == file else { throw error }
                throw ConfigError(at: reference, "\(file): \(error.message)", hint: error.hint ?? "the path is taken from the solver file's directory")
            }
        }
        return try NetSpec(node: inline, file: file, context: key ?? "net")
    }

    /// An error about the net as a whole: at the inline mapping, or naming the file.
    public func error(_ message: String, hint: String? = nil) -> ConfigError {
        guard let inline else { return ConfigError(file: file, message: message, hint: hint) }
        return ConfigError(at: inline.location, message, hint: hint)
    }
}

public struct SolverSpec: Sendable {
    public var file: String
    /// The net used for training: `net`, `net_param`, `train_net` or `train_net_param`.
    public var trainNet: NetSource
    /// The nets used for testing: `test_net_param` mappings then `test_net` files (Caffe's
    /// order), or the `net`/`net_param` again in the TEST phase.
    public var testNets: [NetSource]
    public var type: SolverType
    public var baseLR: Double
    public var lrPolicy: LRPolicy
    /// Iterations over which the rate rises linearly to the policy's, from 1/warmup_iter of it.
    public var warmupIter: Int
    /// For `lr_policy: plateau`.
    public var plateau: MetricSpec?
    public var momentum: Double
    /// Adam's β₂.
    public var momentum2: Double
    public var delta: Double
    public var rmsDecay: Double
    public var weightDecay: Double
    public var regularization: RegularizationType
    /// The global L2 norm the gradients are scaled down to, if set.
    public var clipGradients: Double?
    /// Batches whose gradients add up into one update.
    public var iterSize: Int
    /// Exactly one of the two is set.
    public var maxIter: Int?
    public var maxEpoch: Double?
    /// One entry per test net.
    public var testIter: [TestIterations]
    public var testInterval: Int
    public var testInitialization: Bool
    public var display: Int
    public var averageLoss: Int
    public var snapshot: Int
    /// Resolved path prefix of snapshot files (Caffe's `snapshot_prefix`).
    public var snapshotPrefix: String
    /// Whether the file set `snapshot_prefix`; without it, dtrain writes into a zoo entry.
    public var snapshotPrefixGiven: Bool
    /// What the model card of the trained model says beyond what training measures.
    public var modelCard: CardTemplate
    /// nil when the file sets none; the trainer then picks one and reports it.
    public var randomSeed: UInt64?
    public var earlyStopping: MetricSpec?
    /// `train_state`: a level and stages merged into the train net's state.
    public var trainState: NetStateAddition?
    /// `test_state`, one per test net (or none).
    public var testStates: [NetStateAddition]
    /// `snapshot_after_train` (Caffe's default true): whether reaching max_iter writes a snapshot.
    public var snapshotAfterTrain: Bool
    /// `debug_info`: after every training iteration, each layer's data and gradient statistics.
    public var debugInfo: Bool
    /// `monitor`: layers of the train net whose activations (on the first test batch) and
    /// gradient-to-weight ratios are reported at each round of tests.
    public var monitor: [MonitoredLayer]
    /// `weights`: files the train net starts from, copied by layer name in order (what
    /// `dtrain --weights` does; the command line replaces them, a resume ignores them).
    public var weights: [String]

    public init(node: YAMLNode, file: String) throws(ConfigError) {
        let map = try ConfigMap(node, context: "solver")
        self.file = file

        // Caffe's rule: exactly one train net, named by a file or written inline.
        for key in ["net", "train_net"] {
            if let node = map.node(key), case .mapping = node.value {
                throw map.error(key, "expected the name of a net file, found a mapping", hint: "write a net inside the solver as \(key)_param")
            }
        }
        let netName = try map.string("net"), trainNetName = try map.string("train_net")
        let netParam = try Self.inlineNets(map, "net_param", list: false).first
        let trainNetParam = try Self.inlineNets(map, "train_net_param", list: false).first
        let testNetFiles = try map.strings("test_net")
        let testNetLocations: [ConfigLocation?] = switch map.node("test_net")?.value {
        case .sequence(let items)?: items.map(\.location)
        default: [map.node("test_net")?.location]
        }
        let testNetParams = try Self.inlineNets(map, "test_net_param", list: true)
        let trainKeys = [("net", netName != nil), ("net_param", netParam != nil), ("train_net", trainNetName != nil),
                         ("train_net_param", trainNetParam != nil)].filter(\.1).map(\.0)
        guard trainKeys.count <= 1 else {
            throw map.error(trainKeys[1], "give one of net, net_param, train_net and train_net_param, found \(trainKeys[0]) and \(trainKeys[1])",
                            hint: "net and net_param serve both phases; train_net and train_net_param go with test_net or test_net_param")
        }
        if let n = netName ?? trainNetName {
            self.trainNet = .file(ConfigFile.resolve(n, relativeTo: file), reference: map.node(netName != nil ? "net" : "train_net")?.location)
        } else if let given = netParam ?? trainNetParam {
            self.trainNet = .inline(given.node, key: given.key, solver: file)
        } else {
            throw map.missing("net", hint: "name the net file (net: net.yaml), or write the net in the solver (net_param: {name: …, layer: […]})")
        }
        let generic = netName != nil || netParam != nil
        if generic, let key = ["test_net_param", "test_net"].first(where: map.has) {
            throw map.error(key, "give test nets with train_net or train_net_param, not with \(trainKeys[0])", hint: "\(trainKeys[0]) is used for both phases")
        }

        // Caffe's old enum field, which `type` replaced (its finish() hint would be solver_mode).
        if let old = map.node("solver_type") {
            let caffeNames = ["SGD": SolverType.sgd, "NESTEROV": .nesterov, "ADAGRAD": .adaGrad, "RMSPROP": .rmsProp,
                              "ADADELTA": .adaDelta, "ADAM": .adam]
            let type = old.scalar.flatMap { s in caffeNames[s.uppercased()] }
            throw map.error("solver_type", "Caffe's old name for type; write type: \(type?.rawValue ?? "…")",
                            hint: type == nil ? "type is one of \(SolverType.allCases.map(\.rawValue).joined(separator: ", "))" : nil)
        }
        type = try map.choice("type", default: SolverType.sgd)
        if let mode = try map.string("solver_mode"), mode != "CPU" {
            throw map.error("solver_mode", "Dendrite trains on the CPU; found '\(mode)'", hint: "remove the key or write CPU")
        }
        guard let lr = try map.double("base_lr") else { throw map.missing("base_lr", hint: "the learning rate, e.g. base_lr: 0.01") }
        guard lr > 0 else { throw map.error("base_lr", "must be positive, found \(lr)") }
        baseLR = lr

        let policy = try map.choice("lr_policy", default: LRPolicy.Name.fixed)
        let gamma = try map.double("gamma"), power = try map.double("power")
        let stepsize = try map.int("stepsize"), stepvalues = try map.ints("stepvalue")
        func need<T>(_ value: T?, _ key: String) throws(ConfigError) -> T {
            guard let value else {
                throw map.error("lr_policy", "the '\(policy.rawValue)' policy needs '\(key)'",
                                hint: "see lr_policy in Configs/README.md for each policy's formula")
            }
            return value
        }
        // gamma multiplies the rate (step, multistep, exp, plateau) or the iteration (inv): a
        // negative one makes the rate negative or undefined. sigmoid's sign is its direction.
        if let g = gamma, g < 0, policy != .sigmoid, policy != .fixed, policy != .poly, policy != .cosine {
            throw map.error("gamma", "must not be negative with the '\(policy.rawValue)' policy, found \(g)",
                            hint: "see lr_policy in Configs/README.md for each policy's formula")
        }
        switch policy {
        case .fixed: lrPolicy = .fixed
        case .step:
            let s = try need(stepsize, "stepsize")
            guard s > 0 else { throw map.error("stepsize", "must be positive, found \(s)") }
            lrPolicy = .step(gamma: try need(gamma, "gamma"), stepsize: s)
        case .multistep:
            guard !stepvalues.isEmpty else {
                throw map.error("lr_policy", "the 'multistep' policy needs 'stepvalue'", hint: "e.g. stepvalue: [5000, 7000]")
            }
            guard zip(stepvalues, stepvalues.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw map.error("stepvalue", "must increase, found \(stepvalues)")
            }
            lrPolicy = .multistep(gamma: try need(gamma, "gamma"), stepvalues: stepvalues)
        case .exp: lrPolicy = .exp(gamma: try need(gamma, "gamma"))
        case .inv: lrPolicy = .inv(gamma: try need(gamma, "gamma"), power: try need(power, "power"))
        case .poly: lrPolicy = .poly(power: try need(power, "power"))
        case .sigmoid: lrPolicy = .sigmoid(gamma: try need(gamma, "gamma"), stepsize: try need(stepsize, "stepsize"))
        case .cosine: lrPolicy = .cosine
        case .plateau: lrPolicy = .plateau(gamma: try need(gamma, "gamma"))
        }
        if let block = try map.map("plateau") {
            guard case .plateau = lrPolicy else { throw map.error("plateau", "only the 'plateau' lr_policy reads this block") }
            plateau = try MetricSpec(block, patienceRequired: true)
        } else if case .plateau = lrPolicy {
            throw map.missing("plateau", hint: "e.g. plateau: {metric: loss, patience: 3}")
        } else {
            plateau = nil
        }
        warmupIter = try map.int("warmup_iter", default: 0, min: 0)

        momentum = try map.double("momentum", default: 0)
        momentum2 = try map.double("momentum2", default: 0.999)
        delta = try map.double("delta", default: 1e-8)
        rmsDecay = try map.double("rms_decay", default: 0.99)
        guard momentum >= 0 && momentum < 1 else { throw map.error("momentum", "must be in [0, 1), found \(momentum)") }
        if (type == .adaGrad || type == .rmsProp) && momentum != 0 {
            throw map.error("momentum", "\(type.rawValue) does not use momentum; found \(momentum)",
                            hint: "remove momentum (Caffe refuses it too); Adam and SGD use it")
        }
        if type == .adam && !(0..<1).contains(momentum2) { throw map.error("momentum2", "must be in [0, 1), found \(momentum2)") }
        if type == .adaDelta && momentum == 0 {
            throw map.error("momentum", "AdaDelta needs momentum, its decay rate ρ", hint: "e.g. momentum: 0.95")
        }
        guard delta > 0 else { throw map.error("delta", "must be positive, found \(delta)") }
        guard rmsDecay > 0 && rmsDecay < 1 else { throw map.error("rms_decay", "must be in (0, 1), found \(rmsDecay)") }
        weightDecay = try map.double("weight_decay", default: 0)
        guard weightDecay >= 0 else { throw map.error("weight_decay", "must not be negative, found \(weightDecay)") }
        regularization = try map.choice("regularization_type", default: RegularizationType.l2)
        let clip = try map.double("clip_gradients", default: -1)
        // Caffe's -1: off. Caffe would scale every gradient to norm 0 for 0.
        guard clip != 0 else {
            throw map.error("clip_gradients", "must be positive (the largest gradient norm), found 0",
                            hint: "a negative value turns clipping off, as does leaving the key out")
        }
        clipGradients = clip > 0 ? clip : nil
        iterSize = try map.int("iter_size", default: 1, min: 1)
        if iterSize > 1 << 20 { throw map.error("iter_size", "must be at most \(1 << 20), found \(iterSize)") }

        maxIter = try map.int("max_iter")
        maxEpoch = try map.double("max_epoch")
        switch (maxIter, maxEpoch) {
        case (nil, nil):
            throw map.missing("max_iter", hint: "how long to train: max_iter: 10000, or max_epoch: 10")
        case (_?, _?):
            throw map.error("max_epoch", "give either max_iter or max_epoch, not both")
        case (let n?, nil):
            guard n >= 0 else { throw map.error("max_iter", "must not be negative, found \(n)") }
        case (nil, let e?):
            guard e > 0 else { throw map.error("max_epoch", "must be positive, found \(e)") }
            guard e <= 1e6 else { throw map.error("max_epoch", "must be at most a million, found \(e)") }
        }

        var testIter: [TestIterations] = []
        if let node = map.node("test_iter") {
            let items: [YAMLNode]
            if case .sequence(let list) = node.value { items = list } else { items = [node] }
            for item in items {
                if item.scalar == "all" { testIter.append(.all); continue }
                guard let s = item.scalar, let n = ConfigMap.parseInt(s), n >= 1 else {
                    throw ConfigError(at: item.location, "solver: test_iter: expected a number of batches (at least 1) or 'all', found \(item.kindDescription)")
                }
                testIter.append(.batches(n))
            }
        }
        self.testIter = testIter
        testInterval = try map.int("test_interval", default: 0, min: 0)
        testInitialization = try map.bool("test_initialization", default: true)
        display = try map.int("display", default: 0, min: 0)
        averageLoss = try map.int("average_loss", default: 1, min: 1)
        snapshot = try map.int("snapshot", default: 0, min: 0)
        snapshotPrefixGiven = map.has("snapshot_prefix")
        if let prefix = try map.string("snapshot_prefix") {
            snapshotPrefix = ConfigFile.resolve(prefix, relativeTo: file)
        } else {
            // Caffe's default: the solver file's own name without its extension.
            snapshotPrefix = file.hasSuffix(".yaml") ? String(file.dropLast(5)) : file
        }
        if let seed = try map.int("random_seed"), seed >= 0 {
            randomSeed = UInt64(seed)
        } else {
            randomSeed = nil  // Caffe's -1: pick one
        }
        earlyStopping = try map.map("early_stopping").map { m throws(ConfigError) in try MetricSpec(m, patienceRequired: false) }
        modelCard = try map.map("model_card").map { m throws(ConfigError) in try CardTemplate(m) } ?? CardTemplate()

        trainState = try map.map("train_state").map { m throws(ConfigError) in try NetStateAddition(m, phase: .train) }
        testStates = try map.maps("test_state").map { m throws(ConfigError) in try NetStateAddition(m, phase: .test) }
        snapshotAfterTrain = try map.bool("snapshot_after_train", default: true)
        debugInfo = try map.bool("debug_info", default: false)
        let monitorNames = try map.strings("monitor")
        var monitorItems: [YAMLNode] = []
        if let node = map.node("monitor") {
            if case .sequence(let items) = node.value { monitorItems = items } else { monitorItems = [node] }
        }
        monitor = zip(monitorNames, monitorItems).map { MonitoredLayer(name: $0, location: $1.location) }
        for (i, m) in monitor.enumerated() where monitor[..<i].contains(where: { $0.name == m.name }) {
            throw ConfigError(at: m.location, "solver: monitor: layer '\(m.name)' is listed twice")
        }
        weights = try map.strings("weights").map { $0.hasPrefix("zoo:") ? $0 : ConfigFile.resolve($0, relativeTo: file) }
        // Caffe always reports the test loss only with test_compute_loss; Dendrite reports every
        // test output, the loss included, so the key changes nothing.
        _ = try map.bool("test_compute_loss", default: false)

        if !generic, !testNetFiles.isEmpty || !testNetParams.isEmpty {
            testNets = testNetParams.map { NetSource.inline($0.node, key: $0.key, solver: file) }
                + zip(testNetFiles, testNetLocations).map { NetSource.file(ConfigFile.resolve($0, relativeTo: file), reference: $1) }
        } else if testInterval > 0 || !testIter.isEmpty {
            // `net` serves every test net, in the TEST phase and each test_state (Caffe's
            // mnist_autoencoder tests on its training and its test data this way).
            testNets = Array(repeating: self.trainNet, count: max(1, testIter.count, testStates.count))
        } else {
            testNets = []
        }
        if !testStates.isEmpty && testStates.count != testNets.count {
            throw map.error("test_state", "gives \(testStates.count) states for \(testNets.count) test net\(testNets.count == 1 ? "" : "s")",
                            hint: "one test_state per test net (and one test_iter each)")
        }
        if testInterval > 0 && testIter.isEmpty {
            throw map.error("test_interval", "testing every \(testInterval) iterations needs test_iter (batches per test)",
                            hint: "add test_iter: all for the whole test set, or a number of batches")
        }
        if !testIter.isEmpty && testIter.count != testNets.count {
            throw map.error("test_iter", "gives \(testIter.count) counts for \(testNets.count) test nets")
        }
        if !monitor.isEmpty && testInterval == 0 {
            throw map.error("monitor", "reports at each round of tests, but nothing is tested",
                            hint: "set test_interval and test_iter; the statistics are taken on the first test batch")
        }
        if (earlyStopping != nil || plateau != nil) && testInterval == 0 {
            throw map.error(earlyStopping != nil ? "early_stopping" : "plateau", "watches test results, but nothing is tested",
                            hint: "set test_interval and test_iter")
        }
        try map.finish()
    }

    /// The mappings of an inline net key (`net_param`), or of a list of them (`test_net_param`,
    /// where one mapping is a list of one), each with the key that names it.
    static func inlineNets(_ map: ConfigMap, _ key: String, list: Bool) throws(ConfigError) -> [(node: YAMLNode, key: String)] {
        guard let node = map.node(key) else { return [] }
        var items: [(node: YAMLNode, key: String)] = [(node, key)]
        if list, case .sequence(let nodes) = node.value { items = nodes.enumerated().map { ($0.element, "\(key)[\($0.offset)]") } }
        for item in items {
            guard case .mapping = item.node.value else {
                throw ConfigError(at: item.node.location, "solver: \(item.key): expected a net (a mapping with name and layer), found \(item.node.kindDescription)",
                                  hint: list ? "a list of nets: \(key): [{name: …, layer: […]}, …]" : "write the net's keys under \(key): name, layer, …")
            }
        }
        return items
    }

    public static func load(_ path: String) throws(ConfigError) -> SolverSpec {
        try SolverSpec(node: try ConfigFile.load(path), file: path)
    }
}
