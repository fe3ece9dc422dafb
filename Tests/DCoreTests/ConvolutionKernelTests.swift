@testable import DCore
import Testing

@Suite struct ConvolutionKernelTests {
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomStream(seed: seed)
        return (0..<count).map { _ in rng.nextUnitFloat() * 2 - 1 }
    }

    static func config(n: Int, c: Int, h: Int, w: Int, outputs: Int, kh: Int, kw: Int, sh: Int = 1, sw: Int = 1,
                       ph: Int = 0, pw: Int = 0, groups: Int = 1) -> ConvolutionKernel.Config {
        ConvolutionKernel.Config(
            geometry: WindowGeometry(channels: c, height: h, width: w, kernelH: kh, kernelW: kw, strideH: sh, strideW: sw,
                                     padH: ph, padW: pw, outH: (h + 2 * ph - kh) / sh + 1, outW: (w + 2 * pw - kw) / sw + 1),
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
    ]

    /// Runs `ConvolutionKernel.forward` on fresh buffers.
    static func forward(_ base: ConvolutionKernel.Config, x: [Float], w: [Float], b: [Float]?, threads: Int,
                        scratchFill: Float = 0) -> [Float] {
        let cfg = planned(base, threads: threads), g = cfg.geometry
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

    @Test(arguments: configs) func forwardMatchesReference(_ cfg: ConvolutionKernel.Config) {
        let g = cfg.geometry
        let x = Self.values(cfg.batch * g.channels * g.inputArea, seed: 1)
        let w = Self.values(cfg.outputs * g.patchSize / cfg.groups, seed: 2)
        let b = Self.values(cfg.outputs, seed: 3)
        for threads in [1, 2] {
            #expect(Self.close(Self.forward(cfg, x: x, w: w, b: b, threads: threads), ConvolutionKernel.reference(cfg, input: x, weight: w, bias: b)),
                    "\(cfg) threads \(threads)")
            #expect(Self.close(Self.forward(cfg, x: x, w: w, b: nil, threads: threads), ConvolutionKernel.reference(cfg, input: x, weight: w, bias: nil)),
                    "\(cfg) threads \(threads), no bias")
        }
    }

    @Test func referenceByHand() {
        // 1×1×3×3 = 1…9, kernel 2×2 = (1, 0, 0, 1) (the diagonal), bias 1: x[i, j] + x[i+1, j+1] + 1
        // → 1+5+1 = 7, 2+6+1 = 9, 4+8+1 = 13, 5+9+1 = 15
        let cfg = Self.config(n: 1, c: 1, h: 3, w: 3, outputs: 1, kh: 2, kw: 2)
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        #expect(ConvolutionKernel.reference(cfg, input: x, weight: [1, 0, 0, 1], bias: [1]) == [7, 9, 13, 15])
        #expect(Self.close(Self.forward(cfg, x: x, w: [1, 0, 0, 1], b: [1], threads: 1), [7, 9, 13, 15]))
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
    @Test(arguments: [configs[2], configs[3], configs[4], configs[6], configs[7], configs[8]])
    func backwardIsTheAdjoint(_ base: ConvolutionKernel.Config) {
        let cfg = Self.planned(base, threads: 2), g = cfg.geometry
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
}
