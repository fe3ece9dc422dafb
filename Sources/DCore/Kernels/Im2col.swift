/// Geometry of a 2-D convolution or pooling window over one C×H×W image. A dilated window
/// (convolution only) takes every `dilation`-th input: tap i of the kernel reads row
/// oh·sh − ph + i·dh, and the window spans dh·(kh − 1) + 1 rows.
public struct WindowGeometry: Sendable, Equatable {
    public var channels, height, width: Int
    public var kernelH, kernelW, strideH, strideW, padH, padW: Int
    public var dilationH, dilationW: Int
    public var outH, outW: Int

    /// Rows of the column matrix: C·kh·kw.
    public var patchSize: Int { channels * kernelH * kernelW }
    /// Output positions per image: OH·OW.
    public var outputArea: Int { outH * outW }
    public var inputArea: Int { height * width }

    public init(channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int,
                strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int = 1, dilationW: Int = 1,
                outH: Int, outW: Int) {
        self.channels = channels; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW; self.strideH = strideH; self.strideW = strideW
        self.padH = padH; self.padW = padW; self.dilationH = dilationH; self.dilationW = dilationW
        self.outH = outH; self.outW = outW
    }

    /// The output positions `o` in `0..<outCount` whose input `o·stride − pad + k` lies in
    /// `0..<inCount`.
    @inlinable
    static func validRange(k: Int, stride: Int, pad: Int, inCount: Int, outCount: Int) -> Range<Int> {
        // o·s − p + k ≥ 0  ⇔  o ≥ ceil((p − k) / s);   o·s − p + k ≤ in − 1  ⇔  o ≤ floor((in − 1 + p − k) / s)
        let lo = max(0, ceilDiv(pad - k, stride))
        let hi = min(outCount, floorDiv(inCount - 1 + pad - k, stride) + 1)
        return lo..<max(lo, hi)
    }
}

@inlinable func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
@inlinable func ceilDiv(_ a: Int, _ b: Int) -> Int { -floorDiv(-a, b) }

/// dst[0..<n] = src[0..<n], eight floats at a time: rows here are short, and a memcpy call per
/// row costs more than the copy.
@inline(__always)
func copyRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var x = 0
    while x &+ 8 <= n {
        UnsafeMutableRawPointer(dst + x).storeBytes(of: UnsafeRawPointer(src + x).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
        x &+= 8
    }
    while x < n { dst[x] = src[x]; x &+= 1 }
}

/// dst[0..<n] += src[0..<n], eight floats at a time.
@inline(__always)
func addRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var x = 0
    while x &+ 8 <= n {
        let d = UnsafeMutableRawPointer(dst + x)
        d.storeBytes(of: d.loadUnaligned(as: SIMD8<Float>.self) + UnsafeRawPointer(src + x).loadUnaligned(as: SIMD8<Float>.self),
                     as: SIMD8<Float>.self)
        x &+= 8
    }
    while x < n { dst[x] += src[x]; x &+= 1 }
}

