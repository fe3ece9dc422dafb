import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// Dendrite's own register-blocked GEMM for products whose B is row-major and not transposed
/// (Sources/CKernels): C = op(A)·B. It serves the convolutions' W·col and Wᵀ·dR per chunk of
/// images (20 or 50 rows of weights, 25 or 500 deep, a few hundred to a few thousand columns),
/// where OpenBLAS spends much of each small call packing both operands. Each element of C is
/// summed over k in order however a caller splits the columns, so chunks and threads do not
/// change results.
///
/// `Level.plain` is OpenBLAS itself: the path every fast one is tested against.
public enum SmallGEMM {
    public enum Level: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
        case plain = 0, avx2 = 1, avx512 = 2

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var description: String { ["plain", "avx2", "avx512"][rawValue] }
    }

    /// What this CPU runs: AVX-512F, else AVX2 with FMA, else plain.
    public static let supported = Level(rawValue: Int(dk_cpu_level())) ?? .plain

    /// The level the layers use: `supported`, capped by the environment variable
    /// `DENDRITE_KERNELS` (`plain`, `avx2` or `avx512`; any other value is ignored), so that the
    /// AVX2 and plain paths can be run and tested on an AVX-512 machine. It also picks the other
    /// C kernels: the convolutions' forward (`ConvolutionKernel.Config.forwardPath`) and the
    /// sigmoid and its loss.
    public static let level: Level = {
        guard let name = getenv("DENDRITE_KERNELS").map({ String(cString: $0) }), let cap = Level.allCases.first(where: { $0.description == name })
        else { return supported }
        return min(cap, supported)
    }()

    /// Whether `gemm` runs Dendrite's kernel for op(A)·B at `level` (else OpenBLAS): not at
    /// `.plain`, and Aᵀ·B only from AVX-512, where it was measured faster than OpenBLAS
    /// (`scripts/bench-kernels`, docs/PERFORMANCE.md).
    public static func ownKernel(transA: Bool, level: Level) -> Bool {
        let use = min(level, supported)
        return use > .plain && (!transA || use >= .avx512)
    }

    /// C [m, n] = bias + op(A)·B, written (or added, with `accumulate`), with bias[i] added to
    /// row i (none when nil): `BLAS.gemm` with beta 0 or 1. op(A) is A [m, k] (lda its row
    /// stride) or, with `transA`, the transpose of A [k, m]; B [k, n] and C are row-major with
    /// row strides ldb and ldc. Where `ownKernel` says no, or k = 0, OpenBLAS computes it.
    @inlinable
    public static func gemm(transA: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                            bias: UnsafePointer<Float>? = nil, accumulate: Bool, level: Level = SmallGEMM.level) {
        guard ownKernel(transA: transA, level: level), k > 0 else {
            if let bias {
                for i in 0..<m {
                    let row = c + i * ldc
                    for j in 0..<n { row[j] = (accumulate ? row[j] : 0) + bias[i] }
                }
            }
            BLAS.gemm(transA: transA, transB: false, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                      beta: accumulate || bias != nil ? 1 : 0, c: c, ldc: ldc)
            return
        }
        dk_gemm_rowmajor_b(Int32(min(level, supported).rawValue), Int32(m), Int32(n), Int32(k), a, transA ? 1 : lda,
                           transA ? lda : 1, b, ldb, c, ldc, bias, accumulate ? 1 : 0)
    }
}
