#if DFUZZ_LIBFUZZER
import CLibFuzzer
#endif
import DFuzz
import DZoo
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

// Built two ways (scripts/fuzz):
// - with libFuzzer's instrumentation and `-D DFUZZ_LIBFUZZER`: main hands over to libFuzzer
//   (LLVMFuzzerRunDriver), which drives the target named by DFUZZ_TARGET;
// - plainly (as `swift build` does): `dfuzz TARGET FILE|DIR…` replays inputs and prints whether
//   each was accepted, or the error, to reproduce a crash the fuzzer saved.

/// The harness in use; its directory is removed at exit (kept with DFUZZ_KEEP=1, to look
/// at what the last input wrote).
nonisolated(unsafe) var current: FuzzHarness?

func fail(_ message: String) -> Never {
    let line = Array("dfuzz: error: \(message)\n".utf8)
    _ = write(2, line, line.count)
    exit(2)
}

/// Sets up `current` for the target `name`, in a fresh directory under /dev/shm where it
/// exists (no disk writes for millions of inputs).
func start(_ name: String) {
    guard let target = FuzzTarget(rawValue: name) else {
        fail("unknown target '\(name)'; targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    let directory = "\(base)/dfuzz-\(getpid())"
    guard mkdir(directory, 0o700) == 0 else { fail("cannot create \(directory)") }
    if getenv("DFUZZ_KEEP") == nil {
        atexit { try? FileSystem.removeTree(current?.directory ?? "") }
    }
    do {
        current = try FuzzHarness(target: target, directory: directory)
    } catch {
        try? FileSystem.removeTree(directory)
        fail("cannot set up the \(name) target: \(error)")
    }
}

@main
struct FuzzMain {
    static func main() {
        #if DFUZZ_LIBFUZZER
        guard let name = getenv("DFUZZ_TARGET").map({ String(cString: $0) }) else { fail("set DFUZZ_TARGET to the target to fuzz") }
        start(name)
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            current?.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        })
        #else
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first else {
            fail("usage: dfuzz TARGET FILE|DIR…  (replays inputs; scripts/fuzz runs the fuzzer)")
        }
        start(name)
        guard let h = current else { return }
        let files = arguments.dropFirst().flatMap { argument in
            FileSystem.isDirectory(argument)
                ? FileSystem.list(argument).filter { !$0.hasPrefix(".") }.map { "\(argument)/\($0)" } : [argument]
        }
        for file in files.sorted() {
            do {
                let bytes = try AtomicFile.read(file)
                print(h.run(bytes).map { "refused  \(file): \($0)" } ?? "accepted \(file)")
            } catch {
                fail("\(file): \(error.message)")
            }
        }
        #endif
    }
}
