import Foundation

/// The guest kernel built from Guest/ by the GuestImageBuilder plugin.
public enum GuestImage {
  /// Path of the bundled guest ELF, or nil if the build did not produce one.
  public static var defaultPath: String? {
    Bundle.module.url(forResource: "mmlab-guest", withExtension: "elf")?.path(percentEncoded: false)
  }
}
