import ArgumentParser

/// The root command: lists the subcommands.
@main
struct MMLab: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mmlab",
    abstract: "An x86 page-table and PFN emulator backed by a KVM guest.",
    discussion: """
      mmlab boots a tiny x86-64 guest kernel (Embedded Swift) on KVM, stops it at \
      checkpoints, and inspects its physical memory, registers and page tables.
      """,
    subcommands: [
      RunCommand.self, DumpPageTablesCommand.self, TranslateCommand.self, DumpCoreCommand.self, ValidateCommand.self,
      PfnCommand.self, SectionsCommand.self, BenchCommand.self, ConformanceCommand.self, ScriptCommand.self,
      ImageCommand.self,
    ]
  )
}
