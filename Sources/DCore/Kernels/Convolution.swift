import CKernels

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
///
/// Forward skips the columns where a C kernel applies (`Config.forwardPath`).
/// Deconvolution runs the same steps the other way round (`deconvolutionForward`).
public enum ConvolutionKernel {
    public struct Config: Sendable, Equatable {
        public var geometry: WindowGeometry
        public var outputs: Int
        public var groups: Int
        public var batch: Int
        /// Images per chunk.
        public var chunk: Int
        /// The instruction set of W·col and Wᵀ·dR (`SmallGEMM`); tests set each level.
        public var kernels = SmallGEMM.level
        /// Forward through im2col and W·col even where a C kernel applies (`forwardPath`): tests
        /// compare the two.
        public var im2colOnly = false

        /// About 32k floats (128 KB) of columns per chunk, a quarter of the L2 cache of older cores:
        /// LeNet's conv2 then takes one image per chunk, whose columns, rows and products stay in
        /// L2 between the steps of backward (conv2 backward −3%, conv1's −10% against 512 KB,
        /// docs/PERFORMANCE.md).
        public static let columnBudget = 1 << 15

        public init(geometry: WindowGeometry, outputs: Int, groups: Int, batch: Int, workers: Int) {
            self.geometry = geometry; self.outputs = outputs; self.groups = groups; self.batch = batch
            let perImage = max(1, geometry.patchSize * geometry.outputArea)
            let perWorker = (batch + max(workers, 1) - 1) / max(workers, 1)
            chunk = max(1, min(perWorker, Self.columnBudget / perImage))
        }

        var columnCount: Int { geometry.patchSize * chunk * geometry.outputArea }
        var resultCount: Int { outputs * chunk * geometry.outputArea }
        var weightCount: Int { outputs * geometry.patchSize / groups }
        /// Partial bias gradient: one per output, or per channel for deconvolution, whose bias
        /// sits on this convolution's input.
        var biasCount: Int { max(outputs, geometry.channels) }
        /// The convolution's products as if the whole batch were one, per group: forward W·col
        /// [OC/G, K/G]·[K/G, N·P]; the weight gradient dR·colᵀ; the input gradient Wᵀ·dR, each
        /// 2·(OC/G)·(K/G)·N·P floating-point operations, dilated or not. A deconvolution runs the
        /// same three with forward and input gradient swapped. `Layer.flops` counts them.
        public var gemms: (forward: GEMMShape, weightGradient: GEMMShape, inputGradient: GEMMShape) {
            let ocg = outputs / groups, kg = geometry.patchSize / groups, columns = batch * geometry.outputArea
            return (GEMMShape(m: ocg, n: columns, k: kg), GEMMShape(m: ocg, n: kg, k: columns, transB: true),
                    GEMMShape(m: kg, n: columns, k: ocg, transA: true))
        }
        /// How forward convolves, fastest first where it applies. The C kernels (Sources/CKernels)
        /// need stride 1 without padding, dilation or groups, and give the bits of im2col + W·col
        /// with Dendrite's GEMM kernel, which they replace (docs/PERFORMANCE.md):
        /// - `direct` (`dk_conv_direct`, from AVX2, with 16-column vectors from AVX-512): a patch
        ///   of at most 32 floats (conv1's 25), where writing and reading back the columns cost
        ///   as much as the products;
        /// - `implicit8` (`dk_conv_implicit8`, from AVX2): rows of 8 outputs (conv2's 8×8), whose
        ///   columns the GEMM tiles read straight from the image;
        /// - else im2col and W·col, per chunk of images.
        public enum ForwardPath: Sendable { case direct, implicit8, im2col }

        public var forwardPath: ForwardPath {
            guard !im2colOnly, fitsCKernels, min(kernels, SmallGEMM.supported) >= .avx2 else { return .im2col }
            if geometry.patchSize <= 32 { return .direct }
            return geometry.outW == 8 ? .implicit8 : .im2col
        }

