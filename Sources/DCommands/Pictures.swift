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

/// `dtest MODEL --visualize LAYER --out filters.png`: a Convolution's or an InnerProduct's
/// learned weights as a grid of tiles, each unit's weights drawn as an image.
public enum FilterPicture {
    /// Tiles are enlarged to at least this many pixels (nearest neighbour): a 5×5 filter 4
    /// times, a 3×3 one 7 times, a 28×28 weight image not at all.
    static let minimumTile = 20
    /// Units drawn unless --limit says otherwise (a 10×10 grid).
    static let defaultLimit = 100

    struct Drawn {
        var type: String
        /// The layer's units (filters, outputs), and how many of them were drawn.
        var units: Int, shown: Int
        var tiles: Int
        var tileHeight: Int, tileWidth: Int, zoom: Int
        var width: Int, height: Int
    }

    static func write(_ net: Net, layer name: String, meanOverInputs: Bool, limit: Int, to out: String) throws -> Drawn {
        let (grid, drawn) = try draw(net, layer: name, meanOverInputs: meanOverInputs, limit: limit)
        try grid.writePNG(to: out)
        return drawn
    }

    /// The first layer that can be drawn (a Convolution, or an InnerProduct reading the input
    /// image), as PNG bytes: dserve's model page. Nil when the net has none.
    public static func firstLayerPNG(_ net: Net) throws -> [UInt8]? {
        guard let node = drawableLayers(net).first else { return nil }
        return try draw(net, layer: node.name, meanOverInputs: false, limit: defaultLimit).grid.png(name: node.name)
    }

    static func draw(_ net: Net, layer name: String, meanOverInputs: Bool, limit: Int) throws -> (grid: PictureGrid, drawn: Drawn) {
        guard let node = net.nodes.first(where: { $0.name == name }) else {
            throw RunError(message: "net '\(net.name)' has no layer '\(name)' to visualize",
                           hint: (Suggestion.hint(for: name, in: net.nodes.map(\.name)).map { $0 + "; " } ?? "") + drawable(net))
        }
        guard let weight = node.parameters.first else {
            throw RunError(message: "layer '\(name)' (\(node.type)) has no weights to draw", hint: drawable(net))
        }
        let input = inputSample(net)
        let w = weight.value.values, s = weight.shape.dims
        // Each unit's weights as a planar image [C, H, W]; `readsInput` when C counts the
        // input image's channels (then 3 channels are its colours).
        let units: Int, dims: [Int], readsInput: Bool
        let unit: (Int) -> [Float]
        switch node.layer {
        case is ConvolutionLayer:
            // weight [O, C/group, kh, kw]: filter o is the C·kh·kw values from o·C·kh·kw.
            units = s[0]
            dims = [s[1], s[2], s[3]]
            let size = dims.reduce(1, *)
            unit = { o in Array(w[(o * size)..<((o + 1) * size)]) }
            readsInput = input.map { net.blobs[node.bottoms[0]].name == net.blobs[$0.blob].name } ?? false
        case let ip as InnerProductLayer:
            // weight [O, K], or [K, O] with transpose: unit o has one weight per input value,
            // which is an image when K is the input sample's C·H·W (an autoencoder's first layer).
            let k = ip.transpose ? s[0] : s[1], o = ip.transpose ? s[1] : s[0]
            guard let input, input.dims.count == 3, input.dims.reduce(1, *) == k else {
                let what = input.map { "the net's input samples are \(Shape($0.dims)), \($0.dims.reduce(1, *)) values" } ?? "the net has no data or Input layer"
                throw RunError(message: "layer '\(name)' (InnerProduct) takes \(k) values per sample, not an input image: \(what)",
                               hint: "an InnerProduct's weights are drawn as images only when it reads the input directly, as an autoencoder's first layer does; Convolution layers are drawn at any depth")
            }
            units = o
            dims = input.dims
            unit = ip.transpose ? { u in (0..<k).map { w[$0 * o + u] } } : { u in Array(w[(u * k)..<((u + 1) * k)]) }
            readsInput = true
        default:
            throw RunError(message: "--visualize draws Convolution and InnerProduct weights; layer '\(name)' is \(node.type)", hint: drawable(net))
        }
        let (channels, h, wd) = (dims[0], dims[1], dims[2]), plane = h * wd
        let shown = min(units, limit)
        // One tile per unit (grey, or colour for 3 input colours), else one grey tile per unit
        // and input channel, a row per unit.
        let colour = channels == 3 && readsInput && !meanOverInputs
        let perChannel = channels > 1 && !colour && !meanOverInputs
        let zoom = PictureGrid.zoom(max(h, wd), toAtLeast: minimumTile)
        var columns = perChannel ? channels : 1
        if !perChannel { while columns * columns < shown { columns += 1 } }
        let rows = perChannel ? shown : (shown + columns - 1) / columns
        var grid = PictureGrid(rows: rows, columns: columns, cellWidth: wd * zoom, cellHeight: h * zoom, channels: colour ? 3 : 1, gap: 1)
        // Each tile spreads its own min…max over 0…255: filters differ in scale, and one range
        // for all would leave the small ones flat grey.
        func paint(_ values: [Float], row: Int, column: Int) {
            grid.paint(row: row, column: column, values, height: h, width: wd, zoom: zoom, low: values.min() ?? 0, high: values.max() ?? 0)
        }
        for u in 0..<shown {
            let v = unit(u)
            if perChannel {
                for c in 0..<channels { paint(Array(v[(c * plane)..<((c + 1) * plane)]), row: u, column: c) }
            } else if meanOverInputs && channels > 1 {
                paint((0..<plane).map { p in (0..<channels).reduce(Float(0)) { $0 + v[$1 * plane + p] } / Float(channels) }, row: u / columns, column: u % columns)
            } else {
                paint(v, row: u / columns, column: u % columns)
            }
        }
        return (grid, Drawn(type: node.type, units: units, shown: shown, tiles: perChannel ? shown * channels : shown,
                            tileHeight: h, tileWidth: wd, zoom: zoom, width: grid.width, height: grid.height))
    }

