import Foundation
import Testing

/// Starts a built tool without waiting for it.
func launch(_ tool: String, _ arguments: [String], stdout: Any? = nil) throws -> (Process, Pipe, Pipe) {
    let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    let p = Process()
    p.executableURL = bin.appendingPathComponent(tool)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = stdout ?? out
    p.standardError = err
    try p.run()
    return (p, out, err)
}

/// Waits until `file` contains `text` (at most 20 s).
func waitFor(_ text: String, in file: String) -> Bool {
    for _ in 0..<400 {
        if let s = try? String(contentsOfFile: file, encoding: .utf8), s.contains(text) { return true }
        usleep(50_000)
    }
    return false
}

let longSolver = solver.replacingOccurrences(of: "max_iter: 60", with: "max_iter: 100000000")
    .replacingOccurrences(of: "snapshot: 30", with: "snapshot: 0").replacingOccurrences(of: "display: 10", with: "display: 1")

@Suite(.serialized) struct SignalTests {
    @Test func interruptWritesAResumableStateAndExitsNonZero() throws {
        let dir = temporaryDirectory()
        try setUp(dir, solver: longSolver)
        let (p, out, _) = try launch("dtrain", [dir + "/solver.yaml", "--threads", "1"])
        #expect(waitFor("\"event\":\"train\"", in: dir + "/out/tiny_metrics.jsonl"))
        p.interrupt()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 130)
        let done = try #require(text.split(separator: "\n").last { $0.hasPrefix("done ") })
        #expect(done.hasSuffix(" stopped=signal"))
        let snapshotLine = try #require(text.split(separator: "\n").last { $0.hasPrefix("snapshot iter=") })
        let iteration = Int(snapshotLine.split(separator: " ")[1].dropFirst("iter=".count))!
        let state = "\(dir)/out/tiny_iter_\(iteration).solverstate"
        #expect(FileManager.default.fileExists(atPath: state))

        // Resume for 20 more iterations.
        try longSolver.replacingOccurrences(of: "max_iter: 100000000", with: "max_iter: \(iteration + 20)")
            .write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
        let r = try run("dtrain", [dir + "/solver.yaml", "--snapshot", state, "--threads", "1"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("resume iter=\(iteration) state=\(state)\n  note: the solver file changed since this state was written\n"))
        #expect(r.out.contains("done iter=\(iteration + 20) "))
    }

    /// Ctrl-C during a test that would run for hours still stops the run promptly.
    @Test func interruptStopsALongTest() throws {
        let dir = temporaryDirectory()
        try setUp(dir, solver: longSolver.replacingOccurrences(of: "test_iter: 5", with: "test_iter: 100000000"))
        let (p, out, _) = try launch("dtrain", [dir + "/solver.yaml", "--threads", "1"])
        #expect(waitFor("\"event\":\"start\"", in: dir + "/out/tiny_metrics.jsonl"))
        usleep(300_000)  // well inside the first test
        p.interrupt()
        var waited = 0
        while p.isRunning && waited < 200 { usleep(100_000); waited += 1 }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            Issue.record("dtrain did not stop within 20 s of SIGINT during a test")
        }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 130)
        #expect(!text.contains("\ntest iter="), "a partial test was reported")
        #expect(text.contains(" stopped=signal"))
    }

    @Test func hangupSnapshotsAndCarriesOn() throws {
        let dir = temporaryDirectory()
        try setUp(dir, solver: longSolver)
        let (p, out, _) = try launch("dtrain", [dir + "/solver.yaml", "--threads", "1"])
        #expect(waitFor("\"event\":\"train\"", in: dir + "/out/tiny_metrics.jsonl"))
        kill(p.processIdentifier, SIGHUP)
        #expect(waitFor("\"event\":\"snapshot\"", in: dir + "/out/tiny_metrics.jsonl"))
        #expect(p.isRunning)
        p.terminate()  // SIGTERM: snapshot and stop
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 143)
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("snapshot iter=") }.count == 2)
    }

    /// `dtrain … | head`, then Ctrl-C: the pipe is gone, the snapshot is still written.
    @Test func snapshotIsWrittenWhenTheOutputPipeIsGone() throws {
        let dir = temporaryDirectory()
        try setUp(dir, solver: longSolver)
        let pipe = Pipe()
        let (p, _, _) = try launch("dtrain", [dir + "/solver.yaml", "--threads", "1"], stdout: pipe)
        #expect(waitFor("\"event\":\"train\"", in: dir + "/out/tiny_metrics.jsonl"))
        try pipe.fileHandleForReading.close()
        usleep(100_000)
        p.interrupt()
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 130)
        #expect(waitFor("\"event\":\"snapshot\"", in: dir + "/out/tiny_metrics.jsonl"))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/out")
        #expect(files.contains { $0.hasSuffix(".solverstate") })
    }
}

