// Per-job creation rates (issue 12: rate limits per operation): actor creations
// (`RayConfig.actorCreationsPerSecond`) and placement-group creations
// (`placementGroupCreationsPerSecond`). Each job has a token bucket per kind (RateBucket)
// holding one second's worth of creations.
// A creation that finds the bucket empty is not refused at once: it is registered (its
// owner and subscribers hear it is pending, the cause saying why) and waits in its job's
// queue, admitted in order as the bucket refills (a timer per job and kind). Only past the
// kind's delayed bound (`actorCreationsDelayed`, `placementGroupCreationsDelayed`) is a
// creation refused: dead (an actor) or removed (a group) at once, QuotaExceeded, the cause
// naming both limits and how to raise them. Delays and refusals are counted (`swiftray
// status`). With the defaults a normal workload never waits.
//
// Invariants: a job's waiting creations are admitted in order, each once; a waiting actor
// is never placed (`placeActor` skips `delayed`) and a waiting group is not in
// `unplacedGroups`; while any wait, a new creation of that kind waits behind them; the
// timer is armed while the queue is not empty.

extension GCS {
    /// One job's bucket for one kind of creation (RateBucket) and what waits for it.
    typealias CreationRate<ID: Hashable & Sendable> = RateBucket<ID>

    /// What one creation costs, in creations of its job's rate, while the job is past its soft
    /// quota (of live actors, or of placement groups): it is slowed down to a tenth of its rate
    /// (at most one a second when the rate is lower than ten).
    static let softLimitCost: Int64 = 10

    // MARK: - Actors

    /// The actor bucket of `job`, refilled to now and taken out of `creationRates` (the caller
    /// puts it back): a copy left there would make each delayed creation copy its FIFO.
    private mutating func takeActorRate(of job: JobID) -> CreationRate<ActorID> {
        .refilled(creationRates.removeValue(forKey: job), perSecond: config.actorCreationsPerSecond, now: now)
    }

    /// Takes one actor creation's credit for `job` (ten past its soft quota) if it has it and
    /// nothing of it waits.
    mutating func takeCreation(_ job: JobID, overSoft: Bool) -> Bool {
        var rate = takeActorRate(of: job)
        defer { creationRates[job] = rate }
        return rate.take(cost: overSoft ? Self.softLimitCost : 1, perSecond: config.actorCreationsPerSecond)
    }

    /// Queues `entry` behind its job's waiting creations (the caller registers it), or returns
    /// why it is refused when too many wait already.
    mutating func delayCreation(_ entry: inout ActorEntry, job: JobID, overSoft: Bool,
                                into effects: inout [GCSEffect]) -> String? {
        var rate = takeActorRate(of: job)
        let perSecond = config.actorCreationsPerSecond
        let settings = "(RayConfig.actorCreationsPerSecondMax and actorCreationsDelayedMax; "
            + "SWIFTRAY_ACTOR_CREATIONS_PER_SECOND and SWIFTRAY_ACTOR_CREATIONS_DELAYED for a cluster's GCS)"
        guard rate.waitingCount < config.actorCreationsDelayed else {
            creationRates[job] = rate
            return "refused: \(job) creates actors faster than its rate limit of \(perSecond) per second, and "
                + "\(rate.waitingCount) of its creations already wait, its limit \(settings); create fewer at once, "
                + "or raise the limits"
        }
        entry.delayed = true
        entry.cause = "delayed: \(job) creates actors faster than its rate limit of \(perSecond) per second "
            + "\(settings)" + (overSoft ? Self.slowed(soft: config.actorsPerJobSoft, "live actors", "SWIFTRAY_ACTORS_PER_JOB_SOFT") : "")
            + "; it starts as the rate allows"
        let wasEmpty = rate.waitingCount == 0
        rate.wait(entry.spec.actorID, cost: overSoft ? Self.softLimitCost : 1)
        creationRates[job] = rate
        quota.actorsDelayed += 1
        if wasEmpty { armCreationTimer(job, into: &effects) }
        return nil
    }

    /// The job's next actor creation is due: admits the waiting ones its credit covers, in order.
    mutating func creationsDue(_ job: JobID, into effects: inout [GCSEffect]) {
        var rate = takeActorRate(of: job)
        // One killed while it waited needs no credit.
        let admitted = rate.admit(perSecond: config.actorCreationsPerSecond) { self.actors[$0]?.state != .dead }
        creationRates[job] = rate
        for id in admitted {
            guard var entry = actors[id] else { continue }
            entry.delayed = false
            entry.cause = ""
            actors[id] = entry
            startCreation(id, into: &effects)
        }
        if rate.waitingCount > 0 { armCreationTimer(job, into: &effects) }
    }

