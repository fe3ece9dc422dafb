import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// Options every command that computes shares.
public struct ComputeOptions: ParsableArguments {
    @Option(name: .long, help: "Threads for BLAS and Dendrite's own loops (default: the number of cores, divided among the ranks of an mpirun job on this machine).")
    public var threads: Int?

    public init() {}

    public mutating func validate() throws {
        if let t = threads, !(1...256).contains(t) { throw ValidationError("--threads must be between 1 and 256, found \(t)") }
    }

    /// The thread count for Dendrite's `Parallel` loops, which also split each GEMM. OpenBLAS
    /// itself is kept on one thread, the one process-wide setting, so that the two never
    /// oversubscribe the cores.
    /// `sharedBy` processes on this machine (the ranks of an mpirun job) share the cores.
    public func resolvedThreads(sharedBy processes: Int = 1) -> Int {
        BLAS.setThreads(1)
        return threads ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) / max(processes, 1))
    }
}

import DCore