    /// The blob the net's data comes in (its first data or Input layer's first top) and one
    /// sample's dimensions [C, H, W].
    static func inputSample(_ net: Net) -> (blob: Int, dims: [Int])? {
        guard let node = net.nodes.first(where: { $0.bottoms.isEmpty && ($0.layer is IDXDataLayer || $0.layer is InputLayer) }),
              let top = node.tops.first else { return nil }
        return (top, Array(net.blobs[top].shape.dims.dropFirst()))
    }

    /// The layers --visualize can draw: every Convolution, and the InnerProducts whose K is
    /// the input sample's C·H·W.
    static func drawableLayers(_ net: Net) -> [Net.Node] {
        let k = inputSample(net).flatMap { $0.dims.count == 3 ? $0.dims.reduce(1, *) : nil }
        return net.nodes.filter { node in
            guard let weight = node.parameters.first else { return false }
            if let ip = node.layer as? InnerProductLayer { return weight.shape.dims[ip.transpose ? 0 : 1] == k }
            return node.layer is ConvolutionLayer
        }
    }

    /// The hint that names them.
    static func drawable(_ net: Net) -> String {
        let names = drawableLayers(net).map(\.name)
        return names.isEmpty ? "this net has no Convolution or InnerProduct layer to draw" : "layers that can be drawn: \(names.joined(separator: ", "))"
    }
}

/// `dtest MODEL --reconstruct N --out recon.png`: an autoencoder's first N test samples
/// (rows of originals) above its reconstructions of them.
enum ReconstructionPicture {
    /// Samples per row; more wrap into further pairs of rows.
    static let columns = 10
    /// Cells are enlarged to at least this many pixels (28×28 twice).
    static let minimumCell = 56
    /// The losses whose first bottom is a reconstruction when the second is the input.
    static let losses = ["SigmoidCrossEntropyLoss", "EuclideanLoss"]

    struct Drawn {
        var samples: Int
        /// `sigmoid(decode1)` or the blob's name.
        var shown: String
        var width: Int, height: Int
    }

    static func write(_ net: Net, samples count: Int, blob override: String?, step: StepContext, to out: String) throws -> Drawn {
        guard let layer = net.dataLayers.first, let dataNode = net.nodes.first(where: { ($0.layer as? IDXDataLayer) === layer }) else {
            throw RunError(message: "net '\(net.name)' has no data layer in phase TEST: --reconstruct runs its first test samples through it",
                           hint: "add a data layer with include: {phase: TEST}")
        }
        let dims = layer.sampleDims, size = dims.reduce(1, *)
        guard dims[0] == 1 || dims[0] == 3 else {
            throw RunError(message: "--reconstruct draws grey or colour images; '\(layer.name)' serves \(dims[0]) channels")
        }
        let data = dataNode.tops[0]
        let (blob, sigmoid) = try reconstruction(net, override, dims: dims)

        let n = min(count, layer.dataset.count)
        guard n >= 1 else { throw RunError(message: "the test data of '\(layer.name)' has no samples to reconstruct", hint: "check \(layer.dataset.imagesPath)") }
        var originals: [Float] = [], reconstructions: [Float] = []
        _ = try Evaluator.wholeDataset(net, step: step, shouldStop: { originals.count >= n * size }, afterBatch: { batch in
            let take = min(batch, n - originals.count / size)
            originals.append(contentsOf: net.data(data).buffer.prefix(take * size))
            reconstructions.append(contentsOf: net.data(blob).buffer.prefix(take * size))
        })
        // SigmoidCrossEntropyLoss takes logits: the reconstruction is their sigmoid.
        if sigmoid { reconstructions = reconstructions.map { Float(1 / (1 + exp(-Double($0)))) } }

        let (h, w) = (dims[1], dims[2]), zoom = PictureGrid.zoom(max(h, w), toAtLeast: minimumCell)
        let perRow = min(n, columns), pairs = (n + perRow - 1) / perRow
        var grid = PictureGrid(rows: 2 * pairs, columns: perRow, cellWidth: w * zoom, cellHeight: h * zoom, channels: dims[0],
                               gap: 4, rowsPerGroup: 2, groupGap: 8)
        let inverse = rawValues(layer)
        for i in 0..<n {
            var original = Array(originals[(i * size)..<((i + 1) * size)]), reconstruction = Array(reconstructions[(i * size)..<((i + 1) * size)])
            if let inverse {
                original = zip(original, inverse).map { $0 * $1.scale + $1.offset }
                reconstruction = zip(reconstruction, inverse).map { $0 * $1.scale + $1.offset }
            }
            // Bytes are shown as the bytes they were; otherwise (float data, or zca whitening,
            // which is not undone) the original's range spans 0…255, for both of the pair.
            let (low, high) = inverse != nil && layer.dataset.elementType == .ubyte ? (Float(0), Float(255)) : (original.min() ?? 0, original.max() ?? 0)
            grid.paint(row: 2 * (i / perRow), column: i % perRow, original, height: h, width: w, zoom: zoom, low: low, high: high)
            grid.paint(row: 2 * (i / perRow) + 1, column: i % perRow, reconstruction, height: h, width: w, zoom: zoom, low: low, high: high)
        }
        try grid.writePNG(to: out)
        return Drawn(samples: n, shown: sigmoid ? "sigmoid(\(net.blobs[blob].name))" : net.blobs[blob].name, width: grid.width, height: grid.height)
    }

