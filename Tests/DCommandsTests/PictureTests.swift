import CSTBImage
import DData
import DZoo
import Foundation
import Testing

/// A PNG file as stb_image decodes it: its size, its channels and its bytes, interleaved.
func readPNG(_ path: String) throws -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
    var w: Int32 = 0, h: Int32 = 0, c: Int32 = 0
    let p = try #require(stbi_load(path, &w, &h, &c, 0), "cannot decode \(path)")
    defer { stbi_image_free(p) }
    return (Int(w), Int(h), Int(c), Array(UnsafeBufferPointer(start: p, count: Int(w * h * c))))
}

/// Writes a weights file with these tensors (name, shape, values).
func writeWeights(_ path: String, _ tensors: [(String, [Int], [Float])]) throws {
    try SafetensorsFile(tensors: tensors.map { ($0.0, SafetensorsFile.Entry(shape: $0.1, values: $0.2)) }).write(to: path)
}

/// A 4×4 grey autoencoder: 16 → 3 → 16, with Caffe's mnist_autoencoder losses (cross-entropy
/// on the logits, an unweighted Euclidean on their sigmoid).
let autoencoderNet = """
    name: ae
    layer:
      - name: data
        type: IDXData
        top: data
        transform_param: {scale: 0.00390625}
        idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8}
      - {name: flatdata, type: Flatten, bottom: data, top: flatdata}
      - {name: encode, type: InnerProduct, bottom: data, top: encode, inner_product_param: {num_output: 3}}
      - {name: decode, type: InnerProduct, bottom: encode, top: decode, inner_product_param: {num_output: 16}}
      - {name: loss, type: SigmoidCrossEntropyLoss, bottom: [decode, flatdata], top: cross_entropy}
      - {name: decodeneuron, type: Sigmoid, bottom: decode, top: decodeneuron}
      - {name: l2, type: EuclideanLoss, bottom: [decodeneuron, flatdata], top: l2_error, loss_weight: 0}
    """

/// `dtest --visualize` and `--reconstruct` on tiny nets with hand-set weights; the PNG files
/// are decoded back with stb_image.
@Suite struct PictureTests {
    /// The `tiny` classifier's weights with `conv.weight` set; the rest are zeros.
    func tinyWeights(_ path: String, conv: [Float], channels: Int = 1) throws {
        try writeWeights(path, [("conv.weight", [3, channels, 3, 3], conv), ("conv.bias", [3], [0, 0, 0]),
                                ("ip.weight", [2, 12], Array(repeating: 0, count: 24)), ("ip.bias", [2], [0, 0])])
    }

    /// The k-th pixel of a 3×3 tile enlarged 7 times to 21 pixels in a grid of 1-pixel gaps,
    /// sampled at the middle of its enlarged square.
    func tilePixel(_ png: (width: Int, height: Int, channels: Int, pixels: [UInt8]), row: Int, column: Int, _ k: Int, side: Int = 3, zoom: Int = 7) -> [UInt8] {
        let y = 1 + row * (side * zoom + 1) + (k / side) * zoom + zoom / 2, x = 1 + column * (side * zoom + 1) + (k % side) * zoom + zoom / 2
        return Array(png.pixels[((y * png.width + x) * png.channels)..<((y * png.width + x + 1) * png.channels)])
    }

