import DCore
#if canImport(Glibc)
import Glibc
#endif

/// The random changes a TRAIN-phase data layer makes to each sample before its transform
/// (the lecture's augmentation; Caffe's `mirror` and `crop_size`, plus affine distortions,
/// Simard, Steinkraus & Platt's elastic distortion, 2003, and Zhong et al.'s random erasing,
/// 2017). Every draw comes from a stream keyed by the solver seed and the sample's place in the
/// data order (epoch, position), so a sample's distortion depends neither on the thread count
/// nor on a resume. In TEST nothing is random: `crop_size` takes the centre.
public struct Augmentation: Sendable, Equatable {
    /// Flip left–right with probability 1/2.
    public var mirror = false
    /// Side of the square cut from each sample (0: none): random in TRAIN, centred in TEST.
    public var cropSize = 0
    /// In TRAIN, the crop may reach this many pixels past each edge, which read as 0 (the
    /// zero padding of torchvision's `RandomCrop(size, padding)`): whole-pixel shifts that,
    /// unlike `translation`, leave the pixels unblurred. TEST's centred crop is unchanged.
    public var cropPad = 0
    /// Largest shift, in pixels, along each axis.
    public var translation = 0.0
    /// Largest rotation, in degrees, either way.
    public var rotation = 0.0
    /// Largest relative change of size: the factor is drawn from [1 − zoom, 1 + zoom].
    public var zoom = 0.0
    /// Largest horizontal shear factor, either way.
    public var shear = 0.0
    /// Elastic distortion: a field of uniform [−1, 1] displacements, smoothed by a Gaussian of
    /// `elasticSigma` pixels and scaled by `elasticAlpha` pixels (Simard et al.: 34 and 4 on
    /// 28×28 digits). Off when `elasticAlpha` is 0.
    public var elasticAlpha = 0.0
    public var elasticSigma = 0.0 { didSet { kernel = Self.gaussianKernel(sigma: elasticSigma) } }
    /// Random erasing (Zhong et al. 2017, torchvision's `RandomErasing`): with this probability
    /// a rectangle of the output, the same in every channel, is set to `eraseValue`. Off when 0.
    public var eraseProbability = 0.0
    /// The rectangle's area as a fraction of the output's, drawn uniformly from this range.
    public var eraseArea = 0.02...0.33
    /// The rectangle's aspect ratio (height / width) is drawn log-uniformly from
    /// [1 / eraseAspect, eraseAspect].
    public var eraseAspect = 10.0 / 3
    /// The raw value the rectangle gets, before `mean_value` and `scale` (0: black).
    public var eraseValue: Float = 0
    /// The smoothing Gaussian of `elasticSigma`, computed once.
    private(set) var kernel: [Float] = [1]

    public init() {}

    public var warps: Bool { translation > 0 || rotation > 0 || zoom > 0 || shear > 0 || elasticAlpha > 0 }
    public var isIdentity: Bool { !mirror && cropSize == 0 && !warps && eraseProbability == 0 }

    /// One sample's output [channels, side, side] for an input [channels, height, width].
    public func outputDims(_ input: [Int]) -> [Int] {
        cropSize > 0 ? [input[0], cropSize, cropSize] : input
    }

    /// The stream of the sample at `position` of `epoch` in the data order.
    public static func stream(seed: UInt64, epoch: Int, position: Int) -> RandomStream {
        RandomStream(seed: seed, purpose: "augment", epoch, position)
    }

    /// Floats of scratch that `apply` needs for an input of `dims`.
    public static func scratchCount(_ dims: [Int]) -> Int {
        (2 + dims[0]) * dims[1] * dims[2] + smoothingScratchCount(width: dims[2], height: dims[1])
    }

