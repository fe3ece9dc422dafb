import CKernels

/// Max, average and stochastic pooling over each plane of an [N, C, H, W] tensor, with Caffe's
/// windows: a window starts at o·stride − pad and is clipped to the image; average pooling
/// divides by the window size clipped to the padded image (so padding counts as zeros, as in Caffe).
public enum PoolingKernel {
    /// Forward max pooling; `argmax` [N, C, OH, OW] records the winning input index within its
    /// plane for backward. Windows are never empty: PoolingLayer's output size ensures that.
    /// `kernels` picks the instruction set of the 2×2 windows: from AVX-512 they run in C
    /// (`dk_maxpool2x2_forward`, 16 windows at a time), else in Swift; tests set each level.
    public static func maxForward(
        _ g: WindowGeometry, planes: Int, input: FloatView, output: FloatView,
        argmax: TensorView<Int32>, parallel: Parallel, kernels: SmallGEMM.Level = SmallGEMM.level
    ) {
        if let shape = twoByTwo(g) {
            if min(kernels, SmallGEMM.supported) >= .avx512 {
                parallel.forChunks(planes) { range in
                    withUnsafePointer(to: shape) { shape in
                        dk_maxpool2x2_forward(shape, range.count, input.base + range.lowerBound * g.inputArea,
                                              output.base + range.lowerBound * g.outputArea,
                                              argmax.base + range.lowerBound * g.outputArea)
                    }
                }
            } else {
                maxForward2x2(g, planes: planes, input: input, output: output, argmax: argmax, parallel: parallel)
            }
            return
        }
        parallel.forEach(planes) { plane in
            let src = input.base + plane &* g.inputArea
            let dst = output.base + plane &* g.outputArea, am = argmax.base + plane &* g.outputArea
            for y in 0..<g.outH {
                let ys = y &* g.strideH &- g.padH
                let y0 = max(ys, 0), y1 = min(ys &+ g.kernelH, g.height)
                for x in 0..<g.outW {
                    let xs = x &* g.strideW &- g.padW
                    let x0 = max(xs, 0), x1 = min(xs &+ g.kernelW, g.width)
                    // Branch-free: the comparisons are data-dependent and mispredict otherwise.
                    var bestIndex = y0 &* g.width &+ x0
                    var best = src[bestIndex]
                    var iy = y0
                    while iy < y1 {
                        let row = iy &* g.width
                        var ix = x0
                        while ix < x1 {
                            let v = src[row &+ ix], better = v > best
                            best = better ? v : best
                            bestIndex = better ? row &+ ix : bestIndex
                            ix &+= 1
                        }
                        iy &+= 1
                    }
                    dst[y &* g.outW &+ x] = best
                    am[y &* g.outW &+ x] = Int32(truncatingIfNeeded: bestIndex)
                }
            }
        }
    }

    /// The common 2×2 window with stride 2 and no padding, whose windows all lie inside the
    /// image, unrolled: six times faster than the general loop.
    static func maxForward2x2(
        _ g: WindowGeometry, planes: Int, input: FloatView, output: FloatView,
        argmax: TensorView<Int32>, parallel: Parallel
    ) {
        let w = g.width, ow = g.outW, w32 = Int32(truncatingIfNeeded: g.width)
        parallel.forEach(planes) { plane in
            let src = input.base + plane &* g.inputArea
            let dst = output.base + plane &* g.outputArea, am = argmax.base + plane &* g.outputArea
            for y in 0..<g.outH {
                let r0 = src + 2 &* y &* w, r1 = r0 + w
                let o = dst + y &* ow, a = am + y &* ow
                let rowStart = Int32(truncatingIfNeeded: 2 &* y &* w)
                for x in 0..<ow {
                    // Without branches: which input wins is data, and mispredicted jumps cost
                    // more than the comparisons. Ties go to the first in reading order.
                    let x2 = 2 &* x, i0 = rowStart &+ Int32(truncatingIfNeeded: x2)
                    let p0 = r0[x2], p1 = r0[x2 &+ 1], p2 = r1[x2], p3 = r1[x2 &+ 1]
                    let top = p1 > p0, bottom = p3 > p2
                    let topBest = top ? p1 : p0, bottomBest = bottom ? p3 : p2
                    let lower = bottomBest > topBest
                    let best = lower ? bottomBest : topBest
                    let topIndex: Int32 = top ? 1 : 0, bottomIndex: Int32 = bottom ? w32 &+ 1 : w32
                    let index = i0 &+ (lower ? bottomIndex : topIndex)
                    o[x] = best
                    a[x] = index
                }
            }
        }
    }

