#!/usr/bin/env python3
"""Writes this directory's renditions of Caffe's example deploy nets (CaffeNet, AlexNet,
GoogLeNet) in Caffe's current prototxt format, layer for layer as the published architectures
(Krizhevsky et al. 2012; Szegedy et al. 2014) and BVLC Caffe's models/ describe them. The small
nets (LeNet, CIFAR-10, the MNIST autoencoder) were written once with these helpers too and
are kept as they are."""

def params(pairs):
    return "".join(f"  param {{\n    lr_mult: {a}\n    decay_mult: {b}\n  }}\n" for a, b in pairs)

def filler(key, body):
    return f"    {key} {{\n{body}    }}\n" if body else ""

def conv(name, bottom, n, k, s=1, p=0, group=1, wf=None, bf=None):
    body = f"    num_output: {n}\n" + (f"    pad: {p}\n" if p else "") + f"    kernel_size: {k}\n"
    body += (f"    group: {group}\n" if group > 1 else "") + (f"    stride: {s}\n" if s != 1 else "")
    body += filler("weight_filler", wf) + filler("bias_filler", bf)
    return (f'layer {{\n  name: "{name}"\n  type: "Convolution"\n  bottom: "{bottom}"\n  top: "{name}"\n'
            f"{params(((1, 1), (2, 0)))}  convolution_param {{\n{body}  }}\n}}\n")

def ip(name, bottom, n, wf=None, bf=None):
    body = f"    num_output: {n}\n" + filler("weight_filler", wf) + filler("bias_filler", bf)
    return (f'layer {{\n  name: "{name}"\n  type: "InnerProduct"\n  bottom: "{bottom}"\n  top: "{name}"\n'
            f"{params(((1, 1), (2, 0)))}  inner_product_param {{\n{body}  }}\n}}\n")

def layer(name, kind, bottom, top, extra=""):
    return f'layer {{\n  name: "{name}"\n  type: "{kind}"\n  bottom: "{bottom}"\n  top: "{top}"\n{extra}}}\n'

def pool(name, bottom, kind, k, s, p=0):
    return layer(name, "Pooling", bottom, name,
                 f"  pooling_param {{\n    pool: {kind}\n    kernel_size: {k}\n    stride: {s}\n" + (f"    pad: {p}\n" if p else "") + "  }\n")

def lrn(name, bottom):
    return layer(name, "LRN", bottom, name, "  lrn_param {\n    local_size: 5\n    alpha: 0.0001\n    beta: 0.75\n  }\n")

def relu(name, blob):
    return layer(name, "ReLU", blob, blob)

def dropout(name, blob, ratio):
    return layer(name, "Dropout", blob, blob, f"  dropout_param {{\n    dropout_ratio: {ratio}\n  }}\n")

def data(dims):
    return ('layer {\n  name: "data"\n  type: "Input"\n  top: "data"\n  input_param { shape: { '
            + " ".join(f"dim: {d}" for d in dims) + " } }\n}\n")

def softmax(bottom):
    return layer("prob", "Softmax", bottom, "prob")

def caffenet(name, alexnet):
    """CaffeNet pools before it normalises; AlexNet normalises first."""
    out = f'name: "{name}"\n' + data([10, 3, 227, 227]) + conv("conv1", "data", 96, 11, s=4) + relu("relu1", "conv1")
    def block(i, blob):
        if alexnet:
            return lrn(f"norm{i}", blob) + pool(f"pool{i}", f"norm{i}", "MAX", 3, 2), f"pool{i}"
        return pool(f"pool{i}", blob, "MAX", 3, 2) + lrn(f"norm{i}", f"pool{i}"), f"norm{i}"
    text, blob = block(1, "conv1")
    out += text + conv("conv2", blob, 256, 5, p=2, group=2) + relu("relu2", "conv2")
    text, blob = block(2, "conv2")
    out += text + conv("conv3", blob, 384, 3, p=1) + relu("relu3", "conv3")
    out += conv("conv4", "conv3", 384, 3, p=1, group=2) + relu("relu4", "conv4")
    out += conv("conv5", "conv4", 256, 3, p=1, group=2) + relu("relu5", "conv5") + pool("pool5", "conv5", "MAX", 3, 2)
    out += ip("fc6", "pool5", 4096) + relu("relu6", "fc6") + dropout("drop6", "fc6", 0.5)
    out += ip("fc7", "fc6", 4096) + relu("relu7", "fc7") + dropout("drop7", "fc7", 0.5)
    return out + ip("fc8", "fc7", 1000) + softmax("fc8")

