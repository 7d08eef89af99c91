// Unit tests of the machine pieces nested tasks stand on: a worker's owner (it registers no
// job, numbers its raylet requests apart from its executor's, names children after the task
// attempt that submits them), the routing of a worker's messages to its two machines, and a
// blocked worker lending its lease's CPUs to its node (Ray's NotifyDirectCallTaskBlocked).

import Testing
@testable import RayCore

private let leaseOwner = Build.worker(1, 100)

@Test func aWorkersOwnerRegistersNoJobAndNumbersRequestsApart() {
    var owner = Owner()
    let worker = Build.worker(1, 7)
    #expect(owner.handle(.startedInWorker(RayConfig(), OwnerIdentity(worker: worker, job: JobID(3))), now: 0) == [])
    #expect(owner.inWorker)
    let parent = TaskID(value: 99)
    _ = owner.handle(.taskStarted(parent, attempt: 1), now: 1)
    let child = owner.nextTaskID
    #expect(child == OwnerIDs.forTask(parent, attempt: 1).nextTask)
    // A put of a large value is stored through the raylet: its request number is the owner's.
    let effects = owner.handle(.put(Build.data(1 << 20), node: nil), now: 2)
    let stores = effects.compactMap { effect -> UInt64? in
        guard case .send(_, .storeObjects(let requestID, _, _, _)) = effect else { return nil }
        return requestID
    }
    #expect(stores.count == 1 && stores[0] > Owner.workerRequestBase)
    #expect(Message.objectsStored(requestID: stores[0]).workerPart == .owner)
    #expect(Message.objectsStored(requestID: 1).workerPart == .executor)
}

@Test func childrenAreNamedAfterTheAttemptThatSubmitsThem() {
    let parent = TaskID(value: 1234)
    let first = OwnerIDs.forTask(parent, attempt: 1)
    let retry = OwnerIDs.forTask(parent, attempt: 2)
    #expect(first.nextTask != retry.nextTask)
    #expect(first.nextTask == OwnerIDs.forTask(parent, attempt: 1).nextTask)
    // Never the driver's sequence for the same job.
    #expect(first.nextTask != OwnerIDs(parent: TaskID.driver(of: JobID(1))).nextTask)
}

@Test func aWorkersMessagesReachTheRightMachine() {
    let spec = Build.spec(1, owner: leaseOwner)
    let lease = LeaseID(owner: leaseOwner, index: 1)
    #expect(Message.pushTask(spec, attempt: 1, lease: lease, args: []).workerPart == .executor)
    #expect(Message.objectsReady(requestID: 5, values: []).workerPart == .executor)
    #expect(Message.objectsReady(requestID: Owner.workerRequestBase + 5, values: []).workerPart == .owner)
    #expect(Message.leaseGranted(lease, worker: Build.worker(1, 2)).workerPart == .owner)
    #expect(Message.taskReply(TaskID(value: 1), attempt: 1, .returned([]), borrowed: []).workerPart == .owner)
    #expect(Message.locateObject(Build.object(1)).workerPart == .owner)
}

/// A raylet with one leased worker running a 1-CPU task on a 2-CPU node.
private func rayletWithLeasedWorker() -> (Raylet, WorkerID, LeaseRequest) {
    let info = Build.node(1, cpus: 2)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let lease = Build.lease(1, owner: leaseOwner, resources: Build.cpus(1))
    let spawned = raylet.handle(.messageReceived(from: .worker(leaseOwner), .requestWorkerLease(lease)), now: 1)
        .spawnedWorkers
    _ = raylet.handle(.workerStarted(spawned[0]), now: 2)
    return (raylet, spawned[0], lease)
}

