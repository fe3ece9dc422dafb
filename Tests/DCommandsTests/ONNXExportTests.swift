import DConfig
import DCore
import DInterop
import DLayers
import DNet
import DZoo
import Foundation
import Testing

/// The Python of scripts/bootstrap --interop for onnx and onnxruntime, when it can import them.
let onnxPython: String? = {
    let python = FileManager.default.currentDirectoryPath + "/.venv-onnx/bin/python"
    return shell("\(python) -c 'import onnx, onnxruntime'") == 0 && interopPython != nil ? python : nil
}()

@Suite struct ONNXExportTests {
    /// The shipped LeNet as ONNX: its operators in order, the input with a symbolic batch, the
    /// scores and probabilities as outputs, the weights as initializers, the card as metadata.
    @Test func exportsTheShippedLeNet() throws {
        let dir = temporaryDirectory()
        let r = try run("dzoo", ["export-onnx", "zoo:fashion-lenet", dir + "/lenet.onnx"], zoo: dir + "/zoo")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix("exported fashion-lenet to \(dir)/lenet.onnx: opset 13, 9 nodes, input data, outputs ip2, prob, "), "\(r.out)")
        let model = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: dir + "/lenet.onnx")))
        #expect(model.irVersion == 7 && model.opsetImport.map(\.version) == [13])
        let g = model.graph
        #expect(g.node.map(\.opType) == ["Conv", "MaxPool", "Conv", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm", "Softmax"])
        #expect(g.input.map(\.name) == ["data"] && g.output.map(\.name) == ["ip2", "prob"])
        let dims = g.input[0].type.tensorType.shape.dim
        #expect(dims.first?.dimParam == "N" && dims.dropFirst().map(\.dimValue) == [1, 28, 28])
        // ip1 in place under relu1: the version before is ip1@0, the last keeps the name.
        #expect(g.node[5].output == ["ip1@0"] && g.node[6].input == ["ip1@0"] && g.node[6].output == ["ip1"])
        let conv1 = try #require(g.initializer.first { $0.name == "conv1.weight" })
        #expect(conv1.dims == [20, 1, 5, 5] && conv1.rawData.count == 500 * 4)
        let weights = try SafetensorsFile.read(repositoryZoo + "/fashion-lenet/fashion-lenet_iter_10000.safetensors")
        #expect(conv1.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } == weights["conv1.weight"]?.values)
        let meta = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
        #expect(meta["dendrite.class_names"]?.hasPrefix("[\"T-shirt/top\", \"Trouser\", ") == true)
        #expect(meta["dendrite.input.scale"] == "0.00390625" && meta["dendrite.scores"] == "[\"ip2\"]")
    }

    /// Every layer that computes in a deploy net is exported: Caffe's cifar10_full, whose LRN
    /// normalises WITHIN_CHANNEL (no ONNX operator of its own), goes out as an average pooling
    /// of the squares. A layer that needs labels is refused by name, and nothing is written.
    @Test func aLayerWithoutADeployMeaningIsRefused() throws {
        let dir = temporaryDirectory()
        let imported = try run("dzoo", ["import-caffe", "Tests/CaffeNets/cifar10_full.prototxt", "--name", "cifar"], zoo: dir + "/zoo")
        #expect(imported.status == 0, "\(imported.err)")
        let cifar = try run("dzoo", ["export-onnx", "cifar", dir + "/cifar.onnx"], zoo: dir + "/zoo")
        #expect(cifar.status == 0 && FileManager.default.fileExists(atPath: dir + "/cifar.onnx"), "\(cifar.err)")

        let yaml = """
        name: scored
        layer:
          - {name: data, type: Input, top: [data, label], input_param: {shape: [{dim: [2, 3]}, {dim: [2]}]}}
          - {name: loss, type: SoftmaxWithLoss, bottom: [data, label], top: loss}
        """
        var card = ModelCard(name: "scored", provenance: ModelCard.Provenance(command: "test", dendrite: ModelCard.dendriteVersion, randomSeed: 1, threads: 1, date: ""))
        (card.net, card.solver, card.weights) = ("deploy.yaml", "", "w.safetensors")
        _ = try ZooEntryWriter.create(directory: dir + "/zoo/scored", card: card, files: [
            ("deploy.yaml", Array(yaml.utf8)), ("w.safetensors", Weights.file(of: ParameterStore(seed: 1), metadata: [:]).encoded()),
        ])
        let r = try run("dzoo", ["export-onnx", "scored", dir + "/scored.onnx"], zoo: dir + "/zoo")
        #expect(r.status == 1)
        #expect(r.err.contains("/scored/deploy.yaml: error: layer 'loss' (SoftmaxWithLoss): needs labels to train or evaluate: a deploy net has no losses or Accuracy\n"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/scored.onnx"))
        // Nor into a zoo entry.
        let into = try run("dzoo", ["export-onnx", "xor", repositoryZoo + "/xor/net.yaml"], zoo: dir + "/zoo")
        #expect(into.status == 1 && into.err.contains("is also an input of this command"), "\(into.err)")
    }

    /// scripts/check-onnx with this build's binaries: every shipped model through onnx.checker
    /// and onnxruntime over its test set (char-lstm step by step, its LSTMs' state carried), and
    /// the PyTorch snippet of docs/INTEROP.md.
    @Test(.enabled(if: onnxPython != nil, "needs scripts/bootstrap --interop (onnx and onnxruntime in .venv-onnx, PyTorch in .venv-interop)"),
          .enabled(if: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
                   "runs under OpenBLAS's own kernel choice only (scripts/check-kernels forces the others; the per-layer checks run under each)"))
    func checkONNXPassesForTheShippedModels() throws {
        let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        let r = try run("/bin/bash", ["scripts/check-onnx", "--bin", bin], zoo: temporaryDirectory() + "/zoo")
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.map { $0.prefix { $0 != ":" } } == ["xor", "fashion-mlp", "fashion-lenet", "char-lstm", "fashion-best-1", "fashion-best-2", "torch snippet (10 lines)"], "\(r.out)")
        #expect(lines.allSatisfy { $0.contains(" samples=") && !$0.contains("FAILED") }, "\(r.out)")
    }

    /// Caffe → Dendrite → ONNX → onnxruntime against PyTorch: the caffemodels of
    /// CaffeNumericsTests (LeNet; CaffeNet with grouped convolutions and LRN; BatchNorm, Scale and
    /// average pooling whose last windows run past the image, which Caffe divides by less),
    /// imported, exported, and run by onnxruntime, match PyTorch's forward to 1e-5 of the
    /// output's largest magnitude.
    @Test(.enabled(if: onnxPython != nil, "needs scripts/bootstrap --interop (onnx and onnxruntime in .venv-onnx, PyTorch in .venv-interop)"))
    func importedCaffeModelsRunInONNXRuntimeAsInPyTorch() throws {
        let dir = try #require(caffeReference, "scripts/interop/caffe_reference.py failed")
        let out = temporaryDirectory(), zoo = out + "/zoo"
        for (name, shape, blob) in try caffeReferenceCases(dir) {
            let imported = try run("dzoo", ["import-caffe", "\(dir)/\(name).prototxt", "\(dir)/\(name).caffemodel", "--name", name], zoo: zoo)
            #expect(imported.status == 0, "\(imported.err)")
            let exported = try run("dzoo", ["export-onnx", name, "\(out)/\(name).onnx"], zoo: zoo)
            #expect(exported.status == 0, "\(exported.err)")
            #expect(shell("\(onnxPython!) scripts/interop/run_onnx.py \(out)/\(name).onnx \(dir)/\(name).input "
                          + "\(shape.map(String.init).joined(separator: ",")) \(blob) \(out)/\(name).onnxruntime") == 0, "\(name)")
            expectWithinRelative(try rawFloats("\(out)/\(name).onnxruntime"), try rawFloats("\(dir)/\(name).output"), floor: 0.1, name)
        }
    }
}

