// The per-job quota of bytes in a node's object store (issue 12; RayConfig.storeBytesPerJob*):
// the raylet charges each primary copy a process of its node stores to that process's job,
// counts stores past the soft limit, refuses those past the hard one before keeping anything,
// and the storer hears why (an owner fails its put, an executor its task).

import Testing
@testable import RayCore

private let driverA = Build.worker(1, 900)  // job 1
private let driverB = Build.worker(1, 901)  // job 2

private func quotaRaylet(soft: Int64 = 600, hard: Int64 = 1_000, storeBytes: Int64 = 10_000) -> Raylet {
    var config = RayConfig()
    config.storeBytesPerJobSoftMax = soft
    config.storeBytesPerJobHardMax = hard
    var raylet = Build.raylet(Build.node(1, storeBytes: storeBytes), config: config)
    _ = raylet.handle(.driverConnected(driverA, job: JobID(1)), now: 1)
    _ = raylet.handle(.driverConnected(driverB, job: JobID(2)), now: 1)
    return raylet
}

private func put(_ raylet: inout Raylet, _ object: ObjectID, _ size: Int64, by driver: WorkerID,
                 requestID: UInt64, now: Int64) -> [RayletEffect] {
    raylet.handle(.messageReceived(from: .worker(driver), .storeObjects(
        requestID: requestID, objects: [object], values: [Build.data(size)], owner: driver)), now: now)
}

private func refusal(_ effects: [RayletEffect]) -> RayError? {
    for effect in effects {
        if case .send(_, .objectsRefused(_, _, let error)) = effect { return error }
    }
    return nil
}

@Test func aJobPastItsStoreQuotaIsRefusedWhileAnotherJobStores() {
    var raylet = quotaRaylet()
    let a = (1...4).map { Build.object(UInt64($0)) }
    #expect(put(&raylet, a[0], 500, by: driverA, requestID: 1, now: 10)
        == [.send(to: .worker(driverA), .objectsStored(requestID: 1))])
    #expect(raylet.store.bytesByJob[JobID(1)] == 500)
    #expect(raylet.metrics.storesOverSoftQuota == 0)

    // 800 bytes: past the soft limit, counted, kept.
    #expect(refusal(put(&raylet, a[1], 300, by: driverA, requestID: 2, now: 20)) == nil)
    #expect(raylet.metrics.storesOverSoftQuota == 1)
    #expect(raylet.store.bytesByJob[JobID(1)] == 800)

    // 1 100 bytes would pass the hard limit: nothing kept, what was written released, the put refused.
    let effects = put(&raylet, a[2], 300, by: driverA, requestID: 3, now: 30)
    #expect(effects.first == .releaseObject(a[2]))
    let error = refusal(effects)
    #expect(error?.kind == .quotaExceeded)
    #expect(error?.message.contains("job-1 holds 800 bytes") == true)
    #expect(error?.message.contains("SWIFTRAY_STORE_BYTES_PER_JOB_HARD") == true)
    #expect(effects.last == .send(to: .worker(driverA), .objectsRefused(requestID: 3, objects: [a[2]], error!)))
    #expect(raylet.store[a[2]] == nil)
    #expect(raylet.metrics.storesRefused == 1)
    #expect(raylet.store.bytesByJob[JobID(1)] == 800)

    // Another job's store is its own.
    #expect(put(&raylet, Build.object(50), 900, by: driverB, requestID: 1, now: 40)
        == [.send(to: .worker(driverB), .objectsStored(requestID: 1))])
    #expect(raylet.store.bytesByJob[JobID(2)] == 900)

    // A copy already here adds nothing; a free makes room.
    #expect(refusal(put(&raylet, a[0], 500, by: driverA, requestID: 4, now: 50)) == nil)
    #expect(raylet.store.bytesByJob[JobID(1)] == 800)
    _ = raylet.handle(.messageReceived(from: .worker(driverA), .freeObject(a[0])), now: 60)
    #expect(raylet.store.bytesByJob[JobID(1)] == 300)
    #expect(refusal(put(&raylet, a[3], 600, by: driverA, requestID: 5, now: 70)) == nil)
    #expect(raylet.store.bytesByJob[JobID(1)] == 900)
}

