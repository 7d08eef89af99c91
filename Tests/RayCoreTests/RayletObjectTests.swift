// Unit tests of the raylet's object manager: sealing primary copies,
// spilling above the threshold, restoring, pulls located through the owner,
// retries after a lost source, frees, owner death (§2.4) and self-death.

import Testing
@testable import RayCore

private let objectOwner = Build.worker(1, 100)
private let taskWorker = Build.worker(1, 7)

private func store(_ raylet: inout Raylet, _ objects: [ObjectID], sizes: [Int64], requestID: UInt64 = 1,
                   from worker: WorkerID = taskWorker, now: Int64) -> [RayletEffect] {
    raylet.handle(.messageReceived(from: .worker(worker), .storeObjects(
        requestID: requestID, objects: objects, values: sizes.map { Build.data($0) }, owner: objectOwner)), now: now)
}

private func fetch(_ raylet: inout Raylet, _ objects: [ObjectID], requestID: UInt64, owner: WorkerID = objectOwner,
                   from worker: WorkerID = taskWorker, now: Int64) -> [RayletEffect] {
    raylet.handle(.messageReceived(from: .worker(worker), .fetchObjects(requestID: requestID, objects: objects, owner: owner)),
                  now: now)
}

@Test func storeObjectsSealsAPrimaryCopyAndAcknowledges() {
    var raylet = Build.raylet(Build.node(1))
    let object = Build.object(1)
    #expect(store(&raylet, [object], sizes: [500_000], requestID: 4, now: 10)
        == [.send(to: .worker(taskWorker), .objectsStored(requestID: 4))])
    let entry = raylet.store[object]
    #expect(entry?.primary == true)
    #expect(entry?.inMemory == true)
    #expect(entry?.owner == objectOwner)
    #expect(entry?.data == Build.data(500_000))
    #expect(raylet.store.usedBytes == 500_000)
}

@Test func storingBeyondSpillThresholdSpillsOldestAndMemoryNeverExceedsCapacity() {
    let capacity: Int64 = 1_000
    var raylet = Build.raylet(Build.node(1, storeBytes: capacity))
    let objects = (1...3).map { Build.object(UInt64($0)) }
    #expect(store(&raylet, [objects[0]], sizes: [300], now: 10).spilledObjects == [])
    #expect(store(&raylet, [objects[1]], sizes: [300], now: 20).spilledObjects == [])
    // 900 of 1000 bytes is above the 80% threshold: the oldest primary goes to disk.
    #expect(store(&raylet, [objects[2]], sizes: [300], requestID: 3, now: 30) == [
        .spillObject(objects[0], sizeBytes: 300),
        .send(to: .worker(taskWorker), .objectsStored(requestID: 3)),
    ])
    #expect(raylet.store[objects[0]]?.inMemory == false)
    #expect(raylet.store.usedBytes == 600)
    #expect(raylet.store.spilledBytes == 300)
    #expect(raylet.metrics.objectsSpilled == 1)

    // Many more objects, some large: memory use never exceeds the capacity.
    for index in 4...40 {
        let size: Int64 = index % 5 == 0 ? 700 : 150
        _ = store(&raylet, [Build.object(UInt64(index))], sizes: [size], now: Int64(index) * 10)
        #expect(raylet.store.usedBytes <= capacity)
        #expect(raylet.store.usedBytes <= capacity * 800 / 1000)
    }
    #expect(raylet.store.objectCount == 40)
}

