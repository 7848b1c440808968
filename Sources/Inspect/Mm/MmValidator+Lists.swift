import GuestABI
import Machine
import X86Paging

// The list rules: totals, links and cycles, and no page on two lists.
extension ValidationRun {
  // MARK: Lists

  /// Walks the lists: first the fast way, which can only conclude that every list is
  /// sound; on any doubt, the careful way, which says what is wrong.
  mutating func checkLists() {
    if !walkSoundLists() {
      onList.update(repeating: 0, count: pfnCount)
      walkListsOneByOne()
    }
  }

  /// Walks all lists at once, each from both ends, so that the cache misses of up to
  /// twelve walks overlap instead of one walk waiting for each record in turn. Returns
  /// true, with every page marked, if every list is sound: links in range and symmetric,
  /// the walks from both ends meeting, no page reached twice or on another list, every
  /// page with its list's location, every total right. Returns false at the first doubt,
  /// having reported nothing.
  mutating func walkSoundLists() -> Bool {
    /// One list's two walks: forward from the head's first, backward from its last.
    struct Walk {
      var list: Int
      var marker: UInt8
      var forward: UInt32
      var backward: UInt32
      var count: UInt64
      var total: UInt64
      var done: Bool
    }
    var walks: [Walk] = []
    for head in state.listHeads {
      let list = Int(head.location.rawValue)
      if head.first == noPage {
        guard head.last == noPage, head.total == 0 else { return false }
        pagesWalked[list] = 0
        continue
      }
      let first = Int(head.first)
      let last = Int(head.last)
      guard first < pfnCount, last < pfnCount, onList[first] == 0, onList[last] == 0,
        u32(first, PageFrameRecord.previous) == noPage, u32(last, PageFrameRecord.next) == noPage,
        Int(u8(first, PageFrameRecord.location)) == list, Int(u8(last, PageFrameRecord.location)) == list
      else { return false }
      let marker = UInt8(list + 1)
      onList[first] = marker
      onList[last] = marker | backwardMark
      if first == last {
        guard head.total == 1 else { return false }
        pagesWalked[list] = 1
        continue
      }
      walks.append(
        Walk(
          list: list, marker: marker, forward: head.first, backward: head.last, count: 2, total: head.total,
          done: false))
    }
    var active = walks.count
    while active > 0 {
      for index in walks.indices where !walks[index].done {
        var walk = walks[index]
        // Forward one page.
        guard case .page(let nextPFN) = step(from: Int(walk.forward), forward: true) else { return false }
        let next = UInt32(nextPFN)
        let nextMark = onList[nextPFN]
        if nextMark == 0 {
          guard linksBack(nextPFN, to: walk.forward, forward: true),
            Int(u8(nextPFN, PageFrameRecord.location)) == walk.list
          else { return false }
          onList[Int(next)] = walk.marker
          walk.count &+= 1
          walk.forward = next
          // Backward one page.
          guard case .page(let previousPFN) = step(from: Int(walk.backward), forward: false) else { return false }
          let previous = UInt32(previousPFN)
          let previousMark = onList[previousPFN]
          if previousMark == 0 {
            guard linksBack(previousPFN, to: walk.backward, forward: false),
              Int(u8(previousPFN, PageFrameRecord.location)) == walk.list
            else { return false }
            onList[Int(previous)] = walk.marker | backwardMark
            walk.count &+= 1
            walk.backward = previous
          } else {
            // Met the forward walk at its newest page.
            guard previous == walk.forward, previousMark == walk.marker,
              linksBack(previousPFN, to: walk.backward, forward: false)
            else { return false }
            walk.done = true
          }
        } else {
          // Met the backward walk at its newest page.
          guard next == walk.backward, nextMark == walk.marker | backwardMark,
            linksBack(nextPFN, to: walk.forward, forward: true)
          else { return false }
          walk.done = true
        }
        if walk.done {
          guard walk.count == walk.total else { return false }
          pagesWalked[walk.list] = walk.count
          active -= 1
        }
        walks[index] = walk
      }
    }
    return true
  }