    /// Distorts `input` ([channels, height, width], raw values) into `output` (`outputDims`).
    /// `random` is nil in TEST (a centre crop at most). `scratch` holds `scratchCount(dims)`
    /// floats.
    public func apply(_ input: UnsafePointer<Float>, dims: [Int], into output: UnsafeMutablePointer<Float>,
                      random: inout RandomStream?, scratch: UnsafeMutablePointer<Float>) {
        warpCropMirror(input, dims: dims, into: output, random: &random, scratch: scratch)
        if eraseProbability > 0, var rng = random {
            let out = outputDims(dims)
            if let (top, left, h, w) = eraseRectangle(height: out[1], width: out[2], rng: &rng) {
                for ch in 0..<out[0] {
                    for y in top..<(top + h) { (output + (ch * out[1] + y) * out[2] + left).update(repeating: eraseValue, count: w) }
                }
            }
            random = rng
        }
    }

    /// The rectangle random erasing sets in a height × width output (top, left, height, width),
    /// or nil when this sample keeps its pixels. As torchvision: with `eraseProbability`, up to
    /// ten draws of an area and an aspect ratio, the first whose sides fit (rounded, each
    /// smaller than the image's) placed uniformly; none if all ten miss.
    func eraseRectangle(height: Int, width: Int, rng: inout RandomStream) -> (Int, Int, Int, Int)? {
        guard rng.nextUnitDouble() < eraseProbability else { return nil }
        let logAspect = log(eraseAspect)
        for _ in 0..<10 {
            let area = Double(height * width) * (eraseArea.lowerBound + rng.nextUnitDouble() * (eraseArea.upperBound - eraseArea.lowerBound))
            let aspect = exp((rng.nextUnitDouble() * 2 - 1) * logAspect)
            let h = Int((area * aspect).squareRoot().rounded()), w = Int((area / aspect).squareRoot().rounded())
            guard h >= 1, w >= 1, h < height, w < width else { continue }
            let top = Int(rng.next() % UInt64(height - h + 1)), left = Int(rng.next() % UInt64(width - w + 1))
            return (top, left, h, w)
        }
        return nil
    }

    /// The warps, then the crop and the mirror: `apply` without the erasing.
    func warpCropMirror(_ input: UnsafePointer<Float>, dims: [Int], into output: UnsafeMutablePointer<Float>,
                        random: inout RandomStream?, scratch: UnsafeMutablePointer<Float>) {
        let (channels, height, width) = (dims[0], dims[1], dims[2])
        guard var rng = random, warps else {
            return copyCropMirror(input, channels: channels, height: height, width: width, into: output, random: &random)
        }
        // The inverse map: output pixel (x, y) reads the input at c + M·(x − cx, y − cy) − t,
        // plus the elastic displacement, where M = [[1, sh], [0, 1]] · R(angle) / factor: a
        // shear, a rotation and a zoom, each drawn symmetrically about none.
        let angle = (rng.nextUnitDouble() * 2 - 1) * rotation * Double.pi / 180
        let factor = 1 + (rng.nextUnitDouble() * 2 - 1) * zoom
        let sh = (rng.nextUnitDouble() * 2 - 1) * shear
        let tx = (rng.nextUnitDouble() * 2 - 1) * translation, ty = (rng.nextUnitDouble() * 2 - 1) * translation
        let (c, s) = (cos(angle) / factor, sin(angle) / factor)
        let plane = height * width
        let xs = scratch, ys = scratch + plane, warped = scratch + 2 * plane, temp = warped + channels * plane
        if elasticAlpha > 0 {
            Self.elasticField(width: width, height: height, alpha: elasticAlpha, kernel: kernel, rng: &rng, dx: xs, dy: ys, temp: temp)
        } else {
            xs.update(repeating: 0, count: plane)
            ys.update(repeating: 0, count: plane)
        }
        Self.addInverseMap(width: width, height: height, matrix: (c + sh * s, -s + sh * c, s, c), shift: (tx, ty), xs: xs, ys: ys)
        // One map for every channel: bilinear, zero outside the image.
        for ch in 0..<channels {
            Self.sample(input + ch * plane, width: width, height: height, xs: xs, ys: ys, into: warped + ch * plane)
        }
        random = rng
        copyCropMirror(warped, channels: channels, height: height, width: width, into: output, random: &random)
    }

