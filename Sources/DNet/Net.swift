import DConfig
import DCore
import DData
import DLayers

/// A failure while running a net on data (e.g. a label outside the classes), named by layer.
public struct RunError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var hint: String?

    public init(message: String, hint: String? = nil) {
        self.message = message; self.hint = hint
    }

    public var description: String { "error: \(message)" + (hint.map { "\nhint: \($0)" } ?? "") }
}

/// A net built for one phase: its layers wired by blob names, with every blob, gradient and
/// work buffer allocated once. Forward and backward run over views of that memory.
public final class Net {
    /// One version of a named blob: an in-place layer makes a new version under the same name.
    public struct Blob {
        public let name: String
        public internal(set) var shape: Shape
        /// Memory slot; in-place versions share their bottom's slot.
        let slot: Int
        public let producer: Int?
        public internal(set) var consumers: [Int] = []
        /// The gradient is computed (the blob depends on something learned and feeds a loss).
        public internal(set) var wantsGrad = false
    }

    /// A layer with its wiring and its backward plan.
    public struct Node {
        public let name: String
        public let type: String
        public let layer: any Layer
        public let bottoms: [Int]
        public let tops: [Int]
        public let parameters: [Parameter]
        /// Per top; the loss is Σ weight · Σ top.
        public let lossWeights: [Float]
        /// `propagate_down` per bottom.
        var propagateDown: [Bool] = []
        public internal(set) var runsBackward = false
        var propagate: [Bool] = []
        /// Whether backward computes a gradient for any bottom.
        public var propagatesToAnyBottom: Bool { propagate.contains(true) }
        var accumulate: [Bool] = []
        var work: [WorkspaceDecl] = []
    }

    public let name: String
    public let phase: Phase
    public let file: String
    public let store: ParameterStore
    /// The threads its work memory is planned for; steps must not use more.
    public let threads: Int
    public private(set) var blobs: [Blob]
    public private(set) var nodes: [Node]
    /// Blobs no layer consumes: what the net reports (loss, accuracy, …).
    public let outputs: [Int]

    // Memory: one block of floats laid out as [blob data | gradients | kept work | scratch work]
    // and one of Int32 as [kept | scratch], taken from `memory` when first used.
    private let memory: MemoryPool
    private let slotCapacity: [Int]
    private let slotData: [Int]
    private let slotGrad: [Int?]
    /// Slots whose data or gradient memory another's takes later in the step (`sharesBlobMemory`).
    private let overwritten: (data: Set<Int>, grad: Set<Int>)
    /// Per node and work declaration: the offset in the float or the Int32 block.
    private var workOffsets: [[Int]] = []
    /// The work declarations memory was laid out for (the batch the net was built with).
    private let builtWork: [[WorkspaceDecl]]
    /// The batch the net was built with, the largest it can run.
    public let builtBatchSize: Int
    private let floatCount: Int, intCount: Int
    private var blocks: (floats: FloatArena, ints: Arena<Int32>)?
    /// `persistent` work, which must survive other nets running on the pool between steps:
    /// allocated (zeroed) with the net, never shared. `workOffsets` index into these for it.
    private let persistentBlocks: (floats: FloatArena, ints: Arena<Int32>)
    /// Blobs whose gradient nobody writes but whose producer reads it: zeroed before backward.
    private var zeroBeforeBackward: [Int] = []

