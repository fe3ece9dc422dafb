import DCommands
import DServe

BLASStartup.ensureFastKernels()
// Parsed and run by hand: ArgumentParser's async `main()` needs an availability annotation
// that a Linux build cannot give.
let command = ServeCommand.parseOrExit()
do { try await command.run() } catch { ServeCommand.exit(withError: error) }
