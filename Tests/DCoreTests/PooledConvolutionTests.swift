@testable import DCore
import Testing

/// A convolution with the 2×2 max pooling after it run inside it (`ConvolutionKernel.forwardPooled`,
/// `backwardPooled`) against the two run apart (`forward` and `PoolingKernel.maxForward`, then
/// `PoolingKernel.maxBackward` and `backward`): the same bits in the pooled output, its winners
/// and every gradient.
@Suite struct PooledConvolutionTests {
    struct Case: CustomStringConvertible, Sendable {
        var cfg: ConvolutionKernel.Config
        var threads: Int
        var description: String {
            let g = cfg.geometry
            return "\(cfg.batch)×\(g.channels)×\(g.height)×\(g.width) → \(cfg.outputs)×\(g.outH)×\(g.outW), \(threads) threads"
        }
    }

    static func convolution(n: Int, c: Int, h: Int, w: Int, outputs: Int, kh: Int, kw: Int, threads: Int) -> ConvolutionKernel.Config {
        let g = WindowGeometry(channels: c, height: h, width: w, kernelH: kh, kernelW: kw, strideH: 1, strideW: 1, padH: 0, padW: 0,
                               outH: h - kh + 1, outW: w - kw + 1)
        return ConvolutionKernel.Config(geometry: g, outputs: outputs, groups: 1, batch: n, workers: threads)
    }

    static func pooling(_ cfg: ConvolutionKernel.Config) -> WindowGeometry {
        let g = cfg.geometry
        return WindowGeometry(channels: cfg.outputs, height: g.outH, width: g.outW, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2,
                              padH: 0, padW: 0, outH: (g.outH - 2 + 1) / 2 + 1, outW: (g.outW - 2 + 1) / 2 + 1)
    }

