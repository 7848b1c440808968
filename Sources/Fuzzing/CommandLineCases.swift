/// Command lines of `mmlab` built from hostile words: numbers with signs and junk, files
/// that are not files, guest words the guest does not know. Run as processes, they check
/// what a user sees: a clear message and a non-zero exit for bad input, usage lines only for
/// usage errors, never a crash or a hang. FIFO stands for a named pipe the runner makes.
enum CommandLineCases {
  static let numbers = [
    "0x+1", "+5", "-1", "", "0x", "1e3", "99999999999999999999999", "0x1_", "1__0", "\u{663}", " 5", "5 ",
    "0xFFFFFFFFFFFFFFFF", "18446744073709551616", "0x10000000000000000", "nan", "inf", "0b101", "007", "1_000",
    "4096", "0", "0xffff800000000000",
  ]
  static let files = [
    "INPUT", "INPUT", "/dev/null", "/dev/zero", "/", "FIFO", "/nonexistent/file", "/proc/self/mem", "",
  ]
  static let words = ["scenario=nope", "bench.map", "", "--", "selftest.hang", "mm.zeroed=x", "conformance", "\u{0}x"]

  static func pick<T>(_ values: [T], _ random: inout SplitMix64) -> T {
    values[Int(random.next() % UInt64(values.count))]
  }

  static func make(_ index: Int, _ random: inout SplitMix64, core: FuzzCase) -> FuzzCase {
    let number = pick(numbers, &random)
    let file = pick(files, &random)
    let command: [String]
    switch random.next() % 10 {
    case 0: command = ["translate", number, "--core", file]
    case 1: command = ["pfn", "--core", file, "--pfn", number]
    case 2: command = ["dump-pagetables", "--core", file, "--max-leaves", number]
    case 3: command = ["run", "--memory", pick(numbers + ["64M", "1G", "2g", "64MiB"], &random), "--timeout", "1"]
    case 4: command = ["run", "--timeout", pick(numbers + ["0.5", "1.5"], &random)]
    case 5: command = ["run", "--timeout", "1", "--append", pick(words, &random)]
    case 6: command = ["validate", "--scenario", pick(["stress", "nope", ""], &random), "--seed", number]
    case 7: command = ["script", file, "--timeout", "1"]
    case 8: command = ["conformance", "--suite", "controls", "--filter", "cpl0/cr4/pke-set", "--errata", file]
    default: command = ["translate", "0x1000", "--core", file, "--cr3", number]
    }
    return FuzzCase(
      index: index, family: .commandLine, input: core.input, inputExtension: core.inputExtension, command: command,
      mutation: "command line; INPUT is \(core.mutation)")
  }
}
