import Foundation
import Testing

/// The end-to-end tests' net (EndToEndTests.swift) with its ReLU moved from the pooling's
/// output to the convolution's, in place; `bias` is the convolution's bias_filler value.
func monitoredNet(bias: Double) -> String {
    let conv = "    convolution_param: {num_output: 3, kernel_size: 3, pad: 1}\n", relu = "  - {name: relu, type: ReLU, bottom: pool, top: pool}\n"
    precondition(net.contains(conv) && net.contains(relu), "the end-to-end net no longer has the layers this net changes")
    return net.replacingOccurrences(of: relu, with: "").replacingOccurrences(of: conv, with: """
            convolution_param: {num_output: 3, kernel_size: 3, pad: 1, bias_filler: {type: constant, value: \(bias)}}
          - {name: relu, type: ReLU, bottom: conv, top: conv}

        """)
}

let monitoredSolver = solver.replacingOccurrences(of: "max_iter: 60", with: "max_iter: 20")
    .replacingOccurrences(of: "test_interval: 30", with: "test_interval: 10") + "\nmonitor: [conv, ip]\n"

/// The metrics file's `monitor` events, by iteration.
func monitorEvents(_ dir: String) throws -> [Int: [String: [String: Any]]] {
    let lines = try String(contentsOfFile: dir + "/out/tiny_metrics.jsonl", encoding: .utf8).split(separator: "\n")
    var out: [Int: [String: [String: Any]]] = [:]
    for line in lines {
        let e = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        guard e["event"] as? String == "monitor" else { continue }
        #expect(e["net"] as? String == "tiny" && e["samples"] as? Int == 8)
        out[e["iteration"] as! Int] = e["layers"] as? [String: [String: Any]]
    }
    return out
}

@Suite struct MonitorCommandTests {
    /// A bias of −100 before the ReLU kills every channel: dead fraction 1 in the log line and
    /// the metrics file at every round of tests, no variance, no correlation, and no gradient
    /// through the ReLU (ratio 0) once a step is trained.
    @Test func killedReLUsAreReportedDead() throws {
        let dir = temporaryDirectory()
        try setUp(dir, net: monitoredNet(bias: -100), solver: monitoredSolver)
        let r = try run("dtrain", [dir + "/solver.yaml"])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("monitor ") }.count == 6)  // 2 layers × tests at 0, 10, 20
        #expect(lines.contains("monitor iter=0 layer=conv mean=0 std=0 dead=1.00 |corr|=- grad/weight=- grad/bias=-"))
        #expect(lines.contains("monitor iter=20 layer=conv mean=0 std=0 dead=1.00 |corr|=- grad/weight=0 grad/bias=0"))
        // The monitor lines follow the test line of their round.
        let test20 = try #require(lines.firstIndex { $0.hasPrefix("test iter=20 ") })
        #expect(lines[test20 + 1].hasPrefix("monitor iter=20 layer=conv "))
        #expect(lines[test20 + 2].hasPrefix("monitor iter=20 layer=ip "))

        let events = try monitorEvents(dir)
        #expect(events.keys.sorted() == [0, 10, 20])
        for (iteration, layers) in events {
            let conv = try #require(layers["conv"])
            #expect(conv["dead"] as? Double == 1 && conv["std"] as? Double == 0 && conv["units"] as? Int == 3, "\(iteration)")
            #expect(conv["abs_corr"] is NSNull && conv["varying_units"] as? Int == 0 && conv["blob"] as? String == "conv")
            let ratios = try #require(conv["grad_to_weight"] as? [String: Any])
            #expect(iteration == 0 ? ratios["weight"] is NSNull : ratios["weight"] as? Double == 0)
        }
    }

    /// The same net with a small positive bias: live channels that vary and correlate, and a
    /// gradient; the weights and test results are those of the same run without `monitor`.
    @Test func healthyNetIsAliveAndMonitoringChangesNothing() throws {
        let dir = temporaryDirectory()
        try setUp(dir, net: monitoredNet(bias: 0.1), solver: monitoredSolver)
        let r = try run("dtrain", [dir + "/solver.yaml"])
        #expect(r.status == 0, "\(r.err)")
        let events = try monitorEvents(dir)
        #expect(events.keys.sorted() == [0, 10, 20])
        for (iteration, layers) in events {
            let conv = try #require(layers["conv"])
            #expect((conv["dead"] as? Double ?? 1) < 1 && (conv["std"] as? Double ?? 0) > 0, "\(iteration)")
            let corr = try #require(conv["abs_corr"] as? Double)
            #expect(corr > 0 && corr <= 1)
            let ratio = (conv["grad_to_weight"] as? [String: Any])?["weight"]
            #expect(iteration == 0 ? ratio is NSNull : (ratio as? Double ?? 0) > 0)
        }
        let line = try #require(r.out.split(separator: "\n").first { $0.hasPrefix("monitor iter=20 layer=conv ") })
        #expect(line.contains(" grad/weight=") && !line.contains("grad/weight=-") && !line.contains("dead=1.00"))

        // Without monitor, from the same seed: the same test lines and final weights.
        let plain = temporaryDirectory("monitorPlain")
        try setUp(plain, net: monitoredNet(bias: 0.1), solver: monitoredSolver.replacingOccurrences(of: "monitor: [conv, ip]", with: ""))
        let p = try run("dtrain", [plain + "/solver.yaml"])
        #expect(p.status == 0 && !p.out.contains("monitor "))
        func tests(_ s: String) -> [Substring] { s.split(separator: "\n").filter { $0.hasPrefix("test iter=") } }
        #expect(tests(p.out) == tests(r.out) && tests(r.out).count == 3)
        #expect(FileManager.default.contents(atPath: plain + "/out/tiny_iter_20.safetensors") == FileManager.default.contents(atPath: dir + "/out/tiny_iter_20.safetensors"))
    }

    /// A misspelt layer name: one located error with the suggestion, nothing trained.
    @Test func unknownLayerIsALocatedError() throws {
        let dir = temporaryDirectory()
        try setUp(dir, net: monitoredNet(bias: 0), solver: monitoredSolver.replacingOccurrences(of: "monitor: [conv, ip]", with: "monitor: [conv, ipp]"))
        let r = try run("dtrain", [dir + "/solver.yaml"])
        #expect(r.status == 1)
        let line = monitoredSolver.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("monitor:") }! + 1
        #expect(r.err == "\(dir)/solver.yaml:\(line):17: error: solver: monitor: no layer 'ipp' in the train net 'tiny'\n"
                + "hint: did you mean 'ip'?; layers of the train net: data, conv, relu, pool, ip, loss\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }
}
