// Unit tests of the owner: submission and leasing, pushes and replies, gets,
// retries on worker death and on application errors (ray-core-semantics
// §2.1), freeing, reconstruction after node death (§2.3), lost puts,
// lineage release, dependent tasks and the object directory.

import Testing
@testable import RayCore

private let ownerWorker = Build.worker(1, 100)
private let localNode = NodeID(1)

private func startedOwner() -> Owner {
    var owner = Owner()
    #expect(owner.handle(.started(RayConfig(), OwnerIdentity(worker: ownerWorker, job: JobID(1))), now: 0)
        == [.send(to: .gcs, .registerJob(JobID(1), driver: ownerWorker))])
    return owner
}

/// A lease request an owner sent, and the raylet it went to.
private struct LeaseAsk {
    var node: NodeID
    var request: LeaseRequest
}

/// The lease requests among `effects`.
private func leaseRequests(_ effects: [OwnerEffect]) -> [LeaseAsk] {
    effects.sends.compactMap { sent in
        guard case .raylet(let node) = sent.to, case .requestWorkerLease(let request) = sent.message else { return nil }
        return LeaseAsk(node: node, request: request)
    }
}

/// Submits `request`; returns the task ID and the single lease request it sent.
private func submit(_ owner: inout Owner, _ request: TaskRequest, now: Int64) -> (TaskID, LeaseID?) {
    let id = owner.nextTaskID
    let leases = leaseRequests(owner.handle(.submitTask(request), now: now))
    return (id, leases.first?.request.leaseID)
}

private func grant(_ owner: inout Owner, _ lease: LeaseID?, worker: WorkerID, now: Int64) -> [OwnerEffect] {
    guard let lease else {
        Issue.record("no lease to grant")
        return []
    }
    return owner.handle(.messageReceived(from: .raylet(worker.node), .leaseGranted(lease, worker: worker)), now: now)
}

private func reply(_ owner: inout Owner, _ task: TaskID, attempt: Int, _ outcome: TaskOutcome, worker: WorkerID,
                   now: Int64) -> [OwnerEffect] {
    owner.handle(.messageReceived(from: .worker(worker), .taskReply(task, attempt: attempt, outcome, borrowed: [])), now: now)
}

private func returnObject(_ task: TaskID) -> ObjectID { .returnValue(of: task, index: 1) }

/// Submits, grants to `worker`, and replies with `outcome`; returns the task ID.
private func run(_ owner: inout Owner, _ request: TaskRequest = Build.task(), worker: WorkerID, outcome: TaskOutcome,
                 now: Int64) -> TaskID {
    let (id, lease) = submit(&owner, request, now: now)
    _ = grant(&owner, lease, worker: worker, now: now + 1)
    _ = reply(&owner, id, attempt: 1, outcome, worker: worker, now: now + 2)
    return id
}

@Test func submitSendsLeaseRequestToTheLocalRaylet() {
    var owner = startedOwner()
    let id = owner.nextTaskID
    let effects = owner.handle(.submitTask(Build.task(resources: Build.cpus(2))), now: 10)
    #expect(effects == [.send(to: .raylet(localNode), .requestWorkerLease(LeaseRequest(
        leaseID: LeaseID(owner: ownerWorker, index: 1), taskID: id, resources: Build.cpus(2), strategy: .default,
        spillbackCount: 0, dependencies: [], jobID: JobID(1))))])
    #expect(owner.objects[returnObject(id)]?.localRefs == 1)
    #expect(owner.tasks[id]?.state == .leasing(LeaseID(owner: ownerWorker, index: 1), node: localNode))
    #expect(owner.metrics.tasksSubmitted == 1)
    #expect(owner.nextTaskID != id)
}

@Test func leaseGrantedPushesTheTaskToTheWorker() {
    var owner = startedOwner()
    let inline = Build.data(10)
    let (id, lease) = submit(&owner, Build.task(args: [.value(inline)]), now: 10)
    let worker = Build.worker(2, 1)
    guard let spec = owner.tasks[id]?.spec, let lease else { Issue.record("task not submitted"); return }
    #expect(grant(&owner, lease, worker: worker, now: 20)
        == [.send(to: .worker(worker), .pushTask(spec, attempt: 1, lease: lease, args: [.inline(inline)]))])
    #expect(owner.tasks[id]?.state == .running(lease, worker: worker))
    #expect(owner.tasks[id]?.attempts == 1)
    #expect(owner.metrics.attemptsStarted == 1)
}

@Test func staleLeaseGrantHandsTheWorkerBack() {
    var owner = startedOwner()
    let stale = LeaseID(owner: ownerWorker, index: 42)
    let worker = Build.worker(2, 1)
    #expect(grant(&owner, stale, worker: worker, now: 10)
        == [.send(to: .raylet(worker.node), .returnWorker(stale, killWorker: false))])
}

@Test func successfulReplyResolvesPendingGetAndReturnsTheWorker() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(), now: 10)
    let worker = Build.worker(2, 1)
    _ = grant(&owner, lease, worker: worker, now: 20)
    let object = returnObject(id)
    #expect(owner.handle(.get(object), now: 25) == [])
    let value = Build.data(64)
    guard let lease else { return }
    #expect(reply(&owner, id, attempt: 1, .returned([.inline(value)]), worker: worker, now: 30) == [
        .getResolved(object, .data(value)),
        .send(to: .raylet(worker.node), .returnWorker(lease, killWorker: false)),
    ])
    #expect(owner.tasks[id]?.state == .finished)
    // A later get answers from the inline value at once.
    #expect(owner.handle(.get(object), now: 40) == [.getResolved(object, .data(value))])
}