@Test func spilledBytesStillCountAgainstTheJobAndAnUnknownSenderIsNotCharged() {
    // A store of 1 000 bytes spills above 800: the job's spilled copies still count.
    var raylet = quotaRaylet(soft: 2_000, hard: 2_500, storeBytes: 1_000)
    for index in 1...4 {
        #expect(refusal(put(&raylet, Build.object(UInt64(index)), 600, by: driverA, requestID: UInt64(index),
                            now: Int64(index) * 10)) == nil)
    }
    #expect(raylet.store.spilledBytes > 0)
    #expect(raylet.store.bytesByJob[JobID(1)] == 2_400)
    #expect(refusal(put(&raylet, Build.object(5), 600, by: driverA, requestID: 5, now: 50))?.kind == .quotaExceeded)

    // A process the raylet does not know (not spawned here, no driver hello) is not charged.
    let stranger = Build.worker(1, 7)
    #expect(refusal(put(&raylet, Build.object(6), 600, by: stranger, requestID: 1, now: 60)) == nil)
    #expect(raylet.store.bytesByJob.count == 1)

    // A finished job's drivers are forgotten.
    _ = raylet.handle(.messageReceived(from: .gcs, .jobFinished(JobID(1))), now: 70)
    #expect(raylet.driverJobs[driverA] == nil)
    #expect(raylet.driverJobs[driverB] == JobID(2))
}

@Test func theDefaultQuotaIsAMultipleOfTheStoreAndNeverReachedByAFullStore() {
    let config = RayConfig()
    #expect(config.storeBytesPerJobSoft(capacity: 1_000) == 4_000)
    #expect(config.storeBytesPerJobHard(capacity: 1_000) == 16_000)
    var raylet = Build.raylet(Build.node(1, storeBytes: 1_000))
    _ = raylet.handle(.driverConnected(driverA, job: JobID(1)), now: 1)
    for index in 1...17 {  // 15 300 bytes, mostly spilled
        #expect(refusal(put(&raylet, Build.object(UInt64(index)), 900, by: driverA, requestID: UInt64(index),
                            now: Int64(index))) == nil)
    }
    #expect(raylet.metrics.storesOverSoftQuota > 0)
    #expect(refusal(put(&raylet, Build.object(18), 900, by: driverA, requestID: 18, now: 20)) != nil)
}

@Test func anExecutorWhoseReturnValuesAreRefusedFailsItsTaskWithTheQuotaError() {
    let owner = Build.worker(1, 100)
    var executor = Executor()
    _ = executor.handle(.started(RayConfig(), Build.worker(2, 3)), now: 0)
    let spec = Build.spec(1, owner: owner)
    _ = executor.handle(.messageReceived(from: .worker(owner), .pushTask(spec, attempt: 1, lease: LeaseID(owner: owner, index: 1),
                                                                          args: [])), now: 10)
    let result = Build.data(200_000)
    _ = executor.handle(.executionFinished(spec.taskID, attempt: 1, .returned([result])), now: 20)
    let error = RayError(.quotaExceeded, "job-1 holds too much")
    #expect(executor.handle(.messageReceived(from: .raylet(NodeID(2)), .objectsRefused(requestID: 9, objects: [], error)),
                            now: 25) == [])
    #expect(executor.handle(.messageReceived(from: .raylet(NodeID(2)),
                                             .objectsRefused(requestID: 1, objects: Array(spec.returnIDs), error)), now: 30)
        == [.send(to: .worker(owner), .taskReply(spec.taskID, attempt: 1, .argumentFailed(error), borrowed: []))])
    #expect(!executor.isBusy)
}

@Test func anOwnerFailsARefusedPutWithTheQuotaErrorAndIgnoresOtherSenders() {
    let me = Build.worker(1, 100)
    var owner = Owner()
    _ = owner.handle(.started(RayConfig(), OwnerIdentity(worker: me, job: JobID(1))), now: 0)
    let object = owner.nextPutID
    _ = owner.handle(.put(Build.data(500_000), node: nil), now: 10)
    let error = RayError(.quotaExceeded, "job-1 holds too much")
    // Not from a raylet: dropped and counted. From a raylet where the copy was not to be: ignored.
    _ = owner.handle(.messageReceived(from: .worker(Build.worker(1, 5)), .objectsRefused(requestID: 1, objects: [object], error)),
                     now: 15)
    #expect(owner.metrics.forgedMessages == 1)
    _ = owner.handle(.messageReceived(from: .raylet(NodeID(3)), .objectsRefused(requestID: 1, objects: [object], error)), now: 16)
    guard case .stored = owner.objects[object]?.state else {
        Issue.record("the put failed on a refusal that was not its raylet's")
        return
    }
    _ = owner.handle(.messageReceived(from: .raylet(NodeID(1)), .objectsRefused(requestID: 1, objects: [object], error)), now: 20)
    #expect(owner.handle(.get(object), now: 30) == [.getResolved(object, .error(error))])
}

