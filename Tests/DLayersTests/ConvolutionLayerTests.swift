import DCore
@testable import DLayers
import Testing

@Suite struct ConvolutionLayerTests {
    static let yaml = "{name: conv, type: Convolution, bottom: x, top: y, convolution_param: {num_output: 1, kernel_size: 2}}"

    static func conv(_ param: String) throws -> any Layer {
        try makeLayer("{name: conv, type: Convolution, bottom: x, top: y, convolution_param: {\(param)}}")
    }

    @Test func forwardByHand() throws {
        // x [1, 1, 3, 3] = 1 2 3 / 4 5 6 / 7 8 9, W [1, 1, 2, 2] = 1 2 / 0 −1, b = 0.5:
        // y[i, j] = x[i, j] + 2·x[i, j+1] − x[i+1, j+1] + 0.5, over a 2×2 output
        let rig = try LayerRig(try makeLayer(Self.yaml), bottoms: [(Shape([1, 1, 3, 3]), [1, 2, 3, 4, 5, 6, 7, 8, 9])])
        #expect(rig.params[0].shape == Shape([1, 1, 2, 2]))
        #expect(rig.params[1].shape == Shape([1]))
        rig.params[0].view.copy(from: [1, 2, 0, -1])
        rig.params[1].view.copy(from: [0.5])
        let y = try rig.forward()[0]
        // (0,0): 1 + 4 − 5 + 0.5 = 0.5    (0,1): 2 + 6 − 6 + 0.5 = 2.5
        // (1,0): 4 + 10 − 8 + 0.5 = 6.5   (1,1): 5 + 12 − 9 + 0.5 = 8.5
        #expect(rig.tops[0].shape == Shape([1, 1, 2, 2]))
        #expect(close(y, [0.5, 2.5, 6.5, 8.5]))
    }

