#!/bin/sh
# Regenerates the binary malformed inputs of Tests/BadInputs (the text ones are hand-written
# and committed as they are). Run from anywhere: sh Tests/BadInputs/make.sh
set -e
cd "$(dirname "$0")"
# vocab/: a tiny character model trained for 2 iterations (by the dtrain built in .build/debug)
# whose vocabulary.json is then broken in several ways, with the card's checksums made to
# match, so that what is tested is the vocabulary and not the checksum.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'abc%.0s' $(seq 200) > "$tmp/text.txt"
cat > "$tmp/solver.yaml" <<'YAML'
base_lr: 0.05
type: Adam
max_iter: 2
random_seed: 1
model_card: {description: "a bad-input test model", dataset: abc, licence: MIT}
net_param:
  name: chars
  layer:
    - {name: text, type: TextData, top: [data, label, cont], text_data_param: {source: text.txt, batch_size: 4, seq_length: 12}}
    - {name: embed, type: Embed, bottom: data, top: emb, embed_param: {input_dim: 3, num_output: 4}}
    - {name: lstm, type: LSTM, bottom: [emb, cont], top: h, recurrent_param: {num_output: 4}}
    - {name: scores, type: InnerProduct, bottom: h, top: scores, inner_product_param: {num_output: 3, axis: 2}}
    - {name: loss, type: SoftmaxWithLoss, bottom: [scores, label], top: loss, softmax_param: {axis: 2}}
YAML
DENDRITE_ZOO="$tmp/zoo" ${DTRAIN:-../../.build/debug/dtrain} "$tmp/solver.yaml" --threads 1 --quiet
rm -rf vocab && mkdir vocab
python3 - "$tmp/zoo/chars" <<'PY'
import hashlib, os, re, shutil, sys
source = sys.argv[1]
cases = {
    "not-json": b"[\"a\", \"b\", \"c\"",
    "not-a-list": b"{\"a\": 0, \"b\": 1, \"c\": 2}",
    "empty-list": b"[]",
    "too-short": b"[\"a\", \"b\"]",
    "duplicate": b"[\"a\", \"b\", \"a\"]",
    "two-characters": b"[\"a\", \"bc\", \"d\"]",
    "numbers": b"[1, 2, 3]",
    "not-utf8": b"[\"a\", \"\xff\", \"c\"]",
    "empty-file": b"",
}
for name, vocabulary in cases.items():
    d = "vocab/" + name
    shutil.copytree(source, d)
    for f in os.listdir(d):  # the metrics and curves vary with the machine and are not needed
        if f.endswith((".jsonl", ".svg")): os.remove(os.path.join(d, f))
    with open(d + "/vocabulary.json", "wb") as f: f.write(vocabulary)
    card = open(d + "/model.yaml").read()
    def entry(m):
        path = m.group(1)
        if not os.path.exists(os.path.join(d, path)): return ""
        data = open(os.path.join(d, path), "rb").read()
        return '  - {path: "%s", size: %d, sha256: "%s"}\n' % (path, len(data), hashlib.sha256(data).hexdigest())
    card = re.sub(r'  - \{path: "([^"]+)", size: \d+, sha256: "[0-9a-f]+"\}\n', entry, card)
    open(d + "/model.yaml", "w").write(card)
PY
python3 - <<'PY'
import gzip, io, json, os, struct, tarfile, zlib

def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f: f.write(data)

def gz(data):  # deterministic gzip (no name, mtime 0)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as f: f.write(data)
    return buf.getvalue()

# --- IDX: two 28×28 images and two labels are the valid halves of each pair.
def idx(dims, payload, type_code=0x08):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload
images = idx([2, 28, 28], bytes(range(256)) * 6 + bytes(1568 - 1536))
labels = idx([2], bytes([3, 7]))
put("idx/images-ok.idx", images)
put("idx/labels-ok.idx", labels)
put("idx/labels-ok.idx.gz", gz(labels))
put("idx/bad-magic.idx", b"\x12\x34\x08\x03" + images[4:])
put("idx/bad-type.idx", idx([2, 28, 28], images[16:], type_code=0x42))
put("idx/empty.idx", b"")
put("idx/short-header.idx", images[:10])
put("idx/truncated.idx", images[:-100])
put("idx/extra-bytes.idx", images + b"\0" * 7)
put("idx/rank1-images.idx", idx([1568], images[16:]))
put("idx/rank2-labels.idx", idx([2, 1], bytes([3, 7])))
put("idx/dims-overflow.idx", idx([0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], b""))
put("idx/too-many-labels.idx", idx([3], bytes([3, 7, 1])))
put("idx/label-out-of-range.idx", idx([2], bytes([3, 200])))
put("idx/truncated.idx.gz", gz(images)[:-30])
put("idx/no-trailer.idx.gz", gz(images)[:-8])
bad_crc = bytearray(gz(images)); bad_crc[-8] ^= 0xFF
put("idx/bad-crc.idx.gz", bytes(bad_crc))
put("idx/gzip-of-garbage.idx.gz", gz(b"this is not an IDX file at all\n"))
put("idx/bad-magic.idx.gz", gz(b"\x12\x34\x08\x03" + images[4:]))