    /// Builds the `phase` net of `spec`: keeps the layers of that phase, decodes them, wires
    /// and checks the graph, infers shapes and allocates memory. Parameters come from `store`
    /// (shared with nets built before on the same store).
    ///
    /// A net keeps nothing in the pool's memory from one step to the next, so nets that never
    /// run at the same time (a train net and its test nets) may share one `MemoryPool`; the
    /// `persistent` work of its layers (recurrent state) lives in blocks of the net's own.
    /// `state` picks the layers (include/exclude rules); by default the net file's own state in
    /// `phase`.
    ///
    /// With `poolsInsideConvolutions`, a TRAIN net runs each 2×2 max pooling that is the only
    /// reader of a convolution's top inside that convolution (`ConvolutionLayer.pooling`, where
    /// the kernels take it): the same bits, without writing the convolution's output and its
    /// gradient out and reading them back (`runsInside`). That top then holds nothing, so a
    /// caller that reads every blob (Caffe's debug_info) builds the net without it.
    ///
    /// With `sharesBlobMemory`, a TRAIN net gives the memory of gradients and of data that no
    /// backward reads to others once they are used (`blobLayout`): after a step, a blob may then
    /// hold another's values (`holdsData`, `holdsGradient`), so a caller that reads every blob
    /// builds the net without it too.
    public init(spec: NetSpec, phase: Phase, state: NetState? = nil, store: ParameterStore, context: BuildContext,
                memory: MemoryPool = MemoryPool(), poolsInsideConvolutions: Bool = false,
                sharesBlobMemory: Bool = false) throws(ConfigError) {
        name = spec.name
        self.phase = phase
        file = spec.file
        self.store = store
        threads = context.threads
        let state = state ?? spec.state(phase)
        var builder = GraphBuilder(phase: phase)
        for layerSpec in spec.layers where layerSpec.isIncluded(in: state) {
            try builder.add(layerSpec, context: context, store: store)
        }
        guard !builder.nodes.isEmpty else {
            let stages = state.stages.isEmpty ? "" : " with stages \(state.stages.joined(separator: ", "))"
            throw ConfigError(file: spec.file, message: "net '\(spec.name)' has no layers in phase \(phase)\(stages)",
                              hint: "check the include/exclude rules")
        }
        // Only training runs backward; a TEST net allocates no gradients at all.
        if phase == .train { builder.planBackward(force: spec.forceBackward) }
        blobs = builder.blobs
        nodes = builder.nodes
        outputs = builder.blobs.indices.filter { builder.blobs[$0].consumers.isEmpty && builder.isLatest($0) }
        zeroBeforeBackward = builder.zeroBeforeBackward
        try Net.checkLabels(nodes: builder.nodes, blobs: builder.blobs)

        // Memory: the blobs' data and gradients as `blobLayout` places them (gradients only for
        // slots some version needs them for), then kept work, and scratch last, shared by all
        // layers (each layer's scratch declarations side by side from its start).
        let capacity = builder.slotSizes
        let layout = Net.blobLayout(builder.blobs, nodes: builder.nodes, capacity: capacity,
                                    seeded: Set(builder.zeroBeforeBackward), shared: sharesBlobMemory && phase == .train)
        slotCapacity = capacity
        (slotData, slotGrad, overwritten) = (layout.data, layout.grad, layout.overwritten)
        var floats = layout.count
        var ints = 0
        var offsets = [[Int]](repeating: [], count: nodes.count)
        for (i, node) in nodes.enumerated() {
            for w in node.work where w.lifetime == .keptForBackward {
                offsets[i].append(w.kind == .float ? floats : ints)
                if w.kind == .float { floats += Net.padded(w.count) } else { ints += Net.padded(w.count) }
            }
        }
        var scratch = (float: 0, int: 0)
        var persistent = (float: 0, int: 0)
        for (i, node) in nodes.enumerated() {
            var local = (float: 0, int: 0)
            var kept = offsets[i].makeIterator()
            offsets[i] = node.work.map { w in
                switch (w.lifetime, w.kind) {
                case (.keptForBackward, _): return kept.next()!
                case (.scratch, .float): defer { local.float += Net.padded(w.count) }; return floats + local.float
                case (.scratch, .int32): defer { local.int += Net.padded(w.count) }; return ints + local.int
                case (.persistent, .float): defer { persistent.float += Net.padded(w.count) }; return persistent.float
                case (.persistent, .int32): defer { persistent.int += Net.padded(w.count) }; return persistent.int
                }
            }
            scratch = (max(scratch.float, local.float), max(scratch.int, local.int))
        }
        persistentBlocks = (FloatArena(count: persistent.float), Arena<Int32>(count: persistent.int))
        workOffsets = offsets
        builtWork = nodes.map(\.work)
        builtBatchSize = nodes.first.flatMap { $0.tops.first }.map { builder.blobs[$0].shape.dims.first ?? 1 } ?? 1
        floatCount = floats + scratch.float
        intCount = ints + scratch.int
        self.memory = memory
        memory.reserve(floats: floatCount, ints: intCount)
        poolingInside = poolsInsideConvolutions && phase == .train ? Net.poolingsInside(nodes, blobs, threads: threads) : [:]
        pooledInside = Dictionary(uniqueKeysWithValues: poolingInside.map { ($1.node, $0) })
    }