        /// Whether backward computes dW = dR·colᵀ with Dendrite's GEMM kernel on the columns'
        /// transpose, unfolded as such (`dk_im2row`), rather than with OpenBLAS on im2col's
        /// columns: from AVX-512, for the C kernels' geometry. One thread, LeNet's shapes:
        /// 1.3× (conv2) and 1.9× (conv1) OpenBLAS's speed; AVX2 measured 0.86× on conv2
        /// (docs/PERFORMANCE.md).
        public var weightGradientFromRows: Bool { fitsCKernels && min(kernels, SmallGEMM.supported) >= .avx512 }

        /// Whether col2im runs in C, each image row one vector (`dk_col2im16`, same bits): from
        /// AVX-512, for the C kernels' geometry and rows of at most 16 (conv2's 12).
        var foldsRowsInC: Bool {
            fitsCKernels && geometry.width <= 16 && min(kernels, SmallGEMM.supported) >= .avx512
        }

        /// Stride 1 without padding, dilation or groups: what the C convolution kernels take.
        var fitsCKernels: Bool {
            let g = geometry
            return groups == 1 && g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0
                && g.dilationH == 1 && g.dilationW == 1
        }

        /// Whether `forwardPooled` and `backwardPooled` take this convolution followed by max
        /// pooling of geometry `pool`: forward through a C kernel (`forwardPath`), and 2×2
        /// windows with stride 2 covering the convolution's output exactly.
        public func poolsInPlace(_ pool: WindowGeometry) -> Bool {
            forwardPath != .im2col && PoolingKernel.twoByTwo(pool) != nil && pool.channels == outputs
                && pool.height == geometry.outH && pool.width == geometry.outW
                && 2 * pool.outH == pool.height && 2 * pool.outW == pool.width
        }

        var cShape: dk_conv_shape {
            let g = geometry
            return dk_conv_shape(channels: Int32(g.channels), height: Int32(g.height), width: Int32(g.width),
                                 outputs: Int32(outputs), kernel_h: Int32(g.kernelH), kernel_w: Int32(g.kernelW),
                                 out_h: Int32(g.outH), out_w: Int32(g.outW))
        }
        /// Scratch floats one worker needs.
        public var scratchPerWorker: Int { columnCount + resultCount + weightCount + biasCount }
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

    // MARK: Steps on one chunk of n images, shared by convolution and deconvolution

    /// Unfolds images `first ..< first + n` side by side into `col` [K, n·P].
    static func unfold(_ cfg: Config, input: FloatView, first: Int, n: Int, into col: UnsafeMutablePointer<Float>) {
        let g = cfg.geometry, area = g.outputArea, imageSize = g.channels * g.inputArea
        for i in 0..<n {
            Im2col.im2col(g, image: input.base + (first + i) * imageSize, col: col, ldcol: n * area, colOffset: i * area)
        }
    }

    /// Unfolds images `first ..< first + n` one under the other into `rows` [n·P, K], the
    /// transpose of `unfold`'s columns (`Config.weightGradientFromRows` only).
    static func unfoldRows(_ cfg: Config, input: FloatView, first: Int, n: Int, into rows: UnsafeMutablePointer<Float>) {
        let g = cfg.geometry, imageSize = g.channels * g.inputArea, k = g.patchSize
        withUnsafePointer(to: cfg.cShape) { shape in
            for i in 0..<n {
                dk_im2row(shape, input.base + (first + i) * imageSize, rows + i * g.outputArea * k, k)
            }
        }
    }

    /// The adjoint of `unfold`: adds (or, without `accumulate`, writes) `col` [K, n·P] back
    /// onto images `first ..< first + n` of `image` [N, C, H, W].
    static func fold(_ cfg: Config, col: UnsafePointer<Float>, first: Int, n: Int, into image: FloatView, accumulate: Bool) {
        let g = cfg.geometry, area = g.outputArea, imageSize = g.channels * g.inputArea
        if cfg.foldsRowsInC {
            withUnsafePointer(to: cfg.cShape) { shape in
                for i in 0..<n {
                    dk_col2im16(shape, col + i * area, n * area, image.base + (first + i) * imageSize, accumulate ? 1 : 0)
                }
            }
            return
        }
        for i in 0..<n {
            Im2col.col2im(g, col: col, ldcol: n * area, colOffset: i * area,
                          image: image.base + (first + i) * imageSize, accumulate: accumulate)
        }
    }

