import ArgumentParser
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Options every command that computes shares.
public struct ComputeOptions: ParsableArguments {
    @Option(name: .long, help: "Threads for BLAS and Dendrite's own loops (default: the number of cores; under mpirun, divided among the ranks on this machine, or the cores mpirun bound the rank to when fewer).")
    public var threads: Int?

    public init() {}

    public mutating func validate() throws {
        if let t = threads, !(1...256).contains(t) { throw ValidationError("--threads must be between 1 and 256, found \(t)") }
    }

    /// The thread count for Dendrite's `Parallel` loops, which also split each GEMM. OpenBLAS
    /// itself is kept on one thread, the one process-wide setting, so that the two never
    /// oversubscribe the cores.
    /// `sharedBy` processes on this machine (the ranks of an mpirun job) share the cores, and
    /// a rank that mpirun bound to fewer cores (its default binds each of 2 ranks to one) uses
    /// those.
    public func resolvedThreads(sharedBy processes: Int = 1) -> Int {
        BLAS.setThreads(1)
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        guard processes > 1 else { return threads ?? max(1, online) }
        return threads ?? max(1, min(Self.boundCPUs() ?? online, online / processes))
    }

    /// The CPUs this process may run on (its affinity mask, which mpirun's binding sets), from
    /// /proc/self/status: Swift's Glibc does not export sched_getaffinity.
    static func boundCPUs() -> Int? {
        guard let data = try? Data(contentsOf: URL(filePath: "/proc/self/status")) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        let mask = line.dropFirst("Cpus_allowed:".count).filter(\.isHexDigit)
        return mask.isEmpty ? nil : mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
    }
}

import DCore