    @Test func strideAndPadByHand() throws {
        // x = 1…9 as 3×3, a 3×3 kernel of ones, pad 1, stride 2, no bias: OH = (3 + 2 − 3) / 2 + 1 = 2.
        // Windows start at rows/cols −1 and 1, so each sums a 2×2 corner of x:
        // (0,0): 1+2+4+5 = 12   (0,1): 2+3+5+6 = 16   (1,0): 4+5+7+8 = 24   (1,1): 5+6+8+9 = 28
        let layer = try Self.conv("num_output: 1, kernel_size: 3, pad: 1, stride: 2, bias_term: false")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 1, 3, 3]), [1, 2, 3, 4, 5, 6, 7, 8, 9])])
        #expect(rig.params.count == 1)
        rig.params[0].view.fill(1)
        let y = try rig.forward()[0]
        #expect(rig.tops[0].shape == Shape([1, 1, 2, 2]))
        #expect(close(y, [12, 16, 24, 28]))
    }

    @Test func rectangularKernelByHand() throws {
        // x [1, 1, 2, 4] = 1 2 3 4 / 5 6 7 8, kernel 1×3 W = 1 −1 2, b = −1: output 2×2,
        // y[i, j] = x[i, j] − x[i, j+1] + 2·x[i, j+2] − 1
        // (0,0): 1 − 2 + 6 − 1 = 4   (0,1): 2 − 3 + 8 − 1 = 6   (1,0): 5 − 6 + 14 − 1 = 12   (1,1): 6 − 7 + 16 − 1 = 14
        let layer = try Self.conv("num_output: 1, kernel_h: 1, kernel_w: 3")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 1, 2, 4]), [1, 2, 3, 4, 5, 6, 7, 8])])
        #expect(rig.params[0].shape == Shape([1, 1, 1, 3]))
        rig.params[0].view.copy(from: [1, -1, 2])
        rig.params[1].view.copy(from: [-1])
        let y = try rig.forward()[0]
        #expect(rig.tops[0].shape == Shape([1, 1, 2, 2]))
        #expect(close(y, [4, 6, 12, 14]))
    }

    @Test func groupsByHand() throws {
        // Two channels, two outputs, group 2, 1×1 kernel: each output sees only its own channel.
        // x = (3, −2), W [2, 1, 1, 1] = (2, 5), b = (1, 0): y = (2·3 + 1, 5·(−2) + 0) = (7, −10).
        // (With group 1, W would be [2, 2, 1, 1] and the outputs would mix both channels.)
        let layer = try Self.conv("num_output: 2, kernel_size: 1, group: 2")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 2, 1, 1]), [3, -2])])
        #expect(rig.params[0].shape == Shape([2, 1, 1, 1]))
        rig.params[0].view.copy(from: [2, 5])
        rig.params[1].view.copy(from: [1, 0])
        let y = try rig.forward()[0]
        #expect(rig.tops[0].shape == Shape([1, 2, 1, 1]))
        #expect(close(y, [7, -10]))
    }

    @Test func batchByHand() throws {
        // Two images of one pixel and two channels, 1×1 kernel, two outputs: a per-pixel matrix product.
        // W = [[1, 2], [−1, 0.5]], b = (0, 10); image 0 x = (1, 1) → (3, 9.5); image 1 x = (2, −4) → (−6, 6).
        let layer = try Self.conv("num_output: 2, kernel_size: 1")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2, 1, 1]), [1, 1, 2, -4])])
        rig.params[0].view.copy(from: [1, 2, -1, 0.5])
        rig.params[1].view.copy(from: [0, 10])
        #expect(close(try rig.forward()[0], [3, 9.5, -6, 6]))
    }

    /// One geometry compared with the direct seven-loop convolution on random data.
    struct Case: CustomStringConvertible {
        var n, c, h, w, outputs: Int
        var kh, kw, sh, sw, ph, pw: Int
        var group = 1
        var bias = true
        var dh = 1, dw = 1
        var description: String { "N\(n) C\(c) \(h)×\(w) → \(outputs), k \(kh)×\(kw) s \(sh)×\(sw) p \(ph)×\(pw) d \(dh)×\(dw) g\(group) bias \(bias)" }

        var yaml: String {
            "{name: conv, type: Convolution, bottom: x, top: y, convolution_param: {num_output: \(outputs), "
                + "kernel_h: \(kh), kernel_w: \(kw), stride_h: \(sh), stride_w: \(sw), pad_h: \(ph), pad_w: \(pw), "
                + "dilation: [\(dh), \(dw)], group: \(group), bias_term: \(bias)}}"
        }
        // The dilated kernel spans d·(k − 1) + 1 pixels.
        var outH: Int { (h + 2 * ph - (dh * (kh - 1) + 1)) / sh + 1 }
        var outW: Int { (w + 2 * pw - (dw * (kw - 1) + 1)) / sw + 1 }
        var config: ConvolutionKernel.Config {
            ConvolutionKernel.Config(
                geometry: WindowGeometry(channels: c, height: h, width: w, kernelH: kh, kernelW: kw, strideH: sh, strideW: sw,
                                         padH: ph, padW: pw, dilationH: dh, dilationW: dw, outH: outH, outW: outW),
                outputs: outputs, groups: group, batch: n, workers: 1)
        }
    }

    static let cases: [Case] = [
        Case(n: 2, c: 3, h: 7, w: 6, outputs: 4, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0),
        Case(n: 2, c: 4, h: 6, w: 7, outputs: 6, kh: 3, kw: 2, sh: 2, sw: 1, ph: 1, pw: 0, group: 2),
        Case(n: 3, c: 6, h: 5, w: 5, outputs: 3, kh: 3, kw: 3, sh: 2, sw: 2, ph: 2, pw: 2, group: 3, bias: false),
        Case(n: 1, c: 2, h: 9, w: 9, outputs: 4, kh: 5, kw: 5, sh: 3, sw: 3, ph: 1, pw: 1),
        Case(n: 2, c: 1, h: 4, w: 8, outputs: 2, kh: 1, kw: 4, sh: 1, sw: 3, ph: 0, pw: 2),
        // Large enough that the GEMM splits over the two threads (16 × 1024 × 144 multiply-adds).
        Case(n: 4, c: 16, h: 16, w: 16, outputs: 16, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1),
        // Dilated, without and with padding, stride and groups.
        Case(n: 2, c: 3, h: 9, w: 8, outputs: 4, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0, dh: 2, dw: 2),
        Case(n: 2, c: 4, h: 8, w: 9, outputs: 6, kh: 3, kw: 2, sh: 2, sw: 1, ph: 2, pw: 1, group: 2, dh: 3, dw: 2),
        Case(n: 1, c: 2, h: 7, w: 11, outputs: 2, kh: 2, kw: 3, sh: 1, sw: 2, ph: 0, pw: 1, bias: false, dh: 1, dw: 4),
    ]

    @Test(arguments: cases) func matchesReference(_ c: Case) throws {
        let x = randomValues(c.n * c.c * c.h * c.w, seed: 21)
        let rig = try LayerRig(try makeLayer(c.yaml), bottoms: [(Shape([c.n, c.c, c.h, c.w]), x)])
        #expect(rig.tops[0].shape == Shape([c.n, c.outputs, c.outH, c.outW]))
        #expect(rig.params[0].shape == Shape([c.outputs, c.c / c.group, c.kh, c.kw]))
        #expect(rig.params.count == (c.bias ? 2 : 1))
        let w = randomValues(rig.params[0].shape.count, seed: 22)
        rig.params[0].view.copy(from: w)
        let b = c.bias ? randomValues(c.outputs, seed: 23) : nil
        if let b { rig.params[1].view.copy(from: b) }
        let y = try rig.forward()[0]
        let expected = ConvolutionKernel.reference(c.config, input: x, weight: w, bias: b)
        #expect(close(y, expected, tolerance: 1e-4), "\(c)")
    }

    @Test func dilatedByHand() throws {
        // x [1, 1, 4, 4] = 1…16, W [1, 1, 2, 2] = 1 2 / 0 −1 with dilation 2, b = 0.5: the taps sit two apart,
        // so the kernel spans 3×3 and OH = (4 − (2·(2 − 1) + 1)) / 1 + 1 = 2;
        // y[i, j] = x[i, j] + 2·x[i, j+2] − x[i+2, j+2] + 0.5:
        // (0,0): 1 + 6 − 11 + 0.5 = −3.5   (0,1): 2 + 8 − 12 + 0.5 = −1.5
        // (1,0): 5 + 14 − 15 + 0.5 = 4.5   (1,1): 6 + 16 − 16 + 0.5 = 6.5
        let layer = try Self.conv("num_output: 1, kernel_size: 2, dilation: 2")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 1, 4, 4]), (1...16).map(Float.init))])
        #expect(rig.params[0].shape == Shape([1, 1, 2, 2]))  // dilation does not change the weight
        rig.params[0].view.copy(from: [1, 2, 0, -1])
        rig.params[1].view.copy(from: [0.5])
        let y = try rig.forward()[0]
        #expect(rig.tops[0].shape == Shape([1, 1, 2, 2]))
        #expect(close(y, [-3.5, -1.5, 4.5, 6.5]))
    }

    @Test func dilatedWithPadByHand() throws {
        // x = 1…9 as 3×3, a 2×2 kernel of ones with dilation 2 and pad 1, no bias: it spans 3×3, OH = (3 + 2 − 3) + 1 = 3.
        // Output (i, j) sums x at rows i − 1 and i + 1, columns j − 1 and j + 1, where inside:
        // (0,0): x[1,1] = 5   (0,1): x[1,0] + x[1,2] = 10   (1,1): x[0,0] + x[0,2] + x[2,0] + x[2,2] = 20, and so on.
        let layer = try Self.conv("num_output: 1, kernel_size: 2, dilation: 2, pad: 1, bias_term: false")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 1, 3, 3]), [1, 2, 3, 4, 5, 6, 7, 8, 9])])
        rig.params[0].view.fill(1)
        let y = try rig.forward()[0]
        #expect(rig.tops[0].shape == Shape([1, 1, 3, 3]))
        #expect(close(y, [5, 10, 5, 10, 20, 10, 5, 10, 5]))
    }

    @Test func dilatedGradients() throws {
        // N 2, C 4, 7×6, kernel 3, dilation 2 (spans 5×5), pad 1, group 2, 4 outputs → 2×4×5×4; weight [4, 2, 3, 3], bias [4].
        let layer = try Self.conv("num_output: 4, kernel_size: 3, dilation: 2, pad: 1, group: 2, bias_filler: {type: uniform, min: -1, max: 1}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 4, 7, 6]), randomValues(336, seed: 51))])
        #expect(rig.tops[0].shape == Shape([2, 4, 5, 4]))
        #expect(try checkGradients(rig) == 336 + 72 + 4)
        try checkAccumulation(rig)
    }

    @Test func rectangularDilatedGradientsWithoutPad() throws {
        // 1×2×6×7, kernel 2×3, dilation [3, 2] (spans 4×5), stride [1, 2], no pad, no bias → 1×3×3×2; weight [3, 2, 2, 3].
        let layer = try Self.conv("num_output: 3, kernel_h: 2, kernel_w: 3, dilation: [3, 2], stride: [1, 2], bias_term: false")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 2, 6, 7]), randomValues(84, seed: 52))])
        #expect(rig.tops[0].shape == Shape([1, 3, 3, 2]))
        #expect(try checkGradients(rig) == 84 + 36)
        try checkAccumulation(rig)
    }

    @Test func gradients() throws {
        // N 2, C 2, 5×5, 3×3 kernel, pad 1, stride 2, group 2 → 2×2×3×3; weight [2, 1, 3, 3], bias [2].
        let layer = try Self.conv("num_output: 2, kernel_size: 3, pad: 1, stride: 2, group: 2, bias_filler: {type: uniform, min: -1, max: 1}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2, 5, 5]), randomValues(100))])
        #expect(rig.tops[0].shape == Shape([2, 2, 3, 3]))
        #expect(try checkGradients(rig) == 100 + 18 + 2)
        try checkAccumulation(rig)
    }

    @Test func rectangularGradientsWithoutBias() throws {
        // 1×2×4×5, kernel 2×3, stride 1×2, pad 1×0, no bias → 1×3×5×2; weight [3, 2, 2, 3].
        let layer = try Self.conv("num_output: 3, kernel_h: 2, kernel_w: 3, stride_h: 1, stride_w: 2, pad_h: 1, pad_w: 0, bias_term: false")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 2, 4, 5]), randomValues(40))])
        #expect(rig.tops[0].shape == Shape([1, 3, 5, 2]))
        #expect(try checkGradients(rig) == 40 + 36)
        try checkAccumulation(rig)
    }

    @Test func gradientsWithSeveralChunksPerWorker() throws {
        // LayerRig runs 2 threads: worker w takes images Parallel.chunk(w, of: 2, count: 5) (3, then 2) and walks them
        // in chunks of min(⌈5 / 2⌉, 32 768 / (4·5·5 · 12·12 = 14 400)) = 2 images, so worker 0 walks two (2 + 1).
        let layer = try Self.conv("num_output: 2, kernel_size: 5, pad: 2, bias_filler: {type: uniform, min: -1, max: 1}")
        let shape = Shape([5, 4, 12, 12])
        let conv = try #require(layer as? ConvolutionLayer)
        #expect(conv.config(shape, workers: 2).chunk == 2)
        let x = randomValues(shape.count, seed: 41)
        let rig = try LayerRig(layer, bottoms: [(shape, x)])
        #expect(rig.tops[0].shape == Shape([5, 2, 12, 12]))
        // Convolution is linear in W and b: central differences are exact for any step, and a large one keeps
        // the rounding of the 1 440 outputs small next to the difference.
        #expect(try checkGradients(rig, checkBottoms: [], h: 0.1) == 2 * 100 + 2)

        try rig.forward()
        let r = randomValues(rig.tops[0].shape.count, seed: 43)
        rig.backward(topGrad: [r])
        let dx = rig.bottomGrads[0].values, dW = rig.paramGrads[0].values, db = rig.paramGrads[1].values

        // The same backward on one thread, as one chunk of the whole batch.
        var whole = conv.config(shape, workers: 1)
        whole.chunk = shape[0]
        let input = Tensor(shape: shape, values: x), outputGrad = Tensor(shape: rig.tops[0].shape, values: r)
        let dW1 = Tensor(shape: rig.params[0].shape), db1 = Tensor(shape: rig.params[1].shape), dx1 = Tensor(shape: shape)
        let scratch = Tensor(shape: Shape([whole.scratchPerWorker]))
        withExtendedLifetime((input, outputGrad, dW1, db1, dx1, scratch)) {
            ConvolutionKernel.backward(whole, input: input.view, outputGrad: outputGrad.view, weight: rig.params[0].view,
                                       weightGrad: dW1.view, biasGrad: db1.view, inputGrad: dx1.view, accumulateInput: false,
                                       scratch: scratch.view, parallel: .serial)
        }
        #expect(close(dW, dW1.values, tolerance: 1e-4))
        #expect(close(db, db1.values, tolerance: 1e-4))
        #expect(close(dx, dx1.values, tolerance: 1e-4))

        // The bottom gradient against central differences (linear in x too) at elements spread over all five
        // images, so over every chunk of both workers.
        func objective() throws -> Double {
            let y = try rig.forward()[0]
            var total = 0.0
            for (v, w) in zip(y, r) { total += Double(v) * Double(w) }
            return total
        }
        let h: Float = 0.1
        var probed = 0
        for i in stride(from: 7, to: shape.count, by: 115) {
            let original = rig.bottoms[0].view[i]
            rig.bottoms[0].view[i] = original + h
            let plus = try objective()
            rig.bottoms[0].view[i] = original - h
            let minus = try objective()
            rig.bottoms[0].view[i] = original
            let numeric = Float((plus - minus) / Double(2 * h))
            #expect(abs(dx[i] - numeric) <= 1e-3 * max(abs(dx[i]), abs(numeric), 1),
                    "bottom[\(i)] (image \(i / (4 * 12 * 12))): backward \(dx[i]), finite difference \(numeric)")
            probed += 1
        }
        #expect(probed == 25)
    }

    @Test func dilatedFlopsAreTheGEMM() throws {
        // [1, 2, 7, 7], 4 outputs, kernel 3 with dilation 2 (spans 5): OH = OW = 3. The GEMM is
        // [4, 2·9]·[2·9, 9]: 2·4·18·9 = 1 296 forward, twice that backward; dilation changes only OH·OW.
        let layer = try Self.conv("num_output: 4, kernel_size: 3, dilation: 2")
        #expect(layer.flops(for: [Shape([1, 2, 7, 7])]) == (1296, 2592))
    }

    @Test func gemmShapesAreOnePerGroupOverTheBatch() throws {
        // [3, 4, 6, 6], 6 outputs in 2 groups, kernel 3: P = 4·4 = 16 positions, N·P = 48 columns,
        // K/G = 2·9 = 18 rows per group. Forward W·col [3, 18]·[18, 48]; dW = dR·colᵀ
        // [3, 48]·[48, 18]; dcol = Wᵀ·dR [18, 3]·[3, 48]; each once per group.
        let layer = try Self.conv("num_output: 6, kernel_size: 3, group: 2")
        let shapes = [Shape([3, 4, 6, 6])]
        let g = layer.gemms(for: shapes)
        #expect(g.forward == Array(repeating: GEMMShape(m: 3, n: 48, k: 18), count: 2))
        #expect(g.backward == Array(repeating: GEMMShape(m: 3, n: 18, k: 48, transB: true), count: 2))
        #expect(g.inputGradient == Array(repeating: GEMMShape(m: 18, n: 48, k: 3, transA: true), count: 2))
        let f = layer.flops(for: shapes)
        #expect(g.flops.forward == f.forward && g.flops.backward + g.flops.inputGradient == f.backward)
        #expect(g.flops.inputGradient == layer.inputGradientFlops(for: shapes))
    }

    @Test func fillersFromConfig() throws {
        let layer = try Self.conv("num_output: 2, kernel_size: 2, weight_filler: {type: constant, value: 0.5}, bias_filler: {type: constant, value: -3}")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 1, 3, 3]), randomValues(9))])
        #expect(rig.params[0].values == [Float](repeating: 0.5, count: 8))
        #expect(rig.params[1].values == [-3, -3])
    }

    @Test func numOutputNotDivisibleByGroup() {
        #expect(layerError("{name: conv, type: Convolution, convolution_param: {num_output: 3, kernel_size: 3, group: 2}}")
                == "layer 'conv' (Convolution): convolution_param.group: num_output 3 is not divisible by group 2")
    }

    @Test func configErrors() {
        #expect(layerError("{name: conv, type: Convolution, convolution_param: {num_output: 2}}")
                == "layer 'conv' (Convolution): missing required key 'convolution_param.kernel_size'")
        #expect(layerError("{name: conv, type: Convolution, convolution_param: {num_output: 2, kernel_size: 3, dilation: 0}}")
                == "layer 'conv' (Convolution): convolution_param.dilation: must be at least 1, found 0")
        #expect(layerError("{name: conv, type: Convolution, convolution_param: {num_output: 2, kernel_size: 3, dilation: [1, 2, 2]}}")
                == "layer 'conv' (Convolution): convolution_param.dilation: expected one value, or two (height, width), found 3")
        #expect(layerError("{name: conv, type: Convolution, convolution_param: {num_output: 2, kernel_size: 3, stride: 0}}")
                == "layer 'conv' (Convolution): convolution_param.stride: must be at least 1, found 0")
        #expect(layerError("{name: conv, type: Convolution, convolution_param: {num_output: 2, kernel_size: 3, weight_filler: {type: uniform, min: 1, max: 0}}}")
                == "layer 'conv' (Convolution): convolution_param.weight_filler.max: must not be below min (1.0), found 0.0")
    }

    @Test func shapeErrors() throws {
        let grouped = try Self.conv("num_output: 2, kernel_size: 1, group: 2")
        let e1 = #expect(throws: LayerError.self) { try grouped.topShapes(for: [Shape([1, 3, 4, 4])]) }
        #expect(e1?.message == "3 input channels are not divisible by group 2")
        let big = try Self.conv("num_output: 1, kernel_size: 5, pad: 1")
        let e2 = #expect(throws: LayerError.self) { try big.topShapes(for: [Shape([1, 1, 2, 3])]) }
        #expect(e2?.message == "kernel 5×5 is larger than the padded input 4×5 (bottom 1×1×2×3)")
        let dilated = try Self.conv("num_output: 1, kernel_size: 3, dilation: [2, 1]")
        let e4 = #expect(throws: LayerError.self) { try dilated.topShapes(for: [Shape([1, 1, 4, 9])]) }
        #expect(e4?.message == "kernel 3×3 with dilation 2×1 (spanning 5×3) is larger than the padded input 4×9 (bottom 1×1×4×9)")
        let e3 = #expect(throws: LayerError.self) { try big.topShapes(for: [Shape([2, 9])]) }
        #expect(e3?.message == "bottom 2×9 has no spatial axis after its channel axis 1")
    }

    // MARK: axis and one spatial axis

    @Test func axisTwoByHand() throws {
        // axis 2 on [N 1, T 2, C 1, 2, 2]: the axes before the channel axis are images, each convolved alone.
        // W = 1 2 / 3 4 over the whole 2×2 image, b = 1: t0 x = 1 2 / 3 4 → 1 + 4 + 9 + 16 + 1 = 31;
        // t1 x = 0 1 / 0 −1 → 0 + 2 + 0 − 4 + 1 = −1. Top [1, 2, 1, 1, 1]: the outer axes stay.
        let layer = try Self.conv("num_output: 1, kernel_size: 2, axis: 2")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 2, 1, 2, 2]), [1, 2, 3, 4, 0, 1, 0, -1])])
        #expect(rig.tops[0].shape == Shape([1, 2, 1, 1, 1]))
        #expect(rig.params[0].shape == Shape([1, 1, 2, 2]))
        rig.params[0].view.copy(from: [1, 2, 3, 4])
        rig.params[1].view.copy(from: [1])
        #expect(close(try rig.forward()[0], [31, -1]))
    }

    @Test func axisZeroByHand() throws {
        // axis 0: no batch axis, the bottom [C 2, 2, 2] is one image. 1×1 kernel W = (2, −1), no bias:
        // y = 2·c0 − c1 with c0 = 1 2 3 4, c1 = 1 1 1 1 → 1 3 5 7, top [1, 2, 2].
        let layer = try Self.conv("num_output: 1, kernel_size: 1, axis: 0, bias_term: false")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2, 2]), [1, 2, 3, 4, 1, 1, 1, 1])])
        #expect(rig.tops[0].shape == Shape([1, 2, 2]))
        #expect(rig.params[0].shape == Shape([1, 2, 1, 1]))
        rig.params[0].view.copy(from: [2, -1])
        #expect(close(try rig.forward()[0], [1, 3, 5, 7]))
    }

    @Test func oneSpatialAxisByHand() throws {
        // [N 1, C 1, L 5] = 1…5, kernel 3 W = (1, 2, −1), pad 1, stride 2, b = 0.5: OL = (5 + 2 − 3) / 2 + 1 = 3,
        // y[o] = x[2o − 1] + 2·x[2o] − x[2o + 1] + 0.5 (0 outside):
        // o0: 0 + 2 − 2 + 0.5 = 0.5   o1: 2 + 6 − 4 + 0.5 = 4.5   o2: 4 + 10 − 0 + 0.5 = 14.5
        let layer = try Self.conv("num_output: 1, kernel_size: 3, pad: 1, stride: 2")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 1, 5]), [1, 2, 3, 4, 5])])
        #expect(rig.tops[0].shape == Shape([1, 1, 3]))
        #expect(rig.params[0].shape == Shape([1, 1, 3]))  // Caffe's 1-D weight: [OC, C/group, k]
        rig.params[0].view.copy(from: [1, 2, -1])
        rig.params[1].view.copy(from: [0.5])
        #expect(close(try rig.forward()[0], [0.5, 4.5, 14.5]))
    }

    @Test func axisTwoMatchesTheImagesFlattened() throws {
        // [2, 3, 4, 5, 6] with axis 2 is the same convolution as [6, 4, 5, 6] with axis 1, same weights.
        let param = "num_output: 4, kernel_size: 3, pad: 1, stride: 2, group: 2, bias_filler: {type: uniform, min: -1, max: 1}"
        let x = randomValues(720, seed: 61)
        let fiveD = try LayerRig(try Self.conv(param + ", axis: 2"), bottoms: [(Shape([2, 3, 4, 5, 6]), x)])
        let flat = try LayerRig(try Self.conv(param), bottoms: [(Shape([6, 4, 5, 6]), x)])
        #expect(fiveD.tops[0].shape == Shape([2, 3, 4, 3, 3]))
        #expect(fiveD.params.map(\.shape) == flat.params.map(\.shape))
        for (a, b) in zip(fiveD.params, flat.params) { b.view.copy(from: a.values) }
        #expect(close(try fiveD.forward()[0], try flat.forward()[0]))
        #expect(fiveD.layer.flops(for: [Shape([2, 3, 4, 5, 6])]) == flat.layer.flops(for: [Shape([6, 4, 5, 6])]))
    }

    @Test func axisGradients() throws {
        // axis −3 (that is 2) on [2, 2, C 4, 4, 3]: 4 images. Kernel 3×2, pad 1, dilation [1, 2] (spans 3×3), group 2,
        // 2 outputs: OH = (4 + 2 − 3) + 1 = 4, OW = (3 + 2 − 3) + 1 = 3 → [2, 2, 2, 4, 3]; weight [2, 2, 3, 2], bias [2].
        let layer = try Self.conv("num_output: 2, kernel_h: 3, kernel_w: 2, pad: 1, dilation: [1, 2], group: 2, axis: -3, bias_filler: {type: uniform, min: -1, max: 1}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2, 4, 4, 3]), randomValues(192, seed: 62))])
        #expect(rig.tops[0].shape == Shape([2, 2, 2, 4, 3]))
        #expect(rig.params[0].shape == Shape([2, 2, 3, 2]))
        #expect(try checkGradients(rig) == 192 + 24 + 2)
        try checkAccumulation(rig)
    }

    @Test func oneSpatialAxisGradients() throws {
        // [2, 3, 9], kernel 3, dilation 2 (spans 5), stride 2, pad 1, 2 outputs → OL = (9 + 2 − 5) / 2 + 1 = 4: [2, 2, 4];
        // weight [2, 3, 3], bias [2].
        let layer = try Self.conv("num_output: 2, kernel_size: 3, dilation: 2, stride: 2, pad: 1, bias_filler: {type: uniform, min: -1, max: 1}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 3, 9]), randomValues(54, seed: 63))])
        #expect(rig.tops[0].shape == Shape([2, 2, 4]))
        #expect(rig.params[0].shape == Shape([2, 3, 3]))
        #expect(try checkGradients(rig) == 54 + 18 + 2)
        try checkAccumulation(rig)
    }

    @Test func axisErrors() throws {
        func message(_ param: String, _ shape: [Int]) throws -> String? {
            let layer = try Self.conv(param)
            return #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape(shape)]) }?.message
        }
        #expect(try message("num_output: 1, kernel_size: 1, axis: 4", [2, 3, 4, 5])
                == "axis 4 is out of range for bottom shape 2×3×4×5")
        #expect(try message("num_output: 1, kernel_size: 1, axis: -5", [2, 3, 4, 5])
                == "axis -5 is out of range for bottom shape 2×3×4×5")
        #expect(try message("num_output: 1, kernel_size: 1", [2, 3, 4, 5, 6])
                == "bottom 2×3×4×5×6 has 3 spatial axes after its channel axis 1; Dendrite convolves over one or two")
        #expect(try message("num_output: 1, kernel_size: 1, axis: -1", [2, 3, 4])
                == "bottom 2×3×4 has no spatial axis after its channel axis 2")
        #expect(try message("num_output: 1, kernel_h: 1, kernel_w: 3", [2, 3, 4])
                == "convolution_param.kernel_h sets a height and width apart, but bottom 2×3×4 has one spatial axis after its channel axis 1")
        #expect(try message("num_output: 1, kernel_size: 3, stride: [1, 2]", [2, 3, 4])
                == "convolution_param.stride sets a height and width apart, but bottom 2×3×4 has one spatial axis after its channel axis 1")
        #expect(try message("num_output: 1, kernel_size: 5, dilation: 2", [2, 3, 8])
                == "kernel 5 with dilation 2 (spanning 9) is larger than the padded input 8 (bottom 2×3×8)")
        #expect(try message("num_output: 1, kernel_size: 3, weight_filler: {type: bilinear}", [2, 3, 8])
                == "the bilinear weight_filler interpolates over two spatial axes, and bottom 2×3×8 has one after its channel axis 1")
        #expect(layerError("{name: conv, type: Convolution, convolution_param: {num_output: 2, kernel_size: 3, force_nd_im2col: true}}") == nil)
        #expect(layerError("{name: conv, type: Convolution, convolution_param: {num_output: 2, kernel_size: 3, axis: one}}")
                == "layer 'conv' (Convolution): convolution_param.axis: expected an integer, found 'one'")
    }
}