    /// Adds to (xs, ys) the source coordinates c + M·(p − c) − shift of every output pixel p,
    /// with c the image's centre and M = (m00, m01, m10, m11) row by row.
    static func addInverseMap(width: Int, height: Int, matrix m: (Double, Double, Double, Double), shift: (Double, Double),
                              xs: UnsafeMutablePointer<Float>, ys: UnsafeMutablePointer<Float>) {
        let cx = Double(width - 1) / 2, cy = Double(height - 1) / 2
        for y in 0..<height {
            for x in 0..<width {
                let u = Double(x) - cx, v = Double(y) - cy, k = y * width + x
                xs[k] += Float(cx + m.0 * u + m.1 * v - shift.0)
                ys[k] += Float(cy + m.2 * u + m.3 * v - shift.1)
            }
        }
    }

    /// The crop (random offset in TRAIN, centred in TEST) and the mirror.
    public func copyCropMirror(_ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                        into output: UnsafeMutablePointer<Float>, random: inout RandomStream?) {
        let outH = cropSize > 0 ? cropSize : height, outW = cropSize > 0 ? cropSize : width
        var top = (height - outH) / 2, left = (width - outW) / 2, flip = false
        if var rng = random {
            if cropSize > 0 {
                top = Int(rng.next() % UInt64(height - outH + 2 * cropPad + 1)) - cropPad
                left = Int(rng.next() % UInt64(width - outW + 2 * cropPad + 1)) - cropPad
            }
            if mirror { flip = rng.next() & 1 == 1 }
            random = rng
        }
        // Columns [x0, x1) of the crop lie inside the image; the rest, and rows outside, are 0.
        let x0 = max(0, -left), x1 = min(outW, width - left)
        for ch in 0..<channels {
            for y in 0..<outH {
                let dst = output + (ch * outH + y) * outW
                guard top + y >= 0, top + y < height else { dst.update(repeating: 0, count: outW); continue }
                let src = input + ch * height * width + (top + y) * width + left
                if x0 == 0 && x1 == outW {
                    if flip {
                        for x in 0..<outW { dst[x] = src[outW - 1 - x] }
                    } else {
                        dst.update(from: src, count: outW)
                    }
                } else {
                    for x in 0..<outW {
                        let from = flip ? outW - 1 - x : x
                        dst[x] = from >= x0 && from < x1 ? src[from] : 0
                    }
                }
            }
        }
    }

    /// out(x, y) = the input bilinearly interpolated at (xs, ys), 0 outside.
    static func sample(_ input: UnsafePointer<Float>, width: Int, height: Int, xs: UnsafePointer<Float>, ys: UnsafePointer<Float>,
                       into out: UnsafeMutablePointer<Float>) {
        @inline(__always) func at(_ x: Int, _ y: Int) -> Float {
            x >= 0 && x < width && y >= 0 && y < height ? input[y * width + x] : 0
        }
        for k in 0..<(width * height) {
            let x = xs[k], y = ys[k]
            guard x > -1, x < Float(width), y > -1, y < Float(height) else { out[k] = 0; continue }
            let x0 = Int(x.rounded(.down)), y0 = Int(y.rounded(.down))
            let fx = x - Float(x0), fy = y - Float(y0)
            let top: Float, bottom: Float
            if x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height {
                // Inside: the four neighbours without bounds checks (most pixels).
                let p = input + y0 * width + x0
                top = p[0] + (p[1] - p[0]) * fx
                bottom = p[width] + (p[width + 1] - p[width]) * fx
            } else {
                top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx
                bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx
            }
            out[k] = top + (bottom - top) * fy
        }
    }

