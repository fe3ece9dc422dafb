import DCommands

BLASStartup.ensureFastKernels()
TrainCommand.main()
