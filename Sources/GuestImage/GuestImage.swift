import Foundation

/// The guest kernel built from Guest/ by the GuestImageBuilder plugin.
public enum GuestImage {
  /// Path of the bundled guest ELF, or nil if the build did not produce one.
  public static var defaultPath: String? {
    Bundle.module.url(forResource: "mmlab-guest", withExtension: "elf")?.path(percentEncoded: false)
  }

  /// The libvirt domain template (Images/libvirt/domain.xml), or nil if the build did not copy it.
  public static var domainTemplate: String? {
    guard let url = Bundle.module.url(forResource: "mmlab-domain", withExtension: "xml") else { return nil }
    return try? String(contentsOf: url, encoding: .utf8)
  }
}
