import DCore
@testable import DData
import Foundation
import Testing

@Suite struct NormalizationTests {
    /// A dataset of float samples [channels, 1, width] from `rows`.
    func dataset(_ rows: [[Float]], dims: [Int]) throws -> IDXDataset {
        let dir = temporaryDirectory("norm\(rows.count)x\(dims.reduce(1, *))")
        try IDXFile(dims: [rows.count] + dims, floats: rows.flatMap { $0 }).write(to: dir + "/i", gzip: false)
        try IDXFile(dims: [rows.count], bytes: [UInt8](repeating: 0, count: rows.count)).write(to: dir + "/l", gzip: false)
        return try IDXDataset(images: dir + "/i", labels: dir + "/l")
    }

    @Test func perChannelAndPerPixelByHand() throws {
        // Two samples of 2 channels × 2 pixels; channel 1's second pixel is constant.
        let d = try dataset([[1, 3, 10, 5], [3, 5, 30, 5]], dims: [2, 1, 2])
        let c = try Normalization.compute(.perChannel, of: d)
        #expect(c.mean == [3, 12.5])                    // (1 + 3 + 3 + 5) / 4, (10 + 5 + 30 + 5) / 4
        #expect(c.std == [Float(2).squareRoot(), Float(106.25).squareRoot()])  // 425 / 4 around 12.5
        let p = try Normalization.compute(.perPixel, of: d)
        #expect(p.mean == [2, 4, 20, 5] && p.std == [1, 1, 10, 1])  // the constant pixel keeps std 1
        var x: [Float] = [1, 3, 10, 5]
        x.withUnsafeMutableBufferPointer { p.centre($0.baseAddress!, count: 1, size: 4, channels: 2) }
        #expect(x == [-1, -1, -1, 0])
    }

    @Test func eigenOfASmallMatrix() throws {
        let (values, vectors) = try #require(LAPACK.symmetricEigen([2, 1, 1, 2], n: 2))
        #expect(values.map { ($0 * 1e5).rounded() / 1e5 } == [1, 3])
        let r = Float(0.5).squareRoot()
        #expect(abs(abs(vectors[0]) - r) < 1e-6 && abs(vectors[0] + vectors[1]) < 1e-6)  // ±(1, −1)/√2
        #expect(abs(abs(vectors[2]) - r) < 1e-6 && abs(vectors[2] - vectors[3]) < 1e-6)  // ±(1, 1)/√2
    }

    /// Whitened training data has the identity covariance: ε = 1e-6 is far below every
    /// eigenvalue of this well-conditioned mixture, so each direction keeps λ / (λ + ε) ≈ 1 of
    /// its variance, and float sums over 500 samples are good to about 1e-4; the test allows 1e-3.
    @Test func zcaWhitensToTheIdentity() throws {
        var rng = RandomStream(seed: 8)
        // Six independent normals mixed by a full-rank matrix: correlated, of full rank.
        let rows: [[Float]] = (0..<500).map { _ in
            let g = (0..<6).map { _ in Float(rng.nextGaussian()) }
            return [3 * g[0] + 1, g[0] + 0.5 * g[1], 2 * g[1] - g[2] + 4, 0.3 * g[2] + g[3], g[3] + g[4] + g[0], 0.5 * g[5] - 2 * g[2]]
        }
        let d = try dataset(rows, dims: [1, 2, 3])
        let z = try Normalization.compute(.zca, of: d, epsilon: 1e-6)
        #expect(z.whitening.count == 36 && z.std.isEmpty)
        // W is symmetric.
        for i in 0..<6 { for j in 0..<6 { #expect(abs(z.whitening[i * 6 + j] - z.whitening[j * 6 + i]) < 1e-4) } }
        var x = rows.flatMap { $0 }, white = [Float](repeating: 0, count: x.count)
        x.withUnsafeMutableBufferPointer { xb in
            z.centre(xb.baseAddress!, count: 500, size: 6, channels: 1)
            white.withUnsafeMutableBufferPointer { z.whiten(xb.baseAddress!, count: 500, into: $0.baseAddress!, parallel: .serial) }
        }
        for i in 0..<6 {
            for j in 0..<6 {
                let c = (0..<500).map { Double(white[$0 * 6 + i]) * Double(white[$0 * 6 + j]) }.reduce(0, +) / 500
                #expect(abs(c - (i == j ? 1 : 0)) < 1e-3, "covariance[\(i)][\(j)] = \(c)")
            }
        }
    }
}