    /// Images `first ..< first + n` of an output-shaped tensor [N, OC, P] as one matrix
    /// [OC, n·P]: the tensor itself for one image, else copied into `rows`.
    static func gather(_ cfg: Config, _ source: FloatView, first: Int, n: Int,
                       into rows: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let oc = cfg.outputs, area = cfg.geometry.outputArea, columns = n * area
        if n == 1 { return UnsafePointer(source.base + first * oc * area) }
        // rows[c, i·P + p] = source[first + i, c, p]
        for i in 0..<n {
            for c in 0..<oc { copyRow(rows + c * columns + i * area, source.base + ((first + i) * oc + c) * area, area) }
        }
        return UnsafePointer(rows)
    }

    /// result [OC, n·P] = W·col, one GEMM per group: [OC/G, K/G]·[K/G, n·P] (SmallGEMM).
    static func multiply(_ cfg: Config, weight: FloatView, col: UnsafePointer<Float>, columns: Int,
                         into result: UnsafeMutablePointer<Float>) {
        let ocg = cfg.outputs / cfg.groups, kg = cfg.geometry.patchSize / cfg.groups
        for grp in 0..<cfg.groups {
            SmallGEMM.gemm(transA: false, m: ocg, n: columns, k: kg, a: weight.base + grp * ocg * kg, lda: kg,
                           b: col + grp * kg * columns, ldb: columns, c: result + grp * ocg * columns, ldc: columns,
                           accumulate: false, level: cfg.kernels)
        }
    }

    /// output[first + i] [OC, P] = W·col[:, i·P ..< (i+1)·P] + bias for each of the n images, one
    /// product per image and group: [OC/G, K/G]·[K/G, P] read from the chunk's columns.
    static func multiplyIntoImages(_ cfg: Config, weight: FloatView, col: UnsafePointer<Float>, first: Int, n: Int,
                                   bias: FloatView?, output: FloatView) {
        let ocg = cfg.outputs / cfg.groups, kg = cfg.geometry.patchSize / cfg.groups, area = cfg.geometry.outputArea
        let columns = n * area
        for i in 0..<n {
            for grp in 0..<cfg.groups {
                SmallGEMM.gemm(transA: false, m: ocg, n: area, k: kg, a: weight.base + grp * ocg * kg, lda: kg,
                               b: col + grp * kg * columns + i * area, ldb: columns,
                               c: output.base + ((first + i) * cfg.outputs + grp * ocg) * area, ldc: area,
                               bias: bias.map { UnsafePointer($0.base + grp * ocg) }, accumulate: false, level: cfg.kernels)
            }
        }
    }

    /// col [K, n·P] = Wᵀ·rows, one GEMM per group: [K/G, OC/G]·[OC/G, n·P] (SmallGEMM).
    static func multiplyTransposed(_ cfg: Config, weight: FloatView, rows: UnsafePointer<Float>, columns: Int,
                                   into col: UnsafeMutablePointer<Float>) {
        let ocg = cfg.outputs / cfg.groups, kg = cfg.geometry.patchSize / cfg.groups
        for grp in 0..<cfg.groups {
            SmallGEMM.gemm(transA: true, m: kg, n: columns, k: ocg, a: weight.base + grp * ocg * kg, lda: kg,
                           b: rows + grp * ocg * columns, ldb: columns, c: col + grp * kg * columns, ldc: columns,
                           accumulate: false, level: cfg.kernels)
        }
    }

