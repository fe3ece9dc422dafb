/// Convolution over a whole batch as one im2col and one GEMM per group.
///
/// Shapes: input [N, C, H, W]; weight [OC, C/G, kh, kw]; bias [OC]; output [N, OC, OH, OW].
/// Work buffers: `col` [C·kh·kw, N·P] with P = OH·OW, kept from forward for backward;
/// `scratch` [OC, N·P], the GEMM result in channel-major order before it is laid out as NCHW.
public enum ConvolutionKernel {
    public struct Config: Sendable, Equatable {
        public var geometry: WindowGeometry
        public var outputs: Int
        public var groups: Int
        public var batch: Int

        public init(geometry: WindowGeometry, outputs: Int, groups: Int, batch: Int) {
            self.geometry = geometry; self.outputs = outputs; self.groups = groups; self.batch = batch
        }

        public var colCount: Int { geometry.patchSize * batch * geometry.outputArea }
        public var scratchCount: Int { outputs * batch * geometry.outputArea }
    }

    public static func forward(
        _ cfg: Config, input: FloatView, weight: FloatView, bias: FloatView?,
        output: FloatView, col: FloatView, scratch: FloatView, parallel: Parallel
    ) {
        let g = cfg.geometry, n = cfg.batch, area = g.outputArea, columns = n * area
        let imageSize = g.channels * g.inputArea
        parallel.forEach(n) { b in
            Im2col.im2col(g, image: input.base + b * imageSize, col: col.base, ldcol: columns, colOffset: b * area)
        }
        // scratch[oc, b·P + p] = Σ_k weight[oc, k] · col[k, b·P + p], per group
        let ocg = cfg.outputs / cfg.groups, kg = g.patchSize / cfg.groups
        for grp in 0..<cfg.groups {
            BLAS.gemm(transA: false, transB: false, m: ocg, n: columns, k: kg,
                      a: weight.base + grp * ocg * kg, lda: kg,
                      b: col.base + grp * kg * columns, ldb: columns,
                      beta: 0, c: scratch.base + grp * ocg * columns, ldc: columns, parallel: parallel)
        }
        // output[b, oc, :] = scratch[oc, b·P ..< (b+1)·P] + bias[oc]
        let oc = cfg.outputs
        parallel.forEach(n) { b in
            for c in 0..<oc {
                let dst = output.base + (b * oc + c) * area, src = scratch.base + c * columns + b * area
                let beta = bias?.base[c] ?? 0
                for p in 0..<area { dst[p] = src[p] + beta }
            }
        }
    }

    /// Forward was scratch = W·col, output = scratch (as NCHW) + b. So, with dS the output
    /// gradient in channel-major order: dW += dS·colᵀ, db += Σ dS, dcol = Wᵀ·dS, and dinput is
    /// col2im(dcol). dcol overwrites `col`, which is not needed once dW is known.
    public static func backward(
        _ cfg: Config, outputGrad: FloatView, weight: FloatView,
        weightGrad: FloatView?, biasGrad: FloatView?,
        inputGrad: FloatView?, accumulateInput: Bool,
        col: FloatView, scratch: FloatView, parallel: Parallel
    ) {
        let g = cfg.geometry, n = cfg.batch, area = g.outputArea, columns = n * area, oc = cfg.outputs
        // scratch[oc, b·P + p] = outputGrad[b, oc, p]
        parallel.forEach(n) { b in
            for c in 0..<oc {
                (scratch.base + c * columns + b * area).update(from: outputGrad.base + (b * oc + c) * area, count: area)
            }
        }
        if let biasGrad {
            parallel.forEach(oc) { c in
                biasGrad.base[c] += Float(ElementwiseKernel.sum(scratch.slice(c * columns, columns)))
            }
        }
        let ocg = oc / cfg.groups, kg = g.patchSize / cfg.groups
        if let weightGrad {
            for grp in 0..<cfg.groups {
                BLAS.gemm(transA: false, transB: true, m: ocg, n: kg, k: columns,
                          a: scratch.base + grp * ocg * columns, lda: columns,
                          b: col.base + grp * kg * columns, ldb: columns,
                          beta: 1, c: weightGrad.base + grp * ocg * kg, ldc: kg, parallel: parallel)
            }
        }
        guard let inputGrad else { return }
        for grp in 0..<cfg.groups {
            BLAS.gemm(transA: true, transB: false, m: kg, n: columns, k: ocg,
                      a: weight.base + grp * ocg * kg, lda: kg,
                      b: scratch.base + grp * ocg * columns, ldb: columns,
                      beta: 0, c: col.base + grp * kg * columns, ldc: columns, parallel: parallel)
        }
        let imageSize = g.channels * g.inputArea
        parallel.forEach(n) { b in
            Im2col.col2im(g, col: col.base, ldcol: columns, colOffset: b * area,
                          image: inputGrad.base + b * imageSize, accumulate: accumulateInput)
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
