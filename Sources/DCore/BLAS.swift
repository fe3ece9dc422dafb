import COpenBLAS

/// One matrix product C [m, n] = op(A) [m, k]·op(B) [k, n] as a layer issues it, named by its
/// shape alone: `dtrain --time` lists a step's products so that `scripts/bench` can time
/// OpenBLAS on exactly these shapes (its floor for the workload).
public struct GEMMShape: Hashable, Sendable, CustomStringConvertible {
    public var m, n, k: Int
    public var transA, transB: Bool

    public init(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false) {
        self.m = m; self.n = n; self.k = k; self.transA = transA; self.transB = transB
    }

    /// 2·m·n·k, as `Layer.flops` counts a GEMM.
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

    /// `m=20 n=36864 k=25 op=NN`: op is N or T for A, then for B, as BLAS takes them.
    public var description: String { "m=\(m) n=\(n) k=\(k) op=\(transA ? "T" : "N")\(transB ? "T" : "N")" }
}

/// The one door to OpenBLAS. Matrices are row-major; `ld*` are row strides in elements.
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C`, where op(A) is m×k, op(B) is k×n and C is m×n.
    /// With `beta == 0`, C is only written, so it may hold garbage (even NaN) beforehand.
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            // op(A)·op(B) is all zeros; BLAS implementations disagree on k == 0.
            for i in 0..<m {
                for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
            }
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The same product, split into one block of rows or columns of C per thread of `parallel`,
    /// each computed by single-threaded OpenBLAS. Dendrite keeps OpenBLAS itself on one thread
    /// (see `ComputeOptions`): its idle workers spin, and would fight our own loops for the cores.
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, parallel: Parallel
    ) {
        // Split only products worth it (about 2 MFLOP per thread) along the longer side of C,
        // in multiples of 16 so that every block keeps the kernels' full vector width.
        let chunks = min(parallel.threads, 2 * m * n * k / 2_000_000)
        guard chunks > 1, max(m, n) >= 32 * chunks else {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let splitRows = m > n
        let length = splitRows ? m : n
        let block = (length / chunks + 15) & ~15
        let pa = SendablePointer(UnsafeMutablePointer(mutating: a)), pb = SendablePointer(UnsafeMutablePointer(mutating: b))
        let pc = SendablePointer(c)
        parallel.forEach(chunks) { i in
            let start = i * block, end = min(length, start + block)
            guard start < end else { return }
            if splitRows {
                gemm(transA: transA, transB: transB, m: end - start, n: n, k: k, alpha: alpha,
                     a: pa.pointer + (transA ? start : start * lda), lda: lda, b: pb.pointer, ldb: ldb,
                     beta: beta, c: pc.pointer + start * ldc, ldc: ldc)
            } else {
                gemm(transA: transA, transB: transB, m: m, n: end - start, k: k, alpha: alpha,
                     a: pa.pointer, lda: lda, b: pb.pointer + (transB ? start * ldb : start), ldb: ldb,
                     beta: beta, c: pc.pointer + start, ldc: ldc)
            }
        }
    }

    /// The number of threads OpenBLAS uses for one call. This is process-wide C state, so only
    /// the command that owns the process sets it (see `ComputeOptions`).
    public static var threads: Int { Int(openblas_get_num_threads()) }

    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// The kernel family OpenBLAS picked for this CPU (`Haswell`, `SkylakeX`, …).
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// OpenBLAS's version (`0.3.21`), the second word of its build configuration.
    public static var version: String {
        let config = openblas_get_config().map { String(cString: $0) } ?? ""
        let words = config.split(separator: " ")
        return words.count > 1 && words[0] == "OpenBLAS" ? String(words[1]) : "unknown"
    }

    /// The naive triple loop that every fast path is checked against. Accumulates in Double.
    public static func referenceGemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: [Float], lda: Int, b: [Float], ldb: Int, beta: Float, c: inout [Float], ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(av) * Double(bv)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * sum + old)
            }
        }
    }
}

/// The one door to LAPACK (inside OpenBLAS).
public enum LAPACK {
    /// The eigenvalues (ascending) and eigenvectors of the symmetric n×n matrix `a` (row-major;
    /// only its lower triangle in row-major terms is read): `vectors` holds one eigenvector per
    /// row. Nil when LAPACK reports that it did not converge.
    public static func symmetricEigen(_ a: [Float], n: Int) -> (values: [Float], vectors: [Float])? {
        precondition(a.count == n * n, "symmetricEigen takes an n×n matrix")
        // Column-major LAPACK sees the row-major matrix transposed, which for a symmetric matrix
        // is itself; the eigenvectors come back as columns in column-major, that is rows here.
        var matrix = a, values = [Float](repeating: 0, count: n)
        var n32 = Int32(n), lda = Int32(max(1, n)), info: Int32 = 0
        var workSize: Float = 0, iworkSize: Int32 = 0, query: Int32 = -1
        "V".withCString { jobz in
            "U".withCString { uplo in
                ssyevd_(jobz, uplo, &n32, &matrix, &lda, &values, &workSize, &query, &iworkSize, &query, &info, 1, 1)
            }
        }
        guard info == 0 else { return nil }
        var work = [Float](repeating: 0, count: Int(workSize)), iwork = [Int32](repeating: 0, count: Int(iworkSize))
        var lwork = Int32(work.count), liwork = Int32(iwork.count)
        "V".withCString { jobz in
            "U".withCString { uplo in
                ssyevd_(jobz, uplo, &n32, &matrix, &lda, &values, &work, &lwork, &iwork, &liwork, &info, 1, 1)
            }
        }
        return info == 0 ? (values, matrix) : nil
    }
}