@Test func replyOfAnOldAttemptIsIgnored() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(), now: 10)
    let worker = Build.worker(2, 1)
    _ = grant(&owner, lease, worker: worker, now: 20)
    #expect(reply(&owner, id, attempt: 7, .returned([.inline(Build.data(1))]), worker: worker, now: 30) == [])
    #expect(reply(&owner, id, attempt: 1, .returned([.inline(Build.data(1))]), worker: Build.worker(2, 9), now: 31) == [])
    #expect(owner.tasks[id]?.state == .running(lease!, worker: worker))
}

@Test func getOfStoredReturnFetchesFromTheLocalRaylet() {
    var owner = startedOwner()
    let id = run(&owner, worker: Build.worker(2, 1), outcome: .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]), now: 10)
    let object = returnObject(id)
    #expect(owner.objects[object]?.locations == [NodeID(2)])
    #expect(owner.handle(.get(object), now: 20)
        == [.send(to: .raylet(localNode), .fetchObjects(requestID: 1, objects: [object], owner: ownerWorker))])
    let value = Build.data(500_000)
    #expect(owner.handle(.messageReceived(from: .raylet(localNode), .objectsReady(requestID: 1, values: [.data(value)])), now: 30)
        == [.send(to: .raylet(localNode), .releaseFetch(requestID: 1)), .getResolved(object, .data(value))])
}

@Test func everyGetOfTheSameObjectIsAnsweredOnce() {
    // Gets of a pending object (three, e.g. a timed-out get, a get of [b, b]) are each answered.
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(), now: 10)
    let worker = Build.worker(2, 1)
    _ = grant(&owner, lease, worker: worker, now: 20)
    let object = returnObject(id)
    for now in 21...23 { #expect(owner.handle(.get(object), now: Int64(now)) == []) }
    let value = Build.data(64)
    let answered = reply(&owner, id, attempt: 1, .returned([.inline(value)]), worker: worker, now: 30)
    #expect(answered.filter { $0 == .getResolved(object, .data(value)) }.count == 3)

    // Gets of a stored object share one fetch; its answer resolves all of them.
    let stored = returnObject(run(&owner, worker: worker, outcome: .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]),
                                  now: 40))
    let fetch = owner.handle(.get(stored), now: 50)
    #expect(fetch.count == 1)
    #expect(owner.handle(.get(stored), now: 51) == [])
    guard case .send(_, .fetchObjects(let requestID, _, _))? = fetch.first else {
        Issue.record("no fetch: \(fetch)")
        return
    }
    let big = Build.data(500_000)
    #expect(owner.handle(.messageReceived(from: .raylet(localNode), .objectsReady(requestID: requestID, values: [.data(big)])),
                         now: 60)
        == [.send(to: .raylet(localNode), .releaseFetch(requestID: requestID)),
            .getResolved(stored, .data(big)), .getResolved(stored, .data(big))])
    // A get after the fetch was answered sends a new one.
    #expect(owner.handle(.get(stored), now: 70).count == 1)
}

@Test func workerDisconnectWhileRunningRetriesUntilMaxRetriesThenWorkerCrashed() {
    var owner = startedOwner()
    let (id, firstLease) = submit(&owner, Build.task(maxRetries: 2), now: 10)
    let object = returnObject(id)
    _ = owner.handle(.get(object), now: 11)
    var lease = firstLease
    for attempt in 1...3 {
        let worker = Build.worker(2, UInt32(attempt))
        let pushed = grant(&owner, lease, worker: worker, now: Int64(attempt) * 100)
        guard case .send(_, .pushTask(_, let pushedAttempt, _, _))? = pushed.first else {
            Issue.record("attempt \(attempt) was not pushed: \(pushed)")
            return
        }
        #expect(pushedAttempt == attempt)
        let effects = owner.handle(.peerDisconnected(.worker(worker)), now: Int64(attempt) * 100 + 50)
        if attempt < 3 {
            let next = LeaseID(owner: ownerWorker, index: UInt64(attempt + 1))
            #expect(leaseRequests(effects).map(\.request.leaseID) == [next])
            #expect(leaseRequests(effects).map(\.node) == [localNode])
            #expect(owner.metrics.retries == attempt)
            lease = next
        } else {
            guard effects.count == 1, case .getResolved(object, .error(let error)) = effects[0] else {
                Issue.record("expected the get to fail, got \(effects)")
                return
            }
            #expect(error.kind == .workerCrashed)
        }
    }
    #expect(owner.tasks[id]?.state == .failed)
    #expect(owner.tasks[id]?.attempts == 3)
    #expect(owner.metrics.retries == 2)
    #expect(owner.metrics.tasksFailed == 1)
}

@Test func disconnectOfAnIdleWorkerDoesNothing() {
    var owner = startedOwner()
    _ = submit(&owner, Build.task(), now: 10)
    #expect(owner.handle(.peerDisconnected(.worker(Build.worker(2, 5))), now: 20) == [])
    #expect(owner.metrics.retries == 0)
}

@Test func applicationErrorWithoutRetryExceptionsFailsAfterOneAttempt() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(maxRetries: 3, retryExceptions: false), now: 10)
    let worker = Build.worker(2, 1)
    _ = grant(&owner, lease, worker: worker, now: 20)
    let object = returnObject(id)
    _ = owner.handle(.get(object), now: 21)
    let effects = reply(&owner, id, attempt: 1, .applicationError("ZeroDivisionError"), worker: worker, now: 30)
    #expect(leaseRequests(effects).isEmpty)
    #expect(effects.last == .send(to: .raylet(worker.node), .returnWorker(lease!, killWorker: false)))
    guard effects.count == 2, case .getResolved(object, .error(let error)) = effects[0] else {
        Issue.record("expected the get to fail, got \(effects)")
        return
    }
    #expect(error.kind == .taskFailed)
    #expect(error.message.contains("ZeroDivisionError"))
    #expect(owner.tasks[id]?.attempts == 1)
    #expect(owner.metrics.retries == 0)
}