@Test func aBlockedWorkerLendsItsCPUsUntilItResumes() {
    var (raylet, worker, lease) = rayletWithLeasedWorker()
    #expect(raylet.available == Build.cpus(1))
    _ = raylet.handle(.messageReceived(from: .worker(worker), .workerBlocked(worker)), now: 3)
    #expect(raylet.available == Build.cpus(2))
    #expect(raylet.leases[lease.leaseID]?.held == ResourceSet())
    // Blocking twice lends once.
    _ = raylet.handle(.messageReceived(from: .worker(worker), .workerBlocked(worker)), now: 4)
    #expect(raylet.available == Build.cpus(2))
    // Another process cannot block it.
    _ = raylet.handle(.messageReceived(from: .worker(leaseOwner), .workerUnblocked(worker)), now: 5)
    #expect(raylet.available == Build.cpus(2))
    // Two children take both CPUs while it waits.
    for index in 2...3 {
        let child = Build.lease(UInt64(index), owner: worker, resources: Build.cpus(1))
        _ = raylet.handle(.messageReceived(from: .worker(worker), .requestWorkerLease(child)), now: 6)
    }
    #expect(raylet.available == ResourceSet())
    // It resumes before they return: the node is oversubscribed by one CPU, and that is no violation.
    _ = raylet.handle(.messageReceived(from: .worker(worker), .workerUnblocked(worker)), now: 7)
    #expect(raylet.available == ResourceSet(["CPU": -1000]))
    #expect(raylet.invariantViolation() == nil)
    #expect(raylet.fullInvariantViolation() == nil)
    // Nothing needing a CPU is granted until the books balance again.
    let late = Build.lease(9, owner: leaseOwner, resources: Build.cpus(1))
    #expect(raylet.handle(.messageReceived(from: .worker(leaseOwner), .requestWorkerLease(late)), now: 8)
        .spawnedWorkers.isEmpty)
    _ = raylet.handle(.messageReceived(from: .worker(leaseOwner), .returnWorker(lease.leaseID, killWorker: false)), now: 9)
    #expect(raylet.fullInvariantViolation() == nil)
}

@Test func aLeaseReturnedWhileBlockedGivesBackOnlyWhatItHeld() {
    var (raylet, worker, lease) = rayletWithLeasedWorker()
    _ = raylet.handle(.messageReceived(from: .worker(worker), .workerBlocked(worker)), now: 3)
    _ = raylet.handle(.messageReceived(from: .worker(leaseOwner), .returnWorker(lease.leaseID, killWorker: false)), now: 4)
    #expect(raylet.available == Build.cpus(2))
    #expect(raylet.fullInvariantViolation() == nil)
}

@Test func theExecutorTellsItsRayletWhenTheBodyBlocksAndResumes() {
    var executor = Executor()
    let worker = Build.worker(1, 3)
    _ = executor.handle(.started(RayConfig(), worker), now: 0)
    let spec = Build.spec(1, owner: leaseOwner)
    let lease = LeaseID(owner: leaseOwner, index: 1)
    _ = executor.handle(.messageReceived(from: .worker(leaseOwner), .pushTask(spec, attempt: 1, lease: lease, args: [])),
                        now: 1)
    #expect(executor.handle(.bodyBlocked(spec.taskID, attempt: 1), now: 2)
        == [.send(to: .raylet(NodeID(1)), .workerBlocked(worker))])
    #expect(executor.handle(.bodyBlocked(spec.taskID, attempt: 1), now: 3) == [])
    #expect(executor.handle(.bodyBlocked(spec.taskID, attempt: 2), now: 3) == [])
    #expect(executor.handle(.bodyUnblocked(spec.taskID, attempt: 1), now: 4)
        == [.send(to: .raylet(NodeID(1)), .workerUnblocked(worker))])
    // A body that finishes while blocked gives the CPUs back before its reply.
    _ = executor.handle(.bodyBlocked(spec.taskID, attempt: 1), now: 5)
    let finished = executor.handle(.executionFinished(spec.taskID, attempt: 1, .returned([Build.data(8)])), now: 6)
    #expect(finished.first == .send(to: .raylet(NodeID(1)), .workerUnblocked(worker)))
}
