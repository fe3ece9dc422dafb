#!/usr/bin/python3
"""The PyTorch side of scripts/bench: the same workloads as Dendrite, timed the same way.

Prints one JSON object per workload: {"workload", "ms_per_iter" (median of windows),
"windows", "images_per_s", "threads"}. Runs with Debian's python3-torch (CPU).
"""
import argparse, gzip, json, statistics, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):
    """Caffe's LeNet: conv 20 5x5, max-pool 2, conv 50 5x5, max-pool 2, ip 500, ReLU, ip 10."""
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.ip1 = nn.Linear(800, 500)
        self.ip2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2, 2)
        x = F.max_pool2d(self.conv2(x), 2, 2)
        return self.ip2(F.relu(self.ip1(x.flatten(1))))


class LeNetBN(nn.Module):
    """Configs/fashion-bn: LeNet with BatchNorm+Scale (BatchNorm2d with its affine γ, β) after
    each convolution, whose bias it replaces."""
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 20, 5, bias=False), nn.BatchNorm2d(20, eps=1e-5, momentum=0.001)
        self.conv2, self.bn2 = nn.Conv2d(20, 50, 5, bias=False), nn.BatchNorm2d(50, eps=1e-5, momentum=0.001)
        self.ip1 = nn.Linear(800, 500)
        self.ip2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.bn1(self.conv1(x)), 2, 2)
        x = F.max_pool2d(self.bn2(self.conv2(x)), 2, 2)
        return self.ip2(F.relu(self.ip1(x.flatten(1))))


def autoencoder():
    """Configs/fashion-autoencoder: 784-1000-500-250-30-250-500-1000-784, sigmoid units but
    at the code layer and the output, whose sigmoid is in the loss."""
    sizes, layers = [784, 1000, 500, 250, 30, 250, 500, 1000, 784], []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i not in (3, 7):
            layers.append(nn.Sigmoid())
    return nn.Sequential(nn.Flatten(), *layers)


class CharLSTM(nn.Module):
    """Configs/char-lstm: a 64-wide embedding of 113 characters, two LSTMs of 256 units
    (nn.LSTM's fused kernels) and a linear layer back to 113 scores, time-major [T, N]."""
    def __init__(self, vocabulary):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, 64)
        self.lstm = nn.LSTM(64, 256, num_layers=2)
        self.scores = nn.Linear(256, vocabulary)

    def forward(self, x, state):
        h, state = self.lstm(self.embed(x), state)
        return self.scores(h), state


def mlp(sizes):
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(nn.Flatten(), *layers[:-1])


def windows(step, iters, count, warmup):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(count):
        t = time.perf_counter()
        for _ in range(iters):
            step()
        times.append((time.perf_counter() - t) * 1000 / iters)
    return times


DATA = "/usr/share/datasets/fashion-mnist/"


def idx(path):
    """An IDX file as a uint8 tensor: kept as bytes, like Dendrite, and converted per batch."""
    raw = gzip.open(path).read()
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims).copy())


def batches(split, batch, shuffle):
    images, labels = idx(DATA + split + "-images-idx3-ubyte.gz"), idx(DATA + split + "-labels-idx1-ubyte.gz")
    g = torch.Generator().manual_seed(1)
    while True:
        order = torch.randperm(len(labels), generator=g) if shuffle else torch.arange(len(labels))
        for i in range(0, len(order) - batch + 1, batch):
            b = order[i:i + batch]
            yield images[b].unsqueeze(1).float().mul_(0.00390625), labels[b].long()