@Test func applicationErrorWithRetryExceptionsIsRetriedWithinMaxRetries() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(maxRetries: 1, retryExceptions: true), now: 10)
    let object = returnObject(id)
    _ = owner.handle(.get(object), now: 11)
    let first = Build.worker(2, 1)
    _ = grant(&owner, lease, worker: first, now: 20)
    // The retry asks for a lease, then runs on the worker it already holds (lease reuse)
    // and cancels that request.
    let retried = reply(&owner, id, attempt: 1, .applicationError("flaky"), worker: first, now: 30)
    let retryLease = LeaseID(owner: ownerWorker, index: 2)
    #expect(leaseRequests(retried).map(\.request.leaseID) == [retryLease])
    #expect(retried.contains(.send(to: .raylet(NodeID(1)), .cancelWorkerLease(retryLease))))
    #expect(owner.metrics.retries == 1)
    #expect(owner.tasks[id]?.state == .running(lease!, worker: first))
    let failed = reply(&owner, id, attempt: 2, .applicationError("flaky"), worker: first, now: 50)
    #expect(leaseRequests(failed).isEmpty)
    guard case .getResolved(object, .error(let error))? = failed.first else {
        Issue.record("expected the get to fail, got \(failed)")
        return
    }
    #expect(error.kind == .taskFailed)
    #expect(error.message.contains("after 2 attempts"))
}

@Test func argumentFailedReplyStoresTheArgumentsError() {
    var owner = startedOwner()
    let error = RayError(.ownerDied, "gone")
    let id = run(&owner, worker: Build.worker(2, 1), outcome: .argumentFailed(error), now: 10)
    #expect(owner.handle(.get(returnObject(id)), now: 20) == [.getResolved(returnObject(id), .error(error))])
}

@Test func leaseSpillbackAsksTheTargetNode() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(), now: 10)
    guard let lease else { return }
    let effects = owner.handle(.messageReceived(from: .raylet(localNode), .leaseSpillback(lease, to: NodeID(3))), now: 20)
    let requests = leaseRequests(effects)
    #expect(requests.map(\.node) == [NodeID(3)])
    #expect(requests.first?.request.spillbackCount == 1)
    #expect(requests.first?.request.taskID == id)
    // The old lease is forgotten: a late spillback of it does nothing.
    #expect(owner.handle(.messageReceived(from: .raylet(localNode), .leaseSpillback(lease, to: NodeID(4))), now: 30) == [])
}

@Test func leaseUnschedulableFailsTheTask() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(resources: .units(["GPU": 1])), now: 10)
    guard let lease else { return }
    let object = returnObject(id)
    _ = owner.handle(.get(object), now: 11)
    let effects = owner.handle(.messageReceived(from: .raylet(localNode), .leaseUnschedulable(lease, reason: "no GPU")), now: 20)
    guard effects.count == 1, case .getResolved(object, .error(let error)) = effects[0] else {
        Issue.record("expected the get to fail, got \(effects)")
        return
    }
    #expect(error.kind == .taskUnschedulable)
    #expect(error.message.contains("no GPU"))
}

@Test func aLeaseRefusedAtTheRequestRateFailsTheTaskWithTheRayletsErrorAndOnlyFromARaylet() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(), now: 10)
    guard let lease else { return }
    let object = returnObject(id)
    _ = owner.handle(.get(object), now: 11)
    let error = RayError(.quotaExceeded, "job-1 sent node-1 lease requests faster than its rate limit")
    // A worker may not refuse leases: dropped, counted, nothing changes.
    #expect(owner.handle(.messageReceived(from: .worker(Build.worker(1, 7)), .leaseRefused(lease, error)), now: 15) == [])
    #expect(owner.metrics.forgedMessages == 1)
    let effects = owner.handle(.messageReceived(from: .raylet(localNode), .leaseRefused(lease, error)), now: 20)
    #expect(effects == [.getResolved(object, .error(error))])
    #expect(owner.tasks[id]?.attempts == 0)  // Never run, not retried.
    // A late grant of the refused lease is handed straight back.
    #expect(owner.handle(.messageReceived(from: .raylet(localNode), .leaseGranted(lease, worker: Build.worker(1, 3))),
                         now: 30).sends.map(\.message) == [.returnWorker(lease, killWorker: false)])
}

@Test func releaseOfLastHandleFreesEveryCopy() {
    var owner = startedOwner()
    let id = run(&owner, worker: Build.worker(2, 1), outcome: .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]), now: 10)
    let object = returnObject(id)
    #expect(owner.handle(.messageReceived(from: .raylet(NodeID(3)), .locationAdded(object, node: NodeID(3))), now: 20) == [])
    #expect(owner.objects[object]?.locations == [NodeID(2), NodeID(3)])
    #expect(owner.handle(.release(object), now: 30) == [
        .send(to: .raylet(NodeID(2)), .freeObject(object)),
        .send(to: .raylet(NodeID(3)), .freeObject(object)),
    ])
    #expect(owner.objects[object] == nil)
    #expect(owner.tasks.isEmpty)
    #expect(owner.isQuiescent)
    // A get after the release is an error, not a hang.
    guard case .getResolved(object, .error(let error))? = owner.handle(.get(object), now: 40).first else {
        Issue.record("expected an error")
        return
    }
    #expect(error.kind == .objectLost)
}

@Test func locationAddedForUntrackedObjectFreesTheCopy() {
    var owner = startedOwner()
    let object = Build.object(999)
    #expect(owner.handle(.messageReceived(from: .raylet(NodeID(3)), .locationAdded(object, node: NodeID(3))), now: 10)
        == [.send(to: .raylet(NodeID(3)), .freeObject(object))])
}

