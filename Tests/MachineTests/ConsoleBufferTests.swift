import Machine
import Testing

@Suite("ConsoleBuffer")
struct ConsoleBufferTests {
  @Test("whole lines go out as they complete, the rest at a flush; the transcript keeps the latest bytes")
  func lines() {
    var buffer = ConsoleBuffer()
    #expect(buffer.append(Array("hel".utf8)) == nil)
    #expect(buffer.append(Array("lo\nwor".utf8)) == "hello\n")
    #expect(buffer.append(Array("ld\nand\nmo".utf8)) == "world\nand\n")
    #expect(buffer.flush() == "mo")
    #expect(buffer.flush() == nil)
    #expect(buffer.transcript == "hello\nworld\nand\nmo")
    let big = [UInt8](repeating: UInt8(ascii: "x"), count: ConsoleBuffer.transcriptLimit) + [0x0A]
    _ = buffer.append(big)
    #expect(buffer.transcript.utf8.count <= ConsoleBuffer.transcriptLimit)
    #expect(buffer.transcript.hasSuffix("x\n"))
  }
}

#if os(Linux)
  @testable import Machine
  import GuestABI

  @Suite("PortDevices")
  struct PortDevicesTests {
    @Test("COM1 feeds the console, debug-exit and the hypercall port reach the run loop, others are counted")
    func dispatch() throws {
      var devices = PortDevices()
      var delivered = ""
      for byte in "hi\n".utf8 {
        #expect(try devices.write(GuestPort.com1, size: 1, value: UInt32(byte)) { delivered += $0 } == .handled)
      }
      #expect(delivered == "hi\n")
      #expect(try devices.write(GuestPort.debugExit, size: 1, value: 0x17) { _ in } == .exit(0x17))
      #expect(try devices.write(GuestPort.hypercall, size: 4, value: 0x9000) { _ in } == .hypercall(0x9000))
      #expect(throws: MachineError.self) { try devices.write(GuestPort.hypercall, size: 2, value: 1) { _ in } }
      #expect(devices.read(GuestPort.com1LineStatus, size: 1) == 0x60)
      #expect(devices.read(0x80, size: 2) == 0xFFFF && devices.read(0x80, size: 4) == 0xFFFF_FFFF)
      #expect(try devices.write(0x80, size: 1, value: 0) { _ in } == .handled)
      #expect(devices.unhandled[0x80] == 3)
    }
  }
#endif