    /// dW [OC, K/G] = rows·colᵀ per group ([OC/G, n·P]·[n·P, K/G]), added to what it holds
    /// when `accumulate`, with OpenBLAS: Dendrite's kernel, fed a transposed copy of the columns,
    /// measured 0.8–0.9 times its speed on these shapes (docs/PERFORMANCE.md). Where the columns
    /// can be unfolded transposed in the first place (`Config.weightGradientFromRows`), backward
    /// does that instead.
    static func weightProduct(_ cfg: Config, rows: UnsafePointer<Float>, col: UnsafePointer<Float>, columns: Int,
                              into weightGrad: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let ocg = cfg.outputs / cfg.groups, kg = cfg.geometry.patchSize / cfg.groups
        for grp in 0..<cfg.groups {
            BLAS.gemm(transA: false, transB: true, m: ocg, n: kg, k: columns,
                      a: rows + grp * ocg * columns, lda: columns, b: col + grp * kg * columns, ldb: columns,
                      beta: accumulate ? 1 : 0, c: weightGrad + grp * ocg * kg, ldc: kg)
        }
    }

    /// output[first + i, c, :] (+)= result[c, i·P ..< (i+1)·P] + bias[c]. For one image the
    /// result may already be the output itself (`result == output` there), when only the bias
    /// is added.
    static func scatter(_ cfg: Config, result: UnsafePointer<Float>, first: Int, n: Int, bias: FloatView?,
                        into output: FloatView, accumulate: Bool) {
        let oc = cfg.outputs, area = cfg.geometry.outputArea, columns = n * area
        for i in 0..<n {
            for c in 0..<oc {
                let dst = output.base + ((first + i) * oc + c) * area
                let src = result + c * columns + i * area
                let b = bias?.base[c] ?? 0
                if UnsafePointer(dst) == src {
                    if b != 0 { for p in 0..<area { dst[p] += b } }
                } else if accumulate {
                    for p in 0..<area { dst[p] += src[p] + b }
                } else {
                    for p in 0..<area { dst[p] = src[p] + b }
                }
            }
        }
    }

    /// Adds the workers' partial dW and db (`biasCount` entries) into the gradients, in worker
    /// order. Only workers that got images wrote their partial sums.
    static func addWorkerSums(_ cfg: Config, scratch: FloatView, workers: Int, weightGrad: FloatView?,
                              biasGrad: FloatView?, biasCount: Int) {
        for w in 0..<min(workers, cfg.batch) {
            let s = WorkerScratch(cfg, scratch, worker: w)
            if let weightGrad { for j in 0..<cfg.weightCount { weightGrad.base[j] += s.weightGrad[j] } }
            if let biasGrad { for c in 0..<biasCount { biasGrad.base[c] += s.biasGrad[c] } }
        }
    }

    /// Each worker's run of images, `cfg.chunk` at a time: `body(scratch, first, n, started)`
    /// on images `first ..< first + n` with the worker's scratch, `started` once the worker has
    /// done a chunk before (its partial sums then hold something).
    static func forEachChunk(_ cfg: Config, scratch: FloatView, parallel: Parallel,
                             _ body: @Sendable (WorkerScratch, _ first: Int, _ n: Int, _ started: Bool) -> Void) {
        parallel.forWorkers { w in
            let s = WorkerScratch(cfg, scratch, worker: w)
            let images = Parallel.chunk(w, of: parallel.threads, count: cfg.batch)
            var first = images.lowerBound
            while first < images.upperBound {
                let n = min(cfg.chunk, images.upperBound - first)
                body(s, first, n, first > images.lowerBound)
                first += n
            }
        }
    }

    /// out [OC, P] = bias + W ∗ image `i` of `input`, by the C kernel of `forwardPath` (direct,
    /// or rows of eight read from the image).
    static func convolveInC(_ cfg: Config, image i: Int, input: FloatView, weight: FloatView, bias: FloatView?,
                            into out: UnsafeMutablePointer<Float>) {
        let g = cfg.geometry, level = Int32(min(cfg.kernels, SmallGEMM.supported).rawValue)
        let image = input.base + i * g.channels * g.inputArea
        withUnsafePointer(to: cfg.cShape) { shape in
            if cfg.forwardPath == .implicit8 {
                dk_conv_implicit8(level, shape, image, weight.base, bias?.base, out)
            } else {
                dk_conv_direct(level, shape, image, weight.base, bias?.base, out)
            }
        }
    }

