import CSTBImage
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
        let zoom = max(1, (minimumCell + height - 1) / height), cellW = width * zoom, cellH = height * zoom, gap = 4
        let gridW = 2 * cellW + 3 * gap, gridH = n * (cellH + gap) + gap
        var grid = [UInt8](repeating: 255, count: gridW * gridH * channels)
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
            func paint(_ values: [Float], _ h: Int, _ w: Int, column: Int) {
                let top = gap + i * (cellH + gap) + (cellH - h * zoom) / 2, left = gap + column * (cellW + gap) + (cellW - w * zoom) / 2
                for y in 0..<(h * zoom) {
                    for x in 0..<(w * zoom) {
                        for c in 0..<channels {
                            let v = (values[(c * h + y / zoom) * w + x / zoom] - low) / (high - low) * 255
                            grid[((top + y) * gridW + left + x) * channels + c] = UInt8(max(0, min(255, v.rounded())))
                        }
                    }
                }
            }
            paint(raw, height, width, column: 0)
            paint(distorted, shown[1], shown[2], column: 1)
        }
        guard stbi_write_png(out, Int32(gridW), Int32(gridH), Int32(channels), grid, Int32(gridW * channels)) != 0 else {
            throw FileError(path: out, "cannot write the PNG file")
        }
        return (n, gridW, gridH)
    }
}
