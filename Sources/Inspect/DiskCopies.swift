import Foundation
import Machine
import Synchronization

/// Private copies of disk images for one run, so a run never changes the
/// images a user names unless asked (`--disk-persist`). Copies are sparse
/// (reflinked where the file system can) and live in one directory that is
/// removed when the process exits.
public enum DiskCopies {
  /// A copy of each image, in order.
  public static func scratchCopies(of paths: [String]) throws(SessionError) -> [String] {
    guard !paths.isEmpty else { return [] }
    let folder = try directory()
    return try paths.enumerated().map { (index, path) throws(SessionError) in
      let copy = folder + "/disk\(index)-" + URL(fileURLWithPath: path).lastPathComponent
      try copyFile(path, to: copy)
      return copy
    }
  }

  /// Copies `source` to `target` with cp(1): sparse, reflinked where possible.
  public static func copyFile(_ source: String, to target: String) throws(SessionError) {
    let arguments = ["--sparse=always", "--reflink=auto", "--", source, target]
    guard let outcome = ToolProcess.run("/bin/cp", arguments) else {
      throw .inspection("cannot run cp to copy the disk image \(source)")
    }
    guard outcome.status == 0 else { throw .inspection("cannot copy the disk image \(source): \(outcome.words)") }
  }

  /// The process's scratch folder, made on first use and removed at exit.
  private static func directory() throws(SessionError) -> String {
    if let made = state.withLock({ $0 }) { return made }
    let template = NSTemporaryDirectory() + "mmlab-disks-XXXXXX"
    var bytes = Array(template.utf8CString)
    guard let made = mkdtemp(&bytes) else { throw .inspection("cannot make a scratch folder for disk copies") }
    let path = String(cString: made)
    state.withLock { $0 = path }
    atexit { DiskCopies.removeAll() }
    return path
  }

  /// Removes the scratch folder (at exit; tests call it too).
  public static func removeAll() {
    guard
      let path = state.withLock({ folder -> String? in
        defer { folder = nil }
        return folder
      })
    else { return }
    try? FileManager.default.removeItem(atPath: path)
  }

  private static let state = Mutex<String?>(nil)
}
