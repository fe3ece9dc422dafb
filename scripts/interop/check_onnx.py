#!/usr/bin/env python3
"""Checks `dzoo export-onnx` with the real consumer: onnxruntime (scripts/check-onnx runs this).

    check_onnx.py BIN_DIR OUT_DIR MODEL…

For each zoo model: export it with BIN_DIR/dzoo; check the file with onnx.checker (full
check); dump the test set's preprocessed inputs and the scores with BIN_DIR/dtest --dump; rebuild
those inputs from the raw test images with the preprocessing the ONNX metadata gives; run
onnxruntime on them; and require the same top-1 class as Dendrite on at least 99.9% of the
samples and every score within 1e-4. Prints one line of counts per model; exit status 1 if any
model fails.
"""
import gzip
import json
import os
import re
import struct
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort

AGREEMENT = 0.999
TOLERANCE = 1e-4


def safetensors(path):
    """{name: float32 array} of a safetensors file (its F32 tensors)."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        begin, end = t["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(t["shape"])
    return out


def idx_images(path):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    zero, kind, rank = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and kind == 0x08, f"{path}: not IDX bytes"
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    return np.frombuffer(raw[4 + 4 * rank:], dtype=np.uint8).reshape(dims)


def test_images(card_path):
    """The card's test images file (xor's card lists only the file it trains and tests on)."""
    card = open(card_path).read()
    m = re.search(r'\{role: "test images(?:, [^"]*)?", path: "([^"]+)"', card) or \
        re.search(r'\{role: "train images(?:, [^"]*)?", path: "([^"]+)"', card)
    if not m:
        return None
    path = m.group(1)
    return path if os.path.isabs(path) else os.path.join(os.path.dirname(card_path), path)


def check(bin_dir, out, name, env):
    model_path = os.path.join(out, f"{name}.onnx")
    r = subprocess.run([os.path.join(bin_dir, "dzoo"), "export-onnx", name, model_path], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return f"{name}: not exported: {r.stderr.strip().splitlines()[0] if r.stderr.strip() else r.returncode}"
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    scores = json.loads(meta["dendrite.scores"])
    if len(scores) != 1:
        return f"{name}: expected one scores output, the model has {scores}"
    score = scores[0]
    input_name = model.graph.input[0].name
    if len(model.graph.input) > 1:
        return check_recurrent(bin_dir, out, name, env, model_path, model, score)

    dumped, error = dump(bin_dir, out, name, env, [input_name, score])
    if error:
        return error
    expected = dumped[score].reshape(len(dumped[score]), -1)

    # The inputs, from the raw test images and the metadata's preprocessing: (x − mean)·scale.
    info = subprocess.run([os.path.join(bin_dir, "dzoo"), "info", name], capture_output=True, text=True, env=env).stdout
    directory = re.match(r"\S+ \((?:repo|user) zoo, (.+)\)\n", info)
    images = test_images(os.path.join(directory.group(1), "model.yaml")) if directory else None
    x = dumped[input_name]
    if images:
        raw = idx_images(images).astype(np.float32).reshape(x.shape)
        mean = np.array(json.loads(meta["dendrite.input.mean_value"]) or [0], np.float32)
        mean = mean.reshape((1, -1) + (1,) * (raw.ndim - 2)) if mean.size > 1 else mean
        rebuilt = (raw - mean) * np.float32(float(meta["dendrite.input.scale"]))
        if not np.array_equal(rebuilt, x):
            return f"{name}: the metadata's preprocessing does not give dtest's inputs (largest difference {np.abs(rebuilt - x).max():g})"
        x = rebuilt
    else:
        return f"{name}: no test images in its card"

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    got = np.concatenate([session.run([score], {input_name: x[i:i + 500]})[0] for i in range(0, len(x), 500)])
    return compare(name, got.reshape(len(got), -1), expected, "", model)


def dump(bin_dir, out, name, env, blobs):
    """dtest's blobs over the model's whole test set, or the error line."""
    path = os.path.join(out, f"{name}.dendrite.safetensors")
    r = subprocess.run([os.path.join(bin_dir, "dtest"), f"zoo:{name}", "--dump", ",".join(blobs), "--out", path, "--threads", "2"],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return None, f"{name}: dtest --dump failed: {r.stderr.strip()}"
    return safetensors(path), None


def compare(name, got, expected, detail, model):
    """The line of counts for scores [samples, classes] from onnxruntime and from Dendrite."""
    if got.shape != expected.shape:
        return f"{name}: onnxruntime's scores have shape {got.shape}, Dendrite's {expected.shape}"
    agree = int((got.argmax(1) == expected.argmax(1)).sum())
    worst = float(np.abs(got - expected).max())
    line = (f"{name}: samples={len(got)}{detail} top1_agree={agree} ({agree / len(got):.4%}) max_score_diff={worst:.3g} "
            f"checker=ok nodes={len(model.graph.node)} onnxruntime={ort.__version__}")
    ok = agree >= AGREEMENT * len(got) and worst <= TOLERANCE
    return line if ok else f"{line}: FAILED (needs top-1 agreement >= {AGREEMENT:.1%} and scores within {TOLERANCE:g})"


def check_recurrent(bin_dir, out, name, env, model_path, model, score):
    """A character model (TextData's data and cont, time-major [T, N]): the deploy net runs
    one step of N streams, carrying each LSTM's state (NAME/h0, c0 in; NAME/hT, cT out). Steps
    through the whole test split as dtest runs it, batch after batch, and compares the scores
    of every position."""
    dumped, error = dump(bin_dir, out, name, env, ["data", "cont", score])
    if error:
        return error
    data, cont, expected = dumped["data"], dumped["cont"], dumped[score]
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    state_inputs = [i for i in session.get_inputs() if i.name not in ("data", "cont")]
    state = {i.name: np.zeros((1, data.shape[1], i.shape[2]), np.float32) for i in state_inputs}
    outputs = [score] + [i.name[:-2] + ("hT" if i.name.endswith("h0") else "cT") for i in state_inputs]
    got = np.empty_like(expected)
    for t in range(len(data)):
        result = session.run(outputs, {"data": data[t:t + 1], "cont": cont[t:t + 1], **state})
        got[t] = result[0][0]
        state = {i.name: v for i, v in zip(state_inputs, result[1:])}
    return compare(name, got.reshape(-1, got.shape[-1]), expected.reshape(-1, expected.shape[-1]),
                   f" (positions: {data.shape[0]} steps of {data.shape[1]} streams)", model)


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: check_onnx.py BIN_DIR OUT_DIR MODEL…")
    bin_dir, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    failed = False
    for name in names:
        line = check(bin_dir, out, name, dict(os.environ))
        print(line, flush=True)
        failed |= not line.startswith(f"{name}: samples=") or "FAILED" in line
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
