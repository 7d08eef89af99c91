// The per-job rate of object requests at a raylet (issue 12: rate limits per operation at the
// raylets; Raylet+ObjectRate.swift): past the rate a job's fetches and stores wait, in order,
// before anything is fetched, pinned or stored, and are served as the bucket refills; past the
// delayed bound they are refused (QuotaExceeded naming the settings). Another job has its own
// bucket; a fetch released while it waits is never served; what a gone process's delayed store
// wrote is released.

import Testing
@testable import RayCore

private let driverA = Build.worker(1, 900)  // job 1
private let driverB = Build.worker(1, 901)  // job 2
private let stored = ObjectID.returnValue(of: TaskID(value: 77), index: 1)

private func rateRaylet(perSecond: Int = 2, delayed: Int = 3) -> Raylet {
    var config = RayConfig()
    config.objectRequestsPerSecondPerJobMax = perSecond
    config.objectRequestsDelayedPerJobMax = delayed
    var raylet = Build.raylet(Build.node(1, cpus: 4), config: config)
    _ = raylet.handle(.driverConnected(driverA, job: JobID(1)), now: 1)
    _ = raylet.handle(.driverConnected(driverB, job: JobID(2)), now: 1)
    return raylet
}

private func fetch(_ raylet: inout Raylet, _ requestID: UInt64, by driver: WorkerID = driverA, now: Int64) -> [RayletEffect] {
    raylet.handle(.messageReceived(from: .worker(driver), .fetchObjects(requestID: requestID, objects: [stored],
                                                                         owner: driverA)), now: now)
}

private func put(_ raylet: inout Raylet, _ requestID: UInt64, _ object: ObjectID, by driver: WorkerID = driverA,
                 now: Int64) -> [RayletEffect] {
    raylet.handle(.messageReceived(from: .worker(driver), .storeObjects(requestID: requestID, objects: [object],
        values: [ObjectData(sizeBytes: 200_000, digest: object.task.value)], owner: driver)), now: now)
}

/// The request IDs answered with values (not errors) among `effects`.
private func served(_ effects: [RayletEffect]) -> [UInt64] {
    effects.compactMap { effect in
        guard case .send(_, .objectsReady(let id, let values)) = effect,
              values.allSatisfy({ if case .data = $0 { true } else { false } }) else { return nil }
        return id
    }
}

@Test func aJobPastItsObjectRequestRateWaitsInOrderThenIsRefusedWhileAnotherJobIsNot() {
    var raylet = rateRaylet()
    // A put and a fetch use the job's two credits.
    #expect(put(&raylet, 1, stored, now: 10).contains(.send(to: .worker(driverA), .objectsStored(requestID: 1))))
    #expect(served(fetch(&raylet, 2, now: 10)) == [2])
    // The next three wait: nothing fetched or pinned, the job's timer armed for the next credit.
    #expect(fetch(&raylet, 3, now: 10) == [.startTimer(.objectRequests(JobID(1)), afterMicros: 500_000)])
    #expect(fetch(&raylet, 4, now: 10) == [])
    #expect(fetch(&raylet, 5, now: 10) == [])
    #expect(raylet.delayedObjectRequestCount == 3 && raylet.fetches.count == 1)
    // Past the delayed bound: refused at once, naming both settings.
    let refused = fetch(&raylet, 6, now: 11)
    guard case .send(.worker(driverA), .objectsReady(6, let values))? = refused.first, case .error(let error)? = values.first else {
        Issue.record("not refused: \(refused)")
        return
    }
    #expect(error.kind == .quotaExceeded)
    #expect(error.message.contains("SWIFTRAY_OBJECT_REQUESTS_PER_SECOND") && error.message.contains("SWIFTRAY_OBJECT_REQUESTS_DELAYED"))
    #expect(raylet.metrics.objectRequestsDelayed == 3 && raylet.metrics.objectRequestsRefused == 1)
    // Another job has its own bucket.
    #expect(served(fetch(&raylet, 1, by: driverB, now: 12)) == [1])
    // A delayed fetch released before its turn is never served.
    #expect(raylet.handle(.messageReceived(from: .worker(driverA), .releaseFetch(requestID: 4)), now: 13) == [])
    #expect(raylet.invariantViolation() == nil)
    // As the bucket refills, the waiting ones are served in order (the released one skipped, free).
    let first = raylet.handle(.timerFired(.objectRequests(JobID(1))), now: 500_010)
    #expect(served(first) == [3])
    #expect(first.contains(.startTimer(.objectRequests(JobID(1)), afterMicros: 500_000)))
    let second = raylet.handle(.timerFired(.objectRequests(JobID(1))), now: 1_000_010)
    #expect(served(second) == [5])
    #expect(!second.contains { if case .startTimer = $0 { true } else { false } })
    #expect(raylet.delayedObjectRequestCount == 0 && raylet.fetches.count == 4)
    #expect(raylet.invariantViolation() == nil)
}