@Test func fetchOfSpilledObjectRestoresItThenAnswers() {
    var raylet = Build.raylet(Build.node(1, storeBytes: 1_000))
    let objects = (1...3).map { Build.object(UInt64($0)) }
    for object in objects { _ = store(&raylet, [object], sizes: [300], now: 10) }
    #expect(raylet.store[objects[0]]?.inMemory == false)

    #expect(fetch(&raylet, [objects[0]], requestID: 9, now: 20) == [.restoreObject(objects[0], sizeBytes: 300)])
    #expect(raylet.store[objects[0]]?.restoring == true)
    #expect(raylet.handle(.objectRestored(objects[0]), now: 30)
        == [.send(to: .worker(taskWorker), .objectsReady(requestID: 9, values: [.data(Build.data(300))]))])
    #expect(raylet.store[objects[0]]?.inMemory == true)
    #expect(raylet.store[objects[0]]?.pins == 1)
    #expect(raylet.metrics.objectsRestored == 1)

    // Releasing the fetch unpins it; memory is above the threshold, so the oldest unpinned primary spills.
    let released = raylet.handle(.messageReceived(from: .worker(taskWorker), .releaseFetch(requestID: 9)), now: 40)
    #expect(released == [.spillObject(objects[1], sizeBytes: 300)])
    #expect(raylet.store[objects[0]]?.pins == 0)
}

@Test func aSpilledCopyThatCannotBeRestoredIsLostWithItsCause() {
    let local = Build.node(1), other = Build.node(2)
    var raylet = Build.raylet(Build.node(1, storeBytes: 1_000), view: [Build.view(local), Build.view(other)])
    let objects = (1...3).map { Build.object(UInt64($0)) }
    for object in objects { _ = store(&raylet, [object], sizes: [300], now: 10) }
    #expect(raylet.store[objects[0]]?.inMemory == false)
    #expect(fetch(&raylet, [objects[0]], requestID: 9, now: 20) == [.restoreObject(objects[0], sizeBytes: 300)])
    // Another raylet pulls it meanwhile.
    #expect(raylet.handle(.messageReceived(from: .raylet(other.nodeID), .pullObject(objects[0])), now: 21) == [])
    let effects = raylet.handle(.objectRestoreFailed(objects[0], reason: "the spill file is damaged"), now: 30)
    #expect(effects.contains(.releaseObject(objects[0])) && effects.contains(.deleteSpilledObject(objects[0])))
    #expect(effects.contains(.send(to: .worker(objectOwner), .locationRemoved(objects[0], node: local.nodeID))))
    #expect(effects.contains(.send(to: .raylet(other.nodeID), .objectMissing(objects[0]))))
    let answer = effects.compactMap { effect -> RayError? in
        guard case .send(.worker(taskWorker), .objectsReady(requestID: 9, let values)) = effect,
              case .error(let error)? = values.first else { return nil }
        return error
    }.first
    #expect(answer?.kind == .objectLost && answer?.message.contains("the spill file is damaged") == true, "\(effects)")
    #expect(raylet.store[objects[0]] == nil && raylet.store.usedBytes == 600 && raylet.store.spilledBytes == 0)
}

@Test func fetchOfLocalObjectAnswersAtOnceInRequestOrder() {
    var raylet = Build.raylet(Build.node(1))
    let a = Build.object(1), b = Build.object(2)
    _ = store(&raylet, [a, b], sizes: [200_000, 300_000], now: 10)
    #expect(fetch(&raylet, [b, a], requestID: 2, now: 20) == [.send(to: .worker(taskWorker), .objectsReady(
        requestID: 2, values: [.data(Build.data(300_000)), .data(Build.data(200_000))]))])
    #expect(raylet.store[a]?.pins == 1)
    #expect(raylet.store[b]?.pins == 1)
}

@Test func fetchOfMissingObjectAsksOwnerThenPulls() {
    let local = Build.node(1), other = Build.node(2)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    let object = Build.object(5)
    #expect(fetch(&raylet, [object], requestID: 1, now: 10) == [.send(to: .worker(objectOwner), .locateObject(object))])
    // A second fetch of the same object joins the pull instead of asking again.
    #expect(fetch(&raylet, [object], requestID: 2, now: 11) == [])
    #expect(raylet.handle(.messageReceived(from: .worker(objectOwner), .objectLocation(object, .at([other.nodeID]))), now: 20)
        == [.send(to: .raylet(other.nodeID), .pullObject(object))])
    let value = Build.data(400_000)
    let pushed = raylet.handle(.messageReceived(from: .raylet(other.nodeID), .pushObject(object, value, owner: objectOwner)),
                               now: 30)
    #expect(pushed == [
        .send(to: .worker(objectOwner), .locationAdded(object, node: local.nodeID)),
        .send(to: .worker(taskWorker), .objectsReady(requestID: 1, values: [.data(value)])),
        .send(to: .worker(taskWorker), .objectsReady(requestID: 2, values: [.data(value)])),
    ])
    #expect(raylet.store[object]?.primary == false)
    #expect(raylet.store[object]?.pins == 2)
    #expect(raylet.metrics.objectsPulled == 1)
    // A duplicate push is ignored.
    #expect(raylet.handle(.messageReceived(from: .raylet(other.nodeID), .pushObject(object, value, owner: objectOwner)),
                          now: 40) == [])
}

