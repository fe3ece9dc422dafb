"""Fashion-MNIST test images as 28×28 grey PNGs, written with zlib and struct (no imaging
library): for scripts/load-serve and scripts/check-browser.

    fashion_png.py OUTDIR COUNT     writes OUTDIR/0.png … OUTDIR/(COUNT-1).png
"""
import gzip
import struct
import sys
import zlib

IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def write(path, index, data=None):
    """Test image `index` as a PNG at `path`; `data` is the unzipped IDX file, read if None."""
    data = data or gzip.open(IMAGES).read()
    pixels = data[16 + index * 784:16 + (index + 1) * 784]
    raw = b"".join(b"\0" + pixels[r * 28:(r + 1) * 28] for r in range(28))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    out, count = sys.argv[1], int(sys.argv[2])
    data = gzip.open(IMAGES).read()
    for i in range(count):
        write(f"{out}/{i}.png", i, data)
