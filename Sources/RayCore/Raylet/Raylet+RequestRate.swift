// Per-job admission of lease requests at a raylet (issue 12: rate limits per operation at the
// raylets, "a peer flooding a raylet with requests", and a per-job bound on pending tasks).
// A request passes two stages, each of which may delay it:
// 1. its job's rate: a token bucket per job and node (`RayConfig.leaseRequestsPerSecondPerJob`,
//    one second's worth; RateBucket) over the lease requests its processes — and requests
//    spilled here for it — send. Past it a request waits in its job's FIFO, taken up as the
//    bucket refills (a timer per job);
// 2. its job's room for its shape: at most `leaseRequestsQueuedPerJob` of the job's requests of
//    one shape queued here for resources or a worker (the soft limit of its pending tasks: past
//    it the job is slowed down, not refused). Past it a request waits in a FIFO per job and
//    shape, taken up as that queue drains (checked after every input). Per shape, so a nested
//    task's request never waits behind requests of another shape that wait for what its
//    blocked parent holds (a GPU, say); within a shape it waits exactly where the job's FIFO
//    in the scheduler would have put it.
// A delayed request is held here before the scheduler sees it (no queue slot, no resources, no
// worker). Past `leaseRequestsDelayedPerJob` delayed ones — the hard limit — a request is
// refused at once (`leaseRefused`: its task fails with QuotaExceeded, naming the cause and the
// settings). Another job's requests are counted apart, so a flooding job delays only itself.
// Delays and refusals are counted (`swiftray status`). An owner's own bound
// (`leaseRequestsPerOwner`, 1 000 out) keeps a well-behaved job far below the defaults; this
// holds a process that ignores it, or a job with many owners.
//
// Invariants: a delayed request is in `heldLeaseIDs` (a duplicate is ignored) and in
// `delayedLeases` until it is taken up, cancelled, or its owner or job is gone; it is taken up
// at most once, in its job's order (per shape in the second stage); a job's rate FIFO has its
// timer armed while not empty; after each input, no FIFO of the second stage waits for room
// its shape's queue has.

/// A job's requests of one shape waiting for room in its queue here.
struct RoomKey: Hashable, Sendable {
    var job: JobID
    var shape: ResourceSet
}

extension Raylet {
    /// The lease-request bucket of `job`, refilled to `now` and taken out of `leaseRates` (the
    /// caller puts it back): a copy left there would make each delayed request copy its FIFO.
    private mutating func takeLeaseRate(of job: JobID, now: Int64) -> RateBucket<LeaseRequest> {
        .refilled(leaseRates.removeValue(forKey: job), perSecond: config.leaseRequestsPerSecondPerJob, now: now)
    }

    /// Requests of `job` queued here for resources or a worker, of every shape (one the owner
    /// cancelled counts until it reaches the head of its queue).
    func queuedLeases(of job: JobID) -> Int {
        var count = 0
        for queue in classQueues.values { count += queue.count(of: job) }
        return count
    }

    /// How many more requests of `key.shape` its job may queue here before it is slowed down.
    func leaseRoom(_ key: RoomKey) -> Int {
        max(0, config.leaseRequestsQueuedPerJob - (classQueues[key.shape]?.count(of: key.job) ?? 0))
    }

    /// Requests of `job` delayed here now, in either stage (one cancelled counts until its turn).
    private func delayedCount(of job: JobID, _ rate: RateBucket<LeaseRequest>) -> Int {
        var count = rate.waitingCount
        for key in leaseRoomWaitOrder where key.job == job { count += leaseRoomWaits[key]?.count ?? 0 }
        return count
    }

    /// Admits `request` at its job's rate and room: placed now, delayed (held, in order), or
    /// refused (its owner told why).
    mutating func admitLeaseRequest(_ request: LeaseRequest, now: Int64, into effects: inout [RayletEffect]) {
        let job = request.jobID
        let key = RoomKey(job: job, shape: request.resources)
        let perSecond = config.leaseRequestsPerSecondPerJob
        var rate = takeLeaseRate(of: job, now: now)
        defer { leaseRates[job] = rate }
        let passesRate = rate.hasCredit(perSecond: perSecond)
        if passesRate && leaseRoomWaits[key] == nil && leaseRoom(key) > 0 {
            _ = rate.take(perSecond: perSecond)
            placeRequest(request, into: &effects)
            return
        }
        let delayed = delayedCount(of: job, rate)
        guard delayed < config.leaseRequestsDelayedPerJob else {
            metrics.leaseRequestsRefused += 1
            let cause = passesRate
                ? "\(job) has \(classQueues[key.shape]?.count(of: job) ?? 0) lease requests of \(key.shape) queued at "
                    + "\(nodeID), its soft limit (RayConfig.leaseRequestsQueuedPerJobMax; SWIFTRAY_LEASE_REQUESTS_QUEUED)"
                : "\(job) sent \(nodeID) lease requests faster than its rate limit of \(perSecond) per second "
                    + "(RayConfig.leaseRequestsPerSecondPerJobMax; SWIFTRAY_LEASE_REQUESTS_PER_SECOND)"
            let error = RayError(.quotaExceeded, cause + ", and \(delayed) of its requests already wait there, "
                + "its hard limit (RayConfig.leaseRequestsDelayedPerJobMax; SWIFTRAY_LEASE_REQUESTS_DELAYED) — these are "
                + "settings for a cluster's raylets; submit fewer tasks at once, or raise the limits")
            effects.append(.send(to: .worker(request.leaseID.owner), .leaseRefused(request.leaseID, error)))
            return
        }
        metrics.leaseRequestsDelayed += 1
        heldLeaseIDs.insert(request.leaseID)
        delayedLeases.insert(request.leaseID)
        if passesRate {
            _ = rate.take(perSecond: perSecond)
            waitForRoom(request, key)
            return
        }
        rate.wait(request)
        if rate.waitingCount == 1 {
            effects.append(.startTimer(.leaseRequests(job), afterMicros: rate.microsUntilCredit(perSecond: perSecond)))
        }
    }

