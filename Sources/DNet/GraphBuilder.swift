import DConfig
import DCore
import DLayers

/// Turns the layer specs of one phase into a checked graph: decodes each layer, wires bottoms
/// to the latest blob of that name, infers shapes, binds parameters and plans backward.
struct GraphBuilder {
    let phase: Phase
    var blobs: [Net.Blob] = []
    var nodes: [Net.Node] = []
    /// Elements per memory slot (in-place blobs share one).
    var slotSizes: [Int] = []
    /// Elements of every top so far, counted before anything is allocated.
    private var plannedElements = 0
    var zeroBeforeBackward: [Int] = []
    private var latest: [String: Int] = [:]
    /// Where each layer name was first used, and whether that layer has parameters.
    private var layerLocations: [String: (location: ConfigLocation, hasParameters: Bool)] = [:]

    init(phase: Phase) { self.phase = phase }

    func isLatest(_ blob: Int) -> Bool { latest[blobs[blob].name] == blob }

    /// Where to point at item `i` of the list under `key` (or at the key's value).
    private static func location(_ spec: LayerSpec, _ key: String, item i: Int? = nil) -> ConfigLocation {
        guard let node = spec.map.node(key) else { return spec.location }
        if let i, case .sequence(let items) = node.value, i < items.count { return items[i].location }
        return node.location
    }

