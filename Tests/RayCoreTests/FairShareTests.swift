// Fair share between jobs on a node (issue 12): each scheduling class queues a FIFO per job
// served round robin, and a job holding more of a node than a waiting job is asked for a
// lease back (`yieldLease`), which its owner returns when the task on it ends.

import Testing
@testable import RayCore

private let ownerA = Build.worker(1, 100)
private let ownerB = Build.worker(1, 200)
private let jobA = JobID(1), jobB = JobID(2)

private func startedOwner() -> Owner {
    var owner = Owner()
    _ = owner.handle(.started(RayConfig(), OwnerIdentity(worker: ownerA, job: jobA)), now: 0)
    return owner
}

@Test func aFairQueueServesJobsInTurn() {
    var queue = FairQueue<String>()
    for index in 0..<4 { queue.append("a\(index)", job: jobA) }
    queue.append("b0", job: jobB)
    queue.append("b1", job: jobB)
    #expect(queue.count == 6 && queue.count(of: jobA) == 4)
    #expect(queue.elements == ["a0", "a1", "a2", "a3", "b0", "b1"])
    var served: [String] = []
    while let next = queue.popFirst() { served.append(next) }
    #expect(served == ["a0", "b0", "a1", "b1", "a2", "a3"])
    #expect(queue.isEmpty && queue.jobs.isEmpty)
    // One job: a FIFO.
    for index in 0..<3 { queue.append("a\(index)", job: jobA) }
    queue.removeAll { $0 == "a1" }
    #expect(queue.popFirst() == "a0" && queue.popFirst() == "a2" && queue.popFirst() == nil && queue.count == 0)
}

/// A raylet with 2 CPUs where job A holds both and queues more, then job B asks for one.
private func contendedNode() -> (Raylet, [RayletEffect], [WorkerID]) {
    var raylet = Build.raylet(Build.node(1, cpus: 2))
    raylet.programs[jobB] = "2 /bin/other-program"
    var workers: [WorkerID] = []
    for index in 1...6 {
        let lease = Build.lease(UInt64(index), owner: ownerA, job: jobA)
        let effects = raylet.handle(.messageReceived(from: .worker(ownerA), .requestWorkerLease(lease)), now: 10)
        workers += effects.spawnedWorkers
    }
    for worker in workers { _ = raylet.handle(.workerStarted(worker), now: 20) }
    #expect(workers.count == 2 && raylet.queuedLeaseCount == 4)
    let effects = raylet.handle(.messageReceived(from: .worker(ownerB),
                                                 .requestWorkerLease(Build.lease(1, owner: ownerB, job: jobB))), now: 30)
    return (raylet, effects, workers)
}

@Test func aJobHoldingTheNodeIsAskedForALeaseWhenAnotherJobWaits() {
    var (raylet, effects, _) = contendedNode()
    // One lease of A's asked back (the lowest), none granted yet.
    let askA1: RayletEffect = .send(to: .worker(ownerA), .yieldLease(LeaseID(owner: ownerA, index: 1)))
    #expect(effects == [askA1])
    #expect(raylet.metrics.leasesAskedBack == 1)
    // Nothing changes until that lease comes back: no second ask for the same waiting job.
    let again = raylet.handle(.messageReceived(from: .worker(ownerA),
                                               .requestWorkerLease(Build.lease(7, owner: ownerA, job: jobA))), now: 40)
    #expect(again == [])
    // A returns it; B's request is granted before A's four older ones (its job's turn).
    let returned = raylet.handle(.messageReceived(from: .worker(ownerA),
                                                  .returnWorker(LeaseID(owner: ownerA, index: 1), killWorker: false)),
                                 now: 50)
    #expect(returned.spawnedWorkers.count == 1, "B's job gets a worker of its own: \(returned)")
    #expect(raylet.queuedLeaseCount == 5)
    #expect(raylet.leases[LeaseID(owner: ownerB, index: 1)] != nil)
    // One lease each now: nobody is asked for more.
    #expect(!returned.contains { if case .send(_, .yieldLease) = $0 { true } else { false } })
    #expect(raylet.metrics.leasesAskedBack == 1)
}