    /// The convolutions that can run the pooling after them: a convolution whose top only the
    /// next layer, a 2×2 max pooling the kernels take there (`ConvolutionLayer.pooling`), reads,
    /// with no loss weight on it. The batch size does not change which.
    private static func poolingsInside(_ nodes: [Node], _ blobs: [Blob], threads: Int) -> [Int: PoolingInside] {
        var found: [Int: PoolingInside] = [:]
        for i in nodes.indices.dropLast() {
            let j = i + 1
            guard let conv = nodes[i].layer as? ConvolutionLayer, let pool = nodes[j].layer as? PoolingLayer,
                  nodes[i].tops.count == 1, nodes[i].lossWeights == [0], nodes[j].tops.count == 1,
                  nodes[j].bottoms == nodes[i].tops, blobs[nodes[i].tops[0]].consumers == [j],
                  conv.pooling(pool, bottom: blobs[nodes[i].bottoms[0]].shape, threads: threads) != nil else { continue }
            found[i] = PoolingInside(node: j, convolution: conv, pooling: pool)
        }
        return found
    }

    /// The layout of the blobs' memory: per slot, its data's offset and its gradient's (nil:
    /// none), the size of it all, and the slots whose data or gradient another's overwrites.
    ///
    /// Unshared, every slot has its own data and gradient. `shared`, memory is shared in time.
    /// On one clock (forward of node i at i, the seeding of backward at n, backward of node i
    /// at 2n − i, after it 2n + 1), a gradient lives from the first layer of backward that touches
    /// it (or from the seeding: a loss weight, or zeroed because nobody writes it) to its first
    /// producer, which reads it last (to the end for a blob nothing produces); a blob's data lives
    /// from its producer's forward to its last consumer's forward when no backward reads it (the
    /// producer's reads no tops, no consumer's reads bottoms: an InnerProduct's top that only a
    /// Sigmoid reads), else for the whole step. Those spans are placed, largest first, at the
    /// lowest offset clear of every span placed that meets theirs; the whole-step data come first,
    /// in blob order. A chain of layers then needs about its two largest gradients at once, and
    /// pre-activations no memory of their own.
    static func blobLayout(_ blobs: [Blob], nodes: [Node], capacity: [Int], seeded: Set<Int>, shared: Bool)
        -> (data: [Int], grad: [Int?], count: Int, overwritten: (data: Set<Int>, grad: Set<Int>)) {
        let n = nodes.count, end = 2 * n + 1
        var gradSpan = [ClosedRange<Int>?](repeating: nil, count: capacity.count)
        var readInBackward = [Bool](repeating: !shared, count: capacity.count)
        var dataSpan = [ClosedRange<Int>?](repeating: nil, count: capacity.count)
        let weighted = Set(nodes.flatMap { zip($0.tops, $0.lossWeights).filter { $1 != 0 }.map(\.0) })
        for (b, blob) in blobs.enumerated() {
            let lossWeighted = weighted.contains(b)
            let readBack = blob.producer.map { nodes[$0].runsBackward && nodes[$0].layer.backwardReadsTops } ?? true
                || blob.consumers.contains { nodes[$0].runsBackward && nodes[$0].layer.backwardReadsBottoms }
            if readBack || lossWeighted || blob.consumers.isEmpty { readInBackward[blob.slot] = true }
            let from = blob.producer ?? 0, to = blob.consumers.max() ?? n
            dataSpan[blob.slot] = dataSpan[blob.slot].map { min($0.lowerBound, from)...max($0.upperBound, to) } ?? from...to
            guard blob.wantsGrad else { continue }
            let first = seeded.contains(b) || lossWeighted ? n : 2 * n - max(blob.producer ?? -1, blob.consumers.max() ?? -1)
            let last = blob.producer.map { 2 * n - $0 } ?? end
            gradSpan[blob.slot] = gradSpan[blob.slot].map { min($0.lowerBound, first)...max($0.upperBound, last) } ?? first...last
        }
        var data = [Int](repeating: 0, count: capacity.count)
        var grad = [Int?](repeating: nil, count: capacity.count)
        var count = 0
        for slot in capacity.indices where readInBackward[slot] {
            data[slot] = count
            count += padded(capacity[slot])
        }
        let whole = count
        var spans: [(slot: Int, isGrad: Bool, span: ClosedRange<Int>, size: Int)] =
            capacity.indices.filter { !readInBackward[$0] }.map { ($0, false, dataSpan[$0]!, padded(capacity[$0])) }
            + capacity.indices.compactMap { s in gradSpan[s].map { (s, true, $0, padded(capacity[s])) } }
        guard shared else {
            for s in spans {
                grad[s.slot] = count
                count += s.size
            }
            return (data, grad, count, ([], []))
        }
        spans.sort { a, b in (a.size, -a.slot, a.isGrad ? 0 : 1) > (b.size, -b.slot, b.isGrad ? 0 : 1) }
        var offsets: [Int] = []
        for (i, s) in spans.enumerated() {
            var offset = whole
            for j in spans.indices.prefix(i).filter({ spans[$0].span.overlaps(s.span) }).sorted(by: { offsets[$0] < offsets[$1] }) {
                if offset + s.size <= offsets[j] { break }
                offset = max(offset, offsets[j] + spans[j].size)
            }
            offsets.append(offset)
            if s.isGrad { grad[s.slot] = offset } else { data[s.slot] = offset }
            count = max(count, offset + s.size)
        }
        // After the step, shared memory holds what was there last.
        var overwritten: (data: Set<Int>, grad: Set<Int>) = ([], [])
        for (i, s) in spans.enumerated() where spans.indices.contains(where: { j in
            spans[j].span.lowerBound > s.span.upperBound && offsets[i] < offsets[j] + spans[j].size && offsets[j] < offsets[i] + s.size
        }) {
            if s.isGrad { overwritten.grad.insert(s.slot) } else { overwritten.data.insert(s.slot) }
        }
        return (data, grad, count, overwritten)
    }

