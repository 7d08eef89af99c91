// The per-owner object quota in a real process (the rule is RayCore's OwnedObjectsRule): a
// put is refused at the hard limit before an ID is taken, so a flood of tiny objects cannot
// grow the owner's table (and the node's memory) without bound. Counted on both sides without
// a lock of its own: the loop publishes, after each step, its table's entries minus the puts
// it handled; a program's put (under the driver's ID lock, which orders puts) adds the puts
// made so far. The sum is the table as it will be once the loop has caught up.

import Foundation
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

    /// The loop thread, after each step.
    @inline(__always)
    func publish(entries: Int, putsHandled: Int) {
        base.store(entries - putsHandled, ordering: .relaxed)
    }

    /// A program's put, under the driver's ID lock, before anything is made: throws QuotaExceeded
    /// at the hard limit, counts (and warns once of) a put past the soft one. `putMade` follows
    /// once the put's ID is taken.
    func admitPut(config: RayConfig) throws(RuntimeError) {
        let entries = base.load(ordering: .relaxed) + putsMade.load(ordering: .relaxed)
        if let refusal = OwnedObjectsRule.refusal(entries: entries, config: config) {
            refused.wrappingAdd(1, ordering: .relaxed)
            throw RuntimeError(kind: .quotaExceeded, refusal.message)
        }
        if OwnedObjectsRule.pastSoftLimit(entries: entries, config: config),
           pastSoftLimit.wrappingAdd(1, ordering: .relaxed).oldValue == 0 {
            FileHandle.standardError.write(Data(("swiftray: warning: this program's owner holds \(entries) objects, "
                + "past its soft quota of \(config.ownedObjectsSoft) (SWIFTRAY_OWNED_OBJECTS_SOFT); at "
                + "\(config.ownedObjectsHard) puts are refused (SWIFTRAY_OWNED_OBJECTS_HARD)\n").utf8))
        }
    }

    /// The put admitted last took its ID (it will reach the loop).
    @inline(__always)
    func putMade() {
        putsMade.wrappingAdd(1, ordering: .relaxed)
    }
}
