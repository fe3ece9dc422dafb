/// Kernels of the layers that move tensors around without arithmetic: Concat, Slice, Split,
/// Tile and Crop (block copies). As in Elementwise.swift, backward kernels overwrite the input
/// gradient or add to it (`accumulate`).

public enum StructureKernel {
    /// Copies `outer` blocks of `length` floats: block o from `source` at o·sourceStride +
    /// sourceOffset to `destination` at o·destinationStride + destinationOffset (or adds it,
    /// with `accumulate`). Concat, Slice and Tile are this loop with other strides: bottoms
    /// [N, Cᵢ, H, W] concatenated on axis 1 into [N, ΣC, H, W] are N blocks of Cᵢ·H·W each.
    public static func copyBlocks(outer: Int, length: Int,
                                  from source: FloatView, stride sourceStride: Int, offset sourceOffset: Int,
                                  to destination: FloatView, stride destinationStride: Int, offset destinationOffset: Int,
                                  accumulate: Bool) {
        guard outer > 0, length > 0 else { return }
        precondition(sourceOffset >= 0 && (outer - 1) * sourceStride + sourceOffset + length <= source.count,
                     "source blocks out of \(source.shape)")
        precondition(destinationOffset >= 0 && (outer - 1) * destinationStride + destinationOffset + length <= destination.count,
                     "destination blocks out of \(destination.shape)")
        for o in 0..<outer {
            let src = source.base + (o * sourceStride + sourceOffset)
            let dst = destination.base + (o * destinationStride + destinationOffset)
            if accumulate {
                store(dst, length, accumulate: true) { src[$0] }
            } else {
                dst.update(from: src, count: length)
            }
        }
    }

    /// dx (+)= Σₜ dyₜ: the gradient of a blob copied to several tops (Split).
    public static func sum(_ grads: [FloatView], into inputGrad: FloatView, accumulate: Bool) {
        for (t, g) in grads.enumerated() {
            precondition(g.count == inputGrad.count, "summing \(g.shape) into \(inputGrad.shape)")
            let src = g.base
            store(inputGrad.base, g.count, accumulate: accumulate || t > 0) { src[$0] }
        }
        if grads.isEmpty && !accumulate { inputGrad.zero() }
    }

    /// Calls `row(inputOffset, outputOffset)` for each innermost row of `output`'s shape, the
    /// input offset being that of the same row shifted by `offsets` (one per axis) in `input`'s
    /// shape. The offsets are updated as an odometer: no per-element index arithmetic.
    static func forEachCropRow(input: Shape, output: Shape, offsets: [Int], _ row: (Int, Int) -> Void) {
        let rank = output.rank
        precondition(rank >= 1 && input.rank == rank && offsets.count == rank, "crop of \(input) to \(output)")
        for a in 0..<rank { precondition(offsets[a] >= 0 && offsets[a] + output[a] <= input[a], "crop window out of \(input)") }
        guard output.count > 0 else { return }
        var inputStrides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { inputStrides[a] = inputStrides[a + 1] * input[a + 1] }
        var inputOffset = 0
        for a in 0..<rank { inputOffset += offsets[a] * inputStrides[a] }
        let width = output[rank - 1], rows = output.count / width
        var index = [Int](repeating: 0, count: rank)
        for r in 0..<rows {
            row(inputOffset, r * width)
            // Advance the odometer over axes 0..<rank-1, moving the input offset with it.
            var a = rank - 2
            while a >= 0 {
                index[a] += 1
                inputOffset += inputStrides[a]
                if index[a] < output[a] { break }
                inputOffset -= output[a] * inputStrides[a]
                index[a] = 0
                a -= 1
            }
        }
    }

    /// y = the window of x that starts at `offsets` and has y's shape (Crop).
    public static func crop(_ input: FloatView, offsets: [Int], into output: FloatView) {
        let x = input.base, y = output.base, width = output.shape.dims.last ?? 1
        forEachCropRow(input: input.shape, output: output.shape, offsets: offsets) { i, o in
            (y + o).update(from: x + i, count: width)
        }
    }

    /// dx (+)= dy inside the window, and dx = 0 outside it unless accumulating.
    public static func cropBackward(outputGrad: FloatView, offsets: [Int], inputGrad: FloatView, accumulate: Bool) {
        if !accumulate { inputGrad.zero() }
        let dy = outputGrad.base, dx = inputGrad.base, width = outputGrad.shape.dims.last ?? 1
        forEachCropRow(input: inputGrad.shape, output: outputGrad.shape, offsets: offsets) { i, o in
            let src = dy + o
            store(dx + i, width, accumulate: true) { src[$0] }
        }
    }
}
