// The per-job rate of lease requests at a raylet (issue 12: rate limits per operation at the
// raylets; Raylet+RequestRate.swift): past the rate a job's requests wait, in order, before the
// scheduler sees them, and are taken up as the bucket refills; past the delayed bound they are
// refused (`leaseRefused`, QuotaExceeded naming the settings). Another job has its own bucket.

import Testing
@testable import RayCore

private let driverA = Build.worker(1, 900)  // job 1
private let driverB = Build.worker(1, 901)  // job 2

private func rateRaylet(perSecond: Int = 4, delayed: Int = 3) -> Raylet {
    var config = RayConfig()
    config.leaseRequestsPerSecondPerJobMax = perSecond
    config.leaseRequestsDelayedPerJobMax = delayed
    var raylet = Build.raylet(Build.node(1, cpus: 64), config: config)
    raylet.programs[JobID(2)] = "2 /bin/test-program"
    _ = raylet.handle(.driverConnected(driverA, job: JobID(1)), now: 1)
    _ = raylet.handle(.driverConnected(driverB, job: JobID(2)), now: 1)
    return raylet
}

private func ask(_ raylet: inout Raylet, _ index: UInt64, by driver: WorkerID = driverA, job: JobID = JobID(1),
                 now: Int64) -> [RayletEffect] {
    raylet.handle(.messageReceived(from: .worker(driver), .requestWorkerLease(
        Build.lease(index, owner: driver, job: job))), now: now)
}

private func refused(_ effects: [RayletEffect]) -> RayError? {
    for effect in effects {
        if case .send(_, .leaseRefused(_, let error)) = effect { return error }
    }
    return nil
}

/// Requests that reached the scheduler (queued, a worker starting for them, or granted).
private func placed(_ raylet: Raylet) -> Int { raylet.heldLeaseIDs.count - raylet.delayedLeaseCount }

@Test func aJobPastItsLeaseRequestRateWaitsInOrderThenIsRefusedWhileAnotherJobIsNot() {
    var raylet = rateRaylet()
    for index in 1...4 { #expect(refused(ask(&raylet, UInt64(index), now: 10)) == nil) }
    #expect(placed(raylet) == 4)
    #expect(raylet.delayedLeaseCount == 0)

    // The fifth finds the bucket empty: held back, and the job's timer armed for the next credit.
    let fifth = ask(&raylet, 5, now: 10)
    #expect(fifth == [.startTimer(.leaseRequests(JobID(1)), afterMicros: 250_000)])
    #expect(ask(&raylet, 6, now: 10) == [])
    #expect(ask(&raylet, 7, now: 10) == [])
    #expect(raylet.delayedLeaseCount == 3)
    #expect(placed(raylet) == 4)
    #expect(raylet.metrics.leaseRequestsDelayed == 3)
    // A duplicate of a delayed request is ignored.
    #expect(ask(&raylet, 6, now: 11) == [])
    #expect(raylet.delayedLeaseCount == 3)

    // Past the delayed bound: refused at once, naming both settings.
    let effects = ask(&raylet, 8, now: 12)
    let error = refused(effects)
    #expect(error?.kind == .quotaExceeded)
    #expect(error?.message.contains("job-1 sent node-1 lease requests faster than its rate limit of 4 per second") == true,
            "\(String(describing: error))")
    #expect(error?.message.contains("SWIFTRAY_LEASE_REQUESTS_PER_SECOND") == true)
    #expect(error?.message.contains("SWIFTRAY_LEASE_REQUESTS_DELAYED") == true)
    #expect(effects == [.send(to: .worker(driverA), .leaseRefused(LeaseID(owner: driverA, index: 8), error!))])
    #expect(raylet.metrics.leaseRequestsRefused == 1)

    // Another job has its own bucket.
    #expect(ask(&raylet, 1, by: driverB, job: JobID(2), now: 13).contains { if case .spawnWorker = $0 { true } else { false } })
    #expect(placed(raylet) == 5)

    // One cancelled while it waits is forgotten and takes no credit.
    _ = raylet.handle(.messageReceived(from: .worker(driverA), .cancelWorkerLease(LeaseID(owner: driverA, index: 6))), now: 20)
    #expect(raylet.delayedLeaseCount == 2)

    // 250 ms later one credit: the fifth is placed, in order, and the timer armed again.
    let due = raylet.handle(.timerFired(.leaseRequests(JobID(1))), now: 250_010)
    #expect(placed(raylet) == 6)
    #expect(raylet.delayedLeaseCount == 1)
    #expect(due.last == .startTimer(.leaseRequests(JobID(1)), afterMicros: 250_000))
    // The next credit skips the cancelled sixth and places the seventh; nothing waits, no timer.
    let next = raylet.handle(.timerFired(.leaseRequests(JobID(1))), now: 500_010)
    #expect(placed(raylet) == 7)
    #expect(raylet.delayedLeaseCount == 0)
    #expect(!next.contains { if case .startTimer(.leaseRequests, _) = $0 { true } else { false } })
    #expect(raylet.heldLeaseIDs.contains(LeaseID(owner: driverA, index: 7)))
    #expect(!raylet.heldLeaseIDs.contains(LeaseID(owner: driverA, index: 6)))
}

