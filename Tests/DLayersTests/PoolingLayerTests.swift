import DCore
@testable import DLayers
import Testing

@Suite struct PoolingLayerTests {
    static func pool(_ param: String) throws -> any Layer {
        try makeLayer("{name: pool, type: Pooling, bottom: x, top: y, pooling_param: {\(param)}}")
    }

    //  1  5  2  0
    //  3 −1  7  4
    //  6  2 −3  8
    //  0  9  1 −2
    static let grid: [Float] = [1, 5, 2, 0, 3, -1, 7, 4, 6, 2, -3, 8, 0, 9, 1, -2]
    /// 0 1 2 3 4 / 5 6 7 8 9 / … / 20 21 22 23 24
    static let ramp: [Float] = (0..<25).map(Float.init)

    @Test func maxByHand() throws {
        // 2×2 windows, stride 2: max(1, 5, 3, −1) = 5, max(2, 0, 7, 4) = 7, max(6, 2, 0, 9) = 9, max(−3, 8, 1, −2) = 8
        let rig = try LayerRig(try Self.pool("pool: MAX, kernel_size: 2, stride: 2"), bottoms: [(Shape([1, 1, 4, 4]), Self.grid)])
        #expect(rig.tops[0].shape == Shape([1, 1, 2, 2]))
        #expect(try rig.forward()[0] == [5, 7, 9, 8])
    }

