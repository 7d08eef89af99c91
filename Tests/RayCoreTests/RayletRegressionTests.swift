// Regression tests for raylet bugs found in review: a pull that waited on a
// restore is told when the object is freed; copies of a dead owner are not stored.

import Testing

@testable import RayCore

private let owner = WorkerID(node: NodeID(9), index: 0)

private func startedRaylet(capacity: Int64) -> Raylet {
    var raylet = Raylet()
    let info = NodeInfo(nodeID: NodeID(1), name: "n1", resources: .units(["CPU": 2]), objectStoreBytes: capacity)
    _ = raylet.handle(.started(RayConfig(), info), now: 0)
    return raylet
}

@Test func freeingAnObjectBeingRestoredForAPullTellsThePuller() {
    var raylet = startedRaylet(capacity: 1_000)
    let first = ObjectID.returnValue(of: TaskID(value: 1), index: 1)
    let second = ObjectID.returnValue(of: TaskID(value: 2), index: 1)
    // The owner's own puts (confirmed primaries): the second spills the first.
    _ = raylet.handle(.messageReceived(from: .worker(owner), .storeObjects(requestID: 1, objects: [first],
        values: [ObjectData(sizeBytes: 900, digest: 1)], owner: owner)), now: 1)
    _ = raylet.handle(.messageReceived(from: .worker(owner), .storeObjects(requestID: 2, objects: [second],
        values: [ObjectData(sizeBytes: 900, digest: 2)], owner: owner)), now: 2)
    #expect(raylet.store[first]?.inMemory == false)
    // Another node pulls the spilled one: a restore starts.
    let pull = raylet.handle(.messageReceived(from: .raylet(NodeID(2)), .pullObject(first)), now: 3)
    #expect(pull.contains { if case .restoreObject(first, _) = $0 { return true } else { return false } })
    // The owner frees it before the restore finishes: the puller hears it is missing.
    let freed = raylet.handle(.messageReceived(from: .worker(owner), .freeObject(first)), now: 4)
    #expect(freed.contains(.send(to: .raylet(NodeID(2)), .objectMissing(first))))
}

@Test func returnValuesOfADeadOwnerAreNotStored() {
    var raylet = startedRaylet(capacity: 1 << 20)
    _ = raylet.handle(.messageReceived(from: .gcs, .workerDied(owner)), now: 1)
    let object = ObjectID.returnValue(of: TaskID(value: 3), index: 1)
    let worker = WorkerID(node: NodeID(1), index: 4)
    let effects = raylet.handle(.messageReceived(from: .worker(worker), .storeObjects(requestID: 7, objects: [object],
        values: [ObjectData(sizeBytes: 200_000, digest: 3)], owner: owner)), now: 2)
    #expect(effects.contains(.send(to: .worker(worker), .objectsStored(requestID: 7))))
    #expect(raylet.store[object] == nil)
}
