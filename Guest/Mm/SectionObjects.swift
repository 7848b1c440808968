import GuestArch

/// One section object (NtCreateSection's result): its control area, the
/// size and protection it was created with, and its name if it has one.
struct SectionObject {
  var controlArea: Int
  var size: UInt64
  var protection: UInt8
  var pageFileBacked: Bool
  var handles = 0
  /// The object name (UTF-8), for NtOpenSection; nil when unnamed.
  var name: [UInt8]?
}

/// One section handle: the process whose table holds it, its object, what it was granted.
struct SectionHandleEntry {
  var process: Int
  var object: Int
  var access: SectionAccessMask
}

/// The guest's section objects and their handles (`SectionHandles.first`,
/// multiples of four). An object lives while a handle names it; its control
/// area counts it as one section reference.
enum SectionObjects {
  static var objects: [SectionObject?] = []
  static var handles: [SectionHandleEntry?] = []

  /// The handle slot of `handle` if process `process` holds it.
  static func slot(_ handle: UInt64, process: Int) -> Int? {
    let offset = handle &- SectionHandles.first
    guard handle >= SectionHandles.first, offset & 3 == 0, offset >> 2 < UInt64(handles.count),
      let entry = handles[Int(offset >> 2)], entry.process == process
    else { return nil }
    return Int(offset >> 2)
  }

  /// The process holding section handle `handle`, if one does (a kernel-mode
  /// caller, the script's "System", references the object in its holder's context).
  static func holder(_ handle: UInt64) -> Int? {
    let offset = handle &- SectionHandles.first
    guard handle >= SectionHandles.first, offset & 3 == 0, offset >> 2 < UInt64(handles.count) else { return nil }
    return handles[Int(offset >> 2)]?.process
  }

  /// Whether `handle` is in the section handles' range (NtClose's dispatch).
  static func isSectionHandle(_ handle: UInt64) -> Bool {
    handle >= SectionHandles.first && handle < SectionHandles.first + UInt64(SectionHandles.capacity) * 4
  }

  static var hasRoom: Bool {
    handles.count < SectionHandles.capacity || handles.contains { $0 == nil }
  }

  /// The named object called `name`, if one exists.
  static func named(_ name: [UInt8]) -> Int? {
    objects.firstIndex { $0 != nil && $0!.name == name }
  }

  /// A new object and a handle on it for `process`; the handle value.
  static func insert(_ object: SectionObject, process: Int, access: SectionAccessMask) -> UInt64 {
    let index = place(object, into: &objects)
    return open(index, process: process, access: access)
  }

  /// Another handle on object `index`.
  static func open(_ index: Int, process: Int, access: SectionAccessMask) -> UInt64 {
    objects[index]!.handles += 1
    let slot = place(SectionHandleEntry(process: process, object: index, access: access), into: &handles)
    return SectionHandles.first + UInt64(slot) * 4
  }

  private static func place<T>(_ value: T, into list: inout [T?]) -> Int {
    if let free = list.firstIndex(where: { $0 == nil }) {
      list[free] = value
      return free
    }
    list.append(value)
    return list.count - 1
  }

  /// Closes the handle in `slot`; the object's last handle takes the object
  /// away and its section reference from the control area.
  static func close(slot: Int) {
    guard let entry = handles[slot] else { kernelPanic("SectionObjects.close", "no such handle") }
    handles[slot] = nil
    objects[entry.object]!.handles -= 1
    guard objects[entry.object]!.handles == 0, let object = objects[entry.object] else { return }
    objects[entry.object] = nil
    ControlAreas.removeSection(object.controlArea)
  }
}
