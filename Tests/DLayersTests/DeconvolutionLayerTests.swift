import DCore
@testable import DLayers
import Testing

@Suite struct DeconvolutionLayerTests {
    static func deconv(_ param: String) throws -> any Layer {
        try makeLayer("{name: up, type: Deconvolution, bottom: x, top: y, convolution_param: {\(param)}}")
    }

    @Test func strideTwoByHand() throws {
        // x [1, 1, 2, 2] = 1 2 / 3 4, W [1, 1, 2, 2] = 1 2 / 3 4, stride 2, b = 0.5: OH = 2·(2 − 1) + 2 = 4.
        // Each input value stamps x·W onto its own 2×2 block of the output, and the bias is added:
        //   1·W | 2·W        1  2 |  2  4          1.5  2.5 |  2.5  4.5
        //   ----+----   =    3  4 |  6  8    →     3.5  4.5 |  6.5  8.5
        //   3·W | 4·W        3  6 |  4  8          3.5  6.5 |  4.5  8.5
        //                    9 12 | 12 16          9.5 12.5 | 12.5 16.5
        let rig = try LayerRig(try Self.deconv("num_output: 1, kernel_size: 2, stride: 2"), bottoms: [(Shape([1, 1, 2, 2]), [1, 2, 3, 4])])
        #expect(rig.tops[0].shape == Shape([1, 1, 4, 4]))
        #expect(rig.params[0].shape == Shape([1, 1, 2, 2]))
        #expect(rig.params[1].shape == Shape([1]))
        rig.params[0].view.copy(from: [1, 2, 3, 4])
        rig.params[1].view.copy(from: [0.5])
        #expect(close(try rig.forward()[0], [1.5, 2.5, 2.5, 4.5,
                                             3.5, 4.5, 6.5, 8.5,
                                             3.5, 6.5, 4.5, 8.5,
                                             9.5, 12.5, 12.5, 16.5]))
    }

    @Test func overlappingStampsByHand() throws {
        // Stride 1, a 2×2 kernel of ones, x = 1 2 / 3 4, no bias: OH = 1·(2 − 1) + 2 = 3. Stamps overlap and add:
        //   1      1+2        2
        //   1+3    1+2+3+4    2+4
        //   3      3+4        4
        let rig = try LayerRig(try Self.deconv("num_output: 1, kernel_size: 2, bias_term: false"), bottoms: [(Shape([1, 1, 2, 2]), [1, 2, 3, 4])])
        #expect(rig.params.count == 1)
        rig.params[0].view.fill(1)
        #expect(close(try rig.forward()[0], [1, 3, 2, 4, 10, 6, 3, 7, 4]))
    }

    @Test func padCropsByHand() throws {
        // The same stamps as strideTwoByHand with kernel 3 (ones), stride 2, pad 1: the full 5×5 result
        // (stamps overlap on row and column 2) loses one row and column on each side, OH = 2·1 + 3 − 2 = 3:
        //   full:  1 1 1+2 2 2 / 1 1 1+2 2 2 / 1+3 1+3 10 2+4 2+4 / 3 3 3+4 4 4 / 3 3 3+4 4 4
        //   crop:  1 3 2 / 4 10 6 / 3 7 4
        let rig = try LayerRig(try Self.deconv("num_output: 1, kernel_size: 3, stride: 2, pad: 1, bias_term: false"),
                               bottoms: [(Shape([1, 1, 2, 2]), [1, 2, 3, 4])])
        #expect(rig.tops[0].shape == Shape([1, 1, 3, 3]))
        rig.params[0].view.fill(1)
        #expect(close(try rig.forward()[0], [1, 3, 2, 4, 10, 6, 3, 7, 4]))
    }

    /// Caffe's deconvolution as a direct loop: every input value x[n, c, y, x] adds x·W[c, o, i, j] at output
    /// (y·stride − pad + i·dilation, x·stride − pad + j·dilation) of each output channel o of its group, where
    /// that lies inside.
    static func naive(_ c: Case, x: [Float], weight: [Float], bias: [Float]?) -> [Float] {
        let cg = c.c / c.group, og = c.outputs / c.group
        var y = [Double](repeating: 0, count: c.n * c.outputs * c.outH * c.outW)
        for b in 0..<c.n {
            for ci in 0..<c.c {
                let grp = ci / cg
                for o in 0..<og {
                    let oc = grp * og + o
                    for iy in 0..<c.h {
                        for ix in 0..<c.w {
                            let v = Double(x[((b * c.c + ci) * c.h + iy) * c.w + ix])
                            for i in 0..<c.kh {
                                for j in 0..<c.kw {
                                    let oy = iy * c.sh - c.ph + i * c.dh, ox = ix * c.sw - c.pw + j * c.dw
                                    guard oy >= 0, oy < c.outH, ox >= 0, ox < c.outW else { continue }
                                    y[((b * c.outputs + oc) * c.outH + oy) * c.outW + ox] += v * Double(weight[((ci * og + o) * c.kh + i) * c.kw + j])
                                }
                            }
                        }
                    }
                }
            }
        }
        if let bias {
            for b in 0..<c.n {
                for o in 0..<c.outputs {
                    for p in 0..<c.outH * c.outW { y[(b * c.outputs + o) * c.outH * c.outW + p] += Double(bias[o]) }
                }
            }
        }
        return y.map(Float.init)
    }

    struct Case: CustomStringConvertible {
        var n, c, h, w, outputs: Int
        var kh, kw, sh, sw, ph, pw: Int
        var group = 1
        var bias = true
        var dh = 1, dw = 1
        var description: String { "N\(n) C\(c) \(h)×\(w) → \(outputs), k \(kh)×\(kw) s \(sh)×\(sw) p \(ph)×\(pw) d \(dh)×\(dw) g\(group) bias \(bias)" }

        var yaml: String {
            "{name: up, type: Deconvolution, bottom: x, top: y, convolution_param: {num_output: \(outputs), "
                + "kernel_h: \(kh), kernel_w: \(kw), stride_h: \(sh), stride_w: \(sw), pad_h: \(ph), pad_w: \(pw), "
                + "dilation: [\(dh), \(dw)], group: \(group), bias_term: \(bias)}}"
        }
        // The dilated kernel spans d·(k − 1) + 1 pixels.
        var outH: Int { sh * (h - 1) + dh * (kh - 1) + 1 - 2 * ph }
        var outW: Int { sw * (w - 1) + dw * (kw - 1) + 1 - 2 * pw }
    }

    static let cases: [Case] = [
        // Upsampling by 2 as FCN does it (kernel 4, stride 2, pad 1), one channel per group.
        Case(n: 2, c: 3, h: 4, w: 5, outputs: 3, kh: 4, kw: 4, sh: 2, sw: 2, ph: 1, pw: 1, group: 3, bias: false),
        Case(n: 1, c: 4, h: 3, w: 3, outputs: 6, kh: 3, kw: 2, sh: 2, sw: 1, ph: 1, pw: 0, group: 2),
        Case(n: 3, c: 2, h: 5, w: 4, outputs: 4, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1),
        // Four images over two threads: two images per chunk, so the gathered (not direct) paths.
        Case(n: 4, c: 6, h: 3, w: 4, outputs: 4, kh: 2, kw: 3, sh: 3, sw: 2, ph: 0, pw: 1, group: 2),
        // Pad larger than the kernel is allowed as long as the output keeps a pixel.
        Case(n: 1, c: 1, h: 6, w: 6, outputs: 2, kh: 1, kw: 1, sh: 1, sw: 1, ph: 1, pw: 2),
        // Dilated: without pad, and with pad, stride and groups over several chunks.
        Case(n: 2, c: 3, h: 4, w: 3, outputs: 2, kh: 3, kw: 2, sh: 1, sw: 1, ph: 0, pw: 0, dh: 2, dw: 3),
        Case(n: 4, c: 4, h: 3, w: 4, outputs: 6, kh: 3, kw: 3, sh: 2, sw: 1, ph: 1, pw: 2, group: 2, dh: 2, dw: 2),
    ]

    @Test(arguments: cases) func matchesNaiveLoop(_ c: Case) throws {
        let x = randomValues(c.n * c.c * c.h * c.w, seed: 31)
        let rig = try LayerRig(try makeLayer(c.yaml), bottoms: [(Shape([c.n, c.c, c.h, c.w]), x)])
        #expect(rig.tops[0].shape == Shape([c.n, c.outputs, c.outH, c.outW]))
        #expect(rig.params[0].shape == Shape([c.c, c.outputs / c.group, c.kh, c.kw]))
        #expect(rig.params.count == (c.bias ? 2 : 1))
        let w = randomValues(rig.params[0].shape.count, seed: 32)
        rig.params[0].view.copy(from: w)
        let b = c.bias ? randomValues(c.outputs, seed: 33) : nil
        if let b { rig.params[1].view.copy(from: b) }
        rig.tops[0].view.fill(.nan)  // forward must write every output
        let y = try rig.forward()[0]
        #expect(close(y, Self.naive(c, x: x, weight: w, bias: b), tolerance: 1e-4), "\(c)")
    }

    @Test func dilatedByHand() throws {
        // x [1, 1, 2, 2] = 1 2 / 3 4, W [1, 1, 2, 2] = 1 2 / 3 4 with dilation 2, stride 1, no bias: the kernel spans 3×3,
        // OH = 1·(2 − 1) + 3 = 4. Input (iy, ix) stamps W[i, j] at (iy + 2i, ix + 2j): every output pixel gets exactly
        // one product, y[oy, ox] = x[oy mod 2, ox mod 2]·W[oy / 2, ox / 2]:
        //   1·1  2·1  1·2  2·2        1  2  2  4
        //   3·1  4·1  3·2  4·2   =    3  4  6  8
        //   1·3  2·3  1·4  2·4        3  6  4  8
        //   3·3  4·3  3·4  4·4        9 12 12 16
        let rig = try LayerRig(try Self.deconv("num_output: 1, kernel_size: 2, dilation: 2, bias_term: false"),
                               bottoms: [(Shape([1, 1, 2, 2]), [1, 2, 3, 4])])
        #expect(rig.tops[0].shape == Shape([1, 1, 4, 4]))
        #expect(rig.params[0].shape == Shape([1, 1, 2, 2]))
        rig.params[0].view.copy(from: [1, 2, 3, 4])
        #expect(close(try rig.forward()[0], [1, 2, 2, 4, 3, 4, 6, 8, 3, 6, 4, 8, 9, 12, 12, 16]))
    }

    @Test func dilatedGradients() throws {
        // N 2, C 4, 3×3, 4 outputs in 2 groups, kernel 3, dilation 2 (spans 5×5), stride 2, pad 1
        // → OH = 2·2 + 5 − 2 = 7: 2×4×7×7; weight [4, 2, 3, 3], bias [4].
        let layer = try Self.deconv("num_output: 4, kernel_size: 3, dilation: 2, stride: 2, pad: 1, group: 2, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: uniform, min: -1, max: 1}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 4, 3, 3]), randomValues(72, seed: 35))])
        #expect(rig.tops[0].shape == Shape([2, 4, 7, 7]))
        #expect(try checkGradients(rig) == 72 + 72 + 4)
        try checkAccumulation(rig)
    }

    @Test func gradients() throws {
        // N 2, C 4, 3×3, 6 outputs in 2 groups, kernel 3, stride 2, pad 1 → 2×6×5×5; weight [4, 3, 3, 3], bias [6].
        let layer = try Self.deconv("num_output: 6, kernel_size: 3, stride: 2, pad: 1, group: 2, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: uniform, min: -1, max: 1}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 4, 3, 3]), randomValues(72))])
        #expect(rig.tops[0].shape == Shape([2, 6, 5, 5]))
        #expect(try checkGradients(rig) == 72 + 108 + 6)
        try checkAccumulation(rig)
    }

    @Test func rectangularGradientsWithoutBiasOverSeveralChunks() throws {
        // N 4 over two threads (two images per chunk), C 2, 2×3, kernel 2×3, stride 2×1, pad 0×1, no bias
        // → 4×3×4×3; weight [2, 3, 2, 3].
        let layer = try Self.deconv("num_output: 3, kernel_h: 2, kernel_w: 3, stride_h: 2, stride_w: 1, pad_h: 0, pad_w: 1, bias_term: false, weight_filler: {type: xavier}")
        let deconv = try #require(layer as? DeconvolutionLayer)
        #expect(deconv.config(Shape([4, 2, 2, 3]), workers: 2).chunk == 2)
        let rig = try LayerRig(layer, bottoms: [(Shape([4, 2, 2, 3]), randomValues(48, seed: 34))])
        #expect(rig.tops[0].shape == Shape([4, 3, 4, 3]))
        #expect(try checkGradients(rig) == 48 + 36)
        try checkAccumulation(rig)
    }

    @Test func flopsAreTheDualConvolutionsGEMMs() throws {
        // [2, 4, 3, 3] → 6 outputs in 2 groups, kernel 3, stride 2. Forward is Wᵀ·x per group:
        // [(OC/G)·kh·kw = 27, C/G = 2]·[2, H·W·N = 18], 2·27·2·18 = 1 944 flops, 3 888 for both groups;
        // backward two GEMMs of the same size (dx and dW), 7 776.
        let layer = try Self.deconv("num_output: 6, kernel_size: 3, stride: 2, group: 2")
        #expect(layer.flops(for: [Shape([2, 4, 3, 3])]) == (3888, 7776))
        // Dilation widens the window, not the GEMM: the same count with dilation 2.
        let dilated = try Self.deconv("num_output: 6, kernel_size: 3, stride: 2, group: 2, dilation: 2")
        #expect(dilated.flops(for: [Shape([2, 4, 3, 3])]) == (3888, 7776))
        // The GEMMs behind those counts: forward Wᵀ·x [27, 2]·[2, 18], dW = x·colᵀ [2, 18]·[18, 27],
        // dx = W·col [2, 27]·[27, 18], once per group.
        let g = layer.gemms(for: [Shape([2, 4, 3, 3])])
        #expect(g.forward == Array(repeating: GEMMShape(m: 27, n: 18, k: 2, transA: true), count: 2))
        #expect(g.backward == Array(repeating: GEMMShape(m: 2, n: 27, k: 18, transB: true), count: 2))
        #expect(g.inputGradient == Array(repeating: GEMMShape(m: 2, n: 18, k: 27), count: 2))
        #expect(g.flops.forward == 3888 && g.flops.backward + g.flops.inputGradient == 7776)
    }

    @Test func fillersFromConfig() throws {
        let layer = try Self.deconv("num_output: 2, kernel_size: 2, weight_filler: {type: constant, value: 0.5}, bias_filler: {type: constant, value: -3}")
        let rig = try LayerRig(layer, bottoms: [(Shape([1, 3, 2, 2]), randomValues(12))])
        #expect(rig.params[0].shape == Shape([3, 2, 2, 2]))
        #expect(rig.params[0].values == [Float](repeating: 0.5, count: 24))
        #expect(rig.params[1].values == [-3, -3])
    }

    @Test func configErrors() {
        func error(_ param: String) -> String? { layerError("{name: up, type: Deconvolution, convolution_param: {\(param)}}") }
        #expect(error("kernel_size: 2") == "layer 'up' (Deconvolution): missing required key 'convolution_param.num_output'")
        #expect(error("num_output: 2") == "layer 'up' (Deconvolution): missing required key 'convolution_param.kernel_size'")
        #expect(error("num_output: 3, kernel_size: 2, group: 2")
                == "layer 'up' (Deconvolution): convolution_param.group: num_output 3 is not divisible by group 2")
        #expect(error("num_output: 2, kernel_size: 4, dilation: [2, 0]")
                == "layer 'up' (Deconvolution): convolution_param.dilation: must be at least 1, found 0")
        #expect(error("num_output: 2, kernel_size: 4, stride: 0") == "layer 'up' (Deconvolution): convolution_param.stride: must be at least 1, found 0")
        #expect(error("num_output: 2, kernel_size: 4, upsample: 2") == "layer 'up' (Deconvolution): unknown key 'upsample' in convolution_param")
    }

    @Test func shapeErrors() throws {
        let grouped = try Self.deconv("num_output: 2, kernel_size: 2, group: 2")
        let e1 = #expect(throws: LayerError.self) { try grouped.topShapes(for: [Shape([1, 3, 4, 4])]) }
        #expect(e1?.message == "3 input channels are not divisible by group 2")
        // 1·(1 − 1) + 2 − 2·1 = 0 rows, 1·(3 − 1) + 2 − 2·1 = 2 columns
        let cropped = try Self.deconv("num_output: 1, kernel_size: 2, pad: 1")
        let e2 = #expect(throws: LayerError.self) { try cropped.topShapes(for: [Shape([1, 1, 1, 3])]) }
        #expect(e2?.message == "the top would be 0×2: stride·(1×3 − 1) + kernel 2×2 − 2·pad 1×1 (bottom 1×1×1×3)")
        let e3 = #expect(throws: LayerError.self) { try cropped.topShapes(for: [Shape([2, 9])]) }
        #expect(e3?.message == "bottom 2×9 has no spatial axis after its channel axis 1")
        let e4 = #expect(throws: LayerError.self) { try cropped.topShapes(for: [Shape([1, 1, 1])]) }
        #expect(e4?.message == "the top would be 0: stride·(1 − 1) + kernel 2 − 2·pad 1 (bottom 1×1×1)")
    }

    @Test func oneSpatialAxisByHand() throws {
        // [N 1, C 1, L 2] = (1, 2), W [1, 1, 3] = (1, 2, 3), stride 2, b = 0.5: OL = 2·(2 − 1) + 3 = 5.
        // x0 stamps 1 2 3 at 0…2, x1 stamps 2 4 6 at 2…4: 1 2 3+2 4 6, plus the bias.
        let rig = try LayerRig(try Self.deconv("num_output: 1, kernel_size: 3, stride: 2"), bottoms: [(Shape([1, 1, 2]), [1, 2])])
        #expect(rig.tops[0].shape == Shape([1, 1, 5]))
        #expect(rig.params[0].shape == Shape([1, 1, 3]))
        rig.params[0].view.copy(from: [1, 2, 3])
        rig.params[1].view.copy(from: [0.5])
        #expect(close(try rig.forward()[0], [1.5, 2.5, 5.5, 4.5, 6.5]))
    }

    @Test func axisTwoMatchesTheImagesFlattened() throws {
        // [2, 3, 4, 2, 3] with axis 2 is the deconvolution of [6, 4, 2, 3] with axis 1, same weights.
        let param = "num_output: 4, kernel_size: 3, stride: 2, pad: 1, group: 2, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: uniform, min: -1, max: 1}"
        let x = randomValues(144, seed: 36)
        let fiveD = try LayerRig(try Self.deconv(param + ", axis: 2"), bottoms: [(Shape([2, 3, 4, 2, 3]), x)])
        let flat = try LayerRig(try Self.deconv(param), bottoms: [(Shape([6, 4, 2, 3]), x)])
        #expect(fiveD.tops[0].shape == Shape([2, 3, 4, 3, 5]))
        for (a, b) in zip(fiveD.params, flat.params) { b.view.copy(from: a.values) }
        #expect(close(try fiveD.forward()[0], try flat.forward()[0]))
    }

    @Test func axisAndOneSpatialAxisGradients() throws {
        // axis 2 on [2, 2, 2, 3] (one spatial axis of 3), 3 outputs, kernel 2, stride 2, dilation 2
        // → OL = 2·2 + 3 = 7: [2, 2, 3, 7]; weight [2, 3, 2], bias [3].
        let layer = try Self.deconv("num_output: 3, kernel_size: 2, stride: 2, dilation: 2, axis: 2, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: uniform, min: -1, max: 1}")
        let rig = try LayerRig(layer, bottoms: [(Shape([2, 2, 2, 3]), randomValues(24, seed: 37))])
        #expect(rig.tops[0].shape == Shape([2, 2, 3, 7]))
        #expect(rig.params[0].shape == Shape([2, 3, 2]))
        #expect(try checkGradients(rig) == 24 + 12 + 3)
        try checkAccumulation(rig)
    }
}