    /// The blob holding the reconstruction and whether it holds logits. By default the first
    /// bottom of the first SigmoidCrossEntropyLoss or EuclideanLoss whose bottoms both hold
    /// one input sample's worth of values per sample (the second is then the input, perhaps
    /// flattened); `override` names a blob shown as it is.
    static func reconstruction(_ net: Net, _ override: String?, dims: [Int]) throws -> (blob: Int, sigmoid: Bool) {
        let size = dims.reduce(1, *)
        func isSample(_ b: Int) -> Bool {
            let d = net.blobs[b].shape.dims
            return d.first == net.batchSize && d.dropFirst().reduce(1, *) == size
        }
        let sameSize = net.blobs.indices.filter { isSample($0) && net.blob(named: net.blobs[$0].name) == $0 }.map { net.blobs[$0].name }
        let candidates = "blobs of that size: \(sameSize.joined(separator: ", "))"
        if let override {
            guard let b = net.blob(named: override) else {
                throw RunError(message: "net '\(net.name)' has no blob '\(override)' to show as the reconstruction",
                               hint: (Suggestion.hint(for: override, in: net.blobs.map(\.name)).map { $0 + "; " } ?? "") + candidates)
            }
            guard isSample(b) else {
                throw RunError(message: "blob '\(override)' of shape \(net.blobs[b].shape) is not one image per sample: the input's samples are \(Shape(dims)), \(size) values",
                               hint: candidates)
            }
            return (b, false)
        }
        for node in net.nodes where losses.contains(node.type) && node.bottoms.count >= 2 && isSample(node.bottoms[0]) && isSample(node.bottoms[1]) {
            return (node.bottoms[0], node.type == "SigmoidCrossEntropyLoss")
        }
        throw RunError(message: "net '\(net.name)' has no reconstruction loss: a SigmoidCrossEntropyLoss or EuclideanLoss comparing a blob with the input (\(Shape(dims)), \(size) values per sample)",
                       hint: "name the blob that holds the reconstruction with --reconstruct-blob NAME; \(candidates)")
    }

    /// Per value of a sample as the net sees it, the scale and offset that give back the
    /// data's raw value (a byte for byte data): the data layer's transform undone,
    /// x = v / scale + mean, or its normalize, x = v · std + mean. Nil for zca whitening,
    /// which is not undone, and for scale 0.
    static func rawValues(_ layer: IDXDataLayer) -> [(scale: Float, offset: Float)]? {
        let dims = layer.sampleDims, size = dims.reduce(1, *), plane = dims[1] * dims[2]
        if let norm = layer.normalization {
            switch norm.mode {
            case .perChannel: return (0..<size).map { (norm.std[$0 / plane], norm.mean[$0 / plane]) }
            // per_pixel refuses crop_size, so its statistics are in the sample's own frame.
            case .perPixel: return (0..<size).map { (norm.std[$0], norm.mean[$0]) }
            case .zca: return nil
            }
        }
        let t = layer.transform
        guard t.scale != 0 else { return nil }
        let means = !t.meanImage.isEmpty ? layer.centredMeanImage
            : (0..<size).map { t.meanValues.isEmpty ? 0 : t.meanValues[t.meanValues.count == 1 ? 0 : $0 / plane] }
        return means.map { (1 / t.scale, $0) }
    }
}
