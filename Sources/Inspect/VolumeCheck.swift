import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The FAT volumes among a run's disks, and whether the guest wrote them: after
/// a run that changed one, `fsck.fat -n` must find it clean, or the run fails
/// with fsck's own words. A disk that was not FAT32 before the run (a raw bench
/// disk) is not checked.
public struct VolumeCheck: Sendable {
  struct Watched: Sendable {
    var path: String
    var modified: timespec
  }
  private var watched: [Watched] = []

  public init(disks: [String]) {
    for path in disks where (try? FatImage(path: path)) != nil {
      watched.append(Watched(path: path, modified: Self.modificationTime(path)))
    }
  }

  /// The volumes whose file changed since `init`.
  public var written: [String] {
    watched.filter { Self.modificationTime($0.path) != $0.modified }.map(\.path)
  }

  /// Runs fsck.fat -n on every volume written; the first damaged one fails.
  public func check() throws(SessionError) {
    for path in written {
      let (status, words) = Self.fsck(path)
      guard status == 0 else {
        throw .volumeDamaged(path: path, fsck: words.trimmingCharacters(in: .whitespacesAndNewlines))
      }
    }
  }

  /// `fsck.fat -n` on `path`: its exit status and its words.
  public static func fsck(_ path: String) -> (Int32, String) {
    guard let outcome = ToolProcess.run("/usr/sbin/fsck.fat", ["-n", path]) else {
      return (127, "fsck.fat could not run (install dosfstools)")
    }
    return (outcome.status, String(decoding: outcome.output, as: UTF8.self))
  }

  static func modificationTime(_ path: String) -> timespec {
    var status = stat()
    guard stat(path, &status) == 0 else { return timespec() }
    return status.st_mtim
  }
}

extension timespec: @retroactive Equatable {
  public static func == (a: timespec, b: timespec) -> Bool { a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec }
}
