import DCore
@testable import DData
import Testing

@Suite struct AugmentationTests {
    /// Runs `a` on one sample of `dims` with `rng` (nil: TEST).
    func run(_ a: Augmentation, _ input: [Float], dims: [Int], rng: RandomStream?) -> [Float] {
        var random = rng
        let outCount = a.outputDims(dims).reduce(1, *)
        var out = [Float](repeating: .nan, count: outCount)
        var scratch = [Float](repeating: .nan, count: Augmentation.scratchCount(dims))
        input.withUnsafeBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                scratch.withUnsafeMutableBufferPointer { a.apply(i.baseAddress!, dims: dims, into: o.baseAddress!, random: &random, scratch: $0.baseAddress!) }
            }
        }
        return out
    }

    /// The inverse map M and shift, then bilinear sampling, on a 3×3 plane.
    func warp(_ plane: [Float], width: Int, height: Int, matrix: (Double, Double, Double, Double), shift: (Double, Double)) -> [Float] {
        var xs = [Float](repeating: 0, count: width * height), ys = xs, out = xs
        xs.withUnsafeMutableBufferPointer { x in
            ys.withUnsafeMutableBufferPointer { y in
                Augmentation.addInverseMap(width: width, height: height, matrix: matrix, shift: shift, xs: x.baseAddress!, ys: y.baseAddress!)
                plane.withUnsafeBufferPointer { p in
                    out.withUnsafeMutableBufferPointer { Augmentation.sample(p.baseAddress!, width: width, height: height, xs: x.baseAddress!, ys: y.baseAddress!, into: $0.baseAddress!) }
                }
            }
        }
        return out
    }

    let plane: [Float] = [1, 2, 3,
                          4, 5, 6,
                          7, 8, 9]

    @Test func nothingConfiguredIsACopy() {
        let input = (0..<24).map(Float.init)
        #expect(Augmentation().isIdentity)
        #expect(run(Augmentation(), input, dims: [2, 3, 4], rng: RandomStream(seed: 1)) == input)
    }

    @Test func inverseMapsByHand() {
        // The identity, a shift by one pixel to the right (the left column comes from outside),
        // half a pixel (bilinear means), and a quarter turn: out(x, y) = in(2 − y, x).
        #expect(warp(plane, width: 3, height: 3, matrix: (1, 0, 0, 1), shift: (0, 0)) == plane)
        #expect(warp(plane, width: 3, height: 3, matrix: (1, 0, 0, 1), shift: (1, 0)) == [0, 1, 2, 0, 4, 5, 0, 7, 8])
        #expect(warp(plane, width: 3, height: 3, matrix: (1, 0, 0, 1), shift: (0, 0.5)) == [0.5, 1, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5])
        let quarter = warp(plane, width: 3, height: 3, matrix: (0, -1, 1, 0), shift: (0, 0))
        #expect(quarter.map { $0.rounded() } == [3, 6, 9, 2, 5, 8, 1, 4, 7])
        #expect(zip(quarter, [3, 6, 9, 2, 5, 8, 1, 4, 7] as [Float]).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func cropAndMirror() {
        var a = Augmentation()
        a.cropSize = 2
        let input = (0..<16).map(Float.init)  // one 4×4 plane
        #expect(run(a, input, dims: [1, 4, 4], rng: nil) == [5, 6, 9, 10])  // TEST: the centre
        a.mirror = true
        var seen = Set<[Float]>()
        for seed in 0..<64 {
            let out = run(a, input, dims: [1, 4, 4], rng: Augmentation.stream(seed: UInt64(seed), epoch: 0, position: 3))
            // A 2×2 window of the plane, possibly flipped left–right.
            let top = Int(out.min()!) / 4, left = Int(out.min()!) % 4
            let window: [Float] = [Float(4 * top + left), Float(4 * top + left + 1), Float(4 * top + left + 4), Float(4 * top + left + 5)]
            #expect(out == window || out == [window[1], window[0], window[3], window[2]], "\(out)")
            seen.insert(out)
        }
        #expect(seen.count > 9)  // both offsets and both flips occur
    }

    /// `pad`: the random crop may reach up to `cropPad` pixels past each edge, where it reads
    /// 0; every whole-pixel shift occurs, with and without the flip, and TEST is unchanged.
    @Test func paddedCropShiftsByWholePixels() {
        var a = Augmentation()
        a.cropSize = 3
        a.cropPad = 1
        a.mirror = true
        let input = (1...18).map(Float.init)  // two 3×3 planes, no zero among them
        #expect(run(a, input, dims: [2, 3, 3], rng: nil) == input)  // TEST: the centre is the image
        /// The crop at (top, left) of the zero-padded planes, flipped or not, by hand.
        func shifted(top: Int, left: Int, flip: Bool) -> [Float] {
            (0..<2).flatMap { ch in
                (0..<3).flatMap { y in
                    (0..<3).map { x -> Float in
                        let (sy, sx) = (top + y, left + (flip ? 2 - x : x))
                        return (0..<3).contains(sy) && (0..<3).contains(sx) ? input[ch * 9 + sy * 3 + sx] : 0
                    }
                }
            }
        }
        var seen = Set<[Int]>()
        for position in 0..<400 {
            let out = run(a, input, dims: [2, 3, 3], rng: Augmentation.stream(seed: 5, epoch: 1, position: position))
            let matches = (-1...1).flatMap { t in (-1...1).flatMap { l in [false, true].map { [t, l, $0 ? 1 : 0] } } }
                .filter { out == shifted(top: $0[0], left: $0[1], flip: $0[2] == 1) }
            #expect(matches.count == 1, "\(out)")
            seen.formUnion(matches)
        }
        #expect(seen.count == 18)  // 3 × 3 offsets, each flipped or not
    }

    @Test func elasticFieldIsSmoothAndBounded() {
        let kernel = Augmentation.gaussianKernel(sigma: 2)
        #expect(kernel.count == 13 && abs(kernel.reduce(0, +) - 1) < 1e-6 && kernel == kernel.reversed())
        let (w, h) = (28, 28)
        var dx = [Float](repeating: 0, count: w * h), dy = dx
        var temp = [Float](repeating: 0, count: Augmentation.smoothingScratchCount(width: w, height: h))
        var rng = RandomStream(seed: 3)
        dx.withUnsafeMutableBufferPointer { x in
            dy.withUnsafeMutableBufferPointer { y in
                temp.withUnsafeMutableBufferPointer { Augmentation.elasticField(width: w, height: h, alpha: 8, kernel: Augmentation.gaussianKernel(sigma: 4), rng: &rng, dx: x.baseAddress!, dy: y.baseAddress!, temp: $0.baseAddress!) }
            }
        }
        #expect(dx.allSatisfy { abs($0) <= 8 } && dy.allSatisfy { abs($0) <= 8 })
        // Smoothed: neighbours differ far less than the field varies (uniform noise would differ
        // by as much as it varies).
        let neighbour = (0..<(w * h - 1)).filter { ($0 + 1) % w != 0 }.map { abs(dx[$0 + 1] - dx[$0]) }.reduce(0, +) / Float(w * h - h)
        let mean = dx.reduce(0, +) / Float(w * h)
        let spread = dx.map { abs($0 - mean) }.reduce(0, +) / Float(w * h)
        #expect(spread > 0.05 && neighbour < 0.3 * spread, "neighbour \(neighbour), spread \(spread)")
    }

    /// The separable smoothing, written out as the definition: along rows, then along columns,
    /// each output the sum of its taps from left to right (zero beyond the border), in Float.
    /// The fast version must give the same bits, on planes narrower and wider than the kernel.
    @Test(arguments: [(28, 28, 4.0), (5, 3, 2.0), (37, 19, 1.5), (64, 9, 4.0)])
    func smoothingIsTheSeparableConvolution(width: Int, height: Int, sigma: Double) {
        let kernel = Augmentation.gaussianKernel(sigma: sigma), r = kernel.count / 2
        var rng = RandomStream(seed: UInt64(width * height))
        let field = (0..<(width * height)).map { _ in rng.nextUnitFloat() * 2 - 1 }
        var rows = [Float](repeating: 0, count: width * height), expected = rows
        for y in 0..<height {
            for x in 0..<width {
                var s: Float = 0
                for d in -r...r where x + d >= 0 && x + d < width { s += kernel[d + r] * field[y * width + x + d] }
                rows[y * width + x] = s
            }
        }
        for y in 0..<height {
            for x in 0..<width {
                var s: Float = 0
                for d in -r...r where y + d >= 0 && y + d < height { s += kernel[d + r] * rows[(y + d) * width + x] }
                expected[y * width + x] = s
            }
        }
        var smoothed = field
        var temp = [Float](repeating: .nan, count: Augmentation.smoothingScratchCount(width: width, height: height))
        smoothed.withUnsafeMutableBufferPointer { f in
            temp.withUnsafeMutableBufferPointer { Augmentation.smooth(f.baseAddress!, width: width, height: height, kernel: kernel, temp: $0.baseAddress!) }
        }
        #expect(smoothed == expected)
    }

    @Test func distortionsAreSeededPerSample() {
        var a = Augmentation()
        (a.translation, a.rotation, a.zoom, a.shear, a.elasticAlpha, a.elasticSigma) = (2, 15, 0.1, 0.1, 8, 4)
        let input = (0..<(2 * 28 * 28)).map { Float($0 % 97) }
        let first = run(a, input, dims: [2, 28, 28], rng: Augmentation.stream(seed: 5, epoch: 1, position: 17))
        #expect(first != input && first.allSatisfy(\.isFinite))
        #expect(run(a, input, dims: [2, 28, 28], rng: Augmentation.stream(seed: 5, epoch: 1, position: 17)) == first)
        #expect(run(a, input, dims: [2, 28, 28], rng: Augmentation.stream(seed: 6, epoch: 1, position: 17)) != first)
        #expect(run(a, input, dims: [2, 28, 28], rng: Augmentation.stream(seed: 5, epoch: 1, position: 18)) != first)
        // One map moves every channel: two equal channels stay equal.
        let twin = Array(input.prefix(784)) + Array(input.prefix(784))
        let moved = run(a, twin, dims: [2, 28, 28], rng: Augmentation.stream(seed: 5, epoch: 0, position: 0))
        #expect(moved.prefix(784).elementsEqual(moved.suffix(784)) && moved != twin)
        #expect(run(a, input, dims: [2, 28, 28], rng: nil) == input)  // TEST: no warp (and no crop here)
    }

    @Test func erasingSetsOneRectangleInEveryChannel() {
        var a = Augmentation()
        (a.eraseProbability, a.eraseArea, a.eraseAspect, a.eraseValue) = (1, 0.25...0.25, 1, -1)
        #expect(!a.isIdentity)
        // A quarter of an 8×8 image with aspect 1: a 4×4 square of −1, the same in both channels.
        let input = [Float](repeating: 3, count: 2 * 64)
        for position in 0..<20 {
            let out = run(a, input, dims: [2, 8, 8], rng: Augmentation.stream(seed: 1, epoch: 0, position: position))
            let erased = (0..<64).filter { out[$0] == -1 }
            #expect(erased.count == 16 && out.allSatisfy { $0 == 3 || $0 == -1 })
            #expect(Array(out.prefix(64)) == Array(out.suffix(64)))
            let rows = Set(erased.map { $0 / 8 }), columns = Set(erased.map { $0 % 8 })
            #expect(rows.count == 4 && columns.count == 4 && rows.max()! - rows.min()! == 3 && columns.max()! - columns.min()! == 3)
        }
        #expect(run(a, input, dims: [2, 8, 8], rng: nil) == input)  // TEST: never erased
    }

    @Test func erasingDrawsItsProbabilityAreaAndAspect() {
        var a = Augmentation()
        (a.eraseProbability, a.eraseArea, a.eraseAspect) = (0.5, 0.02...0.33, 10.0 / 3)
        let (side, samples) = (28, 2000)
        var erasedSamples = 0, tall = 0, wide = 0, placesTop = Set<Int>(), placesLeft = Set<Int>()
        for position in 0..<samples {
            var rng = Augmentation.stream(seed: 9, epoch: 2, position: position)
            guard let (top, left, h, w) = a.eraseRectangle(height: side, width: side, rng: &rng) else { continue }
            erasedSamples += 1
            #expect(top >= 0 && left >= 0 && top + h <= side && left + w <= side)
            // The area after rounding each side: within half a pixel per side of the range.
            let area = Double(h * w) / Double(side * side)
            #expect(Double((h + 1) * (w + 1)) / Double(side * side) >= 0.02 && Double(max(h - 1, 0) * max(w - 1, 0)) / Double(side * side) <= 0.33, "\(area)")
            #expect(Double(h) / Double(w) <= 10.0 / 3 * 1.5 && Double(w) / Double(h) <= 10.0 / 3 * 1.5)
            if h > w { tall += 1 } else if w > h { wide += 1 }
            placesTop.insert(top); placesLeft.insert(left)
        }
        // Binomial(2000, 1/2): 5 standard deviations are ±112.
        #expect(abs(erasedSamples - samples / 2) < 112, "\(erasedSamples)")
        #expect(tall > erasedSamples / 4 && wide > erasedSamples / 4, "\(tall) \(wide)")
        #expect(placesTop.count > 15 && placesLeft.count > 15)
    }
}
