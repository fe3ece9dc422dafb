@testable import DCore
#if canImport(Glibc)
import Glibc
#endif
import Testing

@Suite struct ConvolutionKernelTests {
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomStream(seed: seed)
        return (0..<count).map { _ in rng.nextUnitFloat() * 2 - 1 }
    }

    static func config(n: Int, c: Int, h: Int, w: Int, outputs: Int, kh: Int, kw: Int, sh: Int = 1, sw: Int = 1,
                       ph: Int = 0, pw: Int = 0, groups: Int = 1, dh: Int = 1, dw: Int = 1) -> ConvolutionKernel.Config {
        // A dilated kernel spans d·(k − 1) + 1 pixels.
        let eh = dh * (kh - 1) + 1, ew = dw * (kw - 1) + 1
        return ConvolutionKernel.Config(
            geometry: WindowGeometry(channels: c, height: h, width: w, kernelH: kh, kernelW: kw, strideH: sh, strideW: sw,
                                     padH: ph, padW: pw, dilationH: dh, dilationW: dw,
                                     outH: (h + 2 * ph - eh) / sh + 1, outW: (w + 2 * pw - ew) / sw + 1),
            outputs: outputs, groups: groups, batch: n, workers: 1)
    }

    /// The same convolution planned for `threads` workers.
    static func planned(_ cfg: ConvolutionKernel.Config, threads: Int) -> ConvolutionKernel.Config {
        ConvolutionKernel.Config(geometry: cfg.geometry, outputs: cfg.outputs, groups: cfg.groups, batch: cfg.batch, workers: threads)
    }

    static let configs: [ConvolutionKernel.Config] = [
        config(n: 1, c: 1, h: 5, w: 5, outputs: 1, kh: 3, kw: 3),
        config(n: 2, c: 3, h: 6, w: 7, outputs: 4, kh: 3, kw: 3, ph: 1, pw: 1),
        config(n: 3, c: 2, h: 7, w: 7, outputs: 5, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1),
        config(n: 2, c: 4, h: 8, w: 5, outputs: 6, kh: 3, kw: 2, sh: 2, sw: 1, ph: 2, pw: 1, groups: 2),
        config(n: 2, c: 6, h: 5, w: 6, outputs: 3, kh: 1, kw: 3, sw: 2, pw: 1, groups: 3),
        config(n: 1, c: 4, h: 4, w: 4, outputs: 4, kh: 4, kw: 4, groups: 4),
        config(n: 2, c: 2, h: 9, w: 3, outputs: 2, kh: 5, kw: 1, sh: 3, ph: 2),
        // 2 images per chunk, so that one worker walks several chunks
        config(n: 4, c: 16, h: 16, w: 16, outputs: 16, kh: 3, kw: 3, ph: 1, pw: 1),
        config(n: 5, c: 16, h: 16, w: 16, outputs: 8, kh: 3, kw: 3, ph: 1, pw: 1, groups: 2),
        // Dilated: without padding (im2col's row copies, col2im's row additions), ...
        config(n: 2, c: 3, h: 9, w: 8, outputs: 4, kh: 3, kw: 3, dh: 2, dw: 2),
        // ... with padding, stride and groups (the general loops), ...
        config(n: 2, c: 4, h: 7, w: 9, outputs: 4, kh: 3, kw: 2, sh: 2, sw: 1, ph: 2, pw: 1, groups: 2, dh: 2, dw: 3),
        // ... and without padding but with a column stride (im2col's strided copies, col2im's general loop).
        config(n: 1, c: 2, h: 6, w: 10, outputs: 2, kh: 2, kw: 3, sw: 2, dh: 3, dw: 2),
    ]

    /// The GEMM kernels this CPU runs (`SmallGEMM`), plain OpenBLAS first.
    static let levels = SmallGEMM.Level.allCases.filter { $0 <= SmallGEMM.supported }

    /// Runs `ConvolutionKernel.forward` on fresh buffers.
    static func forward(_ base: ConvolutionKernel.Config, x: [Float], w: [Float], b: [Float]?, threads: Int,
                        scratchFill: Float = 0, level: SmallGEMM.Level = SmallGEMM.level) -> [Float] {
        var cfg = planned(base, threads: threads)
        cfg.kernels = level
        cfg.im2colOnly = base.im2colOnly
        let g = cfg.geometry
        let input = Tensor(shape: Shape([cfg.batch, g.channels, g.height, g.width]), values: x)
        let weight = Tensor(shape: Shape([cfg.outputs, g.channels / cfg.groups, g.kernelH, g.kernelW]), values: w)
        let bias = b.map { Tensor(shape: Shape([cfg.outputs]), values: $0) }
        let output = Tensor(shape: Shape([cfg.batch, cfg.outputs, g.outH, g.outW]))
        output.view.fill(.nan)  // forward must write every output
        let scratch = Tensor(shape: Shape([cfg.scratchPerWorker * threads]))
        scratch.view.fill(scratchFill)
        // Views do not own memory: keep every tensor alive until the kernel returns.
        withExtendedLifetime((input, weight, bias, output, scratch)) {
            ConvolutionKernel.forward(cfg, input: input.view, weight: weight.view, bias: bias?.view, output: output.view,
                                      scratch: scratch.view, parallel: Parallel(threads: threads))
        }
        return output.values
    }

    static func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-4) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    /// Every |a − b| within `tolerance` of the largest |b|: for sums of thousands of terms, whose
    /// rounding grows with the partial sums, not with a result that cancels to near zero.
    static func closeToLargest(_ a: [Float], _ b: [Float], tolerance: Float) -> Bool {
        let largest = b.map(abs).max() ?? 0
        return a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * largest }
    }

    @Test(arguments: configs) func forwardMatchesReference(_ cfg: ConvolutionKernel.Config) {
        let g = cfg.geometry
        let x = Self.values(cfg.batch * g.channels * g.inputArea, seed: 1)
        let w = Self.values(cfg.outputs * g.patchSize / cfg.groups, seed: 2)
        let b = Self.values(cfg.outputs, seed: 3)
        for threads in [1, 2] {
            for level in Self.levels {
                #expect(Self.close(Self.forward(cfg, x: x, w: w, b: b, threads: threads, level: level), ConvolutionKernel.reference(cfg, input: x, weight: w, bias: b)),
                        "\(cfg) threads \(threads) \(level)")
                #expect(Self.close(Self.forward(cfg, x: x, w: w, b: nil, threads: threads, level: level), ConvolutionKernel.reference(cfg, input: x, weight: w, bias: nil)),
                        "\(cfg) threads \(threads) \(level), no bias")
            }
        }
    }

    /// The C forward kernels against im2col and the own GEMM kernel at the same level, bit for
    /// bit. Direct convolution (from AVX2): tiles of 1 to 3 output channels, 1 to 3 vectors of
    /// columns with tails, rows wider than a tile (30 columns), patches up to 32 floats; from
    /// AVX-512, tiles of up to 12 channels (20 as 10 + 10, 13 as 7 + 6) and 16-column vectors
    /// whose partial last one is stored whole where its spill lands on the next output row
    /// (written after) and under its mask on the last row or where the spill would pass the
    /// next row (5 columns); a deliberately unmasked version crashed this test. Rows of
    /// eight (from AVX2): tiles of 1 to 12 (AVX-512) or 6 (AVX2) output channels, panels of 1 to
    /// 4 or 2 output rows. With and without bias, on one thread or two.
    @Test(arguments: [
        (config(n: 3, c: 1, h: 28, w: 28, outputs: 20, kh: 5, kw: 5), .direct),  // LeNet's conv1
        (config(n: 2, c: 1, h: 5, w: 5, outputs: 1, kh: 5, kw: 5), .direct),  // one output
        (config(n: 2, c: 2, h: 9, w: 11, outputs: 3, kh: 3, kw: 3), .direct),  // 9 columns: 8 + a tail of 1
        (config(n: 1, c: 3, h: 6, w: 19, outputs: 7, kh: 3, kw: 3), .direct),  // 17 columns, 27-float patch
        (config(n: 2, c: 1, h: 4, w: 32, outputs: 6, kh: 2, kw: 3), .direct),  // 30 columns: a tile of 24, then 6
        (config(n: 1, c: 2, h: 3, w: 8, outputs: 9, kh: 1, kw: 1), .direct),  // 1×1 window, exactly 8 columns
        (config(n: 2, c: 1, h: 6, w: 40, outputs: 13, kh: 3, kw: 5), .direct),  // 36 columns: a tile of 32, then 4
        (config(n: 2, c: 1, h: 7, w: 7, outputs: 13, kh: 3, kw: 3), .direct),  // 5 columns: a spill past the next row
        (config(n: 3, c: 20, h: 12, w: 12, outputs: 50, kh: 5, kw: 5), .implicit8),  // LeNet's conv2: 5 tiles of 10, 2 panels of 4 rows
        (config(n: 2, c: 4, h: 11, w: 10, outputs: 13, kh: 3, kw: 3), .implicit8),  // 9 output rows: 4 + 4 + 1; tiles of 7 and 6
        (config(n: 1, c: 4, h: 7, w: 12, outputs: 1, kh: 2, kw: 5), .implicit8),  // 6 rows: 4 + 2; one output
        (config(n: 1, c: 9, h: 5, w: 11, outputs: 12, kh: 3, kw: 4), .implicit8),  // 3 rows; one tile of 12
    ] as [(ConvolutionKernel.Config, ConvolutionKernel.Config.ForwardPath)])
    func cKernelsMatchIm2colBitForBit(_ cfg: ConvolutionKernel.Config, path: ConvolutionKernel.Config.ForwardPath) {
        guard SmallGEMM.supported >= .avx2 else { return }
        var viaColumns = cfg
        viaColumns.im2colOnly = true
        #expect(viaColumns.forwardPath == .im2col)
        let g = cfg.geometry
        let x = Self.values(cfg.batch * g.channels * g.inputArea, seed: 4)
        let w = Self.values(cfg.outputs * g.patchSize, seed: 5), b = Self.values(cfg.outputs, seed: 6)
        for level in Self.levels where level >= .avx2 {
            var atLevel = cfg
            atLevel.kernels = level
            #expect(atLevel.forwardPath == path, "\(cfg) at \(level)")
            for threads in [1, 2] {
                for bias in [b, nil] {
                    let fast = Self.forward(cfg, x: x, w: w, b: bias, threads: threads, level: level)
                    let columns = Self.forward(viaColumns, x: x, w: w, b: bias, threads: threads, level: level)
                    #expect(fast.map(\.bitPattern) == columns.map(\.bitPattern), "\(cfg) \(level) threads \(threads) bias \(bias != nil)")
                }
            }
        }
    }

    /// Backward's weight gradient from the transposed unfolding and Dendrite's kernel
    /// (`weightGradientFromRows`, from AVX-512) against OpenBLAS on im2col's columns: runs of
    /// 1, 5, 9 and 17 floats (a run of 16 and a tail), 45 and 500 columns of dW (panels of 32 with
    /// tails), several chunks per worker, 1 and 2 threads, dW and db accumulated onto 0.5. db
    /// does not depend on the level (bit for bit); dx is Wᵀ·dR at each level (own kernel against
    /// OpenBLAS). Also im2row itself against im2col, bit for bit, on an image whose last float
    /// lies just before a page that may not be read (PROT_NONE): im2row loads whole vectors,
    /// past the run, wherever it stores whole ones (conv.c shows that those stay inside the
    /// image), and a load past the image would crash the test.
    @Test(arguments: [
        config(n: 5, c: 1, h: 28, w: 28, outputs: 20, kh: 5, kw: 5),  // LeNet's conv1
        config(n: 3, c: 20, h: 12, w: 12, outputs: 50, kh: 5, kw: 5),  // LeNet's conv2
        config(n: 3, c: 3, h: 9, w: 11, outputs: 7, kh: 3, kw: 5),
        config(n: 2, c: 2, h: 4, w: 20, outputs: 3, kh: 2, kw: 17),
        config(n: 9, c: 16, h: 16, w: 16, outputs: 5, kh: 1, kw: 1),
        config(n: 2, c: 1, h: 6, w: 30, outputs: 2, kh: 1, kw: 9),  // one run per row: a stored-whole 16 would spill
        config(n: 2, c: 2, h: 3, w: 3, outputs: 1, kh: 3, kw: 3),  // the kernel covers the image
    ])
    func weightGradientFromRowsMatchesOpenBLAS(_ base: ConvolutionKernel.Config) throws {
        guard SmallGEMM.supported >= .avx512 else { return }
        let g = base.geometry
        let x = Self.values(base.batch * g.channels * g.inputArea, seed: 21)
        let w = Self.values(base.outputs * g.patchSize, seed: 22)
        let dy = Self.values(base.batch * base.outputs * g.outputArea, seed: 23)
        for threads in [1, 2] {
            var fast = Self.planned(base, threads: threads), plain = fast
            fast.chunk = 2  // several chunks per worker
            plain.chunk = 2
            fast.kernels = .avx512  // also under DENDRITE_KERNELS=avx2 (scripts/check-kernels)
            plain.kernels = .plain
            #expect(fast.weightGradientFromRows && !plain.weightGradientFromRows)
            let a = Self.backward(fast, x: x, w: w, dy: dy, parallel: Parallel(threads: threads), accumulate: true, prior: 0.5)
            let b = Self.backward(plain, x: x, w: w, dy: dy, parallel: Parallel(threads: threads), accumulate: true, prior: 0.5)
            #expect(Self.closeToLargest(a.dW, b.dW, tolerance: 1e-5), "dW \(base) threads \(threads)")
            #expect(a.db == b.db, "db \(base) threads \(threads)")
            #expect(Self.closeToLargest(a.dx, b.dx, tolerance: 1e-5), "dx \(base) threads \(threads)")
        }
        // rows [P, K] = colᵀ, bit for bit, for the last image, placed right before the
        // unreadable page, and nothing written past the rows (its stores spill past a run only
        // inside a row).
        let k = g.patchSize, area = g.outputArea, guardCount = 16, size = g.channels * g.inputArea
        let page = Int(sysconf(Int32(_SC_PAGESIZE))), bytes = (size * 4 + page - 1) / page * page
        let mapping = try #require(mmap(nil, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(mapping, bytes + page) }
        #expect(mprotect(mapping + bytes, page, PROT_NONE) == 0)
        let image = (mapping + bytes - size * 4).bindMemory(to: Float.self, capacity: size)
        for i in 0..<size { image[i] = x[(base.batch - 1) * size + i] }
        var col = [Float](repeating: .nan, count: k * area), rows = [Float](repeating: -7, count: k * area + guardCount)
        Im2col.im2col(g, image: image, col: &col, ldcol: area, colOffset: 0)
        ConvolutionKernel.unfoldRows(base, input: FloatView(image, shape: Shape([1, g.channels, g.height, g.width])), first: 0, n: 1,
                                     into: &rows)
        var transposed = [Float](repeating: 0, count: k * area)
        for r in 0..<k { for p in 0..<area { transposed[p * k + r] = col[r * area + p] } }
        #expect(rows[..<(k * area)].map(\.bitPattern) == transposed.map(\.bitPattern), "im2row \(base)")
        #expect(rows[(k * area)...].allSatisfy { $0 == -7 }, "im2row wrote past its rows \(base)")
    }

    @Test func referenceByHand() {
        // 1×1×3×3 = 1…9, kernel 2×2 = (1, 0, 0, 1) (the diagonal), bias 1: x[i, j] + x[i+1, j+1] + 1
        // → 1+5+1 = 7, 2+6+1 = 9, 4+8+1 = 13, 5+9+1 = 15
        let cfg = Self.config(n: 1, c: 1, h: 3, w: 3, outputs: 1, kh: 2, kw: 2)
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        #expect(ConvolutionKernel.reference(cfg, input: x, weight: [1, 0, 0, 1], bias: [1]) == [7, 9, 13, 15])
        #expect(Self.close(Self.forward(cfg, x: x, w: [1, 0, 0, 1], b: [1], threads: 1), [7, 9, 13, 15]))
    }

    @Test func dilatedReferenceByHand() {
        // 1×1×4×4 = 1…16, kernel 2×2 = (1, 2, 0, −1) with dilation 2: the taps sit two apart, so the window
        // spans 3×3 and OH = OW = (4 − 3) + 1 = 2; y[i, j] = x[i, j] + 2·x[i, j+2] − x[i+2, j+2] + 0.5:
        // (0,0): 1 + 6 − 11 + 0.5 = −3.5   (0,1): 2 + 8 − 12 + 0.5 = −1.5
        // (1,0): 5 + 14 − 15 + 0.5 = 4.5   (1,1): 6 + 16 − 16 + 0.5 = 6.5
        let cfg = Self.config(n: 1, c: 1, h: 4, w: 4, outputs: 1, kh: 2, kw: 2, dh: 2, dw: 2)
        #expect(cfg.geometry.outH == 2 && cfg.geometry.outW == 2)
        let x = (1...16).map(Float.init), w: [Float] = [1, 2, 0, -1]
        #expect(ConvolutionKernel.reference(cfg, input: x, weight: w, bias: [0.5]) == [-3.5, -1.5, 4.5, 6.5])
        #expect(Self.close(Self.forward(cfg, x: x, w: w, b: [0.5], threads: 1), [-3.5, -1.5, 4.5, 6.5]))
    }

    @Test func scratchMayHoldGarbage() {
        // The scratch is shared with other layers: NaN left in it must not leak into the output.
        let cfg = Self.configs[3]
        let g = cfg.geometry
        let x = Self.values(cfg.batch * g.channels * g.inputArea, seed: 4)
        let w = Self.values(cfg.outputs * g.patchSize / cfg.groups, seed: 5)
        #expect(Self.close(Self.forward(cfg, x: x, w: w, b: nil, threads: 2, scratchFill: .nan),
                           ConvolutionKernel.reference(cfg, input: x, weight: w, bias: nil)))
    }

    /// Backward as the adjoint of forward: with y = conv(x; W) + b and any dy,
    /// ⟨dy, y(x) − b⟩ = ⟨dx, x⟩ = ⟨dW, W⟩ (y is linear in x and in W), and db[o] = Σ dy[·, o, ·].
    @Test(arguments: [configs[2], configs[3], configs[4], configs[6], configs[7], configs[8], configs[9], configs[10], configs[11]], levels)
    func backwardIsTheAdjoint(_ base: ConvolutionKernel.Config, level: SmallGEMM.Level) {
        var cfg = Self.planned(base, threads: 2)
        cfg.kernels = level
        let g = cfg.geometry
        let x = Self.values(cfg.batch * g.channels * g.inputArea, seed: 6)
        let w = Self.values(cfg.outputs * g.patchSize / cfg.groups, seed: 7)
        let dyValues = Self.values(cfg.batch * cfg.outputs * g.outputArea, seed: 8)
        let y = ConvolutionKernel.reference(cfg, input: x, weight: w, bias: nil)
        var dyDotY = 0.0
        for (a, b) in zip(dyValues, y) { dyDotY += Double(a) * Double(b) }

        let input = Tensor(shape: Shape([cfg.batch, g.channels, g.height, g.width]), values: x)
        let weight = Tensor(shape: Shape([cfg.outputs, g.channels / cfg.groups, g.kernelH, g.kernelW]), values: w)
        let dy = Tensor(shape: Shape([cfg.batch, cfg.outputs, g.outH, g.outW]), values: dyValues)
        let dW = Tensor(shape: weight.shape), db = Tensor(shape: Shape([cfg.outputs]))
        let dx = Tensor(shape: Shape([cfg.batch, g.channels, g.height, g.width]))
        dx.view.fill(.nan)  // overwritten, not accumulated
        let scratch = Tensor(shape: Shape([cfg.scratchPerWorker * 2]))
        scratch.view.fill(.nan)  // the partial sums must not start from what was there
        withExtendedLifetime((input, weight, dy, dW, db, dx, scratch)) {
            ConvolutionKernel.backward(cfg, input: input.view, outputGrad: dy.view, weight: weight.view, weightGrad: dW.view,
                                       biasGrad: db.view, inputGrad: dx.view, accumulateInput: false,
                                       scratch: scratch.view, parallel: Parallel(threads: 2))
        }
        var dxDotX = 0.0, dWDotW = 0.0
        for (a, b) in zip(dx.values, x) { dxDotX += Double(a) * Double(b) }
        for (a, b) in zip(dW.values, w) { dWDotW += Double(a) * Double(b) }
        let scale = max(1, abs(dyDotY))
        #expect(abs(dxDotX - dyDotY) <= 1e-4 * scale, "⟨dx, x⟩ \(dxDotX) vs ⟨dy, y⟩ \(dyDotY)")
        #expect(abs(dWDotW - dyDotY) <= 1e-4 * scale, "⟨dW, W⟩ \(dWDotW) vs ⟨dy, y⟩ \(dyDotY)")
        var expectedDb = [Float](repeating: 0, count: cfg.outputs)
        for n in 0..<cfg.batch {
            for o in 0..<cfg.outputs {
                for p in 0..<g.outputArea { expectedDb[o] += dyValues[(n * cfg.outputs + o) * g.outputArea + p] }
            }
        }
        #expect(Self.close(db.values, expectedDb))
    }

    /// A backward run whose workers walk several chunks, with the chunk it is expected to plan.
    struct ChunkedCase: Sendable, CustomStringConvertible {
        var config: ConvolutionKernel.Config
        var threads: Int
        var chunk: Int
        var description: String {
            let g = config.geometry
            return "N\(config.batch) C\(g.channels) \(g.height)×\(g.width) → \(config.outputs), k \(g.kernelH)×\(g.kernelW) "
                + "s \(g.strideH)×\(g.strideW) p \(g.padH)×\(g.padW) g\(config.groups), \(threads) threads, chunk \(chunk)"
        }
    }

    /// chunk = min(⌈N / threads⌉, columnBudget / (C·kh·kw·OH·OW)), columnBudget = 32 768.
    static let chunkedCases: [ChunkedCase] = [
        // 144·64 = 9 216 floats per image → 3 per chunk; 4 images per worker: chunks of 3 and 1 on each.
        ChunkedCase(config: config(n: 8, c: 16, h: 8, w: 8, outputs: 8, kh: 3, kw: 3, ph: 1, pw: 1), threads: 2, chunk: 3),
        // The same on one thread: chunks of 3, 3 and 2.
        ChunkedCase(config: config(n: 8, c: 16, h: 8, w: 8, outputs: 8, kh: 3, kw: 3, ph: 1, pw: 1), threads: 1, chunk: 3),
        // Grouped; worker 0 takes 4 images (chunks of 3 and 1), worker 1 takes 3 (one chunk).
        ChunkedCase(config: config(n: 7, c: 16, h: 8, w: 8, outputs: 8, kh: 3, kw: 3, ph: 1, pw: 1, groups: 2), threads: 2, chunk: 3),
        // 9·88·88 = 69 696 floats per image → 1 per chunk; workers take 2 and 1 images. Pad 0, stride 1:
        // col2im's row-addition path.
        ChunkedCase(config: config(n: 3, c: 1, h: 90, w: 90, outputs: 2, kh: 3, kw: 3), threads: 2, chunk: 1),
        // Three workers over 5 images: 2, 2 and 1 chunks of one image.
        ChunkedCase(config: config(n: 5, c: 1, h: 90, w: 90, outputs: 2, kh: 3, kw: 3), threads: 3, chunk: 1),
        // Stride 2, pad 0: 128·64 = 8 192 floats per image → 4 per chunk; one thread walks chunks of 4 and 2.
        ChunkedCase(config: config(n: 6, c: 8, h: 18, w: 18, outputs: 4, kh: 4, kw: 4, sh: 2, sw: 2), threads: 1, chunk: 4),
    ]

    /// Runs `ConvolutionKernel.backward` on fresh buffers: dW and db start at `prior` (backward adds
    /// to them), dx at `prior` when accumulating and at NaN otherwise, the scratch at NaN.
    static func backward(_ cfg: ConvolutionKernel.Config, x: [Float], w: [Float], dy: [Float], parallel: Parallel,
                         accumulate: Bool = false, prior: Float = 0) -> (dW: [Float], db: [Float], dx: [Float]) {
        let g = cfg.geometry
        let input = Tensor(shape: Shape([cfg.batch, g.channels, g.height, g.width]), values: x)
        let weight = Tensor(shape: Shape([cfg.outputs, g.channels / cfg.groups, g.kernelH, g.kernelW]), values: w)
        let outputGrad = Tensor(shape: Shape([cfg.batch, cfg.outputs, g.outH, g.outW]), values: dy)
        let dW = Tensor(shape: weight.shape), db = Tensor(shape: Shape([cfg.outputs])), dx = Tensor(shape: input.shape)
        dW.view.fill(prior)
        db.view.fill(prior)
        dx.view.fill(accumulate ? prior : .nan)
        let scratch = Tensor(shape: Shape([cfg.scratchPerWorker * parallel.threads]))
        scratch.view.fill(.nan)
        withExtendedLifetime((input, weight, outputGrad, dW, db, dx, scratch)) {
            ConvolutionKernel.backward(cfg, input: input.view, outputGrad: outputGrad.view, weight: weight.view, weightGrad: dW.view,
                                       biasGrad: db.view, inputGrad: dx.view, accumulateInput: accumulate,
                                       scratch: scratch.view, parallel: parallel)
        }
        return (dW.values, db.values, dx.values)
    }

    // Several chunks per worker: worker w takes images Parallel.chunk(w, of: threads, count: N) and walks them
    // `chunk` at a time; here chunk < ⌈N / threads⌉, so the partial dW and db carry over from chunk to chunk.
    @Test(arguments: chunkedCases) func backwardOverSeveralChunksPerWorker(_ c: ChunkedCase) throws {
        let cfg = Self.planned(c.config, threads: c.threads), g = cfg.geometry
        #expect(cfg.chunk == c.chunk)
        let perWorker = (cfg.batch + c.threads - 1) / c.threads
        try #require(cfg.chunk < perWorker, "chunk \(cfg.chunk) covers the \(perWorker) images of a worker")
        let x = Self.values(cfg.batch * g.channels * g.inputArea, seed: 11)
        let w = Self.values(cfg.outputs * g.patchSize / cfg.groups, seed: 12)
        let dy = Self.values(cfg.batch * cfg.outputs * g.outputArea, seed: 13)

        let chunked = Self.backward(cfg, x: x, w: w, dy: dy, parallel: Parallel(threads: c.threads))
        // The same computation on one thread, as one chunk of the whole batch.
        var whole = cfg
        whole.chunk = cfg.batch
        let single = Self.backward(whole, x: x, w: w, dy: dy, parallel: .serial)
        // Dendrite's kernel (from AVX-512, `weightGradientFromRows`) sums each dW over the chunk's
        // k in one chain: 5 chunks of 7 744 terms against one of 38 720 differ by ~1e-4 where
        // they cancel to near zero, ~2e-6 of the largest.
        #expect(Self.closeToLargest(chunked.dW, single.dW, tolerance: 1e-5), "dW \(c)")
        #expect(Self.close(chunked.db, single.db), "db \(c)")
        #expect(Self.close(chunked.dx, single.dx), "dx \(c)")

        // Independently of the kernel's own GEMMs: backward is the adjoint of the direct convolution
        // (⟨dx, x⟩ = ⟨dW, W⟩ = ⟨dy, y⟩ without bias), and db[o] = Σ dy[·, o, ·].
        let y = ConvolutionKernel.reference(cfg, input: x, weight: w, bias: nil)
        func dot(_ a: [Float], _ b: [Float]) -> Double {
            var sum = 0.0
            for (u, v) in zip(a, b) { sum += Double(u) * Double(v) }
            return sum
        }
        let dyDotY = dot(dy, y), scale = max(1, abs(dyDotY))
        #expect(abs(dot(chunked.dx, x) - dyDotY) <= 1e-4 * scale, "⟨dx, x⟩ \(dot(chunked.dx, x)) vs ⟨dy, y⟩ \(dyDotY), \(c)")
        #expect(abs(dot(chunked.dW, w) - dyDotY) <= 1e-4 * scale, "⟨dW, W⟩ \(dot(chunked.dW, w)) vs ⟨dy, y⟩ \(dyDotY), \(c)")
        var expectedDb = [Float](repeating: 0, count: cfg.outputs)
        for n in 0..<cfg.batch {
            for o in 0..<cfg.outputs {
                for p in 0..<g.outputArea { expectedDb[o] += dy[(n * cfg.outputs + o) * g.outputArea + p] }
            }
        }
        #expect(Self.close(chunked.db, expectedDb), "db \(c)")

        // Accumulating: dx, dW and db all add onto what they held.
        let added = Self.backward(cfg, x: x, w: w, dy: dy, parallel: Parallel(threads: c.threads), accumulate: true, prior: 0.5)
        #expect(Self.close(added.dW, chunked.dW.map { $0 + 0.5 }), "accumulated dW \(c)")
        #expect(Self.close(added.db, chunked.db.map { $0 + 0.5 }), "accumulated db \(c)")
        #expect(Self.close(added.dx, chunked.dx.map { $0 + 0.5 }), "accumulated dx \(c)")
    }

    /// Deconvolution is the convolution run backwards: with the deconvolution's input x laid out as the
    /// convolution's output [N, OC, OH, OW] and its output as the convolution's input [N, C, H, W],
    /// its forward is the convolution's input gradient for output gradient x (plus a bias per channel C),
    /// and its backward for output gradient dy is the convolution's forward of dy (dx), the convolution's
    /// weight gradient for input dy and output gradient x (dW), and db[c] = Σ dy[·, c, ·]. Each is checked
    /// against those other entry points, on one and two threads; configs 7 and 8 walk several chunks.
    @Test(arguments: [configs[2], configs[3], configs[4], configs[6], configs[7], configs[8], configs[9], configs[10], configs[11]])
    func deconvolutionIsConvolutionBackwards(_ base: ConvolutionKernel.Config) {
        let g = base.geometry
        let x = Self.values(base.batch * base.outputs * g.outputArea, seed: 17)
        let w = Self.values(base.outputs * g.patchSize / base.groups, seed: 18)
        let b = Self.values(g.channels, seed: 19)
        let dyValues = Self.values(base.batch * g.channels * g.inputArea, seed: 20)
        let prior = Self.values(base.batch * base.outputs * g.outputArea, seed: 21)

        // The expectations, from the convolution's own entry points on one thread.
        let convBackward = Self.backward(base, x: dyValues, w: w, dy: x, parallel: .serial)
        var expectedY = convBackward.dx
        for i in expectedY.indices { expectedY[i] += b[(i / g.inputArea) % g.channels] }
        let expectedDx = ConvolutionKernel.reference(base, input: dyValues, weight: w, bias: nil)
        var expectedDb = [Float](repeating: 0, count: g.channels)
        for i in dyValues.indices { expectedDb[(i / g.inputArea) % g.channels] += dyValues[i] }

        for threads in [1, 2] {
            let cfg = Self.planned(base, threads: threads), parallel = Parallel(threads: threads)
            let input = Tensor(shape: Shape([cfg.batch, cfg.outputs, g.outH, g.outW]), values: x)
            let weight = Tensor(shape: Shape([cfg.outputs, g.channels / cfg.groups, g.kernelH, g.kernelW]), values: w)
            let bias = Tensor(shape: Shape([g.channels]), values: b)
            let output = Tensor(shape: Shape([cfg.batch, g.channels, g.height, g.width]))
            output.view.fill(.nan)  // written over
            let outputGrad = Tensor(shape: output.shape, values: dyValues)
            let dW = Tensor(shape: weight.shape), db = Tensor(shape: bias.shape), dx = Tensor(shape: input.shape)
            dW.view.fill(0.5)
            db.view.fill(0.5)
            dx.view.copy(from: prior)
            let scratch = Tensor(shape: Shape([cfg.scratchPerWorker * threads]))
            scratch.view.fill(.nan)
            withExtendedLifetime((input, weight, bias, output, outputGrad, dW, db, dx, scratch)) {
                ConvolutionKernel.deconvolutionForward(cfg, input: input.view, weight: weight.view, bias: bias.view,
                                                       output: output.view, scratch: scratch.view, parallel: parallel)
                ConvolutionKernel.deconvolutionBackward(cfg, input: input.view, outputGrad: outputGrad.view, weight: weight.view,
                                                        weightGrad: dW.view, biasGrad: db.view, inputGrad: dx.view,
                                                        accumulateInput: true, scratch: scratch.view, parallel: parallel)
            }
            #expect(Self.close(output.values, expectedY), "y \(cfg) threads \(threads)")
            #expect(Self.close(dx.values, zip(prior, expectedDx).map { $0 + $1 }), "dx \(cfg) threads \(threads)")
            #expect(Self.close(dW.values, convBackward.dW.map { $0 + 0.5 }), "dW \(cfg) threads \(threads)")
            #expect(Self.close(db.values, expectedDb.map { $0 + 0.5 }), "db \(cfg) threads \(threads)")
        }
    }
}