def train_workload(model, batch, iters, count, warmup):
    """SGD with Caffe's LeNet settings (lr 0.01, momentum 0.9, weight decay 5e-4) on real batches."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0005)
    data = batches("train", batch, shuffle=True)

    def step():
        x, y = next(data)
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return windows(step, iters, count, warmup)


def autoencoder_workload(model, batch, iters, count, warmup):
    """Caffe's mnist_autoencoder solver: Nesterov, lr 0.01, momentum 0.95, weight decay 5e-4 on
    the weights only; the loss is the sigmoid cross-entropy summed over pixels, averaged over the
    batch, and the Euclidean l2_error (loss weight 0) is computed beside it, as in the net."""
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    plain = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 0.0005}, {"params": plain, "weight_decay": 0}],
                          lr=0.01, momentum=0.95, nesterov=True)
    data = batches("train", batch, shuffle=True)

    def step():
        x, _ = next(data)
        target = x.flatten(1)
        opt.zero_grad(set_to_none=False)
        logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / batch
        with torch.no_grad():
            ((torch.sigmoid(logits) - target) ** 2).sum() / (2 * batch)
        loss.backward()
        opt.step()
    return windows(step, iters, count, warmup)


FORTUNES = "/usr/share/games/fortunes/"


def char_lstm_workload(iters, count, warmup, steps=50, streams=50):
    """Configs/char-lstm's step: Adam (lr 0.002, betas 0.9, 0.999), gradients clipped to an L2
    norm of 5, on N = 50 streams of T = 50 characters of the fortune files, the hidden state
    carried (detached) from batch to batch as truncated backpropagation through time does."""
    import os
    names = sorted(f for f in os.listdir(FORTUNES) if "." not in f and not f.endswith("art"))
    text = "".join(open(FORTUNES + f, encoding="utf-8").read() for f in names)
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    stream = (len(ids) - 1) // streams
    xs = ids[:stream * streams].view(streams, stream).t()           # [S, N]
    ys = ids[1:stream * streams + 1].view(streams, stream).t()
    model = CharLSTM(len(vocabulary))
    opt = torch.optim.Adam(model.parameters(), lr=0.002, betas=(0.9, 0.999))
    position, state = [0], None

    def step():
        nonlocal state
        t = position[0]
        if t + steps > stream:
            t, state = 0, None
        x, y = xs[t:t + steps], ys[t:t + steps]
        position[0] = t + steps
        if state is not None:
            state = tuple(s.detach() for s in state)
        opt.zero_grad(set_to_none=False)
        scores, state = model(x, state)
        F.cross_entropy(scores.reshape(-1, scores.shape[-1]), y.reshape(-1)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5)
        opt.step()
    return windows(step, iters, count, warmup)


def inference_workload(model, batch, iters, count, warmup):
    model.eval()
    data = batches("t10k", batch, shuffle=False)

    def step():
        x, _ = next(data)
        with torch.no_grad():
            model(x)
    return windows(step, iters, count, warmup)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=["lenet", "lenet-bn", "mlp", "bigmlp", "autoencoder", "char-lstm", "lenet-infer"])
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--iters", type=int, default=50, help="iterations per timed window")
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--warmup", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if a.workload == "lenet":
        t, batch = train_workload(LeNet(), 64, a.iters, a.windows, a.warmup), 64
    elif a.workload == "lenet-bn":
        t, batch = train_workload(LeNetBN(), 64, a.iters, a.windows, a.warmup), 64
    elif a.workload == "autoencoder":
        t, batch = autoencoder_workload(autoencoder(), 100, a.iters, a.windows, a.warmup), 100
    elif a.workload == "mlp":
        t, batch = train_workload(mlp([784, 500, 300, 10]), 64, a.iters, a.windows, a.warmup), 64
    elif a.workload == "bigmlp":
        t, batch = train_workload(mlp([784, 2500, 2000, 1500, 1000, 500, 10]), 64, a.iters, a.windows, a.warmup), 64
    elif a.workload == "char-lstm":
        t, batch = char_lstm_workload(a.iters, a.windows, a.warmup), 50 * 50
    else:
        t, batch = inference_workload(LeNet(), 100, a.iters, a.windows, a.warmup), 100
    ms = statistics.median(t)
    print(json.dumps({"workload": a.workload, "ms_per_iter": ms, "windows": t,
                      "images_per_s": batch * 1000 / ms, "threads": a.threads}))


if __name__ == "__main__":
    sys.exit(main())