    // MARK: Convolution

    public static func forward(
        _ cfg: Config, input: FloatView, weight: FloatView, bias: FloatView?,
        output: FloatView, scratch: FloatView, parallel: Parallel
    ) {
        let area = cfg.geometry.outputArea
        if cfg.forwardPath != .im2col {
            parallel.forWorkers { w in
                for i in Parallel.chunk(w, of: parallel.threads, count: cfg.batch) {
                    convolveInC(cfg, image: i, input: input, weight: weight, bias: bias, into: output.base + i * cfg.outputs * area)
                }
            }
            return
        }
        forEachChunk(cfg, scratch: scratch, parallel: parallel) { s, first, n, _ in
            unfold(cfg, input: input, first: first, n: n, into: s.col)
            if SmallGEMM.ownKernel(transA: false, level: cfg.kernels) {
                // Dendrite's kernel writes each image's [OC, P] straight into the output,
                // bias included: no copy, no second pass.
                multiplyIntoImages(cfg, weight: weight, col: s.col, first: first, n: n, bias: bias, output: output)
            } else {
                // One image: write straight into the output, which is [OC, P] for that image.
                let target = n == 1 ? output.base + first * cfg.outputs * area : s.result
                multiply(cfg, weight: weight, col: s.col, columns: n * area, into: target)
                scatter(cfg, result: target, first: first, n: n, bias: bias, into: output, accumulate: false)
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
        forEachChunk(cfg, scratch: scratch, parallel: parallel) { s, first, n, started in
            let dR = gather(cfg, outputGrad, first: first, n: n, into: s.result)
            step(cfg, input: input, dR: dR, first: first, n: n, weight: weight, weightGrad: weightGrad, biasGrad: biasGrad,
                 inputGrad: inputGrad, accumulateInput: accumulateInput, scratch: s, started: started)
        }
        addWorkerSums(cfg, scratch: scratch, workers: parallel.threads, weightGrad: weightGrad, biasGrad: biasGrad, biasCount: cfg.outputs)
    }

    /// Backward on images `first ..< first + n`, given their output gradient dR [OC, n·P]: the
    /// worker's partial db and dW, added to what they hold once `started`, and dinput.
    static func step(
        _ cfg: Config, input: FloatView, dR: UnsafePointer<Float>, first: Int, n: Int, weight: FloatView,
        weightGrad: FloatView?, biasGrad: FloatView?, inputGrad: FloatView?, accumulateInput: Bool,
        scratch s: WorkerScratch, started: Bool
    ) {
        let oc = cfg.outputs, columns = n * cfg.geometry.outputArea
        if biasGrad != nil {
            for c in 0..<oc {
                let row = FloatView(UnsafeMutablePointer(mutating: dR + c * columns), shape: Shape([columns]))
                let sum = Float(ElementwiseKernel.sum(row))
                s.biasGrad[c] = (started ? s.biasGrad[c] : 0) + sum
            }
        }
        if weightGrad != nil {
            if cfg.weightGradientFromRows {
                // dW [OC, K] (+)= dR [OC, n·P]·rows [n·P, K]
                let k = cfg.geometry.patchSize
                unfoldRows(cfg, input: input, first: first, n: n, into: s.col)
                SmallGEMM.gemm(transA: false, m: oc, n: k, k: columns, a: dR, lda: columns, b: s.col, ldb: k,
                               c: s.weightGrad, ldc: k, accumulate: started, level: cfg.kernels)
            } else {
                unfold(cfg, input: input, first: first, n: n, into: s.col)
                weightProduct(cfg, rows: dR, col: s.col, columns: columns, into: s.weightGrad, accumulate: started)
            }
        }
        if let inputGrad {
            multiplyTransposed(cfg, weight: weight, rows: dR, columns: columns, into: s.col)
            fold(cfg, col: s.col, first: first, n: n, into: inputGrad, accumulate: accumulateInput)
        }
    }

    // MARK: Convolution followed by 2×2 max pooling

    /// The convolution and then max pooling, one image at a time: each image's output [OC, P]
    /// goes to the worker's scratch and is pooled from there while it is in cache, so the
    /// convolution's output is never written out (`Config.poolsInPlace`). `pooled` and `argmax`
    /// [N, OC, OH/2, OW/2] get what `forward` followed by `PoolingKernel.maxForward` gives, bit
    /// for bit.
    public static func forwardPooled(
        _ cfg: Config, pool: WindowGeometry, input: FloatView, weight: FloatView, bias: FloatView?,
        pooled: FloatView, argmax: TensorView<Int32>, scratch: FloatView, parallel: Parallel
    ) {
        precondition(cfg.poolsInPlace(pool), "forwardPooled: not a convolution that pools in place")
        let oc = cfg.outputs, pooledCount = oc * pool.outputArea
        parallel.forWorkers { w in
            let s = WorkerScratch(cfg, scratch, worker: w)
            let planes = FloatView(s.result, shape: Shape([oc * cfg.geometry.outputArea]))
            for i in Parallel.chunk(w, of: parallel.threads, count: cfg.batch) {
                convolveInC(cfg, image: i, input: input, weight: weight, bias: bias, into: s.result)
                PoolingKernel.maxForward(pool, planes: oc, input: planes,
                                         output: FloatView(pooled.base + i * pooledCount, shape: Shape([pooledCount])),
                                         argmax: TensorView(argmax.base + i * pooledCount, shape: Shape([pooledCount])),
                                         parallel: .serial, kernels: cfg.kernels)
            }
        }
    }

    /// `backward` of the convolution that `forwardPooled` ran, from the pooled output's gradient:
    /// each chunk's output gradient dR is made in the worker's scratch by max pooling's
    /// backward (zeroed, then each window's gradient added to its winner, as
    /// `PoolingKernel.maxBackward` does) instead of being read from an output gradient in memory.
    /// The same bits as max pooling's backward followed by `backward`.
    public static func backwardPooled(
        _ cfg: Config, pool: WindowGeometry, input: FloatView, pooledGrad: FloatView, argmax: TensorView<Int32>,
        weight: FloatView, weightGrad: FloatView?, biasGrad: FloatView?, inputGrad: FloatView?, accumulateInput: Bool,
        scratch: FloatView, parallel: Parallel
    ) {
        precondition(cfg.poolsInPlace(pool), "backwardPooled: not a convolution that pools in place")
        let area = cfg.geometry.outputArea, oc = cfg.outputs, pooledArea = pool.outputArea
        forEachChunk(cfg, scratch: scratch, parallel: parallel) { s, first, n, started in
            // dR [OC, n·P]: image i's plane c at column i·P of row c.
            let columns = n * area
            for i in 0..<n {
                for c in 0..<oc {
                    let plane = s.result + c * columns + i * area, at = ((first + i) * oc + c) * pooledArea
                    let dy = pooledGrad.base + at, am = argmax.base + at
                    plane.update(repeating: 0, count: area)
                    for o in 0..<pooledArea { plane[Int(am[o])] += dy[o] }
                }
            }
            step(cfg, input: input, dR: UnsafePointer(s.result), first: first, n: n, weight: weight, weightGrad: weightGrad,
                 biasGrad: biasGrad, inputGrad: inputGrad, accumulateInput: accumulateInput, scratch: s, started: started)
        }
        addWorkerSums(cfg, scratch: scratch, workers: parallel.threads, weightGrad: weightGrad, biasGrad: biasGrad, biasCount: oc)
    }

    // MARK: Deconvolution

    /// Caffe's Deconvolution is this convolution run backwards. `cfg` describes the dual
    /// convolution: its input [N, C, H, W] is the deconvolution's output, its output [N, OC, P]
    /// the deconvolution's input, and its weight [OC, C/G, kh, kw] is the deconvolution's
    /// weight [C_in, C_out/G, kh, kw] as Caffe lays it out. The bias [C] is per channel of the
    /// deconvolution's output.
    ///
    /// output = col2im(Wᵀ·x) + bias: the convolution's input gradient, with x as its output
    /// gradient.
    public static func deconvolutionForward(
        _ cfg: Config, input: FloatView, weight: FloatView, bias: FloatView?,
        output: FloatView, scratch: FloatView, parallel: Parallel
    ) {
        let g = cfg.geometry, area = g.outputArea
        forEachChunk(cfg, scratch: scratch, parallel: parallel) { s, first, n, _ in
            let x = gather(cfg, input, first: first, n: n, into: s.result)
            multiplyTransposed(cfg, weight: weight, rows: x, columns: n * area, into: s.col)
            fold(cfg, col: s.col, first: first, n: n, into: output, accumulate: false)
            if let bias {
                for i in 0..<n {
                    for c in 0..<g.channels {
                        let plane = output.base + ((first + i) * g.channels + c) * g.inputArea, b = bias.base[c]
                        for p in 0..<g.inputArea { plane[p] += b }
                    }
                }
            }
        }
    }

    /// With dy the deconvolution's output gradient and col = im2col(dy) [K, n·P]: the input
    /// gradient is the convolution's forward, W·col (no bias); the weight gradient is the
    /// convolution's, with x in the place of its output gradient, dW += x·colᵀ (Caffe's
    /// weight_cpu_gemm with top and bottom swapped); db[c] += Σ dy[·, c, ·]. One unfolding
    /// serves both products.
    public static func deconvolutionBackward(
        _ cfg: Config, input: FloatView, outputGrad: FloatView, weight: FloatView,
        weightGrad: FloatView?, biasGrad: FloatView?, inputGrad: FloatView?, accumulateInput: Bool,
        scratch: FloatView, parallel: Parallel
    ) {
        let g = cfg.geometry, area = g.outputArea
        forEachChunk(cfg, scratch: scratch, parallel: parallel) { s, first, n, started in
            let columns = n * area
            if biasGrad != nil {
                for c in 0..<g.channels {
                    var sum = 0.0
                    for i in 0..<n {
                        let plane = outputGrad.base + ((first + i) * g.channels + c) * g.inputArea
                        sum += ElementwiseKernel.sum(FloatView(plane, shape: Shape([g.inputArea])))
                    }
                    s.biasGrad[c] = (started ? s.biasGrad[c] : 0) + Float(sum)
                }
            }
            if weightGrad != nil || inputGrad != nil {
                unfold(cfg, input: outputGrad, first: first, n: n, into: s.col)
            }
            if weightGrad != nil {
                let x = gather(cfg, input, first: first, n: n, into: s.result)
                weightProduct(cfg, rows: x, col: s.col, columns: columns, into: s.weightGrad, accumulate: started)
            }
            if let inputGrad {
                // One image, written over: straight into the gradient, [OC, P] for that image.
                let direct = n == 1 && !accumulateInput
                let target = direct ? inputGrad.base + first * cfg.outputs * area : s.result
                multiply(cfg, weight: weight, col: s.col, columns: columns, into: target)
                scatter(cfg, result: target, first: first, n: n, bias: nil, into: inputGrad, accumulate: accumulateInput)
            }
        }
        addWorkerSums(cfg, scratch: scratch, workers: parallel.threads, weightGrad: weightGrad, biasGrad: biasGrad,
                      biasCount: g.channels)
    }

    /// Direct seven-loop convolution (dilated too), the oracle for `forward` in tests.
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
                                    let iy = y * g.strideH - g.padH + i * g.dilationH, ix = x * g.strideW - g.padW + j * g.dilationW
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