# --- safetensors for the xor net of common/ (hidden 4×2 + 4, out 2×4 + 2).
def st(header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data
put("safetensors/empty.safetensors", b"")
put("safetensors/short.safetensors", b"\x05\x00\x00")
put("safetensors/header-too-long.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
h = b'{"hidden.weight": {"dtype": "F32", '
put("safetensors/bad-json.safetensors", struct.pack("<Q", len(h)) + h)
put("safetensors/f16.safetensors", st({"out.weight": {"dtype": "F16", "shape": [2, 4], "data_offsets": [0, 16]}}, b"\0" * 16))
put("safetensors/offsets-out-of-range.safetensors", st({"out.weight": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]}}, b"\0" * 16))
put("safetensors/overlap.safetensors", st({"out.weight": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]},
                                           "out.bias": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]}}, b"\0" * 32))
put("safetensors/gap.safetensors", st({"out.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 16))
put("safetensors/negative-shape.safetensors", st({"out.bias": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8))
put("safetensors/wrong-shape.safetensors", st({"out.weight": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}}, b"\0" * 48))
put("safetensors/no-matching-layer.safetensors", st({"other.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8))

# --- solver states for common/solver.yaml.
def state(meta): return st({"__metadata__": meta}, b"")
put("solverstate/not-safetensors.solverstate", b"iteration: 30\n")
put("solverstate/weights-file.solverstate", st({"out.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8))
put("solverstate/other-format.solverstate", state({"format": "something-else"}))
put("solverstate/version-9.solverstate", state({"format": "dendrite-solverstate", "version": "9"}))
put("solverstate/adam.solverstate", state({"format": "dendrite-solverstate", "version": "1", "solver_type": "Adam"}))
put("solverstate/other-net.solverstate", state({"format": "dendrite-solverstate", "version": "1", "solver_type": "SGD", "net": "lenet", "net_fingerprint": "0" * 64}))

# --- tar.gz archives for dzoo fetch-local.
def tgz(members, raw=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for m, data in members:
            m.mtime = 0; m.uname = m.gname = ""; t.addfile(m, io.BytesIO(data) if data is not None else None)
    return buf.getvalue() if raw else gz(buf.getvalue())
def reg(name, data=b"x"):
    m = tarfile.TarInfo(name); m.size = len(data); m.mode = 0o644; return (m, data)
def link(name, target, kind=tarfile.SYMTYPE):
    m = tarfile.TarInfo(name); m.type = kind; m.linkname = target; return (m, None)
card = b"version: 1\nname: m\n"
put("archive/not-gzip.tar.gz", b"PK\x03\x04 this is a zip, not a gzip\n")
put("archive/empty.tar.gz", b"")
put("archive/plain-tar.tar.gz", tgz([reg("m/model.yaml", card)], raw=True))
put("archive/gzip-not-tar.tar.gz", gz(b"hello, this is text\n" * 40))
put("archive/empty-tar.tar.gz", tgz([]))
put("archive/absolute.tar.gz", tgz([reg("/etc/m/model.yaml", card)]))
put("archive/dotdot.tar.gz", tgz([reg("m/../../evil", card)]))
put("archive/symlink.tar.gz", tgz([reg("m/model.yaml", card), link("m/weights.safetensors", "/etc/passwd")]))
put("archive/hardlink.tar.gz", tgz([reg("m/model.yaml", card), link("m/copy.yaml", "m/model.yaml", tarfile.LNKTYPE)]))
put("archive/two-roots.tar.gz", tgz([reg("m/model.yaml", card), reg("n/model.yaml", card)]))
put("archive/no-top-directory.tar.gz", tgz([reg("model.yaml", card)]))
fifo = tarfile.TarInfo("m/pipe"); fifo.type = tarfile.FIFOTYPE
put("archive/fifo.tar.gz", tgz([reg("m/model.yaml", card), (fifo, None)]))
whole = tgz([reg("m/model.yaml", card), reg("m/big.bin", bytes(range(256)) * 64)], raw=True)
put("archive/truncated.tar.gz", gz(whole[:3000]))
put("archive/truncated-gzip.tar.gz", gz(whole)[:200])
put("archive/no-card.tar.gz", tgz([reg("m/net.yaml", b"name: m\n")]))
put("archive/bad-card.tar.gz", tgz([reg("m/model.yaml", b"version: 1\nname: [unclosed\n")]))

# --- images for dtest zoo:fashion-lenet --predict.
def png_chunk(kind, data): return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\0" + bytes([(x * 9 + y) % 256 for x in range(28)]) for y in range(28))
png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")
put("image/empty.png", b"")
put("image/truncated.png", png[:60])
put("image/header-only.png", png[:8])
put("image/text.png", b"this is not an image\n")
put("image/zero-size.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 0, 0, 0, 0)) + png_chunk(b"IEND", b""))
put("image/huge.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0x7FFFFFFF, 0x7FFFFFFF, 8, 0, 0, 0, 0)) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))
put("image/truncated.pgm", b"P5\n28 28\n255\n" + bytes(100))
put("image/bad-header.pgm", b"P5\n28 twenty-eight\n255\n" + bytes(784))

# --- text corpora.
put("text/empty.txt", b"")
put("text/latin1.txt", "caf\xe9 cr\xe8me br\xfbl\xe9e, ".encode("latin-1") * 20)
put("text/short.txt", b"abcab\n")
put("text/nul.txt", b"abc\0abc" * 20)
PY