@Suite struct Col2imTests {
    static func geometry(c: Int, h: Int, w: Int, kh: Int, kw: Int, sh: Int = 1) -> WindowGeometry {
        WindowGeometry(channels: c, height: h, width: w, kernelH: kh, kernelW: kw, strideH: sh, strideW: 1,
                       padH: 0, padW: 0, outH: (h - kh) / sh + 1, outW: w - kw + 1)
    }

    /// Pad 0 and horizontal stride 1: the geometries of col2im's row-addition path.
    static let geometries: [WindowGeometry] = [
        geometry(c: 2, h: 5, w: 6, kh: 3, kw: 2),
        geometry(c: 3, h: 7, w: 5, kh: 2, kw: 3, sh: 2),   // a vertical stride keeps the fast path
        geometry(c: 2, h: 6, w: 12, kh: 3, kw: 3),         // rows of 10: eight at a time, then two
        geometry(c: 2, h: 9, w: 20, kh: 3, kw: 4, sh: 3),  // rows of 17, vertical stride 3
        geometry(c: 1, h: 4, w: 4, kh: 1, kw: 1),
        geometry(c: 1, h: 3, w: 3, kh: 3, kw: 3),          // one output position
    ]

    /// col2im by its definition: image[c][oh·sh − ph + i][ow·sw − pw + j] += col[(c·kh + i)·kw + j][colOffset + oh·OW + ow].
    static func naiveCol2im(_ g: WindowGeometry, col: [Float], ldcol: Int, colOffset: Int, onto image: [Float]) -> [Float] {
        var out = image
        for c in 0..<g.channels {
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let row = (c * g.kernelH + i) * g.kernelW + j
                    for y in 0..<g.outH {
                        for x in 0..<g.outW {
                            let iy = y * g.strideH - g.padH + i, ix = x * g.strideW - g.padW + j
                            guard iy >= 0, iy < g.height, ix >= 0, ix < g.width else { continue }
                            out[(c * g.height + iy) * g.width + ix] += col[row * ldcol + colOffset + y * g.outW + x]
                        }
                    }
                }
            }
        }
        return out
    }

    /// From AVX-512, rows of at most 16 fold in C (`dk_col2im16`, one vector per image row): the
    /// same bits as the Swift row additions, written or accumulated, −0 and NaN included, and
    /// nothing written outside the images. LeNet's conv2 (channels in blocks of 4), 6 channels
    /// (a block and 2 left), rows of 1, 6, 9, 13 and 16, kernels from 1×1 to the whole image.
    @Test(arguments: [
        ConvolutionKernelTests.config(n: 3, c: 20, h: 12, w: 12, outputs: 50, kh: 5, kw: 5),
        ConvolutionKernelTests.config(n: 2, c: 6, h: 6, w: 9, outputs: 1, kh: 3, kw: 4),
        ConvolutionKernelTests.config(n: 2, c: 2, h: 5, w: 6, outputs: 1, kh: 3, kw: 2),
        ConvolutionKernelTests.config(n: 2, c: 1, h: 4, w: 1, outputs: 1, kh: 1, kw: 1),
        ConvolutionKernelTests.config(n: 2, c: 3, h: 7, w: 13, outputs: 1, kh: 2, kw: 5),
        ConvolutionKernelTests.config(n: 2, c: 2, h: 5, w: 16, outputs: 1, kh: 2, kw: 3),
        ConvolutionKernelTests.config(n: 2, c: 1, h: 3, w: 3, outputs: 1, kh: 3, kw: 3),
    ])
    func rowsInCMatchSwift(_ base: ConvolutionKernel.Config) {
        guard SmallGEMM.supported >= .avx512 else { return }
        var fast = base, plain = base
        fast.kernels = .avx512
        plain.kernels = .plain
        #expect(fast.foldsRowsInC && !plain.foldsRowsInC)
        let g = base.geometry, n = base.batch, area = g.outputArea, imageSize = g.channels * g.inputArea
        let special: [Float] = [-0.0, .nan, 0]
        let col = ConvolutionKernelTests.values(g.patchSize * n * area, seed: 41).enumerated().map { $0.offset % 37 < 3 ? special[$0.offset % 37] : $0.element }
        let prior = ConvolutionKernelTests.values(n * imageSize + 1, seed: 42).enumerated().map { $0.offset % 11 == 0 ? -0.0 : $0.element }
        for accumulate in [false, true] {
            var results: [[UInt32]] = []
            for cfg in [plain, fast] {
                let image = Tensor(shape: Shape([n * imageSize + 1]), values: accumulate ? prior : [Float](repeating: .nan, count: n * imageSize) + [prior.last!])
                col.withUnsafeBufferPointer { c in
                    ConvolutionKernel.fold(cfg, col: c.baseAddress!, first: 0, n: n, into: image.view, accumulate: accumulate)
                }
                #expect(image.values.last!.bitPattern == prior.last!.bitPattern, "wrote past the images")
                results.append(image.values.map(\.bitPattern))
            }
            #expect(results[0] == results[1], "\(g), accumulate \(accumulate)")
        }
    }

    // The fast path is taken when padH == 0 && padW == 0 && strideW == 1 (any strideH).
    @Test(arguments: geometries) func withoutPaddingMatchesNaive(_ g: WindowGeometry) {
        #expect(g.padH == 0 && g.padW == 0 && g.strideW == 1)
        // Three images side by side in the columns, as the convolution lays out a chunk.
        let images = 3, area = g.outputArea, ldcol = images * area
        let col = ConvolutionKernelTests.values(g.patchSize * ldcol, seed: 31)
        let prior = ConvolutionKernelTests.values(g.channels * g.inputArea, seed: 32)
        for image in 0..<images {
            for accumulate in [false, true] {
                var out = accumulate ? prior : [Float](repeating: .nan, count: prior.count)
                col.withUnsafeBufferPointer { c in
                    out.withUnsafeMutableBufferPointer { o in
                        Im2col.col2im(g, col: c.baseAddress!, ldcol: ldcol, colOffset: image * area, image: o.baseAddress!,
                                      accumulate: accumulate)
                    }
                }
                let expected = Self.naiveCol2im(g, col: col, ldcol: ldcol, colOffset: image * area,
                                                onto: accumulate ? prior : [Float](repeating: 0, count: prior.count))
                #expect(ConvolutionKernelTests.close(out, expected, tolerance: 1e-6), "\(g), image \(image), accumulate \(accumulate)")
            }
        }
    }
}
