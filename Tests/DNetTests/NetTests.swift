import DConfig
import DCore
import DLayers
@testable import DNet
import Testing

func buildNet(_ yaml: String, phase: Phase = .train, seed: UInt64 = 3) throws -> Net {
    let spec = try NetSpec(node: try YAML.parse(yaml, file: "net.yaml"), file: "net.yaml")
    return try Net(spec: spec, phase: phase, store: ParameterStore(seed: seed),
                   context: BuildContext(phase: phase, netFile: "net.yaml", seed: seed))
}

/// The message of the ConfigError building `yaml` throws, as `file:line:col: error: …`.
func buildError(_ yaml: String, phase: Phase = .train) -> ConfigError? {
    do { _ = try buildNet(yaml, phase: phase); return nil } catch let e as ConfigError { return e } catch { return nil }
}

let inputs = """
      - {name: in, type: Input, top: [data, label], input_param: {shape: [{dim: [2, 1, 5, 5]}, {dim: [2]}]}}
    """

@Suite struct GraphErrorTests {
    @Test func unknownBottomListsAvailableBlobs() {
        let e = buildError("""
            layer:
            \(inputs)
              - {name: ip, type: InnerProduct, bottom: dta, top: ip, inner_product_param: {num_output: 3}}
            """)
        #expect(e?.headline == "net.yaml:3:44: error: layer 'ip' (InnerProduct): unknown bottom blob 'dta' (bottom 0)")
        #expect(e?.hint == "did you mean 'data'?; blobs available here in phase TRAIN: data, label")
    }

    @Test func absurdShapesAreLocatedErrors() {
        let huge = buildError("""
            layer:
              - {name: in, type: Input, top: data, input_param: {shape: {dim: [1, 4294967296, 4294967296, 2]}}}
            """)
        #expect(huge?.headline == "net.yaml:2:5: error: layer 'in' (Input): top 'data' would have shape 1×4294967296×4294967296×2, more than 268435456 elements")
        let wide = buildError("""
            layer:
            \(inputs)
              - {name: ip, type: InnerProduct, bottom: data, top: ip, inner_product_param: {num_output: 1000000000000}}
            """)
        #expect(wide?.message.hasPrefix("layer 'ip' (InnerProduct): ") == true)
        #expect(wide?.message.contains("more than 268435456 elements") == true)
        let kernel = buildError("""
            layer:
            \(inputs)
              - {name: c, type: Convolution, bottom: data, top: c, convolution_param: {num_output: 1, kernel_size: 65536, pad: 65536}}
            """)
        #expect(kernel?.message.hasPrefix("layer 'c' (Convolution): kernel 65536×65536 over a 131077×131077 padded input would unfold one image into more than") == true, "\(String(describing: kernel))")
        let reshape = buildError("""
            layer:
            \(inputs)
              - {name: r, type: Reshape, bottom: data, top: r, reshape_param: {shape: {dim: [4611686018427387904, 4611686018427387904, 0]}}}
            """)
        #expect(reshape?.message == "layer 'r' (Reshape): the dimensions [4611686018427387904, 4611686018427387904, 0] multiply to more elements than any bottom has")
        let axes = buildError("""
            layer:
            \(inputs)
              - {name: r, type: Reshape, bottom: data, top: r, reshape_param: {shape: {dim: [1]}, axis: 2, num_axes: 9223372036854775807}}
            """)
        #expect(axes?.message.hasPrefix("layer 'r' (Reshape): axis 2 and num_axes 9223372036854775807 do not fit") == true)
    }

    @Test func topWrittenTwice() {
        let e = buildError("""
            layer:
            \(inputs)
              - {name: a, type: ReLU, bottom: data, top: x}
              - {name: b, type: ReLU, bottom: data, top: x}
            """)
        #expect(e?.headline == "net.yaml:4:46: error: layer 'b' (ReLU): top 'x' is already produced by layer 'a'")
    }

    @Test func wrongNumberOfBottoms() {
        let e = buildError("""
            layer:
            \(inputs)
              - {name: loss, type: SoftmaxWithLoss, bottom: data, top: loss}
            """)
        #expect(e?.headline == "net.yaml:3:49: error: layer 'loss' (SoftmaxWithLoss): takes 2 bottoms, found 1")
    }

