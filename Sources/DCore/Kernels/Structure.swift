/// Kernels of the layers that move, combine and normalise tensors without a GEMM: Concat,
/// Slice, Split, Tile and Crop (block copies), Eltwise, Bias and Scale (per-channel
/// arithmetic), Reduction, MVN and ArgMax (per-row reductions). As in Elementwise.swift,
/// backward kernels overwrite the input gradient or add to it (`accumulate`).

/// Σ a[i]·b[i] over n contiguous floats, eight lanes at a time.
@inline(__always)
func rowDot(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        acc += lanes(a + i) * lanes(b + i)
        i += 8
    }
    var total = acc.sum()
    while i < n { total += a[i] * b[i]; i += 1 }
    return total
}

/// Σ a[i] over n contiguous floats, eight lanes at a time.
@inline(__always)
func rowSum(_ a: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n { acc += lanes(a + i); i += 8 }
    var total = acc.sum()
    while i < n { total += a[i]; i += 1 }
    return total
}

public enum StructureKernel {
    /// Copies `outer` blocks of `length` floats: block o from `source` at o·sourceStride +
    /// sourceOffset to `destination` at o·destinationStride + destinationOffset (or adds it,
    /// with `accumulate`). Concat, Slice and Tile are this loop with other strides: bottoms
    /// [N, Cᵢ, H, W] concatenated on axis 1 into [N, ΣC, H, W] are N blocks of Cᵢ·H·W each.
    public static func copyBlocks(outer: Int, length: Int,
                                  from source: FloatView, stride sourceStride: Int, offset sourceOffset: Int,
                                  to destination: FloatView, stride destinationStride: Int, offset destinationOffset: Int,
                                  accumulate: Bool) {
        guard outer > 0, length > 0 else { return }
        precondition(sourceOffset >= 0 && (outer - 1) * sourceStride + sourceOffset + length <= source.count,
                     "source blocks out of \(source.shape)")
        precondition(destinationOffset >= 0 && (outer - 1) * destinationStride + destinationOffset + length <= destination.count,
                     "destination blocks out of \(destination.shape)")
        for o in 0..<outer {
            let src = source.base + (o * sourceStride + sourceOffset)
            let dst = destination.base + (o * destinationStride + destinationOffset)
            if accumulate {
                store(dst, length, accumulate: true) { src[$0] }
            } else {
                dst.update(from: src, count: length)
            }
        }
    }

    /// dx (+)= Σₜ dyₜ: the gradient of a blob copied to several tops (Split).
    public static func sum(_ grads: [FloatView], into inputGrad: FloatView, accumulate: Bool) {
        for (t, g) in grads.enumerated() {
            precondition(g.count == inputGrad.count, "summing \(g.shape) into \(inputGrad.shape)")
            let src = g.base
            store(inputGrad.base, g.count, accumulate: accumulate || t > 0) { src[$0] }
        }
        if grads.isEmpty && !accumulate { inputGrad.zero() }
    }

    /// Calls `row(inputOffset, outputOffset)` for each innermost row of `output`'s shape, the
    /// input offset being that of the same row shifted by `offsets` (one per axis) in `input`'s
    /// shape. The offsets are updated as an odometer: no per-element index arithmetic.
    static func forEachCropRow(input: Shape, output: Shape, offsets: [Int], _ row: (Int, Int) -> Void) {
        let rank = output.rank
        precondition(rank >= 1 && input.rank == rank && offsets.count == rank, "crop of \(input) to \(output)")
        for a in 0..<rank { precondition(offsets[a] >= 0 && offsets[a] + output[a] <= input[a], "crop window out of \(input)") }
        guard output.count > 0 else { return }
        var inputStrides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { inputStrides[a] = inputStrides[a + 1] * input[a + 1] }
        var inputOffset = 0
        for a in 0..<rank { inputOffset += offsets[a] * inputStrides[a] }
        let width = output[rank - 1], rows = output.count / width
        var index = [Int](repeating: 0, count: rank)
        for r in 0..<rows {
            row(inputOffset, r * width)
            // Advance the odometer over axes 0..<rank-1, moving the input offset with it.
            var a = rank - 2
            while a >= 0 {
                index[a] += 1
                inputOffset += inputStrides[a]
                if index[a] < output[a] { break }
                inputOffset -= output[a] * inputStrides[a]
                index[a] = 0
                a -= 1
            }
        }
    }

