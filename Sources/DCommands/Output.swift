#if canImport(Glibc)
import Glibc
#endif

/// Where `dtrain` writes: stable lines to standard output (unless quiet) and to the --log file,
/// and, on a terminal, one live progress line under them that is redrawn in place.
final class Output {
    let console: Console
    let quiet: Bool
    private let logPath: String?
    private var log: Int32 = -1
    /// Lines for the log before it is opened.
    private var pending: [String] = []
    private let live: Bool
    private var liveShown = false
    private var lastLive = ContinuousClock.now

    /// `underMPIRun`: a rank of an mpirun job, whose terminal is mpirun's.
    init(console: Console, quiet: Bool, logPath: String?, underMPIRun: Bool = false) {
        self.console = console
        self.quiet = quiet
        self.logPath = logPath
        // mpirun hands each rank a pseudo-terminal, which does not redraw lines in place.
        live = !quiet && isatty(1) == 1 && !underMPIRun
    }

    deinit { if log >= 0 { close(log) } }

    /// Opens the log (appending) and writes the lines kept so far. Called once the run's
    /// inputs have all loaded, so that a run refused at the start leaves no log behind.
    func openLog() throws {
        guard let logPath, log < 0 else { return }
        log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else {
            throw OutputError(message: "\(logPath): error: cannot create the log file: \(String(cString: strerror(errno)))")
        }
        pending.forEach { Console.write(log, $0 + "\n") }
        pending = []
    }

    /// A stable line: printed, logged, and the live line redrawn below it.
    func line(_ text: String) {
        clearLive()
        if !quiet { console.out(text) }
        if log >= 0 { Console.write(log, text + "\n") } else if logPath != nil { pending.append(text) }
    }

    /// The live line, at most ten times a second; nothing when output is not a terminal.
    func live(_ text: String, force: Bool = false) {
        guard live, force || ContinuousClock.now - lastLive > .milliseconds(100) else { return }
        lastLive = ContinuousClock.now
        Console.write(1, "\r\u{1B}[K" + text)
        liveShown = true
    }

    func clearLive() {
        guard liveShown else { return }
        Console.write(1, "\r\u{1B}[K")
        liveShown = false
    }
}

struct OutputError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
