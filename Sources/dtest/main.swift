import DCommands

BLASStartup.ensureFastKernels()
TestCommand.main()
