import ArgumentParser
import DConfig
import DCore
import DData
import DLayers
import DNet
import DSolvers
import DZoo
#if canImport(Glibc)
import Glibc
#endif

/// `dtest zoo:NAME` or `dtest --model NET.yaml --weights FILE`: evaluates on the TEST phase,
/// classifies image files, runs committees and extracts features.
public struct TestCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dtest",
        abstract: "Evaluate trained weights (Caffe's `caffe test`), classify images, run committees, extract features.",
        discussion: """
            Models are zoo references (zoo:NAME for the weights its card names, zoo:NAME@ITER for a \
            snapshot), zoo entry directories, or --model NET.yaml with --weights FILE.
            Evaluation covers the model's test set exactly once (or --images/--labels) and prints \
            every scalar output, then a confusion matrix with the card's class names:
              test samples=10000 batches=100 accuracy=0.9026 loss=0.273345
            When this run's OpenBLAS kernel or thread count is not the one the card names, a \
            note line names both and gives the card's values and the differences (float sums \
            round differently; it is not an error).
            Several models (or several --weights) form a committee that averages their softmax \
            outputs; each member's results and the committee's are printed:
              member 1 model=zoo:fashion-lenet samples=10000 accuracy=0.9026 loss=0.273345
              member 2 model=zoo:fashion-mlp samples=10000 accuracy=0.8819 loss=0.322508
              committee members=2 samples=10000 accuracy=0.9082
            --predict FILE… classifies image files (zoo models only) with the card's \
            preprocessing, converted to the model's channels, and prints the most likely classes. \
            --show-augment N --out FILE.png draws the first N training samples plain and as TRAIN \
            distorts them. --visualize LAYER --out FILE.png draws a Convolution's filters, or an \
            InnerProduct's weight rows when it reads the input image, as tiles, each spread \
            over its own min…max (filters differ in scale; a constant one is mid grey). \
            --reconstruct N --out FILE.png draws an autoencoder's first N test samples above \
            its reconstructions, ten to a row. --dump BLOB[,BLOB] --out FILE.safetensors \
            writes blobs for the whole test set (Caffe's extract_features). --stage NAME builds \
            the TEST net with that stage (Caffe's caffe test --stage), e.g. \
            Configs/fashion-autoencoder's test-on-test. --json prints one JSON object instead.
            --generate --prime TEXT --length N --temperature T --seed S generates text with a \
            character model (a net trained on TextData): it feeds the prime to the deploy net, then \
            draws N characters from softmax(logits/T) and prints the prime and them.
            With --time it measures inference speed over the whole test set, after the \
            matrix products of one batch's forward pass (the shapes scripts/bench times OpenBLAS on):
              gemm m=20 n=57600 k=25 op=NN count=1
              time images/s=21000 batch=100 load_s=0.06 windows=5
            """)

    @Argument(help: "Models: zoo:NAME, zoo:NAME@ITER or a zoo entry directory; several form a committee.")
    public var models: [String] = []

    @Option(name: .long, help: "The net YAML file (instead of a zoo model).")
    public var model: String?

    @Option(name: .long, help: "Weights for --model: a safetensors file or a zoo reference. Repeat for a committee of snapshots.")
    public var weights: [String] = []

    @Option(name: .long, help: "Evaluate on these IDX images instead of the test set the net names (with --labels).")
    public var images: String?

    @Option(name: .long, help: "The IDX labels that go with --images.")
    public var labels: String?

    @Option(name: .long, help: "Batches to run, continuing through the data as Caffe does (default: the whole test set once).")
    public var iterations: Int?

    @Option(name: .long, parsing: .upToNextOption, help: "Classify these image files (PNG, PGM, …) with each zoo entry's deploy net and card preprocessing, and print the most likely classes.")
    public var predict: [String] = []

    @Option(name: .long, help: "How many classes --predict prints per image.")
    public var top = 5

    @Option(name: .long, help: "Blobs to write for the whole test set, comma-separated (with --out).")
    public var dump: String?

    @Option(name: .long, help: "The safetensors file --dump writes, or the PNG file --show-augment, --visualize or --reconstruct writes.")
    public var out: String?

    @Option(name: .long, help: "Draw the first N training samples of the net, each plain and as TRAIN distorts it (transform_param), into the PNG file --out.")
    public var showAugment: Int?

    @Option(name: .long, help: "The seed of the distortions --show-augment draws, or of the characters --generate draws.")
    public var seed: UInt64 = 1

    @Flag(name: .long, help: ArgumentHelp(
        "Generate text with a character model (a net trained on TextData): feed --prime, then sample --length characters.",
        discussion: "The deploy net (the zoo entry's, or for --model one made from NET.yaml's TEST layers) runs one character of one stream per forward: the prime's characters in turn (cont 0 for the first, 1 after, so recurrent layers carry their state), then each drawn character. Each step draws from the deploy net's 'prob' p with temperature T as p^(1/T), re-normalised, which equals softmax(logits/T); the draws come from --seed. The vocabulary is the zoo entry's vocabulary.json, or for --model the net's TextData source files (their sorted characters, as TextData numbers them). Prints the prime as given and the continuation, then a newline, and nothing else on stdout."))
    public var generate = false

    @Option(name: .long, help: ArgumentHelp("With --generate: the text to start from (not empty; every character must be in the model's vocabulary).", valueName: "text"))
    public var prime: String?

    @Option(name: .long, help: ArgumentHelp("With --generate: how many characters to draw after the prime (default: \(Self.defaultLength)).", valueName: "n"))
    public var length: Int?
    static let defaultLength = 200

    @Option(name: .long, help: ArgumentHelp("With --generate: the sampling temperature, above 0 (below 1 sharper, above 1 flatter; default: 1).", valueName: "t"))
    public var temperature: Double?

    @Flag(name: .long, help: "With --generate: leave the prime's characters that are not in the vocabulary out of what the net is fed, instead of stopping with an error (they are still printed).")
    public var skipUnknown = false

    @Option(name: .long, help: ArgumentHelp(
        "Draw this Convolution or InnerProduct layer's learned weights as tiles into the PNG file --out.",
        discussion: "Convolution: one tile per filter, grey for one input channel and colour for a first layer on colour images; deeper filters get a row each, one tile per input channel. InnerProduct: each output unit's weights as an image of the input, when the layer reads the input directly (K = C×H×W, an autoencoder's first layer). Each tile is spread over its own min…max, because filters differ in scale; small tiles are enlarged to at least 20 pixels; tiles are 1 pixel apart.",
        valueName: "layer"))
    public var visualize: String?

    @Flag(name: .long, help: "With --visualize: one grey tile per filter, the mean over its input channels, rather than a tile per input channel (or a colour tile).")
    public var meanOverInputs = false

    @Option(name: .long, help: ArgumentHelp("With --visualize: draw the first N filters or units (default: \(FilterPicture.defaultLimit)).", valueName: "n"))
    public var limit: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Draw the first N test samples above the net's reconstructions of them into the PNG file --out (autoencoders).",
        discussion: "Ten samples to a row: a row of originals, the row of their reconstructions below it, and further pairs of rows for more. The reconstruction is the first bottom of the first SigmoidCrossEntropyLoss (through a sigmoid: it takes logits) or EuclideanLoss whose second bottom is the input (one sample's worth of values). Both rows are mapped back through the data layer's transform (scale, mean_value, mean_file, normalize per_channel/per_pixel) to the data's bytes, clamped to 0…255; float data, and zca, are spread over each original's min…max.",
        valueName: "n"))
    public var reconstruct: Int?

    @Option(name: .long, help: ArgumentHelp("With --reconstruct: the blob to show as the reconstruction, as it is (no sigmoid), instead of a loss's first bottom.", valueName: "blob"))
    public var reconstructBlob: String?

    @Option(name: .long, help: ArgumentHelp("Build the TEST net with this stage, so that layers with include: {stage: NAME} take part (Caffe's caffe test --stage). Repeat, or separate with commas.", valueName: "name"))
    public var stage: [String] = []

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    public var json = false

    @Flag(name: .long, help: "Measure inference speed: one untimed pass over the test set, then --time-windows timed ones.")
    public var time = false

    @Option(name: .long, help: "Timed passes with --time; the median is reported.")
    public var timeWindows = 5

    @OptionGroup public var compute: ComputeOptions

    public init() {}

    public mutating func validate() throws {
        if let n = iterations, n < 1 { throw ValidationError("--iterations must be at least 1, found \(n)") }
        if timeWindows < 1 { throw ValidationError("--time-windows must be at least 1, found \(timeWindows)") }
        if top < 1 { throw ValidationError("--top must be at least 1, found \(top)") }
        if models.isEmpty && model == nil { throw ValidationError("name a model: zoo:NAME, an entry directory, or --model NET.yaml --weights FILE") }
        if !models.isEmpty && (model != nil || !weights.isEmpty) { throw ValidationError("give zoo models or --model/--weights, not both") }
        if model != nil && weights.isEmpty && !time && showAugment == nil { throw ValidationError("missing --weights (only --time and --show-augment run without weights)") }
        if (images == nil) != (labels == nil) { throw ValidationError("give --images and --labels together") }
        if let n = showAugment, n < 1 { throw ValidationError("--show-augment must be at least 1, found \(n)") }
        if let n = reconstruct, n < 1 { throw ValidationError("--reconstruct must be at least 1, found \(n)") }
        if let n = limit, n < 1 { throw ValidationError("--limit must be at least 1, found \(n)") }
        if visualize == nil && (limit != nil || meanOverInputs) { throw ValidationError("--limit and --mean-over-inputs go with --visualize LAYER") }
        if reconstruct == nil && reconstructBlob != nil { throw ValidationError("--reconstruct-blob goes with --reconstruct N") }
        if let bad = stage.first(where: { $0.split(separator: ",", omittingEmptySubsequences: false).contains(where: \.isEmpty) }) {
            throw ValidationError("--stage takes stage names separated by commas, found '\(bad)'")
        }
        let pictures = [showAugment.map { _ in "--show-augment N" }, visualize.map { _ in "--visualize LAYER" }, reconstruct.map { _ in "--reconstruct N" }].compactMap { $0 }
        if pictures.count > 1 { throw ValidationError("\(pictures.joined(separator: " and ")) each write a picture: give one at a time") }
        if let picture = pictures.first {
            guard let out, out.hasSuffix(".png") else { throw ValidationError("\(picture) writes a PNG file: give --out FILE.png") }
            if dump != nil || !predict.isEmpty || time || iterations != nil || json || max(models.count, weights.count) > 1 {
                throw ValidationError(showAugment != nil ? "--show-augment draws one net's training data; it takes no --dump, --predict, --time, --iterations, --json or committee"
                                      : "\(picture.prefix { $0 != " " }) draws one model; it takes no --dump, --predict, --time, --iterations, --json or committee")
            }
            if visualize != nil && images != nil { throw ValidationError("--visualize draws weights; it takes no --images or --labels") }
        } else if (dump == nil) != (out == nil) {
            throw ValidationError(dump == nil ? "--out names the file of --dump BLOB, --show-augment N, --visualize LAYER or --reconstruct N: give one of them"
                                              : "give --dump BLOB and --out FILE.safetensors together")
        }
        if let dump {
            let names = dump.split(separator: ",", omittingEmptySubsequences: false)
            if names.contains(where: \.isEmpty) { throw ValidationError("--dump takes blob names separated by commas, found '\(dump)'") }
            if Set(names).count != names.count { throw ValidationError("--dump names a blob twice: '\(dump)'") }
            if iterations != nil { throw ValidationError("--dump covers the whole test set; it does not take --iterations") }
        }
        if !predict.isEmpty && (iterations != nil || dump != nil || time) {
            throw ValidationError("--predict classifies files; it does not take --iterations, --dump or --time")
        }
        if !predict.isEmpty && model != nil {
            // The deploy net and the preprocessing come from each entry's card; another net
            // given with --model would silently not be the one that answers.
            throw ValidationError("--predict uses each zoo model's own deploy net and card; give zoo:NAME or an entry directory, not --model")
        }
        let members = max(models.count, weights.count)
        if generate {
            guard let prime, !prime.isEmpty else {
                throw ValidationError("--generate needs a non-empty --prime TEXT to start from, e.g. --prime \"The \"")
            }
            _ = prime
            if let length, length < 1 { throw ValidationError("--length must be at least 1, found \(length)") }
            if let temperature, !(temperature > 0 && temperature.isFinite) { throw ValidationError("--temperature must be above 0 (e.g. 0.8; lower is more conservative), found \(temperature)") }
            if members > 1 { throw ValidationError("--generate takes one model, not a committee of \(members)") }
            let others = [(iterations != nil, "--iterations"), (dump != nil || out != nil, "--dump/--out"), (time, "--time"), (!predict.isEmpty, "--predict"),
                          (json, "--json"), (images != nil, "--images/--labels"), (!stage.isEmpty, "--stage")].filter(\.0).map(\.1)
            if let first = others.first { throw ValidationError("--generate writes text; it does not take \(first)") }
        } else if prime != nil || length != nil || temperature != nil || skipUnknown {
            throw ValidationError("--prime, --length, --temperature and --skip-unknown go with --generate")
        }
        if time && json { throw ValidationError("--time prints a table of layer times; it does not take --json") }
        if members > 1 && (iterations != nil || time || dump != nil) {
            throw ValidationError("--iterations, --time and --dump take one model, not a committee of \(members)")
        }
    }

    /// One model of the run: its net, weights and card.
    struct Member {
        var label: String
        var net: String
        var weights: String?
        var entry: Zoo.Entry?
    }

    public func run() throws {
        try Console.run { console in
            let threads = compute.resolvedThreads()
            let members = try resolveMembers(Zoo.fromEnvironment())
            if let out { try Zoo.checkOutput(out, inputs: members.flatMap { [$0.net] + ($0.weights.map { [$0] } ?? []) }) }
            if let n = showAugment, let out {
                let (samples, width, height) = try AugmentGrid.write(net: members[0].net, samples: n, seed: seed, to: out)
                return console.out("show-augment samples=\(samples) seed=\(seed) out=\(out) size=\(width)x\(height)")
            }
            if let layer = visualize, let out {
                let net = try build(members[0], file: members[0].net, threads: threads)
                let d = try FilterPicture.write(net, layer: layer, meanOverInputs: meanOverInputs, limit: limit ?? FilterPicture.defaultLimit, to: out)
                console.out("visualize layer=\(layer) type=\(d.type) units=\(d.units) shown=\(d.shown) tiles=\(d.tiles) tile=\(d.tileWidth)x\(d.tileHeight) zoom=\(d.zoom) out=\(out) size=\(d.width)x\(d.height)")
                if d.shown < d.units { console.out("note: the first \(d.shown) of \(d.units) units are drawn; --limit \(d.units) draws all") }
                return
            }
            if let n = reconstruct, let out {
                let net = try build(members[0], file: members[0].net, threads: threads)
                try Zoo.checkOutput(out, inputs: net.dataLayers.flatMap { [$0.dataset.imagesPath, $0.dataset.labelsPath] })
                let d = try ReconstructionPicture.write(net, samples: n, blob: reconstructBlob, step: StepContext(phase: .test, parallel: Parallel(threads: threads)), to: out)
                return console.out("reconstruct samples=\(d.samples) blob=\(d.shown) out=\(out) size=\(d.width)x\(d.height)")
            }
            if !predict.isEmpty { return try classify(members, threads: threads, console) }
            if generate { return console.out(try generateText(members[0], threads: threads)) }
            if time { return try measure(members[0], threads: threads, console) }
            try evaluate(members, threads: threads, console)
        }
    }

    func resolveMembers(_ zoo: Zoo) throws -> [Member] {
        if let model {
            if weights.isEmpty { return [Member(label: model, net: model)] }
            return try weights.map { w in
                let (path, entry) = try zoo.resolveWeights(w)
                return Member(label: w, net: model, weights: path, entry: entry)
            }
        }
        return try models.map { m in
            if Zoo.reference(m) != nil {
                let (path, entry) = try zoo.resolveWeights(m)
                return Member(label: m, net: entry.map { $0.path($0.card.net) } ?? "", weights: path, entry: entry)
            }
            guard FileSystem.exists(m) else {
                throw FileError(path: m, "no such file or directory", hint: "zoo models are named zoo:NAME (zoo:\(m)?); nets are given with --model NET.yaml --weights FILE")
            }
            guard FileSystem.exists("\(m)/\(ModelCard.fileName)") else {
                throw FileError(path: m, "is not a zoo entry (it has no \(ModelCard.fileName))", hint: "for a net file, use --model NET.yaml --weights FILE")
            }
            let entry = try Zoo.entry(at: m, place: .user)
            guard !entry.card.weights.isEmpty else { throw entry.noWeights(m) }
            return Member(label: m, net: entry.path(entry.card.net), weights: try entry.verifiedPath(entry.card.weights), entry: entry)
        }
    }

    /// Builds `file` in the TEST phase with the member's weights.
    func build(_ member: Member, file: String, spec given: NetSpec? = nil, threads: Int) throws -> Net {
        // The test net divides out statistics of the training data (normalize), which must be
        // the data the card names.
        if let card = member.entry?.card, !card.normalize.isEmpty, file != member.entry.map({ $0.path(card.deploy) }) {
            for f in card.datasetFiles where f.role.hasPrefix("train") {
                let (hex, _) = try AtomicFile.sha256(f.path)
                guard hex == f.sha256 else {
                    throw FileError(path: f.path, "is not the training data of '\(card.name)' (its SHA-256 differs from the card's)",
                                    hint: "the model divides out statistics of its training data (normalize: \(card.normalize)), which this file would change")
                }
            }
        }
        let store = ParameterStore(seed: 0)
        let testData = images.flatMap { i in labels.map { (images: i, labels: $0) } }
        let spec = try given ?? NetSpec.load(file)
        let stages = stage.flatMap { $0.split(separator: ",").map(String.init) }
        for s in stages where !spec.stageNames.contains(s) {
            throw ConfigError(file: file, message: "no layer of net '\(spec.name)' names the stage '\(s)' given with --stage",
                              hint: Suggestion.hint(for: s, in: spec.stageNames) ?? (spec.stageNames.isEmpty ? "this net has no stages" : "its stages: \(spec.stageNames.joined(separator: ", "))"))
        }
        let net: Net
        do {
            net = try Net(spec: spec, phase: .test, state: spec.state(.test, adding: NetStateAddition(stages: stages)), store: store,
                          context: BuildContext(phase: .test, netFile: file, seed: 0, datasets: DatasetCache(progress: Console.decodingProgress),
                                                threads: threads, testData: testData))
        } catch {
            // A net whose TEST layers are picked by stage (Caffe's mnist_autoencoder) does not
            // build without one: say which there are.
            var e = error
            if stages.isEmpty && !spec.stageNames.isEmpty {
                e.hint = (e.hint.map { $0 + "; " } ?? "") + "this net's layers are picked by stage: give --stage \(spec.stageNames.joined(separator: " or --stage "))"
            }
            throw e
        }
        if let weights = member.weights { try Self.readEveryWeight(weights, into: store) }
        return net
    }

    /// A model's weights for testing: every layer of the net must find its own.
    static func readEveryWeight(_ weights: String, into store: ParameterStore) throws(FileError) {
        let report = try Weights.read(weights, into: store, for: .testing)
        if !report.initialised.isEmpty {
            throw FileError(path: weights, "has no weights for layer\(report.initialised.count == 1 ? "" : "s") \(report.initialised.joined(separator: ", "))",
                            hint: "is this the snapshot of this net? Layer names must match")
        }
    }

    // MARK: evaluation, committees, --dump

    /// What one member measured: the net's outputs, and per sample its class probabilities.
    struct MemberResult {
        var evaluation: Evaluation
        var classes: Int
        var probabilities: [Float]
        var labels: [Int]
    }

    func evaluate(_ members: [Member], threads: Int, _ console: Console) throws {
        var results: [MemberResult] = []
        var skippedMatrix: String?
        let step = StepContext(phase: .test, parallel: Parallel(threads: threads))
        for member in members {
            let net = try build(member, file: member.net, threads: threads)
            if let out { try Zoo.checkOutput(out, inputs: net.dataLayers.flatMap { [$0.dataset.imagesPath, $0.dataset.labelsPath] }) }
            let scores = ClassScores(net)
            if scores == nil, let blob = ClassScores.scoresBlob(net), members.count == 1, !json {
                skippedMatrix = "note: no confusion matrix: the scores '\(net.blobs[blob].name)' have shape \(net.blobs[blob].shape), a class at every position rather than one row per sample"
            }
            var probabilities: [Float] = [], labels: [Int] = []
            var dumped: [String: [Float]] = [:]
            let dumpBlobs = try dumpedBlobs(net)
            let evaluation: Evaluation
            if let n = iterations {
                // Caffe's --iterations: batches continue through the data, so no per-sample view.
                evaluation = try Evaluator.run(net, batches: n, step: step)
            } else {
                evaluation = try Evaluator.wholeDataset(net, step: step, afterBatch: { n in
                    scores?.append(net, n, into: &probabilities, labels: &labels)
                    for (name, blob) in dumpBlobs {
                        dumped[name, default: []].append(contentsOf: net.data(blob).buffer.prefix(n * net.blobs[blob].shape.dims.dropFirst().reduce(1, *)))
                    }
                })
            }
            if let out {
                let file = SafetensorsFile(tensors: dumpBlobs.map { name, blob in
                    let values = dumped[name] ?? []
                    let rest = Array(net.blobs[blob].shape.dims.dropFirst())
                    return (name, SafetensorsFile.Entry(shape: [values.count / max(1, rest.reduce(1, *))] + rest, values: values))
                }, metadata: ["format": "dendrite-features", "net": net.name, "weights": member.weights ?? ""])
                try file.write(to: out)
            }
            results.append(MemberResult(evaluation: evaluation, classes: scores?.classes ?? 0, probabilities: probabilities, labels: labels))
        }
        let names = classNames(members, classes: results[0].classes)
        let committee = members.count > 1 ? try Committee(results, names: members.map(\.label)) : nil
        let note = members.count == 1 ? cardNote(members[0], results[0].evaluation, threads: threads) : nil
        if json { return console.out(jsonReport(members, results, committee, names, note: note)) }

        if members.count == 1 {
            let e = results[0].evaluation
            console.out("test samples=\(e.samples) batches=\(e.batches) \(Format.outputs(e.outputs))")
            if let note { console.out(note) }
            if let skippedMatrix { console.out(skippedMatrix) }
        } else {
            for (i, (m, r)) in zip(members, results).enumerated() {
                console.out("member \(i + 1) model=\(m.label) samples=\(r.evaluation.samples) \(Format.outputs(r.evaluation.outputs))")
            }
        }
        if let committee {
            console.out("committee members=\(members.count) samples=\(committee.labels.count) accuracy=\(Format.value(committee.accuracy))")
        }
        let shown = committee.map { ($0.labels, $0.predictions) } ?? results[0].predictionsAndLabels
        if let (labels, predictions) = shown, !labels.isEmpty {
            console.out("confusion matrix\(committee == nil ? "" : " of the committee") (rows: true class, columns: predicted class):")
            Format.confusion(labels: labels, predictions: predictions, classes: results[0].classes, names: names).forEach { console.out("  " + $0) }
        }
        if let out { console.out("dump blobs=\(dump ?? "") samples=\(results[0].evaluation.samples) out=\(out)") }
    }

    /// When the card's metrics are measured again with another OpenBLAS kernel, another level of
    /// Dendrite's own kernels (`SmallGEMM`) or another thread count than the card's, one line
    /// that names both and gives both results: float sums then round differently, so the
    /// metrics may differ slightly (it is not an error; see the README's "What reproduces
    /// exactly"). Nil when the card's conditions hold or do not apply.
    func cardNote(_ member: Member, _ measured: Evaluation, threads: Int) -> String? {
        guard let entry = member.entry, let metrics = entry.card.metrics, images == nil, iterations == nil,
              member.net == entry.path(entry.card.net), let weights = member.weights, weights == entry.path(entry.card.weights) else { return nil }
        let p = entry.card.provenance
        let cardKernel = p.openblasCore.isEmpty ? "an unrecorded kernel" : "\(p.openblasCore) (OpenBLAS \(p.openblasVersion), Dendrite kernels \(p.kernelsOrPlain))"
        let here = "\(BLAS.coreName) (OpenBLAS \(BLAS.version), Dendrite kernels \(SmallGEMM.level))"
        guard cardKernel != here || p.threads != threads else { return nil }
        let differences = metrics.values.compactMap { name, value in
            measured.value(name).map { "\(name) \(cFormat("%+.2g", $0 - value))" }
        }
        func onThreads(_ n: Int) -> String { "on \(n) thread\(n == 1 ? "" : "s")" }
        return "note: the card was measured with \(cardKernel) \(onThreads(p.threads)), this run with \(here) \(onThreads(threads)): "
            + "card \(Format.outputs(metrics.values)); measured minus card: \(differences.joined(separator: ", "))"
    }

    /// The names of the blobs with one row per sample, each once.
    func sampleBlobs(_ net: Net) -> [String] {
        var seen: Set<String> = []
        return net.blobs.filter { $0.shape.dims.first == net.batchSize }.map(\.name).filter { seen.insert($0).inserted }
    }

    func dumpedBlobs(_ net: Net) throws -> [(String, Int)] {
        guard let dump else { return [] }
        return try dump.split(separator: ",").map { name in
            guard let blob = net.blob(named: String(name)) else {
                // In-place layers make new versions under the same name: each name once.
                var seen: Set<String> = []
                let available = net.blobs.map(\.name).filter { seen.insert($0).inserted }
                throw RunError(message: "net '\(net.name)' has no blob '\(name)' to dump",
                               hint: (Suggestion.hint(for: String(name), in: available).map { $0 + "; " } ?? "") + "blobs: \(available.joined(separator: ", "))")
            }
            guard net.blobs[blob].shape.dims.first == net.batchSize, net.blobs[blob].shape.rank >= 1 else {
                throw RunError(message: "blob '\(name)' of shape \(net.blobs[blob].shape) has no sample dimension to dump",
                               hint: "dump blobs with one row per sample, such as \(sampleBlobs(net).joined(separator: ", "))")
            }
            return (String(name), blob)
        }
    }

    func classNames(_ members: [Member], classes: Int) -> [String] {
        let names = members.first?.entry?.card.classNames ?? []
        return names.count == classes ? names : []
    }

    func jsonReport(_ members: [Member], _ results: [MemberResult], _ committee: Committee?, _ names: [String], note: String?) -> String {
        func outputs(_ e: Evaluation) -> String { JSONText.object(e.outputs.map { ($0.name, JSONText.number($0.value)) }) }
        func confusion(_ labels: [Int], _ predictions: [Int], _ classes: Int) -> String {
            JSONText.array(Format.confusionCounts(labels: labels, predictions: predictions, classes: classes).map { JSONText.array($0.map(String.init)) })
        }
        var fields: [(String, String)] = []
        let first = results[0]
        if let committee {
            // The top level is the committee's; each member's own results are under members.
            fields.append(("samples", String(committee.labels.count)))
            fields.append(("outputs", JSONText.object([("accuracy", JSONText.number(committee.accuracy))])))
        } else {
            fields.append(("samples", String(first.evaluation.samples)))
            fields.append(("batches", String(first.evaluation.batches)))
            fields.append(("outputs", outputs(first.evaluation)))
        }
        fields.append(("class_names", JSONText.array(names.map(JSONText.string))))
        if let note { fields.append(("note", JSONText.string(note))) }
        if let committee {
            fields.append(("members", JSONText.array(zip(members, results).map { m, r in
                JSONText.object([("model", JSONText.string(m.label)), ("samples", String(r.evaluation.samples)), ("outputs", outputs(r.evaluation))])
            })))
            fields.append(("committee", JSONText.object([("accuracy", JSONText.number(committee.accuracy)),
                                                         ("confusion", confusion(committee.labels, committee.predictions, first.classes))])))
        } else if let (labels, predictions) = first.predictionsAndLabels {
            fields.append(("confusion", confusion(labels, predictions, first.classes)))
        }
        return JSONText.object(fields)
    }

    // MARK: --predict

    func classify(_ members: [Member], threads: Int, _ console: Console) throws {
        var sums: [[Double]] = Array(repeating: [], count: predict.count)
        for member in members {
            guard let entry = member.entry else {
                throw RunError(message: "--predict needs a zoo model (zoo:NAME or an entry directory): its card gives the input's preprocessing",
                               hint: "train with dtrain to make one, or install one with dzoo fetch-local")
            }
            let classifier = try ImageClassifier(entry: entry, threads: threads)
            for (i, file) in predict.enumerated() {
                let bytes = try ImageFile.load(file, channels: classifier.channels, height: classifier.height, width: classifier.width)
                let p = try classifier.probabilities([bytes])[0]
                if sums[i].isEmpty { sums[i] = Array(repeating: 0, count: p.count) }
                guard sums[i].count == p.count else { throw RunError(message: "the committee's models have different numbers of classes") }
                for k in p.indices { sums[i][k] += Double(p[k]) / Double(members.count) }
            }
        }
        let names = members[0].entry?.card.classNames ?? []
        var records: [String] = []
        for (file, p) in zip(predict, sums) {
            let ranked = ImageClassifier.ranked(p, top: top)
            func name(_ k: Int) -> String { k < names.count ? names[k] : String(k) }
            if json {
                records.append(JSONText.object([("file", JSONText.string(file)), ("top", JSONText.array(ranked.map { k in
                    JSONText.object([("class", String(k)), ("name", JSONText.string(name(k))), ("probability", JSONText.number(p[k]))])
                }))]))
                continue
            }
            console.out("predict file=\(file) class=\(ranked.first ?? 0) p=\(cFormat("%.4f", p[ranked.first ?? 0]))")
            Format.table(ranked.enumerated().map { r, k in ["  \(r + 1).", Format.printable(name(k)), cFormat("%.4f", p[k]), "(class \(k))"] }).forEach { console.out($0) }
        }
        if json { console.out(JSONText.object([("predictions", JSONText.array(records))])) }
    }

    // MARK: --time

    func measure(_ member: Member, threads: Int, _ console: Console) throws {
        let clock = ContinuousClock(), start = clock.now
        let net = try build(member, file: member.net, threads: threads)
        let loadSeconds = Double((clock.now - start) / .microseconds(1)) / 1e6
        let step = StepContext(phase: .test, parallel: Parallel(threads: threads))
        var rates: [Double] = []
        for window in 0...timeWindows {
            let t = clock.now
            let e = try Evaluator.wholeDataset(net, step: step)
            let seconds = Double((clock.now - t) / .microseconds(1)) / 1e6
            if window > 0 { rates.append(Double(e.samples) / seconds) }
        }
        rates.sort()
        // One batch's forward products.
        Format.gemmLines(net.nodes.flatMap { node in node.layer.gemms(for: node.bottoms.map { net.blobs[$0].shape }).forward })
            .forEach { console.out($0) }
        console.out("time images/s=\(Int(rates[rates.count / 2].rounded())) batch=\(net.builtBatchSize) "
                    + "load_s=\(cFormat("%.3f", loadSeconds)) windows=\(timeWindows) threads=\(threads) openblas=\(BLAS.coreName) kernels=\(SmallGEMM.level)")
    }
}

