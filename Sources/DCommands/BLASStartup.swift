#if canImport(Glibc)
import Glibc
#endif
import DCore

/// OpenBLAS chooses its kernels once, when the process loads it. On a CPU newer than the
/// OpenBLAS build knows (Debian 12's 0.3.21 on recent Xeons), it falls back to its Prescott
/// (SSE3) kernels, several times slower. Unless the user chose with `OPENBLAS_CORETYPE`, the
/// commands then start themselves again once with a core type the CPU supports.
public enum BLASStartup {
    /// The OpenBLAS core type matching the CPU's features, if it has AVX2 at least.
    public static func suggestedCoreType(cpuFlags: Set<Substring>) -> String? {
        if cpuFlags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    static func cpuFlags() -> Set<Substring> {
        guard let text = cpuInfoLine("flags") else { return [] }
        return Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }))
    }

    /// The CPU's model name (`AMD EPYC 7B13`), for model cards; "unknown" where /proc/cpuinfo
    /// does not say.
    public static func cpuModel() -> String {
        guard let line = cpuInfoLine("model name"), let colon = line.firstIndex(of: ":") else { return "unknown" }
        let name = line[line.index(after: colon)...].split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return name.isEmpty ? "unknown" : name
    }

    /// The first line of /proc/cpuinfo that starts with `key`.
    static func cpuInfoLine(_ key: String) -> String? {
        guard let file = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 1 << 16)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix(key) { return text }
        }
        return nil
    }

    /// Restarts the process with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to Prescott.
    /// Returns without doing anything when the user set the variable or detection worked.
    public static func ensureFastKernels() {
        guard getenv("OPENBLAS_CORETYPE") == nil, BLAS.coreName == "Prescott",
              let core = suggestedCoreType(cpuFlags: cpuFlags()) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // exec failed: carry on with the slow kernels rather than not at all
    }
}