    @Test func maxBackwardByHand() throws {
        // Each output gradient goes to the input that won its window: 5 at (0,1), 7 at (1,2), 9 at (3,1), 8 at (2,3).
        let rig = try LayerRig(try Self.pool("pool: MAX, kernel_size: 2, stride: 2"), bottoms: [(Shape([1, 1, 4, 4]), Self.grid)])
        try rig.forward()
        rig.backward(topGrad: [[10, 20, 30, 40]])
        #expect(rig.bottomGrads[0].values == [0, 10, 0, 0,
                                              0, 0, 20, 0,
                                              0, 0, 0, 40,
                                              0, 30, 0, 0])
    }

    @Test func averageByHand() throws {
        // (1 + 5 + 3 − 1) / 4 = 2, (2 + 0 + 7 + 4) / 4 = 3.25, (6 + 2 + 0 + 9) / 4 = 4.25, (−3 + 8 + 1 − 2) / 4 = 1
        let rig = try LayerRig(try Self.pool("pool: AVE, kernel_size: 2, stride: 2"), bottoms: [(Shape([1, 1, 4, 4]), Self.grid)])
        #expect(close(try rig.forward()[0], [2, 3.25, 4.25, 1]))
        // Backward spreads each gradient evenly over its window: 4/4 = 1, 8/4 = 2, 12/4 = 3, 16/4 = 4
        rig.backward(topGrad: [[4, 8, 12, 16]])
        #expect(close(rig.bottomGrads[0].values, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]))
    }

    @Test func ceilRoundingMax() throws {
        // 5×5, kernel 2, stride 2: OH = ceil((5 − 2) / 2) + 1 = 3; the last window holds row (column) 4 only.
        // On the ramp x[r, c] = 5r + c the max of a window is at its last row and column:
        // rows {0,1} {2,3} {4} × cols {0,1} {2,3} {4} → 6 8 9 / 16 18 19 / 21 23 24
        let rig = try LayerRig(try Self.pool("pool: MAX, kernel_size: 2, stride: 2"), bottoms: [(Shape([1, 1, 5, 5]), Self.ramp)])
        #expect(rig.tops[0].shape == Shape([1, 1, 3, 3]))
        #expect(try rig.forward()[0] == [6, 8, 9, 16, 18, 19, 21, 23, 24])
    }

    @Test func ceilRoundingAverageDividesByClippedWindow() throws {
        // Same windows without padding: a window cut by the image edge divides by what is left of it.
        // (0+1+5+6)/4 = 3   (2+3+7+8)/4 = 5     (4+9)/2 = 6.5
        // (10+11+15+16)/4 = 13   (12+13+17+18)/4 = 15   (14+19)/2 = 16.5
        // (20+21)/2 = 20.5   (22+23)/2 = 22.5   24/1 = 24
        let rig = try LayerRig(try Self.pool("pool: AVE, kernel_size: 2, stride: 2"), bottoms: [(Shape([1, 1, 5, 5]), Self.ramp)])
        #expect(close(try rig.forward()[0], [3, 5, 6.5, 13, 15, 16.5, 20.5, 22.5, 24]))
    }

    @Test func lastWindowInsidePaddingIsDropped() throws {
        // 5×5, kernel 2, stride 2, pad 1: ceil((5 + 2 − 2) / 2) + 1 = 4, but window 3 would start at
        // 3·2 − 1 = 5, in the bottom padding ((4 − 1)·2 ≥ 5 + 1), so OH = OW = 3.
        // Windows start at −1, 1, 3: rows {0}, {1,2}, {3,4}; every divisor is 2·2 = 4 (padding counts).
        // (0)/4 = 0        (1+2)/4 = 0.75         (3+4)/4 = 1.75
        // (5+10)/4 = 3.75  (6+7+11+12)/4 = 9     (8+9+13+14)/4 = 11
        // (15+20)/4 = 8.75 (16+17+21+22)/4 = 19  (18+19+23+24)/4 = 21
        let rig = try LayerRig(try Self.pool("pool: AVE, kernel_size: 2, stride: 2, pad: 1"), bottoms: [(Shape([1, 1, 5, 5]), Self.ramp)])
        #expect(rig.tops[0].shape == Shape([1, 1, 3, 3]))
        #expect(close(try rig.forward()[0], [0, 0.75, 1.75, 3.75, 9, 11, 8.75, 19, 21]))
        // MAX over the same windows ignores the padding: 0 2 4 / 10 12 14 / 20 22 24
        let max = try LayerRig(try Self.pool("pool: MAX, kernel_size: 2, stride: 2, pad: 1"), bottoms: [(Shape([1, 1, 5, 5]), Self.ramp)])
        #expect(try max.forward()[0] == [0, 2, 4, 10, 12, 14, 20, 22, 24])
    }

    @Test func averageDivisorCountsPaddingUpToThePaddedEdge() throws {
        // 4×4 of ones, kernel 3, stride 2, pad 1: OH = ceil((4 + 2 − 3) / 2) + 1 = 3 ((3 − 1)·2 = 4 < 4 + 1, kept).
        // Windows start at −1, 1, 3 and end at min(start + 3, 4 + 1): 2, 4, 5, so they span 3, 3 and 2 rows of
        // the padded image and hold 2, 3 and 1 real rows. Output = real cells / padded window size:
        // 4/9  6/9  2/6
        // 6/9  9/9  3/6
        // 2/6  3/6  1/4
        let rig = try LayerRig(try Self.pool("pool: AVE, kernel_size: 3, stride: 2, pad: 1"),
                               bottoms: [(Shape([1, 1, 4, 4]), [Float](repeating: 1, count: 16))])
        #expect(rig.tops[0].shape == Shape([1, 1, 3, 3]))
        #expect(close(try rig.forward()[0], [4.0 / 9, 6.0 / 9, 2.0 / 6, 6.0 / 9, 1, 3.0 / 6, 2.0 / 6, 3.0 / 6, 1.0 / 4]))
    }

    @Test func globalPooling() throws {
        // channel 0: 1 2 3 / 4 5 6 → max 6, mean 21/6 = 3.5
        // channel 1: −1 −5 2 / 0 3 −4 → max 3, mean −5/6
        let x: [Float] = [1, 2, 3, 4, 5, 6, -1, -5, 2, 0, 3, -4]
        let max = try LayerRig(try Self.pool("pool: MAX, global_pooling: true"), bottoms: [(Shape([1, 2, 2, 3]), x)])
        #expect(max.tops[0].shape == Shape([1, 2, 1, 1]))
        #expect(try max.forward()[0] == [6, 3])
        let ave = try LayerRig(try Self.pool("pool: AVE, global_pooling: true"), bottoms: [(Shape([1, 2, 2, 3]), x)])
        #expect(ave.tops[0].shape == Shape([1, 2, 1, 1]))
        #expect(close(try ave.forward()[0], [3.5, -5.0 / 6]))
    }

    @Test func rectangularWindows() throws {
        // Kernel 2×1 (h×w), stride 1 on the top two rows of the grid (1 5 2 0 / 3 −1 7 4): output 1×4,
        // the max of each column: 3 5 7 4
        let rig = try LayerRig(try Self.pool("pool: MAX, kernel_h: 2, kernel_w: 1"),
                               bottoms: [(Shape([1, 1, 2, 4]), Array(Self.grid[0..<8]))])
        #expect(rig.tops[0].shape == Shape([1, 1, 1, 4]))
        #expect(try rig.forward()[0] == [3, 5, 7, 4])
        // Kernel 2, stride 1×2 (h×w) on the 4×4 grid: OH = 3, OW = 2; rows {0,1} {1,2} {2,3} × cols {0,1} {2,3}:
        // max(1,5,3,−1) = 5  max(2,0,7,4) = 7 / max(3,−1,6,2) = 6  max(7,4,−3,8) = 8 / max(6,2,0,9) = 9  max(−3,8,1,−2) = 8
        let strided = try LayerRig(try Self.pool("pool: MAX, kernel_size: 2, stride_h: 1, stride_w: 2"),
                                   bottoms: [(Shape([1, 1, 4, 4]), Self.grid)])
        #expect(strided.tops[0].shape == Shape([1, 1, 3, 2]))
        #expect(try strided.forward()[0] == [5, 7, 6, 8, 9, 8])
    }

    @Test func noWindowStartsPastTheImage() throws {
        // The kernels read every window as non-empty (PoolingKernel: "Windows are never empty"). Caffe's rule
        // drops a last window that would start in the padding; with pad 0 and a kernel smaller than the stride,
        // ceil rounding must not add a window that starts past the image either.
        var empty: [String] = []
        for input in 1...8 {
            for kernel in 1...min(4, input) {
                for stride in 1...4 {
                    for pad in 0..<kernel {
                        let layer = try Self.pool("kernel_size: \(kernel), stride: \(stride), pad: \(pad)")
                        let out = try layer.topShapes(for: [Shape([1, 1, input, input])])[0][3]
                        if (out - 1) * stride - pad >= input {
                            empty.append("input \(input) kernel \(kernel) stride \(stride) pad \(pad): \(out) windows, the last at \((out - 1) * stride - pad)")
                        }
                    }
                }
            }
        }
        #expect(empty.isEmpty, "\(empty.count) geometries have an empty window, e.g. \(empty.prefix(3))")
    }

    @Test func kernelSmallerThanStrideByHand() throws {
        // 1×1×1×4 = (1, 2, 3, 4), kernel 1, stride 2: windows at columns 0 and 2 → AVE (1, 3).
        // A third window would start at column 4, outside the image, and hold nothing to average.
        let rig = try LayerRig(try Self.pool("pool: AVE, kernel_size: 1, stride: 2"), bottoms: [(Shape([1, 1, 1, 4]), [1, 2, 3, 4])])
        #expect(rig.tops[0].shape == Shape([1, 1, 1, 2]))
        let y = try rig.forward()[0]
        #expect(y.allSatisfy { $0.isFinite }, "\(y)")
        #expect(y == [1, 3])
    }

    // Max pooling has a kink at every tie: values at least 0.04 apart keep ±h = 0.01 away from one.
    @Test func maxGradients() throws {
        // 5×5, kernel 3, stride 2, pad 1: overlapping windows, 3×3 output.
        let rig = try LayerRig(try Self.pool("pool: MAX, kernel_size: 3, stride: 2, pad: 1"),
                               bottoms: [(Shape([2, 2, 5, 5]), distinctValues(100, scale: 2))])
        #expect(rig.tops[0].shape == Shape([2, 2, 3, 3]))
        #expect(try checkGradients(rig) == 100)
        try checkAccumulation(rig)
    }

    @Test func maxGradientsCeilClipped() throws {
        let rig = try LayerRig(try Self.pool("pool: MAX, kernel_size: 2, stride: 2"),
                               bottoms: [(Shape([1, 2, 5, 5]), distinctValues(50, seed: 8, scale: 1))])
        #expect(rig.tops[0].shape == Shape([1, 2, 3, 3]))
        #expect(try checkGradients(rig) == 50)
    }

    @Test func max2x2Gradients() throws {
        // The branch-free 2×2 path: kernel 2×2, stride 2, pad 0 and 2·OH ≤ H, 2·OW ≤ W (even H and W).
        // gap 0: values evenly 4/96 ≈ 0.042 apart (the push away from zero is for ReLU, and could bring two within h).
        let rig = try LayerRig(try Self.pool("pool: MAX, kernel_size: 2, stride: 2"),
                               bottoms: [(Shape([2, 2, 4, 6]), distinctValues(96, seed: 12, scale: 2, gap: 0))])
        #expect(rig.tops[0].shape == Shape([2, 2, 2, 3]))
        #expect(try checkGradients(rig) == 96)
        try checkAccumulation(rig)
    }

    @Test func max2x2MatchesGeneralPath() throws {
        // An H×W = 6×8 bottom takes the 2×2 path (kernel 2×2, stride 2, pad 0, 2·OH ≤ H and 2·OW ≤ W); the same
        // planes grown to 7×9 round up to a clipped last window (2·4 > 7) and take the general loop, whose
        // first 3×4 windows are the 6×8 bottom's.
        let n = 2, c = 3, h = 6, w = 8, oh = 3, ow = 4, planes = n * c
        var rng = RandomStream(seed: 17)
        let ties = (0..<(planes * (h + 1) * (w + 1))).map { _ in Float(rng.next() % 4) }  // many ties
        for big in [ties, distinctValues(planes * (h + 1) * (w + 1), seed: 9)] {
            var small: [Float] = []
            for p in 0..<planes {
                for y in 0..<h { for x in 0..<w { small.append(big[(p * (h + 1) + y) * (w + 1) + x]) } }
            }
            let fast = try LayerRig(try Self.pool("pool: MAX, kernel_size: 2, stride: 2"), bottoms: [(Shape([n, c, h, w]), small)])
            let general = try LayerRig(try Self.pool("pool: MAX, kernel_size: 2, stride: 2"),
                                       bottoms: [(Shape([n, c, h + 1, w + 1]), big)])
            #expect(fast.tops[0].shape == Shape([n, c, oh, ow]))
            #expect(general.tops[0].shape == Shape([n, c, oh + 1, ow + 1]))
            let yFast = try fast.forward()[0], yGeneral = try general.forward()[0]
            var expected: [Float] = []
            for p in 0..<planes {
                for y in 0..<oh { for x in 0..<ow { expected.append(yGeneral[(p * (oh + 1) + y) * (ow + 1) + x]) } }
            }
            #expect(yFast == expected)

            // Backward sends each gradient to the window's winner; with ties, both paths pick the first in
            // reading order. The general path's extra windows get gradient 0.
            let r = randomValues(planes * oh * ow, seed: 5)
            fast.backward(topGrad: [r])
            var rGeneral = [Float](repeating: 0, count: planes * (oh + 1) * (ow + 1))
            for p in 0..<planes {
                for y in 0..<oh { for x in 0..<ow { rGeneral[(p * (oh + 1) + y) * (ow + 1) + x] = r[(p * oh + y) * ow + x] } }
            }
            general.backward(topGrad: [rGeneral])
            let dxGeneral = general.bottomGrads[0].values
            var inside: [Float] = [], outside: [Float] = []
            for p in 0..<planes {
                for y in 0...h {
                    for x in 0...w {
                        let v = dxGeneral[(p * (h + 1) + y) * (w + 1) + x]
                        if y < h && x < w { inside.append(v) } else { outside.append(v) }
                    }
                }
            }
            #expect(fast.bottomGrads[0].values == inside)
            #expect(outside.allSatisfy { $0 == 0 })
        }
    }

    @Test func averageGradients() throws {
        let rig = try LayerRig(try Self.pool("pool: AVE, kernel_size: 3, stride: 2, pad: 1"),
                               bottoms: [(Shape([2, 2, 5, 5]), randomValues(100))])
        #expect(try checkGradients(rig) == 100)
        try checkAccumulation(rig)
        let clipped = try LayerRig(try Self.pool("pool: AVE, kernel_size: 2, stride: 2, pad: 1"),
                                   bottoms: [(Shape([1, 1, 5, 5]), randomValues(25))])
        #expect(try checkGradients(clipped) == 25)
    }

    @Test func globalGradients() throws {
        let ave = try LayerRig(try Self.pool("pool: AVE, global_pooling: true"), bottoms: [(Shape([2, 3, 2, 2]), randomValues(24))])
        #expect(try checkGradients(ave) == 24)
        let max = try LayerRig(try Self.pool("pool: MAX, global_pooling: true"), bottoms: [(Shape([2, 3, 2, 2]), distinctValues(24))])
        #expect(try checkGradients(max) == 24)
        try checkAccumulation(max)
    }

    @Test func padNotBelowKernel() {
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {kernel_size: 2, pad: 2}}")
                == "layer 'pool' (Pooling): pooling_param.pad: pad must be smaller than the kernel (Caffe's rule), found pad 2×2 for kernel 2×2")
    }

    @Test func configErrors() {
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {pool: MEDIAN, kernel_size: 2}}")
                == "layer 'pool' (Pooling): pooling_param.pool: expected one of MAX, AVE, STOCHASTIC, found 'MEDIAN'")
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {round_mode: UP, kernel_size: 2}}")
                == "layer 'pool' (Pooling): pooling_param.round_mode: expected one of CEIL, FLOOR, found 'UP'")
        // Caffe's rule: its stochastic kernels have no padding.
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {pool: STOCHASTIC, kernel_size: 3, pad: 1}}")
                == "layer 'pool' (Pooling): pooling_param.pad: padding is implemented only for MAX and AVE pooling (Caffe's rule)")
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {pool: STOCHASTIC, kernel_size: 3, pad_h: 0, pad_w: 1}}")
                == "layer 'pool' (Pooling): pooling_param.pad_h: padding is implemented only for MAX and AVE pooling (Caffe's rule)")
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {global_pooling: true, stride: 2}}")
                == "layer 'pool' (Pooling): pooling_param.global_pooling: global pooling takes only pad 0 and stride 1 (Caffe's rule), found pad 0×0, stride 2×2")
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {global_pooling: true, pad: 1}}")
                == "layer 'pool' (Pooling): pooling_param.global_pooling: global pooling takes only pad 0 and stride 1 (Caffe's rule), found pad 1×1, stride 1×1")
        // Caffe's `engine` chooses an implementation; Dendrite has one, and refuses the key as every layer does.
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {kernel_size: 2, engine: CAFFE}}")?
                    .hasPrefix("layer 'pool' (Pooling): unknown key 'engine' in pooling_param") == true)
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {global_pooling: true, kernel_size: 2}}")
                == "layer 'pool' (Pooling): pooling_param.global_pooling: global pooling takes its window from the bottom; remove kernel_size")
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {pool: MAX}}")
                == "layer 'pool' (Pooling): missing required key 'pooling_param.kernel_size'")
    }

    // MARK: round_mode

    @Test func floorRoundingByHand() throws {
        // 5×5 ramp, kernel 2, stride 2: CEIL gives ceil(3 / 2) + 1 = 3 (see ceilRoundingMax), FLOOR floor(3 / 2) + 1 = 2,
        // dropping the clipped last row and column of windows: rows {0,1} {2,3} × cols {0,1} {2,3}.
        // MAX: 6 8 / 16 18; AVE: (0+1+5+6)/4 = 3, (2+3+7+8)/4 = 5 / (10+11+15+16)/4 = 13, (12+13+17+18)/4 = 15
        let max = try LayerRig(try Self.pool("pool: MAX, kernel_size: 2, stride: 2, round_mode: FLOOR"),
                               bottoms: [(Shape([1, 1, 5, 5]), Self.ramp)])
        #expect(max.tops[0].shape == Shape([1, 1, 2, 2]))
        #expect(try max.forward()[0] == [6, 8, 16, 18])
        let ave = try LayerRig(try Self.pool("pool: AVE, kernel_size: 2, stride: 2, round_mode: FLOOR"),
                               bottoms: [(Shape([1, 1, 5, 5]), Self.ramp)])
        #expect(close(try ave.forward()[0], [3, 5, 13, 15]))
        // Backward of AVE spreads each gradient over its 2×2 window; row and column 4 are in no window.
        ave.backward(topGrad: [[4, 8, 12, 16]])
        #expect(close(ave.bottomGrads[0].values, [1, 1, 2, 2, 0,
                                                  1, 1, 2, 2, 0,
                                                  3, 3, 4, 4, 0,
                                                  3, 3, 4, 4, 0,
                                                  0, 0, 0, 0, 0]))
    }

    @Test func roundModeSizes() throws {
        // (H, kernel, stride, pad) → (CEIL, FLOOR):
        // 5, 2, 2, 0: ceil(3/2) + 1 = 3, floor(3/2) + 1 = 2
        // 6, 3, 2, 1: ceil(5/2) + 1 = 4 ((4 − 1)·2 = 6 < 6 + 1, kept), floor(5/2) + 1 = 3
        // 4, 3, 2, 0: ceil(1/2) + 1 = 2, floor(1/2) + 1 = 1
        // 5, 3, 2, 1: ceil(4/2) + 1 = 3 = floor(4/2) + 1 (they agree when the stride divides)
        // 5, 2, 2, 1: ceil(5/2) + 1 = 4, less one: window 3 starts at 3·2 − 1 = 5, in the padding → 3; floor(5/2) + 1 = 3
        let cases = [(5, 2, 2, 0, 3, 2), (6, 3, 2, 1, 4, 3), (4, 3, 2, 0, 2, 1), (5, 3, 2, 1, 3, 3), (5, 2, 2, 1, 3, 3)]
        for (h, k, s, p, ceil, floor) in cases {
            for (mode, expected) in [("", ceil), (", round_mode: CEIL", ceil), (", round_mode: FLOOR", floor)] {
                let layer = try Self.pool("kernel_size: \(k), stride: \(s), pad: \(p)\(mode)")
                #expect(try layer.topShapes(for: [Shape([2, 3, h, h])]) == [Shape([2, 3, expected, expected])],
                        "H \(h) kernel \(k) stride \(s) pad \(p)\(mode)")
            }
        }
        // Height and width round the same way, each with its own kernel, stride and pad.
        let rect = try Self.pool("kernel_h: 3, kernel_w: 2, stride_h: 2, stride_w: 2, pad_h: 1, pad_w: 0, round_mode: FLOOR")
        #expect(try rect.topShapes(for: [Shape([1, 1, 6, 5])]) == [Shape([1, 1, 3, 2])])
    }

    @Test func floorGradients() throws {
        // 6×6, kernel 3, stride 2, pad 1: FLOOR gives 3×3 where CEIL gives 4×4.
        let max = try LayerRig(try Self.pool("pool: MAX, kernel_size: 3, stride: 2, pad: 1, round_mode: FLOOR"),
                               bottoms: [(Shape([2, 2, 6, 6]), distinctValues(144, seed: 4, scale: 3))])
        #expect(max.tops[0].shape == Shape([2, 2, 3, 3]))
        #expect(try checkGradients(max) == 144)
        try checkAccumulation(max)
        let ave = try LayerRig(try Self.pool("pool: AVE, kernel_size: 3, stride: 2, pad: 1, round_mode: FLOOR"),
                               bottoms: [(Shape([2, 2, 6, 6]), randomValues(144))])
        #expect(ave.tops[0].shape == Shape([2, 2, 3, 3]))
        #expect(try checkGradients(ave) == 144)
        try checkAccumulation(ave)
    }

    // MARK: STOCHASTIC

    /// The grid's 2×2 windows (stride 2) as indices into it: {0, 1, 4, 5}, {2, 3, 6, 7}, {8, 9, 12, 13}, {10, 11, 14, 15}.
    static let gridWindows = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]

    @Test func stochasticTestByHand() throws {
        // TEST outputs Σ x² / Σ x over the positive values of each window (negatives count as 0):
        // {1, 5, 3, −1}: (1 + 25 + 9) / (1 + 5 + 3) = 35/9      {2, 0, 7, 4}: (4 + 49 + 16) / 13 = 69/13
        // {6, 2, 0, 9}: (36 + 4 + 81) / 17 = 121/17             {−3, 8, 1, −2}: (64 + 1) / 9 = 65/9
        let rig = try LayerRig(try Self.pool("pool: STOCHASTIC, kernel_size: 2, stride: 2"),
                               bottoms: [(Shape([1, 1, 4, 4]), Self.grid)], phase: .test)
        #expect(rig.tops[0].shape == Shape([1, 1, 2, 2]))
        #expect(rig.layer.workspace(for: [Shape([1, 1, 4, 4])], phase: .test, threads: 2).isEmpty)
        #expect(close(try rig.forward()[0], [35.0 / 9, 69.0 / 13, 121.0 / 17, 65.0 / 9]))
        // A window with nothing positive outputs 0: {0, −1, −2, 0} and {0, 0, 0, 0}.
        let zero = try LayerRig(try Self.pool("pool: STOCHASTIC, kernel_size: 2, stride: 2"),
                                bottoms: [(Shape([1, 1, 2, 4]), [0, -1, 0, 0, -2, 0, 0, 0])], phase: .test)
        #expect(try zero.forward()[0] == [0, 0])
    }

    @Test func stochasticTestGradients() throws {
        // Nets run no backward in TEST, but the layer's TEST backward is the derivative of its TEST forward:
        // (2·x_i − y) / Σ x for positive x_i. distinctValues keeps inputs 0.05 from the kink at 0.
        let rig = try LayerRig(try Self.pool("pool: STOCHASTIC, kernel_size: 3, stride: 2"),
                               bottoms: [(Shape([2, 2, 5, 5]), distinctValues(100, seed: 6, scale: 2))], phase: .test)
        #expect(rig.tops[0].shape == Shape([2, 2, 2, 2]))
        #expect(try checkGradients(rig) == 100)
        try checkAccumulation(rig)
    }

    @Test func stochasticTrainSamplesAPositiveValueAndItsGradientGoesThere() throws {
        let rig = try LayerRig(try Self.pool("pool: STOCHASTIC, kernel_size: 2, stride: 2"),
                               bottoms: [(Shape([1, 1, 4, 4]), Self.grid)])
        #expect(rig.tops[0].shape == Shape([1, 1, 2, 2]))
        var seen = Set<Float>()
        for iteration in 0..<40 {
            rig.iteration = iteration
            let y = try rig.forward()[0]
            // Each output is one of its window's positive values ({1, 5, 3}, {2, 7, 4}, {6, 2, 9}, {8, 1});
            // the values within a window are distinct, so the value names the sampled position.
            var expected = [Float](repeating: 0, count: 16)
            for (o, window) in Self.gridWindows.enumerated() {
                let positions = window.filter { Self.grid[$0] == y[o] }
                #expect(positions.count == 1 && y[o] > 0, "iteration \(iteration), window \(o): \(y[o])")
                if let p = positions.first { expected[p] = Float(o + 1) * 10 }
                seen.insert(y[o])
            }
            // Backward sends each output's gradient to its sampled position and nowhere else.
            rig.backward(topGrad: [[10, 20, 30, 40]])
            #expect(rig.bottomGrads[0].values == expected, "iteration \(iteration)")
        }
        // Over 40 draws every positive value shows up (the least likely, 1 of {8, 1}, has p = 1/9 per draw).
        #expect(seen == [1, 5, 3, 2, 7, 4, 6, 9, 8])
    }

    @Test func stochasticTrainWithNothingPositive() throws {
        // As Caffe's kernel for an all-zero window: output 0, the gradient to the window's first input.
        let rig = try LayerRig(try Self.pool("pool: STOCHASTIC, kernel_size: 2, stride: 2"),
                               bottoms: [(Shape([1, 1, 2, 4]), [0, 0, -1, -3, 0, 0, -2, 0])])
        #expect(try rig.forward()[0] == [0, 0])
        rig.backward(topGrad: [[5, 7]])
        #expect(rig.bottomGrads[0].values == [5, 0, 7, 0, 0, 0, 0, 0])
        try checkAccumulation(rig)
    }

    @Test func stochasticTrainIsReproducible() throws {
        // 2×3×8×8 positive values, 2×2 windows: 96 draws per forward.
        let x = randomValues(384, seed: 21).map { abs($0) + 0.1 }
        func rig() throws -> LayerRig {
            try LayerRig(try Self.pool("pool: STOCHASTIC, kernel_size: 2, stride: 2"), bottoms: [(Shape([2, 3, 8, 8]), x)])
        }
        let a = try rig(), b = try rig()
        a.iteration = 3; b.iteration = 3
        let first = try a.forward()[0]
        // Same seed, iteration and batch: the same draws, on 2 threads (the rig's) or 1.
        #expect(try b.forward()[0] == first)
        try b.layer.forward(b.io(), StepContext(phase: .train, iteration: 3, seed: 42, parallel: .serial))
        #expect(b.tops[0].values == first)
        try b.layer.forward(b.io(), StepContext(phase: .train, iteration: 3, seed: 42, parallel: Parallel(threads: 3)))
        #expect(b.tops[0].values == first)
        // Another iteration, another batch of the step, or another seed draws afresh.
        b.iteration = 4
        #expect(try b.forward()[0] != first)
        b.iteration = 3; b.subBatch = 1
        #expect(try b.forward()[0] != first)
        try b.layer.forward(b.io(), StepContext(phase: .train, iteration: 3, seed: 43, parallel: .serial))
        #expect(b.tops[0].values != first)
    }

    @Test func stochasticTrainFrequencies() throws {
        // 8000 planes holding the same 1×5 window (0, 1, −2, 3, 4), pooled globally: the positive values
        // are drawn with probability 1/8, 3/8, 4/8 (expected 1000, 3000, 4000; binomial σ ≤ 45), 0 and −2 never.
        let planes = 8000
        let window: [Float] = [0, 1, -2, 3, 4]
        let rig = try LayerRig(try Self.pool("pool: STOCHASTIC, global_pooling: true"),
                               bottoms: [(Shape([1, planes, 1, 5]), Array([[Float]](repeating: window, count: planes).joined()))])
        #expect(rig.tops[0].shape == Shape([1, planes, 1, 1]))
        let y = try rig.forward()[0]
        let counts = Dictionary(grouping: y, by: { $0 }).mapValues(\.count)
        #expect(Set(counts.keys) == [1, 3, 4], "\(counts)")
        for (value, expected) in [(Float(1), 1000), (3, 3000), (4, 4000)] {
            #expect(abs((counts[value] ?? 0) - expected) < 200, "value \(value) drawn \(counts[value] ?? 0) times, expected about \(expected)")
        }
    }

    @Test func shapeErrors() throws {
        let layer = try Self.pool("kernel_size: 3")
        let e1 = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([1, 1, 2, 2])]) }
        #expect(e1?.message == "kernel 3×3 is larger than the padded input (bottom 1×1×2×2)")
        let e2 = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([4, 4])]) }
        #expect(e2?.message == "expects a bottom of shape N×C×H×W, found 4×4")
    }
}