    /// y = the window of x that starts at `offsets` and has y's shape (Crop).
    public static func crop(_ input: FloatView, offsets: [Int], into output: FloatView) {
        let x = input.base, y = output.base, width = output.shape.dims.last ?? 1
        forEachCropRow(input: input.shape, output: output.shape, offsets: offsets) { i, o in
            (y + o).update(from: x + i, count: width)
        }
    }

    /// dx (+)= dy inside the window, and dx = 0 outside it unless accumulating.
    public static func cropBackward(outputGrad: FloatView, offsets: [Int], inputGrad: FloatView, accumulate: Bool) {
        if !accumulate { inputGrad.zero() }
        let dy = outputGrad.base, dx = inputGrad.base, width = outputGrad.shape.dims.last ?? 1
        forEachCropRow(input: inputGrad.shape, output: outputGrad.shape, offsets: offsets) { i, o in
            let src = dy + o
            store(dx + i, width, accumulate: true) { src[$0] }
        }
    }
}

/// Caffe's Eltwise: element-wise product, weighted sum or maximum of bottoms of one shape.
public enum EltwiseKernel {
    /// y = x₀ · x₁ · …, multiplied in bottom order.
    public static func product(_ inputs: [FloatView], into output: FloatView) {
        let y = output.base
        let x0 = inputs[0].base, x1 = inputs[1].base
        for i in 0..<output.count { y[i] = x0[i] * x1[i] }
        for x in inputs.dropFirst(2) {
            let p = x.base
            for i in 0..<output.count { y[i] *= p[i] }
        }
    }

    /// y = Σᵢ cᵢ · xᵢ, added in bottom order.
    public static func sum(_ inputs: [FloatView], coefficients: [Float], into output: FloatView) {
        let y = output.base, c0 = coefficients[0], x0 = inputs[0].base
        for i in 0..<output.count { y[i] = c0 * x0[i] }
        for (x, c) in zip(inputs.dropFirst(), coefficients.dropFirst()) {
            let p = x.base
            for i in 0..<output.count { y[i] += c * p[i] }
        }
    }

    /// y = maxᵢ xᵢ, recording in `winners` which bottom gave it. Caffe's order: bottom 1 beats
    /// bottom 0 unless x₀ is strictly larger, and a later bottom k ≥ 2 wins only when strictly
    /// larger than the maximum so far.
    public static func max(_ inputs: [FloatView], into output: FloatView, winners: TensorView<Int32>) {
        let y = output.base, w = winners.base
        let x0 = inputs[0].base, x1 = inputs[1].base
        for i in 0..<output.count {
            let first = x0[i] > x1[i]
            y[i] = first ? x0[i] : x1[i]
            w[i] = first ? 0 : 1
        }
        for k in inputs.indices.dropFirst(2) {
            let p = inputs[k].base, kk = Int32(k)
            for i in 0..<output.count where p[i] > y[i] {
                y[i] = p[i]
                w[i] = kk
            }
        }
    }

