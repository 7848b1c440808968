/// The transient domain mmlab defines for a run (Images/README.md explains it):
/// the guest ELF as the kernel (QEMU boots it through its PVH note), RAM in a
/// shared file the host maps, COM1 on a console libvirt streams to the host,
/// and isa-debug-exit through `<qemu:commandline>`. Everything that could stop
/// the domain destroys it.
struct DomainTemplate {
  var name: String
  var kernel: String
  var commandLine: String
  var memoryMiB: Int
  var accelerator: LibvirtMachine.Accelerator

  /// libvirt's memory_backing_dir as Scripts/start-libvirt.sh sets it.
  static let memoryBackingDirectory = "/var/lib/libvirt/qemu/ram"

  var xml: String {
    // On kvm-pvm QEMU's `-cpu host` aborts on MSR 0x10a (arch-capabilities):
    // host-passthrough without that feature boots. TCG gets QEMU's `max`
    // model: every paging feature it emulates (SMEP, SMAP, PKU, 1 GiB pages...).
    let cpu =
      accelerator == .kvm
      ? "<cpu mode='host-passthrough' check='none'><feature policy='disable' name='arch-capabilities'/></cpu>"
      : "<cpu mode='maximum' check='none'/>"
    return """
      <domain type='\(accelerator == .kvm ? "kvm" : "qemu")' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
        <name>\(Self.escape(name))</name>
        <memory unit='MiB'>\(memoryMiB)</memory>
        <vcpu>1</vcpu>
        <os>
          <type arch='x86_64' machine='pc'>hvm</type>
          <kernel>\(Self.escape(kernel))</kernel>
          <cmdline>\(Self.escape(commandLine))</cmdline>
        </os>
        \(cpu)
        <memoryBacking><source type='file'/><access mode='shared'/></memoryBacking>
        <on_poweroff>destroy</on_poweroff>
        <on_reboot>destroy</on_reboot>
        <on_crash>destroy</on_crash>
        <devices>
          <serial type='pty'/>
          <console type='pty'/>
          <memballoon model='none'/>
        </devices>
        <qemu:commandline>
          <qemu:arg value='-device'/>
          <qemu:arg value='isa-debug-exit,iobase=0xf4,iosize=1'/>
        </qemu:commandline>
      </domain>
      """
  }

  /// XML text and attribute escaping.
  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&apos;")
      .replacingOccurrences(of: "\"", with: "&quot;")
  }
}