@Test func pullRequestIsServedOrAnsweredMissing() {
    var raylet = Build.raylet(Build.node(1))
    let object = Build.object(5)
    let requester = NodeID(3)
    #expect(raylet.handle(.messageReceived(from: .raylet(requester), .pullObject(object)), now: 10)
        == [.send(to: .raylet(requester), .objectMissing(object))])
    _ = store(&raylet, [object], sizes: [200_000], now: 20)
    #expect(raylet.handle(.messageReceived(from: .raylet(requester), .pullObject(object)), now: 30)
        == [.send(to: .raylet(requester), .pushObject(object, Build.data(200_000), owner: objectOwner))])
}

@Test func objectMissingLeadsToRetryTimerAndNewLocate() {
    let local = Build.node(1), other = Build.node(2)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    let object = Build.object(5)
    _ = fetch(&raylet, [object], requestID: 1, now: 10)
    _ = raylet.handle(.messageReceived(from: .worker(objectOwner), .objectLocation(object, .at([other.nodeID]))), now: 20)
    // objectMissing from some other node than the pull source is ignored.
    #expect(raylet.handle(.messageReceived(from: .raylet(NodeID(3)), .objectMissing(object)), now: 25) == [])
    #expect(raylet.handle(.messageReceived(from: .raylet(other.nodeID), .objectMissing(object)), now: 30)
        == [.startTimer(.retryPull(object), afterMicros: 100_000)])
    #expect(raylet.handle(.timerFired(.retryPull(object)), now: 130_030)
        == [.send(to: .worker(objectOwner), .locateObject(object))])
    // A stale retry timer does nothing.
    #expect(raylet.handle(.timerFired(.retryPull(object)), now: 130_040) == [])
}

@Test func deadSourceNodeLeadsToRetryTimerAndNewLocate() {
    let local = Build.node(1), other = Build.node(2), third = Build.node(3)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other), Build.view(third)])
    let object = Build.object(5)
    _ = fetch(&raylet, [object], requestID: 1, now: 10)
    _ = raylet.handle(.messageReceived(from: .worker(objectOwner), .objectLocation(object, .at([other.nodeID]))), now: 20)
    #expect(raylet.handle(.messageReceived(from: .gcs, .nodeDead(other.nodeID)), now: 30)
        == [.disconnect(other.nodeID), .startTimer(.retryPull(object), afterMicros: 100_000)])
    #expect(raylet.handle(.timerFired(.retryPull(object)), now: 130_000)
        == [.send(to: .worker(objectOwner), .locateObject(object))])
    // The owner still lists the dead node first: it is skipped.
    #expect(raylet.handle(.messageReceived(from: .worker(objectOwner), .objectLocation(object, .at([other.nodeID, third.nodeID]))),
                          now: 140_000) == [.send(to: .raylet(third.nodeID), .pullObject(object))])
    // A connection reset from the new source has the same effect as its death.
    #expect(raylet.handle(.peerDisconnected(.raylet(third.nodeID)), now: 150_000)
        == [.startTimer(.retryPull(object), afterMicros: 100_000)])
    _ = raylet.handle(.timerFired(.retryPull(object)), now: 250_000)
    // Only dead copies left: wait and ask again.
    #expect(raylet.handle(.messageReceived(from: .worker(objectOwner), .objectLocation(object, .at([other.nodeID]))),
                          now: 260_000) == [.startTimer(.retryPull(object), afterMicros: 100_000)])
}

