import GuestABI
import Inspect
import Machine

/// Why a conformance guest could not run cases, in words for the user.
public enum ConformanceError: Error, CustomStringConvertible, Equatable {
  case session(SessionError)
  /// The guest broke the runner's protocol (a missing buffer, a wrong stop).
  case protocolViolation(String)
  case invalidArgument(String)

  public var description: String {
    switch self {
    case .session(let error): return error.description
    case .protocolViolation(let why): return "conformance runner: \(why)"
    case .invalidArgument(let why): return why
    }
  }
}

/// What the guest's CPU offers, as the runner reported it at boot.
public struct GuestCapabilities: Sendable, Hashable {
  public var features: ConformanceFeatures
  public var maxPhysicalAddressBits: Int
  /// The page every case's leaf maps.
  public var targetPhysical: UInt64

  public init(features: ConformanceFeatures, maxPhysicalAddressBits: Int, targetPhysical: UInt64) {
    self.features = features
    self.maxPhysicalAddressBits = maxPhysicalAddressBits
    self.targetPhysical = targetPhysical
  }
}

extension GuestCapabilities {
  /// "NX SMEP SMAP PGE, no PKU LA57 1GiB-pages PCID INVPCID; MAXPHYADDR 48".
  public var summary: String {
    let names: [(ConformanceFeatures, String)] = [
      (.noExecute, "NX"), (.smep, "SMEP"), (.smap, "SMAP"), (.protectionKeys, "PKU"), (.fiveLevelPaging, "LA57"),
      (.pages1GiB, "1GiB-pages"), (.pcid, "PCID"), (.invpcid, "INVPCID"), (.globalPages, "PGE"),
    ]
    let present = names.filter { features.contains($0.0) }.map(\.1)
    let absent = names.filter { !features.contains($0.0) }.map(\.1)
    return present.joined(separator: " ") + (absent.isEmpty ? "" : ", no " + absent.joined(separator: " "))
      + "; MAXPHYADDR \(maxPhysicalAddressBits)"
  }
}

/// TSC ticks the guest measured for the last request.
public struct RunnerTicks: Sendable, Hashable {
  /// Blocks' access phases: CR3 load, controls, accesses, faults.
  public var access: UInt64
  /// Building the blocks at CPL 3: entry writes and read-back.
  public var build: UInt64
  public var blocks: UInt64
}

/// A guest booted with the conformance runner, stopped at
/// `conformanceReady`: `run` sends cases in requests of up to
/// `ConformanceABI.capacity` and hands back what the guest observed.
/// Unchecked Sendable: a guest is handed to one job and used by it alone.
public final class ConformanceGuest: @unchecked Sendable {
  public let session: Session
  public let capabilities: GuestCapabilities
  public private(set) var lastTicks = RunnerTicks(access: 0, build: 0, blocks: 0)
  /// The sum over every request so far.
  public private(set) var totalTicks = RunnerTicks(access: 0, build: 0, blocks: 0)
  private let request: UnsafeMutableRawBufferPointer
  private let results: UnsafeRawBufferPointer
  private let requestAddress: UInt64

