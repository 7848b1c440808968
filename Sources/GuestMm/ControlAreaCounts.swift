#if canImport(GuestABI)
  import GuestABI
#endif

/// What keeps a section's control area alive, as NT counts it: section
/// objects (NumberOfSectionReferences), views (NumberOfMappedViews, the user
/// ones also in NumberOfUserReferences with the section objects), and pages in
/// memory whose PFN names one of its prototype PTEs (NumberOfPfnReferences).
/// The segment (the prototype PTEs) goes when no section object and no view
/// is left; the control area itself when, in addition, no page refers to it
/// (MiCheckControlArea). A count that would go below zero is a broken invariant.
public struct ControlAreaCounts: Equatable, Sendable {
  public private(set) var sections: UInt32 = 0
  public private(set) var mappedViews: UInt32 = 0
  public private(set) var userReferences: UInt32 = 0
  public private(set) var pfnReferences: UInt32 = 0
  /// Set once the last section and view went: no new section may open it.
  public private(set) var beingDeleted = false

  public init() {}

  /// What a count change leaves for the caller to free.
  public enum Release: Equatable, Sendable {
    /// Users remain.
    case none
    /// No section or view is left: delete the segment's prototype PTEs, whose
    /// pages go to the free list (page-file backed) or keep their file copy
    /// (file backed) until their own references drop.
    case segment
    /// Nothing refers to the control area any more: free it.
    case controlArea
  }

  /// NtCreateSection of a new section object on this control area; false (nothing changed) once it is being deleted.
  public mutating func addSection() -> Bool {
    guard !beingDeleted else { return false }
    sections += 1
    userReferences += 1
    return true
  }

  /// The last handle of a section object closed.
  public mutating func removeSection(_ trap: (StaticString) -> Never) -> Release {
    guard sections > 0, userReferences > 0 else { trap("ControlAreaCounts.removeSection: no section to remove") }
    sections -= 1
    userReferences -= 1
    return check()
  }

  /// A view mapped (`user`: in a process, not in system space).
  public mutating func addView(user: Bool) -> Bool {
    guard !beingDeleted else { return false }
    mappedViews += 1
    if user { userReferences += 1 }
    return true
  }

  /// A view unmapped.
  public mutating func removeView(user: Bool, _ trap: (StaticString) -> Never) -> Release {
    guard mappedViews > 0, !user || userReferences > 0 else {
      trap("ControlAreaCounts.removeView: no view to remove")
    }
    mappedViews -= 1
    if user { userReferences -= 1 }
    return check()
  }

  /// A page came into memory for one of the prototype PTEs.
  public mutating func addPage() { pfnReferences += 1 }

  /// A page that named one of the prototype PTEs left memory.
  public mutating func removePage(_ trap: (StaticString) -> Never) -> Release {
    guard pfnReferences > 0 else { trap("ControlAreaCounts.removePage: no page to remove") }
    pfnReferences -= 1
    return beingDeleted && pfnReferences == 0 ? .controlArea : .none
  }

  /// Whether users are gone (MiCheckControlArea): segment first, control area once no page refers to it.
  private mutating func check() -> Release {
    guard sections == 0, mappedViews == 0 else { return .none }
    beingDeleted = true
    return pfnReferences == 0 ? .controlArea : .segment
  }

  /// Whether any user remains.
  public var inUse: Bool { sections > 0 || mappedViews > 0 || pfnReferences > 0 }
}
