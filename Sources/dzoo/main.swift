import DCommands

ZooCommand.main()
