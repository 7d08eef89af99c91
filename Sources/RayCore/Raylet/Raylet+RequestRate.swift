// Per-job lease-request rates at a raylet (issue 12: rate limits per operation at the raylets,
// "a peer flooding a raylet with requests"). Each job has a token bucket at each raylet
// (`RayConfig.leaseRequestsPerSecondPerJob`, one second's worth; RateBucket) over the lease
// requests its processes — and requests spilled here for it — send. A request that finds the
// bucket empty is delayed: held here, in order, before the scheduler sees it (it takes no
// queue slot, no resources and no worker), and taken up as the bucket refills (a timer per
// job). Past `leaseRequestsDelayedPerJob` delayed ones a request is refused at once
// (`leaseRefused`: its task fails with QuotaExceeded, naming both settings). Another job's
// requests have their own bucket, so a flooding job delays only itself. Delays and refusals
// are counted (`swiftray status`). An owner's own bound (`leaseRequestsPerOwner`, 1 000 out)
// keeps a well-behaved job far below the defaults; this holds a process that ignores it.
//
// Invariants: a delayed request is in `heldLeaseIDs` (a duplicate is ignored) and in
// `delayedLeases` until it is taken up, cancelled, or its owner or job is gone; it is taken
// up at most once, in its job's order; the job's timer is armed while any of its requests
// wait.

extension Raylet {
    /// The lease-request bucket of `job`, refilled to `now`.
    private func leaseRate(of job: JobID, now: Int64) -> RateBucket<LeaseRequest> {
        let perSecond = config.leaseRequestsPerSecondPerJob
        guard var rate = leaseRates[job] else { return RateBucket(perSecond: perSecond, now: now) }
        rate.refill(perSecond: perSecond, now: now)
        return rate
    }

    /// The job a request counts against: the local process's own (its raylet knows it), else the
    /// job the request names (a request from another node's owner, or spilled here).
    func rateJob(of request: LeaseRequest) -> JobID {
        job(of: request.leaseID.owner) ?? request.jobID
    }

    /// Admits `request` at its job's rate: true when it may be placed now; otherwise it is
    /// delayed (held, in order) or refused (its owner told why).
    mutating func rateLeaseRequest(_ request: LeaseRequest, now: Int64, into effects: inout [RayletEffect]) -> Bool {
        let job = rateJob(of: request)
        var rate = leaseRate(of: job, now: now)
        defer { leaseRates[job] = rate }
        if rate.take() { return true }
        let perSecond = config.leaseRequestsPerSecondPerJob
        guard rate.waitingCount < config.leaseRequestsDelayedPerJob else {
            metrics.leaseRequestsRefused += 1
            let error = RayError(.quotaExceeded, "\(job) sent \(nodeID) lease requests faster than its rate limit of "
                + "\(perSecond) per second, and \(rate.waitingCount) of its requests already wait there, its limit "
                + "(RayConfig.leaseRequestsPerSecondPerJobMax and leaseRequestsDelayedPerJobMax; "
                + "SWIFTRAY_LEASE_REQUESTS_PER_SECOND and SWIFTRAY_LEASE_REQUESTS_DELAYED for a cluster's raylets); "
                + "submit fewer tasks at once, or raise the limits")
            effects.append(.send(to: .worker(request.leaseID.owner), .leaseRefused(request.leaseID, error)))
            return false
        }
        metrics.leaseRequestsDelayed += 1
        heldLeaseIDs.insert(request.leaseID)
        delayedLeases.insert(request.leaseID)
        rate.wait(request)
        if rate.waitingCount == 1 {
            effects.append(.startTimer(.leaseRequests(job), afterMicros: rate.microsUntilCredit(perSecond: perSecond)))
        }
        return false
    }

    /// `job`'s next request is due: the delayed ones its credit covers are placed, in order.
    mutating func leaseRequestsDue(_ job: JobID, now: Int64, into effects: inout [RayletEffect]) {
        guard leaseRates[job] != nil else { return }  // The job ended meanwhile.
        var rate = leaseRate(of: job, now: now)
        // One cancelled, or whose owner died, while it waited needs no credit.
        let admitted = rate.admit { self.delayedLeases.remove($0.leaseID) != nil }
        leaseRates[job] = rate
        for request in admitted {
            heldLeaseIDs.remove(request.leaseID)
            placeRequest(request, into: &effects)
        }
        if rate.waitingCount > 0 {
            effects.append(.startTimer(.leaseRequests(job),
                                       afterMicros: rate.microsUntilCredit(perSecond: config.leaseRequestsPerSecondPerJob)))
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
        guard let rate = leaseRates.removeValue(forKey: job) else { return }
        for request in rate.waitingElements where delayedLeases.remove(request.leaseID) != nil {
            heldLeaseIDs.remove(request.leaseID)
        }
    }

    /// Lease requests delayed at their job's rate now.
    public var delayedLeaseCount: Int { delayedLeases.count }
}
