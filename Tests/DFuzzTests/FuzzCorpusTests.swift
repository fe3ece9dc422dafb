import DFuzz
import Foundation
import Testing

/// Replays every committed fuzz input (Tests/Fuzz/corpus/TARGET/: the seeds, and any input
/// that once broke a parser) through its target, as `scripts/fuzz` feeds them: none may crash,
/// and the seeds named `valid-*` must be accepted, so that a target that refuses everything
/// (a broken harness, fuzzing nothing past the first check) fails here.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    static func harness(_ target: FuzzTarget) throws -> FuzzHarness {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(target.rawValue)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try FuzzHarness(target: target, directory: directory.path)
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyCommittedInputIsAcceptedOrRefusedCleanly(_ target: FuzzTarget) throws {
        let h = try Self.harness(target)
        defer { try? FileManager.default.removeItem(atPath: h.directory) }
        let directory = Self.corpus.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(names.contains { $0.hasPrefix("valid-") }, "no valid seed for \(target.rawValue)")
        #expect(names.contains { !$0.hasPrefix("valid-") }, "no malformed seed for \(target.rawValue)")
        for name in names {
            let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent(name)))
            let error = h.run(bytes)
            if name.hasPrefix("valid-") {
                #expect(error == nil, "\(target.rawValue)/\(name) was refused: \(String(describing: error))")
            }
        }
    }

    /// The solver-state target resumes a trainer that it snapshots when it starts. The committed
    /// valid seed is such a snapshot (made with OpenBLAS's Zen kernels, which the state records):
    /// a state names its weights by SHA-256, so it is accepted only while the harness's trainer
    /// starts from the same weights, bit for bit.
    @Test func theSolverStateSeedResumesTheHarnesssTrainer() throws {
        let h = try Self.harness(.solverState)
        defer { try? FileManager.default.removeItem(atPath: h.directory) }
        let committed = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent("solver-state/valid-snapshot.solverstate")))
        #expect(h.run(committed) == nil)
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: h.stateSeedPath)))
        #expect(h.run(written) == nil)
        // A flipped byte in the 8-byte header length.
        var damaged = written
        damaged[3] ^= 0xFF
        #expect(h.run(damaged) != nil)
    }
}