    @Test func greyFiltersAreTilesEachSpreadOverItsOwnRange() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        // Filter 0 a ramp 0…8, filter 1 the ramp reversed, filter 2 the ramp ×10 − 40: after
        // each tile's own min…max, filters 0 and 2 look the same.
        let ramp = (0..<9).map(Float.init)
        try tinyWeights(dir + "/w.safetensors", conv: ramp + ramp.reversed() + ramp.map { $0 * 10 - 40 })
        let r = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--visualize", "conv", "--out", dir + "/f.png"])
        #expect(r.status == 0, "\(r.err)")
        // Three 3×3 tiles enlarged 7 times (to ≥ 20 pixels), 2 columns: 2·21 + 3 gaps = 45.
        #expect(r.out == "visualize layer=conv type=Convolution units=3 shown=3 tiles=3 tile=3x3 zoom=7 out=\(dir)/f.png size=45x45\n")
        let png = try readPNG(dir + "/f.png")
        #expect(png.width == 45 && png.height == 45 && png.channels == 1)
        // k/8 · 255, rounded.
        let expected: [UInt8] = [0, 32, 64, 96, 128, 159, 191, 223, 255]
        #expect((0..<9).map { tilePixel(png, row: 0, column: 0, $0)[0] } == expected)
        #expect((0..<9).map { tilePixel(png, row: 0, column: 1, $0)[0] } == expected.reversed())
        #expect((0..<9).map { tilePixel(png, row: 1, column: 0, $0)[0] } == expected)
        // The fourth cell is empty, and gaps are white.
        #expect(tilePixel(png, row: 1, column: 1, 4) == [255])
        #expect(png.pixels[0] == 255 && png.pixels[22] == 255)
        // Each enlarged weight is a 7×7 square: its corners hold the same value.
        #expect(png.pixels[1 * 45 + 8] == 32 && png.pixels[7 * 45 + 14] == 32)

