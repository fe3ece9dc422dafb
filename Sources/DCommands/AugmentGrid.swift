import DConfig
import DCore
import DData
import DLayers
import DNet
import DZoo

/// `dtest --show-augment N --out grid.png`: the first N training samples of a net, each shown
/// as it is (left) and as TRAIN distorts it (right), so that a user can see what the
/// `transform_param` settings do.
enum AugmentGrid {
    /// Cells are enlarged to at least this many pixels high (nearest neighbour).
    static let minimumCell = 96

    static func write(net file: String, samples count: Int, seed: UInt64, to out: String) throws -> (samples: Int, width: Int, height: Int) {
        let store = ParameterStore(seed: seed)
        let net = try Net(spec: try NetSpec.load(file), phase: .train, store: store, context: BuildContext(phase: .train, netFile: file, seed: seed))
        guard let layer = net.dataLayers.first else {
            throw RunError(message: "net '\(net.name)' has no data layer in phase TRAIN to show", hint: "--show-augment shows the training data's distortions")
        }
        let dims = layer.dataset.sampleDims, shown = layer.sampleDims
        let (channels, height, width) = (dims[0], dims[1], dims[2])
        guard channels == 1 || channels == 3 else {
            throw RunError(message: "--show-augment draws grey or colour images; '\(layer.name)' serves \(channels) channels")
        }
        let n = min(count, layer.dataset.count)
        let zoom = PictureGrid.zoom(height, toAtLeast: minimumCell)
        var grid = PictureGrid(rows: n, columns: 2, cellWidth: width * zoom, cellHeight: height * zoom, channels: channels, gap: 4)
        var raw = [Float](repeating: 0, count: layer.dataset.sampleSize)
        var distorted = [Float](repeating: 0, count: shown.reduce(1, *))
        var scratch = [Float](repeating: 0, count: Augmentation.scratchCount(dims))
        for i in 0..<n {
            raw.withUnsafeMutableBufferPointer { layer.dataset.write(sample: i, ByteTransform(), into: $0.baseAddress!) }
            var rng: RandomStream? = Augmentation.stream(seed: seed, epoch: 0, position: i)
            raw.withUnsafeBufferPointer { r in
                distorted.withUnsafeMutableBufferPointer { d in
                    scratch.withUnsafeMutableBufferPointer { layer.augmentation.apply(r.baseAddress!, dims: dims, into: d.baseAddress!, random: &rng, scratch: $0.baseAddress!) }
                }
            }
            // Floats are spread over 0…255 by the sample's own range; bytes are shown as they are.
            let (low, high) = layer.dataset.elementType == .ubyte ? (Float(0), Float(255)) : (raw.min() ?? 0, max((raw.max() ?? 1), (raw.min() ?? 0) + 1e-6))
            grid.paint(row: i, column: 0, raw, height: height, width: width, zoom: zoom, low: low, high: high)
            grid.paint(row: i, column: 1, distorted, height: shown[1], width: shown[2], zoom: zoom, low: low, high: high)
        }
        try grid.writePNG(to: out)
        return (n, grid.width, grid.height)
    }
}
