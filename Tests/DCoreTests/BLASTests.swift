@testable import DCore
import Foundation
import Testing

@Suite struct BLASTests {
    /// scripts/check-kernels runs the suite under each OPENBLAS_CORETYPE: the kernel asked for
    /// must be the one in effect, or a run would claim to test a kernel it did not.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil))
    func theRequestedKernelIsInEffect() {
        #expect(BLAS.coreName.lowercased() == ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]?.lowercased())
        #expect(BLAS.version.split(separator: ".").count == 3, "\(BLAS.version)")
    }

    /// One product: op(A) is m×k and op(B) k×n; every matrix is stored with `pad` spare columns per
    /// row (so the `ld*` arguments matter), and the spare columns of C must come out untouched.
    struct Case: CustomStringConvertible {
        var transA, transB: Bool
        var m, n, k: Int
        var alpha: Float = 1
        var beta: Float = 0
        var pad = 0
        var description: String { "\(transA ? "Aᵀ" : "A")·\(transB ? "Bᵀ" : "B") m \(m) n \(n) k \(k) α \(alpha) β \(beta) pad \(pad)" }
    }

    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomStream(seed: seed)
        return (0..<count).map { _ in rng.nextUnitFloat() * 2 - 1 }
    }

    /// Runs `BLAS.gemm` (serial, or with `parallel`) and `BLAS.referenceGemm` on the same data.
    static func run(_ c: Case, parallel: Parallel? = nil) -> (actual: [Float], expected: [Float], ldc: Int) {
        let (aRows, aCols) = c.transA ? (c.k, c.m) : (c.m, c.k)
        let (bRows, bCols) = c.transB ? (c.n, c.k) : (c.k, c.n)
        let lda = aCols + c.pad, ldb = bCols + c.pad, ldc = c.n + c.pad
        let a = values(aRows * lda, seed: 1), b = values(bRows * ldb, seed: 2)
        // With β = 0, C may hold garbage, even NaN, and must only be written.
        var actual = c.beta == 0 ? [Float](repeating: .nan, count: c.m * ldc) : values(c.m * ldc, seed: 3)
        for i in 0..<c.m { for j in c.n..<ldc { actual[i * ldc + j] = -7 } }
        var expected = actual
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                actual.withUnsafeMutableBufferPointer { pc in
                    if let parallel {
                        BLAS.gemm(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: c.alpha,
                                  a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                  beta: c.beta, c: pc.baseAddress!, ldc: ldc, parallel: parallel)
                    } else {
                        BLAS.gemm(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: c.alpha,
                                  a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                  beta: c.beta, c: pc.baseAddress!, ldc: ldc)
                    }
                }
            }
        }
        BLAS.referenceGemm(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: c.alpha,
                           a: a, lda: lda, b: b, ldb: ldb, beta: c.beta, c: &expected, ldc: ldc)
        return (actual, expected, ldc)
    }

    static func check(_ c: Case, parallel: Parallel? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let (actual, expected, ldc) = run(c, parallel: parallel)
        var bad = 0
        for i in 0..<c.m {
            for j in 0..<ldc {
                let x = actual[i * ldc + j], y = expected[i * ldc + j]
                let ok = j < c.n ? abs(x - y) <= 1e-4 * max(1, abs(y)) : x == -7
                if !ok {
                    if bad < 5 { Issue.record("\(c): C[\(i), \(j)] = \(x), expected \(y)", sourceLocation: sourceLocation) }
                    bad += 1
                }
            }
        }
        #expect(bad == 0, "\(c): \(bad) wrong elements", sourceLocation: sourceLocation)
    }

    static let transposes = [(false, false), (true, false), (false, true), (true, true)]

    @Test(arguments: transposes) func smallOddSizes(_ transA: Bool, _ transB: Bool) {
        for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (-0.75, 0), (2.5, 1), (0.5, -2)] {
            Self.check(Case(transA: transA, transB: transB, m: 7, n: 5, k: 3, alpha: alpha, beta: beta))
            Self.check(Case(transA: transA, transB: transB, m: 1, n: 1, k: 1, alpha: alpha, beta: beta))
            Self.check(Case(transA: transA, transB: transB, m: 5, n: 7, k: 3, alpha: alpha, beta: beta, pad: 2))
        }
    }

    @Test(arguments: transposes) func largerOddSizes(_ transA: Bool, _ transB: Bool) {
        for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (-1.5, 1)] {
            Self.check(Case(transA: transA, transB: transB, m: 33, n: 17, k: 65, alpha: alpha, beta: beta))
            Self.check(Case(transA: transA, transB: transB, m: 17, n: 33, k: 65, alpha: alpha, beta: beta, pad: 3))
        }
    }

    @Test func emptyInnerDimension() {
        // k = 0: op(A)·op(B) is all zeros, so C becomes β·C (and 0 for β = 0, even from NaN).
        for (t, beta) in [(false, Float(0)), (true, 0), (false, 1), (true, -2)] {
            Self.check(Case(transA: t, transB: !t, m: 3, n: 4, k: 0, beta: beta, pad: 1))
        }
    }

    @Test(arguments: transposes) func parallelSplitsColumns(_ transA: Bool, _ transB: Bool) {
        // m 40, n 300, k 200: 4.8 MFLOP, two chunks, split along n (the longer side of C)
        for (alpha, beta) in [(Float(1), Float(0)), (-0.5, 1)] {
            Self.check(Case(transA: transA, transB: transB, m: 40, n: 300, k: 200, alpha: alpha, beta: beta), parallel: Parallel(threads: 2))
            Self.check(Case(transA: transA, transB: transB, m: 40, n: 300, k: 200, alpha: alpha, beta: beta, pad: 5), parallel: Parallel(threads: 2))
        }
    }

    @Test(arguments: transposes) func parallelSplitsRows(_ transA: Bool, _ transB: Bool) {
        // m 300, n 40, k 200: split along m
        for (alpha, beta) in [(Float(1), Float(0)), (1.5, 1)] {
            Self.check(Case(transA: transA, transB: transB, m: 300, n: 40, k: 200, alpha: alpha, beta: beta), parallel: Parallel(threads: 2))
            Self.check(Case(transA: transA, transB: transB, m: 300, n: 40, k: 200, alpha: alpha, beta: beta, pad: 5), parallel: Parallel(threads: 2))
        }
    }

    @Test func parallelOddSplits() {
        // Three threads over 301 columns / 299 rows: blocks of 112 (rounded up to 16), the last one short.
        Self.check(Case(transA: false, transB: true, m: 41, n: 301, k: 250, alpha: 0.75, beta: 1, pad: 1), parallel: Parallel(threads: 3))
        Self.check(Case(transA: true, transB: false, m: 299, n: 41, k: 250, beta: 0, pad: 2), parallel: Parallel(threads: 3))
    }

    @Test func parallelSmallFallsBackToOneCall() {
        // Too small to split (and too narrow): the same answer through the serial path.
        Self.check(Case(transA: false, transB: false, m: 7, n: 5, k: 3, alpha: 2, beta: 1), parallel: Parallel(threads: 2))
        Self.check(Case(transA: true, transB: true, m: 20, n: 20, k: 2000, beta: 0), parallel: Parallel(threads: 2))
    }

    @Test func referenceByHand() {
        // A = [[1, 2], [3, 4]], B = [[5, 6], [7, 8]]: A·B = [[19, 22], [43, 50]];
        // with α = 2, β = 1 onto C = [[1, 1], [1, 1]]: [[39, 45], [87, 101]]
        var c: [Float] = [1, 1, 1, 1]
        BLAS.referenceGemm(transA: false, transB: false, m: 2, n: 2, k: 2, alpha: 2, a: [1, 2, 3, 4], lda: 2,
                           b: [5, 6, 7, 8], ldb: 2, beta: 1, c: &c, ldc: 2)
        #expect(c == [39, 45, 87, 101])
        // Aᵀ·B = [[1, 3], [2, 4]]·B = [[26, 30], [38, 44]]
        var d: [Float] = [.nan, .nan, .nan, .nan]
        BLAS.referenceGemm(transA: true, transB: false, m: 2, n: 2, k: 2, a: [1, 2, 3, 4], lda: 2,
                           b: [5, 6, 7, 8], ldb: 2, beta: 0, c: &d, ldc: 2)
        #expect(d == [26, 30, 38, 44])
    }
}