    /// dxᵢ (+)= dy · Π_{j≠i} xⱼ (Caffe's stable_prod_grad): the product of the other bottoms,
    /// formed in bottom order a block at a time, then times dy.
    public static func productBackward(inputs: [FloatView], except skipped: Int, outputGrad: FloatView,
                                       inputGrad: FloatView, accumulate: Bool) {
        let others = inputs.indices.filter { $0 != skipped }.map { inputs[$0].base }
        let dy = outputGrad.base, dx = inputGrad.base, count = outputGrad.count
        let block = 1024
        withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { buffer in
            let t = buffer.baseAddress!
            var start = 0
            while start < count {
                let n = Swift.min(block, count - start)
                t.update(from: others[0] + start, count: n)
                for p in others.dropFirst() {
                    let q = p + start
                    for i in 0..<n { t[i] *= q[i] }
                }
                let g = dy + start
                store(dx + start, n, accumulate: accumulate) { t[$0] * g[$0] }
                start += n
            }
        }
    }

    /// dxᵢ (+)= (y / xᵢ) · dy: the faster product gradient without stable_prod_grad, wrong
    /// where xᵢ = 0.
    public static func quotientBackward(output: FloatView, input: FloatView, outputGrad: FloatView,
                                        inputGrad: FloatView, accumulate: Bool) {
        let y = output.base, x = input.base, dy = outputGrad.base
        store(inputGrad.base, output.count, accumulate: accumulate) { (y[$0] / x[$0]) * dy[$0] }
    }

    /// dxᵢ (+)= dy where bottom i won the maximum, 0 elsewhere.
    public static func maxBackward(winners: TensorView<Int32>, index: Int, outputGrad: FloatView,
                                   inputGrad: FloatView, accumulate: Bool) {
        let w = winners.base, dy = outputGrad.base, k = Int32(index)
        store(inputGrad.base, outputGrad.count, accumulate: accumulate) { w[$0] == k ? dy[$0] : 0 }
    }
}

/// y = x · scale[c] + bias[c] over x seen as [outer, channels, inner] (`AxisLayout`): Caffe's
/// Scale and Bias layers, the per-channel affine map after a BatchNorm ([N, C, H, W] with
/// axis 1: outer N, channels C, inner H·W). Each (o, c) row is one contiguous loop.
public enum ChannelAffineKernel {
    /// y = x · scale[c] + bias[c]; either may be nil (1 and 0). `output` may be `input`.
    public static func forward(_ l: AxisLayout, input: FloatView, scale: FloatView?, bias: FloatView?,
                               output: FloatView, parallel: Parallel) {
        precondition(input.count == l.outer * l.channels * l.inner && output.count == input.count, "layout \(l) for \(input.shape)")
        let inner = l.inner, channels = l.channels
        parallel.forChunks(l.outer * channels) { rows in
            let x = input.base, y = output.base, s = scale?.base, b = bias?.base
            for r in rows {
                let c = r % channels, src = x + r * inner, dst = y + r * inner
                switch (s, b) {
                case let (s?, b?):
                    let m = s[c], a = b[c]
                    for i in 0..<inner { dst[i] = src[i] * m + a }
                case let (s?, nil):
                    let m = s[c]
                    for i in 0..<inner { dst[i] = src[i] * m }
                case let (nil, b?):
                    let a = b[c]
                    for i in 0..<inner { dst[i] = src[i] + a }
                case (nil, nil):
                    if dst != src { dst.update(from: src, count: inner) }
                }
            }
        }
    }

    /// dx (+)= dy · scale[c] (dy when `scale` is nil). With `scale` nil and no accumulation,
    /// `inputGrad` may be `outputGrad` (Bias in place).
    public static func inputBackward(_ l: AxisLayout, outputGrad: FloatView, scale: FloatView?,
                                     inputGrad: FloatView, accumulate: Bool, parallel: Parallel) {
        guard let scale else {
            ElementwiseKernel.copyBackward(outputGrad: outputGrad, inputGrad: inputGrad, accumulate: accumulate)
            return
        }
        let inner = l.inner, channels = l.channels
        parallel.forChunks(l.outer * channels) { rows in
            let dy = outputGrad.base, dx = inputGrad.base, s = scale.base
            for r in rows {
                let m = s[r % channels], src = dy + r * inner
                store(dx + r * inner, inner, accumulate: accumulate) { src[$0] * m }
            }
        }
    }

