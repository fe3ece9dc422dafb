import Foundation
import Testing

/// scripts/bench-compare, which tells whether two `scripts/bench --save` runs agree within noise,
/// on runs written here: one LeNet row (time over PyTorch's, per round, and the share of the
/// FMA peak) and the inference row, on a machine described as the bench describes it.
@Suite struct BenchCompareTests {
    let script = FileManager.default.currentDirectoryPath + "/scripts/bench-compare"

    /// A run's file in dir, holding these values.
    func runFile(_ dir: String, ratios: [Double], peak: Double = 0.65, peakRounds: [Double]? = nil, images: Double = 4.5,
                 model: String = "2", missed: [String] = []) -> String {
        let ratio = ratios.sorted()[ratios.count / 2]
        let run: [String: Any] = [
            "date": "2026-12-04T19:00Z", "commit": "abc1234",
            "machine": ["cpu": "AMD EPYC", "family": "26", "model": model, "vector": "avx512", "cpus": 2],
            "threads": 2, "openblas": "Cooperlake", "kernels": "avx512",
            "limits": ["fma_gflops": 560.0, "sgemm_gflops": 500.0],
            "rows": [
                ["name": "LeNet training iteration, batch 64", "ratio": ratio, "ratio_rounds": ratios,
                 "peak_target": 0.6, "peak_share": peak, "peak_share_rounds": peakRounds ?? [peak]],
                ["name": "LeNet inference, batch 100", "ips": 90000.0, "ratio": images, "ratio_rounds": [images]],
            ],
            "missed": missed,
        ]
        let path = dir + "/\(UUID().uuidString).json"
        FileManager.default.createFile(atPath: path, contents: try! JSONSerialization.data(withJSONObject: run))
        return path
    }

    func compare(_ old: String, _ new: String, _ extra: [String] = []) throws -> (status: Int32, out: String, err: String) {
        try run("/usr/bin/python3", [script, old, new] + extra)
    }

    @Test func runsWithinTheToleranceAgree() throws {
        let dir = temporaryDirectory()
        let r = try compare(runFile(dir, ratios: [0.32, 0.33, 0.34]), runFile(dir, ratios: [0.35, 0.36, 0.36], peak: 0.60))
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("agree within noise (tolerance 15% or overlapping rounds): yes"))
        #expect(r.out.contains("| LeNet training iteration, batch 64 | time over PyTorch's | 0.33 (0.32–0.34) | 0.36 (0.35–0.36) | +9% | yes |"))
    }

    @Test func aRatioFartherThanTheToleranceWithoutOverlapDisagrees() throws {
        let dir = temporaryDirectory()
        let r = try compare(runFile(dir, ratios: [0.32, 0.33, 0.34]), runFile(dir, ratios: [0.40, 0.41, 0.42]))
        #expect(r.status == 1)
        #expect(r.out.contains("+24% | **no** |"), "\(r.out)")
        #expect(r.out.contains("no: LeNet training iteration, batch 64 (time over PyTorch's)"))
        // A looser tolerance takes it as noise.
        #expect(try compare(runFile(dir, ratios: [0.32, 0.33, 0.34]), runFile(dir, ratios: [0.40, 0.41, 0.42]), ["--tolerance", "0.3"]).status == 0)
    }

    @Test func overlappingRoundsAgreeBeyondTheTolerance() throws {
        let dir = temporaryDirectory()
        // Medians 0.33 and 0.41 (+24%), but the first run's rounds reached 0.40.
        let r = try compare(runFile(dir, ratios: [0.30, 0.33, 0.40]), runFile(dir, ratios: [0.40, 0.41, 0.42]))
        #expect(r.status == 0, "\(r.out)")
    }

    @Test func theShareOfThePeakAndInferenceAreComparedToo() throws {
        let dir = temporaryDirectory()
        let peak = try compare(runFile(dir, ratios: [0.33]), runFile(dir, ratios: [0.33], peak: 0.50))
        #expect(peak.status == 1)
        #expect(peak.out.contains("| share of the FMA peak | 65% | 50% | -23% | **no** |"), "\(peak.out)")
        // Medians 65% and 50%, but a round of the new run reached the old one's range.
        let rounds = try compare(runFile(dir, ratios: [0.33], peakRounds: [0.62, 0.65, 0.66]),
                                 runFile(dir, ratios: [0.33], peak: 0.50, peakRounds: [0.45, 0.50, 0.63]))
        #expect(rounds.status == 0, "\(rounds.out)")
        #expect(rounds.out.contains("| share of the FMA peak | 65% (62%–66%) | 50% (45%–63%) | -23% | yes |"))
        let inference = try compare(runFile(dir, ratios: [0.33]), runFile(dir, ratios: [0.33], images: 3.5))
        #expect(inference.status == 1)
        #expect(inference.out.contains("LeNet inference, batch 100 (images/s over PyTorch's)"))
    }

    @Test func anotherMachineIsNotCompared() throws {
        let dir = temporaryDirectory()
        let r = try compare(runFile(dir, ratios: [0.33]), runFile(dir, ratios: [0.33], model: "17"))
        #expect(r.status == 1)
        #expect(r.out.contains("not comparable, the machines differ: CPU: AMD EPYC (family 26, model 2) against AMD EPYC (family 26, model 17)"))
        #expect(!r.out.contains("| workload |"))
    }

    @Test func missedTargetsAreListedAndABadFileIsRefused() throws {
        let dir = temporaryDirectory()
        let r = try compare(runFile(dir, ratios: [0.33]), runFile(dir, ratios: [0.33], missed: ["LeNet training iteration, batch 64: 55% of the FMA peak"]))
        #expect(r.out.contains("targets missed (old): none"))
        #expect(r.out.contains("targets missed (new): LeNet training iteration, batch 64: 55% of the FMA peak"))
        let bad = dir + "/run.json"
        FileManager.default.createFile(atPath: bad, contents: Data("{\"rows\": 3".utf8))
        let refused = try compare(bad, runFile(dir, ratios: [0.33]))
        #expect(refused.status == 2)
        #expect(refused.err.hasPrefix("bench-compare: \(bad): "))
    }
}
