// The per-owner object quota in a real process (the rule is RayCore's OwnedObjectsRule): a
// put is refused at the hard limit before an ID is taken, so a flood of tiny objects cannot
// grow the owner's table (and the node's memory) without bound. Counted on both sides without
// a lock of its own: the loop publishes, after each step, its table's entries minus the puts
// it handled; a program's put (under the driver's ID lock, which orders puts) adds the puts
// made so far. The sum is the table as it will be once the loop has caught up.

import Dispatch
import Foundation
import Glibc
import RayCore
import Synchronization

final class OwnedObjectsCount: Sendable {
    /// The owner's entries minus the puts it handled (loop thread: `publish`).
    private let base = Atomic<Int>(0)
    /// Puts the program made (under the driver's ID lock).
    private let putsMade = Atomic<Int>(0)
    /// Puts made past the soft limit, and puts refused at the hard one.
    let pastSoftLimit = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    /// Until when the last put past the soft limit held its program (µs of the monotonic clock;
    /// updated under the driver's ID lock).
    private let pace = Atomic<Int64>(0)

    /// The loop thread, after each step.
    @inline(__always)
    func publish(entries: Int, putsHandled: Int) {
        base.store(entries - putsHandled, ordering: .relaxed)
    }

    /// A program's put, under the driver's ID lock, before anything is made: throws QuotaExceeded
    /// at the hard limit; past the soft one, counts (and warns once of) the put and returns when
    /// its program may go on (`OwnedObjectsRule.pace`, microseconds of the monotonic clock), for
    /// `holdProgram` once the lock is released; 0 below it. `putMade` follows once the put's ID
    /// is taken.
    func admitPut(config: RayConfig) throws(RuntimeError) -> Int64 {
        let entries = base.load(ordering: .relaxed) + putsMade.load(ordering: .relaxed)
        if let refusal = OwnedObjectsRule.refusal(entries: entries, config: config) {
            refused.wrappingAdd(1, ordering: .relaxed)
            throw RuntimeError(kind: .quotaExceeded, refusal.message)
        }
        guard OwnedObjectsRule.pastSoftLimit(entries: entries, config: config) else { return 0 }
        if pastSoftLimit.wrappingAdd(1, ordering: .relaxed).oldValue == 0 {
            FileHandle.standardError.write(Data(("swiftray: warning: this program's owner holds \(entries) objects, "
                + "past its soft quota of \(config.ownedObjectsSoft) (SWIFTRAY_OWNED_OBJECTS_SOFT): each put past it "
                + "is slowed down (at most one every \(OwnedObjectsRule.slowdownMicros) µs); at "
                + "\(config.ownedObjectsHard) puts are refused (SWIFTRAY_OWNED_OBJECTS_HARD)\n").utf8))
        }
        // The pace is kept in microseconds, as the rule is written; the lock orders its updates.
        let now = Int64(DispatchTime.now().uptimeNanoseconds / 1000)
        let until = OwnedObjectsRule.pace(after: pace.load(ordering: .relaxed), now: now)
        pace.store(until, ordering: .relaxed)
        return until
    }

    /// Holds the calling program (outside the driver's lock) until `until`, the time `admitPut`
    /// gave (microseconds of the monotonic clock); returns at once for 0.
    @inline(__always)
    func holdProgram(until: Int64) {
        if until > 0 { hold(until: until) }
    }

    private func hold(until: Int64) {
        while true {
            let now = Int64(DispatchTime.now().uptimeNanoseconds / 1000)
            guard now < until else { return }
            usleep(UInt32(until - now))
        }
    }

    /// The put admitted last took its ID (it will reach the loop).
    @inline(__always)
    func putMade() {
        putsMade.wrappingAdd(1, ordering: .relaxed)
    }
}
