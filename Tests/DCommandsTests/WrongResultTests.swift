import DCore
import DZoo
import Foundation
import Testing

/// The size and bytes of every file of a directory, to show that a command changed none.
func snapshotOfFiles(_ dir: String) throws -> [String: Data] {
    var files: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
        files[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
    }
    return files
}

/// The wrong results found by trying main as a user would; each test failed before its fix.
@Suite struct WrongResultTests {
    /// 1. `--predict` answers with each entry's own deploy net; another net given with --model
    /// is refused rather than silently not used.
    @Test func predictRefusesAnotherNet() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        try Data(Array("P5\n28 28\n255\n".utf8) + [UInt8](repeating: 7, count: 784)).write(to: URL(fileURLWithPath: dir + "/t.pgm"))
        try setUp(dir)
        let r = try run("dtest", ["--model", dir + "/net.yaml", "--weights", "zoo:fashion-lenet", "--predict", dir + "/t.pgm"], zoo: zoo)
        #expect(r.status != 0)
        #expect(r.err.contains("--predict uses each zoo model's own deploy net and card; give zoo:NAME or an entry directory, not --model"), "\(r.err)")
        #expect(!r.out.contains("class="))
    }

    /// 2. The test at the end also when max_iter is not a multiple of test_interval.
    @Test func theEndIsTested() throws {
        let dir = temporaryDirectory()
        try setUp(dir, solver: solver.replacingOccurrences(of: "max_iter: 60", with: "max_iter: 40")
            .replacingOccurrences(of: "test_interval: 30", with: "test_interval: 25"))
        let r = try run("dtrain", [dir + "/solver.yaml"])
        #expect(r.status == 0, "\(r.err)")
        let tests = r.out.split(separator: "\n").filter { $0.hasPrefix("test iter=") }.map { $0.split(separator: " ")[1] }
        #expect(tests == ["iter=0", "iter=25", "iter=40"])
    }

    /// 3. A committee's --json reports the committee's results at the top level.
    @Test func committeeJSONTopLevelIsTheCommittee() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        _ = try trainIntoZoo(dir, zoo: zoo)
        let r = try run("dtest", ["zoo:tiny@30", "zoo:tiny@60", "--json"], zoo: zoo)
        #expect(r.status == 0, "\(r.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let committee = try #require(object["committee"] as? [String: Any])
        let outputs = try #require(object["outputs"] as? [String: Double])
        #expect(outputs == ["accuracy": try #require(committee["accuracy"] as? Double)])
        #expect(object["samples"] as? Int == 40)
        let members = try #require(object["members"] as? [[String: Any]])
        #expect(members.count == 2 && members.allSatisfy { ($0["outputs"] as? [String: Double])?["loss"] != nil })
    }

    /// 4 and 5. A resume with nothing left to do changes no file and says so; one whose
    /// max_iter lies below the snapshot's iteration is refused and changes no file either.
    @Test func resumesWithNothingToDoChangeNoFile() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        _ = try trainIntoZoo(dir, zoo: zoo)
        let before = try snapshotOfFiles(zoo + "/tiny")
        for _ in 0..<2 {
            let r = try run("dtrain", [dir + "/solver.yaml", "--snapshot", "zoo:tiny"], zoo: zoo)
            #expect(r.status == 0, "\(r.err)")
            #expect(r.out.hasSuffix("resume iter=60 state=\(zoo)/tiny/tiny_iter_60.solverstate: nothing to do, max_iter is 60; no file was changed\n"), "\(r.out)")
            #expect(!r.out.contains("test iter="))
            #expect(try snapshotOfFiles(zoo + "/tiny") == before)
        }
        try zooSolver.replacingOccurrences(of: "max_iter: 60", with: "max_iter: 20").write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
        let r = try run("dtrain", [dir + "/solver.yaml", "--snapshot", "zoo:tiny@30"], zoo: zoo)
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("\(zoo)/tiny/tiny_iter_30.solverstate: error: is at iteration 30, past this solver's max_iter of 20\n"), "\(r.err)")
        #expect(try snapshotOfFiles(zoo + "/tiny") == before)
    }

    /// A card left without metrics (its run was stopped by a signal at max_iter) is measured by
    /// the resume that has nothing left to train, and nothing else changes.
    @Test func aNoOpResumeCompletesACardWithoutMetrics() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        _ = try trainIntoZoo(dir, zoo: zoo)
        let cardPath = zoo + "/tiny/model.yaml"
        let full = try String(contentsOfFile: cardPath, encoding: .utf8)
        let start = try #require(full.range(of: "metrics:\n")), end = try #require(full.range(of: "snapshots:"))
        try (String(full[..<start.lowerBound]) + String(full[end.lowerBound...])).write(toFile: cardPath, atomically: true, encoding: .utf8)
        #expect(try ModelCard.load(cardPath).metrics == nil)
        let before = try snapshotOfFiles(zoo + "/tiny").filter { $0.key != "model.yaml" }
        let r = try run("dtrain", [dir + "/solver.yaml", "--snapshot", "zoo:tiny"], zoo: zoo)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("nothing to train, max_iter is 60; measuring the card's weights\ncard weights=tiny_iter_60.safetensors samples=40 "), "\(r.out)")
        #expect(try String(contentsOfFile: cardPath, encoding: .utf8) == full)  // the same metrics again
        #expect(try snapshotOfFiles(zoo + "/tiny").filter { $0.key != "model.yaml" } == before)
    }

    /// A resume under another OpenBLAS kernel says so (the bits of the rest of the run change).
    @Test func aResumeOnAnotherKernelSaysSo() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        #expect(try run("dtrain", [dir + "/solver.yaml"]).status == 0)
        let other = BLAS.coreName == "Sandybridge" ? "Haswell" : "Sandybridge"
        let r = try run("dtrain", [dir + "/solver.yaml", "--snapshot", dir + "/out/tiny_iter_30.solverstate"], environment: ["OPENBLAS_CORETYPE": other])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("  note: it was written with OpenBLAS's \(BLAS.coreName) kernels, this run uses \(other): sums may round differently\n"), "\(r.out)")
    }

    /// 6. Weights that match no layer of the net are an error unless asked for; a feature dump
    /// is not weights.
    @Test func weightsThatCopyNothingAreRefused() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        try setUp(dir)
        let r = try run("dtrain", [dir + "/solver.yaml", "--weights", "zoo:xor"], zoo: zoo)
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("\(repositoryZoo)/xor/xor_iter_1000.safetensors: error: has weights for no layer of net 'tiny'\n"), "\(r.err)")
        #expect(r.err.contains("add --allow-copying-none"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
        let allowed = try run("dtrain", [dir + "/solver.yaml", "--weights", "zoo:xor", "--allow-copying-none"], zoo: zoo)
        #expect(allowed.status == 0, "\(allowed.err)")
        #expect(allowed.out.contains(": copied none\n"))

        let dump = try run("dtest", ["--model", dir + "/net.yaml", "--weights", dir + "/out/tiny_iter_60.safetensors", "--dump", "s", "--out", dir + "/features.safetensors"])
        #expect(dump.status == 0, "\(dump.err)")
        for tool in ["dtrain", "dtest"] {
            let args = tool == "dtrain" ? [dir + "/solver.yaml", "--weights", dir + "/features.safetensors"]
                : ["--model", dir + "/net.yaml", "--weights", dir + "/features.safetensors"]
            let features = try run(tool, args)
            #expect(features.status == 1)
            #expect(features.err.hasPrefix("\(dir)/features.safetensors: error: holds features written by dtest --dump, not weights\n"), "\(tool): \(features.err)")
        }
    }

    /// 7. Loading through zoo: checks the file against the card.
    @Test func zooWeightsAreCheckedAgainstTheCard() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        _ = try trainIntoZoo(dir, zoo: zoo)
        let path = zoo + "/tiny/tiny_iter_30.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 3] ^= 0x01  // same size, one bit of one weight
        try bytes.write(to: URL(fileURLWithPath: path))
        for args in [["zoo:tiny@30"], ["--model", dir + "/net.yaml", "--weights", "zoo:tiny@30"]] {
            let r = try run("dtest", args, zoo: zoo)
            #expect(r.status == 1)
            #expect(r.err.hasPrefix("\(path): error: does not match the card of 'tiny': its SHA-256 differs\n"), "\(r.err)")
        }
        let tune = try run("dtrain", [dir + "/solver.yaml", "--weights", "zoo:tiny@30"], zoo: zoo)
        #expect(tune.status == 1 && tune.err.hasPrefix("\(path): error: does not match the card"), "\(tune.err)")
        // A resume's solver state too.
        let state = zoo + "/tiny/tiny_iter_60.solverstate"
        var stateBytes = try Data(contentsOf: URL(fileURLWithPath: state))
        stateBytes[stateBytes.count - 3] ^= 0x01
        try stateBytes.write(to: URL(fileURLWithPath: state))
        let resume = try run("dtrain", [dir + "/solver.yaml", "--snapshot", "zoo:tiny@60"], zoo: zoo)
        #expect(resume.status == 1 && resume.err.hasPrefix("\(state): error: does not match the card of 'tiny': its SHA-256 differs\n"), "\(resume.err)")
        // The other snapshot is intact and still loads.
        #expect(try run("dtest", ["zoo:tiny"], zoo: zoo).status == 0)
        try bytes.prefix(100).write(to: URL(fileURLWithPath: path))
        let short = try run("dtest", [zoo + "/tiny"], zoo: zoo)
        #expect(short.status == 0)  // the entry's weights are the 60th iteration's
        let truncated = try run("dtest", ["zoo:tiny@30"], zoo: zoo)
        #expect(truncated.err.hasPrefix("\(path): error: does not match the card of 'tiny': 100 bytes, the card says \(bytes.count)\n"), "\(truncated.err)")
    }
}