    /// dscale[c] (+)= Σ_o Σ_i dy·x, the gradient of the per-channel factor, and
    /// dbias[c] (+)= Σ_o Σ_i dy, in one pass; either may be nil, and each is written or added
    /// to on its own. Channels are spread over the threads, each summing its rows in order, so
    /// results do not depend on the thread count.
    public static func parameterBackward(_ l: AxisLayout, outputGrad: FloatView, input: FloatView,
                                         scaleGrad: FloatView?, accumulateScale: Bool,
                                         biasGrad: FloatView?, accumulateBias: Bool, parallel: Parallel) {
        guard scaleGrad != nil || biasGrad != nil else { return }
        let inner = l.inner, channels = l.channels, outer = l.outer
        parallel.forChunks(channels) { range in
            let dy = outputGrad.base, x = input.base, ds = scaleGrad?.base, db = biasGrad?.base
            for c in range {
                var scaleSum = 0.0, biasSum = 0.0
                for o in 0..<outer {
                    let offset = (o * channels + c) * inner
                    if ds != nil { scaleSum += Double(rowDot(dy + offset, x + offset, inner)) }
                    if db != nil { biasSum += Double(rowSum(dy + offset, inner)) }
                }
                if let ds { ds[c] = (accumulateScale ? ds[c] : 0) + Float(scaleSum) }
                if let db { db[c] = (accumulateBias ? db[c] : 0) + Float(biasSum) }
            }
        }
    }
}

/// Caffe's Reduction over `rows` contiguous rows of `length` values: one value per row.
public enum ReductionKernel {
    public enum Operation: String, Sendable, CaseIterable {
        case sum = "SUM", absoluteSum = "ASUM", sumOfSquares = "SUMSQ", mean = "MEAN"
    }

    /// y[r] = coeff · op(x[r, ·]); MEAN is SUM with coeff / length.
    public static func forward(_ op: Operation, rows: Int, length: Int, coefficient: Float,
                               input: FloatView, output: FloatView) {
        let x = input.base, y = output.base
        let scale = op == .mean ? coefficient / Float(length) : coefficient
        for r in 0..<rows {
            let row = x + r * length
            let value: Float
            switch op {
            case .sum, .mean: value = rowSum(row, length)
            case .sumOfSquares: value = rowDot(row, row, length)
            case .absoluteSum:
                var acc = SIMD8<Float>(), i = 0
                while i + 8 <= length {
                    let v = lanes(row + i)
                    acc += v.replacing(with: -v, where: v .< 0)
                    i += 8
                }
                var total = acc.sum()
                while i < length { total += abs(row[i]); i += 1 }
                value = total
            }
            y[r] = value * scale
        }
    }

    /// dx[r, i] (+)= dy[r] · coeff · ∂op/∂x: 1 (SUM), 1/length (MEAN), sign(x) with sign(0) = 0
    /// (ASUM), 2x (SUMSQ).
    public static func backward(_ op: Operation, rows: Int, length: Int, coefficient: Float,
                                input: FloatView, outputGrad: FloatView, inputGrad: FloatView, accumulate: Bool) {
        let x = input.base, dy = outputGrad.base, dx = inputGrad.base
        let scale = op == .mean ? coefficient / Float(length) : coefficient
        for r in 0..<rows {
            let g = dy[r] * scale, src = x + r * length, dst = dx + r * length
            switch op {
            case .sum, .mean: store(dst, length, accumulate: accumulate) { _ in g }
            case .absoluteSum: store(dst, length, accumulate: accumulate) { i in src[i] > 0 ? g : (src[i] < 0 ? -g : 0) }
            case .sumOfSquares:
                let g2 = 2 * g
                store(dst, length, accumulate: accumulate) { i in g2 * src[i] }
            }
        }
    }
}