public enum Im2col {
    /// Unfolds one image [C, H, W] into columns: `col[(c·kh + i)·kw + j][colOffset + oh·OW + ow]
    /// = image[c][oh·sh − ph + i·dh][ow·sw − pw + j·dw]` (0 outside the image). `ldcol` is the row
    /// stride of `col`, so that the images of a batch sit side by side: col is [C·kh·kw, N·OH·OW].
    public static func im2col(
        _ g: WindowGeometry, image: UnsafePointer<Float>,
        col: UnsafeMutablePointer<Float>, ldcol: Int, colOffset: Int
    ) {
        let ow = g.outW, oh = g.outH
        if g.padH == 0 && g.padW == 0 {
            // Without padding every window lies inside the image: plain row copies.
            var row = col + colOffset
            for c in 0..<g.channels {
                let plane = image + c &* g.inputArea
                for i in 0..<g.kernelH {
                    for j in 0..<g.kernelW {
                        var src = plane + (i &* g.dilationH &* g.width &+ j &* g.dilationW), out = row
                        for _ in 0..<oh {
                            if g.strideW == 1 {
                                copyRow(out, src, ow)
                            } else {
                                for x in 0..<ow { out[x] = src[x &* g.strideW] }
                            }
                            out += ow
                            src += g.strideH &* g.width
                        }
                        row += ldcol
                    }
                }
            }
            return
        }
        for c in 0..<g.channels {
            let plane = image + c * g.inputArea
            for i in 0..<g.kernelH {
                let rowsValid = WindowGeometry.validRange(k: i * g.dilationH, stride: g.strideH, pad: g.padH, inCount: g.height, outCount: oh)
                for j in 0..<g.kernelW {
                    let row = col + ((c * g.kernelH + i) * g.kernelW + j) * ldcol + colOffset
                    let colsValid = WindowGeometry.validRange(k: j * g.dilationW, stride: g.strideW, pad: g.padW, inCount: g.width, outCount: ow)
                    for y in 0..<oh {
                        let out = row + y * ow
                        // Rows are short (OW elements): plain loops beat memcpy/memset calls here.
                        guard rowsValid.contains(y) else {
                            for x in 0..<ow { out[x] = 0 }
                            continue
                        }
                        let src = plane + (y * g.strideH - g.padH + i * g.dilationH) * g.width - g.padW + j * g.dilationW
                        for x in 0..<colsValid.lowerBound { out[x] = 0 }
                        if g.strideW == 1 {
                            for x in colsValid { out[x] = src[x] }
                        } else {
                            for x in colsValid { out[x] = src[x * g.strideW] }
                        }
                        for x in colsValid.upperBound..<ow { out[x] = 0 }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds every column entry back onto the image position it came
    /// from. With `accumulate == false` the image is overwritten (zeroed first).
    public static func col2im(
        _ g: WindowGeometry, col: UnsafePointer<Float>, ldcol: Int, colOffset: Int,
        image: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        if !accumulate { image.update(repeating: 0, count: g.channels * g.inputArea) }
        let ow = g.outW, oh = g.outH
        if g.padH == 0 && g.padW == 0 && g.strideW == 1 {
            // Without padding every window lies inside the image: plain row additions, as
            // im2col's plain row copies (LeNet's conv2 has rows of 8, so the bookkeeping of
            // the general loop below cost more than the additions).
            var row = UnsafePointer(col + colOffset)
            for c in 0..<g.channels {
                let plane = image + c &* g.inputArea
                for i in 0..<g.kernelH {
                    for j in 0..<g.kernelW {
                        var dst = plane + (i &* g.dilationH &* g.width &+ j &* g.dilationW), src = row
                        for _ in 0..<oh {
                            addRow(dst, src, ow)
                            src += ow
                            dst += g.strideH &* g.width
                        }
                        row += ldcol
                    }
                }
            }
            return
        }
        for c in 0..<g.channels {
            let plane = image + c * g.inputArea
            for i in 0..<g.kernelH {
                let rowsValid = WindowGeometry.validRange(k: i * g.dilationH, stride: g.strideH, pad: g.padH, inCount: g.height, outCount: oh)
                for j in 0..<g.kernelW {
                    let row = col + ((c * g.kernelH + i) * g.kernelW + j) * ldcol + colOffset
                    let colsValid = WindowGeometry.validRange(k: j * g.dilationW, stride: g.strideW, pad: g.padW, inCount: g.width, outCount: ow)
                    for y in rowsValid {
                        let src = row + y * ow
                        let dst = plane + (y * g.strideH - g.padH + i * g.dilationH) * g.width - g.padW + j * g.dilationW
                        if g.strideW == 1 && colsValid.count == ow {
                            addRow(dst, src, ow)
                        } else if g.strideW == 1 {
                            for x in colsValid { dst[x] += src[x] }
                        } else {
                            for x in colsValid { dst[x * g.strideW] += src[x] }
                        }
                    }
                }
            }
        }
    }
}
