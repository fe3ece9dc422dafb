#!/usr/bin/env python3
"""Runs an ONNX model in onnxruntime on one raw input (little-endian float32) and writes one
output the same way: the tests' bridge to onnxruntime.

    run_onnx.py MODEL.onnx INPUT.f32 N,C,H,W OUTPUT_NAME[,OUTPUT_NAME…] OUT.f32 [NAME=FILE.f32:D,D… …]

The first input gets INPUT.f32, and each NAME=… input its file. Several outputs are written one
after the other, each flattened. A recurrent net's other inputs get a first step's values:
`cont` ones ([1, N], carry) and each carried state (`NAME/h0`, `NAME/c0`) zeros, as a fresh
Dendrite net starts.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort

model_path, input_path, shape, output, out_path = sys.argv[1:6]
onnx.checker.check_model(onnx.load(model_path), full_check=True)
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
x = np.fromfile(input_path, dtype="<f4").reshape([int(d) for d in shape.split(",")])
feeds = {session.get_inputs()[0].name: x}
for given in sys.argv[6:]:
    name, rest = given.split("=", 1)
    path, dims = rest.rsplit(":", 1)
    feeds[name] = np.fromfile(path, dtype="<f4").reshape([int(d) for d in dims.split(",")])
for i in session.get_inputs()[1:]:
    if i.name in feeds:
        continue
    if i.name == "cont":
        feeds[i.name] = np.ones((1, x.shape[1]), np.float32)
    else:
        feeds[i.name] = np.zeros((1, x.shape[1], i.shape[2]), np.float32)
ys = session.run(output.split(","), feeds)
np.concatenate([y.astype("<f4").ravel() for y in ys]).tofile(out_path)