@Suite struct OptionTests {
    @Test func dryRunPrintsTheEffectiveSolverAndTrainsNothing() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        let r = try run("dtrain", [dir + "/solver.yaml", "--dry-run"])
        #expect(r.status == 0)
        #expect(r.out.contains("solver (\(dir)/solver.yaml), with every default filled in:\n  net: \(dir)/net.yaml\n  type: SGD\n  base_lr: 0.1\n  lr_policy: fixed\n"))
        #expect(r.out.contains("\n  weight_decay: 0\n  regularization_type: L2\n  clip_gradients: -1  # off\n  iter_size: 1\n  max_iter: 60\n"))
        #expect(!r.out.contains("train iter="))
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }

    @Test func quietPrintsNothingAndLogKeepsTheLines() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        // The log is appended to: what it held before stays.
        try "previous line\n".write(toFile: dir + "/train.log", atomically: true, encoding: .utf8)
        let r = try run("dtrain", [dir + "/solver.yaml", "--quiet", "--log", dir + "/train.log"])
        #expect(r.status == 0 && r.out.isEmpty && r.err.isEmpty)
        let log = try String(contentsOfFile: dir + "/train.log", encoding: .utf8)
        #expect(log.hasPrefix("previous line\nnet 'tiny' "))
        #expect(log.contains("\ntrain iter=10/60 ") && log.contains("\ndone iter=60 "))
    }

    @Test func metricsFileHasOneJSONObjectPerEvent() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        #expect(try run("dtrain", [dir + "/solver.yaml"]).status == 0)
        let lines = try String(contentsOfFile: dir + "/out/tiny_metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let events = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(events.allSatisfy { ($0["v"] as? Int) == 1 && $0["time"] is Double })
        #expect(events.map { $0["event"] as! String }.filter { $0 == "test" }.count == 3)
        let test = try #require(events.first { ($0["event"] as? String) == "test" && ($0["iteration"] as? Int) == 30 })
        #expect(test["net"] as? String == "tiny")
        #expect((test["outputs"] as? [String: Any])?["accuracy"] is Double)
        #expect(events.last?["event"] as? String == "done" && events.last?["reason"] as? String == "max_iter")
    }

    @Test func weightsAndSnapshotTogetherAreRefused() throws {
        let r = try run("dtrain", ["s.yaml", "--weights", "a.safetensors", "--snapshot", "b.solverstate"])
        #expect(r.status != 0)
        #expect(r.err.contains("give --weights (start from weights) or --snapshot (resume a run), not both"))
    }

    @Test func divergenceIsOneErrorAndNoSnapshot() throws {
        let dir = temporaryDirectory()
        try setUp(dir, solver: solver.replacingOccurrences(of: "base_lr: 0.1", with: "base_lr: 1e30"))
        let r = try run("dtrain", [dir + "/solver.yaml"])
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("error: training diverged at iteration "))
        #expect(r.err.contains("\nhint: the learning rate is most probably too large: lower base_lr (now 1e+30)"))
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/out")) ?? []
        #expect(!files.contains { $0.hasSuffix(".safetensors") })
    }
}

@Suite struct AbandonedTemporaryTests {
    /// A kill -9 during a write leaves `FILE.tmp-PID` (scripts/kill-trials). The next run writing
    /// with that prefix removes those whose writer is gone, and nothing else.
    @Test func theNextRunRemovesTemporariesOfWritersThatAreGone() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run()
        exited.waitUntilExit()
        let gone = exited.processIdentifier
        let names = [
            "tiny_iter_30.safetensors.tmp-\(gone)",  // the only one to remove
            "tiny_iter_30.solverstate.tmp-\(getpid())",  // its writer (this process) is running
            "other_iter_30.safetensors.tmp-\(gone)",  // another prefix's
            "tiny_iter_30.safetensors.tmp-x",  // not a process id
        ]
        for name in names { try Data([1]).write(to: URL(fileURLWithPath: "\(dir)/out/\(name)")) }
        let r = try run("dtrain", [dir + "/solver.yaml", "--threads", "1"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("removed 1 temporary file left by an interrupted write: \(names[0])\n"))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/out").filter { $0.contains(".tmp-") }
        #expect(Set(left) == Set(names.dropFirst()))
    }
}
