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
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {pool: STOCHASTIC, kernel_size: 2}}")
                == "layer 'pool' (Pooling): pooling_param.pool: STOCHASTIC pooling is not supported")
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {global_pooling: true, kernel_size: 2}}")
                == "layer 'pool' (Pooling): pooling_param.global_pooling: global pooling takes its window from the bottom; remove kernel_size")
        #expect(layerError("{name: pool, type: Pooling, pooling_param: {pool: MAX}}")
                == "layer 'pool' (Pooling): missing required key 'pooling_param.kernel_size'")
    }

    @Test func shapeErrors() throws {
        let layer = try Self.pool("kernel_size: 3")
        let e1 = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([1, 1, 2, 2])]) }
        #expect(e1?.message == "kernel 3×3 is larger than the padded input (bottom 1×1×2×2)")
        let e2 = #expect(throws: LayerError.self) { try layer.topShapes(for: [Shape([4, 4])]) }
        #expect(e2?.message == "expects a bottom of shape N×C×H×W, found 4×4")
    }
}
