import DConfig

/// A zoo entry's `model.yaml`: what the model is, what it was trained on and how, what it
/// measured, and the SHA-256 and size of every other file of the entry. `version` lets the
/// format evolve: a reader refuses versions it does not know.
public struct ModelCard: Sendable, Equatable {
    public static let fileName = "model.yaml"
    public static let currentVersion = 1
    /// The Dendrite version recorded in provenance.
    public static let dendriteVersion = "0.1.0"

    public struct DataFile: Sendable, Equatable {
        /// `train images`, `train labels`, `test images`, `test labels`.
        public var role: String
        public var path: String
        public var sha256: String
        public init(role: String, path: String, sha256: String) { self.role = role; self.path = path; self.sha256 = sha256 }

        /// The card's flow mapping of it.
        var yaml: String { "{role: \(YAMLText.quoted(role)), path: \(YAMLText.quoted(path)), sha256: \(YAMLText.quoted(sha256))}" }

        /// The list under `key` of `map`, each entry exactly role, path and sha256.
        static func list(_ key: String, of map: ConfigMap) throws(ConfigError) -> [DataFile] {
            var files: [DataFile] = []
            for f in try map.maps(key) {
                files.append(DataFile(role: try f.requiredString("role"), path: try f.requiredString("path"), sha256: try f.requiredString("sha256")))
                try f.finish()
            }
            return files
        }
    }

    /// The test outputs of the card's weights, over the whole test set.
    public struct Metrics: Sendable, Equatable {
        public var iteration: Int
        /// The test net they were measured on.
        public var net: String
        public var samples: Int
        public var values: [(name: String, value: Double)]
        public init(iteration: Int, net: String, samples: Int, values: [(name: String, value: Double)]) {
            self.iteration = iteration; self.net = net; self.samples = samples; self.values = values
        }
        /// The output a model is known by: accuracy when it has one, else the first.
        public var headline: (name: String, value: Double)? { values.first { $0.name == "accuracy" } ?? values.first }

        public static func == (a: Metrics, b: Metrics) -> Bool {
            a.iteration == b.iteration && a.net == b.net && a.samples == b.samples
                && a.values.map(\.name) == b.values.map(\.name) && a.values.map(\.value) == b.values.map(\.value)
        }
    }

    public struct Provenance: Sendable, Equatable {
        public var command: String
        public var dendrite: String
        public var randomSeed: UInt64
        public var threads: Int
        /// UTC, ISO 8601.
        public var date: String
        /// What computed the metrics (float sums depend on it): OpenBLAS's kernel family and
        /// version and the CPU model; empty in cards written before they were recorded.
        public var openblasCore: String
        public var openblasVersion: String
        public var cpu: String
        /// Dendrite's own GEMM kernels (`SmallGEMM.Level`: plain, avx2 or avx512); empty in
        /// cards written before they existed, whose products all ran in OpenBLAS.
        public var kernels: String
        public var kernelsOrPlain: String { kernels.isEmpty ? "plain" : kernels }
        /// The seconds the training runs took as dtrain measured them (tests during training
        /// included, the card's final measurement not), summed over the parts of a resumed
        /// run; 0 in cards written before it was recorded.
        public var trainingSeconds: Double
        public init(command: String, dendrite: String, randomSeed: UInt64, threads: Int, date: String,
                    openblasCore: String = "", openblasVersion: String = "", cpu: String = "", kernels: String = "",
                    trainingSeconds: Double = 0) {
            self.command = command; self.dendrite = dendrite; self.randomSeed = randomSeed; self.threads = threads; self.date = date
            self.openblasCore = openblasCore; self.openblasVersion = openblasVersion; self.cpu = cpu; self.kernels = kernels
            self.trainingSeconds = trainingSeconds
        }
    }

    public struct FileRecord: Sendable, Equatable {
        public var path: String
        public var size: Int
        public var sha256: String
        public init(path: String, size: Int, sha256: String) { self.path = path; self.size = size; self.sha256 = sha256 }
    }

