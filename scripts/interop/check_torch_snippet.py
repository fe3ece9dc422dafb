#!/usr/bin/env python3
"""Runs the PyTorch snippet of docs/INTEROP.md (the python block after the line
`<!-- checked by scripts/check-onnx -->`) from the repository root, and checks the module it
builds against Dendrite: on the whole Fashion-MNIST test set, the same top-1 class as
`dtest zoo:fashion-lenet` on >= 99.9% of the samples and every score within 1e-4.

    check_torch_snippet.py BIN_DIR OUT_DIR
"""
import os
import re
import subprocess
import sys

import torch
from safetensors.numpy import load_file

AGREEMENT = 0.999  # as check_onnx.py
TOLERANCE = 1e-4


def main():
    bin_dir, out = sys.argv[1], sys.argv[2]
    text = open("docs/INTEROP.md").read()
    code = re.search(r"<!-- checked by scripts/check-onnx -->\n```python\n(.*?)```", text, re.S).group(1)
    lines = len(code.strip().splitlines())
    scope = {}
    exec(code, scope)
    net = scope["net"]
    dump = os.path.join(out, "fashion-lenet.torch.safetensors")
    subprocess.run([os.path.join(bin_dir, "dtest"), "zoo:fashion-lenet", "--dump", "data,ip2", "--out", dump, "--threads", "2"],
                   check=True, capture_output=True)
    dumped = load_file(dump)
    with torch.no_grad():
        got = net(torch.from_numpy(dumped["data"].copy())).numpy()
    expected = dumped["ip2"].reshape(got.shape)
    agree = int((got.argmax(1) == expected.argmax(1)).sum())
    worst = float(abs(got - expected).max())
    line = (f"torch snippet ({lines} lines): samples={len(got)} top1_agree={agree} ({agree / len(got):.4%}) "
            f"max_score_diff={worst:.3g} torch={torch.__version__}")
    ok = agree >= AGREEMENT * len(got) and worst <= TOLERANCE
    print(line if ok else line + ": FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