    /// Simard's displacement field: uniform [−1, 1] per pixel and axis, smoothed by `kernel` (a
    /// Gaussian; zero beyond the border), times `alpha`.
    static func elasticField(width: Int, height: Int, alpha: Double, kernel: [Float], rng: inout RandomStream,
                             dx: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, temp: UnsafeMutablePointer<Float>) {
        let plane = width * height
        for k in 0..<plane { dx[k] = rng.nextUnitFloat() * 2 - 1 }
        for k in 0..<plane { dy[k] = rng.nextUnitFloat() * 2 - 1 }
        func smoothAndScale(_ field: UnsafeMutablePointer<Float>) {
            smooth(field, width: width, height: height, kernel: kernel, temp: temp)
            for k in 0..<plane { field[k] *= Float(alpha) }
        }
        smoothAndScale(dx)
        smoothAndScale(dy)
    }

    /// Normalised weights of a Gaussian of `sigma`, radius ⌈3σ⌉; [1] for sigma 0.
    static func gaussianKernel(sigma: Double) -> [Float] {
        guard sigma > 0 else { return [1] }
        let radius = Int((3 * sigma).rounded(.up))
        let weights = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = weights.reduce(0, +)
        return weights.map { Float($0 / total) }
    }

    /// Floats of scratch that `smooth` needs: the row pass's output, its rows padded to whole
    /// SIMD8 vectors.
    static func smoothingScratchCount(width: Int, height: Int) -> Int { height * (width + 7) / 8 * 8 }

    /// Separable convolution with `kernel` (odd length, symmetric), zero beyond the border, in
    /// place: along rows into `temp`, then along columns back into `field`. Each output sums its
    /// taps in ascending order, as the definition does, so the bits do not depend on this
    /// blocking. Eight outputs are summed at once in a register: a tap that falls outside an
    /// output's band has weight 0 and leaves the sum unchanged.
    static func smooth(_ field: UnsafeMutablePointer<Float>, width: Int, height: Int, kernel: [Float], temp: UnsafeMutablePointer<Float>) {
        let r = kernel.count / 2, stride = (width + 7) / 8 * 8
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
        kernel.withUnsafeBufferPointer { k in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: kernel.count + 16) { buffer in
                // The kernel with eight zeros either side: the weights of outputs j0 ..< j0 + 8
                // for input i are kernel[j − i + r] (by symmetry), that is padded[8 + j0 − i + r ..< +8].
                let padded = buffer.baseAddress!
                padded.initialize(repeating: 0, count: kernel.count + 16)
                (padded + 8).update(from: k.baseAddress!, count: kernel.count)
                // Along rows: temp[y][j] = Σ_i kernel[j − i + r] · field[y][i].
                for y in 0..<height {
                    let src = field + y * width, dst = temp + y * stride
                    for j0 in Swift.stride(from: 0, to: width, by: 8) {
                        var sum = SIMD8<Float>()
                        for i in max(0, j0 - r)..<min(width, j0 + 8 + r) {
                            sum = sum + load(padded + 8 + j0 - i + r) * SIMD8(repeating: src[i])
                        }
                        UnsafeMutableRawPointer(dst + j0).storeBytes(of: sum, as: SIMD8<Float>.self)
                    }
                }
            }
            // Along columns: field[y] = Σ_i kernel[i − y + r] · temp[i], eight columns at a time.
            for y in 0..<height {
                let out = field + y * width
                for j0 in Swift.stride(from: 0, to: width, by: 8) {
                    var sum = SIMD8<Float>()
                    for i in max(0, y - r)...min(height - 1, y + r) {
                        sum = sum + SIMD8(repeating: k[i - y + r]) * load(temp + i * stride + j0)
                    }
                    if j0 + 8 <= width {
                        UnsafeMutableRawPointer(out + j0).storeBytes(of: sum, as: SIMD8<Float>.self)
                    } else {
                        for t in 0..<(width - j0) { out[j0 + t] = sum[t] }
                    }
                }
            }
        }
    }
}