    public var version = ModelCard.currentVersion
    public var name: String
    public var description = ""
    public var licence = ""
    public var datasetName = ""
    public var datasetFiles: [DataFile] = []
    /// The files an imported model was made from (`dzoo import-caffe`): a Caffe net and weights.
    public var importedFrom: [DataFile] = []
    public var classNames: [String] = []
    /// One sample's shape, without the batch dimension: [channels, height, width].
    public var inputShape: [Int] = []
    /// What the training data's values are: bytes (images) or floats (float IDX data).
    public enum InputType: String, Sendable, CaseIterable { case bytes = "uint8", floats = "float32" }
    public var inputType = InputType.bytes
    /// What the data layer did to each value: (value - mean) * scale.
    public var scale: Double = 1
    public var meanValues: [Double] = []
    /// `mean_file`: the entry's file (safetensors, tensor `mean` of the input's shape) holding
    /// the mean image that the data layer subtracted, centre-cropped as the input is.
    public var meanFile = ""
    /// The training data's statistics that the data layer divided out (`normalize`): the mode,
    /// per channel the mean and std in the card, per pixel or zca in the entry's
    /// `statistics` file (safetensors: `mean`, `std`, `whitening`).
    public var normalize = ""
    public var normalizeMean: [Double] = []
    public var normalizeStd: [Double] = []
    public var statistics = ""
    /// The net files of the entry: for training and testing, and for deployment.
    public var net = "net.yaml"
    public var deploy = "deploy.yaml"
    /// Empty for an imported model, which comes without a recipe.
    public var solver = "solver.yaml"
    /// The weights `zoo:NAME` loads: the best snapshot when early stopping kept one, else the
    /// latest.
    public var weights = ""
    public var metrics: Metrics?
    /// Iterations with a snapshot in the entry, ascending.
    public var snapshots: [Int] = []
    public var provenance: Provenance
    /// Every file of the entry but this card.
    public var files: [FileRecord] = []

    public init(name: String, provenance: Provenance) {
        self.name = name
        self.provenance = provenance
    }

    public var latestIteration: Int? { snapshots.last }

    /// The bytes of the entry's files (the card aside).
    public var totalBytes: Int { files.reduce(0) { $0 + $1.size } }

    /// The card as YAML.
    public func yaml() -> String {
        let q = YAMLText.quoted
        var out = "# Dendrite model card, written by \(importedFrom.isEmpty ? "dtrain" : "dzoo import-caffe"). `dzoo verify` checks every checksum below.\n"
        out += "version: \(version)\nname: \(q(name))\ndescription: \(q(description))\nlicence: \(q(licence))\n"
        out += "dataset:\n  name: \(q(datasetName))\n  files:" + (datasetFiles.isEmpty ? " []\n" : "\n")
        for f in datasetFiles { out += "    - \(f.yaml)\n" }
        if !importedFrom.isEmpty {
            out += "imported_from:\n"
            for f in importedFrom { out += "  - \(f.yaml)\n" }
        }
        out += "class_names: [\(classNames.map(q).joined(separator: ", "))]\n"
        out += "input:\n  shape: [\(inputShape.map(String.init).joined(separator: ", "))]\n"
        out += "  data_type: \(inputType.rawValue)\n  scale: \(scale)\n  mean_value: [\(meanValues.map { "\($0)" }.joined(separator: ", "))]\n"
        if !meanFile.isEmpty { out += "  mean_file: \(q(meanFile))\n" }
        if !normalize.isEmpty {
            out += "  normalize: \(q(normalize))\n"
            if !normalizeMean.isEmpty { out += "  normalize_mean: [\(normalizeMean.map { "\($0)" }.joined(separator: ", "))]\n" }
            if !normalizeStd.isEmpty { out += "  normalize_std: [\(normalizeStd.map { "\($0)" }.joined(separator: ", "))]\n" }
            if !statistics.isEmpty { out += "  statistics: \(q(statistics))\n" }
        }
        out += "net: \(q(net))\ndeploy: \(q(deploy))\nsolver: \(q(solver))\nweights: \(q(weights))\n"
        if let m = metrics {
            out += "metrics:\n  iteration: \(m.iteration)\n  net: \(q(m.net))\n  samples: \(m.samples)\n  values: {"
            out += m.values.map { "\(q($0.name)): \($0.value)" }.joined(separator: ", ") + "}\n"
        }
        out += "snapshots: [\(snapshots.map(String.init).joined(separator: ", "))]\n"
        out += "provenance:\n  command: \(q(provenance.command))\n  dendrite: \(q(provenance.dendrite))\n"
        out += "  random_seed: \(provenance.randomSeed)\n  threads: \(provenance.threads)\n  date: \(q(provenance.date))\n"
        out += "  openblas_core: \(q(provenance.openblasCore))\n  openblas_version: \(q(provenance.openblasVersion))\n  cpu: \(q(provenance.cpu))\n"
        if !provenance.kernels.isEmpty { out += "  kernels: \(q(provenance.kernels))\n" }
        // To 0.1 s; a time that rounds to 0 is left out, as when it was not recorded, so that
        // the card reads back as it was written.
        let trainingSeconds = (provenance.trainingSeconds * 10).rounded() / 10
        if trainingSeconds > 0 { out += "  training_seconds: \(trainingSeconds)\n" }
        out += "files:" + (files.isEmpty ? " []\n" : "\n")
        for f in files { out += "  - {path: \(q(f.path)), size: \(f.size), sha256: \(q(f.sha256))}\n" }
        return out
    }