/// What `dtest zoo:NAME` measures on a model's test set, for dserve's model page.
public struct TestSetReport: Sendable {
    public let samples: Int
    public let outputs: [(name: String, value: Double)]
    public let classNames: [String]
    /// counts[true class][predicted class].
    public let counts: [[Int]]
}

extension TestCommand {
    /// The entry's test net (its net.yaml in phase TEST, with the card's weights) over its test
    /// set, as `dtest zoo:NAME` runs it; nil for a net without one class score per sample.
    public static func testSetReport(_ entry: Zoo.Entry, threads: Int) throws -> TestSetReport? {
        guard !entry.card.weights.isEmpty else { throw entry.noWeights(entry.name) }
        let command = try TestCommand.parse([entry.directory])
        let member = Member(label: entry.name, net: entry.path(entry.card.net), weights: try entry.verifiedPath(entry.card.weights), entry: entry)
        let net = try command.build(member, file: member.net, threads: threads)
        guard let scores = ClassScores(net) else { return nil }
        var probabilities: [Float] = [], labels: [Int] = []
        let evaluation = try Evaluator.wholeDataset(net, step: StepContext(phase: .test, parallel: Parallel(threads: threads)), afterBatch: { n in
            scores.append(net, n, into: &probabilities, labels: &labels)
        })
        let result = MemberResult(evaluation: evaluation, classes: scores.classes, probabilities: probabilities, labels: labels)
        guard let (l, p) = result.predictionsAndLabels else { return nil }
        return TestSetReport(samples: evaluation.samples, outputs: evaluation.outputs, classNames: command.classNames([member], classes: scores.classes),
                             counts: Format.confusionCounts(labels: l, predictions: p, classes: scores.classes))
    }
}