@Test func nodeDeathOfOnlyStoredCopyResubmitsTheTask() {
    var owner = startedOwner()
    let id = run(&owner, worker: Build.worker(2, 1), outcome: .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]), now: 10)
    let object = returnObject(id)
    let effects = owner.handle(.messageReceived(from: .gcs, .nodeDead(NodeID(2))), now: 20)
    let requests = leaseRequests(effects)
    #expect(requests.map(\.node) == [localNode])
    #expect(requests.map(\.request.taskID) == [id])
    #expect(owner.metrics.reconstructions == 1)
    #expect(owner.objects[object]?.state == .pending)
    #expect(owner.tasks[id]?.retriesLeft == 2)
    // The same death reported again changes nothing.
    #expect(owner.handle(.messageReceived(from: .gcs, .nodeDead(NodeID(2))), now: 21) == [])

    // A get waits for the rebuild, then fetches the new copy.
    #expect(owner.handle(.get(object), now: 25) == [])
    let worker = Build.worker(3, 1)
    let pushed = grant(&owner, requests.first?.request.leaseID, worker: worker, now: 30)
    guard case .send(_, .pushTask(_, let attempt, _, _))? = pushed.first else {
        Issue.record("rebuild not pushed: \(pushed)")
        return
    }
    #expect(attempt == 2)
    let rebuilt = reply(&owner, id, attempt: 2, .returned([.stored(node: NodeID(3), sizeBytes: 500_000)]), worker: worker, now: 40)
    #expect(rebuilt.contains(.send(to: .raylet(localNode), .fetchObjects(requestID: 1, objects: [object], owner: ownerWorker))))
    #expect(owner.objects[object]?.locations == [NodeID(3)])
}

@Test func nodeDeathAfterReleaseRebuildsNothing() {
    var owner = startedOwner()
    let id = run(&owner, worker: Build.worker(2, 1), outcome: .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]), now: 10)
    _ = owner.handle(.release(returnObject(id)), now: 15)
    #expect(owner.handle(.messageReceived(from: .gcs, .nodeDead(NodeID(2))), now: 20) == [])
    #expect(owner.metrics.reconstructions == 0)
}

@Test func putObjectLostWithItsNodeIsObjectLost() {
    var owner = startedOwner()
    let object = owner.nextPutID
    let value = Build.data(500_000)
    #expect(owner.handle(.put(value, node: NodeID(2)), now: 10)
        == [.send(to: .raylet(NodeID(2)), .storeRemoteObjects(requestID: 1, objects: [object], values: [value], owner: ownerWorker,
                                                              job: owner.identity.job))])
    #expect(object.isPut)
    _ = owner.handle(.messageReceived(from: .gcs, .nodeDead(NodeID(2))), now: 20)
    #expect(owner.metrics.reconstructions == 0)
    guard case .getResolved(object, .error(let error))? = owner.handle(.get(object), now: 30).first else {
        Issue.record("expected an error")
        return
    }
    #expect(error.kind == .objectLost)
}

@Test func smallPutIsHeldInline() {
    var owner = startedOwner()
    let object = owner.nextPutID
    let value = Build.data(100)
    #expect(owner.handle(.put(value, node: nil), now: 10) == [])
    #expect(owner.handle(.get(object), now: 20) == [.getResolved(object, .data(value))])
}

@Test func lineageIsReleasedOnceEveryHandleIsReleased() {
    var owner = startedOwner()
    let worker = Build.worker(2, 1)
    let a = run(&owner, worker: worker, outcome: .returned([.inline(Build.data(8))]), now: 10)
    let b = run(&owner, Build.task("g", args: [.reference(returnObject(a))]), worker: worker,
                outcome: .returned([.inline(Build.data(8))]), now: 20)
    #expect(owner.tasks.count == 2)
    #expect(owner.lineageBytes > 0)

    // b's lineage still needs a: releasing a keeps both specs.
    _ = owner.handle(.release(returnObject(a)), now: 30)
    #expect(owner.tasks[a] != nil)
    #expect(owner.tasks[b] != nil)
    #expect(owner.objects[returnObject(a)]?.freed == true)

    _ = owner.handle(.release(returnObject(b)), now: 40)
    #expect(owner.tasks.isEmpty)
    #expect(owner.objects.isEmpty)
    #expect(owner.lineageBytes == 0)
    #expect(owner.isQuiescent)
}

@Test func dependentTaskIsLeasedOnlyAfterItsArgumentsTaskReplies() {
    var owner = startedOwner()
    let (a, leaseA) = submit(&owner, Build.task(), now: 10)
    let argument = returnObject(a)
    let b = owner.nextTaskID
    #expect(owner.handle(.submitTask(Build.task("g", args: [.reference(argument)])), now: 11) == [])
    #expect(owner.tasks[b]?.state == .waitingForArguments(remaining: 1))
    let worker = Build.worker(2, 1)
    _ = grant(&owner, leaseA, worker: worker, now: 20)
    // Still waiting while a runs.
    #expect(owner.tasks[b]?.state == .waitingForArguments(remaining: 1))

    let value = Build.data(16)
    let effects = reply(&owner, a, attempt: 1, .returned([.inline(value)]), worker: worker, now: 30)
    let requests = leaseRequests(effects)
    #expect(requests.map(\.request.taskID) == [b])
    #expect(requests.first?.request.dependencies == [])
    // b runs on a's worker at once (lease reuse): its own request is cancelled, and the
    // inline argument is pushed by value.
    guard let spec = owner.tasks[b]?.spec, let leaseB = requests.first?.request.leaseID, let leaseA else { return }
    #expect(effects.suffix(2) == [
        .send(to: .raylet(NodeID(1)), .cancelWorkerLease(leaseB)),
        .send(to: .worker(worker), .pushTask(spec, attempt: 1, lease: leaseA, args: [.inline(value)])),
    ])
    #expect(!effects.contains { if case .send(_, .returnWorker) = $0 { return true } else { return false } })
    // A grant of the cancelled request that crossed the cancel is handed straight back.
    #expect(grant(&owner, leaseB, worker: Build.worker(2, 2), now: 40)
        == [.send(to: .raylet(NodeID(2)), .returnWorker(leaseB, killWorker: false))])
}

