/// Convolution as im2col + GEMM, over chunks of a few images at a time.
///
/// Shapes: input [N, C, H, W]; weight [OC, C/G, kh, kw]; bias [OC]; output [N, OC, OH, OW];
/// P = OH·OW output positions per image, K = C·kh·kw rows of the column matrix.
///
/// Each worker thread takes a contiguous run of images and walks it in chunks of `chunk`
/// images, so that the column matrix of a chunk ([K, chunk·P]) stays in cache and the GEMMs
/// are still wide. Nothing is kept between forward and backward: backward unfolds the input
/// again, which costs less than keeping the columns of a whole batch in memory. Per worker,
/// the scratch holds the columns, the GEMM result [OC, chunk·P] and partial dW and db, which
/// are added up in worker order at the end, so results depend on the thread count only
/// through summation order.
public enum ConvolutionKernel {
    public struct Config: Sendable, Equatable {
        public var geometry: WindowGeometry
        public var outputs: Int
        public var groups: Int
        public var batch: Int
        /// Images per chunk.
        public var chunk: Int

        /// About 128k floats (512 KB) of columns per chunk, well inside the L2 cache of one core.
        public static let columnBudget = 1 << 17

        public init(geometry: WindowGeometry, outputs: Int, groups: Int, batch: Int, workers: Int) {
            self.geometry = geometry; self.outputs = outputs; self.groups = groups; self.batch = batch
            let perImage = max(1, geometry.patchSize * geometry.outputArea)
            let perWorker = (batch + max(workers, 1) - 1) / max(workers, 1)
            chunk = max(1, min(perWorker, Self.columnBudget / perImage))
        }

        var columnCount: Int { geometry.patchSize * chunk * geometry.outputArea }
        var resultCount: Int { outputs * chunk * geometry.outputArea }
        var weightCount: Int { outputs * geometry.patchSize / groups }
        /// Scratch floats one worker needs.
        public var scratchPerWorker: Int { columnCount + resultCount + weightCount + outputs }
    }

    /// One worker's part of the scratch.
    struct WorkerScratch {
        let col, result, weightGrad, biasGrad: UnsafeMutablePointer<Float>

        init(_ cfg: Config, _ scratch: FloatView, worker: Int) {
            let base = scratch.base + worker * cfg.scratchPerWorker
            precondition((worker + 1) * cfg.scratchPerWorker <= scratch.count, "convolution scratch too small for this many threads")
            col = base
            result = base + cfg.columnCount
            weightGrad = result + cfg.resultCount
            biasGrad = weightGrad + cfg.weightCount
        }
    }

    /// Unfolds images `first ..< first + n` side by side into `col` [K, n·P].
    static func unfold(_ cfg: Config, input: FloatView, first: Int, n: Int, into col: UnsafeMutablePointer<Float>) {
        let g = cfg.geometry, area = g.outputArea, imageSize = g.channels * g.inputArea
        for i in 0..<n {
            Im2col.im2col(g, image: input.base + (first + i) * imageSize, col: col, ldcol: n * area, colOffset: i * area)
        }
    }

    public static func forward(
        _ cfg: Config, input: FloatView, weight: FloatView, bias: FloatView?,
        output: FloatView, scratch: FloatView, parallel: Parallel
    ) {
        let g = cfg.geometry, area = g.outputArea, oc = cfg.outputs
        let ocg = oc / cfg.groups, kg = g.patchSize / cfg.groups
        parallel.forWorkers { w in
            let s = WorkerScratch(cfg, scratch, worker: w)
            let images = Parallel.chunk(w, of: parallel.threads, count: cfg.batch)
            var first = images.lowerBound
            while first < images.upperBound {
                let n = min(cfg.chunk, images.upperBound - first), columns = n * area
                unfold(cfg, input: input, first: first, n: n, into: s.col)
                // One image: write straight into the output, which is [OC, P] for that image.
                let direct = n == 1
                let target = direct ? output.base + first * oc * area : s.result
                for grp in 0..<cfg.groups {
                    BLAS.gemm(transA: false, transB: false, m: ocg, n: columns, k: kg,
                              a: weight.base + grp * ocg * kg, lda: kg, b: s.col + grp * kg * columns, ldb: columns,
                              beta: 0, c: target + grp * ocg * columns, ldc: columns)
                }
                // output[first + i, c, :] = result[c, i·P ..< (i+1)·P] + bias[c]
                for i in 0..<n {
                    for c in 0..<oc {
                        let dst = output.base + ((first + i) * oc + c) * area
                        let src = direct ? dst : s.result + c * columns + i * area
                        let b = bias?.base[c] ?? 0
                        for p in 0..<area { dst[p] = src[p] + b }
                    }
                }
                first += n
            }
        }
    }