extension TestCommand.MemberResult {
    /// Labels and arg-max predictions per sample, when the net has class scores.
    var predictionsAndLabels: ([Int], [Int])? {
        guard classes > 0, !labels.isEmpty else { return nil }
        return (labels, (0..<labels.count).map { i in argmax(probabilities[(i * classes)..<((i + 1) * classes)]) })
    }
}

/// The index of the largest value; the first on ties, as Caffe's accuracy counts.
func argmax(_ values: ArraySlice<Float>) -> Int {
    var best = values.startIndex
    for i in values.indices where values[i] > values[best] { best = i }
    return best - values.startIndex
}

/// A committee: the mean of its members' class probabilities, sample by sample.
struct Committee {
    var labels: [Int]
    var predictions: [Int]
    var accuracy: Double

    /// `names` label the members in messages (zoo:NAME, or the net file).
    init(_ results: [TestCommand.MemberResult], names: [String]) throws {
        guard let first = results.first, first.classes > 0 else {
            throw RunError(message: "a committee needs nets with class scores (an Accuracy or SoftmaxWithLoss layer)")
        }
        for (r, name) in zip(results, names).dropFirst() {
            let sameTest = "members must share the test set (use --images/--labels to give them the same one)"
            if r.classes != first.classes {
                throw RunError(message: "the committee's members score different classes: \(names[0]) has \(first.classes), \(name) has \(r.classes)",
                               hint: "a committee averages the class probabilities of models trained for the same classes")
            }
            if r.labels.count != first.labels.count {
                throw RunError(message: "the committee's members were tested on different samples: \(names[0]) on \(first.labels.count), \(name) on \(r.labels.count)", hint: sameTest)
            }
            if let i = r.labels.indices.first(where: { r.labels[$0] != first.labels[$0] }) {
                throw RunError(message: "the committee's members were tested on different samples: sample \(i) has label \(first.labels[i]) for \(names[0]) and \(r.labels[i]) for \(name)", hint: sameTest)
            }
        }
        var mean = [Float](repeating: 0, count: first.probabilities.count)
        for r in results {
            for i in mean.indices { mean[i] += r.probabilities[i] / Float(results.count) }
        }
        labels = first.labels
        predictions = (0..<labels.count).map { i in argmax(mean[(i * first.classes)..<((i + 1) * first.classes)]) }
        accuracy = labels.isEmpty ? 0 : Double(zip(labels, predictions).filter { $0 == $1 }.count) / Double(labels.count)
    }
}