@Test func delayedLeaseRequestsGoWithTheirOwnerOrTheirJob() {
    var raylet = rateRaylet(perSecond: 1, delayed: 10)
    _ = ask(&raylet, 1, now: 10)
    for index in 2...4 { _ = ask(&raylet, UInt64(index), now: 10) }
    #expect(raylet.delayedLeaseCount == 3)
    // The owner died: its delayed requests go, and its turn takes no credit.
    _ = raylet.handle(.messageReceived(from: .gcs, .workerDied(driverA)), now: 20)
    #expect(raylet.delayedLeaseCount == 0)
    #expect(raylet.heldLeaseIDs.allSatisfy { $0.owner != driverA })
    let due = raylet.handle(.timerFired(.leaseRequests(JobID(1))), now: 1_000_010)
    #expect(!due.contains { if case .startTimer(.leaseRequests, _) = $0 { true } else { false } })
    #expect(placed(raylet) == 0)

    // A job that ends drops its bucket and what waits; a timer that fires later does nothing.
    _ = ask(&raylet, 1, by: driverB, job: JobID(2), now: 2_000_000)
    _ = ask(&raylet, 2, by: driverB, job: JobID(2), now: 2_000_000)
    #expect(raylet.delayedLeaseCount == 1)
    _ = raylet.handle(.messageReceived(from: .gcs, .jobFinished(JobID(2))), now: 2_000_010)
    #expect(raylet.delayedLeaseCount == 0)
    #expect(raylet.leaseRates[JobID(2)] == nil)
    #expect(raylet.handle(.timerFired(.leaseRequests(JobID(2))), now: 3_000_000) == [])
    #expect(raylet.heldLeaseIDs.isEmpty)
}

@Test func theDefaultRateNeverDelaysAnOwnerWithinItsOwnBound() {
    // An owner keeps at most 1 000 requests out; the default rate holds 50 000 a second.
    var raylet = Build.raylet(Build.node(1, cpus: 64))
    _ = raylet.handle(.driverConnected(driverA, job: JobID(1)), now: 1)
    for index in 1...1_000 { _ = ask(&raylet, UInt64(index), now: 10) }
    #expect(raylet.delayedLeaseCount == 0)
    #expect(raylet.metrics.leaseRequestsDelayed == 0)
    #expect(placed(raylet) == 1_000)
}

@Test func aJobPastItsQueuedBoundIsSlowedDownUntilItsQueueDrainsThenRefused() {
    var config = RayConfig()
    config.leaseRequestsQueuedPerJobMax = 2
    config.leaseRequestsDelayedPerJobMax = 3
    var raylet = Build.raylet(Build.node(1, cpus: 1), config: config)
    raylet.programs[JobID(2)] = "2 /bin/test-program"
    _ = raylet.handle(.driverConnected(driverA, job: JobID(1)), now: 1)
    _ = raylet.handle(.driverConnected(driverB, job: JobID(2)), now: 1)
    // The first takes the one CPU (its worker starts); two more queue: the job's soft limit.
    let first = ask(&raylet, 1, now: 10)
    guard case .spawnWorker(let worker, _)? = first.first(where: { if case .spawnWorker = $0 { true } else { false } }) else {
        Issue.record("expected a worker to start, got \(first)")
        return
    }
    _ = ask(&raylet, 2, now: 10)
    _ = ask(&raylet, 3, now: 10)
    #expect(raylet.queuedLeases(of: JobID(1)) == 2)
    // Past it the job is slowed down: held back (no timer: it waits for room, not credit).
    #expect(ask(&raylet, 4, now: 10) == [])
    #expect(ask(&raylet, 5, now: 10) == [])
    #expect(ask(&raylet, 6, now: 10) == [])
    #expect(raylet.delayedLeaseCount == 3)
    #expect(raylet.queuedLeases(of: JobID(1)) == 2)
    // The hard limit: refused, naming the queue bound's setting too.
    let error = refused(ask(&raylet, 7, now: 10))
    #expect(error?.message.contains("job-1 has 2 lease requests of {CPU: 1} queued at node-1, its soft limit") == true
            && error?.message.contains("SWIFTRAY_LEASE_REQUESTS_QUEUED") == true
            && error?.message.contains("3 of its requests already wait there") == true, "\(String(describing: error))")
    // Another job is not held back by this one's queue.
    _ = ask(&raylet, 1, by: driverB, job: JobID(2), now: 11)
    #expect(raylet.queuedLeases(of: JobID(2)) == 1)
    #expect(raylet.delayedLeaseCount == 3)

    // The worker starts and runs the first; its return frees the CPU: the second is granted,
    // and the fourth takes its place in the queue, in order.
    _ = raylet.handle(.workerStarted(worker), now: 20)
    #expect(raylet.leases[LeaseID(owner: driverA, index: 1)] != nil)
    _ = raylet.handle(.messageReceived(from: .worker(driverA), .returnWorker(LeaseID(owner: driverA, index: 1), killWorker: false)),
                      now: 30)
    #expect(raylet.delayedLeaseCount == 2)
    #expect(raylet.queuedLeases(of: JobID(1)) == 2)
    #expect(raylet.heldLeaseIDs.contains(LeaseID(owner: driverA, index: 4)))
    #expect(raylet.delayedLeases == [LeaseID(owner: driverA, index: 5), LeaseID(owner: driverA, index: 6)])
}

@Test func aLocalProcessAsksForLeasesOnlyForItsOwnJob() {
    var raylet = rateRaylet(perSecond: 1_000, delayed: 10)
    // Driver A is job 1's: a request naming job 2 (to run in job 2's workers, or to charge job 2's
    // rate and queue) is dropped as forged.
    let forged = raylet.handle(.messageReceived(from: .worker(driverA), .requestWorkerLease(
        Build.lease(1, owner: driverA, job: JobID(2)))), now: 10)
    #expect(forged == [])
    #expect(raylet.metrics.forgedMessages == 1)
    #expect(raylet.heldLeaseIDs.isEmpty)
    #expect(!ask(&raylet, 2, now: 11).isEmpty)
    #expect(raylet.heldLeaseIDs.count == 1)
}
