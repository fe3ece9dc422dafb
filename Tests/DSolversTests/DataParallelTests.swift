import DConfig
import DCore
import DData
import DLayers
import DNet
@testable import DSolvers
import DZoo
import Testing

/// The parts of data-parallel training that need no MPI: where gradients go in buckets, how
/// test passes split and add up, how a rank finds itself in mpirun's environment, and the
/// refusal of a resume with another rank count. scripts/check-mpi runs the real thing.
@Suite struct DataParallelTests {
    static func trainer(_ name: String = #function) throws -> Trainer {
        try Trainer(solver: try SolverSpec.load(try writeSolver(temporaryDirectory(name), maxIter: 4)), options: TrainOptions(threads: 1))
    }

    /// tiny: data, ip1, relu, drop, ip2, loss (TRAIN). Backward finishes ip2 first, then ip1.
    @Test func bucketsFollowBackwardOrder() throws {
        let net = try Self.trainer().trainNet
        let index = { (name: String) in try #require(net.nodes.firstIndex { $0.name == name }) }
        let (ip1, ip2) = (try index("ip1"), try index("ip2"))
        // Buckets of one byte: every parameter closes one, in backward order.
        let small = DataParallel.plan(net, bucketBytes: 1)
        #expect(small.map { $0.parameters.map(\.name) } == [["ip2.weight"], ["ip2.bias"], ["ip1.weight"], ["ip1.bias"]])
        #expect(small.map(\.readyAfter) == [ip2, ip2, ip1, ip1])
        #expect(small.map(\.offset) == [0, 12, 14, 110])
        #expect(small.map(\.count) == [12, 2, 96, 6])
        // ip2's 56 bytes fill a 50-byte bucket; ip1's go in the next.
        let mid = DataParallel.plan(net, bucketBytes: 50)
        #expect(mid.map { $0.parameters.map(\.name) } == [["ip2.weight", "ip2.bias"], ["ip1.weight"], ["ip1.bias"]])
        // One large bucket: ready only after ip1, the first layer with parameters.
        let one = DataParallel.plan(net, bucketBytes: 1 << 20)
        #expect(one.count == 1 && one[0].readyAfter == ip1 && one[0].count == 116)
    }

    /// A parameter shared by two layers is final only after the earlier layer's backward.
    @Test func aSharedParameterWaitsForItsFirstUser() throws {
        let shared = twoClassNet.replacingOccurrences(of: "{name: ip2, type: InnerProduct, bottom: h, top: s, inner_product_param: {num_output: 2}}", with: """
            {name: ip2, type: InnerProduct, bottom: h, top: h2, param: [{name: w2}], inner_product_param: {num_output: 6, bias_term: false}}
              - {name: ip3, type: InnerProduct, bottom: h2, top: h3, param: [{name: w2}], inner_product_param: {num_output: 6, bias_term: false}}
              - {name: ip4, type: InnerProduct, bottom: h3, top: s, inner_product_param: {num_output: 2}}
            """)
        let dir = temporaryDirectory()
        let t = try Trainer(solver: try SolverSpec.load(try writeSolver(dir, maxIter: 4, net: shared)), options: TrainOptions(threads: 1))
        let net = t.trainNet
        let ip2 = try #require(net.nodes.firstIndex { $0.name == "ip2" })
        let buckets = DataParallel.plan(net, bucketBytes: 1)
        let w2 = try #require(buckets.first { $0.parameters.contains { $0.shareName == "w2" } })
        #expect(w2.readyAfter == ip2)
        #expect(buckets.flatMap(\.parameters).count == 5)  // ip4 ×2, w2 once, ip1 ×2
    }

    /// Each rank tests every N-th batch; together they see every sample once, and their
    /// sample-weighted sums are the whole pass's (what the allreduce adds up).
    @Test(arguments: [2, 3])
    func shardedTestsAddUpToTheWhole(ranks: Int) throws {
        let t = try Self.trainer("shardedTestsAddUpToTheWhole\(ranks)")
        let net = t.testNets[0], step = StepContext(phase: .test, seed: 7)
        for batches in [nil, 3] as [Int?] {
            func evaluate(_ shard: Shard) throws -> Evaluation {
                net.dataLayers.forEach { $0.rewind() }
                return try batches.map { try Evaluator.run(net, batches: $0, step: step, shard: shard) } ?? Evaluator.wholeDataset(net, step: step, shard: shard)
            }
            let whole = try evaluate(.whole)
            let parts = try (0..<ranks).map { try evaluate(Shard(index: $0, count: ranks)) }
            #expect(parts.map(\.samples).reduce(0, +) == whole.samples)
            #expect(whole.samples == (batches.map { $0 * 16 } ?? 40))
            #expect(parts.map(\.batches).reduce(0, +) == whole.batches)
            for (k, o) in whole.outputs.enumerated() {
                let sum = parts.reduce(0.0) { $0 + $1.outputs[k].value * Double($1.samples) }
                #expect(abs(sum - o.value * Double(whole.samples)) <= 1e-9 * max(1, abs(sum)), "\(o.name), \(batches.map(String.init) ?? "all")")
            }
        }
    }

    @Test func aRankFindsItselfInOpenMPIsEnvironment() {
        #expect(MPILaunch.from(environment: [:]) == nil)
        #expect(MPILaunch.from(environment: ["OMPI_COMM_WORLD_SIZE": "x"]) == nil)
        #expect(MPILaunch.from(environment: ["OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"])
                == MPILaunch(rank: 3, size: 4, localSize: 2))
        #expect(MPILaunch.from(environment: ["OMPI_COMM_WORLD_SIZE": "2"]) == MPILaunch(rank: 0, size: 2, localSize: 2))
    }

    /// A state written by two ranks continues only under mpirun -np 2: a single process is told so.
    @Test func aStateOfAnotherRankCountIsRefused() throws {
        let t = try Self.trainer()
        try t.run { _ in }
        let path = t.snapshotPrefix + "_iter_4.solverstate"
        var state = try SafetensorsFile.read(path)
        #expect(state.metadata["ranks"] == "1")
        state.metadata["ranks"] = "2"
        try state.write(to: path)
        let again = try Self.trainer("aStateOfAnotherRankCountIsRefusedAgain")
        #expect {
            _ = try again.resume(from: path)
        } throws: { error in
            guard case .file(let e) = error as? TrainError else { return false }
            return e.description.contains("written by a run of 2 processes (mpirun -np 2), this run has 1") && e.description.contains("--weights")
        }
    }
}
