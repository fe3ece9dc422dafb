import DConfig
import DCore
import DNet
@testable import DSolvers
import Foundation
import Testing

/// The train net runs a 2×2 max pooling inside the convolution before it (`Net.init`'s
/// `poolsInsideConvolutions`) where the kernels take it, unless debug_info asks for every blob:
/// training gives the same bits either way.
@Suite struct PoolsInsideConvolutionsTests {
    /// conv1 (the direct kernel, no input gradient: data needs none) and conv2 (rows of eight,
    /// with an input gradient to pool1) each pooled by 2×2 windows covering their output;
    /// conv3's 3×3 output pooled leaves a partial window, so pool3 runs on its own.
    static let net = """
        name: pooled
        layer:
          - {name: data, type: DummyData, top: [data, label], dummy_data_param: {shape: [{dim: [6, 2, 22, 22]}, {dim: [6]}], data_filler: [{type: gaussian, std: 1}, {type: constant, value: 1}]}}
          - {name: conv1, type: Convolution, bottom: data, top: conv1, convolution_param: {num_output: 5, kernel_size: 3, weight_filler: {type: xavier}}}
          - {name: pool1, type: Pooling, bottom: conv1, top: pool1, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}
          - {name: conv2, type: Convolution, bottom: pool1, top: conv2, convolution_param: {num_output: 4, kernel_size: 3, weight_filler: {type: xavier}}}
          - {name: pool2, type: Pooling, bottom: conv2, top: pool2, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}
          - {name: conv3, type: Convolution, bottom: pool2, top: conv3, convolution_param: {num_output: 3, kernel_size: 2, weight_filler: {type: xavier}}}
          - {name: pool3, type: Pooling, bottom: conv3, top: pool3, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}
          - {name: ip, type: InnerProduct, bottom: pool3, top: ip, inner_product_param: {num_output: 3, weight_filler: {type: xavier}}}
          - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
        """

    func trainer(_ dir: String, debugInfo: Bool) throws -> Trainer {
        try Self.net.write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
        let solver = "net: net.yaml\nbase_lr: 0.1\nmomentum: 0.9\nmax_iter: 3\nrandom_seed: 7\nsnapshot_prefix: out/p\n"
            + (debugInfo ? "debug_info: true\n" : "")
        try solver.write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
        return try Trainer(solver: try SolverSpec.load(dir + "/solver.yaml"), options: TrainOptions(threads: 2))
    }

    @Test func trainingGivesTheSameBitsWithThePoolingInside() throws {
        let dir = temporaryDirectory()
        let inside = try trainer(dir, debugInfo: false), apart = try trainer(dir, debugInfo: true)
        let node = { (t: Trainer, name: String) in try #require(t.trainNet.nodes.firstIndex { $0.name == name }) }
        // The C convolution kernels need AVX2 (and DENDRITE_KERNELS not plain).
        let fuses = SmallGEMM.level >= .avx2 && SmallGEMM.supported >= .avx2
        #expect(inside.trainNet.runsInside(try node(inside, "pool1")) == (fuses ? try node(inside, "conv1") : nil))
        #expect(inside.trainNet.runsInside(try node(inside, "pool2")) == (fuses ? try node(inside, "conv2") : nil))
        #expect(inside.trainNet.runsInside(try node(inside, "pool3")) == nil)
        #expect(inside.trainNet.nodes.indices.allSatisfy { apart.trainNet.runsInside($0) == nil }, "debug_info reads every blob")

        var losses: [[UInt32]] = [[], []]
        for (k, t) in [inside, apart].enumerated() {
            try t.run { event in
                if case .iteration(_, let loss, _) = event { losses[k].append(Float(loss).bitPattern) }
            }
        }
        #expect(losses[0].count == 3 && losses[0] == losses[1])
        let weights = { (t: Trainer) in t.store.parameters.flatMap(\.value.values).map(\.bitPattern) }
        let (a, b) = (weights(inside), weights(apart))
        #expect(a.count == b.count && a == b, "\(zip(a, b).filter { $0 != $1 }.count) of \(a.count) weights differ")
        #expect(inside.trainNet.firstNonFiniteOutput() == nil && inside.trainNet.firstNonFiniteGradient() == nil)
    }
}
