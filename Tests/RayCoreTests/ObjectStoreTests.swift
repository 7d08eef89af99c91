// Unit tests of ObjectStore's bookkeeping: eviction before spilling, pins,
// the fallback allocation of objects larger than memory, restores, and pin
// generations.

import Testing
@testable import RayCore

private let storeOwner = Build.worker(1, 100)

private func insert(_ store: inout ObjectStore, _ task: UInt64, size: Int64, primary: Bool,
                    pins: Int = 0) -> (actions: [StoreAction], inMemory: Bool) {
    store.insert(Build.object(task), data: Build.data(size), owner: storeOwner, primary: primary, pins: pins)
}

@Test func insertThatFitsUsesMemoryAndTakesNoAction() {
    var store = ObjectStore(capacityBytes: 1_000)
    let result = insert(&store, 1, size: 400, primary: true)
    #expect(result.actions == [])
    #expect(result.inMemory)
    #expect(store.usedBytes == 400)
    #expect(store.objectCount == 1)
}

@Test func unpinnedSecondaryCopiesAreEvictedBeforeAnyPrimaryIsSpilled() {
    var store = ObjectStore(capacityBytes: 1_000)
    _ = insert(&store, 1, size: 400, primary: true)
    _ = insert(&store, 2, size: 300, primary: false)
    _ = insert(&store, 3, size: 200, primary: false)
    let result = insert(&store, 4, size: 400, primary: true)
    // 900 + 400 needs 300 bytes: the oldest secondary is enough.
    #expect(result.actions == [.evicted(Build.object(2), owner: storeOwner)])
    #expect(result.inMemory)
    #expect(store[Build.object(1)]?.inMemory == true)
    #expect(store[Build.object(2)] == nil)
    #expect(store[Build.object(3)]?.inMemory == true)
    #expect(store.usedBytes == 1_000)
}

@Test func primariesAreSpilledOnlyOnceNoSecondaryIsLeft() {
    var store = ObjectStore(capacityBytes: 1_000)
    _ = insert(&store, 1, size: 400, primary: true)
    _ = insert(&store, 2, size: 300, primary: false)
    let result = insert(&store, 3, size: 800, primary: true)
    #expect(result.actions == [.evicted(Build.object(2), owner: storeOwner), .spilled(Build.object(1), sizeBytes: 400)])
    #expect(result.inMemory)
    #expect(store[Build.object(1)]?.inMemory == false)
    #expect(store[Build.object(1)]?.spillFile == true)
    #expect(store.usedBytes == 800)
    #expect(store.spilledBytes == 400)
}

@Test func pinnedCopiesAreNeverEvictedOrSpilled() {
    var store = ObjectStore(capacityBytes: 1_000)
    _ = insert(&store, 1, size: 500, primary: true, pins: 1)
    _ = insert(&store, 2, size: 400, primary: false)
    #expect(store.pin(Build.object(2)) != nil)
    // No room can be made: the new copy goes to disk, the pinned ones stay.
    let result = insert(&store, 3, size: 300, primary: true)
    #expect(result.actions == [.spilled(Build.object(3), sizeBytes: 300)])
    #expect(!result.inMemory)
    #expect(store[Build.object(1)]?.inMemory == true)
    #expect(store[Build.object(2)]?.inMemory == true)
    #expect(store.usedBytes == 900)
    // Above the threshold, but everything resident is pinned.
    #expect(store.spillAboveThreshold(permille: 800) == [])
    #expect(store[Build.object(1)]?.inMemory == true)
}

@Test func spillAboveThresholdSpillsUnpinnedPrimariesOldestFirst() {
    var store = ObjectStore(capacityBytes: 1_000)
    _ = insert(&store, 1, size: 300, primary: true)
    _ = insert(&store, 2, size: 300, primary: true, pins: 1)
    _ = insert(&store, 3, size: 200, primary: false)
    _ = insert(&store, 4, size: 150, primary: true)
    #expect(store.usedBytes == 950)
    // Object 1 is the oldest unpinned primary; 2 is pinned and 3 is a secondary.
    #expect(store.spillAboveThreshold(permille: 800) == [.spilled(Build.object(1), sizeBytes: 300)])
    #expect(store.usedBytes == 650)
    #expect(store.spillAboveThreshold(permille: 800) == [])
}

@Test func objectBiggerThanCapacityGoesStraightToDisk() {
    var store = ObjectStore(capacityBytes: 1_000)
    _ = insert(&store, 1, size: 300, primary: false)
    _ = insert(&store, 2, size: 300, primary: true)
    let result = insert(&store, 3, size: 5_000, primary: true)
    #expect(result.actions == [.spilled(Build.object(3), sizeBytes: 5_000)])
    #expect(!result.inMemory)
    // Nothing else was evicted or spilled for it.
    #expect(store[Build.object(1)]?.inMemory == true)
    #expect(store[Build.object(2)]?.inMemory == true)
    #expect(store.usedBytes == 600)
    #expect(store.spilledBytes == 5_000)
    // It cannot be restored into memory either.
    let restore = store.beginRestore(Build.object(3))
    #expect(!restore.started)
    #expect(restore.actions.isEmpty)
}