    /// Rounds a size up to 16 floats (64 bytes): views of a large arena, which is page-aligned, then start on cache lines.
    static func padded(_ n: Int) -> Int { (n + 15) & ~15 }

    /// The memory blocks, taken from the pool on first use.
    private var memoryBlocks: (floats: FloatArena, ints: Arena<Int32>) {
        if let blocks { return blocks }
        let b = memory.blocks()
        blocks = b
        return b
    }

    public func data(_ blob: Int) -> FloatView {
        let b = blobs[blob]
        return memoryBlocks.floats.view(offset: slotData[b.slot], shape: b.shape)
    }

    public func grad(_ blob: Int) -> FloatView? {
        let b = blobs[blob]
        guard let g = slotGrad[b.slot] else { return nil }
        return memoryBlocks.floats.view(offset: g, shape: b.shape)
    }

    /// The latest version of the blob called `name`.
    public func blob(named name: String) -> Int? { blobs.lastIndex { $0.name == name } }

    /// Each layer's views, made when first needed and again when shapes change.
    private var io: [LayerIO] = []
    /// A max pooling that a convolution runs: the pooling's node and both layers.
    private struct PoolingInside {
        let node: Int
        let convolution: ConvolutionLayer
        let pooling: PoolingLayer
    }
    /// Convolutions that run the max pooling after them (by the convolution's node), and those
    /// poolings (pooling's node → the convolution's), which then do nothing themselves.
    private let poolingInside: [Int: PoolingInside], pooledInside: [Int: Int]

    /// The node that runs node `i`'s work when it is not `i` itself: a max pooling's convolution
    /// (`poolsInsideConvolutions`).
    public func runsInside(_ i: Int) -> Int? { pooledInside[i] }

    /// Whether blob `b`'s data and gradient are left unwritten: the top of a convolution that
    /// runs its pooling.
    func isUnwritten(_ b: Int) -> Bool { blobs[b].producer.map { poolingInside[$0] != nil } ?? false }

    /// Whether blob `b` still holds its data after a step: not unwritten, and its memory not
    /// taken by another blob later in the step (`sharesBlobMemory`).
    public func holdsData(_ b: Int) -> Bool { !isUnwritten(b) && !overwritten.data.contains(blobs[b].slot) }
    /// The same for its gradient, which it must have.
    public func holdsGradient(_ b: Int) -> Bool { slotGrad[blobs[b].slot] != nil && !isUnwritten(b) && !overwritten.grad.contains(blobs[b].slot) }