    @Test func incompatibleShapesGiveBoth() {
        let e = buildError("""
            layer:
            \(inputs)
              - {name: loss, type: EuclideanLoss, bottom: [data, label], top: loss}
            """)
        #expect(e?.message == "layer 'loss' (EuclideanLoss): bottoms differ in size: 2×1×5×5 and 2")
    }

    @Test func unknownTypeSuggests() {
        let e = buildError("layer: [{name: c, type: Convolutoin}]")
        #expect(e?.headline == "net.yaml:1:25: error: layer 'c': unknown layer type 'Convolutoin'")
        #expect(e?.hint?.hasPrefix("did you mean 'Convolution'? known types: ") == true && e?.hint?.contains(", Convolution, ") == true)
    }

    @Test func caffeTypesDendriteLacksAreNamedAsSuch() {
        let data = buildError("layer: [{name: d, type: Data, top: [data, label]}]")
        #expect(data?.headline == "net.yaml:1:25: error: layer 'd': 'Data' is a Caffe layer type that Dendrite does not have")
        #expect(data?.hint == "Data reads LMDB or LevelDB databases; Dendrite reads IDX files with IDXData, or a list of image files with ImageData")
        for type in ["WindowData", "HDF5Data", "Python", "SPP", "Im2col"] {
            let e = buildError("layer: [{name: d, type: \(type)}]")
            #expect(e?.message == "layer 'd': '\(type)' is a Caffe layer type that Dendrite does not have")
            #expect(e?.hint?.contains("did you mean") == false)
        }
    }

    @Test func misspeltLayerKey() {
        let e = buildError("""
            layer:
            \(inputs)
              - name: conv1
                type: Convolution
                bottom: data
                top: conv1
                convolution_param: {num_output: 2, kernal_size: 3}
            """)
        #expect(e?.headline == "net.yaml:7:40: error: layer 'conv1' (Convolution): unknown key 'kernal_size' in convolution_param")
        #expect(e?.hint == "did you mean 'kernel_size'?")
    }