@Test func failedOrFreedLocationAnswersTheFetchWithAnError() {
    var raylet = Build.raylet(Build.node(1))
    let failed = Build.object(5), freed = Build.object(6)
    let error = RayError(.taskFailed, "boom")
    _ = fetch(&raylet, [failed, freed], requestID: 1, now: 10)
    #expect(raylet.handle(.messageReceived(from: .worker(objectOwner), .objectLocation(failed, .failed(error))), now: 20) == [])
    let effects = raylet.handle(.messageReceived(from: .worker(objectOwner), .objectLocation(freed, .freed)), now: 30)
    guard effects.count == 1, case .send(to: .worker(taskWorker), .objectsReady(requestID: 1, let values)) = effects[0],
          values.count == 2 else {
        Issue.record("expected one objectsReady, got \(effects)")
        return
    }
    #expect(values[0] == .error(error))
    #expect(values[1].error?.kind == .objectLost)
}

@Test func freeObjectDropsTheCopyAndItsSpillFile() {
    var raylet = Build.raylet(Build.node(1, storeBytes: 1_000))
    let objects = (1...3).map { Build.object(UInt64($0)) }
    for object in objects { _ = store(&raylet, [object], sizes: [300], now: 10) }
    #expect(raylet.store[objects[0]]?.spillFile == true)

    // An in-memory copy: its memory is released (the runtime deletes its shared-memory file).
    #expect(raylet.handle(.messageReceived(from: .worker(objectOwner), .freeObject(objects[1])), now: 20)
        == [.releaseObject(objects[1])])
    #expect(raylet.store[objects[1]] == nil)
    #expect(raylet.handle(.messageReceived(from: .worker(objectOwner), .freeObject(objects[0])), now: 30)
        == [.deleteSpilledObject(objects[0])])
    #expect(raylet.store[objects[0]] == nil)
    #expect(raylet.store.usedBytes == 300)
    #expect(raylet.store.spilledBytes == 0)
    // Freeing again is a no-op.
    #expect(raylet.handle(.messageReceived(from: .worker(objectOwner), .freeObject(objects[0])), now: 40) == [])
}

@Test func freeDuringPullFailsTheWaitingFetch() {
    var raylet = Build.raylet(Build.node(1))
    let object = Build.object(5)
    _ = fetch(&raylet, [object], requestID: 3, now: 10)
    let effects = raylet.handle(.messageReceived(from: .worker(objectOwner), .freeObject(object)), now: 20)
    guard effects.count == 1, case .send(to: .worker(taskWorker), .objectsReady(requestID: 3, let values)) = effects[0] else {
        Issue.record("expected objectsReady, got \(effects)")
        return
    }
    #expect(values.first?.error?.kind == .objectLost)
}

