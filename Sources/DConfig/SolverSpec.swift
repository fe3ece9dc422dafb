/// The solver file, with Caffe's SolverParameter names. Paths are resolved against the
/// solver file; defaults are Caffe's unless noted in Configs/README.md.

public enum SolverType: String, Sendable, CaseIterable {
    case sgd = "SGD", nesterov = "Nesterov", adaGrad = "AdaGrad", rmsProp = "RMSProp"
    case adaDelta = "AdaDelta", adam = "Adam"
}

public enum RegularizationType: String, Sendable, CaseIterable {
    case l2 = "L2", l1 = "L1"
}

/// Caffe's learning-rate policies with the parameters each one needs.
public enum LRPolicy: Sendable, Equatable {
    case fixed
    case step(gamma: Double, stepsize: Int)
    case multistep(gamma: Double, stepvalues: [Int])
    case exp(gamma: Double)
    case inv(gamma: Double, power: Double)
    case poly(power: Double)
    case sigmoid(gamma: Double, stepsize: Int)

    public enum Name: String, CaseIterable { case fixed, step, multistep, exp, inv, poly, sigmoid }
}

public struct SolverSpec: Sendable {
    public var file: String
    /// The net used for training (`net` or `train_net`), resolved.
    public var trainNet: String
    /// The nets used for testing: `test_net` files, or `net` again in the TEST phase.
    public var testNets: [String]
    public var type: SolverType
    public var baseLR: Double
    public var lrPolicy: LRPolicy
    public var momentum: Double
    public var weightDecay: Double
    public var regularization: RegularizationType
    public var maxIter: Int
    /// Batches per test, one entry per test net.
    public var testIter: [Int]
    public var testInterval: Int
    public var testInitialization: Bool
    public var display: Int
    public var averageLoss: Int
    public var snapshot: Int
    /// Resolved path prefix of snapshot files (Caffe's `snapshot_prefix`).
    public var snapshotPrefix: String
    /// nil when the file sets none; the trainer then picks one and reports it.
    public var randomSeed: UInt64?

    public init(node: YAMLNode, file: String) throws(ConfigError) {
        let map = try ConfigMap(node, context: "solver")
        self.file = file

        let netName = try map.string("net"), trainNetName = try map.string("train_net")
        let testNetFiles = try map.strings("test_net")
        switch (netName, trainNetName) {
        case (let n?, nil):
            self.trainNet = ConfigFile.resolve(n, relativeTo: file)
            if !testNetFiles.isEmpty { throw map.error("test_net", "give test nets with train_net, not with net", hint: "net is used for both phases") }
        case (nil, let t?):
            self.trainNet = ConfigFile.resolve(t, relativeTo: file)
        case (nil, nil):
            throw map.missing("net", hint: "name the net file: net: net.yaml")
        case (_?, _?):
            throw map.error("train_net", "give either net or train_net, not both")
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
        }

        momentum = try map.double("momentum", default: 0)
        weightDecay = try map.double("weight_decay", default: 0)
        regularization = try map.choice("regularization_type", default: RegularizationType.l2)
        guard let maxIter = try map.int("max_iter") else {
            throw map.missing("max_iter", hint: "how many iterations to train, e.g. max_iter: 10000")
        }
        guard maxIter >= 0 else { throw map.error("max_iter", "must not be negative, found \(maxIter)") }
        self.maxIter = maxIter

        testIter = try map.ints("test_iter")
        if let bad = testIter.first(where: { $0 < 1 }) { throw map.error("test_iter", "must be at least 1, found \(bad)") }
        testInterval = try map.int("test_interval", default: 0, min: 0)
        testInitialization = try map.bool("test_initialization", default: true)
        display = try map.int("display", default: 0, min: 0)
        averageLoss = try map.int("average_loss", default: 1, min: 1)
        snapshot = try map.int("snapshot", default: 0, min: 0)
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

        if trainNetName != nil, !testNetFiles.isEmpty {
            testNets = testNetFiles.map { ConfigFile.resolve($0, relativeTo: file) }
        } else {
            testNets = testInterval > 0 || !testIter.isEmpty ? [self.trainNet] : []
        }
        if testInterval > 0 && testIter.isEmpty {
            throw map.error("test_interval", "testing every \(testInterval) iterations needs test_iter (batches per test)",
                            hint: "add test_iter, e.g. test_iter: 100 for 10000 test images in batches of 100")
        }
        if !testIter.isEmpty && testIter.count != testNets.count {
            throw map.error("test_iter", "gives \(testIter.count) counts for \(testNets.count) test nets")
        }
        try map.finish()
    }

    public static func load(_ path: String) throws(ConfigError) -> SolverSpec {
        try SolverSpec(node: try ConfigFile.load(path), file: path)
    }
}
