import DConfig
import DCore
import DLayers
@testable import DNet
import Testing

/// The net's `persistent` work: a recurrent layer's state carried from one forward to the next.
@Suite struct RNNCarryTests {
    /// N streams of 3 inputs, one time step: Input gives x [N, 3] and cont [N], reshaped to
    /// [1, N, 3] and [1, N], so that a new batch size changes N.
    static let net = """
        layer:
          - {name: in, type: Input, top: [xs, cs], input_param: {shape: [{dim: [4, 3]}, {dim: [4]}]}}
          - {name: rx, type: Reshape, bottom: xs, top: x, reshape_param: {shape: {dim: [1, -1, 3]}}}
          - {name: rc, type: Reshape, bottom: cs, top: cont, reshape_param: {shape: {dim: [1, -1]}}}
          - {name: rnn, type: RNN, bottom: [x, cont], top: o, recurrent_param: {num_output: 2}}
        """

    static func build(_ phase: Phase, store: ParameterStore, pool: MemoryPool) throws -> Net {
        let spec = try NetSpec(node: try YAML.parse(net, file: "net.yaml"), file: "net.yaml")
        return try Net(spec: spec, phase: phase, store: store, context: BuildContext(phase: phase, netFile: "net.yaml", seed: 3), memory: pool)
    }

    static func run(_ net: Net, cont: Float = 1) throws -> [Float] {
        let n = net.blobs[net.blob(named: "xs")!].shape[0]
        net.data(net.blob(named: "xs")!).copy(from: (0..<n * 3).map { Float($0 % 5) * 0.25 - 0.5 })
        net.data(net.blob(named: "cs")!).fill(cont)
        try net.forward(StepContext(phase: net.phase))
        return net.data(net.blob(named: "o")!).toArray()
    }

    /// A test net running on the same pool between two training forwards does not disturb the
    /// train net's carried state: the results are those of a train net running alone.
    @Test func carriedStateSurvivesOtherNetsOnThePool() throws {
        let store = ParameterStore(seed: 3)
        let alone = try Self.build(.train, store: store, pool: MemoryPool())
        let expected = [try Self.run(alone), try Self.run(alone)]
        #expect(expected[0] != expected[1])  // the second forward starts from the first's h_T

        let pool = MemoryPool()
        let train = try Self.build(.train, store: store, pool: pool), test = try Self.build(.test, store: store, pool: pool)
        let first = try Self.run(train)
        test.data(test.blob(named: "xs")!).fill(.nan)
        try test.forward(StepContext(phase: .test))
        let second = try Self.run(train)
        #expect([first, second] == expected)
        #expect(train.activationBytes > 0)
    }

    /// A new number of streams starts the state again from zero; the same number keeps it.
    @Test func stateResetsWhenTheStreamsChange() throws {
        let net = try Self.build(.train, store: ParameterStore(seed: 3), pool: MemoryPool())
        let fresh = try Self.run(net)
        let carried = try Self.run(net)
        #expect(fresh != carried)
        try net.setBatchSize(2)
        #expect(try Self.run(net) == Array(fresh[..<4]))
        try net.setBatchSize(4)
        #expect(try Self.run(net) == fresh)
        try net.setBatchSize(4)  // the same shape: the state carries on
        #expect(try Self.run(net) == carried)
        // cont 0 resets it whatever was carried.
        #expect(try Self.run(net, cont: 0) == fresh)
    }

    @Test func embedIndexErrorNamesTheLayer() throws {
        let net = try buildNet("""
            layer:
              - {name: in, type: Input, top: ids, input_param: {shape: {dim: [2, 3]}}}
              - {name: words, type: Embed, bottom: ids, top: vectors, embed_param: {num_output: 4, input_dim: 10}}
            """, phase: .test)
        net.data(net.blob(named: "ids")!).copy(from: [0, 9, 3, 10, 1, 2])
        do {
            try net.forward(StepContext(phase: .test))
            Issue.record("the index 10 was accepted")
        } catch {
            #expect(error.message == "layer 'words' (Embed): index 10 at position 3 of the bottom (shape 2×3) is not a whole number in 0..<10")
        }
    }
}
