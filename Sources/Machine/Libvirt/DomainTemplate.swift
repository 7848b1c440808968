/// The transient domain mmlab defines for a run, from the template in
/// Images/libvirt/domain.xml (Images/README.md explains it): the guest ELF as
/// the kernel (QEMU boots it through its PVH note), RAM in a shared file the
/// host maps, COM1 on a console libvirt streams to the host, and
/// isa-debug-exit through `<qemu:commandline>`. Everything that could stop
/// the domain destroys it.
struct DomainTemplate {
  var template: String
  var name: String
  var kernel: String
  var commandLine: String
  var memoryMiB: Int
  var accelerator: LibvirtMachine.Accelerator
  /// Absolute paths of raw disk images, each a virtio-blk disk (vda, vdb...).
  var disks: [String] = []

  /// libvirt's memory_backing_dir as Scripts/start-libvirt.sh sets it.
  static let memoryBackingDirectory = "/var/lib/libvirt/qemu/ram"

  /// The template with every field filled; fails on a field it does not know.
  func xml() throws(MachineError) -> String {
    // On kvm-pvm QEMU's `-cpu host` aborts on MSR 0x10a (arch-capabilities):
    // host-passthrough without that feature boots. TCG gets QEMU's `max`
    // model: every paging feature it emulates (SMEP, SMAP, PKU, 1 GiB pages...).
    let cpu =
      accelerator == .kvm
      ? "<cpu mode='host-passthrough' check='none'><feature policy='disable' name='arch-capabilities'/></cpu>"
      : "<cpu mode='maximum' check='none'/>"
    let fields = [
      "DOMAIN_TYPE": accelerator == .kvm ? "kvm" : "qemu", "NAME": Self.escape(name), "KERNEL": Self.escape(kernel),
      "CMDLINE": Self.escape(commandLine), "MEMORY_MIB": String(memoryMiB), "CPU": cpu, "DISKS": diskElements,
    ]
    var xml = template
    for (key, value) in fields { xml = xml.replacingOccurrences(of: "{{\(key)}}", with: value) }
    if let start = xml.range(of: "{{") {
      let field = xml[start.lowerBound...].prefix(40)
      throw .badImage("the libvirt domain template has a field mmlab does not fill: \(field)")
    }
    return xml
  }

  /// One `<disk>` per image: raw, QEMU's virtio-blk-pci, no host cache tricks beyond QEMU's default.
  var diskElements: String {
    disks.enumerated().map { index, path in
      let letter = String(UnicodeScalar(UInt8(ascii: "a") + UInt8(index)))
      return "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='\(Self.escape(path))'/>"
        + "<target dev='vd\(letter)' bus='virtio'/></disk>"
    }.joined(separator: "\n    ")
  }

  /// XML text and attribute escaping.
  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&apos;")
      .replacingOccurrences(of: "\"", with: "&quot;")
  }
}
