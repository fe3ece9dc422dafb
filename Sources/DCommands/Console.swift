import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DConfig
import DCore
import DData
import DNet
import DSolvers
import DZoo

/// Where commands write. Lines go straight to the file descriptors: a closed pipe
/// (`dtrain … | head`) must not kill the process before its final snapshot, so SIGPIPE is
/// ignored and write errors are dropped.
public struct Console: Sendable {
    public var quiet = false
    /// Put before every error line: `rank 1: ` for the ranks of an mpirun job other than 0.
    public var errorPrefix = ""

    public init(quiet: Bool = false) {
        self.quiet = quiet
        signal(SIGPIPE, SIG_IGN)
    }

    public func out(_ line: String) { if !quiet { Self.write(1, line + "\n") } }
    public func err(_ line: String) { Self.write(2, errorPrefix + line + "\n") }

    /// Progress of a long image list's decoding, on standard error (not one of the stable
    /// output lines).
    static let decodingProgress: @Sendable (String, Int, Int) -> Void = { list, done, total in
        write(2, "decoding \(list): \(done)/\(total) images\n")
    }

    static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }

    /// Runs a command's body with a console: an error becomes its one-line report and exit
    /// status 1; an `ExitCode` the body throws (a signal's 130) passes through.
    public static func run(_ body: (Console) throws -> Void) throws {
        let console = Console()
        do {
            try body(console)
        } catch let code as ExitCode {
            throw code
        } catch {
            throw ExitCode(console.report(error))
        }
    }

    /// Prints an error as `file:line:col: error: message` and its hint, and returns the exit
    /// code for it.
    public func report(_ error: any Error) -> Int32 {
        switch error {
        case let e as ConfigError: err(e.description)
        case let e as DataError: err(e.description)
        case let e as FileError: err(e.description)
        case let e as RunError: err(e.description)
        case let e as MPIError: err(e.description)
        case let e as OutputError: err(e.message)
        case let e as TrainError:
            switch e {
            case .config(let c): return report(c)
            case .file(let f): return report(f)
            case .run(let r): return report(r)
            }
        default: err("error: \(error)")
        }
        return 1
    }
}

/// printf-style formatting without Foundation.
public func cFormat(_ format: String, _ args: CVarArg...) -> String {
    var buffer = [CChar](repeating: 0, count: 128)
    let n = withVaList(args) { vsnprintf(&buffer, buffer.count, format, $0) }
    if n >= buffer.count {
        buffer = [CChar](repeating: 0, count: Int(n) + 1)
        _ = withVaList(args) { vsnprintf(&buffer, buffer.count, format, $0) }
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
