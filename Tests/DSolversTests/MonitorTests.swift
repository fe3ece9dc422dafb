import DConfig
import DCore
import DLayers
import DNet
@testable import DSolvers
import Foundation
import Testing

/// The solver's `monitor` key: statistics of chosen layers at each round of tests.
@Suite struct MonitorTests {
    /// Trains with and without `monitor` from the same seed: the same weights bit for bit and
    /// the same test results; the monitor reports at iterations 0, 20 and 40, the ratios only
    /// once a step has been trained, and the last report matches what the nets hold after the run.
    @Test func monitorReportsWithoutChangingTraining() throws {
        func train(_ extra: String, _ name: String) throws -> (Trainer, [Double], [MonitorReport]) {
            let t = try Trainer(solver: try SolverSpec.load(try writeSolver(temporaryDirectory(name), extra, maxIter: 40)),
                                options: TrainOptions(threads: 1))
            var losses: [Double] = [], reports: [MonitorReport] = []
            try t.run { event in
                if case .test(let r) = event { losses.append(r.evaluation.value("loss")!) }
                if case .monitor(let m) = event { reports.append(m) }
            }
            return (t, losses, reports)
        }
        let (plain, plainLosses, none) = try train("", "monitorPlain")
        let (watched, watchedLosses, reports) = try train("monitor: [ip1, ip2]", "monitorWatched")
        #expect(none.isEmpty)
        #expect(watchedLosses == plainLosses && plainLosses.count == 3)
        for p in plain.store.parameters { #expect(watched.store[p.name]!.value.values == p.value.values, "\(p.name)") }

        #expect(reports.map(\.iteration) == [0, 20, 40])
        #expect(reports.allSatisfy { $0.net == "tiny" && $0.samples == 16 && $0.layers.map(\.layer) == ["ip1", "ip2"] })
        // ip1's top h, after the in-place ReLU and Dropout (the identity in TEST): no value < 0.
        let ip1 = reports[2].layers[0], ip2 = reports[2].layers[1]
        #expect(ip1.blob == "h" && ip1.activations.units == 6 && ip2.blob == "s" && ip2.activations.units == 2)
        #expect(reports[0].layers[0].gradientRatios.map(\.parameter) == ["weight", "bias"])
        #expect(reports[0].layers.allSatisfy { $0.gradientRatios.allSatisfy { $0.ratio == nil } })  // no step yet

        // The same numbers from the nets as the run left them: the first test batch again, and
        // the last step's gradients (which the next step would zero first).
        let net = watched.testNets[0]
        net.dataLayers.forEach { $0.rewind() }
        try net.forward(StepContext(phase: .test, iteration: 40, seed: watched.seed))
        let h = net.data(try #require(net.blob(named: "h")))
        #expect(h.toArray().allSatisfy { $0 >= 0 })
        #expect(ip1.activations == UnitStatistics.of(h))
        let w = watched.store["ip1.weight"]!
        #expect(ip1.gradientRatios[0].ratio == UnitStatistics.normRatio(gradient: w.grad.view, weights: w.value.view))
        #expect((ip1.gradientRatios[0].ratio ?? 0) > 0)
    }

    /// A name the train net does not have is an error at the name, with the suggestion; so
    /// are a loss layer, a layer only the TEST phase builds, a repeat and nothing to test on.
    @Test func badMonitorEntriesAreLocatedErrors() throws {
        func error(_ extra: String, testInterval: Int = 20, _ name: String = #function) -> ConfigError? {
            do {
                let path = try writeSolver(temporaryDirectory(name), extra, testInterval: testInterval)
                _ = try Trainer(solver: try SolverSpec.load(path), options: TrainOptions(threads: 1))
            } catch let e as TrainError {
                if case .config(let c) = e { return c }
            } catch let e as ConfigError {
                return e
            } catch {}
            return nil
        }
        // `monitor:` is the 11th line of the solver writeSolver writes.
        let typo = try #require(error("monitor: [ip1, ipl]", "monitorTypo"))
        #expect(typo.headline.hasSuffix("/solver.yaml:11:16: error: solver: monitor: no layer 'ipl' in the train net 'tiny'"))
        #expect(typo.hint == "did you mean 'ip1'?; layers of the train net: data, ip1, relu, drop, ip2, loss")
        let loss = try #require(error("monitor: loss", "monitorLoss"))
        #expect(loss.message == "solver: monitor: layer 'loss' (SoftmaxWithLoss) is a loss: its top 'loss' is a single number, not units")
        #expect(loss.hint == "monitor the layer that feeds it, 'ip2'")
        #expect(try #require(error("monitor: [accuracy]", "monitorTestOnly")).message.contains("no layer 'accuracy' in the train net"))
        let twice = try #require(error("monitor: [ip1, ip2, ip1]", "monitorTwice"))
        #expect(twice.headline.hasSuffix("/solver.yaml:11:21: error: solver: monitor: layer 'ip1' is listed twice"))
        let untested = try #require(error("monitor: [ip1]", testInterval: 0, "monitorUntested"))
        #expect(untested.message == "solver: monitor: reports at each round of tests, but nothing is tested")
    }
}