/// A put an owner on another node places here (`storeRemoteObjects`) is charged to the job it
/// names — this raylet cannot tell a remote process's job; the sender's raylet checked the name
/// as it relayed it — and refused past that job's hard quota like a local store. A local process
/// naming another job than its own is dropped as forged.
@Test func aPutPlacedFromAnotherNodeIsChargedToItsOwnersJob() {
    var raylet = quotaRaylet()
    let remoteOwner = Build.worker(2, 900)
    func place(_ object: ObjectID, _ size: Int64, by owner: WorkerID, job: JobID, requestID: UInt64,
               now: Int64) -> [RayletEffect] {
        raylet.handle(.messageReceived(from: .worker(owner), .storeRemoteObjects(
            requestID: requestID, objects: [object], values: [Build.data(size)], owner: owner, job: job)), now: now)
    }
    #expect(place(Build.object(1), 700, by: remoteOwner, job: JobID(7), requestID: 1, now: 10)
        == [.send(to: .worker(remoteOwner), .objectsStored(requestID: 1))])
    #expect(raylet.store.bytesByJob[JobID(7)] == 700)
    #expect(raylet.store[Build.object(1)]?.owner == remoteOwner)
    let effects = place(Build.object(2), 400, by: remoteOwner, job: JobID(7), requestID: 2, now: 20)
    #expect(refusal(effects)?.message.contains("job-7 holds 700 bytes") == true)
    #expect(raylet.store[Build.object(2)] == nil)
    // A local driver of job 1 naming job 2: forged, nothing stored or charged, what it wrote released.
    #expect(place(Build.object(3), 100, by: driverA, job: JobID(2), requestID: 3, now: 30) == [.releaseObject(Build.object(3))])
    // A plain store from another node's process (naming no job) is dropped as forged too.
    #expect(raylet.handle(.messageReceived(from: .worker(remoteOwner), .storeObjects(
        requestID: 4, objects: [Build.object(4)], values: [Build.data(10)], owner: remoteOwner)), now: 40)
        == [.releaseObject(Build.object(4))])
    #expect(raylet.metrics.forgedMessages == 2)
    #expect(raylet.store[Build.object(3)] == nil && raylet.store.bytesByJob[JobID(2)] == nil)
}

/// A detached actor outlives its job: what it returns to a caller of another job is stored and
/// kept after its job ended (its owner, the caller, frees it); a late store from a process of
/// the ended job that no longer runs here is still released.
@Test func aDetachedActorOfAnEndedJobStillStoresWhatItReturns() throws {
    var raylet = quotaRaylet()
    let prestarted = Build.startWorkers(&raylet, job: JobID(1), now: 2)
    let task = TaskID.child(of: .driver(of: JobID(1)), index: 1)
    let spec = ActorSpec(creation: TaskSpec(taskID: task, jobID: JobID(1), function: "Keeper", instance: 1, args: [],
                                            returnCount: 1, resources: Build.cpus(1), strategy: .default, maxRetries: 0,
                                            retryExceptions: false, body: [], owner: driverA),
                         options: ActorOptions(name: "keeper", detached: true))
    _ = raylet.handle(.messageReceived(from: .gcs, .createActor(spec, incarnation: 0)), now: 3)
    let host = try #require(raylet.workers.first { if case .actor = $0.value { true } else { false } }?.key)
    #expect(raylet.hostsDetachedActor(host))
    _ = raylet.handle(.messageReceived(from: .gcs, .jobFinished(JobID(1))), now: 10)
    #expect(raylet.workers[host] != nil, "a detached actor's worker outlives its job")

    // Its result for a caller of job 2: kept, and the actor hears it was stored.
    let result = Build.object(50)
    let effects = raylet.handle(.messageReceived(from: .worker(host), .storeObjects(
        requestID: 9, objects: [result], values: [Build.data(400)], owner: driverB)), now: 20)
    #expect(!effects.contains(.releaseObject(result)), "\(effects)")
    #expect(effects.contains(.send(to: .worker(host), .objectsStored(requestID: 9))), "\(effects)")
    #expect(raylet.store[result] != nil)

    // A late store from one of the job's workers that ended with it: released, as before.
    let gone = try #require(prestarted.first { $0 != host })
    #expect(raylet.workers[gone] == nil)
    let late = Build.object(51)
    #expect(raylet.handle(.messageReceived(from: .worker(gone), .storeObjects(
        requestID: 10, objects: [late], values: [Build.data(10)], owner: driverB)), now: 30) == [.releaseObject(late)])
    #expect(raylet.store[late] == nil)
}
