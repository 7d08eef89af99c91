// Fair share between jobs on a node (issue 12). Two parts:
// - the queue of each scheduling class is a FIFO per job (`FairQueue`), and a freed worker
//   goes to the waiting job holding fewest of the node's leases (the turn breaking ties),
//   so one job's flood of requests does not queue ahead of every request of another job;
// - an owner keeps a leased worker while it has tasks of the worker's shape (Ray's lease
//   reuse), so a job that got the node's workers first would keep them as long as its
//   backlog lasts. When a job's request waits here and another job holds more of this
//   node's leases, the raylet asks that job's owner for one lease back (`yieldLease`); the
//   owner returns the worker when its running task ends, and the next grant goes to the
//   waiting job in turn. With one job nothing is ever asked back.
//
// Invariants: at most one lease is asked back on behalf of each waiting job at a time; a
// lease is asked back once; an ask is forgotten when its lease ends, whoever ended it.

extension Raylet {
    /// The job whose request a class queue serves next: the one holding fewest task leases
    /// here, the queue's turn order breaking ties (with one job, that job).
    /// `held`: `heldLeases()`, when the caller has it.
    func nextJob(in queue: FairQueue<QueuedLease>, held known: [JobID: [LeaseID]]? = nil,
                 excluding capped: Set<JobID> = []) -> JobID? {
        let jobs = capped.isEmpty ? queue.jobs : queue.jobs.filter { !capped.contains($0) }
        guard jobs.count > 1 else { return jobs.first }
        let held = known ?? heldLeases()
        var best = jobs[0]
        for job in jobs.dropFirst() where held[job, default: []].count < held[best, default: []].count { best = job }
        return best
    }

    /// The task leases each job holds here (workers running a task or blocked in one).
    func heldLeases() -> [JobID: [LeaseID]] {
        var held: [JobID: [LeaseID]] = [:]
        for (lease, granted) in leases {
            guard case .leased(lease) = workers[granted.worker], let job = workerJobs[granted.worker] else { continue }
            held[job, default: []].append(lease)
        }
        return held
    }

    /// Jobs that may not start another task worker here now: at `RayConfig.workersPerJob` task
    /// workers (starting, idle or running a task; one blocked in a get or wait does not count, as
    /// in Ray's worker soft limit, so nested tasks never wait for their own blocked parents; an
    /// actor's does not either: actors have their own quota) with none of them idle. O(1) while
    /// the node has fewer workers than the cap.
    func jobsAtWorkerCap() -> Set<JobID> {
        let cap = config.workersPerJob
        guard workers.count >= cap else { return [] }
        var counts: [JobID: Int] = [:]
        for (worker, state) in workers {
            switch state {
            case .actor: continue
            case .leased(let lease) where leases[lease]?.blocked == true: continue
            default: break
            }
            guard let job = workerJobs[worker] else { continue }
            counts[job, default: 0] += 1
        }
        var capped: Set<JobID> = []
        for (job, count) in counts where count >= cap && idleWorkers[job]?.isEmpty ?? true { capped.insert(job) }
        return capped
    }

    /// True when more than one job holds a lease or waits here (fair share has something to share).
    func severalJobs() -> Bool {
        var seen: JobID?
        for shape in classOrder {
            for job in classQueues[shape]?.jobs ?? [] {
                if seen == nil { seen = job } else if seen != job { return true }
            }
        }
        for (_, granted) in leases {
            guard let job = workerJobs[granted.worker] else { continue }
            if seen == nil { seen = job } else if seen != job { return true }
        }
        return false
    }

    /// Fair share across shapes: the fewest leases held by a job whose request waits here because
    /// it does not fit now but would once the leases of jobs holding more were handed back (nil:
    /// no such job). Jobs holding more than that are not granted meanwhile, so the room their
    /// returned leases free accumulates for the poorer job's larger request instead of going back
    /// to their own smaller ones (a flood of half-CPU tasks would otherwise keep a one-CPU request
    /// of another job waiting until its backlog ended). With one job there is no floor.
    func fairShareFloor(held: [JobID: [LeaseID]]) -> Int? {
        guard !held.isEmpty else { return nil }
        var floor: Int?
        for shape in classOrder where !shape.fits(in: available) {
            guard let queue = classQueues[shape], let job = nextJob(in: queue, held: held) else { continue }
            let mine = held[job]?.count ?? 0
            if let floor, mine >= floor { continue }
            // The room the leases of jobs holding more than this one would free.
            var reclaimable = available
            for (_, ids) in held where ids.count > mine {
                for id in ids { if let lease = leases[id] { reclaimable = reclaimable + lease.held } }
            }
            if shape.fits(in: reclaimable) { floor = mine }
        }
        return floor
    }

    /// After a dispatch: asks leases back for jobs whose requests wait while another job holds more.
    mutating func askLeasesBackForWaitingJobs(into effects: inout [RayletEffect]) {
        for (lease, _) in yieldAsked where leases[lease] == nil { yieldAsked[lease] = nil }
        guard !classOrder.isEmpty, !leases.isEmpty else { return }
        // Jobs with a request queued here that cannot be granted now.
        var waiting: [JobID] = []
        for shape in classOrder where !shape.fits(in: available) {
            for job in classQueues[shape]?.jobs ?? [] where !waiting.contains(job) { waiting.append(job) }
        }
        guard !waiting.isEmpty else { return }
        let held = heldLeases()
        if held.count == 1, let only = held.keys.first, waiting == [only] { return }  // one job: nothing to share
        let askedFor = Set(yieldAsked.values)
        for job in waiting.sorted() where !askedFor.contains(job) {
            let mine = held[job]?.count ?? 0
            // The job holding the most here (the lower ID on a tie), if it holds more than this one.
            guard let richest = held.keys.filter({ $0 != job })
                    .max(by: { (held[$0]!.count, $1.value) < (held[$1]!.count, $0.value) }),
                  held[richest]!.count > mine,
                  let lease = held[richest]!.filter({ yieldAsked[$0] == nil }).min()
            else { continue }
            yieldAsked[lease] = job
            metrics.leasesAskedBack += 1
            effects.append(.send(to: .worker(lease.owner), .yieldLease(lease)))
        }
    }
}