@Test func aDelayedStoreIsStoredInItsTurnOrReleasedWhenItsProcessIsGone() {
    var raylet = rateRaylet(perSecond: 1)
    let first = ObjectID.put(by: TaskID(value: 500), index: 1)
    let second = ObjectID.put(by: TaskID(value: 500), index: 2)
    let third = ObjectID.put(by: TaskID(value: 500), index: 3)
    _ = put(&raylet, 1, first, now: 10)
    #expect(put(&raylet, 2, second, now: 10) == [.startTimer(.objectRequests(JobID(1)), afterMicros: 1_000_000)])
    #expect(raylet.store[second] == nil)
    // In its turn, the store happens and is confirmed.
    let due = raylet.handle(.timerFired(.objectRequests(JobID(1))), now: 1_000_010)
    #expect(due.contains(.send(to: .worker(driverA), .objectsStored(requestID: 2))) && raylet.store[second] != nil)
    // Another waits; its process dies first: what it wrote is released, and nothing is stored.
    _ = put(&raylet, 3, third, now: 1_000_020)
    #expect(raylet.delayedObjectRequestCount == 1)
    let died = raylet.handle(.messageReceived(from: .gcs, .workerDied(driverA)), now: 1_000_030)
    #expect(died.contains(.releaseObject(third)))
    #expect(raylet.delayedObjectRequestCount == 0)
    #expect(!raylet.handle(.timerFired(.objectRequests(JobID(1))), now: 3_000_000)
        .contains { if case .send(_, .objectsStored) = $0 { true } else { false } })
    #expect(raylet.store[third] == nil)
    #expect(raylet.invariantViolation() == nil)
}

/// Swarm seed 12240: a task's worker fetched its argument past the job's rate (delayed), then a
/// forced cancel had the raylet kill it; the delayed fetch was served later for nobody and stayed
/// open. A worker the raylet kills has its delayed fetches and stores dropped with its fetches.
@Test func aKilledWorkersDelayedFetchIsDroppedWithIt() {
    var raylet = rateRaylet(perSecond: 1)
    Build.startWorkers(&raylet, job: JobID(1), now: 2)
    _ = put(&raylet, 1, stored, now: 4)  // The job's one credit.
    let lease = LeaseID(owner: driverA, index: 1)
    guard let worker = Build.grantedWorker(&raylet, 1, owner: driverA, now: 5) else { return }
    #expect(fetch(&raylet, 1, by: worker, now: 6) == [.startTimer(.objectRequests(JobID(1)), afterMicros: 999_998)])
    _ = raylet.handle(.messageReceived(from: .worker(driverA), .returnWorker(lease, killWorker: true)), now: 7)
    _ = raylet.handle(.workerExited(worker), now: 8)
    #expect(raylet.delayedObjectRequestCount == 0)
    #expect(served(raylet.handle(.timerFired(.objectRequests(JobID(1))), now: 2_000_000)).isEmpty)
    #expect(raylet.fetches.isEmpty && raylet.invariantViolation() == nil)
}

/// Soft quota (issue 12: "soft (warn, slow down)"): while a job holds more than its soft quota of
/// bytes in a node's store, each of its stores there costs ten of its rate — slowed down to a
/// tenth — and a refusal says so; its fetches still cost one.
@Test func aJobPastItsSoftStoreQuotaHasItsStoresSlowedDownToATenth() {
    var config = RayConfig()
    config.objectRequestsPerSecondPerJobMax = 20
    config.objectRequestsDelayedPerJobMax = 1
    config.storeBytesPerJobSoftMax = 300_000
    var raylet = Build.raylet(Build.node(1, cpus: 4), config: config)
    _ = raylet.handle(.driverConnected(driverA, job: JobID(1)), now: 1)
    let objects = (1...5).map { ObjectID.put(by: TaskID(value: 600), index: UInt32($0)) }
    // Two stores within the soft quota cost one each (18 credits left); the third passes it
    // (400 000 bytes held) and costs ten (8 left).
    for index in 0..<3 {
        #expect(put(&raylet, UInt64(index + 1), objects[index], now: 10)
            .contains(.send(to: .worker(driverA), .objectsStored(requestID: UInt64(index + 1)))))
    }
    // The fourth needs ten: it waits the 100 ms the two missing credits take.
    #expect(put(&raylet, 4, objects[3], now: 10) == [.startTimer(.objectRequests(JobID(1)), afterMicros: 100_000)])
    // Past the delayed bound, the refusal says the job is slowed down and why.
    let refused = put(&raylet, 5, objects[4], now: 11)
    guard case .send(_, .objectsRefused(5, _, let error))? = refused.last else {
        Issue.record("not refused: \(refused)")
        return
    }
    #expect(error.message.contains("slowed down to a tenth of it while it holds more than its soft quota of 300000 bytes")
            && error.message.contains("SWIFTRAY_STORE_BYTES_PER_JOB_SOFT"), "\(error.message)")
    // In its turn the fourth is stored.
    #expect(raylet.handle(.timerFired(.objectRequests(JobID(1))), now: 100_010)
        .contains(.send(to: .worker(driverA), .objectsStored(requestID: 4))))
    #expect(raylet.invariantViolation() == nil)
}
