/// y = x·Wᵀ + b over a batch, as one GEMM.
///
/// Shapes: input [M, K] (M = outer count, K = inner count), output [M, N], bias [N], and the
/// weight [N, K], or [K, N] when `transpose` (Caffe's flag, used to tie an autoencoder's
/// decoder to its encoder).
public enum InnerProductKernel {
    /// Whether `forward` computes Yᵀ [n, m] = b + W·Xᵀ on Dendrite's own kernel (`SmallGEMM`,
    /// from AVX-512) rather than Y = X·Wᵀ + b on OpenBLAS: for a weight larger than the batch
    /// (n > m), which the kernel then reads once from memory, row block by row block, while
    /// OpenBLAS copies (packs) it first; a batch that fills the kernel's tiles, 32 columns each
    /// (the autoencoder's batch of 100 leaves a panel of 4: its step was 18% slower);
    /// and Xᵀ within 1 MiB (k·m ≤ 2¹⁸ floats), so that it stays in L2 for every block of W.
    /// One thread per half of W on the big MLP's layers, W cold in memory: 1.2–1.4× OpenBLAS's
    /// speed (docs/PERFORMANCE.md). Each output is then summed over k in order from its bias.
    public static func ownForward(m: Int, n: Int, k: Int, transpose: Bool, level: SmallGEMM.Level = SmallGEMM.level) -> Bool {
        level >= .avx512 && !transpose && m > 0 && m % 32 == 0 && n > m && k * m <= 1 << 18
    }

    /// The scratch floats `forward` needs for `ownForward`: Xᵀ [k, m] and Yᵀ [n, m]; else 0.
    public static func forwardScratch(m: Int, n: Int, k: Int, transpose: Bool, level: SmallGEMM.Level = SmallGEMM.level) -> Int {
        ownForward(m: m, n: n, k: k, transpose: transpose, level: level) ? (k + n) * m : 0
    }

    /// y = x·Wᵀ + b; on the own kernel when `ownForward` says so and `scratch` holds
    /// `forwardScratch` floats (else OpenBLAS).
    public static func forward(m: Int, n: Int, k: Int, transpose: Bool,
                               input: FloatView, weight: FloatView, bias: FloatView?, output: FloatView,
                               scratch: FloatView? = nil, parallel: Parallel, level: SmallGEMM.Level = SmallGEMM.level) {
        let need = forwardScratch(m: m, n: n, k: k, transpose: transpose, level: level)
        if let scratch, need > 0, scratch.count >= need {
            forwardTransposed(m: m, n: n, k: k, input: input, weight: weight, bias: bias, output: output,
                              scratch: scratch, parallel: parallel, level: level)
            return
        }
        let y = output.base
        if let bias {
            let b = bias.base
            for row in 0..<m { (y + row * n).update(from: b, count: n) }
        }
        BLAS.gemm(transA: false, transB: !transpose, m: m, n: n, k: k,
                  a: input.base, lda: k, b: weight.base, ldb: transpose ? n : k,
                  beta: bias == nil ? 0 : 1, c: y, ldc: n, parallel: parallel)
    }

    /// Yᵀ [n, m] = b + W·Xᵀ, W [n, k] the kernel's A (row-major, the larger operand) and Xᵀ
    /// [k, m] its B, then Y = (Yᵀ)ᵀ. Each thread takes a block of W's rows, and of Y's columns.
    static func forwardTransposed(m: Int, n: Int, k: Int, input: FloatView, weight: FloatView, bias: FloatView?,
                                  output: FloatView, scratch: FloatView, parallel: Parallel, level: SmallGEMM.Level) {
        let x = SendablePointer(input.base), w = SendablePointer(weight.base), y = SendablePointer(output.base)
        let xt = SendablePointer(scratch.base), yt = SendablePointer(scratch.base + k * m)
        let b = bias.map { SendablePointer($0.base) }
        // Xᵀ: runs of 16 inputs of a sample read together, each written down a column.
        parallel.forChunks((k + 15) / 16) { runs in
            for run in runs {
                let p0 = run * 16, p1 = min(k, p0 + 16)
                for i in 0..<m {
                    let row = x.pointer + i * k
                    for p in p0..<p1 { xt.pointer[p * m + i] = row[p] }
                }
            }
        }
        parallel.forChunks(n) { rows in
            SmallGEMM.gemm(transA: false, m: rows.count, n: m, k: k, a: w.pointer + rows.lowerBound * k, lda: k,
                           b: xt.pointer, ldb: m, c: yt.pointer + rows.lowerBound * m, ldc: m,
                           bias: b.map { $0.pointer + rows.lowerBound }, accumulate: false, level: level)
            for i in 0..<m {
                let out = y.pointer + i * n
                for o in rows { out[o] = yt.pointer[o * m + i] }
            }
        }
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