@Test func unpinWithStaleGenerationIsANoOp() {
    var store = ObjectStore(capacityBytes: 1_000)
    let object = Build.object(1)
    _ = insert(&store, 1, size: 100, primary: true)
    guard let old = store.pin(object) else { Issue.record("pin failed"); return }
    store.remove(object)
    _ = insert(&store, 1, size: 100, primary: true)
    guard let new = store.pin(object) else { Issue.record("pin failed"); return }
    #expect(old != new)
    store.unpin(object, generation: old)
    #expect(store[object]?.pins == 1)
    store.unpin(object, generation: new)
    #expect(store[object]?.pins == 0)
    // Unpinning a missing object is a no-op too.
    store.unpin(Build.object(99), generation: new)
    #expect(store.pin(Build.object(99)) == nil)
}

@Test func secondInsertOfSameObjectKeepsOneEntryAndPrimaryWins() {
    var store = ObjectStore(capacityBytes: 1_000)
    _ = insert(&store, 1, size: 400, primary: false)
    let result = insert(&store, 1, size: 400, primary: true, pins: 2)
    #expect(result.actions == [])
    #expect(store.objectCount == 1)
    #expect(store.usedBytes == 400)
    #expect(store[Build.object(1)]?.primary == true)
    #expect(store[Build.object(1)]?.pins == 2)
}

@Test func restoreReservesMemoryAndRespillingKeepsTheSpillFile() {
    var store = ObjectStore(capacityBytes: 1_000)
    _ = insert(&store, 1, size: 600, primary: true)
    _ = insert(&store, 2, size: 600, primary: true)  // spills 1
    let object = Build.object(1)
    #expect(store[object]?.inMemory == false)
    // Restoring 1 needs 2's memory: 2 is spilled to make room.
    let restore = store.beginRestore(object)
    #expect(restore.started)
    #expect(restore.actions == [.spilled(Build.object(2), sizeBytes: 600)])
    #expect(store[object]?.restoring == true)
    #expect(store.usedBytes == 600)
    store.finishRestore(object)
    #expect(store[object]?.inMemory == true)
    #expect(store[object]?.restoring == false)
    #expect(store[object]?.spillFile == true)
    #expect(store.spilledBytes == 600)
    // Spilling the restored copy again writes no new file (no action), but frees its memory.
    #expect(store.spillAboveThreshold(permille: 500) == [])
    #expect(store[object]?.inMemory == false)
    #expect(store.usedBytes == 0)
    #expect(store.spilledBytes == 1_200)
}

@Test func removeReleasesMemoryOrDiskBytes() {
    var store = ObjectStore(capacityBytes: 1_000)
    _ = insert(&store, 1, size: 600, primary: true)
    _ = insert(&store, 2, size: 600, primary: true)
    #expect(store.remove(Build.object(1))?.spillFile == true)
    #expect(store.spilledBytes == 0)
    #expect(store.remove(Build.object(2))?.inMemory == true)
    #expect(store.usedBytes == 0)
    #expect(store.remove(Build.object(2)) == nil)
    #expect(store.objectCount == 0)
}

@Test func memoryNeverExceedsCapacityUnderRandomTraffic() {
    var store = ObjectStore(capacityBytes: 10_000)
    var generator = SeededGenerator(seed: 7)
    var pins: [(ObjectID, UInt64)] = []
    for step in 0..<3_000 {
        let task = generator.below(60) + 1
        let object = Build.object(task)
        switch generator.below(6) {
        case 0, 1:
            _ = insert(&store, task, size: Int64(generator.below(4_000)) + 1, primary: generator.below(2) == 0)
        case 2:
            store.remove(object)
        case 3:
            if let generation = store.pin(object) { pins.append((object, generation)) }
        case 4:
            if !pins.isEmpty {
                let (pinned, generation) = pins.remove(at: Int(generator.below(UInt64(pins.count))))
                store.unpin(pinned, generation: generation)
            }
        default:
            _ = store.spillAboveThreshold(permille: 800)
        }
        #expect(store.usedBytes >= 0 && store.usedBytes <= store.capacityBytes, "step \(step)")
        let resident = store.entries.values.filter { $0.inMemory || $0.restoring }.reduce(Int64(0)) { $0 + $1.data.sizeBytes }
        #expect(resident == store.usedBytes, "step \(step)")
        let onDisk = store.entries.values.filter { !$0.inMemory }.reduce(Int64(0)) { $0 + $1.data.sizeBytes }
        #expect(onDisk == store.spilledBytes, "step \(step)")
        #expect(store.entries.values.allSatisfy { $0.pins >= 0 })
    }
}

/// Regression (swarm seed 7736): a restore that cannot make enough room must not
/// evict anything on the way (and whatever it does evict is reported), or the
/// owner keeps pointing raylets at a copy that is gone.
@Test func failedRestoreEvictsNothing() {
    var store = ObjectStore(capacityBytes: 1_000)
    let owner = WorkerID(node: NodeID(9), index: 0)
    _ = store.insert(Build.object(1), data: Build.data(600), owner: owner, primary: true, pins: 0)
    _ = store.insert(Build.object(2), data: Build.data(600), owner: owner, primary: true, pins: 0)  // spills 1
    _ = store.pin(Build.object(2))
    _ = store.insert(Build.object(3), data: Build.data(300), owner: owner, primary: false, pins: 0)  // secondary, fits
    #expect(store[Build.object(3)]?.inMemory == true)
    // Restoring 1 (600 B) would need 2's memory too, which is pinned: the restore cannot start...
    let restore = store.beginRestore(Build.object(1))
    #expect(!restore.started)
    // ...and the secondary copy stays: evicting it could not have made room.
    #expect(restore.actions.isEmpty)
    #expect(store[Build.object(3)]?.inMemory == true)
}
