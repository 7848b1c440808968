import Foundation
import PackagePlugin

/// Builds the guest kernel (Guest/ plus Sources/GuestABI, GuestMm and GuestFs) into `mmlab-guest.elf`
/// with the toolchain's swiftc (Embedded Swift), clang and ld.lld, as a
/// resource of the target it is applied to. Guest/build-guest.sh does the work,
/// so the same build runs by hand; only the ELF is a declared output, which
/// keeps the intermediate objects out of the resource bundle.
@main
struct GuestImageBuilder: BuildToolPlugin {
  func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
    let package = context.package.directoryURL
    let guest = package.appending(path: "Guest")
    let shared = ["Sources/GuestABI", "Sources/GuestMm", "Sources/GuestFs"].map { package.appending(path: $0) }
    let inputs = try sourceFiles(under: guest) + shared.flatMap { try sourceFiles(under: $0) }
    let output = context.pluginWorkDirectoryURL.appending(path: "mmlab-guest.elf")
    let work = context.pluginWorkDirectoryURL.appending(path: "objects")
    let template = package.appending(path: "Images/libvirt/domain.xml")
    let templateOutput = context.pluginWorkDirectoryURL.appending(path: "mmlab-domain.xml")
    return try [
      imageCommand(context: context, guest: guest, package: package, inputs: inputs, output: output, work: work),
      // The libvirt domain template travels with the image (LibvirtMachine).
      .buildCommand(
        displayName: "Copying the libvirt domain template",
        executable: URL(filePath: "/bin/cp"),
        arguments: [template.path(percentEncoded: false), templateOutput.path(percentEncoded: false)],
        inputFiles: [template],
        outputFiles: [templateOutput]
      ),
      try diskImageCommand(context: context, package: package),
    ] + shippedScripts(context: context, package: package)
  }

  /// The default FAT32 volume (Images/disk plus generated pattern files) as
  /// mmlab-disk.img, made by Images/build-disk-image.sh with mkfs.fat and mtools.
  private func diskImageCommand(context: PluginContext, package: URL) throws -> Command {
    let images = package.appending(path: "Images")
    let script = images.appending(path: "build-disk-image.sh")
    let output = context.pluginWorkDirectoryURL.appending(path: "mmlab-disk.img")
    let content = try allFiles(under: images.appending(path: "disk"))
    return .buildCommand(
      displayName: "Building the default FAT32 disk image (mkfs.fat, mtools)",
      executable: URL(filePath: "/bin/sh"),
      arguments: [script.path(percentEncoded: false), images.path(percentEncoded: false), output.path(percentEncoded: false)],
      inputFiles: [script] + content,
      outputFiles: [output]
    )
  }

  /// Every regular file under `directory`, whatever its kind.
  private func allFiles(under directory: URL) throws -> [URL] {
    guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
    else { return [] }
    return walker.compactMap { $0 as? URL }.filter {
      (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
    }
  }

  /// The guest build itself.
  private func imageCommand(
    context: PluginContext, guest: URL, package: URL, inputs: [URL], output: URL, work: URL
  ) throws -> Command {
    .buildCommand(
      displayName: "Building the mmlab guest kernel (Embedded Swift)",
      executable: URL(filePath: "/bin/sh"),
      arguments: [
        guest.appending(path: "build-guest.sh").path(percentEncoded: false),
        try context.tool(named: "swiftc").url.path(percentEncoded: false),
        try context.tool(named: "clang").url.path(percentEncoded: false),
        try context.tool(named: "ld.lld").url.path(percentEncoded: false),
        package.path(percentEncoded: false),
        output.path(percentEncoded: false),
        work.path(percentEncoded: false),
      ],
      inputFiles: inputs,
      outputFiles: [output]
    )
  }

  /// The shipped scripts (Images/scripts/NAME.json) travel with the image as
  /// mmlab-script-NAME.json: `mmlab validate --scenario NAME` runs them.
  private func shippedScripts(context: PluginContext, package: URL) throws -> [Command] {
    let folder = package.appending(path: "Images/scripts")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path(percentEncoded: false))) ?? []
    return names.filter { $0.hasSuffix(".json") }.sorted().map { name in
      let source = folder.appending(path: name)
      let copy = context.pluginWorkDirectoryURL.appending(path: "mmlab-script-" + name)
      return .buildCommand(
        displayName: "Copying the shipped script \(name)",
        executable: URL(filePath: "/bin/cp"),
        arguments: [source.path(percentEncoded: false), copy.path(percentEncoded: false)],
        inputFiles: [source],
        outputFiles: [copy]
      )
    }
  }

  /// Every file under `directory` that can change the image.
  private func sourceFiles(under directory: URL) throws -> [URL] {
    guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else {
      return []
    }
    let kinds: Set<String> = ["swift", "c", "h", "S", "ld", "sh", "modulemap"]
    return walker.compactMap { $0 as? URL }.filter { kinds.contains($0.pathExtension) }
  }
}