    /// Arms the timer for when `job` next has an actor creation's credit.
    mutating func armCreationTimer(_ job: JobID, into effects: inout [GCSEffect]) {
        let rate = creationRates[job] ?? .refilled(nil, perSecond: config.actorCreationsPerSecond, now: now)
        effects.append(.startTimer(.actorCreations(job),
                                   afterMicros: rate.microsUntilCredit(perSecond: config.actorCreationsPerSecond)))
    }

    // MARK: - Placement groups

    /// The group bucket of `job`, refilled to now and taken out of `groupCreationRates` (the
    /// caller puts it back): a copy left there would make each delayed creation copy its FIFO.
    private mutating func takeGroupRate(of job: JobID) -> CreationRate<PlacementGroupID> {
        .refilled(groupCreationRates.removeValue(forKey: job), perSecond: config.placementGroupCreationsPerSecond,
                  now: now)
    }

    /// Admits group `id` of `job` at its creation rate: nil when it may be placed now; otherwise
    /// whether it waits (queued, the entry's cause saying why) or is refused (why).
    mutating func rateGroupCreation(_ id: PlacementGroupID, job: JobID, overSoft: Bool, entry: inout PlacementGroupEntry,
                                    into effects: inout [GCSEffect]) -> (delayed: Bool, refusal: String?)? {
        var rate = takeGroupRate(of: job)
        defer { groupCreationRates[job] = rate }
        let perSecond = config.placementGroupCreationsPerSecond
        let cost = overSoft ? Self.softLimitCost : 1
        if rate.take(cost: cost, perSecond: perSecond) { return nil }
        let settings = "(RayConfig.placementGroupCreationsPerSecondMax and placementGroupCreationsDelayedMax; "
            + "SWIFTRAY_PLACEMENT_GROUP_CREATIONS_PER_SECOND and SWIFTRAY_PLACEMENT_GROUP_CREATIONS_DELAYED for a "
            + "cluster's GCS)"
        guard rate.waitingCount < config.placementGroupCreationsDelayed else {
            return (false, "refused: \(job) creates placement groups faster than its rate limit of \(perSecond) per "
                + "second, and \(rate.waitingCount) of its creations already wait, its limit \(settings); create "
                + "fewer at once, or raise the limits")
        }
        entry.cause = "delayed: \(job) creates placement groups faster than its rate limit of \(perSecond) per "
            + "second \(settings)" + (overSoft
                ? Self.slowed(soft: config.placementGroupsPerJobSoft, "placement groups", "SWIFTRAY_PLACEMENT_GROUPS_PER_JOB_SOFT")
                : "")
            + "; it is placed as the rate allows"
        rate.wait(id, cost: cost)
        quota.groupsDelayed += 1
        if rate.waitingCount == 1 { armGroupCreationTimer(job, rate, into: &effects) }
        return (true, nil)
    }

    /// The job's next group creation is due: the waiting ones its credit covers are placed, in order.
    mutating func groupCreationsDue(_ job: JobID, into effects: inout [GCSEffect]) {
        var rate = takeGroupRate(of: job)
        // One removed while it waited needs no credit.
        let admitted = rate.admit(perSecond: config.placementGroupCreationsPerSecond) {
            self.placementGroups[$0]?.state == .pending
        }
        groupCreationRates[job] = rate
        for id in admitted {
            placementGroups[id]?.cause = ""
            unplacedGroups.append(id)
            publishGroup(id, into: &effects)
        }
        if rate.waitingCount > 0 { armGroupCreationTimer(job, rate, into: &effects) }
        if !admitted.isEmpty { scheduleGroups(into: &effects) }
    }

    /// Arms the timer for when `job` next has a group creation's credit.
    private func armGroupCreationTimer(_ job: JobID, _ rate: CreationRate<PlacementGroupID>,
                                       into effects: inout [GCSEffect]) {
        effects.append(.startTimer(.placementGroupCreations(job),
                                   afterMicros: rate.microsUntilCredit(perSecond: config.placementGroupCreationsPerSecond)))
    }

    /// Why a job past its soft quota (`soft` of `what`, set by `setting`) waits longer.
    private static func slowed(soft: Int, _ what: String, _ setting: String) -> String {
        ", slowed down to a tenth of it while it holds more than its soft quota of \(soft) \(what) (\(setting))"
    }

    /// After a restart: the jobs with creations waiting get their timers back.
    mutating func creationTimersRecovered(into effects: inout [GCSEffect]) {
        for (job, rate) in creationRates.sorted(by: { $0.key < $1.key }) where rate.waitingCount > 0 {
            armCreationTimer(job, into: &effects)
        }
        for (job, rate) in groupCreationRates.sorted(by: { $0.key < $1.key }) where rate.waitingCount > 0 {
            armGroupCreationTimer(job, rate, into: &effects)
        }
    }
}
