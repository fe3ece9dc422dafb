@testable import DCore
import Testing

/// Max pooling over 2×2 windows with stride 2 runs in C with AVX-512 (`dk_maxpool2x2_forward`),
/// 16 windows at a time. It must give the Swift path's outputs and argmax (the plain level),
/// ties, NaN, ±0 and ±∞ included.
@Suite struct PoolingKernelTests {
    /// (height, width): even; odd (a last row and column no window covers); 18 windows a row
    /// (a vector of 16 and a tail of 2); 1 to 7 windows a row (each way of storing a tail);
    /// LeNet's pool1 (24×24) and pool2 (8×8).
    static let planes: [(h: Int, w: Int)] = [(2, 2), (5, 7), (4, 36), (3, 37), (2, 4), (2, 6), (2, 10), (2, 12), (2, 14),
                                             (24, 24), (8, 8)]

    static func geometry(_ h: Int, _ w: Int) -> WindowGeometry {
        WindowGeometry(channels: 3, height: h, width: w, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2,
                       padH: 0, padW: 0, dilationH: 1, dilationW: 1, outH: h / 2, outW: w / 2)
    }

    /// Few distinct values, so that windows tie, with NaN, ±0 and ±∞ among them.
    static func inputs(_ count: Int, seed: UInt64) -> [Float] {
        let special: [Float] = [.nan, -0.0, 0, .infinity, -.infinity]
        var rng = RandomStream(seed: seed)
        return (0..<count).map { _ in
            let r = Int(rng.next() % 12)
            return r < special.count ? special[r] : Float(r - 8) * 0.5
        }
    }

    /// Output and argmax at one level; the buffers start as garbage, and a sentinel after each
    /// must stay untouched.
    static func run(_ g: WindowGeometry, planes: Int, x: [Float], level: SmallGEMM.Level,
                    threads: Int) -> (y: [UInt32], argmax: [Int32]) {
        let count = planes * g.outputArea
        let input = Tensor(shape: Shape([planes, g.height, g.width]), values: x)
        let output = Tensor(shape: Shape([count + 1]), values: [Float](repeating: .nan, count: count) + [42])
        let argmax = Arena<Int32>(count: count + 1)
        for i in 0...count { argmax.base[i] = i == count ? 42 : -1 }
        PoolingKernel.maxForward(g, planes: planes, input: input.view, output: output.view,
                                 argmax: argmax.view(offset: 0, shape: Shape([count])), parallel: Parallel(threads: threads),
                                 kernels: level)
        #expect(output.values[count] == 42 && argmax.base[count] == 42, "wrote past the end")
        return (output.values.prefix(count).map(\.bitPattern), (0..<count).map { argmax.base[$0] })
    }

    @Test(arguments: planes) func avx512MatchesSwift(_ plane: (h: Int, w: Int)) throws {
        guard SmallGEMM.supported >= .avx512 else { return }
        let g = Self.geometry(plane.h, plane.w), planes = 5
        let x = Self.inputs(planes * g.inputArea, seed: UInt64(plane.h * 100 + plane.w))
        let swift = Self.run(g, planes: planes, x: x, level: .plain, threads: 1)
        for threads in [1, 2, 3] {
            let c = Self.run(g, planes: planes, x: x, level: .avx512, threads: threads)
            #expect(c.y == swift.y, "\(plane), \(threads) threads")
            #expect(c.argmax == swift.argmax, "\(plane), \(threads) threads")
        }
    }
}