/// Each layer mapping of the ONNX export against Dendrite's own forward pass: a small deploy
/// net per case, with weights from its fillers (BatchNorm's statistics set by hand), made into
/// a zoo entry, exported, and run by onnxruntime on a fixed input, whose output must match
/// Dendrite's to 1e-5 of its largest magnitude.
@Suite struct ONNXLayerTests {
    /// A net on the input `data` (and `more` inputs, e.g. a recurrent net's cont and states),
    /// whose `outputs` are compared, one after the other.
    struct Case {
        let name: String, input: [Int], layers: String
        var more: [(name: String, dims: [Int], values: [Float]?)] = []
        var outputs = ["y"]
        init(_ name: String, _ input: [Int], _ layers: String, more: [(name: String, dims: [Int], values: [Float]?)] = [], outputs: [String] = ["y"]) {
            (self.name, self.input, self.layers, self.more, self.outputs) = (name, input, layers, more, outputs)
        }
    }

    static let cases: [Case] = [
        Case("conv-group-dilation", [2, 4, 9, 9], """
          - {name: c, type: Convolution, bottom: data, top: y, convolution_param: {num_output: 6, kernel_size: 3, group: 2, dilation: 2, pad: 1, stride: 2, weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: gaussian, std: 0.3}}}
        """),
        // Over one spatial axis: a Convolution and a Deconvolution of [N, C, L].
        Case("conv-deconv-1d", [2, 4, 7], """
          - {name: split, type: Split, bottom: data, top: [d1, d2]}
          - {name: c, type: Convolution, bottom: d1, top: c, convolution_param: {num_output: 5, kernel_size: 3, pad: 1, stride: 2, dilation: 2, weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: gaussian, std: 0.3}}}
          - {name: d, type: Deconvolution, bottom: d2, top: d, convolution_param: {num_output: 2, kernel_size: 3, stride: 2, weight_filler: {type: gaussian, std: 0.3}}}
          - {name: fc, type: Flatten, bottom: c, top: fc}
          - {name: fd, type: Flatten, bottom: d, top: fd}
          - {name: y, type: Concat, bottom: [fc, fd], top: y}
        """),
        // Channel axis 2: [N, T, C, H, W] convolves N·T images.
        Case("conv-axis-2", [2, 3, 2, 5, 5], """
          - {name: y, type: Convolution, bottom: data, top: y, convolution_param: {axis: 2, num_output: 4, kernel_size: 3, weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: gaussian, std: 0.3}}}
        """),
        Case("conv-rectangular-no-bias", [1, 2, 7, 8], """
          - {name: c, type: Convolution, bottom: data, top: y, convolution_param: {num_output: 3, kernel_h: 3, kernel_w: 2, pad_h: 1, pad_w: 0, stride_h: 1, stride_w: 2, bias_term: false, weight_filler: {type: gaussian, std: 0.3}}}
        """),
        Case("max-pool-padded-ceil", [2, 3, 10, 10], """
          - {name: p, type: Pooling, bottom: data, top: y, pooling_param: {pool: MAX, kernel_size: 3, stride: 2, pad: 1}}
        """),
        Case("ave-pool-padded-ceil", [2, 3, 10, 11], """
          - {name: p, type: Pooling, bottom: data, top: y, pooling_param: {pool: AVE, kernel_size: 3, stride: 2, pad: 1}}
        """),
        Case("ave-pool-floor", [1, 2, 10, 10], """
          - {name: p, type: Pooling, bottom: data, top: y, pooling_param: {pool: AVE, kernel_size: 3, stride: 2, round_mode: FLOOR}}
        """),
        Case("global-pools", [2, 3, 5, 4], """
          - {name: gmax, type: Pooling, bottom: data, top: m, pooling_param: {pool: MAX, global_pooling: true}}
          - {name: gave, type: Pooling, bottom: data, top: a, pooling_param: {pool: AVE, global_pooling: true}}
          - {name: y, type: Eltwise, bottom: [m, a], top: y, eltwise_param: {operation: SUM, coeff: [0.5, -2]}}
        """),
        Case("activations", [2, 3, 4, 4], """
          - {name: leaky, type: ReLU, bottom: data, top: r, relu_param: {negative_slope: 0.1}}
          - {name: s, type: Sigmoid, bottom: data, top: s}
          - {name: t, type: TanH, bottom: data, top: t}
          - {name: a, type: AbsVal, bottom: data, top: a}
          - {name: prod, type: Eltwise, bottom: [r, s], top: rs, eltwise_param: {operation: PROD}}
          - {name: max, type: Eltwise, bottom: [t, a, rs], top: y, eltwise_param: {operation: MAX}}
        """),
        Case("lrn-batchnorm-scale-bias", [2, 6, 5, 5], """
          - {name: lrn, type: LRN, bottom: data, top: l, lrn_param: {local_size: 3, alpha: 0.5, beta: 0.75, k: 2}}
          - {name: bn, type: BatchNorm, bottom: l, top: l, batch_norm_param: {eps: 0.001}}
          - {name: sc, type: Scale, bottom: l, top: l, scale_param: {bias_term: true, filler: {type: gaussian, mean: 1, std: 0.3}, bias_filler: {type: gaussian, std: 0.3}}}
          - {name: b, type: Bias, bottom: l, top: y, bias_param: {filler: {type: gaussian, std: 0.3}}}
        """),
        Case("concat-split-flatten-ip-softmax", [2, 3, 4, 4], """
          - {name: split, type: Split, bottom: data, top: [d1, d2]}
          - {name: c1, type: Convolution, bottom: d1, top: c1, convolution_param: {num_output: 2, kernel_size: 1, weight_filler: {type: gaussian, std: 0.5}}}
          - {name: cat, type: Concat, bottom: [c1, d2], top: cat}
          - {name: drop, type: Dropout, bottom: cat, top: cat}
          - {name: flat, type: Flatten, bottom: cat, top: flat}
          - {name: ip, type: InnerProduct, bottom: flat, top: ip, inner_product_param: {num_output: 7, weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: gaussian, std: 0.3}}}
          - {name: y, type: Softmax, bottom: ip, top: y}
        """),
        Case("deconvolution", [1, 4, 5, 5], """
          - {name: d, type: Deconvolution, bottom: data, top: y, convolution_param: {num_output: 6, kernel_size: 3, stride: 2, pad: 1, group: 2, weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: gaussian, std: 0.3}}}
        """),
        Case("elementwise-functions", [2, 3, 4, 4], """
          - {name: elu, type: ELU, bottom: data, top: e, elu_param: {alpha: 0.7}}
          - {name: prelu, type: PReLU, bottom: data, top: p, prelu_param: {filler: {type: gaussian, std: 0.5}}}
          - {name: prelu_shared, type: PReLU, bottom: data, top: q, prelu_param: {channel_shared: true, filler: {type: constant, value: 0.2}}}
          - {name: bnll, type: BNLL, bottom: data, top: b}
          - {name: power, type: Power, bottom: b, top: pw, power_param: {power: 2, scale: 0.5, shift: 1}}
          - {name: exp, type: Exp, bottom: data, top: ex, exp_param: {base: 2, scale: 0.5, shift: 1}}
          - {name: log, type: Log, bottom: ex, top: lg, log_param: {base: 10, scale: 2, shift: 0.5}}
          - {name: threshold, type: Threshold, bottom: data, top: th, threshold_param: {threshold: 0.3}}
          - {name: y, type: Eltwise, bottom: [e, p, q, pw, ex, lg, th], top: y}
        """),
        Case("slice-tile-crop", [2, 6, 5, 5], """
          - {name: slice, type: Slice, bottom: data, top: [a, b, c], slice_param: {slice_point: [2, 5]}}
          - {name: tile, type: Tile, bottom: c, top: t, tile_param: {tiles: 3}}
          - {name: ref, type: Pooling, bottom: b, top: r, pooling_param: {pool: MAX, kernel_size: 3, stride: 1}}
          - {name: crop, type: Crop, bottom: [t, r], top: cropped, crop_param: {axis: 2, offset: [1, 2]}}
          - {name: y, type: Eltwise, bottom: [cropped, r], top: y}
        """),
        Case("mvn", [2, 3, 4, 4], """
          - {name: mvn, type: MVN, bottom: data, top: m}
          - {name: mvn_across, type: MVN, bottom: data, top: m2, mvn_param: {across_channels: true, normalize_variance: false}}
          - {name: y, type: Eltwise, bottom: [m, m2], top: y}
        """),
        Case("reductions", [2, 3, 4, 4], """
          - {name: split, type: Split, bottom: data, top: [d1, d2, d3, d4]}
          - {name: sum, type: Reduction, bottom: d1, top: r1, reduction_param: {operation: SUM, axis: 1, coeff: 0.5}}
          - {name: asum, type: Reduction, bottom: d2, top: r2, reduction_param: {operation: ASUM, axis: 1}}
          - {name: sumsq, type: Reduction, bottom: d3, top: r3, reduction_param: {operation: SUMSQ, axis: 2}}
          - {name: mean, type: Reduction, bottom: d4, top: r4, reduction_param: {operation: MEAN, axis: 1}}
          - {name: flat, type: Flatten, bottom: r3, top: f3}
          - {name: r3sum, type: Reduction, bottom: f3, top: s3, reduction_param: {operation: SUM, axis: 1}}
          - {name: y, type: Eltwise, bottom: [r1, r2, s3, r4], top: y}
        """),
        Case("lrn-within-channel", [2, 3, 5, 5], """
          - {name: y, type: LRN, bottom: data, top: y, lrn_param: {norm_region: WITHIN_CHANNEL, local_size: 3, alpha: 0.5, beta: 0.75}}
        """),
        // TEST's expectation of the draw; the last windows run past the 6×6 image, and a
        // window with nothing positive gives 0.
        Case("stochastic-pools", [2, 3, 6, 6], """
          - {name: shift, type: Power, bottom: data, top: shifted, power_param: {shift: -1.5}}
          - {name: split, type: Split, bottom: shifted, top: [s1, s2]}
          - {name: p, type: Pooling, bottom: s1, top: p, pooling_param: {pool: STOCHASTIC, kernel_size: 3, stride: 2}}
          - {name: g, type: Pooling, bottom: s2, top: g, pooling_param: {pool: STOCHASTIC, global_pooling: true}}
          - {name: fp, type: Flatten, bottom: p, top: fp}
          - {name: fg, type: Flatten, bottom: g, top: fg}
          - {name: y, type: Concat, bottom: [fp, fg], top: y}
        """),
        // use_global_stats: false, over [N, C, H, W] and over [N, C].
        Case("batchnorm-batch-statistics", [3, 2, 3, 3], """
          - {name: split, type: Split, bottom: data, top: [d1, d2]}
          - {name: bn, type: BatchNorm, bottom: d1, top: b, batch_norm_param: {use_global_stats: false, eps: 0.01}}
          - {name: ip, type: InnerProduct, bottom: d2, top: ip, inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 0.5}}}
          - {name: bn2, type: BatchNorm, bottom: ip, top: ip, batch_norm_param: {use_global_stats: false}}
          - {name: fb, type: Flatten, bottom: b, top: fb}
          - {name: y, type: Concat, bottom: [fb, ip], top: y}
        """),
        // Flatten of axes 1…2 only, an InnerProduct from axis 2 of a rank-4 bottom, and Noise
        // (the identity in TEST).
        Case("flatten-axes-ip-axis-noise", [2, 3, 4, 5], """
          - {name: noise, type: Noise, bottom: data, top: n, noise_param: {type: GAUSSIAN, sigma: 0.5}}
          - {name: split, type: Split, bottom: n, top: [d1, d2]}
          - {name: flat, type: Flatten, bottom: d1, top: f, flatten_param: {axis: 1, end_axis: 2}}
          - {name: ip, type: InnerProduct, bottom: d2, top: ip, inner_product_param: {num_output: 3, axis: -2, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: gaussian, std: 0.5}}}
          - {name: ff, type: Flatten, bottom: f, top: ff}
          - {name: fi, type: Flatten, bottom: ip, top: fi}
          - {name: y, type: Concat, bottom: [ff, fi], top: y}
        """),
        // After a ReLU, ties at 0 are common: Caffe ranks the larger index first.
        Case("argmax-top-k-ties", [2, 5, 3, 3], """
          - {name: relu, type: ReLU, bottom: data, top: r}
          - {name: split, type: Split, bottom: r, top: [r1, r2, r3, r4]}
          - {name: a1, type: ArgMax, bottom: r1, top: a1, argmax_param: {axis: 1}}
          - {name: a2, type: ArgMax, bottom: r2, top: a2, argmax_param: {axis: 1, top_k: 3}}
          - {name: a3, type: ArgMax, bottom: r3, top: a3, argmax_param: {axis: -2, top_k: 2, out_max_val: true}}
          - {name: a4, type: ArgMax, bottom: r4, top: a4, argmax_param: {top_k: 7, out_max_val: true}}
          - {name: f1, type: Flatten, bottom: a1, top: f1}
          - {name: f2, type: Flatten, bottom: a2, top: f2}
          - {name: f3, type: Flatten, bottom: a3, top: f3}
          - {name: f4, type: Flatten, bottom: a4, top: f4}
          - {name: y, type: Concat, bottom: [f1, f2, f3, f4], top: y}
        """),
        Case("argmax-flat", [2, 3, 4, 4], """
          - {name: y, type: ArgMax, bottom: data, top: y}
        """),
        // Scale and Bias whose operand is bottom 1 ([N, C] from axis 0; [C, H] from axis 1), and
        // a product of three.
        Case("operand-bottoms-product", [2, 3, 4, 4], """
          - {name: split, type: Split, bottom: data, top: [d1, d2, d3, d4, d5]}
          - {name: per_sample_channel, type: Reduction, bottom: d1, top: nc, reduction_param: {operation: MEAN, axis: 2}}
          - {name: scale, type: Scale, bottom: [d2, nc], top: s, scale_param: {axis: 0, bias_term: true, bias_filler: {type: gaussian, std: 0.5}}}
          - {name: slice, type: Slice, bottom: d3, top: [first, rest], slice_param: {axis: 0, slice_point: 1}}
          - {name: one, type: Reshape, bottom: first, top: first3d, reshape_param: {shape: {dim: [3, 4, 4]}}}
          - {name: ch, type: Reduction, bottom: first3d, top: chw, reduction_param: {operation: SUM, axis: 2}}
          - {name: bias, type: Bias, bottom: [d4, chw], top: b}
          - {name: y, type: Eltwise, bottom: [s, b, d5], top: y, eltwise_param: {operation: PROD}}
        """),
        // A crop of the batch axis too: axis 0, offsets [1, 0, 1, 2].
        Case("crop-batch", [3, 2, 5, 6], """
          - {name: split, type: Split, bottom: data, top: [d1, d2]}
          - {name: slice, type: Slice, bottom: d1, top: [a, b], slice_param: {axis: 0, slice_point: 1}}
          - {name: ref, type: Pooling, bottom: b, top: r, pooling_param: {pool: MAX, kernel_size: 3, stride: 1}}
          - {name: crop, type: Crop, bottom: [d2, r], top: cropped, crop_param: {axis: 0, offset: [1, 0, 1, 2]}}
          - {name: drop_a, type: Silence, bottom: a}
          - {name: y, type: Eltwise, bottom: [cropped, r], top: y}
        """),
        // One step of 3 streams (T = 1), with cont (1) beside the data; the state starts at 0.
        Case("recurrent-step", [1, 3, 4], """
          - {name: rnn, type: RNN, bottom: [data, cont], top: r, recurrent_param: {num_output: 5, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: gaussian, std: 0.5}}}
          - {name: lstm, type: LSTM, bottom: [r, cont], top: l, recurrent_param: {num_output: 4, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: gaussian, std: 0.5}}}
          - {name: y, type: InnerProduct, bottom: l, top: y, inner_product_param: {num_output: 3, axis: 2, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: gaussian, std: 0.5}}}
        """, more: [("cont", [1, 3], [1, 1, 1])]),
        // Three steps of two streams, x [T, N, 2, 2]; cont restarts stream 0 at step 1 and stream 1
        // at step 2. An LSTM with x_static and exposed state, an RNN with exposed state, and an
        // LSTM carrying its own (graph inputs, zero here).
        Case("recurrent-sequence", [3, 2, 2, 2], """
          - {name: lstm, type: LSTM, bottom: [data, cont, static, h0, c0], top: [l, hT, cT], recurrent_param: {num_output: 4, expose_hidden: true, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: gaussian, std: 0.5}}}
          - {name: rnn, type: RNN, bottom: [l, cont, rh0], top: [r, rhT], recurrent_param: {num_output: 5, expose_hidden: true, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: gaussian, std: 0.5}}}
          - {name: y, type: LSTM, bottom: [r, cont], top: y, recurrent_param: {num_output: 3, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: gaussian, std: 0.5}}}
        """, more: [("cont", [3, 2], [1, 1, 0, 1, 1, 0]), ("static", [2, 3], nil), ("h0", [1, 2, 4], nil), ("c0", [1, 2, 4], nil), ("rh0", [1, 2, 5], nil)],
             outputs: ["y", "hT", "cT", "rhT"]),
        // Embed reads integer indices: the input is i mod 5.
        Case("embed-reshape", [2, 3], """
          - {name: embed, type: Embed, bottom: data, top: e, embed_param: {input_dim: 5, num_output: 4, weight_filler: {type: gaussian, std: 1}, bias_filler: {type: gaussian, std: 1}}}
          - {name: y, type: Reshape, bottom: e, top: y, reshape_param: {shape: {dim: [0, -1]}}}
        """),
    ]