@Test func withOneJobNoLeaseIsEverAskedBack() {
    var raylet = Build.raylet(Build.node(1, cpus: 2))
    var effects: [RayletEffect] = []
    for index in 1...6 {
        effects += raylet.handle(.messageReceived(from: .worker(ownerA),
                                                  .requestWorkerLease(Build.lease(UInt64(index), owner: ownerA))), now: 10)
    }
    for worker in effects.spawnedWorkers { effects += raylet.handle(.workerStarted(worker), now: 20) }
    #expect(!effects.contains { if case .send(_, .yieldLease) = $0 { true } else { false } })
    #expect(raylet.metrics.leasesAskedBack == 0 && raylet.queuedLeaseCount == 4)
}

@Test func anAskIsForgottenWhenItsLeaseEndsOtherwise() {
    var (raylet, _, workers) = contendedNode()
    #expect(raylet.yieldAsked.count == 1)
    // A's worker on the asked lease dies instead: the ask goes with it; B is granted the room.
    let died = raylet.handle(.workerExited(workers[0]), now: 60)
    #expect(raylet.yieldAsked.isEmpty)
    #expect(died.spawnedWorkers.count == 1)
    #expect(raylet.leases[LeaseID(owner: ownerB, index: 1)] != nil)
}

@Test func anOwnerReturnsALeaseItWasAskedForWhenItsTaskEnds() {
    var owner = startedOwner()
    var effects: [OwnerEffect] = []
    for _ in 0..<3 { effects += owner.handle(.submitTask(Build.task()), now: 10) }
    let requests = effects.compactMap { effect -> LeaseRequest? in
        if case .send(_, .requestWorkerLease(let request)) = effect { return request } else { return nil }
    }
    #expect(requests.count == 3)
    let worker = Build.worker(1, 1)
    let lease = requests[0].leaseID
    let granted = owner.handle(.messageReceived(from: .raylet(NodeID(1)), .leaseGranted(lease, worker: worker)), now: 20)
    guard case .send(_, .pushTask(let spec, let attempt, _, _))? = granted.first(where: {
        if case .send(_, .pushTask) = $0 { true } else { false }
    }) else {
        Issue.record("no task pushed: \(granted)")
        return
    }
    _ = owner.handle(.messageReceived(from: .raylet(NodeID(1)), .yieldLease(lease)), now: 25)
    let replied = owner.handle(.messageReceived(from: .worker(worker), .taskReply(spec.taskID, attempt: attempt,
        .returned([.inline(ObjectData(sizeBytes: 1, digest: 1, bytes: [1]))]), borrowed: [])), now: 30)
    // Handed back, although two tasks of its shape wait: no push to the worker.
    #expect(replied.contains(.send(to: .raylet(NodeID(1)), .returnWorker(lease, killWorker: false))))
    #expect(!replied.contains { if case .send(_, .pushTask) = $0 { true } else { false } })
    // An ask for a lease that runs nothing here (already returned) changes nothing.
    #expect(owner.handle(.messageReceived(from: .raylet(NodeID(1)), .yieldLease(lease)), now: 35) == [])
}

@Test func withoutAnAskTheOwnerReusesTheWorker() {
    var owner = startedOwner()
    var effects: [OwnerEffect] = []
    for _ in 0..<2 { effects += owner.handle(.submitTask(Build.task()), now: 10) }
    guard case .send(_, .requestWorkerLease(let request))? = effects.first(where: {
        if case .send(_, .requestWorkerLease) = $0 { true } else { false }
    }) else { Issue.record("no request"); return }
    let worker = Build.worker(1, 1)
    let granted = owner.handle(.messageReceived(from: .raylet(NodeID(1)), .leaseGranted(request.leaseID, worker: worker)),
                               now: 20)
    guard case .send(_, .pushTask(let spec, let attempt, _, _))? = granted.last else { Issue.record("\(granted)"); return }
    let replied = owner.handle(.messageReceived(from: .worker(worker), .taskReply(spec.taskID, attempt: attempt,
        .returned([.inline(ObjectData(sizeBytes: 1, digest: 1, bytes: [1]))]), borrowed: [])), now: 30)
    #expect(replied.contains { if case .send(.worker(worker), .pushTask) = $0 { true } else { false } })
}

