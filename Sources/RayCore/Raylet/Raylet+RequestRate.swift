// Per-job admission of lease requests at a raylet (issue 12: rate limits per operation at the
// raylets, "a peer flooding a raylet with requests", and a per-job bound on pending tasks).
// Each job has, at each raylet:
// - a token bucket (`RayConfig.leaseRequestsPerSecondPerJob`, one second's worth; RateBucket)
//   over the lease requests its processes — and requests spilled here for it — send;
// - a soft limit on its requests queued here for resources or a worker
//   (`leaseRequestsQueuedPerJob`): past it the job is slowed down, not refused.
// A request that finds the bucket empty, or the job's queue at its soft limit, is delayed:
// held here, in order, before the scheduler sees it (it takes no queue slot, no resources and
// no worker), and taken up as the bucket refills (a timer per job) and the job's queue drains
// (checked after each input while the job waits for room). Past `leaseRequestsDelayedPerJob`
// delayed ones — the hard limit — a request is refused at once (`leaseRefused`: its task fails
// with QuotaExceeded, naming the settings). Another job's requests are counted apart, so a
// flooding job delays only itself. Delays and refusals are counted (`swiftray status`). An
// owner's own bound (`leaseRequestsPerOwner`, 1 000 out) keeps a well-behaved job far below
// the defaults; this holds a process that ignores it, or a job with many owners.
//
// Invariants: a delayed request is in `heldLeaseIDs` (a duplicate is ignored) and in
// `delayedLeases` until it is taken up, cancelled, or its owner or job is gone; it is taken up
// at most once, in its job's order; while a job's bucket has waiting entries, exactly one thing
// will wake them — its timer (waiting for credit) or its place in `leaseRoomWaits` (waiting for
// room in its queue).

extension Raylet {
    /// The lease-request bucket of `job`, refilled to `now`.
    private func leaseRate(of job: JobID, now: Int64) -> RateBucket<LeaseRequest> {
        let perSecond = config.leaseRequestsPerSecondPerJob
        guard var rate = leaseRates[job] else { return RateBucket(perSecond: perSecond, now: now) }
        rate.refill(perSecond: perSecond, now: now)
        return rate
    }

    /// Requests of `job` queued here for resources or a worker (one the owner cancelled counts
    /// until it reaches the head of its queue).
    func queuedLeases(of job: JobID) -> Int {
        var count = 0
        for queue in classQueues.values { count += queue.count(of: job) }
        return count
    }

    /// How many more requests `job` may queue here before it is slowed down.
    func leaseRoom(of job: JobID) -> Int { max(0, config.leaseRequestsQueuedPerJob - queuedLeases(of: job)) }

    /// Admits `request` at its job's rate and queue bound: true when it may be placed now;
    /// otherwise it is delayed (held, in order) or refused (its owner told why).
    mutating func rateLeaseRequest(_ request: LeaseRequest, now: Int64, into effects: inout [RayletEffect]) -> Bool {
        let job = request.jobID
        var rate = leaseRate(of: job, now: now)
        defer { leaseRates[job] = rate }
        let room = rate.waitingCount == 0 ? leaseRoom(of: job) : 0
        if room > 0 && rate.take(perSecond: config.leaseRequestsPerSecondPerJob) { return true }
        guard rate.waitingCount < config.leaseRequestsDelayedPerJob else {
            metrics.leaseRequestsRefused += 1
            let cause = leaseRoomWaits.contains(job)
                ? "\(job) has \(queuedLeases(of: job)) lease requests queued at \(nodeID), its soft limit "
                    + "(RayConfig.leaseRequestsQueuedPerJobMax; SWIFTRAY_LEASE_REQUESTS_QUEUED)"
                : "\(job) sent \(nodeID) lease requests faster than its rate limit of "
                    + "\(config.leaseRequestsPerSecondPerJob) per second (RayConfig.leaseRequestsPerSecondPerJobMax; "
                    + "SWIFTRAY_LEASE_REQUESTS_PER_SECOND)"
            let error = RayError(.quotaExceeded, cause + ", and \(rate.waitingCount) of its requests already wait there, "
                + "its hard limit (RayConfig.leaseRequestsDelayedPerJobMax; SWIFTRAY_LEASE_REQUESTS_DELAYED) — these are "
                + "settings for a cluster's raylets; submit fewer tasks at once, or raise the limits")
            effects.append(.send(to: .worker(request.leaseID.owner), .leaseRefused(request.leaseID, error)))
            return false
        }
        metrics.leaseRequestsDelayed += 1
        heldLeaseIDs.insert(request.leaseID)
        delayedLeases.insert(request.leaseID)
        rate.wait(request)
        if rate.waitingCount == 1 { awaitLeaseTurn(job, rate, room: room, into: &effects) }
        return false
    }

    /// Arms what wakes `job`'s waiting requests: its timer when it waits for credit, or its place
    /// among the jobs waiting for room in their queues.
    private mutating func awaitLeaseTurn(_ job: JobID, _ rate: RateBucket<LeaseRequest>, room: Int,
                                         into effects: inout [RayletEffect]) {
        if room == 0 {
            leaseRoomWaits.insert(job)
        } else {
            effects.append(.startTimer(.leaseRequests(job),
                                       afterMicros: rate.microsUntilCredit(perSecond: config.leaseRequestsPerSecondPerJob)))
        }
    }

    /// `job`'s next request is due (its timer fired, or its queue has room again): the delayed
    /// ones its credit and its room cover are placed, in order.
    mutating func leaseRequestsDue(_ job: JobID, now: Int64, into effects: inout [RayletEffect]) {
        guard leaseRates[job] != nil else { return }  // The job ended meanwhile.
        var rate = leaseRate(of: job, now: now)
        // One cancelled, or whose owner died, while it waited needs no credit.
        let admitted = rate.admit(perSecond: config.leaseRequestsPerSecondPerJob, limit: leaseRoom(of: job)) {
            self.delayedLeases.remove($0.leaseID) != nil
        }
        leaseRates[job] = rate
        for request in admitted {
            heldLeaseIDs.remove(request.leaseID)
            placeRequest(request, into: &effects)
        }
        if rate.waitingCount > 0 { awaitLeaseTurn(job, rate, room: leaseRoom(of: job), into: &effects) }
    }

    /// After each input: jobs waiting for room in their queues that have it now take up their
    /// delayed requests.
    mutating func leaseRoomFreed(now: Int64, into effects: inout [RayletEffect]) {
        for job in leaseRoomWaits.sorted() where leaseRoom(of: job) > 0 {
            leaseRoomWaits.remove(job)
            leaseRequestsDue(job, now: now, into: &effects)
        }
    }

    /// A delayed request its owner cancelled (it no longer needs it): forgotten; true if it was one.
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
        leaseRoomWaits.remove(job)
        guard let rate = leaseRates.removeValue(forKey: job) else { return }
        for request in rate.waitingElements where delayedLeases.remove(request.leaseID) != nil {
            heldLeaseIDs.remove(request.leaseID)
        }
    }

    /// Lease requests delayed at their job's rate or queue bound now.
    public var delayedLeaseCount: Int { delayedLeases.count }
}
