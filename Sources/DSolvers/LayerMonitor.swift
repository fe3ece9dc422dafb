import DConfig
import DCore
import DLayers
import DNet

/// One layer of the solver's `monitor` list at one round of tests.
public struct LayerMonitorRecord: Sendable {
    public var layer: String
    /// The blob measured: the layer's first top as it is after the whole forward pass, so an
    /// in-place ReLU (or Dropout, BatchNorm…) on it is included.
    public var blob: String
    /// Its statistics on the first batch of the first test net.
    public var activations: UnitStatistics
    /// ‖∇‖/‖w‖ of each learned parameter by suffix (`weight`, `bias`), with the gradient of the
    /// last training step; nil before this run has trained a step, or when w is all zero.
    public var gradientRatios: [(parameter: String, ratio: Double?)]
}

/// The monitored layers at one round of tests.
public struct MonitorReport: Sendable {
    public var iteration: Int
    public var epoch: Double
    /// The test net whose first batch the activations come from (the first test net).
    public var net: String
    /// Samples in that batch.
    public var samples: Int
    public var layers: [LayerMonitorRecord]
}

/// A monitored layer found in the nets: its node in the train net (for the parameters) and
/// the blob to measure in the first test net.
struct LayerMonitorTarget {
    let name: String
    let trainNode: Int
    let testBlob: Int

    init(_ m: MonitoredLayer, train: Net, test: Net, testName: String) throws(TrainError) {
        func error(_ message: String, _ hint: String?) -> TrainError {
            .config(ConfigError(at: m.location, "solver: monitor: \(message)", hint: hint))
        }
        let names = train.nodes.map(\.name)
        guard let i = train.nodes.firstIndex(where: { $0.name == m.name }) else {
            let listed = "layers of the train net: \(names.joined(separator: ", "))"
            throw error("no layer '\(m.name)' in the train net '\(train.name)'",
                        (Suggestion.hint(for: m.name, in: names).map { $0 + "; " } ?? "") + listed)
        }
        let node = train.nodes[i]
        guard let top = node.tops.first else {
            throw error("layer '\(m.name)' (\(node.type)) has no top blob to measure", "monitor a layer that produces a blob")
        }
        if node.layer.isLoss || node.lossWeights.contains(where: { $0 != 0 }) {
            // What feeds the loss is what is worth watching.
            let feeder = node.bottoms.first.flatMap { train.blobs[$0].producer }.map { train.nodes[$0].name }
            throw error("layer '\(m.name)' (\(node.type)) is a loss: its top '\(train.blobs[top].name)' is a single number, not units",
                        feeder.map { "monitor the layer that feeds it, '\($0)'" } ?? "monitor a layer with units")
        }
        guard let t = test.nodes.first(where: { $0.name == m.name }), let testTop = t.tops.first,
              let blob = test.blob(named: test.blobs[testTop].name) else {
            throw error("layer '\(m.name)' is not in the test net '\(testName)', whose first test batch is measured",
                        "monitor a layer that both phases build (check its include/exclude rules)")
        }
        name = m.name
        trainNode = i
        testBlob = blob
    }
}

extension Trainer {
    /// The monitored layers' statistics, from the first test net's blobs as its last forward
    /// left them and the train net's parameter gradients as the last training step left them
    /// (nothing is written: training goes on exactly as without `monitor`).
    func monitorRecords(testNet: Net) -> [LayerMonitorRecord] {
        monitorTargets.map { t in
            let node = trainNet.nodes[t.trainNode]
            let ratios = node.parameters.filter(\.isLearned).map { p in
                (parameter: p.name.split(separator: ".").last.map(String.init) ?? p.name,
                 ratio: hasStepGradients ? UnitStatistics.normRatio(gradient: p.grad.view, weights: p.value.view) : nil)
            }
            return LayerMonitorRecord(layer: t.name, blob: testNet.blobs[t.testBlob].name,
                                      activations: UnitStatistics.of(testNet.data(t.testBlob)), gradientRatios: ratios)
        }
    }
}