    /// The shape of the C kernels' 2×2 windows with stride 2, all inside the plane; nil for
    /// other windows.
    static func twoByTwo(_ g: WindowGeometry) -> dk_pool_shape? {
        guard g.kernelH == 2 && g.kernelW == 2 && g.strideH == 2 && g.strideW == 2 && g.padH == 0 && g.padW == 0
            && 2 * g.outH <= g.height && 2 * g.outW <= g.width else { return nil }
        return dk_pool_shape(height: Int32(g.height), width: Int32(g.width), out_h: Int32(g.outH), out_w: Int32(g.outW))
    }

    /// Backward of max pooling: each output gradient goes to the input that won.
    public static func maxBackward(
        _ g: WindowGeometry, planes: Int, outputGrad: FloatView, argmax: TensorView<Int32>,
        inputGrad: FloatView, accumulate: Bool, parallel: Parallel
    ) {
        // Zeroing first and then scattering has no data-dependent branch (testing each input
        // of a window against the winner did, and mispredicted a quarter of the time).
        parallel.forEach(planes) { plane in
            let dx = inputGrad.base + plane * g.inputArea
            let dy = outputGrad.base + plane * g.outputArea, am = argmax.base + plane * g.outputArea
            if !accumulate { dx.update(repeating: 0, count: g.inputArea) }
            for o in 0..<g.outputArea { dx[Int(am[o])] += dy[o] }
        }
    }

    /// The window of output (y, x): its clipped rows and columns, and Caffe's divisor.
    @inline(__always)
    static func averageWindow(_ g: WindowGeometry, _ y: Int, _ x: Int) -> (Range<Int>, Range<Int>, Float) {
        let ys = y * g.strideH - g.padH, xs = x * g.strideW - g.padW
        let ye = min(ys + g.kernelH, g.height + g.padH), xe = min(xs + g.kernelW, g.width + g.padW)
        let size = Float((ye - ys) * (xe - xs))
        return (max(ys, 0)..<min(ye, g.height), max(xs, 0)..<min(xe, g.width), size)
    }

    public static func averageForward(
        _ g: WindowGeometry, planes: Int, input: FloatView, output: FloatView, parallel: Parallel
    ) {
        parallel.forEach(planes) { plane in
            let src = input.base + plane * g.inputArea, dst = output.base + plane * g.outputArea
            for y in 0..<g.outH {
                for x in 0..<g.outW {
                    let (rows, cols, size) = averageWindow(g, y, x)
                    var sum: Float = 0
                    for iy in rows { for ix in cols { sum += src[iy * g.width + ix] } }
                    dst[y * g.outW + x] = sum / size
                }
            }
        }
    }

    public static func averageBackward(
        _ g: WindowGeometry, planes: Int, outputGrad: FloatView, inputGrad: FloatView,
        accumulate: Bool, parallel: Parallel
    ) {
        parallel.forEach(planes) { plane in
            let dx = inputGrad.base + plane * g.inputArea, dy = outputGrad.base + plane * g.outputArea
            if !accumulate { dx.update(repeating: 0, count: g.inputArea) }
            for y in 0..<g.outH {
                for x in 0..<g.outW {
                    let (rows, cols, size) = averageWindow(g, y, x)
                    let share = dy[y * g.outW + x] / size
                    for iy in rows { for ix in cols { dx[iy * g.width + ix] += share } }
                }
            }
        }
    }

    /// The window of output (y, x) clipped to the image: its rows and columns.
    @inline(__always)
    static func clippedWindow(_ g: WindowGeometry, _ y: Int, _ x: Int) -> (Range<Int>, Range<Int>) {
        let ys = y * g.strideH - g.padH, xs = x * g.strideW - g.padW
        return (max(ys, 0)..<min(ys + g.kernelH, g.height), max(xs, 0)..<min(xs + g.kernelW, g.width))
    }