@Test func leaseReuseNeverCrossesAHardPlacementOrStoredArguments() {
    var owner = startedOwner()
    // A spread task's worker is not reused.
    let (a, leaseA) = submit(&owner, Build.task(strategy: .spread), now: 10)
    let (_, _) = submit(&owner, Build.task(strategy: .spread), now: 11)
    let worker = Build.worker(2, 1)
    _ = grant(&owner, leaseA, worker: worker, now: 20)
    let effects = reply(&owner, a, attempt: 1, .returned([.inline(Build.data(8))]), worker: worker, now: 30)
    #expect(effects.last == .send(to: .raylet(worker.node), .returnWorker(leaseA!, killWorker: false)))
    #expect(!effects.contains { if case .send(_, .pushTask) = $0 { return true } else { return false } })
}

@Test func dependentTaskOfStoredArgumentIsLeasedWhereTheArgumentLives() {
    var owner = startedOwner()
    let a = run(&owner, worker: Build.worker(2, 1), outcome: .returned([.stored(node: NodeID(2), sizeBytes: 1_000_000)]), now: 10)
    let argument = returnObject(a)
    let b = owner.nextTaskID
    let requests = leaseRequests(owner.handle(.submitTask(Build.task("g", args: [.reference(argument)])), now: 20))
    #expect(requests.map(\.node) == [NodeID(2)])
    #expect(requests.first?.request.dependencies == [argument])
    guard let spec = owner.tasks[b]?.spec, let lease = requests.first?.request.leaseID else { return }
    let worker = Build.worker(2, 2)
    #expect(grant(&owner, lease, worker: worker, now: 30)
        == [.send(to: .worker(worker), .pushTask(spec, attempt: 1, lease: lease, args: [.object(argument)]))])
}

@Test func dependentTaskOfFailedArgumentFailsWithTheArgumentsError() {
    var owner = startedOwner()
    let a = run(&owner, worker: Build.worker(2, 1), outcome: .applicationError("boom"), now: 10)
    let b = owner.nextTaskID
    let effects = owner.handle(.submitTask(Build.task("g", args: [.reference(returnObject(a))])), now: 20)
    #expect(leaseRequests(effects).isEmpty)
    #expect(owner.tasks[b]?.state == .failed)
    guard case .getResolved(_, .error(let error))? = owner.handle(.get(returnObject(b)), now: 30).first else {
        Issue.record("expected an error")
        return
    }
    #expect(error.kind == .taskFailed)
}

@Test func locateObjectAnswersWithLiveCopiesOrWhenTheObjectExists() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(), now: 10)
    let object = returnObject(id)
    // Pending: the raylet is answered once the task replies.
    #expect(owner.handle(.messageReceived(from: .raylet(NodeID(3)), .locateObject(object)), now: 20) == [])
    let worker = Build.worker(2, 1)
    _ = grant(&owner, lease, worker: worker, now: 30)
    let effects = reply(&owner, id, attempt: 1, .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]), worker: worker, now: 40)
    #expect(effects.contains(.send(to: .raylet(NodeID(3)), .objectLocation(object, .at([NodeID(2)])))))
    // Known: answered at once.
    #expect(owner.handle(.messageReceived(from: .raylet(NodeID(4)), .locateObject(object)), now: 50)
        == [.send(to: .raylet(NodeID(4)), .objectLocation(object, .at([NodeID(2)])))])
    // Unknown: freed.
    let unknown = Build.object(12345)
    #expect(owner.handle(.messageReceived(from: .raylet(NodeID(4)), .locateObject(unknown)), now: 60)
        == [.send(to: .raylet(NodeID(4)), .objectLocation(unknown, .freed))])
}

@Test func locationRemovedOfLastCopyRebuildsTheObject() {
    var owner = startedOwner()
    let id = run(&owner, worker: Build.worker(2, 1), outcome: .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]), now: 10)
    let effects = owner.handle(.messageReceived(from: .raylet(NodeID(2)), .locationRemoved(returnObject(id), node: NodeID(2))),
                               now: 20)
    #expect(leaseRequests(effects).map(\.request.taskID) == [id])
    #expect(owner.metrics.reconstructions == 1)
}

@Test func releaseWhileRunningFreesTheStoredResultWhenItArrives() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(), now: 10)
    let worker = Build.worker(2, 1)
    _ = grant(&owner, lease, worker: worker, now: 20)
    #expect(owner.handle(.release(returnObject(id)), now: 25) == [])
    #expect(owner.tasks[id] != nil)
    let effects = reply(&owner, id, attempt: 1, .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]), worker: worker,
                        now: 30)
    #expect(effects.contains(.send(to: .raylet(NodeID(2)), .freeObject(returnObject(id)))))
    #expect(owner.tasks.isEmpty)
    #expect(owner.objects.isEmpty)
}

@Test func nodeDeathWhileTaskRunsThereRetriesIt() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(maxRetries: 1), now: 10)
    _ = grant(&owner, lease, worker: Build.worker(2, 1), now: 20)
    let effects = owner.handle(.messageReceived(from: .gcs, .nodeDead(NodeID(2))), now: 30)
    #expect(leaseRequests(effects).map(\.request.taskID) == [id])
    #expect(leaseRequests(effects).map(\.node) == [localNode])
    #expect(owner.metrics.retries == 1)
    #expect(owner.tasks[id]?.retriesLeft == 0)
}