  /// Boots the guest with the runner and waits for its first request.
  public init(options: BootOptions, console: @escaping (String) -> Void = { _ in }) throws(ConformanceError) {
    var options = options
    options.commandLine.append(String(describing: GuestCommandLine.conformance))
    do {
      session = try Session(options: options, console: console)
      try session.run(toCheckpoint: CheckpointCode.conformanceReady.name.description)
    } catch {
      throw .session(error)
    }
    if let libvirt = session.machine as? LibvirtMachine, libvirt.memoryAccess == .peek {
      throw .invalidArgument(
        "the conformance runner writes its requests into guest RAM, which peek mode cannot: use the shared file "
          + "(a local daemon) or the RAM volume (a remote one)")
    }
    let memory = session.machine.memory
    guard let requestRegion = session.machine.regions[GuestRegionKind.conformanceRequest.rawValue],
      let resultsRegion = session.machine.regions[GuestRegionKind.conformanceResults.rawValue],
      requestRegion.size >= UInt64(ConformanceABI.requestBufferSize),
      resultsRegion.size >= UInt64(ConformanceABI.resultsBufferSize),
      let request = memory.mutableBytes(at: requestRegion.physicalAddress, count: ConformanceABI.requestBufferSize),
      let results = memory.bytes(at: resultsRegion.physicalAddress, count: ConformanceABI.resultsBufferSize)
    else { throw .protocolViolation("the guest did not announce its request and results buffers") }
    self.request = request
    self.results = results
    requestAddress = requestRegion.physicalAddress
    capabilities = GuestCapabilities(
      features: ConformanceFeatures(
        rawValue: request.load(fromByteOffset: ConformanceABI.requestFeatures, as: UInt64.self)),
      maxPhysicalAddressBits: Int(request.load(fromByteOffset: ConformanceABI.requestMaxPhysicalBits, as: UInt64.self)),
      targetPhysical: request.load(fromByteOffset: ConformanceABI.requestTarget, as: UInt64.self))
  }

  /// Runs `cases` (any number; sent in requests of `ConformanceABI.capacity`)
  /// and calls `body` with each case's index in `cases` and its observation.
  public func run(_ cases: [PagingCase], _ body: (Int, Observation) throws -> Void) throws {
    var start = 0
    while start < cases.count {
      let end = min(start + ConformanceABI.capacity, cases.count)
      try runRequest(cases[start..<end])
      for index in start..<end {
        let record = results.baseAddress! + (index - start) * ConformanceABI.resultSize
        try body(index, Observation(record: record, attempts: cases[index].twice ? 2 : 1))
      }
      start = end
    }
  }

  /// One request: writes the cases, resumes the guest to its next `conformanceReady`.
  private func runRequest(_ cases: ArraySlice<PagingCase>) throws(ConformanceError) {
    let base = request.baseAddress!
    for (n, item) in cases.enumerated() {
      item.encode(into: base + ConformanceABI.requestHeaderSize + n * ConformanceABI.caseSize)
    }
    base.storeBytes(of: UInt64(cases.count), toByteOffset: ConformanceABI.requestCaseCount, as: UInt64.self)
    do {
      try session.machine.commit(
        requestAddress, count: ConformanceABI.requestHeaderSize + cases.count * ConformanceABI.caseSize)
    } catch {
      throw .session(.machine(error))
    }
    let reached: Checkpoint
    do { reached = try session.run(toCheckpoint: nil) } catch { throw .session(error) }
    guard reached.code == CheckpointCode.conformanceReady.rawValue else {
      throw .protocolViolation("the guest stopped at \"\(reached.name)\" instead of conformance-ready")
    }
    lastTicks = RunnerTicks(
      access: base.load(fromByteOffset: ConformanceABI.requestAccessTicks, as: UInt64.self),
      build: base.load(fromByteOffset: ConformanceABI.requestBuildTicks, as: UInt64.self),
      blocks: base.load(fromByteOffset: ConformanceABI.requestBlocks, as: UInt64.self))
    totalTicks.access &+= lastTicks.access
    totalTicks.build &+= lastTicks.build
    totalTicks.blocks &+= lastTicks.blocks
  }

  /// Sends the empty request and runs the guest to its exit, which must be 0.
  public func finish() throws(ConformanceError) {
    request.baseAddress!.storeBytes(of: 0, toByteOffset: ConformanceABI.requestCaseCount, as: UInt64.self)
    do { try session.machine.commit(requestAddress, count: 8) } catch { throw .session(.machine(error)) }
    let status: UInt8
    do { status = try session.runToExit().status } catch { throw .session(error) }
    guard status == 0 else { throw .protocolViolation("the guest exited with status \(status) after the last request") }
  }
}