    static let cases: [Case] = [1, 2, 3].flatMap { threads in
        [
            // LeNet's conv1 (the direct kernel, 2 images a chunk) and conv2 (rows of eight, 1 a chunk).
            Case(cfg: convolution(n: 7, c: 1, h: 28, w: 28, outputs: 20, kh: 5, kw: 5, threads: threads), threads: threads),
            Case(cfg: convolution(n: 4, c: 20, h: 12, w: 12, outputs: 50, kh: 5, kw: 5, threads: threads), threads: threads),
            // A patch of 27 on 8 columns (direct), and an oblong kernel and image.
            Case(cfg: convolution(n: 3, c: 3, h: 10, w: 10, outputs: 7, kh: 3, kw: 3, threads: threads), threads: threads),
            Case(cfg: convolution(n: 5, c: 2, h: 9, w: 13, outputs: 4, kh: 2, kw: 4, threads: threads), threads: threads),
        ]
    }

    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = RandomStream(seed: seed)
        // Steps of 1/8 make ties in the pooling windows, whose winner must be the same.
        return (0..<count).map { _ in Float(Int(rng.next() % 17) - 8) / 8 }
    }

    struct Results {
        var pooled: [UInt32], argmax: [Int32], dW: [UInt32], db: [UInt32], dx: [UInt32]
    }

    /// Forward and backward with the pooling inside (`fused`) or apart; the outputs and the
    /// scratch start as NaN, dW and db at 0.5 (backward adds to them), dx at 0.25 when
    /// accumulating.
    static func run(_ c: Case, level: SmallGEMM.Level, fused: Bool, accumulate: Bool) -> Results {
        var cfg = c.cfg
        cfg.kernels = level
        let g = cfg.geometry, pool = pooling(cfg), parallel = Parallel(threads: c.threads)
        let n = cfg.batch, pooledCount = n * cfg.outputs * pool.outputArea
        let input = Tensor(shape: Shape([n, g.channels, g.height, g.width]), values: values(n * g.channels * g.inputArea, seed: 1))
        let weight = Tensor(shape: Shape([cfg.outputs, g.channels, g.kernelH, g.kernelW]),
                            values: values(cfg.outputs * g.patchSize, seed: 2))
        let bias = Tensor(shape: Shape([cfg.outputs]), values: values(cfg.outputs, seed: 3))
        let pooledGrad = Tensor(shape: Shape([pooledCount]), values: values(pooledCount, seed: 4))
        let output = Tensor(shape: Shape([n, cfg.outputs, g.outH, g.outW])), outputGrad = Tensor(shape: output.shape)
        let pooled = Tensor(shape: Shape([pooledCount])), scratch = Tensor(shape: Shape([cfg.scratchPerWorker * c.threads]))
        let dW = Tensor(shape: weight.shape), db = Tensor(shape: bias.shape), dx = Tensor(shape: input.shape)
        let argmax = Arena<Int32>(count: pooledCount), winners = argmax.view(offset: 0, shape: Shape([pooledCount]))
        for t in [output, outputGrad, pooled, scratch] { t.view.fill(.nan) }
        dW.view.fill(0.5); db.view.fill(0.5); dx.view.fill(accumulate ? 0.25 : .nan)
        winners.fill(-1)
        withExtendedLifetime((input, weight, bias, pooledGrad, output, outputGrad, pooled, scratch, dW, db, dx, argmax)) {
            if fused {
                ConvolutionKernel.forwardPooled(cfg, pool: pool, input: input.view, weight: weight.view, bias: bias.view,
                                                pooled: pooled.view, argmax: winners, scratch: scratch.view, parallel: parallel)
                ConvolutionKernel.backwardPooled(cfg, pool: pool, input: input.view, pooledGrad: pooledGrad.view, argmax: winners,
                                                 weight: weight.view, weightGrad: dW.view, biasGrad: db.view, inputGrad: dx.view,
                                                 accumulateInput: accumulate, scratch: scratch.view, parallel: parallel)
            } else {
                ConvolutionKernel.forward(cfg, input: input.view, weight: weight.view, bias: bias.view, output: output.view,
                                          scratch: scratch.view, parallel: parallel)
                PoolingKernel.maxForward(pool, planes: n * cfg.outputs, input: output.view, output: pooled.view, argmax: winners,
                                         parallel: parallel, kernels: level)
                PoolingKernel.maxBackward(pool, planes: n * cfg.outputs, outputGrad: pooledGrad.view, argmax: winners,
                                          inputGrad: outputGrad.view, accumulate: false, parallel: parallel)
                ConvolutionKernel.backward(cfg, input: input.view, outputGrad: outputGrad.view, weight: weight.view,
                                           weightGrad: dW.view, biasGrad: db.view, inputGrad: dx.view, accumulateInput: accumulate,
                                           scratch: scratch.view, parallel: parallel)
            }
        }
        let bits = { (t: Tensor) in t.values.map(\.bitPattern) }
        return Results(pooled: bits(pooled), argmax: (0..<pooledCount).map { argmax.base[$0] }, dW: bits(dW), db: bits(db), dx: bits(dx))
    }

    /// The levels with C convolution kernels that this CPU runs.
    static let levels = SmallGEMM.Level.allCases.filter { $0 >= .avx2 && $0 <= SmallGEMM.supported }

    @Test(arguments: cases) func pooledInsideIsPooledAfter(_ c: Case) {
        for level in Self.levels {
            var cfg = c.cfg
            cfg.kernels = level
            #expect(cfg.poolsInPlace(Self.pooling(cfg)), "\(c), \(level)")
            for accumulate in [false, true] {
                let apart = Self.run(c, level: level, fused: false, accumulate: accumulate)
                let inside = Self.run(c, level: level, fused: true, accumulate: accumulate)
                let differing = [("pooled", inside.pooled == apart.pooled), ("argmax", inside.argmax == apart.argmax),
                                 ("dW", inside.dW == apart.dW), ("db", inside.db == apart.db), ("dx", inside.dx == apart.dx)]
                    .filter { !$0.1 }.map(\.0)
                #expect(differing.isEmpty, "\(c), \(level), accumulating: \(accumulate): \(differing) differ")
                #expect(!apart.dx.contains(Float.nan.bitPattern) && !apart.dW.contains(Float.nan.bitPattern))
            }
        }
    }

    @Test func onlyWhatTheKernelsTake() {
        let lenet = Self.convolution(n: 2, c: 1, h: 28, w: 28, outputs: 20, kh: 5, kw: 5, threads: 1)
        var plain = lenet, im2col = lenet, odd = Self.convolution(n: 2, c: 1, h: 27, w: 28, outputs: 4, kh: 5, kw: 5, threads: 1)
        plain.kernels = .plain
        im2col.im2colOnly = true
        var pool = Self.pooling(lenet)
        #expect(lenet.poolsInPlace(pool) == (min(SmallGEMM.level, SmallGEMM.supported) >= .avx2))
        #expect(!plain.poolsInPlace(pool) && !im2col.poolsInPlace(pool))
        #expect(!odd.poolsInPlace(Self.pooling(odd)), "23 rows: the last window would be partial")
        odd = lenet
        pool.strideW = 1
        #expect(!odd.poolsInPlace(pool))
    }
}