@Test func nodeDeathOfPendingLeaseTargetAsksTheLocalRayletAgain() {
    var owner = startedOwner()
    let (id, lease) = submit(&owner, Build.task(), now: 10)
    guard let lease else { return }
    _ = owner.handle(.messageReceived(from: .raylet(localNode), .leaseSpillback(lease, to: NodeID(3))), now: 20)
    let effects = owner.handle(.messageReceived(from: .gcs, .nodeDead(NodeID(3))), now: 30)
    #expect(leaseRequests(effects).map(\.node) == [localNode])
    #expect(leaseRequests(effects).map(\.request.taskID) == [id])
    // Not an attempt: nothing ran.
    #expect(owner.metrics.retries == 0)
    #expect(owner.tasks[id]?.attempts == 0)
}

@Test func lostObjectWithLostArgumentRebuildsTheArgumentFirst() {
    var owner = startedOwner()
    let a = run(&owner, worker: Build.worker(2, 1), outcome: .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]), now: 10)
    let b = run(&owner, Build.task("g", args: [.reference(returnObject(a))]), worker: Build.worker(2, 1),
                outcome: .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]), now: 20)
    // The program drops a; b's lineage keeps a's task.
    #expect(owner.handle(.release(returnObject(a)), now: 30) == [.send(to: .raylet(NodeID(2)), .freeObject(returnObject(a)))])
    #expect(owner.tasks[a] != nil)

    let effects = owner.handle(.messageReceived(from: .gcs, .nodeDead(NodeID(2))), now: 40)
    // a is rebuilt first; b waits for it.
    let requests = leaseRequests(effects)
    #expect(requests.map(\.request.taskID) == [a])
    #expect(owner.metrics.reconstructions == 2)
    #expect(owner.tasks[b]?.state == .waitingForArguments(remaining: 1))

    let worker = Build.worker(3, 1)
    _ = grant(&owner, requests.first?.request.leaseID, worker: worker, now: 50)
    let rebuiltA = reply(&owner, a, attempt: 2, .returned([.stored(node: NodeID(3), sizeBytes: 500_000)]), worker: worker, now: 60)
    let next = leaseRequests(rebuiltA)
    #expect(next.map(\.request.taskID) == [b])
    #expect(next.map(\.node) == [NodeID(3)])
    #expect(next.first?.request.dependencies == [returnObject(a)])

    _ = grant(&owner, next.first?.request.leaseID, worker: worker, now: 70)
    let rebuiltB = reply(&owner, b, attempt: 2, .returned([.stored(node: NodeID(3), sizeBytes: 500_000)]), worker: worker, now: 80)
    // a is not referenced by anyone once b is rebuilt: its new copy is freed.
    #expect(rebuiltB.contains(.send(to: .raylet(NodeID(3)), .freeObject(returnObject(a)))))
    #expect(owner.objects[returnObject(b)]?.locations == [NodeID(3)])
}

@Test func lostObjectWithoutRetriesLeftIsReconstructionFailed() {
    var owner = startedOwner()
    let id = run(&owner, Build.task(maxRetries: 0), worker: Build.worker(2, 1),
                 outcome: .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]), now: 10)
    let object = returnObject(id)
    #expect(leaseRequests(owner.handle(.messageReceived(from: .gcs, .nodeDead(NodeID(2))), now: 20)).isEmpty)
    #expect(owner.metrics.reconstructions == 0)
    guard case .getResolved(object, .error(let error))? = owner.handle(.get(object), now: 30).first else {
        Issue.record("expected an error")
        return
    }
    #expect(error.kind == .objectReconstructionFailed)
}

@Test func cancelFailsTasksNotStartedAndKillsRunningOnesOnlyWithForce() {
    var owner = startedOwner()
    // Leasing: its request is cancelled and the get fails with Cancelled.
    let (a, leaseA) = submit(&owner, Build.task(), now: 10)
    let objectA = returnObject(a)
    _ = owner.handle(.get(objectA), now: 11)
    let cancelled = owner.handle(.cancel(objectA, force: false, recursive: false), now: 12)
    #expect(cancelled.contains(.send(to: .raylet(NodeID(1)), .cancelWorkerLease(leaseA!))))
    #expect(cancelled.contains { if case .getResolved(objectA, .error(let error)) = $0 { return error.kind == .cancelled } else { return false } })
    #expect(owner.tasks[a]?.state == .failed)
    // A grant that crossed the cancel is handed back.
    #expect(grant(&owner, leaseA, worker: Build.worker(2, 1), now: 13)
        == [.send(to: .raylet(NodeID(2)), .returnWorker(leaseA!, killWorker: false))])

    // Running: left alone without force; with force its worker is killed and it is not retried.
    let (b, leaseB) = submit(&owner, Build.task(), now: 20)
    let worker = Build.worker(2, 2)
    _ = grant(&owner, leaseB, worker: worker, now: 21)
    #expect(owner.handle(.cancel(returnObject(b), force: false, recursive: false), now: 22) == [])
    #expect(owner.tasks[b]?.state == .running(leaseB!, worker: worker))
    let forced = owner.handle(.cancel(returnObject(b), force: true, recursive: false), now: 23)
    #expect(forced.contains(.send(to: .raylet(NodeID(2)), .returnWorker(leaseB!, killWorker: true))))
    #expect(owner.tasks[b]?.state == .failed)
    #expect(owner.handle(.peerDisconnected(.worker(worker)), now: 24).isEmpty)
    #expect(owner.metrics.retries == 0)

    // Waiting for an argument: dropped from the waiters; the argument's task finishing later
    // does not lease it.
    let (d, leaseD) = submit(&owner, Build.task(), now: 30)
    let c = owner.nextTaskID
    _ = owner.handle(.submitTask(Build.task("g", args: [.reference(returnObject(d))])), now: 31)
    #expect(owner.tasks[c]?.state == .waitingForArguments(remaining: 1))
    _ = owner.handle(.cancel(ObjectID.returnValue(of: c, index: 1), force: false, recursive: false), now: 32)
    #expect(owner.tasks[c]?.state == .failed)
    let other = Build.worker(2, 3)
    _ = grant(&owner, leaseD, worker: other, now: 33)
    let done = reply(&owner, d, attempt: 1, .returned([.inline(Build.data(8))]), worker: other, now: 34)
    #expect(leaseRequests(done).isEmpty)
    #expect(!done.contains { if case .send(_, .pushTask) = $0 { return true } else { return false } })
}

