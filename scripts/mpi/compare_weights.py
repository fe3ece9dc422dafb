"""Compares two safetensors weight files (float32 tensors, the same names and shapes).

Prints per tensor and overall ‖a − b‖ / ‖b‖ and the largest |a − b|, and exits 1 when the
overall relative difference exceeds --tolerance. Standard library only."""
import argparse, json, math, struct, sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            sys.exit(f"{path}: tensor {name} is {entry['dtype']}, not F32")
        begin, end = entry["data_offsets"]
        out[name] = struct.unpack(f"<{(end - begin) // 4}f", body[begin:end])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tolerance", type=float, default=1e-5)
    args = p.parse_args()
    a, b = read(args.a), read(args.b)
    if a.keys() != b.keys():
        sys.exit(f"the files hold different tensors: {sorted(a.keys() ^ b.keys())}")
    total_diff = total_norm = 0.0
    largest = 0.0
    for name in sorted(a):
        x, y = a[name], b[name]
        d = sum((u - v) ** 2 for u, v in zip(x, y))
        n = sum(v * v for v in y)
        largest = max(largest, max(abs(u - v) for u, v in zip(x, y)))
        total_diff += d
        total_norm += n
        print(f"  {name}: relative difference {math.sqrt(d / n) if n else math.sqrt(d):.3e}")
    rel = math.sqrt(total_diff / total_norm) if total_norm else math.sqrt(total_diff)
    print(f"weights: relative difference {rel:.3e} (largest |a-b| {largest:.3e}), tolerance {args.tolerance:.0e}")
    sys.exit(0 if rel <= args.tolerance else 1)


main()