    @Test func duplicateLayerName() {
        let e = buildError("""
            layer:
            \(inputs)
              - {name: a, type: ReLU, bottom: data, top: x}
              - {name: a, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 2}}
            """)
        #expect(e?.headline == "net.yaml:4:5: error: duplicate layer name 'a' in phase TRAIN (first at line 3)")
        let first = buildError("""
            layer:
            \(inputs)
              - {name: a, type: InnerProduct, bottom: data, top: x, inner_product_param: {num_output: 2}}
              - {name: a, type: ReLU, bottom: x, top: y}
            """)
        #expect(first?.headline == "net.yaml:4:5: error: duplicate layer name 'a' in phase TRAIN (first at line 3)")
        // Layers without parameters may share a name, as Caffe's mnist_autoencoder's two losses do.
        #expect(buildError("""
            layer:
            \(inputs)
              - {name: a, type: ReLU, bottom: data, top: x}
              - {name: a, type: ReLU, bottom: x, top: y}
            """) == nil)
    }

    @Test func tooManyParamEntries() {
        let e = buildError("""
            layer:
            \(inputs)
              - {name: r, type: ReLU, bottom: data, top: x, param: [{lr_mult: 1}]}
            """)
        #expect(e?.message == "layer 'r' (ReLU): param lists 1 entries, but the layer has 0 parameters")
    }

    @Test func sameNameInOtherPhasesIsFine() throws {
        let net = try buildNet("""
            layer:
              - {name: d, type: Input, top: x, include: {phase: TRAIN}, input_param: {shape: {dim: [1, 2]}}}
              - {name: d, type: Input, top: x, include: {phase: TEST}, input_param: {shape: {dim: [3, 2]}}}
            """, phase: .test)
        #expect(net.blobs[0].shape == Shape([3, 2]))
    }
}

@Suite struct NetPlanTests {
    static let fanOut = """
        layer:
        \(inputs)
          - {name: conv, type: Convolution, bottom: data, top: conv, convolution_param: {num_output: 2, kernel_size: 3, pad: 1, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: uniform, min: -0.1, max: 0.1}}}
          - {name: relu, type: ReLU, bottom: conv, top: conv}
          - {name: pool, type: Pooling, bottom: conv, top: pool, pooling_param: {pool: AVE, kernel_size: 2, stride: 2}}
          - {name: ipa, type: InnerProduct, bottom: pool, top: a, inner_product_param: {num_output: 3, weight_filler: {type: gaussian, std: 0.5}}}
          - {name: ipb, type: InnerProduct, bottom: pool, top: b, inner_product_param: {num_output: 2, weight_filler: {type: gaussian, std: 0.5}}}
          - {name: tanh, type: TanH, bottom: b, top: b}
          - {name: lossa, type: SoftmaxWithLoss, bottom: [a, label], top: lossa}
          - {name: flat, type: Flatten, bottom: data, top: flat}
          - {name: ipc, type: InnerProduct, bottom: flat, top: c, inner_product_param: {num_output: 2}}
          - {name: lossb, type: EuclideanLoss, bottom: [b, c], top: lossb, loss_weight: 0.5}
        """

    func setInputs(_ net: Net) {
        net.data(net.blob(named: "data")!).copy(from: (0..<50).map { Float(($0 * 37) % 23) / 11 - 1 })
        net.data(net.blob(named: "label")!).copy(from: [2, 0])
    }

    /// Zeroing splits a large gradient (35 000 floats) over the threads: every float of every
    /// gradient is zero after it, the split's edges included.
    @Test func zeroGradientsOnThreads() throws {
        let net = try buildNet("""
            layer:
            \(inputs)
              - {name: flat, type: Flatten, bottom: data, top: flat}
              - {name: big, type: InnerProduct, bottom: flat, top: big, inner_product_param: {num_output: 1400}}
              - {name: small, type: InnerProduct, bottom: big, top: c, inner_product_param: {num_output: 2}}
            """)
        #expect(net.store.parameters.contains { $0.grad.view.count >= 1 << 15 })
        for threads in [1, 2, 3] {
            for p in net.store.parameters { p.grad.view.fill(1) }
            net.store.zeroGradients(parallel: Parallel(threads: threads))
            #expect(net.store.parameters.allSatisfy { $0.grad.values.allSatisfy { $0 == 0 } }, "threads \(threads)")
        }
    }

    /// The whole net's parameter gradients against finite differences of its loss, through
    /// fan-out (pool feeds two layers), in-place layers and two weighted losses.
    @Test func wholeNetGradients() throws {
        let net = try buildNet(Self.fanOut)
        setInputs(net)
        let step = StepContext(phase: .train)
        net.store.zeroGradients()
        try net.forward(step)
        net.backward(step)
        var compared = 0
        for p in net.store.parameters {
            let analytic = p.grad.values
            for i in 0..<p.shape.count {
                let x = p.value.view[i]
                p.value.view[i] = x + 1e-2
                let plus = try net.forward(step)
                p.value.view[i] = x - 1e-2
                let minus = try net.forward(step)
                p.value.view[i] = x
                let numeric = Float((plus - minus) / 2e-2)
                #expect(abs(numeric - analytic[i]) <= 2e-3 * max(1, abs(numeric), abs(analytic[i])),
                        "\(p.name)[\(i)]: backward \(analytic[i]), finite difference \(numeric)")
                compared += 1
            }
        }
        // conv 2×1×3×3 + 2; pool (5×5 rounded up) is 2×3×3 = 18 wide: ipa 3×18 + 3, ipb 2×18 + 2; ipc 2×25 + 2
        #expect(compared == (18 + 2) + (3 * 18 + 3) + (2 * 18 + 2) + (2 * 25 + 2))
    }

    @Test func backwardIsRepeatable() throws {
        let net = try buildNet(Self.fanOut)
        setInputs(net)
        let step = StepContext(phase: .train)
        var grads: [[Float]] = []
        for _ in 0..<2 {
            net.store.zeroGradients()
            try net.forward(step)
            net.backward(step)
            grads.append(net.store.parameters.flatMap(\.grad.values))
        }
        #expect(grads[0] == grads[1])  // gradients of blobs are overwritten, not piled up
    }

    @Test func inPlaceLayersShareMemory() throws {
        let net = try buildNet(Self.fanOut)
        let conv = net.blobs.firstIndex { $0.name == "conv" }!, relu = net.blob(named: "conv")!
        #expect(conv != relu)
        #expect(net.data(conv).base == net.data(relu).base)
    }

    @Test func outputsAndLoss() throws {
        let net = try buildNet(Self.fanOut)
        #expect(net.outputs.map { net.blobs[$0].name } == ["lossa", "lossb"])
        setInputs(net)
        let loss = try net.forward(StepContext(phase: .train))
        let a = Double(net.data(net.blob(named: "lossa")!)[0]), b = Double(net.data(net.blob(named: "lossb")!)[0])
        #expect(abs(loss - (a + 0.5 * b)) < 1e-6)
    }

    @Test func frozenLayersGetNoGradient() throws {
        let net = try buildNet("""
            layer:
            \(inputs)
              - {name: ip1, type: InnerProduct, bottom: data, top: h, param: [{lr_mult: 0}, {lr_mult: 0}], inner_product_param: {num_output: 4}}
              - {name: ip2, type: InnerProduct, bottom: h, top: s, inner_product_param: {num_output: 3}}
              - {name: loss, type: SoftmaxWithLoss, bottom: [s, label], top: loss}
            """)
        #expect(net.nodes[1].runsBackward == false)
        #expect(net.grad(net.blob(named: "h")!) == nil)
        setInputs(net)
        net.store.zeroGradients()
        try net.forward(StepContext(phase: .train))
        net.backward(StepContext(phase: .train))
        #expect(net.store["ip1.weight"]!.grad.values.allSatisfy { $0 == 0 })
        #expect(net.store["ip2.weight"]!.grad.values.contains { $0 != 0 })
    }

    @Test func thresholdStopsTheGradient() throws {
        // A step has no gradient: ip1 below it does not run backward, though it learns.
        let net = try buildNet("""
            layer:
            \(inputs)
              - {name: ip1, type: InnerProduct, bottom: data, top: h, inner_product_param: {num_output: 4}}
              - {name: step, type: Threshold, bottom: h, top: h}
              - {name: ip2, type: InnerProduct, bottom: h, top: s, inner_product_param: {num_output: 3}}
              - {name: loss, type: SoftmaxWithLoss, bottom: [s, label], top: loss}
            """)
        #expect(net.nodes[1].runsBackward == false && net.nodes[2].runsBackward == false)
        setInputs(net)
        net.store.zeroGradients()
        try net.forward(StepContext(phase: .train))
        net.backward(StepContext(phase: .train))
        #expect(net.store["ip1.weight"]!.grad.values.allSatisfy { $0 == 0 })
        #expect(net.store["ip2.weight"]!.grad.values.contains { $0 != 0 })
    }

    @Test func preluAskedInPlaceGetsItsOwnTop() throws {
        // PReLU's backward reads its bottom, so `top: conv` gets memory of its own; its slope
        // gradient through the net still matches finite differences of the loss.
        let net = try buildNet("""
            layer:
            \(inputs)
              - {name: conv, type: Convolution, bottom: data, top: conv, convolution_param: {num_output: 2, kernel_size: 3, weight_filler: {type: gaussian, std: 0.5}}}
              - {name: prelu, type: PReLU, bottom: conv, top: conv, prelu_param: {filler: {type: uniform, min: -0.5, max: 0.5}}}
              - {name: ip, type: InnerProduct, bottom: conv, top: s, inner_product_param: {num_output: 3}}
              - {name: loss, type: SoftmaxWithLoss, bottom: [s, label], top: loss}
            """)
        let conv = net.blobs.firstIndex { $0.name == "conv" }!, prelu = net.blob(named: "conv")!
        #expect(conv != prelu)
        #expect(net.data(conv).base != net.data(prelu).base)
        let slope = net.store["prelu.weight"]!
        #expect(slope.shape == Shape([2]))
        setInputs(net)
        let step = StepContext(phase: .train)
        net.store.zeroGradients()
        try net.forward(step)
        net.backward(step)
        let analytic = slope.grad.values
        #expect(analytic.allSatisfy { $0 != 0 })
        for i in 0..<2 {
            let a = slope.value.view[i]
            slope.value.view[i] = a + 1e-2
            let plus = try net.forward(step)
            slope.value.view[i] = a - 1e-2
            let minus = try net.forward(step)
            slope.value.view[i] = a
            let numeric = Float((plus - minus) / 2e-2)
            #expect(abs(numeric - analytic[i]) <= 2e-3 * max(1, abs(numeric), abs(analytic[i])),
                    "slope[\(i)]: backward \(analytic[i]), finite difference \(numeric)")
        }
    }

    @Test func sharedParametersAccumulateBothUses() throws {
        // Tied weights: the decoder uses the encoder's weight transposed.
        let net = try buildNet("""
            layer:
              - {name: in, type: Input, top: x, input_param: {shape: {dim: [2, 4]}}}
              - {name: enc, type: InnerProduct, bottom: x, top: h, param: [{name: tied}], inner_product_param: {num_output: 3, bias_term: false, weight_filler: {type: gaussian, std: 0.5}}}
              - {name: dec, type: InnerProduct, bottom: h, top: y, param: [{name: tied}], inner_product_param: {num_output: 4, bias_term: false, transpose: true}}
              - {name: loss, type: EuclideanLoss, bottom: [y, x], top: loss}
            """)
        #expect(net.store.parameters.count == 1)
        net.data(net.blob(named: "x")!).copy(from: [1, 0, -1, 0.5, 0.2, 0.3, -0.4, 1])
        let p = net.store.parameters[0]
        let step = StepContext(phase: .train)
        net.store.zeroGradients()
        try net.forward(step)
        net.backward(step)
        for i in 0..<p.shape.count {
            let w = p.value.view[i]
            p.value.view[i] = w + 1e-2
            let plus = try net.forward(step)
            p.value.view[i] = w - 1e-2
            let minus = try net.forward(step)
            p.value.view[i] = w
            let numeric = Float((plus - minus) / 2e-2)
            #expect(abs(numeric - p.grad.view[i]) <= 2e-3 * max(1, abs(numeric)))
        }
    }

    @Test func smallerBatchReshapes() throws {
        let net = try buildNet(Self.fanOut)
        try net.setBatchSize(1)
        #expect(net.blobs[net.blob(named: "pool")!].shape == Shape([1, 2, 3, 3]))
        #expect(net.batchSize == 1)
        try net.forward(StepContext(phase: .train))
        try net.setBatchSize(2)
        #expect(net.blobs[net.blob(named: "a")!].shape == Shape([2, 3]))
    }

    @Test func parametersAreSeededByName() throws {
        let a = try buildNet(Self.fanOut, seed: 5), b = try buildNet(Self.fanOut, seed: 5), c = try buildNet(Self.fanOut, seed: 6)
        #expect(a.store.parameters.map(\.value.values) == b.store.parameters.map(\.value.values))
        #expect(a.store["ipa.weight"]!.value.values != c.store["ipa.weight"]!.value.values)
    }
}

@Suite struct MemoryPoolTests {
    /// Two nets on one pool overwrite each other's blobs; a net must not read anything it did
    /// not write in the same step, so its results do not change.
    @Test func netsTakingTurnsGiveTheSameResults() throws {
        let spec = try NetSpec(node: try YAML.parse(NetPlanTests.fanOut, file: "net.yaml"), file: "net.yaml")
        let pool = MemoryPool(), store = ParameterStore(seed: 3)
        let a = try Net(spec: spec, phase: .train, store: store, context: BuildContext(phase: .train, netFile: "net.yaml", seed: 3), memory: pool)
        let b = try Net(spec: spec, phase: .test, store: store, context: BuildContext(phase: .test, netFile: "net.yaml", seed: 3), memory: pool)
        let step = StepContext(phase: .train)
        func run() throws -> (Double, [Float]) {
            NetPlanTests().setInputs(a)
            store.zeroGradients()
            let loss = try a.forward(step)
            a.backward(step)
            return (loss, store.parameters.flatMap(\.grad.values))
        }
        let first = try run()
        b.data(b.blob(named: "data")!).fill(.nan)
        b.data(b.blob(named: "label")!).fill(7)
        _ = try? b.forward(StepContext(phase: .test))
        let second = try run()
        #expect(first.0 == second.0)
        #expect(first.1 == second.1)
        #expect(a.data(a.blob(named: "data")!).base == b.data(b.blob(named: "data")!).base)
    }
}

/// Labels that come from another layer can hold anything: NaN, infinities and huge values
/// are located errors, not traps.
@Suite struct LabelValueTests {
    @Test(arguments: [Float.nan, .infinity, -.infinity, 1e20, -3e12, 0.5])
    func aLabelThatIsNoClassIndexIsAnErrorNamingTheLayer(_ label: Float) throws {
        for type in ["SoftmaxWithLoss", "Accuracy"] {
            let net = try buildNet("""
                layer:
                  - {name: in, type: Input, top: [s, label], input_param: {shape: [{dim: [2, 3]}, {dim: [2]}]}}
                  - {name: judge, type: \(type), bottom: [s, label], top: out}
                """, phase: .test)
            net.data(net.blob(named: "s")!).copy(from: [0.1, 0.2, 0.3, 0.3, 0.2, 0.1])
            net.data(net.blob(named: "label")!).copy(from: [1, label])
            do {
                _ = try net.forward(StepContext(phase: .test))
                Issue.record("\(type) accepted the label \(label)")
            } catch {
                #expect(error.message.hasPrefix("layer 'judge' (\(type)): label "), "\(error.message)")
                #expect(error.message.contains("of sample 1 is not a class index in 0..<3"), "\(error.message)")
            }
        }
    }
}

/// BatchNorm's running statistics are parameters that no solver learns, whatever the file says,
/// and a TEST net reads what the TRAIN net accumulated.
@Suite struct BatchNormNetTests {
    @Test func runningStatisticsAreNotLearnedAndReachTheTestNet() throws {
        let yaml = """
            layer:
              - {name: in, type: Input, top: x, input_param: {shape: {dim: [4, 2, 3]}}}
              - {name: bn, type: BatchNorm, bottom: x, top: y, param: [{lr_mult: 1}, {lr_mult: 1}, {lr_mult: 1}]}
              - {name: loss, type: EuclideanLoss, bottom: [y, x], top: loss}
            """
        let spec = try NetSpec(node: try YAML.parse(yaml, file: "net.yaml"), file: "net.yaml")
        let store = ParameterStore(seed: 1)
        let train = try Net(spec: spec, phase: .train, store: store, context: BuildContext(phase: .train, netFile: "net.yaml", seed: 1))
        let test = try Net(spec: spec, phase: .test, store: store, context: BuildContext(phase: .test, netFile: "net.yaml", seed: 1))
        #expect(store.parameters.map(\.name) == ["bn.mean", "bn.variance", "bn.factor"])
        #expect(store.parameters.allSatisfy { !$0.isLearned })
        train.data(train.blob(named: "x")!).copy(from: (0..<24).map { Float($0 % 7) })
        try train.forward(StepContext(phase: .train))
        #expect(store["bn.factor"]!.value.values == [1])
        test.data(test.blob(named: "x")!).copy(from: (0..<24).map { Float($0 % 7) })
        try test.forward(StepContext(phase: .test))
        // Global statistics: the batch's mean, and its variance with Bessel's correction, so the
        // output's variance per channel is (m − 1)/m = 11/12 (plus eps's share).
        let y = test.data(test.blob(named: "y")!).toArray()
        let channel0 = (0..<4).flatMap { b in (0..<3).map { y[b * 6 + $0] } }
        let mean = channel0.reduce(0, +) / 12, variance = channel0.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 12
        #expect(abs(mean) < 1e-5 && abs(variance - 11 / 12) < 1e-3, "\(mean) \(variance)")
    }
}