/// Ray's pipelining of lease requests per shape: at most 10 in flight; the rest wait parked in
/// the owner and run on workers that tasks of their shape free, with no message to a raylet.
@Test func leaseRequestsOfOneShapeArePipelinedAndParkedTasksReuseWorkers() {
    var owner = startedOwner()
    var requests: [LeaseAsk] = []
    var ids: [TaskID] = []
    for _ in 0..<25 {
        ids.append(owner.nextTaskID)
        requests += leaseRequests(owner.handle(.submitTask(Build.task()), now: 10))
    }
    #expect(requests.count == RayConfig().leaseRequestsPerShapeMax)
    #expect(owner.invariantViolation() == nil)
    // The first request is granted: its task runs; the grant frees a slot for a parked task.
    let worker = Build.worker(1, 1)
    let granted = grant(&owner, requests[0].request.leaseID, worker: worker, now: 20)
    #expect(granted.sends.contains { if case .pushTask(let spec, _, _, _) = $0.message { spec.taskID == ids[0] } else { false } })
    #expect(leaseRequests(granted).map(\.request.taskID) == [ids[10]])
    // It finishes: the oldest parked task runs on the same worker, nothing cancelled or returned.
    let replied = reply(&owner, ids[0], attempt: 1, .returned([.inline(Build.data(8))]), worker: worker, now: 30)
    #expect(replied.sends.contains { if case .pushTask(let spec, _, _, _) = $0.message { spec.taskID == ids[11] } else { false } })
    #expect(!replied.sends.contains { if case .cancelWorkerLease = $0.message { true } else { false } })
    #expect(!replied.sends.contains { if case .returnWorker = $0.message { true } else { false } })
    // Cancelling a parked task sends nothing (its raylet never heard of it); an in-flight one is cancelled.
    let parkedCancel = owner.handle(.cancel(returnObject(ids[20]), force: false, recursive: false), now: 40)
    #expect(!parkedCancel.sends.contains { if case .cancelWorkerLease = $0.message { true } else { false } })
    let sentCancel = owner.handle(.cancel(returnObject(ids[5]), force: false, recursive: false), now: 41)
    #expect(sentCancel.sends.contains { if case .cancelWorkerLease = $0.message { true } else { false } })
    #expect(leaseRequests(sentCancel).count == 1, "a parked task takes the cancelled one's slot")
    #expect(owner.invariantViolation() == nil)
}

/// Every queue bounded (issue 12): an owner has at most `leaseRequestsPerOwnerMax` lease requests
/// out at raylets, whatever their shapes; the rest are held in order and sent as requests end
/// (granted, spilled back, cancelled), a held one cancelled is never sent, and nothing is lost.
@Test func anOwnerHoldsLeaseRequestsPastItsBoundAndSendsThemInOrder() {
    var owner = Owner()
    var config = RayConfig()
    config.leaseRequestsPerOwnerMax = 4
    _ = owner.handle(.started(config, OwnerIdentity(worker: ownerWorker, job: JobID(1))), now: 0)
    // SPREAD tasks never share a request: each sends its own.
    var ids: [TaskID] = []
    var requests: [LeaseAsk] = []
    for _ in 0..<10 {
        ids.append(owner.nextTaskID)
        requests += leaseRequests(owner.handle(.submitTask(Build.task(strategy: .spread)), now: 10))
    }
    #expect(requests.map(\.request.taskID) == Array(ids.prefix(4)))
    #expect(owner.leaseRequestsOut.count == 4 && owner.heldLeaseRequests.count == 6)
    #expect(owner.invariantViolation() == nil)
    // A grant frees a slot: the oldest held request goes out.
    let granted = grant(&owner, requests[0].request.leaseID, worker: Build.worker(1, 1), now: 20)
    #expect(leaseRequests(granted).map(\.request.taskID) == [ids[4]])
    // A held task cancelled: no message (its raylet never heard of it), and it is never sent.
    let cancelled = owner.handle(.cancel(returnObject(ids[5]), force: false, recursive: false), now: 30)
    #expect(!cancelled.sends.contains { if case .cancelWorkerLease = $0.message { true } else { false } })
    #expect(owner.tasks[ids[5]]?.state == .failed)
    // A spillback: the request that replaces it waits its turn behind the held ones.
    let spilled = owner.handle(.messageReceived(from: .raylet(localNode),
                                                .leaseSpillback(requests[1].request.leaseID, to: NodeID(2))), now: 40)
    #expect(leaseRequests(spilled).map(\.request.taskID) == [ids[6]])
    #expect(owner.invariantViolation() == nil)
    // Cancelling one out sends its cancel and lets the next held one out.
    let out = owner.handle(.cancel(returnObject(ids[2]), force: false, recursive: false), now: 50)
    #expect(out.sends.contains { if case .cancelWorkerLease = $0.message { true } else { false } })
    #expect(leaseRequests(out).map(\.request.taskID) == [ids[7]])
    // Every remaining task's request goes out once the ones before it end.
    var sent = Set(requests.prefix(4).map(\.request.taskID)).union([ids[4], ids[6], ids[7]])
    var step: Int64 = 60
    while let lease = owner.leaseRequestsOut.sorted(by: { $0.index < $1.index }).first {
        step += 1
        sent.formUnion(leaseRequests(grant(&owner, lease, worker: Build.worker(1, UInt32(step)), now: step)).map(\.request.taskID))
        #expect(owner.invariantViolation() == nil)
    }
    #expect(sent == Set(ids).subtracting([ids[5]]))
    #expect(owner.heldLeaseRequests.isEmpty)
}