    private func bindViews() {
        let (floats, ints) = memoryBlocks
        io = nodes.indices.map { i in
            let node = nodes[i]
            var work: [FloatView] = [], intWork: [TensorView<Int32>] = []
            for (w, offset) in zip(node.work, workOffsets[i]) {
                let own = w.lifetime == .persistent
                switch w.kind {
                case .float: work.append((own ? persistentBlocks.floats : floats).view(offset: offset, shape: Shape([w.count])))
                case .int32: intWork.append((own ? persistentBlocks.ints : ints).view(offset: offset, shape: Shape([w.count])))
                }
            }
            return LayerIO(
                bottoms: node.bottoms.map(data), bottomGrads: node.bottoms.indices.map { node.propagate[$0] ? grad(node.bottoms[$0]) : nil },
                accumulateBottom: node.accumulate, tops: node.tops.map(data), topGrads: node.tops.map(grad),
                params: node.parameters.map(\.value.view),
                paramGrads: node.parameters.map { node.runsBackward && $0.isLearned ? $0.grad.view : nil },
                work: work, intWork: intWork, index: i)
        }
    }

    /// The batch size the data layers produce now.
    public var batchSize: Int { nodes.first.flatMap { $0.tops.first }.map { blobs[$0].shape.dims.first ?? 1 } ?? 1 }

    /// Changes the batch the data layers produce to `n`, no more than the net was built for
    /// (used for the last, partial batch of a test set), and infers every shape again.
    public func setBatchSize(_ n: Int) throws(RunError) {
        for i in nodes.indices {
            let node = nodes[i]
            var shapes: [Shape]
            if node.bottoms.isEmpty {
                shapes = node.tops.map { blobs[$0].shape }
                for j in shapes.indices where shapes[j].rank > 0 { shapes[j][0] = n }
            } else {
                do {
                    shapes = try node.layer.topShapes(for: node.bottoms.map { blobs[$0].shape })
                } catch {
                    throw RunError(message: "layer '\(node.name)' (\(node.type)): cannot run a batch of \(n): \(error.message)")
                }
            }
            for (t, s) in zip(node.tops, shapes) {
                guard s.count <= slotCapacity[blobs[t].slot] else {
                    throw RunError(message: "layer '\(node.name)' (\(node.type)): a batch of \(n) needs more memory than the net was built with")
                }
                blobs[t].shape = s
            }
            let work = node.layer.workspace(for: node.bottoms.map { blobs[$0].shape }, phase: phase, threads: threads)
            guard zip(work, builtWork[i]).allSatisfy({ $0.count <= $1.count }) else {
                throw RunError(message: "layer '\(node.name)' (\(node.type)): a batch of \(n) needs more work memory than the net was built with")
            }
            // State carried for one shape means nothing for another (another number of
            // streams): start it again from zero, as when the net was built.
            for (j, w) in work.enumerated() where w.lifetime == .persistent && w.count != node.work[j].count {
                switch w.kind {
                case .float: persistentBlocks.floats.view(offset: workOffsets[i][j], shape: Shape([builtWork[i][j].count])).zero()
                case .int32: persistentBlocks.ints.view(offset: workOffsets[i][j], shape: Shape([builtWork[i][j].count])).fill(0)
                }
            }
            nodes[i].work = work
        }
        bindViews()
    }

    /// Runs every layer forward and returns the weighted loss, Σ loss_weight · Σ top.
    @discardableResult
    public func forward(_ step: StepContext) throws(RunError) -> Double {
        for i in nodes.indices { try forward(layer: i, step) }
        return loss
    }

    public func forward(layer i: Int, _ step: StepContext) throws(RunError) {
        precondition(step.parallel.threads <= threads, "net '\(name)' was built for \(threads) threads, not \(step.parallel.threads)")
        if io.isEmpty { bindViews() }
        if pooledInside[i] != nil { return }
        if let p = poolingInside[i] {
            p.convolution.forwardPooled(io[i], pool: p.pooling, io[p.node], step)
            return
        }
        do {
            try nodes[i].layer.forward(io[i], step)
        } catch {
            throw RunError(message: "layer '\(nodes[i].name)' (\(nodes[i].type)): \(error.message)", hint: error.hint)
        }
    }

    /// Σ loss_weight · Σ top over the weighted tops, from the last forward.
    public var loss: Double {
        var total = 0.0
        for node in nodes {
            for (t, w) in zip(node.tops, node.lossWeights) where w != 0 {
                total += Double(w) * ElementwiseKernel.sum(data(t))
            }
        }
        return total
    }

    /// Backpropagates the loss of the last forward. Parameter gradients are added to what they
    /// hold, so the caller zeroes them first (once per step, or once per `iter_size` batches).
    public func backward(_ step: StepContext) {
        backward(step, afterLayer: { (_: Int) throws(Never) in })
    }

