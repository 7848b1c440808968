import Foundation
import Testing

@testable import Machine

@Suite("The libvirt domain template")
struct DomainTemplateTests {
  static let template = try? String(
    contentsOf: URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../Images/libvirt/domain.xml"),
    encoding: .utf8)

  func filled(_ template: String, accelerator: LibvirtMachine.Accelerator = .kvm) throws -> String {
    try DomainTemplate(
      template: template, name: "mmlab-1-1", kernel: "/images/a&b<guest>.elf", commandLine: "scenario=x 'y'",
      memoryMiB: 64, accelerator: accelerator
    ).xml()
  }

  @Test("Images/libvirt/domain.xml fills completely, with text escaped, for both accelerators")
  func fillsTheRepositoryTemplate() throws {
    let template = try #require(Self.template)
    let kvm = try filled(template)
    #expect(!kvm.contains("{{"))
    #expect(kvm.contains("<domain type='kvm'"))
    #expect(kvm.contains("<kernel>/images/a&amp;b&lt;guest&gt;.elf</kernel>"))
    #expect(kvm.contains("&apos;y&apos;"))
    #expect(kvm.contains("host-passthrough"))
    let tcg = try filled(template, accelerator: .tcg)
    #expect(tcg.contains("<domain type='qemu'"))
    #expect(tcg.contains("mode='maximum'"))
  }

  @Test("a field mmlab does not know is an error, not a domain with braces in it")
  func unknownFieldFails() {
    #expect(throws: MachineError.self) { try filled("<domain>{{DISK}}</domain>") }
  }
}