    /// Stochastic pooling in TRAIN (Zeiler & Fergus 2013), with the semantics of Caffe's GPU
    /// kernel (Caffe has no CPU version): each window draws one uniform u in [0, 1) and outputs
    /// the first input, in reading order, at which the running sum of max(x, 0) exceeds
    /// u · Σ max(x, 0), so an input is picked with probability max(x, 0) / Σ max(x, 0).
    /// `chosen` [N, C, OH, OW] records the picked index within its plane for backward (which is
    /// `maxBackward`: the gradient goes to the picked input). Negative inputs count as zeros
    /// (Caffe's kernel assumes non-negative ones, after a ReLU, and is undefined otherwise). A
    /// window with nothing positive outputs 0 and picks its first input, as Caffe's kernel does
    /// for an all-zero window.
    /// `stream(plane)` gives each plane its own draws, one per window, so the result does not
    /// depend on how the planes are split among threads.
    public static func stochasticForwardTrain(
        _ g: WindowGeometry, planes: Int, input: FloatView, output: FloatView,
        chosen: TensorView<Int32>, parallel: Parallel, stream: @Sendable (Int) -> RandomStream
    ) {
        parallel.forEach(planes) { plane in
            var rng = stream(plane)
            let src = input.base + plane * g.inputArea
            let dst = output.base + plane * g.outputArea, picked = chosen.base + plane * g.outputArea
            for y in 0..<g.outH {
                for x in 0..<g.outW {
                    let (rows, cols) = clippedWindow(g, y, x)
                    var total: Float = 0
                    for iy in rows { for ix in cols { total += max(src[iy * g.width + ix], 0) } }
                    // Drawn for every window, so each window's draw does not depend on the data.
                    let threshold = rng.nextUnitFloat() * total
                    var pick = rows.lowerBound * g.width + cols.lowerBound
                    if total > 0 {
                        // Rounding can make u·total equal total; then the last positive input is
                        // the one the exact arithmetic would pick.
                        var running: Float = 0, lastPositive = pick, found = false
                        scan: for iy in rows {
                            for ix in cols {
                                let i = iy * g.width + ix, v = src[i]
                                guard v > 0 else { continue }
                                running += v
                                lastPositive = i
                                if running > threshold { pick = i; found = true; break scan }
                            }
                        }
                        if !found { pick = lastPositive }
                    }
                    dst[y * g.outW + x] = max(src[pick], 0)
                    picked[y * g.outW + x] = Int32(truncatingIfNeeded: pick)
                }
            }
        }
    }

    /// Stochastic pooling in TEST: the expectation of the TRAIN draw, Σ w·x / Σ w = Σ w² / Σ w
    /// with w = max(x, 0); 0 for a window with nothing positive (Caffe's GPU kernel divides by
    /// FLT_MIN there, which gives 0 for an all-zero window).
    public static func stochasticForwardTest(
        _ g: WindowGeometry, planes: Int, input: FloatView, output: FloatView, parallel: Parallel
    ) {
        parallel.forEach(planes) { plane in
            let src = input.base + plane * g.inputArea, dst = output.base + plane * g.outputArea
            for y in 0..<g.outH {
                for x in 0..<g.outW {
                    let (rows, cols) = clippedWindow(g, y, x)
                    var sum: Float = 0, squares: Float = 0
                    for iy in rows {
                        for ix in cols { let w = max(src[iy * g.width + ix], 0); sum += w; squares += w * w }
                    }
                    dst[y * g.outW + x] = sum > 0 ? squares / sum : 0
                }
            }
        }
    }

    /// Backward of the TEST form: with S = Σ w, y = Σ w² / S, ∂y/∂x_i = (2·w_i − y) / S where
    /// x_i > 0, and 0 elsewhere (and for a window with S = 0). Nets run no backward in TEST;
    /// this keeps the layer's forward and backward consistent whatever the phase.
    public static func stochasticBackwardTest(
        _ g: WindowGeometry, planes: Int, input: FloatView, outputGrad: FloatView, inputGrad: FloatView,
        accumulate: Bool, parallel: Parallel
    ) {
        parallel.forEach(planes) { plane in
            let src = input.base + plane * g.inputArea
            let dx = inputGrad.base + plane * g.inputArea, dy = outputGrad.base + plane * g.outputArea
            if !accumulate { dx.update(repeating: 0, count: g.inputArea) }
            for y in 0..<g.outH {
                for x in 0..<g.outW {
                    let (rows, cols) = clippedWindow(g, y, x)
                    var sum: Float = 0, squares: Float = 0
                    for iy in rows {
                        for ix in cols { let w = max(src[iy * g.width + ix], 0); sum += w; squares += w * w }
                    }
                    guard sum > 0 else { continue }
                    let out = squares / sum, scale = dy[y * g.outW + x] / sum
                    for iy in rows {
                        for ix in cols {
                            let v = src[iy * g.width + ix]
                            if v > 0 { dx[iy * g.width + ix] += scale * (2 * v - out) }
                        }
                    }
                }
            }
        }
    }
}
