// Regression tests for raylet bugs found in review and by the swarm: a pull that waited on a
// restore is told when the object is freed; copies of a dead owner are not stored; a worker
// this raylet killed leaves nothing behind with the messages it had in flight.

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
    // The owner's own puts, placed here from its node (confirmed primaries): the second spills the first.
    _ = raylet.handle(.messageReceived(from: .worker(owner), .storeRemoteObjects(requestID: 1, objects: [first],
        values: [ObjectData(sizeBytes: 900, digest: 1)], owner: owner, job: JobID(1))), now: 1)
    _ = raylet.handle(.messageReceived(from: .worker(owner), .storeRemoteObjects(requestID: 2, objects: [second],
        values: [ObjectData(sizeBytes: 900, digest: 2)], owner: owner, job: JobID(1))), now: 2)
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

/// Swarm seed 23158: a forced cancel had the raylet kill a task's worker while that worker's
/// fetch of an argument was in flight; the fetch arrived after the kill had cleaned up, and
/// stayed open for good. What a worker the raylet has seen end still sends is ignored.
@Test func messagesInFlightFromAWorkerThisRayletKilledHoldNothing() {
    var raylet = startedRaylet(capacity: 1 << 20)
    let driver = WorkerID(node: NodeID(1), index: 0)
    _ = raylet.handle(.driverConnected(driver, job: JobID(1)), now: 1)
    let workers = Build.startWorkers(&raylet, job: JobID(1), now: 2)
    #expect(workers.count == 2)
    let object = ObjectID.returnValue(of: TaskID(value: 5), index: 1)
    _ = raylet.handle(.messageReceived(from: .worker(driver), .storeObjects(requestID: 1, objects: [object],
        values: [ObjectData(sizeBytes: 200_000, digest: 5)], owner: driver)), now: 4)
    let lease = LeaseID(owner: driver, index: 1)
    guard let victim = Build.grantedWorker(&raylet, 1, owner: driver, now: 5) else { return }
    // The owner has the worker killed (a forced cancel); its fetch was already on the way.
    let killed = raylet.handle(.messageReceived(from: .worker(driver), .returnWorker(lease, killWorker: true)), now: 6)
    #expect(killed.contains(.killWorker(victim)))
    let late = raylet.handle(.messageReceived(from: .worker(victim), .fetchObjects(requestID: 9, objects: [object],
        owner: driver)), now: 7)
    #expect(late.isEmpty && raylet.fetches.isEmpty)
    _ = raylet.handle(.workerExited(victim), now: 8)
    #expect(raylet.fetches.isEmpty)
    // A live worker's fetch is served as before.
    let other = workers.first { $0 != victim }!
    let served = raylet.handle(.messageReceived(from: .worker(other), .fetchObjects(requestID: 1, objects: [object],
        owner: driver)), now: 9)
    #expect(served.contains { if case .send(.worker(other), .objectsReady(1, _)) = $0 { true } else { false } })
    #expect(raylet.fetches.count == 1)
}
