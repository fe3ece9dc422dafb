@testable import DCore
import Testing

/// The inner product's forward on Dendrite's own kernel (Yᵀ = b + W·Xᵀ, from AVX-512) against
/// its definition and against the plain path (OpenBLAS).
@Suite struct InnerProductKernelTests {
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomStream(seed: seed)
        return (0..<count).map { _ in rng.nextUnitFloat() * 2 - 1 }
    }

    struct Case: Sendable, CustomStringConvertible {
        var m, n, k: Int
        var bias: Bool
        var description: String { "x [\(m), \(k)] · Wᵀ [\(k), \(n)]\(bias ? " + b" : "")" }
    }

    // Batches of one and several 32-column panels; outputs that leave every tile height of 12
    // at the end of a thread's block (37, 101, 1000 split in two); k under one prefetch block
    // of 16, between blocks, and long enough for many.
    static let cases = [Case(m: 32, n: 37, k: 1, bias: true), Case(m: 64, n: 101, k: 7, bias: false),
                        Case(m: 64, n: 1000, k: 33, bias: true), Case(m: 96, n: 130, k: 300, bias: true),
                        Case(m: 32, n: 500, k: 784, bias: false)]

    @Test(.enabled(if: SmallGEMM.supported >= .avx512), arguments: cases)
    func ownForwardIsTheFusedChainFromTheBias(_ c: Case) {
        #expect(InnerProductKernel.ownForward(m: c.m, n: c.n, k: c.k, transpose: false, level: .avx512))
        let xs = Self.values(c.m * c.k, seed: 1), ws = Self.values(c.n * c.k, seed: 2), bs = Self.values(c.n, seed: 3)
        let x = Tensor(shape: Shape([c.m, c.k]), values: xs), w = Tensor(shape: Shape([c.n, c.k]), values: ws)
        let b = c.bias ? Tensor(shape: Shape([c.n]), values: bs) : nil
        // Each output summed over k in order, one fused multiply-add per term, from the bias.
        var expected = [Float](repeating: 0, count: c.m * c.n)
        for i in 0..<c.m {
            for o in 0..<c.n {
                var sum = c.bias ? bs[o] : 0
                for p in 0..<c.k { sum = sum.addingProduct(ws[o * c.k + p], xs[i * c.k + p]) }
                expected[i * c.n + o] = sum
            }
        }
        let scratch = Tensor(shape: Shape([InnerProductKernel.forwardScratch(m: c.m, n: c.n, k: c.k, transpose: false, level: .avx512)]))
        var plain: [Float] = []
        for threads in [1, 2] {
            for level in [SmallGEMM.Level.avx512, .plain] {
                let y = Tensor(shape: Shape([c.m, c.n]), values: [Float](repeating: .nan, count: c.m * c.n))
                InnerProductKernel.forward(m: c.m, n: c.n, k: c.k, transpose: false, input: x.view, weight: w.view, bias: b?.view,
                                           output: y.view, scratch: scratch.view, parallel: Parallel(threads: threads), level: level)
                if level == .avx512 {
                    // The same bits on one thread or two.
                    let differing = zip(y.values, expected).filter { $0.bitPattern != $1.bitPattern }.count
                    #expect(differing == 0, "\(c), \(threads) thread(s): \(differing) of \(expected.count) outputs differ")
                } else {
                    plain = y.values
                }
            }
            // OpenBLAS sums in another order: within 1e-6 per term of size below 1.
            let far = zip(plain, expected).filter { !(abs($0 - $1) <= 1e-6 * Float(c.k + 1)) }.count
            #expect(far == 0, "\(c): OpenBLAS differs in \(far) outputs")
        }
    }

    @Test func ownForwardOnlyWhereItPays() {
        // The bench's MLP layer takes it; a batch that leaves a partial panel, a weight no larger
        // than the batch, a transposed weight, an Xᵀ past 1 MiB or a CPU level below AVX-512 do not.
        #expect(InnerProductKernel.ownForward(m: 64, n: 2000, k: 2500, transpose: false, level: .avx512))
        #expect(!InnerProductKernel.ownForward(m: 100, n: 1000, k: 784, transpose: false, level: .avx512))
        #expect(!InnerProductKernel.ownForward(m: 64, n: 64, k: 784, transpose: false, level: .avx512))
        #expect(!InnerProductKernel.ownForward(m: 64, n: 2000, k: 2500, transpose: true, level: .avx512))
        #expect(!InnerProductKernel.ownForward(m: 128, n: 2000, k: 2500, transpose: false, level: .avx512))
        #expect(!InnerProductKernel.ownForward(m: 64, n: 2000, k: 2500, transpose: false, level: .avx2))
        #expect(InnerProductKernel.forwardScratch(m: 64, n: 2000, k: 2500, transpose: false, level: .avx512) == (2500 + 2000) * 64)
        #expect(InnerProductKernel.forwardScratch(m: 100, n: 2000, k: 2500, transpose: false, level: .avx512) == 0)
    }
}