/// Where a test net's class scores and labels are: the bottoms of its Accuracy layer, else of
/// its SoftmaxWithLoss.
struct ClassScores {
    let scores: Int
    let labels: Int
    let classes: Int
    /// The scores are already probabilities (a Softmax made them).
    let isProbability: Bool

    /// The blob of class scores, whatever its shape.
    static func scoresBlob(_ net: Net) -> Int? {
        guard let node = net.nodes.first(where: { $0.type == "Accuracy" }) ?? net.nodes.first(where: { $0.type == "SoftmaxWithLoss" }),
              node.bottoms.count >= 2 else { return nil }
        return node.bottoms[0]
    }

    /// Nil also when the scores are not one row per sample ([N, C], or [N, C, 1, …]): a text
    /// model's [T, N, V] scores a class at every position, and its rows are no samples.
    init?(_ net: Net) {
        guard let node = net.nodes.first(where: { $0.type == "Accuracy" }) ?? net.nodes.first(where: { $0.type == "SoftmaxWithLoss" }),
              node.bottoms.count >= 2 else { return nil }
        scores = node.bottoms[0]
        labels = node.bottoms[1]
        let dims = net.blobs[scores].shape.dims
        guard dims.count >= 2, dims.dropFirst(2).allSatisfy({ $0 == 1 }) else { return nil }
        classes = dims.dropFirst().reduce(1, *)
        isProbability = net.blobs[scores].producer.map { net.nodes[$0].type == "Softmax" } ?? false
    }

    /// Appends the batch's `n` samples: probabilities (a softmax of the scores) and labels.
    func append(_ net: Net, _ n: Int, into probabilities: inout [Float], labels out: inout [Int]) {
        let s = net.data(scores).buffer, l = net.data(labels).buffer
        for i in 0..<n {
            let row = s[(i * classes)..<((i + 1) * classes)]
            if isProbability {
                probabilities.append(contentsOf: row)
            } else {
                let top = row.max() ?? 0
                let e = row.map { Float(exp(Double($0 - top))) }
                let sum = e.reduce(0, +)
                probabilities.append(contentsOf: e.map { $0 / sum })
            }
            out.append(SoftmaxLossKernel.classIndex(l[i]) ?? -1)
        }
    }
}