/// Swarm seed 8862: with one lease request out per owner, the request out was a task's whose
/// stored argument died with its node; it waited at its raylet for that argument, and the
/// argument's rebuild was held behind it — forever. A rebuild's request is never held (nor
/// counted in the bound), so the argument comes back and the waiting task runs.
@Test func aRebuildsLeaseRequestIsNeverHeldBehindRequestsThatWaitForWhatItRebuilds() {
    var owner = Owner()
    var config = RayConfig()
    config.leaseRequestsPerOwnerMax = 1
    _ = owner.handle(.started(config, OwnerIdentity(worker: ownerWorker, job: JobID(1))), now: 0)
    let first = run(&owner, worker: Build.worker(2, 1), outcome: .returned([.stored(node: NodeID(2), sizeBytes: 500_000)]),
                    now: 10)
    // The dependent task's request is the one out, spilled from the argument's node to node 4,
    // whose raylet will wait for the argument.
    let (dependent, firstLease) = submit(&owner, Build.task(args: [.reference(returnObject(first))]), now: 20)
    let spilled = owner.handle(.messageReceived(from: .raylet(NodeID(2)), .leaseSpillback(firstLease!, to: NodeID(4))),
                               now: 20)
    let dependentLease = leaseRequests(spilled).first?.request.leaseID
    #expect(leaseRequests(spilled).map(\.node) == [NodeID(4)] && owner.leaseRequestsOut == [dependentLease!])
    // A third task, not a rebuild, is held behind it.
    let (held, heldLease) = submit(&owner, Build.task(strategy: .spread), now: 21)
    #expect(heldLease == nil && owner.heldLeaseRequests.count == 1)
    // The argument's node dies: its rebuild goes out at once, past the bound, and is not counted.
    let died = owner.handle(.messageReceived(from: .gcs, .nodeDead(NodeID(2))), now: 30)
    #expect(leaseRequests(died).map(\.request.taskID) == [first])
    #expect(owner.leaseRequestsOut == [dependentLease!] && owner.rebuildRequestsOut.count == 1)
    #expect(owner.invariantViolation() == nil)
    // The rebuild's grant frees no bounded slot: the held task still waits for the dependent's.
    let rebuildLease = leaseRequests(died).first!.request.leaseID
    let granted = grant(&owner, rebuildLease, worker: Build.worker(3, 1), now: 40)
    #expect(leaseRequests(granted).isEmpty && owner.rebuildRequestsOut.isEmpty)
    _ = reply(&owner, first, attempt: 2, .returned([.stored(node: NodeID(3), sizeBytes: 500_000)]),
              worker: Build.worker(3, 1), now: 50)
    #expect(owner.objects[returnObject(first)]?.locations == [NodeID(3)])
    // The dependent's raylet now finds the argument; once granted, the held task goes out.
    let located = owner.handle(.messageReceived(from: .raylet(NodeID(4)), .locateObject(returnObject(first))), now: 60)
    #expect(located.contains(.send(to: .raylet(NodeID(4)), .objectLocation(returnObject(first), .at([NodeID(3)])))))
    let next = grant(&owner, dependentLease, worker: Build.worker(4, 1), now: 70)
    #expect(leaseRequests(next).map(\.request.taskID) == [held])
    #expect(owner.tasks[dependent].map { if case .running = $0.state { true } else { false } } == true)
    #expect(owner.invariantViolation() == nil)
}

/// Swarm seed 11479: a task's request went out with a stored argument (not counted among its
/// shape's requests in flight); the argument was gone (failed) when a raylet spilled the request
/// back, so the spilled request took the shape's pipeline past its cap of 10. Only a spillback of
/// a request in flight for the shape takes that one's place; this one waits under the cap.
@Test func aSpilledRequestThatWasNotInFlightForItsShapeWaitsUnderTheCap() {
    var owner = startedOwner()
    let put = owner.nextPutID
    _ = owner.handle(.put(Build.data(500_000), node: localNode), now: 1)
    // Ten shareable tasks fill the shape's pipeline.
    var shared: [LeaseAsk] = []
    for _ in 0..<10 { shared += leaseRequests(owner.handle(.submitTask(Build.task()), now: 2)) }
    #expect(shared.count == 10)
    // A task of the same shape with the stored put as argument: its request goes out, uncounted.
    let (dependent, lease) = submit(&owner, Build.task(args: [.reference(put)]), now: 3)
    #expect(lease != nil)
    // The put is refused (past a store quota): the argument is failed, no longer stored.
    _ = owner.handle(.messageReceived(from: .raylet(localNode), .objectsRefused(requestID: 1, objects: [put],
        RayError(.quotaExceeded, "job-1 holds too much"))), now: 4)
    // The raylet spills the dependent's request back: it is parked, not sent past the cap.
    let spilled = owner.handle(.messageReceived(from: .raylet(localNode), .leaseSpillback(lease!, to: NodeID(2))), now: 5)
    #expect(leaseRequests(spilled).isEmpty)
    #expect(owner.invariantViolation() == nil)
    // When a request in flight for the shape ends, the parked one goes out to where it was spilled.
    let granted = grant(&owner, shared[0].request.leaseID, worker: Build.worker(1, 1), now: 6)
    #expect(owner.invariantViolation() == nil)
    let sent = leaseRequests(granted)
    #expect(sent.map(\.request.taskID) == [dependent] && sent.map(\.node) == [NodeID(2)])
}