        let limited = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--visualize", "conv", "--limit", "2", "--out", dir + "/f2.png"])
        #expect(limited.out == "visualize layer=conv type=Convolution units=3 shown=2 tiles=2 tile=3x3 zoom=7 out=\(dir)/f2.png size=45x23\n"
                + "note: the first 2 of 3 units are drawn; --limit 3 draws all\n", "\(limited.err)")
    }

    @Test func aFirstLayerOnColourImagesHasColourTiles() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        try writeColourData(dir)
        // Filter 0: channel c holds c·9 + k, so the tile spans 0…26 over its three channels;
        // filters 1 and 2 are constant (mid grey).
        try tinyWeights(dir + "/w.safetensors", conv: (0..<27).map(Float.init) + Array(repeating: 0.5, count: 54), channels: 3)
        let r = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--visualize", "conv", "--out", dir + "/f.png"])
        #expect(r.status == 0, "\(r.err)")
        let png = try readPNG(dir + "/f.png")
        #expect(png.width == 45 && png.height == 45 && png.channels == 3)
        // Pixel 0: (0, 9, 18)/26 · 255; pixel 8: (8, 17, 26)/26 · 255.
        #expect(tilePixel(png, row: 0, column: 0, 0) == [0, 88, 177])
        #expect(tilePixel(png, row: 0, column: 0, 8) == [78, 167, 255])
        #expect(tilePixel(png, row: 0, column: 1, 4) == [128, 128, 128])

        // The mean over the colours is a grey tile: c·9 + k averages to 9 + k, the ramp again.
        let mean = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--visualize", "conv", "--mean-over-inputs", "--out", dir + "/m.png"])
        #expect(mean.status == 0, "\(mean.err)")
        let grey = try readPNG(dir + "/m.png")
        #expect(grey.channels == 1 && (0..<9).map { tilePixel(grey, row: 0, column: 0, $0)[0] } == [0, 32, 64, 96, 128, 159, 191, 223, 255])
    }

    static let deepNet = """
        name: deep
        layer:
          - name: data
            type: IDXData
            top: [data, label]
            transform_param: {scale: 0.00390625}
            idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8}
          - {name: conv1, type: Convolution, bottom: data, top: conv1, convolution_param: {num_output: 3, kernel_size: 3, pad: 1}}
          - {name: conv2, type: Convolution, bottom: conv1, top: conv2, convolution_param: {num_output: 2, kernel_size: 2, bias_term: false}}
          - {name: ip, type: InnerProduct, bottom: conv2, top: s, inner_product_param: {num_output: 2}}
          - {name: loss, type: SoftmaxWithLoss, bottom: [s, label], top: loss}
        """

    @Test func deeperFiltersHaveATilePerInputChannelOrTheirMean() throws {
        let dir = temporaryDirectory()
        try setUp(dir, net: Self.deepNet)
        // conv2.weight [2, 3, 2, 2], filter by filter, channel by channel.
        let conv2: [[Float]] = [[0, 1, 2, 3], [3, 1, 2, 0], [3, 1, 5, 0],
                                [0, 0, 0, 4], [-1, 1, -1, 1], [1, 2, 1, -5]]
        try writeWeights(dir + "/w.safetensors", [("conv1.weight", [3, 1, 3, 3], Array(repeating: 1, count: 27)), ("conv1.bias", [3], [0, 0, 0]),
                                                  ("conv2.weight", [2, 3, 2, 2], conv2.flatMap { $0 }),
                                                  ("ip.weight", [2, 18], Array(repeating: 0, count: 36)), ("ip.bias", [2], [0, 0])])
        let r = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--visualize", "conv2", "--out", dir + "/f.png"])
        #expect(r.status == 0, "\(r.err)")
        // A row per filter, a column per input channel; 2×2 tiles enlarged 10 times.
        #expect(r.out == "visualize layer=conv2 type=Convolution units=2 shown=2 tiles=6 tile=2x2 zoom=10 out=\(dir)/f.png size=64x43\n")
        let png = try readPNG(dir + "/f.png")
        #expect(png.width == 64 && png.height == 43 && png.channels == 1)
        func tile(_ row: Int, _ column: Int) -> [UInt8] { (0..<4).map { tilePixel(png, row: row, column: column, $0, side: 2, zoom: 10)[0] } }
        #expect(tile(0, 0) == [0, 85, 170, 255])
        #expect(tile(0, 1) == [255, 85, 170, 0])
        #expect(tile(0, 2) == [153, 51, 255, 0])
        #expect(tile(1, 0) == [0, 0, 0, 255])
        #expect(tile(1, 1) == [0, 255, 0, 255])
        #expect(tile(1, 2) == [219, 255, 219, 0])  // 6/7 · 255 = 218.6

        // The means over the 3 channels: filter 0 [2, 1, 3, 1], filter 1 [0, 1, 0, 0].
        let mean = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--visualize", "conv2", "--mean-over-inputs", "--out", dir + "/m.png"])
        #expect(mean.out == "visualize layer=conv2 type=Convolution units=2 shown=2 tiles=2 tile=2x2 zoom=10 out=\(dir)/m.png size=43x22\n", "\(mean.err)")
        let m = try readPNG(dir + "/m.png")
        #expect((0..<4).map { tilePixel(m, row: 0, column: 0, $0, side: 2, zoom: 10)[0] } == [128, 0, 255, 0])
        #expect((0..<4).map { tilePixel(m, row: 0, column: 1, $0, side: 2, zoom: 10)[0] } == [0, 255, 0, 0])
    }

    /// The encoder's weight rows as 4×4 images, stored either way round (`transpose`).
    @Test func anAutoencodersFirstLayerShowsEachUnitsWeightImage() throws {
        let dir = temporaryDirectory()
        try setUp(dir, net: autoencoderNet)
        let rows: [[Float]] = [(0..<16).map(Float.init), (0..<16).map { Float(15 - $0) }, (0..<16).map { Float($0 % 4) }]
        let rest: [(String, [Int], [Float])] = [("encode.bias", [3], [0, 0, 0]), ("decode.weight", [16, 3], Array(repeating: 0, count: 48)),
                                                ("decode.bias", [16], Array(repeating: 0, count: 16))]
        try writeWeights(dir + "/w.safetensors", [("encode.weight", [3, 16], rows.flatMap { $0 })] + rest)
        try writeWeights(dir + "/wt.safetensors", [("encode.weight", [16, 3], (0..<48).map { rows[$0 % 3][$0 / 3] })] + rest)
        try autoencoderNet.replacingOccurrences(of: "inner_product_param: {num_output: 3}", with: "inner_product_param: {num_output: 3, transpose: true}")
            .write(toFile: dir + "/transposed.yaml", atomically: true, encoding: .utf8)

        let r = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--visualize", "encode", "--out", dir + "/f.png"])
        #expect(r.out == "visualize layer=encode type=InnerProduct units=3 shown=3 tiles=3 tile=4x4 zoom=5 out=\(dir)/f.png size=43x43\n", "\(r.err)")
        let png = try readPNG(dir + "/f.png")
        func tile(_ row: Int, _ column: Int) -> [UInt8] { (0..<16).map { tilePixel(png, row: row, column: column, $0, side: 4, zoom: 5)[0] } }
        // 0…15 spread over 0…255 is 17k; 0…3 is 85k.
        let ramp: [UInt8] = (0..<16).map { (k: Int) -> UInt8 in UInt8(17 * k) }
        let columns: [UInt8] = (0..<16).map { (k: Int) -> UInt8 in UInt8(85 * (k % 4)) }
        #expect(tile(0, 0) == ramp)
        #expect(tile(0, 1) == ramp.reversed())
        #expect(tile(1, 0) == columns)

        let t = try run("dtest", ["--model", dir + "/transposed.yaml", "--weights", dir + "/wt.safetensors", "--visualize", "encode", "--out", dir + "/t.png"])
        #expect(t.status == 0, "\(t.err)")
        #expect(try readPNG(dir + "/t.png").pixels == png.pixels)
    }

    @Test func layersThatCannotBeDrawnAreClearErrors() throws {
        let dir = temporaryDirectory()
        try setUp(dir, net: autoencoderNet)
        try writeWeights(dir + "/w.safetensors", [("encode.weight", [3, 16], Array(repeating: 0, count: 48)), ("encode.bias", [3], [0, 0, 0]),
                                                  ("decode.weight", [16, 3], Array(repeating: 0, count: 48)), ("decode.bias", [16], Array(repeating: 0, count: 16))])
        func visualize(_ layer: String, out: [String] = ["--out", dir + "/f.png"]) throws -> (status: Int32, out: String, err: String) {
            try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--visualize", layer] + out)
        }
        let unknown = try visualize("encod")
        #expect(unknown.status == 1)
        #expect(unknown.err == "error: net 'ae' has no layer 'encod' to visualize\nhint: did you mean 'encode'?; layers that can be drawn: encode\n")
        let noWeights = try visualize("flatdata")
        #expect(noWeights.status == 1)
        #expect(noWeights.err == "error: layer 'flatdata' (Flatten) has no weights to draw\nhint: layers that can be drawn: encode\n")
        let notAnImage = try visualize("decode")
        #expect(notAnImage.status == 1)
        #expect(notAnImage.err.hasPrefix("error: layer 'decode' (InnerProduct) takes 3 values per sample, not an input image: the net's input samples are 1×4×4, 16 values\nhint: "), "\(notAnImage.err)")
        let noOut = try visualize("encode", out: [])
        #expect(noOut.status != 0 && noOut.err.contains("--visualize LAYER writes a PNG file: give --out FILE.png"), "\(noOut.err)")
        let stray = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--mean-over-inputs"])
        #expect(stray.status != 0 && stray.err.contains("--limit and --mean-over-inputs go with --visualize LAYER"), "\(stray.err)")
        let two = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--visualize", "encode", "--reconstruct", "2", "--out", dir + "/f.png"])
        #expect(two.status != 0 && two.err.contains("--visualize LAYER and --reconstruct N each write a picture: give one at a time"), "\(two.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/f.png"))
    }

    // MARK: --reconstruct

    /// Weights for the autoencoder whose reconstruction ignores the input: the decoder's
    /// biases alone, per pixel column 0, ln 3, −ln 3, 20, whose sigmoids are 1/2, 3/4, 1/4, ≈1.
    func constantDecoder(_ path: String) throws {
        let biases: [Float] = (0..<16).map { [0, Float(log(3.0)), -Float(log(3.0)), 20][$0 % 4] }
        try writeWeights(path, [("encode.weight", [3, 16], Array(repeating: 0, count: 48)), ("encode.bias", [3], [0, 0, 0]),
                                ("decode.weight", [16, 3], Array(repeating: 0, count: 48)), ("decode.bias", [16], biases)])
    }

    /// The 4×4 sample drawn at (row, column) of a --reconstruct picture of 12 samples: cells of
    /// 4×4 enlarged 14 times (56 pixels), 4 pixels apart, 8 more between pairs of rows.
    func cell(_ png: (width: Int, height: Int, channels: Int, pixels: [UInt8]), row: Int, column: Int) -> [UInt8] {
        (0..<16).map { p in
            let y = 4 + row * 60 + row / 2 * 8 + (p / 4) * 14 + 7, x = 4 + column * 60 + (p % 4) * 14 + 7
            return png.pixels[y * png.width + x]
        }
    }

    @Test func reconstructDrawsOriginalsAboveTheSigmoidOfTheLogits() throws {
        let dir = temporaryDirectory()
        try setUp(dir, net: autoencoderNet)
        try constantDecoder(dir + "/w.safetensors")
        let r = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--reconstruct", "12", "--out", dir + "/r.png"])
        #expect(r.status == 0, "\(r.err)")
        // 10 samples to a row: 10·56 + 11·4 = 604 wide; 2 pairs of rows: 4·56 + 5·4 + 8 = 252 high.
        #expect(r.out == "reconstruct samples=12 blob=sigmoid(decode) out=\(dir)/r.png size=604x252\n")
        let png = try readPNG(dir + "/r.png")
        #expect(png.width == 604 && png.height == 252 && png.channels == 1)
        let images = try IDXFile.read(dir + "/images.gz", expectedRanks: 3...3, role: "images")
        // The data layer's scale 1/256 undone: the originals are the file's bytes, and the
        // sigmoids 1/2, 3/4, 1/4, ≈1 are 128, 192, 64 and 256 clamped to 255.
        let reconstruction: [UInt8] = (0..<16).map { (p: Int) -> UInt8 in [128, 192, 64, 255][p % 4] }
        for i in [0, 9, 10, 11] {
            let (row, column) = (2 * (i / 10), i % 10)
            #expect(cell(png, row: row, column: column) == Array(images.bytes[(i * 16)..<((i + 1) * 16)]), "sample \(i)")
            #expect(cell(png, row: row + 1, column: column) == reconstruction, "sample \(i)")
        }
        // The second pair's row holds 2 samples; the rest of it is white.
        #expect(cell(png, row: 2, column: 2) == Array(repeating: 255, count: 16))

        // The Sigmoid's top, named, is the same picture; the logits, named, are shown as they
        // are: 0 → 0, ln 3 · 256 → 255, −ln 3 · 256 → 0, 20 · 256 → 255.
        let named = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--reconstruct", "12", "--reconstruct-blob", "decodeneuron", "--out", dir + "/n.png"])
        #expect(named.out == "reconstruct samples=12 blob=decodeneuron out=\(dir)/n.png size=604x252\n", "\(named.err)")
        #expect(try readPNG(dir + "/n.png").pixels == png.pixels)
        let logits = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--reconstruct", "3", "--reconstruct-blob", "decode", "--out", dir + "/l.png"])
        #expect(logits.status == 0, "\(logits.err)")
        let asTheyAre: [UInt8] = (0..<16).map { (p: Int) -> UInt8 in [0, 255, 0, 255][p % 4] }
        #expect(cell(try readPNG(dir + "/l.png"), row: 1, column: 0) == asTheyAre)
    }

    /// A EuclideanLoss's first bottom is shown as it is: here the input plus 1/8, i.e. 32 more
    /// in bytes after the scale is undone.
    @Test func reconstructShowsAEuclideanLossesBlobAsItIs() throws {
        let dir = temporaryDirectory()
        let identity = """
            name: shift
            layer:
              - name: data
                type: IDXData
                top: data
                transform_param: {scale: 0.00390625}
                idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8}
              - {name: flatdata, type: Flatten, bottom: data, top: flatdata}
              - {name: recon, type: InnerProduct, bottom: data, top: recon, inner_product_param: {num_output: 16}}
              - {name: loss, type: EuclideanLoss, bottom: [recon, flatdata], top: l2}
            """
        try setUp(dir, net: identity)
        try writeWeights(dir + "/w.safetensors", [("recon.weight", [16, 16], (0..<256).map { $0 / 16 == $0 % 16 ? 1 : 0 }),
                                                  ("recon.bias", [16], Array(repeating: 0.125, count: 16))])
        let r = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--reconstruct", "3", "--out", dir + "/r.png"])
        // 3 samples: one row pair of 3 cells, 3·56 + 4·4 = 184 by 2·56 + 3·4 = 124.
        #expect(r.out == "reconstruct samples=3 blob=recon out=\(dir)/r.png size=184x124\n", "\(r.err)")
        let png = try readPNG(dir + "/r.png")
        let images = try IDXFile.read(dir + "/images.gz", expectedRanks: 3...3, role: "images")
        for i in 0..<3 {
            let bytes = Array(images.bytes[(i * 16)..<((i + 1) * 16)])
            #expect(cell(png, row: 0, column: i) == bytes)
            let shifted: [UInt8] = bytes.map { (b: UInt8) -> UInt8 in UInt8(min(255, Int(b) + 32)) }
            #expect(cell(png, row: 1, column: i) == shifted)
        }
    }

    @Test func reconstructNeedsAReconstruction() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        try tinyWeights(dir + "/w.safetensors", conv: Array(repeating: 0, count: 27))
        let r = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--reconstruct", "4", "--out", dir + "/r.png"])
        #expect(r.status == 1)
        #expect(r.err == "error: net 'tiny' has no reconstruction loss: a SigmoidCrossEntropyLoss or EuclideanLoss comparing a blob with the input (1×4×4, 16 values per sample)\n"
                + "hint: name the blob that holds the reconstruction with --reconstruct-blob NAME; blobs of that size: data\n")
        let wrongSize = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--reconstruct", "4", "--reconstruct-blob", "pool", "--out", dir + "/r.png"])
        #expect(wrongSize.status == 1)
        #expect(wrongSize.err == "error: blob 'pool' of shape 8×3×2×2 is not one image per sample: the input's samples are 1×4×4, 16 values\nhint: blobs of that size: data\n")
        let typo = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--reconstruct", "4", "--reconstruct-blob", "dat", "--out", dir + "/r.png"])
        #expect(typo.err == "error: net 'tiny' has no blob 'dat' to show as the reconstruction\nhint: did you mean 'data'?; blobs of that size: data\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/r.png"))
    }

    /// Caffe's mnist_autoencoder picks its TEST data layer by stage: without --stage the net
    /// does not build, and the error says which stages there are.
    @Test func stagesPickTheTestLayers() throws {
        let dir = temporaryDirectory()
        try setUp(dir, net: autoencoderNet.replacingOccurrences(of: "    top: data\n", with: "    top: data\n    include: {phase: TEST, stage: test-on-test}\n"))
        try constantDecoder(dir + "/w.safetensors")
        let args = ["--model", dir + "/net.yaml", "--weights", dir + "/w.safetensors", "--reconstruct", "2", "--out", dir + "/r.png"]
        let missing = try run("dtest", args)
        #expect(missing.status == 1)
        #expect(missing.err == "\(dir)/net.yaml:9:45: error: layer 'flatdata' (Flatten): unknown bottom blob 'data' (bottom 0)\n"
                + "hint: no blob is produced before this layer in phase TEST; this net's layers are picked by stage: give --stage test-on-test\n")
        let typo = try run("dtest", args + ["--stage", "test-on-tst"])
        #expect(typo.err == "\(dir)/net.yaml: error: no layer of net 'ae' names the stage 'test-on-tst' given with --stage\nhint: did you mean 'test-on-test'?\n")
        let staged = try run("dtest", args + ["--stage", "test-on-test"])
        #expect(staged.out == "reconstruct samples=2 blob=sigmoid(decode) out=\(dir)/r.png size=124x124\n", "\(staged.err)")
    }
}
