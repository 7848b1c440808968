import Foundation

/// The guest kernel built from Guest/ by the GuestImageBuilder plugin.
public enum GuestImage {
  /// Path of the bundled guest ELF, or nil if the build did not produce one.
  public static var defaultPath: String? {
    Bundle.module.url(forResource: "mmlab-guest", withExtension: "elf")?.path(percentEncoded: false)
  }

  /// The default FAT32 volume the package builds (Images/disk plus generated
  /// pattern files, Images/build-disk-image.sh); runs use copies of it.
  public static var defaultDiskPath: String? {
    Bundle.module.url(forResource: "mmlab-disk", withExtension: "img")?.path(percentEncoded: false)
  }

  /// The libvirt domain template (Images/libvirt/domain.xml), or nil if the build did not copy it.
  public static var domainTemplate: String? {
    guard let url = Bundle.module.url(forResource: "mmlab-domain", withExtension: "xml") else { return nil }
    return try? String(contentsOf: url, encoding: .utf8)
  }

  /// The shipped scripts by name (Images/scripts/NAME.json): their text.
  public static var shippedScripts: [String: String] {
    guard let folder = Bundle.module.resourceURL,
      let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path(percentEncoded: false))
    else { return [:] }
    var scripts: [String: String] = [:]
    for name in names where name.hasPrefix("mmlab-script-") && name.hasSuffix(".json") {
      let key = String(name.dropFirst("mmlab-script-".count).dropLast(".json".count))
      scripts[key] = try? String(contentsOf: folder.appending(path: name), encoding: .utf8)
    }
    return scripts
  }
}