    /// Forward was result = W·col, output = result (as NCHW) + b. So, with dR the output
    /// gradient laid out like result: dW += dR·colᵀ, db += Σ dR, dcol = Wᵀ·dR, and dinput is
    /// col2im(dcol).
    public static func backward(
        _ cfg: Config, input: FloatView, outputGrad: FloatView, weight: FloatView,
        weightGrad: FloatView?, biasGrad: FloatView?, inputGrad: FloatView?, accumulateInput: Bool,
        scratch: FloatView, parallel: Parallel
    ) {
        let g = cfg.geometry, area = g.outputArea, oc = cfg.outputs
        let ocg = oc / cfg.groups, kg = g.patchSize / cfg.groups, imageSize = g.channels * g.inputArea
        parallel.forWorkers { w in
            let s = WorkerScratch(cfg, scratch, worker: w)
            let images = Parallel.chunk(w, of: parallel.threads, count: cfg.batch)
            var first = images.lowerBound, started = false
            while first < images.upperBound {
                let n = min(cfg.chunk, images.upperBound - first), columns = n * area
                // dR[c, i·P + p] = outputGrad[first + i, c, p]
                for i in 0..<n {
                    for c in 0..<oc {
                        copyRow(s.result + c * columns + i * area, outputGrad.base + ((first + i) * oc + c) * area, area)
                    }
                }
                if biasGrad != nil {
                    for c in 0..<oc {
                        let sum = Float(ElementwiseKernel.sum(FloatView(s.result + c * columns, shape: Shape([columns]))))
                        s.biasGrad[c] = (started ? s.biasGrad[c] : 0) + sum
                    }
                }
                if weightGrad != nil {
                    unfold(cfg, input: input, first: first, n: n, into: s.col)
                    for grp in 0..<cfg.groups {
                        BLAS.gemm(transA: false, transB: true, m: ocg, n: kg, k: columns,
                                  a: s.result + grp * ocg * columns, lda: columns, b: s.col + grp * kg * columns, ldb: columns,
                                  beta: started ? 1 : 0, c: s.weightGrad + grp * ocg * kg, ldc: kg)
                    }
                }
                started = true
                if let inputGrad {
                    for grp in 0..<cfg.groups {
                        BLAS.gemm(transA: true, transB: false, m: kg, n: columns, k: ocg,
                                  a: weight.base + grp * ocg * kg, lda: kg, b: s.result + grp * ocg * columns, ldb: columns,
                                  beta: 0, c: s.col + grp * kg * columns, ldc: columns)
                    }
                    for i in 0..<n {
                        Im2col.col2im(g, col: s.col, ldcol: columns, colOffset: i * area,
                                      image: inputGrad.base + (first + i) * imageSize, accumulate: accumulateInput)
                    }
                }
                first += n
            }
        }
        // Add the workers' partial sums, in worker order.
        let workers = min(parallel.threads, cfg.batch)
        for w in 0..<workers {
            let s = WorkerScratch(cfg, scratch, worker: w)
            if let weightGrad { for j in 0..<cfg.weightCount { weightGrad.base[j] += s.weightGrad[j] } }
            if let biasGrad { for c in 0..<oc { biasGrad.base[c] += s.biasGrad[c] } }
        }
    }

    /// Direct seven-loop convolution, the oracle for `forward` in tests.
    public static func reference(_ cfg: Config, input: [Float], weight: [Float], bias: [Float]?) -> [Float] {
        let g = cfg.geometry, cg = g.channels / cfg.groups, ocg = cfg.outputs / cfg.groups
        var out = [Float](repeating: 0, count: cfg.batch * cfg.outputs * g.outputArea)
        for b in 0..<cfg.batch {
            for o in 0..<cfg.outputs {
                let grp = o / ocg
                for y in 0..<g.outH {
                    for x in 0..<g.outW {
                        var sum = Double(bias?[o] ?? 0)
                        for ci in 0..<cg {
                            let c = grp * cg + ci
                            for i in 0..<g.kernelH {
                                for j in 0..<g.kernelW {
                                    let iy = y * g.strideH - g.padH + i, ix = x * g.strideW - g.padW + j
                                    guard iy >= 0, iy < g.height, ix >= 0, ix < g.width else { continue }
                                    let v = input[((b * g.channels + c) * g.height + iy) * g.width + ix]
                                    let w = weight[((o * cg + ci) * g.kernelH + i) * g.kernelW + j]
                                    sum += Double(v) * Double(w)
                                }
                            }
                        }
                        out[((b * cfg.outputs + o) * g.outH + y) * g.outW + x] = Float(sum)
                    }
                }
            }
        }
        return out
    }
}