@Test func ownerDeathFreesItsObjectsKillsItsWorkersAndFailsLaterFetches() {
    let info = Build.node(1, cpus: 2, storeBytes: 1_000)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let otherOwner = Build.worker(2, 100)
    // Two objects of the dying owner (one spilled) and one of another owner.
    let owned = [Build.object(1), Build.object(2)]
    let foreign = Build.object(3)
    _ = store(&raylet, [owned[0]], sizes: [500], now: 10)
    _ = store(&raylet, [owned[1]], sizes: [400], now: 11)
    _ = raylet.handle(.messageReceived(from: .worker(taskWorker), .storeObjects(
        requestID: 9, objects: [foreign], values: [Build.data(50)], owner: otherOwner)), now: 12)
    #expect(raylet.store[owned[0]]?.inMemory == false)
    // A lease of the dying owner with a started worker, and one of the other owner.
    let lease = Build.lease(1, owner: objectOwner)
    _ = raylet.handle(.messageReceived(from: .worker(objectOwner), .requestWorkerLease(lease)), now: 20)
    _ = raylet.handle(.workerStarted(Build.worker(1, 1)), now: 21)
    let otherLease = Build.lease(1, owner: otherOwner)
    _ = raylet.handle(.messageReceived(from: .worker(otherOwner), .requestWorkerLease(otherLease)), now: 22)
    _ = raylet.handle(.workerStarted(Build.worker(1, 2)), now: 23)

    let effects = raylet.handle(.messageReceived(from: .gcs, .workerDied(objectOwner)), now: 30)
    #expect(effects.killedWorkers == [Build.worker(1, 1)])
    #expect(effects.contains(.deleteSpilledObject(owned[0])))
    #expect(raylet.store[owned[0]] == nil)
    #expect(raylet.store[owned[1]] == nil)
    #expect(raylet.store[foreign] != nil)
    #expect(raylet.leases[lease.leaseID] == nil)
    #expect(raylet.leases[otherLease.leaseID] != nil)
    #expect(raylet.available == Build.cpus(1))

    // A later fetch of the dead owner's object fails at once, without asking the dead owner.
    let late = fetch(&raylet, [owned[1]], requestID: 5, from: Build.worker(1, 2), now: 40)
    guard late.count == 1, case .send(to: .worker(Build.worker(1, 2)), .objectsReady(requestID: 5, let values)) = late[0] else {
        Issue.record("expected objectsReady, got \(late)")
        return
    }
    #expect(values.first?.error?.kind == .ownerDied)
    // Its later lease requests are not special, but its queued ones were dropped.
    #expect(raylet.queuedLeaseCount == 0)
}

@Test func aStoreForAnOwnerAlreadyDeadKeepsNothingAndReleasesWhatWasWritten() {
    var raylet = Build.raylet(Build.node(1))
    _ = raylet.handle(.messageReceived(from: .gcs, .workerDied(objectOwner)), now: 10)
    let object = Build.object(9)
    #expect(store(&raylet, [object], sizes: [500_000], requestID: 2, now: 20)
        == [.releaseObject(object), .send(to: .worker(taskWorker), .objectsStored(requestID: 2))])
    #expect(raylet.store[object] == nil)
    #expect(raylet.store.usedBytes == 0)
}

@Test func ownerDeathFailsPullsInFlightForItsObjects() {
    var raylet = Build.raylet(Build.node(1))
    let object = Build.object(5)
    _ = fetch(&raylet, [object], requestID: 3, now: 10)
    let effects = raylet.handle(.messageReceived(from: .gcs, .workerDied(objectOwner)), now: 20)
    guard case .send(to: .worker(taskWorker), .objectsReady(requestID: 3, let values))? = effects.first else {
        Issue.record("expected objectsReady, got \(effects)")
        return
    }
    #expect(values.first?.error?.kind == .ownerDied)
}

@Test func nodeDeadForItselfExits() {
    let info = Build.node(1)
    var raylet = Build.raylet(info)
    let effects = raylet.handle(.messageReceived(from: .gcs, .nodeDead(info.nodeID)), now: 10)
    guard effects.count == 1, case .exit = effects[0] else {
        Issue.record("expected exit, got \(effects)")
        return
    }
    #expect(!raylet.running)
    // Once exited, it handles nothing.
    #expect(raylet.handle(.messageReceived(from: .gcs, .healthCheck(sequence: 1)), now: 20) == [])
    #expect(raylet.handle(.messageReceived(from: .worker(objectOwner), .requestWorkerLease(Build.lease(1, owner: objectOwner))),
                          now: 30) == [])
}

@Test func nodeDeadForAnotherNodeRemovesItFromTheView() {
    let local = Build.node(1, cpus: 1), other = Build.node(2)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    // The links to it close (the raylet decides; its host closes them).
    #expect(raylet.handle(.messageReceived(from: .gcs, .nodeDead(other.nodeID)), now: 10) == [.disconnect(other.nodeID)])
    #expect(raylet.running)
    // A stale view that still lists it does not bring it back.
    _ = raylet.handle(.messageReceived(from: .gcs, .clusterView([Build.view(local), Build.view(other)])), now: 20)
    _ = raylet.handle(.messageReceived(from: .worker(objectOwner), .requestWorkerLease(Build.lease(1, owner: objectOwner))), now: 30)
    let effects = raylet.handle(.messageReceived(from: .worker(objectOwner), .requestWorkerLease(Build.lease(2, owner: objectOwner))),
                                now: 40)
    #expect(effects == [])
    #expect(raylet.queuedLeaseCount == 1)
}

