@testable import DCore
import Testing

/// Dendrite's own GEMM kernels against the plain triple loop, at every level this CPU runs,
/// on shapes that take every tile height (1 to 12 rows), full and partial column vectors, and
/// strides wider than the matrices.
@Suite struct SmallGEMMTests {
    static let levels = SmallGEMM.Level.allCases.filter { $0 <= SmallGEMM.supported }

    struct Case: Sendable, CustomStringConvertible {
        var m, n, k: Int
        var transA, accumulate: Bool
        var bias = false
        var description: String { "\(m)×\(n)×\(k)\(transA ? " Aᵀ" : "")\(accumulate ? " +=" : "")\(bias ? " + bias" : "")" }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        // Rows: every tile height of both instruction sets, and the convolutions' 20 and 50.
        for m in [1, 2, 5, 6, 7, 11, 12, 13, 20, 50] {
            // Columns: under one vector, exactly one or two, one past, and the tails of several tiles.
            for n in [1, 7, 8, 9, 16, 17, 31, 32, 33, 70] {
                cases.append(Case(m: m, n: n, k: [1, 3, 25][(m + n) % 3], transA: (m + n) % 2 == 0, accumulate: n % 3 == 0,
                                  bias: (m + n) % 4 < 2))
            }
        }
        // LeNet's conv2 chunk: W·col and Wᵀ·dR.
        cases.append(Case(m: 50, n: 256, k: 500, transA: false, accumulate: false, bias: true))
        cases.append(Case(m: 500, n: 256, k: 50, transA: true, accumulate: false))
        // An inner product's Yᵀ = b + W·Xᵀ (more rows than columns: row blocks outer, A
        // prefetched along its rows) over 11 row tiles and 19 prefetch blocks of k.
        cases.append(Case(m: 130, n: 64, k: 300, transA: false, accumulate: false, bias: true))
        cases.append(Case(m: 130, n: 45, k: 40, transA: false, accumulate: true))
        // k = 0 leaves C (+=) or zeroes it.
        cases.append(Case(m: 3, n: 5, k: 0, transA: false, accumulate: true))
        cases.append(Case(m: 3, n: 5, k: 0, transA: true, accumulate: false, bias: true))
        return cases
    }()

    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomStream(seed: seed)
        return (0..<count).map { _ in rng.nextUnitFloat() * 2 - 1 }
    }

    @Test(arguments: cases, levels) func matchesTheTripleLoop(_ c: Case, level: SmallGEMM.Level) {
        // Strides wider than the matrices, so that a kernel reading or writing past a row shows.
        let lda = (c.transA ? c.m : c.k) + 3, ldb = c.n + 2, ldc = c.n + 5
        let a = Self.values((c.transA ? c.k : c.m) * lda, seed: 1), b = Self.values(max(c.k, 1) * ldb, seed: 2)
        let start = c.accumulate ? Self.values(c.m * ldc, seed: 3) : [Float](repeating: .nan, count: c.m * ldc)
        var expected = start.map { $0.isNaN ? 0 : $0 }
        BLAS.referenceGemm(transA: c.transA, transB: false, m: c.m, n: c.n, k: c.k, a: a, lda: lda, b: b, ldb: ldb,
                           beta: c.accumulate ? 1 : 0, c: &expected, ldc: ldc)
        let bias = Self.values(c.m, seed: 6)
        if c.bias {
            for i in 0..<c.m { for j in 0..<c.n { expected[i * ldc + j] += bias[i] } }
        }
        var got = start
        got.withUnsafeMutableBufferPointer { out in
            bias.withUnsafeBufferPointer { bp in
                SmallGEMM.gemm(transA: c.transA, m: c.m, n: c.n, k: c.k, a: a, lda: lda, b: b, ldb: ldb,
                               c: out.baseAddress!, ldc: ldc, bias: c.bias ? bp.baseAddress : nil, accumulate: c.accumulate, level: level)
            }
        }
        for i in 0..<c.m {
            for j in 0..<ldc {
                let g = got[i * ldc + j], e = expected[i * ldc + j]
                if j < c.n {
                    // Each term is below 1 in size: k terms round to within k·2⁻²³ or so.
                    #expect(abs(g - e) <= 1e-6 * Float(c.k + 1), "\(c) \(level): C[\(i), \(j)] = \(g), expected \(e)")
                } else {
                    // Past the n columns, the stride's padding is untouched.
                    #expect(g.bitPattern == start[i * ldc + j].bitPattern, "\(c) \(level): wrote C[\(i), \(j)] past column \(c.n)")
                }
            }
        }
    }

    @Test func sumsInTheSameOrderWhateverTheSplit() {
        // A block of C is the same bits whether computed alone or inside a larger product: what
        // lets the convolution's chunks and threads leave results unchanged.
        let m = 14, n = 40, k = 300
        for transA in [false, true] {
            // A is [m, k], or [k, m] read transposed: row i starts at i·k, or at column i.
            let a = Self.values(m * k, seed: 4), b = Self.values(k * n, seed: 5), lda = transA ? m : k, rowStep = transA ? 1 : k
            for level in Self.levels where level > .plain && (!transA || level >= .avx512) {  // (else OpenBLAS)
                var whole = [Float](repeating: 0, count: m * n), part = whole
                SmallGEMM.gemm(transA: transA, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: n, c: &whole, ldc: n, accumulate: false, level: level)
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        part.withUnsafeMutableBufferPointer { cp in
                            for i in stride(from: 0, to: m, by: 5) {
                                for j in stride(from: 0, to: n, by: 3) {
                                    SmallGEMM.gemm(transA: transA, m: min(5, m - i), n: min(3, n - j), k: k, a: ap.baseAddress! + i * rowStep,
                                                   lda: lda, b: bp.baseAddress! + j, ldb: n, c: cp.baseAddress! + i * n + j, ldc: n,
                                                   accumulate: false, level: level)
                                }
                            }
                        }
                    }
                }
                #expect(whole == part, "\(level) transA \(transA)")
            }
        }
    }

    @Test func levelIsCappedByTheCPU() {
        #expect(SmallGEMM.level <= SmallGEMM.supported)
    }
}