@Test func aRicherJobsSmallerShapeDoesNotTakeTheRoomAPoorerJobWaitsFor() throws {
    var raylet = Build.raylet(Build.node(1, cpus: 2))
    raylet.programs[jobB] = "2 /bin/other-program"
    let half = ResourceSet(["CPU": 500])
    var workers: [WorkerID] = []
    for index in 1...8 {
        let request = Build.lease(UInt64(index), owner: ownerA, resources: half, job: jobA)
        workers += raylet.handle(.messageReceived(from: .worker(ownerA), .requestWorkerLease(request)), now: 10).spawnedWorkers
    }
    for worker in workers { _ = raylet.handle(.workerStarted(worker), now: 20) }
    #expect(workers.count == 4 && raylet.queuedLeaseCount == 4)
    // B asks for a whole CPU: one of A's leases is asked back.
    var effects = raylet.handle(.messageReceived(from: .worker(ownerB),
                                                 .requestWorkerLease(Build.lease(1, owner: ownerB, job: jobB))), now: 30)
    func asked(_ effects: [RayletEffect]) -> LeaseID? {
        effects.compactMap { if case .send(.worker(ownerA), .yieldLease(let lease)) = $0 { lease } else { nil } }.first
    }
    let first = try #require(asked(effects))
    // A hands it back: half a CPU is free, and A's queued half-CPU requests do not take it (before,
    // they did, until A's backlog ended); another of A's leases is asked back.
    effects = raylet.handle(.messageReceived(from: .worker(ownerA), .returnWorker(first, killWorker: false)), now: 40)
    #expect(raylet.leases.keys.filter { $0.owner == ownerA }.count == 3)
    #expect(raylet.leases[LeaseID(owner: ownerB, index: 1)] == nil)
    let second = try #require(asked(effects))
    // The second comes back: B gets the whole CPU; A's queue waits its turn.
    effects = raylet.handle(.messageReceived(from: .worker(ownerA), .returnWorker(second, killWorker: false)), now: 50)
    #expect(raylet.leases[LeaseID(owner: ownerB, index: 1)] != nil)
    #expect(raylet.leases.keys.filter { $0.owner == ownerA }.count == 2)
}

/// A job's task workers on a node are capped (`RayConfig.workersPerJob`): zero-CPU tasks, which
/// leases do not bound, wait in the queue past it instead of forking a process each; a free
/// (idle) worker of the job, or one blocked in a get, lets the next run; another job has its own.
@Test func aJobsTaskWorkersOnANodeAreCappedAndItsRequestsWait() {
    var config = RayConfig()
    config.workersPerJobMax = 2
    var raylet = Build.raylet(Build.node(1, cpus: 2), config: config)
    raylet.programs[jobB] = "2 /bin/other-program"
    var spawned: [WorkerID] = []
    for index in 1...5 {
        let lease = Build.lease(UInt64(index), owner: ownerA, resources: ResourceSet(), job: jobA)
        spawned += raylet.handle(.messageReceived(from: .worker(ownerA), .requestWorkerLease(lease)), now: 10).spawnedWorkers
    }
    #expect(spawned.count == 2 && raylet.queuedLeaseCount == 3)
    for worker in spawned { _ = raylet.handle(.workerStarted(worker), now: 20) }
    // Another job is not held by A's cap.
    let other = raylet.handle(.messageReceived(from: .worker(ownerB),
                                               .requestWorkerLease(Build.lease(1, owner: ownerB, resources: ResourceSet(),
                                                                               job: jobB))), now: 30)
    #expect(other.spawnedWorkers.count == 1)
    // A's worker blocked in a get does not count: a third starts.
    let told = raylet.handle(.messageReceived(from: .worker(spawned[0]), .workerBlocked(spawned[0])), now: 40)
    #expect(told.spawnedWorkers.count == 1 && raylet.queuedLeaseCount == 2)
    // A lease returned makes its worker idle: the next request of A runs on it, no new process.
    let returned = raylet.handle(.messageReceived(from: .worker(ownerA),
                                                  .returnWorker(LeaseID(owner: ownerA, index: 2), killWorker: false)), now: 50)
    #expect(returned.spawnedWorkers.isEmpty && raylet.queuedLeaseCount == 1)
    #expect(returned.contains { if case .send(_, .leaseGranted(_, let worker)) = $0 { return worker == spawned[1] } else { return false } })
}