    /// The same, telling `afterLayer` each layer index once its backward is done (data-parallel
    /// training starts sending the gradients that are final by then).
    public func backward<E: Error>(_ step: StepContext, afterLayer: (Int) throws(E) -> Void) throws(E) {
        prepareBackward()
        for i in nodes.indices.reversed() {
            backward(layer: i, step)
            try afterLayer(i)
        }
    }

    /// Seeds the loss gradients (d loss / d top = loss_weight) and zeroes gradients nobody writes.
    public func prepareBackward() {
        for b in zeroBeforeBackward { grad(b)?.zero() }
        for node in nodes where node.runsBackward {
            for (t, w) in zip(node.tops, node.lossWeights) where w != 0 { grad(t)?.fill(w) }
        }
    }

    public func backward(layer i: Int, _ step: StepContext) {
        guard nodes[i].runsBackward else { return }
        if io.isEmpty { bindViews() }
        if pooledInside[i] != nil { return }
        if let p = poolingInside[i] {
            p.convolution.backwardPooled(io[i], pool: p.pooling, io[p.node], step)
            return
        }
        nodes[i].layer.backward(io[i], step)
    }

    /// Where a NaN or ±∞ first shows up in the last forward: `layer 'x' (Type), top 'y'`.
    public func firstNonFiniteOutput() -> String? {
        for node in nodes {
            for t in node.tops where holdsData(t) && !ElementwiseKernel.allFinite(data(t)) {
                return "layer '\(node.name)' (\(node.type)), top '\(blobs[t].name)'"
            }
        }
        return nil
    }

    /// Where a NaN or ±∞ first shows up in the last backward, which runs from the last layer
    /// to the first: a gradient of a layer's bottoms or parameters.
    public func firstNonFiniteGradient() -> String? {
        for (i, node) in nodes.enumerated().reversed() where node.runsBackward {
            for p in node.parameters where p.isLearned && !ElementwiseKernel.allFinite(p.grad.view) {
                return "the gradient of '\(p.name)', from layer '\(node.name)' (\(node.type))"
            }
            for (k, b) in node.bottoms.enumerated() where nodes[i].propagate[k] && holdsGradient(b) {
                if let g = grad(b), !ElementwiseKernel.allFinite(g) {
                    return "the gradient layer '\(node.name)' (\(node.type)) passes to '\(blobs[b].name)'"
                }
            }
        }
        return nil
    }

    /// The data layers, whose sample order is part of the solver state.
    public var dataLayers: [IDXDataLayer] { nodes.compactMap { $0.layer as? IDXDataLayer } }
    /// The TextData layers, whose step is part of the solver state too.
    public var textDataLayers: [TextDataLayer] { nodes.compactMap { $0.layer as? TextDataLayer } }

    /// Bytes of blob data, gradients and work memory (persistent work included).
    public var activationBytes: Int { 4 * (floatCount + intCount + persistentBlocks.floats.count + persistentBlocks.ints.count) }
}

extension Net {
    /// A data layer's labels read by a layer of known class count (SoftmaxWithLoss or Accuracy
    /// straight from IDXData or ImageData) are checked once, here, rather than when the batch
    /// that holds a bad one comes: the error names the labels file and the first bad label.
    static func checkLabels(nodes: [Node], blobs: [Blob]) throws(ConfigError) {
        var checked: Set<String> = []
        for node in nodes {
            guard let reader = node.layer as? ClassLabelReader, node.bottoms.count == 2,
                  let producer = blobs[node.bottoms[1]].producer,
                  let data = nodes[producer].layer as? IDXDataLayer, nodes[producer].tops.firstIndex(of: node.bottoms[1]) == 1,
                  let classes = reader.classCount(scores: blobs[node.bottoms[0]].shape) else { continue }
            let dataset = data.dataset
            let key = "\(dataset.labelsPath)\u{0}\(dataset.range.map { "\($0)" } ?? "")\u{0}\(classes)\u{0}\(reader.ignoredLabel.map(String.init) ?? "")"
            guard checked.insert(key).inserted else { continue }
            guard let i = dataset.labels.firstIndex(where: { !(0..<Int32(clamping: classes)).contains($0) && Int($0) != reader.ignoredLabel }) else { continue }
            let largest = dataset.labels.max() ?? 0
            throw ConfigError(
                file: dataset.labelLines.isEmpty ? dataset.labelsPath : "\(dataset.labelsPath):\(dataset.labelLines[i])",
                message: "label \(dataset.labels[i]) of sample \(dataset.firstSample + i) is not a class index in 0..<\(classes) of layer '\(node.name)' (\(node.type))",
                hint: "the labels go up to \(largest) and the scores of '\(node.name)' have \(classes) class\(classes == 1 ? "" : "es"); set num_output of the layer before it to the number of classes"
                    + (reader.ignoredLabel == nil ? ", or ignore_label" : ""))
        }
    }
}