/// Caffe's MVN over `rows` contiguous rows of `length` values (a row is one channel of one
/// sample, or one whole sample across channels): y = x − mean, divided by std + eps when
/// normalising the variance (eps is added to the standard deviation, not the variance).
public enum MVNKernel {
    /// `deviation` [rows] receives std + eps for backward; nil to only subtract the mean.
    public static func forward(rows: Int, length: Int, input: FloatView, output: FloatView,
                               deviation: FloatView?, epsilon: Float, parallel: Parallel) {
        parallel.forEach(rows) { r in
            let x = input.base, y = output.base, d = deviation?.base
            let src = x + r * length, dst = y + r * length
            let mean = rowSum(src, length) / Float(length)
            for i in 0..<length { dst[i] = src[i] - mean }
            guard let d else { return }
            // var = E((x − mean)²), two passes as Caffe computes it.
            let deviation = (rowDot(dst, dst, length) / Float(length)).squareRoot() + epsilon
            d[r] = deviation
            for i in 0..<length { dst[i] /= deviation }
        }
    }

    /// Caffe's gradient: dx = (dy − mean(dy) − y · mean(y·dy)) / (std + eps), or dy − mean(dy)
    /// without `deviation`. (It takes std + eps for std in ∂std/∂x, a relative error of eps/std.)
    public static func backward(rows: Int, length: Int, output: FloatView, outputGrad: FloatView,
                                deviation: FloatView?, inputGrad: FloatView, accumulate: Bool, parallel: Parallel) {
        let m = -1 / Float(length)
        parallel.forEach(rows) { r in
            let y = output.base, dy = outputGrad.base, dx = inputGrad.base, d = deviation?.base
            let top = y + r * length, g = dy + r * length, dst = dx + r * length
            if let d {
                let yg = rowDot(top, g, length), sg = rowSum(g, length), s = d[r]
                store(dst, length, accumulate: accumulate) { i in (g[i] + m * (top[i] * yg + sg)) / s }
            } else {
                let mean = rowSum(g, length) / Float(length)
                store(dst, length, accumulate: accumulate) { i in g[i] - mean }
            }
        }
    }
}

/// Caffe's ArgMax: the `topK` largest of the `channels` values along an axis at each
/// (outer, inner) position, ranked by value and, among equal values, by the larger index
/// (Caffe sorts (value, index) pairs in descending order).
public enum ArgMaxKernel {
    /// Writes rank j of position (o, i) to `output` at o·outerStride + offset + j·inner + i,
    /// the index at `indexOffset` and the value at `valueOffset` (either nil to skip it).
    public static func forward(_ l: AxisLayout, topK: Int, input: FloatView, output: FloatView,
                               outerStride: Int, indexOffset: Int?, valueOffset: Int?) {
        precondition(topK >= 1 && topK <= l.channels, "top_k \(topK) of \(l.channels)")
        let x = input.base, out = output.base
        var ranked = [(value: Float, index: Int)](repeating: (0, 0), count: l.channels)
        for o in 0..<l.outer {
            for i in 0..<l.inner {
                let base = o * l.channels * l.inner + i
                if topK == 1 {
                    var best = x[base], bestIndex = 0
                    for c in 1..<l.channels where x[base + c * l.inner] >= best {
                        best = x[base + c * l.inner]
                        bestIndex = c
                    }
                    ranked[0] = (best, bestIndex)
                } else {
                    for c in 0..<l.channels { ranked[c] = (x[base + c * l.inner], c) }
                    ranked.sort { $0.value != $1.value ? $0.value > $1.value : $0.index > $1.index }
                }
                let at = o * outerStride + i
                for j in 0..<topK {
                    if let indexOffset { out[at + indexOffset + j * l.inner] = Float(ranked[j].index) }
                    if let valueOffset { out[at + valueOffset + j * l.inner] = ranked[j].value }
                }
            }
        }
    }
}