  /// Walks each list forward from its head, one after the other, saying what is wrong.
  mutating func walkListsOneByOne() {
    for head in state.listHeads {
      let list = Int(head.location.rawValue)
      let marker = UInt8(list + 1)
      let name = head.location.reportName
      if head.first == noPage {
        if head.last != noPage {
          report(
            .listLinks, pfn: UInt64(head.last),
            "the \(name) list's head has no first page but names \(pfnName(head.last)) as its last")
        }
        if head.total != 0 { report(.listTotal, "the \(name) list is empty but its total is \(head.total)") }
        continue
      }
      var walked: UInt64 = 0
      var previous = noPage
      var current = head.first
      var broken = false
      while current != noPage {
        // Only formatted when a violation is reported.
        var from: String { previous == noPage ? "its head" : pfnName(previous) }
        guard Int(current) < pfnCount else {
          report(
            .listLinks, pfn: UInt64(current),
            "\(from) on the \(name) list links to PFN \(hex(UInt64(current))), beyond the PFN database "
              + "(\(pfnCount) records)")
          broken = true
          break
        }
        let pfn = Int(current)
        let mark = onList[pfn]
        if mark == marker {
          report(
            .listCycle, pfn: UInt64(pfn),
            "the \(name) list comes back to PFN \(hex(UInt64(pfn))) from \(from) after \(walked) pages")
          broken = true
          break
        }
        if mark != 0 {
          report(
            .pageOnTwoLists, pfn: UInt64(pfn),
            "PFN \(hex(UInt64(pfn))), linked on the \(listName(Int(mark) - 1)) list, is linked on the \(name) "
              + "list too (from \(from))")
          broken = true
          break
        }
        onList[pfn] = marker
        walked &+= 1
        if !linksBack(pfn, to: previous, forward: true) {
          let back = u32(pfn, PageFrameRecord.previous)
          report(
            .listLinks, pfn: UInt64(pfn),
            "PFN \(hex(UInt64(pfn))) on the \(name) list has previous \(pfnName(back)), but the walk came from "
              + "\(from)")
        }
        checkLocation(pfn, list: list)
        previous = current
        switch step(from: pfn, forward: true) {
        case .end: current = noPage
        case .page(let next): current = UInt32(next)
        case .beyondDatabase(let link): current = link  // reported at the loop's top
        }
      }
      if broken {
        // The forward walk could not finish: mark the rest of the list from its tail, so
        // its pages are not also reported as lost.
        var tail = head.last
        while tail != noPage, Int(tail) < pfnCount, onList[Int(tail)] == 0 {
          onList[Int(tail)] = marker
          walked &+= 1
          checkLocation(Int(tail), list: list)
          guard case .page(let previous) = step(from: Int(tail), forward: false) else { break }
          tail = UInt32(previous)
        }
      } else {
        if previous != head.last {
          report(
            .listLinks, pfn: UInt64(head.last),
            "the \(name) list's walk ends at \(pfnName(previous)) but its head names \(pfnName(head.last)) as "
              + "its last")
        }
        if walked != head.total {
          report(.listTotal, "the \(name) list links \(walked) pages but its total is \(head.total)")
        }
      }
      pagesWalked[list] = walked
    }
  }

  // MARK: The list cursor

  /// One step along a list from `pfn`, forward (its next link) or backward
  /// (its previous link). Both walks step with it and check back links with
  /// `linksBack`, so the fast walk and the careful one read a list the same way.
  @inline(__always) func step(from pfn: Int, forward: Bool) -> ListStep {
    let link = u32(pfn, forward ? PageFrameRecord.next : PageFrameRecord.previous)
    if link == noPage { return .end }
    return Int(link) < pfnCount ? .page(Int(link)) : .beyondDatabase(link)
  }

  /// Whether `pfn`, reached from `from` by a step in that direction, links back to it.
  @inline(__always) func linksBack(_ pfn: Int, to from: UInt32, forward: Bool) -> Bool {
    u32(pfn, forward ? PageFrameRecord.previous : PageFrameRecord.next) == from
  }

  /// A page found on list `list` has that list's location.
  @inline(__always) mutating func checkLocation(_ pfn: Int, list: Int) {
    let location = u8(pfn, PageFrameRecord.location)
    guard Int(location) != list else { return }
    // A hole on a list is reported once, as such, by the frame pass (its location means
    // nothing); an unknown location once, as an invalid frame.
    if u8(pfn, PageFrameRecord.usage) == PageUsage.hole.rawValue || location > PageLocation.transition.rawValue {
      return
    }
    report(
      .listLocation, pfn: UInt64(pfn),
      "PFN \(hex(UInt64(pfn))) is linked on the \(listName(list)) list but its location is "
        + locationName(location))
  }

  /// Whether the zeroed-list page `pfn` is to be read back.
  @inline(__always) func wantsZeroCheck(_ pfn: Int) -> Bool {
    switch zeroCheck {
    case .everyPage: return true
    case .none: return false
    case .dirtyPages(let bitmap):
      let word = pfn >> 6
      return word >= bitmap.count || bitmap[word] & (1 << UInt64(pfn & 63)) != 0
    }
  }
}

/// Where a step along a page list leads.
enum ListStep: Equatable {
  case page(Int)
  /// The link is `PageFrameRecord.noPage`: the list ends here.
  case end
  case beyondDatabase(UInt32)
}