/// Memory that nets take turns with. A net keeps nothing in its blobs between steps, so a
/// train net and its test nets, which never run at the same time, can share one block as
/// large as the largest of them needs, rather than each holding its own.
public final class MemoryPool {
    private var floatsNeeded = 0, intsNeeded = 0
    private var current: (floats: FloatArena, ints: Arena<Int32>)?

    public init() {}

    func reserve(floats: Int, ints: Int) {
        floatsNeeded = max(floatsNeeded, floats)
        intsNeeded = max(intsNeeded, ints)
    }

    /// Blocks as large as every net reserved so far. A net reserving more after the blocks were
    /// handed out gets new ones; nets holding the old blocks keep them.
    func blocks() -> (floats: FloatArena, ints: Arena<Int32>) {
        if let c = current, c.floats.count >= floatsNeeded, c.ints.count >= intsNeeded { return c }
        let c = (FloatArena(count: floatsNeeded), Arena<Int32>(count: intsNeeded))
        current = c
        return c
    }
}

/// One line of Caffe's `debug_info`: the mean absolute value of a blob's data or gradient, or
/// of a parameter's, after a layer's forward or backward pass or after the update.
public struct DebugRecord: Sendable, Equatable {
    public enum Stage: String, Sendable { case forward = "Forward", backward = "Backward", update = "Update" }
    public var stage: Stage
    public var layer: String
    /// `top blob ip1`, `bottom blob data`, `param blob 0`.
    public var blob: String
    /// "data" or "diff".
    public var kind: String
    public var value: Double
}

extension Net {
    /// What Caffe's `debug_info` prints for the last forward and backward: every top's data and
    /// every parameter's data per layer, then, for layers that ran backward, every bottom
    /// gradient and parameter gradient. Measured after the whole step, so the input of an
    /// in-place layer shows that layer's output.
    public func debugRecords() -> [DebugRecord] {
        var out: [DebugRecord] = []
        for node in nodes {
            for t in node.tops where holdsData(t) {
                out.append(DebugRecord(stage: .forward, layer: node.name, blob: "top blob \(blobs[t].name)", kind: "data", value: ElementwiseKernel.meanAbsolute(data(t))))
            }
            for (i, p) in node.parameters.enumerated() {
                out.append(DebugRecord(stage: .forward, layer: node.name, blob: "param blob \(i)", kind: "data", value: ElementwiseKernel.meanAbsolute(p.value.view)))
            }
        }
        for node in nodes.reversed() where node.runsBackward {
            for (k, b) in node.bottoms.enumerated() where node.propagate[k] && holdsGradient(b) {
                guard let g = grad(b) else { continue }
                out.append(DebugRecord(stage: .backward, layer: node.name, blob: "bottom blob \(blobs[b].name)", kind: "diff", value: ElementwiseKernel.meanAbsolute(g)))
            }
            for (i, p) in node.parameters.enumerated() where p.isLearned {
                out.append(DebugRecord(stage: .backward, layer: node.name, blob: "param blob \(i)", kind: "diff", value: ElementwiseKernel.meanAbsolute(p.grad.view)))
            }
        }
        return out
    }

    /// Caffe's `[Update]` lines: each learned parameter's data and gradient after the update.
    public func updateRecords() -> [DebugRecord] {
        nodes.flatMap { node in
            node.parameters.enumerated().filter { $0.element.isLearned }.flatMap { i, p in
                [DebugRecord(stage: .update, layer: node.name, blob: "param \(i)", kind: "data", value: ElementwiseKernel.meanAbsolute(p.value.view)),
                 DebugRecord(stage: .update, layer: node.name, blob: "param \(i)", kind: "diff", value: ElementwiseKernel.meanAbsolute(p.grad.view))]
            }
        }
    }
}