    /// Reads a card, checking every key as configs are checked.
    public static func load(_ path: String) throws(ConfigError) -> ModelCard {
        try ModelCard(node: try ConfigFile.load(path))
    }

    public init(node: YAMLNode) throws(ConfigError) {
        let map = try ConfigMap(node, context: "model card")
        guard let version = try map.int("version") else {
            throw map.missing("version", hint: "is this a Dendrite model card? dtrain writes them as model.yaml")
        }
        guard version == Self.currentVersion else {
            throw map.error("version", "is \(version); this Dendrite reads model cards of version \(Self.currentVersion)",
                            hint: "use the Dendrite that wrote the card, or retrain")
        }
        self.version = version
        name = try map.requiredString("name")
        description = try map.string("description") ?? ""
        licence = try map.string("licence") ?? ""
        if let d = try map.map("dataset") {
            datasetName = try d.string("name") ?? ""
            datasetFiles = try DataFile.list("files", of: d)
            try d.finish()
        }
        importedFrom = try DataFile.list("imported_from", of: map)
        classNames = try map.strings("class_names")
        if let i = try map.map("input") {
            inputShape = try i.ints("shape")
            inputType = try i.choice("data_type", default: InputType.bytes)
            scale = try i.double("scale", default: 1)
            normalize = try i.string("normalize") ?? ""
            normalizeMean = try i.doubles("normalize_mean")
            normalizeStd = try i.doubles("normalize_std")
            statistics = try i.string("statistics") ?? ""
            meanFile = try i.string("mean_file") ?? ""
            for (key, name) in [("statistics", statistics), ("mean_file", meanFile)] where !name.isEmpty && (name.contains("/") || name == "." || name == "..") {
                throw i.error(key, "must name a file of the entry, found '\(name)'")
            }
            meanValues = try i.doubles("mean_value")
            if inputShape.contains(where: { $0 < 1 }) { throw i.error("shape", "dimensions must be positive, found \(inputShape)") }
            if meanValues.count > 1 && meanValues.count != inputShape.first {
                throw i.error("mean_value", "gives \(meanValues.count) means for \(inputShape.first ?? 0) channel\(inputShape.first == 1 ? "" : "s")",
                              hint: "give one mean per channel, or one for all")
            }
            try i.finish()
        }
        // Every file the card names is a plain name inside the entry.
        func entryFile(_ key: String, required: Bool = true) throws(ConfigError) -> String {
            let name = required ? try map.requiredString(key) : try map.string(key) ?? ""
            if !name.isEmpty && (name.contains("/") || name == "." || name == "..") {
                throw map.error(key, "must name a file of the entry, found '\(name)'")
            }
            return name
        }
        net = try entryFile("net")
        deploy = try entryFile("deploy")
        solver = try entryFile("solver", required: false)
        weights = try entryFile("weights", required: false)
        if !weights.isEmpty && !weights.hasSuffix(".safetensors") {
            throw map.error("weights", "must name a .safetensors weights file, found '\(weights)'")
        }
        if let m = try map.map("metrics") {
            var values: [(String, Double)] = []
            if let v = try m.map("values") {
                for key in v.keys {
                    values.append((key, try v.double(key) ?? .nan))
                }
                try v.finish()
            }
            metrics = Metrics(iteration: try m.int("iteration") ?? 0, net: try m.string("net") ?? "",
                              samples: try m.int("samples") ?? 0, values: values)
            try m.finish()
        }
        snapshots = try map.ints("snapshots")
        guard let p = try map.map("provenance") else { throw map.missing("provenance") }
        provenance = Provenance(command: try p.string("command") ?? "", dendrite: try p.string("dendrite") ?? "",
                                randomSeed: UInt64(max(0, try p.int("random_seed") ?? 0)), threads: try p.int("threads") ?? 0,
                                date: try p.string("date") ?? "", openblasCore: try p.string("openblas_core") ?? "",
                                openblasVersion: try p.string("openblas_version") ?? "", cpu: try p.string("cpu") ?? "",
                                kernels: try p.string("kernels") ?? "", trainingSeconds: max(0, try p.double("training_seconds") ?? 0))
        try p.finish()
        for f in try map.maps("files") {
            guard let size = try f.int("size"), (0...(1 << 40)).contains(size) else {
                throw f.error("size", "must be a byte count between 0 and 2^40")
            }
            let sha = try f.requiredString("sha256")
            guard sha.count == 64, sha.allSatisfy(\.isHexDigit) else { throw f.error("sha256", "must be 64 hexadecimal digits") }
            files.append(FileRecord(path: try f.requiredString("path"), size: size, sha256: sha))
            try f.finish()
        }
        try map.finish()
    }
}
