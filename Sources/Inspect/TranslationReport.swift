import X86Paging

/// One translation explained: every level's entry and the outcome.
public struct TranslationReport {
  public var translation: Translation
  public var context: PagingContext

  /// Translates `linearAddress` for `access` with the tables in `memory`.
  public init(_ linearAddress: UInt64, access: Access, context: PagingContext, memory: some PhysicalMemory) {
    translation = translate(linearAddress, access: access, context: context, memory: memory)
    self.context = context
  }

  /// True when the access raises an exception (#PF or #GP).
  public var faults: Bool {
    switch translation.outcome {
    case .pageFault, .generalProtection: return true
    case .mapped, .tableOutsideMemory: return false
    }
  }

  /// 14 for #PF, 13 for #GP, nil otherwise.
  public var vector: Int? {
    switch translation.outcome {
    case .pageFault: return 14
    case .generalProtection: return 13
    case .mapped, .tableOutsideMemory: return nil
    }
  }

  /// The error code the exception pushes: the #PF code, or 0 for #GP(0).
  public var errorCode: UInt64? {
    switch translation.outcome {
    case .pageFault(let code, _): return UInt64(code.rawValue)
    case .generalProtection: return 0
    case .mapped, .tableOutsideMemory: return nil
    }
  }

  /// A word for the outcome, stable for programs.
  public var outcomeName: String {
    switch translation.outcome {
    case .mapped: return "mapped"
    case .pageFault: return "pageFault"
    case .generalProtection: return "generalProtection"
    case .tableOutsideMemory: return "tableOutsideMemory"
    }
  }

  /// The explanation for a person.
  public func text(source: String, platform: String?) -> String {
    let walk = translation.walk
    var lines = [
      "# \(source): \(translation.access) of \(hex(walk.linearAddress)), \(context.mode) paging"
        + (platform.map { ", on \($0)" } ?? "")
    ]
    lines.append(
      "# CR0 \(hex(context.cr0.rawValue)) CR3 \(hex(context.cr3)) CR4 \(hex(context.cr4.rawValue)) EFER \(hex(context.efer.rawValue)) RFLAGS \(hex(context.rflags.rawValue)) PKRU \(hex(UInt64(context.pkru.rawValue))) MAXPHYADDR \(context.maxPhysicalAddressBits)"
    )
    for step in walk.steps {
      lines.append("  \(pad(step.level.entryName(in: context.mode), 6)) at \(hex16(step.entryAddress)): \(step.entry)")
    }
    switch translation.outcome {
    case .mapped(let physical, let size):
      lines.append("-> \(hex(physical)) (\(size) page)")
    case .pageFault(let code, let reason):
      lines.append("-> #PF, error code \(code): \(reason)")
    case .generalProtection(let reason):
      lines.append("-> #GP(0): \(reason)")
    case .tableOutsideMemory(let level, let address):
      lines.append("-> no answer: the \(level.entryName) at \(hex(address)) is outside guest memory")
    }
    if !translation.accessedSet.isEmpty {
      lines.append("   sets A in: " + translation.accessedSet.map { hex($0) }.joined(separator: " "))
    }
    if !translation.dirtySet.isEmpty {
      lines.append("   sets D in: " + translation.dirtySet.map { hex($0) }.joined(separator: " "))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// The report for a program: `fault`, `vector`, `errorCode`, `physicalAddress`,
  /// `pageSize`, `levels`, `accessedSet`, `dirtySet` (addresses as "0x…" strings).
  public func json(source: String, platform: [String: Any]?) -> [String: Any] {
    var object: [String: Any] = [
      "source": source,
      "linearAddress": hex(translation.walk.linearAddress),
      "access": translation.access.description,
      "mode": context.mode.description,
      "outcome": outcomeName,
      "fault": faults,
      "levels": translation.walk.steps.map { step -> [String: Any] in
        [
          "level": step.level.entryName(in: context.mode), "entryAddress": hex(step.entryAddress),
          "entry": hex(step.entry.rawValue),
        ]
      },
      "accessedSet": translation.accessedSet.map { hex($0) },
      "dirtySet": translation.dirtySet.map { hex($0) },
    ]
    if let vector { object["vector"] = vector }
    if let errorCode { object["errorCode"] = hex(errorCode) }
    switch translation.outcome {
    case .mapped(let physical, let size):
      object["physicalAddress"] = hex(physical)
      object["pageSize"] = Int(size.bytes)
    case .pageFault(_, let reason):
      object["reason"] = reason.description
    case .generalProtection(let reason):
      object["reason"] = reason.description
    case .tableOutsideMemory(let level, let address):
      object["reason"] = "the \(level.entryName) at \(hex(address)) is outside guest memory"
    }
    if let platform { object["platform"] = platform }
    return object
  }
}
