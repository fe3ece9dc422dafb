import DConfig
import DCore
import DLayers
@testable import DNet
import Testing

/// `persistent` work (LSTM's carried h and c) lives outside the memory nets share.
@Suite struct LSTMCarryTests {
    static let yaml = """
        layer:
          - {name: in, type: Input, top: [x, cont], input_param: {shape: [{dim: [2, 2, 3]}, {dim: [2, 2]}]}}
          - {name: lstm, type: LSTM, bottom: [x, cont], top: h, recurrent_param: {num_output: 2}}
        """

    func build(_ pool: MemoryPool) throws -> Net {
        let spec = try NetSpec(node: try YAML.parse(Self.yaml, file: "net.yaml"), file: "net.yaml")
        return try Net(spec: spec, phase: .test, store: ParameterStore(seed: 3),
                       context: BuildContext(phase: .test, netFile: "net.yaml", seed: 3), memory: pool)
    }

    /// One forward with cont 1 everywhere (so the carried state enters) on inputs keyed by `key`.
    func run(_ net: Net, _ key: Int) throws -> [Float] {
        net.data(net.blob(named: "x")!).copy(from: (0..<12).map { Float(($0 * 7 + key) % 11) / 5 - 1 })
        net.data(net.blob(named: "cont")!).copy(from: [1, 1, 1, 1])
        try net.forward(StepContext(phase: .test))
        return net.data(net.blob(named: "h")!).toArray()
    }

    @Test func carriedStateSurvivesAnotherNetOnThePool() throws {
        let pool = MemoryPool()
        let a = try build(pool), b = try build(pool), alone = try build(MemoryPool())
        let a1 = try run(a, 0)
        _ = try run(b, 5)  // overwrites the pooled blobs and work
        let a2 = try run(a, 0)
        #expect(a1 == (try run(alone, 0)))
        #expect(a2 == (try run(alone, 0)))
        #expect(a1 != a2)
    }
}
