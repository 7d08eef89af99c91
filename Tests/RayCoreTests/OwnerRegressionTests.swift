// Regression tests for owner bugs found in review: a get answered after its
// put was lost mid-fetch, a get answered when its handle is released, a
// surviving copy accepted while a rebuild is under way.

import Testing

@testable import RayCore

private let driver = WorkerID(node: NodeID(1), index: 0)
private let head = NodeID(1)
private let other = NodeID(2)

private func startedOwner() -> Owner {
    var owner = Owner()
    _ = owner.handle(.started(RayConfig(), OwnerIdentity(worker: driver, job: JobID(1))), now: 0)
    return owner
}

private func fetchRequest(_ effects: [OwnerEffect]) -> UInt64? {
    for case .send(_, .fetchObjects(let requestID, _, _)) in effects { return requestID }
    return nil
}

@Test func getOfAPutLostDuringItsFetchIsAnsweredWithObjectLost() {
    var owner = startedOwner()
    let put = owner.nextPutID
    _ = owner.handle(.put(ObjectData(sizeBytes: 1 << 20, digest: 5), node: other), now: 1)
    let request = fetchRequest(owner.handle(.get(put), now: 2))
    #expect(request != nil)
    // The node holding the only copy dies; the raylet's fetch then fails with ObjectLost.
    _ = owner.handle(.messageReceived(from: .gcs, .nodeDead(other)), now: 3)
    let answer = owner.handle(.messageReceived(from: .raylet(head), .objectsReady(
        requestID: request ?? 0, values: [.error(RayError(.objectLost, "gone"))])), now: 4)
    let resolved = answer.compactMap { effect -> ObjectValue? in
        if case .getResolved(put, let value) = effect { return value }
        return nil
    }
    #expect(resolved.count == 1)
    #expect(resolved.first?.error?.kind == .objectLost)
}

@Test func releasingAHandleWithAGetWaitingAnswersTheGet() {
    var owner = startedOwner()
    let task = owner.nextTaskID
    let output = ObjectID.returnValue(of: task, index: 1)
    _ = owner.handle(.submitTask(TaskRequest(function: "f", instance: 0, args: [], resources: .units(["CPU": 1]),
                                             strategy: .default, maxRetries: 3, retryExceptions: false, body: [])), now: 1)
    #expect(owner.handle(.get(output), now: 2).isEmpty)
    let effects = owner.handle(.release(output), now: 3)
    #expect(effects.contains { if case .getResolved(output, .error(let error)) = $0 { return error.kind == .objectLost } else { return false } })
    // A second release of the same handle is ignored, not a crash.
    #expect(owner.handle(.release(output), now: 4).isEmpty)
}

@Test func aCopyThatSurvivedIsAcceptedWhileTheObjectIsRebuilt() {
    var owner = startedOwner()
    let task = owner.nextTaskID
    let output = ObjectID.returnValue(of: task, index: 1)
    let submitted = owner.handle(.submitTask(TaskRequest(function: "f", instance: 0, args: [], resources: .units(["CPU": 1]),
                                                         strategy: .default, maxRetries: 3, retryExceptions: false, body: [])), now: 1)
    var lease: LeaseID?
    for case .send(_, .requestWorkerLease(let request)) in submitted { lease = request.leaseID }
    let worker = WorkerID(node: other, index: 1)
    _ = owner.handle(.messageReceived(from: .raylet(head), .leaseGranted(lease!, worker: worker)), now: 2)
    _ = owner.handle(.messageReceived(from: .worker(worker), .taskReply(task, attempt: 1,
        .returned([.stored(node: other, sizeBytes: 1 << 20)]), borrowed: [])), now: 3)
    // The only copy's node dies: the owner starts a rebuild (the object is pending again).
    _ = owner.handle(.messageReceived(from: .gcs, .nodeDead(other)), now: 4)
    #expect(owner.metrics.reconstructions == 1)
    // A copy pulled to the head just before the death arrives: it is kept, not freed.
    let effects = owner.handle(.messageReceived(from: .raylet(head), .locationAdded(output, node: head)), now: 5)
    #expect(!effects.contains(.send(to: .raylet(head), .freeObject(output))))
    #expect(owner.objects[output]?.locations == [head])
    if case .stored = owner.objects[output]?.state {} else { Issue.record("expected the surviving copy to make the object stored") }
}

/// Found by `raysim swarm --seed 26198`: rebuilding a task whose argument is a put that is
/// gone fails the put on the spot, while the task's missing arguments were being counted; the
/// count was recorded after that, so the task waited forever for an argument already settled
/// (and the driver's tables leaked). The rebuild now ends with the put's error.
@Test func aRebuildWhoseLostPutArgumentFailsAtOnceEndsWithItsError() {
    var owner = startedOwner()
    let put = owner.nextPutID
    _ = owner.handle(.put(ObjectData(sizeBytes: 1 << 20, digest: 5), node: other), now: 1)
    let task = owner.nextTaskID
    let output = ObjectID.returnValue(of: task, index: 1)
    let submitted = owner.handle(.submitTask(TaskRequest(function: "f", instance: 0, args: [.reference(put)],
                                                         resources: .units(["CPU": 1]), strategy: .default, maxRetries: 3,
                                                         retryExceptions: false, body: [])), now: 2)
    var lease: LeaseID?
    for case .send(_, .requestWorkerLease(let request)) in submitted { lease = request.leaseID }
    let worker = WorkerID(node: head, index: 1)
    _ = owner.handle(.messageReceived(from: .raylet(head), .leaseGranted(lease!, worker: worker)), now: 3)
    _ = owner.handle(.messageReceived(from: .worker(worker), .taskReply(task, attempt: 1,
        .returned([.stored(node: head, sizeBytes: 1 << 20)]), borrowed: [])), now: 4)
    // The program drops the put (only the task's lineage keeps its entry); its copy goes.
    _ = owner.handle(.release(put), now: 5)
    _ = owner.handle(.messageReceived(from: .raylet(other), .locationRemoved(put, node: other)), now: 6)
    // The output's only copy goes too: it is rebuilt, which needs the put, which cannot be.
    _ = owner.handle(.messageReceived(from: .raylet(head), .locationRemoved(output, node: head)), now: 7)
    guard case .failed(let error)? = owner.objects[output]?.state else {
        let task = String(describing: owner.tasks[task]?.state), object = String(describing: owner.objects[output]?.state)
        Issue.record("the rebuild should fail, not wait: task \(task), output \(object)")
        return
    }
    #expect(error.kind == .objectLost)
    // Nothing waits for it any more: once the program lets go, the tables empty.
    _ = owner.handle(.release(output), now: 8)
    #expect(owner.isQuiescent, "tasks \(owner.tasks.count), objects \(owner.objects.count)")
}