def googlenet():
    bias = '      type: "constant"\n      value: 0.2\n'
    def c(name, bottom, n, k, s=1, p=0, std="0.1"):
        head, _, tail = name.rpartition("/")
        return conv(name, bottom, n, k, s, p, wf=f'      type: "xavier"\n      std: {std}\n', bf=bias) + relu(f"{head}/relu_{tail}", name)
    out = 'name: "GoogleNet"\n' + data([10, 3, 224, 224])
    out += c("conv1/7x7_s2", "data", 64, 7, 2, 3) + pool("pool1/3x3_s2", "conv1/7x7_s2", "MAX", 3, 2) + lrn("pool1/norm1", "pool1/3x3_s2")
    out += c("conv2/3x3_reduce", "pool1/norm1", 64, 1) + c("conv2/3x3", "conv2/3x3_reduce", 192, 3, 1, 1, "0.03")
    out += lrn("conv2/norm2", "conv2/3x3") + pool("pool2/3x3_s2", "conv2/norm2", "MAX", 3, 2)
    blob = "pool2/3x3_s2"
    modules = [("inception_3a", (64, 96, 128, 16, 32, 32)), ("inception_3b", (128, 128, 192, 32, 96, 64)), "pool3/3x3_s2",
               ("inception_4a", (192, 96, 208, 16, 48, 64)), ("inception_4b", (160, 112, 224, 24, 64, 64)),
               ("inception_4c", (128, 128, 256, 24, 64, 64)), ("inception_4d", (112, 144, 288, 32, 64, 64)),
               ("inception_4e", (256, 160, 320, 32, 128, 128)), "pool4/3x3_s2",
               ("inception_5a", (256, 160, 320, 32, 128, 128)), ("inception_5b", (384, 192, 384, 48, 128, 128))]
    for m in modules:
        if isinstance(m, str):
            out += pool(m, blob, "MAX", 3, 2)
            blob = m
            continue
        name, (a, b1, b2, c1, c2, d) = m
        out += c(f"{name}/1x1", blob, a, 1)
        out += c(f"{name}/3x3_reduce", blob, b1, 1, std="0.09") + c(f"{name}/3x3", f"{name}/3x3_reduce", b2, 3, 1, 1, "0.03")
        out += c(f"{name}/5x5_reduce", blob, c1, 1, std="0.2") + c(f"{name}/5x5", f"{name}/5x5_reduce", c2, 5, 1, 2, "0.03")
        out += pool(f"{name}/pool", blob, "MAX", 3, 1, 1) + c(f"{name}/pool_proj", f"{name}/pool", d, 1)
        out += (f'layer {{\n  name: "{name}/output"\n  type: "Concat"\n'
                + "".join(f'  bottom: "{name}/{x}"\n' for x in ("1x1", "3x3", "5x5", "pool_proj")) + f'  top: "{name}/output"\n}}\n')
        blob = f"{name}/output"
    out += pool("pool5/7x7_s1", blob, "AVE", 7, 1) + dropout("pool5/drop_7x7_s1", "pool5/7x7_s1", 0.4)
    out += ip("loss3/classifier", "pool5/7x7_s1", 1000, wf='      type: "xavier"\n', bf='      type: "constant"\n      value: 0\n')
    return out + softmax("loss3/classifier")

if __name__ == "__main__":
    import os
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    for name, text in [("bvlc_reference_caffenet", caffenet("CaffeNet", False)), ("bvlc_alexnet", caffenet("AlexNet", True)),
                       ("bvlc_googlenet", googlenet())]:
        with open(f"{name}.deploy.prototxt", "w") as f:
            f.write(text)