@Test func gcsReconnectReregistersAndReportsResources() {
    let info = Build.node(1)
    var raylet = Build.raylet(info)
    #expect(raylet.handle(.peerConnected(.gcs), now: 10) == [
        .send(to: .gcs, .registerNode(info)),
        .send(to: .gcs, .resourceReport(node: info.nodeID, available: info.resources)),
    ])
}

@Test func sealingAnObjectThatIsBeingPulledAnswersItsFetches() {
    let local = Build.node(1), other = Build.node(2)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    let object = Build.object(5)
    _ = fetch(&raylet, [object], requestID: 1, now: 10)
    _ = raylet.handle(.messageReceived(from: .worker(objectOwner), .objectLocation(object, .at([other.nodeID]))), now: 20)
    // The object is rebuilt on this very node before the push arrives.
    let effects = store(&raylet, [object], sizes: [300_000], requestID: 4, from: Build.worker(1, 8), now: 30)
    #expect(effects == [
        .send(to: .worker(taskWorker), .objectsReady(requestID: 1, values: [.data(Build.data(300_000))])),
        .send(to: .worker(Build.worker(1, 8)), .objectsStored(requestID: 4)),
    ])
    #expect(raylet.store[object]?.primary == true)
    // The late push finds no pull and is dropped.
    #expect(raylet.handle(.messageReceived(from: .raylet(other.nodeID), .pushObject(object, Build.data(300_000), owner: objectOwner)),
                          now: 40) == [])
}

@Test func workerExitReleasesItsFetchPins() {
    let info = Build.node(1)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let object = Build.object(1)
    _ = store(&raylet, [object], sizes: [200_000], now: 10)
    _ = raylet.handle(.messageReceived(from: .worker(objectOwner), .requestWorkerLease(Build.lease(1, owner: objectOwner))), now: 15)
    let worker = Build.worker(1, 1)
    _ = raylet.handle(.workerStarted(worker), now: 16)
    _ = fetch(&raylet, [object], requestID: 1, from: worker, now: 20)
    #expect(raylet.store[object]?.pins == 1)
    _ = raylet.handle(.workerExited(worker), now: 30)
    #expect(raylet.store[object]?.pins == 0)
    #expect(raylet.available == info.resources)
}

@Test func anObjectPushedAfterItsOwnerDiedFailsThePullForWhoeverAskedForIt() {
    // A borrower's task fetches a borrowed object: the pull is on the borrower's behalf, the
    // bytes carry their owner, which dies while they travel. The waiting fetch fails (it used to
    // wait forever: the push was dropped and the pull forgotten).
    let local = Build.node(1), other = Build.node(2)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    let object = Build.object(5)
    let dataOwner = Build.worker(2, 9)
    _ = fetch(&raylet, [object], requestID: 1, now: 10)
    _ = raylet.handle(.messageReceived(from: .worker(objectOwner), .objectLocation(object, .at([other.nodeID]))), now: 20)
    _ = raylet.handle(.messageReceived(from: .gcs, .workerDied(dataOwner)), now: 25)
    let pushed = raylet.handle(.messageReceived(from: .raylet(other.nodeID), .pushObject(object, Build.data(400_000), owner: dataOwner)),
                               now: 30)
    let failed = pushed.compactMap { effect -> RayErrorKind? in
        guard case .send(.worker(taskWorker), .objectsReady(1, let values)) = effect else { return nil }
        return values.first?.error?.kind
    }
    #expect(failed == [.ownerDied])
    #expect(raylet.store[object] == nil)
}
