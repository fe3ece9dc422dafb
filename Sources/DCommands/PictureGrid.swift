import CSTBImage
import DZoo

/// A picture of equal cells in rows and columns on a white background, for dtest's PNG files
/// (--show-augment, --visualize, --reconstruct). Cells are `gap` pixels apart and from the
/// edges; rows may be grouped (`rowsPerGroup`) with `groupGap` more pixels between groups, so
/// that a row of originals and the row of their reconstructions read as a pair.
/// Pixels are interleaved, height × width × channels bytes, as stb_image_write takes them.
struct PictureGrid {
    let rows, columns, cellWidth, cellHeight, channels, gap: Int
    let rowsPerGroup, groupGap: Int
    private(set) var pixels: [UInt8]

    init(rows: Int, columns: Int, cellWidth: Int, cellHeight: Int, channels: Int, gap: Int, rowsPerGroup: Int = 1, groupGap: Int = 0) {
        precondition(rows >= 1 && columns >= 1 && rowsPerGroup >= 1 && (channels == 1 || channels == 3))
        self.rows = rows; self.columns = columns; self.cellWidth = cellWidth; self.cellHeight = cellHeight
        self.channels = channels; self.gap = gap; self.rowsPerGroup = rowsPerGroup; self.groupGap = groupGap
        pixels = []
        pixels = [UInt8](repeating: 255, count: width * height * channels)
    }

    var width: Int { columns * cellWidth + (columns + 1) * gap }
    var height: Int { rows * cellHeight + (rows + 1) * gap + (rows - 1) / rowsPerGroup * groupGap }
    func top(ofRow r: Int) -> Int { gap + r * (cellHeight + gap) + r / rowsPerGroup * groupGap }
    func left(ofColumn c: Int) -> Int { gap + c * (cellWidth + gap) }

    /// The smallest integer factor that enlarges `side` pixels to at least `minimum`.
    static func zoom(_ side: Int, toAtLeast minimum: Int) -> Int { max(1, (minimum + side - 1) / max(side, 1)) }

    /// Paints one planar image, `channels` planes of height × width values, into a cell:
    /// enlarged `zoom` times by nearest neighbour and centred. `low` maps to 0 and `high` to
    /// 255, values between linearly (rounded), values outside clamped; an image with
    /// `high <= low` (a constant one) is mid grey.
    mutating func paint(row: Int, column: Int, _ values: [Float], height h: Int, width w: Int, zoom: Int, low: Float, high: Float) {
        precondition(values.count == channels * h * w && h * zoom <= cellHeight && w * zoom <= cellWidth)
        let top = top(ofRow: row) + (cellHeight - h * zoom) / 2, left = left(ofColumn: column) + (cellWidth - w * zoom) / 2
        // One factor rather than a division per value: a range of 255 (bytes) then maps exactly.
        let gridW = width, factor = high > low ? 255 / (high - low) : 0
        for y in 0..<(h * zoom) {
            for x in 0..<(w * zoom) {
                for c in 0..<channels {
                    let v = values[(c * h + y / zoom) * w + x / zoom]
                    let byte = high > low ? max(0, min(255, ((v - low) * factor).rounded())) : 128
                    pixels[((top + y) * gridW + left + x) * channels + c] = UInt8(byte)
                }
            }
        }
    }

    /// Encodes the picture with stb_image_write into memory, then writes the file atomically:
    /// a failed run leaves no half-written PNG behind.
    func writePNG(to path: String) throws(FileError) {
        try AtomicFile.write(try png(name: path), to: path)
    }

    /// The picture as PNG bytes; `name` names it in an error.
    func png(name path: String) throws(FileError) -> [UInt8] {
        final class Sink { var bytes: [UInt8] = [] }
        let sink = Sink()
        let ok = withExtendedLifetime(sink) {
            stbi_write_png_to_func({ context, data, size in
                guard let context, let data, size > 0 else { return }
                let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
                sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: Int(size)))
            }, Unmanaged.passUnretained(sink).toOpaque(), Int32(width), Int32(height), Int32(channels), pixels, Int32(width * channels))
        }
        guard ok != 0 else { throw FileError(path: path, "stb_image_write could not encode the \(width)×\(height) picture") }
        return sink.bytes
    }
}
