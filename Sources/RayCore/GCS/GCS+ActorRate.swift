// The per-job rate of actor creations (issue 12: rate limits per operation). Each job has a
// token bucket of one second's worth of creations (`RayConfig.actorCreationsPerSecond`),
// kept in millionths of a creation so the arithmetic is exact. A registration that finds
// the bucket empty is not refused at once: the actor is registered (its owner and
// subscribers hear it is pending, the cause saying why) and waits in its job's queue,
// admitted in order as the bucket refills (a timer per job). Only past
// `actorCreationsDelayed` waiting ones is a creation refused: dead at once, QuotaExceeded,
// the cause naming both limits and how to raise them. Delays and refusals are counted
// (`swiftray status`). With the defaults (10 000 a second, 100 000 waiting) a normal
// workload never waits.
//
// Invariants: a job's waiting actors are admitted in registration order, each once; a
// waiting actor is never placed (`placeActor` skips `delayed`); while any wait, a new
// registration waits behind them; the timer is armed while the queue is not empty.

extension GCS {
    /// One job's bucket and the actors waiting for it.
    struct CreationRate: Hashable, Sendable {
        /// Millionths of a creation available (at most one second's worth).
        var credit: Int64
        /// When `credit` was last brought up to date.
        var at: Int64
        var waiting: [ActorID] = []
        /// The first waiting one (the queue's head; earlier ones were admitted).
        var head = 0
        var waitingCount: Int { waiting.count - head }
    }

    /// A creation's worth of credit.
    static let creationUnit: Int64 = 1_000_000

    /// The bucket of `job`, refilled to now.
    private func rate(of job: JobID) -> CreationRate {
        let perSecond = Int64(config.actorCreationsPerSecond)
        let capacity = perSecond * Self.creationUnit
        guard var rate = creationRates[job] else { return CreationRate(credit: capacity, at: now) }
        // Credit per microsecond: perSecond millionths.
        let earned = max(0, now - rate.at).multipliedReportingOverflow(by: perSecond)
        rate.credit = earned.overflow ? capacity : min(capacity, rate.credit + earned.partialValue)
        rate.at = now
        return rate
    }

    /// Takes one creation's credit for `job` if it has it and nothing of it waits.
    mutating func takeCreation(_ job: JobID) -> Bool {
        var rate = rate(of: job)
        defer { creationRates[job] = rate }
        guard rate.waitingCount == 0, rate.credit >= Self.creationUnit else { return false }
        rate.credit -= Self.creationUnit
        return true
    }

    /// Queues `entry` behind its job's waiting creations (the caller registers it), or returns
    /// why it is refused when too many wait already.
    mutating func delayCreation(_ entry: inout ActorEntry, job: JobID, into effects: inout [GCSEffect]) -> String? {
        var rate = rate(of: job)
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
            + "\(settings); it starts as the rate allows"
        let wasEmpty = rate.waitingCount == 0
        rate.waiting.append(entry.spec.actorID)
        creationRates[job] = rate
        quota.actorsDelayed += 1
        if wasEmpty { armCreationTimer(job, into: &effects) }
        return nil
    }

    /// The job's next creation is due: admits the waiting ones its credit covers, in order.
    mutating func creationsDue(_ job: JobID, into effects: inout [GCSEffect]) {
        var rate = rate(of: job)
        var admitted: [ActorID] = []
        while rate.waitingCount > 0, rate.credit >= Self.creationUnit {
            let id = rate.waiting[rate.head]
            rate.head += 1
            // One killed while it waited needs no credit.
            guard actors[id]?.state != .dead else { continue }
            rate.credit -= Self.creationUnit
            admitted.append(id)
        }
        if rate.waitingCount == 0 {
            rate.waiting = []
            rate.head = 0
        } else if rate.head > 1024 && rate.head * 2 > rate.waiting.count {
            rate.waiting.removeFirst(rate.head)
            rate.head = 0
        }
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

    /// Arms the timer for when `job` next has a creation's credit.
    mutating func armCreationTimer(_ job: JobID, into effects: inout [GCSEffect]) {
        let rate = creationRates[job] ?? rate(of: job)
        let perSecond = Int64(config.actorCreationsPerSecond)
        let missing = max(0, Self.creationUnit - rate.credit)
        effects.append(.startTimer(.actorCreations(job), afterMicros: max(1, (missing + perSecond - 1) / perSecond)))
    }

    /// After a restart: the jobs with creations waiting get their timers back.
    mutating func creationTimersRecovered(into effects: inout [GCSEffect]) {
        for (job, rate) in creationRates.sorted(by: { $0.key < $1.key }) where rate.waitingCount > 0 {
            armCreationTimer(job, into: &effects)
        }
    }
}