    /// Puts a request that passed its job's rate behind its shape's waiting ones.
    private mutating func waitForRoom(_ request: LeaseRequest, _ key: RoomKey) {
        if leaseRoomWaits[key] == nil {
            leaseRoomWaits[key] = FIFOQueue()
            leaseRoomWaitOrder.append(key)
        }
        leaseRoomWaits[key]!.append(request)
    }

    /// `job`'s next request is due at its rate: the ones its credit covers pass, in order, to be
    /// placed or to wait for room.
    mutating func leaseRequestsDue(_ job: JobID, now: Int64, into effects: inout [RayletEffect]) {
        guard leaseRates[job] != nil else { return }  // The job ended meanwhile.
        let perSecond = config.leaseRequestsPerSecondPerJob
        var rate = takeLeaseRate(of: job, now: now)
        // One cancelled, or whose owner died, while it waited needs no credit.
        let admitted = rate.admit(perSecond: perSecond) { self.delayedLeases.contains($0.leaseID) }
        leaseRates[job] = rate
        for request in admitted {
            let key = RoomKey(job: job, shape: request.resources)
            if leaseRoomWaits[key] == nil && leaseRoom(key) > 0 {
                delayedLeases.remove(request.leaseID)
                heldLeaseIDs.remove(request.leaseID)
                placeRequest(request, into: &effects)
            } else {
                waitForRoom(request, key)
            }
        }
        if rate.waitingCount > 0 {
            effects.append(.startTimer(.leaseRequests(job), afterMicros: rate.microsUntilCredit(perSecond: perSecond)))
        }
    }

    /// After each input: requests waiting for room in their shape's queue are placed, in order,
    /// while it has room (those cancelled or whose owner died meanwhile are dropped).
    mutating func leaseRoomFreed(into effects: inout [RayletEffect]) {
        var index = 0
        while index < leaseRoomWaitOrder.count {
            let key = leaseRoomWaitOrder[index]
            var waiting = leaseRoomWaits[key] ?? FIFOQueue()
            while let head = waiting.first {
                guard delayedLeases.contains(head.leaseID) else {
                    waiting.popFirst()
                    continue
                }
                guard leaseRoom(key) > 0 else { break }
                waiting.popFirst()
                delayedLeases.remove(head.leaseID)
                heldLeaseIDs.remove(head.leaseID)
                leaseRoomWaits[key] = waiting  // placeRequest reads the room, not these FIFOs.
                placeRequest(head, into: &effects)
            }
            if waiting.isEmpty {
                leaseRoomWaits[key] = nil
                leaseRoomWaitOrder.remove(at: index)
            } else {
                leaseRoomWaits[key] = waiting
                index += 1
            }
        }
    }

    /// A delayed request its owner cancelled (it no longer needs it): forgotten (dropped from its
    /// FIFO when its turn comes); true if it was one.
    mutating func cancelDelayedLease(_ lease: LeaseID) -> Bool {
        guard delayedLeases.remove(lease) != nil else { return false }
        heldLeaseIDs.remove(lease)
        return true
    }

    /// The owner died: its delayed requests go (skipped when their turn comes).
    mutating func dropDelayedLeases(ownedBy owner: WorkerID) {
        guard !delayedLeases.isEmpty else { return }
        delayedLeases = delayedLeases.filter { $0.owner != owner }
    }

    /// The job ended: its bucket and its delayed requests go.
    mutating func dropLeaseRate(of job: JobID) {
        var dropped = leaseRates.removeValue(forKey: job)?.waitingElements ?? []
        for key in leaseRoomWaitOrder where key.job == job {
            dropped.append(contentsOf: leaseRoomWaits.removeValue(forKey: key)?.elements ?? [])
        }
        leaseRoomWaitOrder.removeAll { $0.job == job }
        for request in dropped where delayedLeases.remove(request.leaseID) != nil {
            heldLeaseIDs.remove(request.leaseID)
        }
    }

    /// The first FIFO of the second stage that waits for room its shape's queue has (an
    /// invariant: none, after each input).
    var roomWaitWithRoom: RoomKey? {
        leaseRoomWaitOrder.first { key in
            leaseRoom(key) > 0 && (leaseRoomWaits[key]?.elements.contains { delayedLeases.contains($0.leaseID) } ?? false)
        }
    }

    /// Lease requests delayed at their job's rate or queue bound now.
    public var delayedLeaseCount: Int { delayedLeases.count }
}