    @Test(.enabled(if: onnxPython != nil, "needs scripts/bootstrap --interop (onnx and onnxruntime in .venv-onnx)"),
          arguments: cases.map(\.name))
    func exportedLayersMatchDendrite(_ name: String) throws {
        let c = try #require(Self.cases.first { $0.name == name })
        let dir = temporaryDirectory("onnx-layer-\(name)")
        func dims(_ d: [Int], _ separator: String = ", ") -> String { d.map(String.init).joined(separator: separator) }
        let shapes = ([dims(c.input)] + c.more.map { dims($0.dims) }).map { "{dim: [\($0)]}" }.joined(separator: ", ")
        let input = "{name: data, type: Input, top: [\((["data"] + c.more.map(\.name)).joined(separator: ", "))], input_param: {shape: [\(shapes)]}}"
        let yaml = "name: \"\(name)\"\nlayer:\n  - \(input)\n" + c.layers
        let spec = try NetSpec(node: try YAML.parse(yaml, file: dir + "/deploy.yaml"), file: dir + "/deploy.yaml")
        let store = ParameterStore(seed: 5)
        let net = try Net(spec: spec, phase: .test, store: store, context: BuildContext(phase: .test, netFile: dir + "/deploy.yaml", seed: 5))
        // BatchNorm's moving sums: mean·f, variance·f and f (f = 4).
        for node in net.nodes where node.type == "BatchNorm" {
            let channels = node.parameters[0].value.shape.dims[0]
            node.parameters[0].value.view.copy(from: (0..<channels).map { Float($0) * 0.8 - 1 })
            node.parameters[1].value.view.copy(from: (0..<channels).map { Float($0) * 0.5 + 2 })
            node.parameters[2].value.view.copy(from: [4])
        }
        // Spread over [−2, 2], the same every run; the Embed reads indices i mod 5.
        func values(_ count: Int, phase: Double) -> [Float] { (0..<count).map { i in 2 * Float(sin(Double(i) * 1.7 + phase)) } }
        let x = name.hasPrefix("embed") ? (0..<c.input.reduce(1, *)).map { Float($0 % 5) } : values(c.input.reduce(1, *), phase: 0.3)
        net.data(try #require(net.blob(named: "data"))).copy(from: x)
        var feeds: [String] = []
        for (i, m) in c.more.enumerated() {
            let v = m.values ?? values(m.dims.reduce(1, *), phase: Double(i) + 1)
            net.data(try #require(net.blob(named: m.name))).copy(from: v)
            try Data(v.withUnsafeBufferPointer { Data(buffer: $0) }).write(to: URL(fileURLWithPath: "\(dir)/\(m.name).f32"))
            feeds.append("\(m.name)=\(dir)/\(m.name).f32:\(dims(m.dims, ","))")
        }
        try net.forward(StepContext(phase: .test))
        let expected = try c.outputs.flatMap { net.data(try #require(net.blob(named: $0))).toArray() }

        var card = ModelCard(name: name, provenance: ModelCard.Provenance(command: "test", dendrite: ModelCard.dendriteVersion, randomSeed: 5, threads: 1, date: ""))
        card.net = "deploy.yaml"
        card.solver = ""
        card.weights = "w.safetensors"
        let entryDirectory = dir + "/zoo/" + name
        try? FileManager.default.removeItem(atPath: entryDirectory)
        try FileManager.default.createDirectory(atPath: dir + "/zoo", withIntermediateDirectories: true)
        _ = try ZooEntryWriter.create(directory: entryDirectory, card: card, files: [
            ("deploy.yaml", Array(yaml.utf8)), ("w.safetensors", Weights.file(of: store, metadata: [:]).encoded()),
        ])
        let export = try ONNXExport(entry: try Zoo(userRoot: dir + "/zoo", repositoryRoot: nil).entry(name))
        try Data(try export.serialized()).write(to: URL(fileURLWithPath: dir + "/model.onnx"))
        try Data(x.withUnsafeBufferPointer { Data(buffer: $0) }).write(to: URL(fileURLWithPath: dir + "/x.f32"))
        #expect(shell("\(onnxPython!) scripts/interop/run_onnx.py \(dir)/model.onnx \(dir)/x.f32 \(dims(c.input, ",")) \(c.outputs.joined(separator: ",")) \(dir)/y.f32 \(feeds.joined(separator: " "))") == 0, "\(name)")
        expectWithinRelative(try rawFloats(dir + "/y.f32"), expected, floor: 0.01, name)
    }
}
