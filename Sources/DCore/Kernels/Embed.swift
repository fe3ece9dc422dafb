/// A lookup table: row `index` of the weight for each index, plus the bias.
///
/// Shapes: indices [M] (integers stored as floats, any layout flattened), weight [K, N] (one
/// row per index: Caffe's layout, InnerProduct's transposed), bias [N], output [M, N].
public enum EmbedKernel {
    /// An entry of the indices that is not a whole number in 0..<K: its position and value.
    public struct IndexError: Error, Equatable {
        public var position: Int
        public var value: Float
    }

    /// The row an index picks, or nil for anything that is not a whole number in 0..<rows
    /// (NaN, ±∞, fractions, huge values: `Int(raw)` would trap on some of them).
    @inlinable
    public static func row(_ raw: Float, rows: Int) -> Int? {
        guard let i = SoftmaxLossKernel.classIndex(raw), i >= 0, i < rows else { return nil }
        return i
    }

    /// output[m, :] = weight[indices[m], :] (+ bias). Checks every index before writing anything.
    public static func forward(indices: FloatView, weight: FloatView, bias: FloatView?, output: FloatView,
                               rows k: Int, columns n: Int) throws(IndexError) {
        let x = indices.base, w = weight.base, y = output.base
        for m in 0..<indices.count where row(x[m], rows: k) == nil { throw IndexError(position: m, value: x[m]) }
        for m in 0..<indices.count {
            let source = w + row(x[m], rows: k)! * n, target = y + m * n
            if let bias {
                let b = bias.base
                for j in 0..<n { target[j] = source[j] + b[j] }
            } else {
                target.update(from: source, count: n)
            }
        }
    }

    /// dW[indices[m], :] += dy[m, :] (rows picked several times add up), db += Σ_m dy[m, :].
    /// Indices were checked by forward; one that is not valid is skipped rather than trusted.
    public static func backward(indices: FloatView, outputGrad: FloatView, weightGrad: FloatView?, biasGrad: FloatView?,
                                rows k: Int, columns n: Int) {
        let x = indices.base, dy = outputGrad.base
        for m in 0..<indices.count {
            let g = dy + m * n
            if let weightGrad, let r = row(x[m], rows: k) {
                let dw = weightGrad.base + r * n
                for j in 0..<n { dw[j] += g[j] }
            }
            if let biasGrad {
                let db = biasGrad.base
                for j in 0..<n { db[j] += g[j] }
            }
        }
    }
}