    private static func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }

    /// The most elements one tensor may have (1 GiB of floats): shapes come from files, and an
    /// absurd one must be a located error, not an overflow or a failed allocation.
    static let maxElements = 1 << 28
    /// The most elements of all blobs of one net together (4 GiB of floats).
    static let maxNetElements = 1 << 30

    static func isAllocatable(_ shape: Shape) -> Bool {
        Shape.checkedCount(shape.dims).map { $0 <= maxElements } ?? false
    }

    private static func arity(_ r: ClosedRange<Int>) -> String {
        if r.upperBound == Int.max { return "\(r.lowerBound) or more" }
        return r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r.lowerBound) to \(r.upperBound)"
    }

    mutating func add(_ spec: LayerSpec, context: BuildContext, store: ParameterStore) throws(ConfigError) {
        // Weights are saved and loaded by layer name, so a name may repeat only among layers
        // without parameters (Caffe's mnist_autoencoder calls both its losses "loss").
        func duplicate(_ first: ConfigLocation) -> ConfigError {
            ConfigError(at: spec.location, "duplicate layer name '\(spec.name)' in phase \(phase) (first at line \(first.line))",
                        hint: "weights are saved and loaded by layer name; give each layer with parameters its own")
        }
        let first = layerLocations[spec.name]
        if let first, first.hasParameters { throw duplicate(first.location) }
        let layer = try LayerRegistry.make(spec, context)
        let ctx = spec.context

        guard layer.bottomCount.contains(spec.bottoms.count) else {
            throw ConfigError(at: Self.location(spec, "bottom"),
                              "\(ctx): takes \(Self.arity(layer.bottomCount)) bottom\(layer.bottomCount.upperBound == 1 ? "" : "s"), found \(spec.bottoms.count)")
        }
        guard layer.topCount.contains(spec.tops.count) else {
            throw ConfigError(at: Self.location(spec, "top"),
                              "\(ctx): takes \(Self.arity(layer.topCount)) top\(layer.topCount.upperBound == 1 ? "" : "s"), found \(spec.tops.count)")
        }

        var bottomIDs: [Int] = []
        for (i, name) in spec.bottoms.enumerated() {
            guard let id = latest[name] else {
                let available = blobs.indices.filter(isLatest).map { blobs[$0].name }
                throw ConfigError(
                    at: Self.location(spec, "bottom", item: i), "\(ctx): unknown bottom blob '\(name)' (bottom \(i))",
                    hint: (Suggestion.hint(for: name, in: available).map { $0 + "; " } ?? "")
                        + (available.isEmpty ? "no blob is produced before this layer in phase \(phase)"
                                             : "blobs available here in phase \(phase): \(available.joined(separator: ", "))"))
            }
            bottomIDs.append(id)
        }
        let bottomShapes = bottomIDs.map { blobs[$0].shape }

        let topShapes: [Shape]
        do {
            topShapes = try layer.topShapes(for: bottomShapes)
        } catch {
            throw ConfigError(at: spec.location, "\(ctx): \(error.message)", hint: error.hint)
        }

        for (j, shape) in topShapes.enumerated() where !Self.isAllocatable(shape) {
            throw ConfigError(at: spec.location, "\(ctx): top '\(j < spec.tops.count ? spec.tops[j] : String(j))' would have shape \(shape), more than \(Self.maxElements) elements",
                              hint: "check the dimensions and num_output")
        }

        plannedElements += topShapes.reduce(0) { $0 + $1.count }  // each ≤ maxElements by now
        if plannedElements > Self.maxNetElements {
            throw ConfigError(at: spec.location, "\(ctx): the net's blobs up to this layer would hold more than \(Self.maxNetElements) elements (\(Self.maxNetElements >> 28) GiB)",
                              hint: "check the dimensions and num_output")
        }

        let index = nodes.count
        var topIDs: [Int] = []
        for (j, name) in spec.tops.enumerated() {
            if spec.tops[..<j].contains(name) {
                throw ConfigError(at: Self.location(spec, "top", item: j), "\(ctx): top '\(name)' is listed twice")
            }
            let slot: Int
            if let k = spec.bottoms.firstIndex(of: name) {
                // In place. Share memory only when it is safe; otherwise the top gets its own.
                let pre = bottomIDs[k]
                let safe = layer.supportsInPlace && k == j && blobs[pre].consumers.isEmpty
                    && spec.bottoms.filter({ $0 == name }).count == 1 && topShapes[j].count == blobs[pre].shape.count
                slot = safe ? blobs[pre].slot : newSlot(topShapes[j].count)
            } else if let existing = latest[name] {
                let producer = blobs[existing].producer.map { "layer '\(nodes[$0].name)'" } ?? "an earlier layer"
                throw ConfigError(
                    at: Self.location(spec, "top", item: spec.tops.count > 1 ? j : nil),
                    "\(ctx): top '\(name)' is already produced by \(producer)",
                    hint: "give the top another name, or compute in place by also naming '\(name)' as this layer's bottom")
            } else {
                slot = newSlot(topShapes[j].count)
            }
            topIDs.append(blobs.count)
            latest[name] = blobs.count
            blobs.append(Net.Blob(name: name, shape: topShapes[j], slot: slot, producer: index))
        }
        for b in bottomIDs where !blobs[b].consumers.contains(index) { blobs[b].consumers.append(index) }

        let decls = layer.parameters(for: bottomShapes)
        if let first, !decls.isEmpty { throw duplicate(first.location) }
        if first == nil { layerLocations[spec.name] = (spec.location, !decls.isEmpty) }
        guard spec.params.count <= decls.count else {
            throw ConfigError(at: Self.location(spec, "param"),
                              "\(ctx): param lists \(spec.params.count) entries, but the layer has \(Self.plural(decls.count, "parameter"))",
                              hint: decls.isEmpty ? "remove param" : "the parameters are, in order: \(decls.map(\.suffix).joined(separator: ", "))")
        }
        var parameters: [Parameter] = []
        for decl in decls where !Self.isAllocatable(decl.shape) {
            throw ConfigError(at: spec.location, "\(ctx): parameter \(decl.suffix) would have shape \(decl.shape), more than \(Self.maxElements) elements",
                              hint: "check num_output and the kernel size")
        }
        for (i, decl) in decls.enumerated() {
            let p = store.parameter(name: "\(spec.name).\(decl.suffix)", decl: decl, spec: i < spec.params.count ? spec.params[i] : nil)
            guard p.shape == decl.shape else {
                let shared = p.shareName.map { "shared as '\($0)' by \(p.name)" } ?? "from another net"
                throw ConfigError(at: spec.location, "\(ctx): parameter \(decl.suffix) has shape \(decl.shape) here, but \(p.shape) \(shared)",
                                  hint: "layers that share a parameter need the same shape; rename one to learn it separately")
            }
            parameters.append(p)
        }

        var weights = spec.lossWeights
        if weights.isEmpty {
            weights = spec.tops.indices.map { $0 == 0 && layer.isLoss ? 1 : 0 }
        } else if weights.count != spec.tops.count {
            throw ConfigError(at: Self.location(spec, "loss_weight"),
                              "\(ctx): loss_weight gives \(weights.count) values for \(Self.plural(spec.tops.count, "top"))",
                              hint: "give one loss_weight per top, or none")
        }

        try checkVocabulary(layer, spec: spec, bottoms: bottomIDs, context: ctx)
        var node = Net.Node(name: spec.name, type: spec.type, layer: layer, bottoms: bottomIDs, tops: topIDs,
                            parameters: parameters, lossWeights: weights)
        node.work = layer.workspace(for: bottomShapes, phase: phase, threads: context.threads)
        node.propagateDown = spec.propagateDown
        node.propagate = bottomIDs.map { _ in false }
        node.accumulate = node.propagate
        nodes.append(node)
    }

    /// A TextData vocabulary read by an Embed (TextData's `data` top) or a class-scoring layer
    /// (its `label` top) must fit in the table or the scores: checked here, with the corpus
    /// named, rather than met as an out-of-range index at the first batch with a late character.
    private func checkVocabulary(_ layer: any Layer, spec: LayerSpec, bottoms: [Int], context ctx: String) throws(ConfigError) {
        for (k, bottom) in bottoms.enumerated() {
            guard let producer = blobs[bottom].producer, let text = nodes[producer].layer as? TextDataLayer,
                  let top = nodes[producer].tops.firstIndex(of: bottom) else { continue }
            let rows: Int?, key: String
            if let embed = layer as? EmbedLayer, k == 0, top == 0 {
                (rows, key) = (embed.inputDim, "embed_param.input_dim")
            } else if let reader = layer as? ClassLabelReader, k == 1, top == 1 {
                (rows, key) = (reader.classCount(scores: blobs[bottoms[0]].shape), "the class count")
            } else {
                continue
            }
            let size = text.corpus.vocabulary.count
            guard let rows, rows < size else { continue }
            let files = text.corpus.paths.count == 1 ? text.corpus.paths[0] : "its \(text.corpus.paths.count) files"
            throw ConfigError(at: spec.location, "\(ctx): \(key) is \(rows), but TextData '\(nodes[producer].name)' has \(size) distinct characters in \(files)",
                              hint: key == "the class count" ? "set num_output of the layer that makes the scores to \(size)" : "set input_dim to \(size), the vocabulary's size")
        }
    }

    private mutating func newSlot(_ count: Int) -> Int {
        slotSizes.append(count)
        return slotSizes.count - 1
    }

    /// Decides which layers run backward, which bottoms get gradients, and whether each
    /// gradient is written (first writer in backward order) or added to (later writers).
    /// `force` (the net's `force_backward`): as if every blob led to something learned and to
    /// the loss, so every bottom that a layer and `propagate_down` allow gets a gradient.
    mutating func planBackward(force: Bool = false) {
        var dependsOnLearned = [Bool](repeating: false, count: blobs.count)
        var feedsLoss = [Bool](repeating: false, count: blobs.count)
        var layerDepends = [Bool](repeating: false, count: nodes.count)
        var layerFeeds = [Bool](repeating: false, count: nodes.count)
        for (i, node) in nodes.enumerated() {
            let learned = node.parameters.contains { $0.isLearned }
            let upstream = node.bottoms.enumerated().contains { k, b in (dependsOnLearned[b] || force) && node.allows(k) }
            layerDepends[i] = learned || upstream
            for t in node.tops { dependsOnLearned[t] = layerDepends[i] }
        }
        for (i, node) in nodes.enumerated().reversed() {
            layerFeeds[i] = force || zip(node.tops, node.lossWeights).contains { $1 != 0 } || node.tops.contains { feedsLoss[$0] }
            guard layerFeeds[i] else { continue }
            for (k, b) in node.bottoms.enumerated() where node.allows(k) { feedsLoss[b] = true }
        }
        for b in blobs.indices { blobs[b].wantsGrad = (dependsOnLearned[b] || force) && feedsLoss[b] }

        var written = Set<Int>()
        for i in nodes.indices {
            nodes[i].runsBackward = layerDepends[i] && layerFeeds[i]
            guard nodes[i].runsBackward else { continue }
            for (t, w) in zip(nodes[i].tops, nodes[i].lossWeights) {
                blobs[t].wantsGrad = true  // backward reads every top gradient
                if w != 0 { written.insert(t) }
            }
        }
        for i in nodes.indices.reversed() {
            let node = nodes[i]
            nodes[i].propagate = node.bottoms.enumerated().map { k, b in
                node.runsBackward && node.allows(k) && blobs[b].wantsGrad
            }
            nodes[i].accumulate = node.bottoms.enumerated().map { k, b in
                guard nodes[i].propagate[k] else { return false }
                return !written.insert(b).inserted
            }
        }
        zeroBeforeBackward = blobs.indices.filter { blobs[$0].wantsGrad && !written.contains($0) }
    }
}

extension Net.Node {
    /// Whether a gradient may flow to bottom `k`: the layer can give one and `propagate_down`
    /// does not forbid it.
    func allows(_ k: Int) -> Bool { layer.propagates(toBottom: k) && propagateDown[k] }
}
