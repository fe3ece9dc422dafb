/// y = x·Wᵀ + b over a batch, as one GEMM.
///
/// Shapes: input [M, K] (M = outer count, K = inner count), output [M, N], bias [N], and the
/// weight [N, K], or [K, N] when `transpose` (Caffe's flag, used to tie an autoencoder's
/// decoder to its encoder).
public enum InnerProductKernel {
    public static func forward(m: Int, n: Int, k: Int, transpose: Bool,
                               input: FloatView, weight: FloatView, bias: FloatView?, output: FloatView, parallel: Parallel) {
        let y = output.base
        if let bias {
            let b = bias.base
            for row in 0..<m { (y + row * n).update(from: b, count: n) }
        }
        BLAS.gemm(transA: false, transB: !transpose, m: m, n: n, k: k,
                  a: input.base, lda: k, b: weight.base, ldb: transpose ? n : k,
                  beta: bias == nil ? 0 : 1, c: y, ldc: n, parallel: parallel)
    }

    /// Forward was y = x·Wᵀ + b, so dW += dyᵀ·x ([N, K]; with transpose, dW += xᵀ·dy, [K, N]),
    /// db += Σ_rows dy and dx (+)= dy·W ([M, K]; with transpose, dy·Wᵀ).
    public static func backward(m: Int, n: Int, k: Int, transpose: Bool,
                                input: FloatView, weight: FloatView, outputGrad: FloatView,
                                weightGrad: FloatView?, biasGrad: FloatView?,
                                inputGrad: FloatView?, accumulateInput: Bool, parallel: Parallel) {
        let dy = outputGrad.base
        if let weightGrad {
            if transpose {
                BLAS.gemm(transA: true, transB: false, m: k, n: n, k: m, a: input.base, lda: k,
                          b: dy, ldb: n, beta: 1, c: weightGrad.base, ldc: n, parallel: parallel)
            } else {
                BLAS.gemm(transA: true, transB: false, m: n, n: k, k: m, a: dy, lda: n,
                          b: input.base, ldb: k, beta: 1, c: weightGrad.base, ldc: k, parallel: parallel)
            }
        }
        if let biasGrad {
            let db = biasGrad.base
            for row in 0..<m {
                let r = dy + row * n
                for j in 0..<n { db[j] += r[j] }
            }
        }
        if let inputGrad {
            BLAS.gemm(transA: false, transB: transpose, m: m, n: k, k: n, a: dy, lda: n,
                      b: weight.base, ldb: transpose ? n : k,
                      beta: accumulateInput ? 1 : 0, c: inputGrad.base, ldc: k, parallel: parallel)
        }
    }
}
