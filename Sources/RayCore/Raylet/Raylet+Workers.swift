// The raylet's worker pool and leases (Ray's worker_pool.cc and the lease
// half of node_manager.cc): workers are spawned on demand, reused when idle,
// and their lease's resources return when the owner hands the worker back or
// the worker dies. A dead owner's leases and objects are reclaimed. As in Ray,
// a worker belongs to one job: it runs that job's program, is leased only to
// that job's tasks, and is stopped when the job ends.

extension Raylet {
    /// Allocates resources for `request` and hands it an idle worker, or spawns one.
    mutating func grant(_ request: LeaseRequest, into effects: inout [RayletEffect]) {
        precondition(request.resources.fits(in: available), "granting a lease that does not fit")
        available = available - request.resources
        metrics.leasesGranted += 1
        if let worker = idleWorkers[request.jobID]?.popLast() {
            leases[request.leaseID] = Lease(worker: worker, resources: request.resources)
            workers[worker] = .leased(request.leaseID)
            effects.append(.send(to: .worker(request.leaseID.owner), .leaseGranted(request.leaseID, worker: worker)))
        } else {
            let worker = newWorker(for: request.jobID, into: &effects)
            leases[request.leaseID] = Lease(worker: worker, resources: request.resources)
            workers[worker] = .starting(request.leaseID)
            startingRequests[request.leaseID] = request
        }
    }

    /// Spawns a worker process for `job` (its state is the caller's to set), once the job's
    /// program is known: a job first seen here is looked up in the GCS's KV.
    mutating func newWorker(for job: JobID, into effects: inout [RayletEffect]) -> WorkerID {
        workerCounter += 1
        let worker = WorkerID(node: nodeID, index: workerCounter)
        workerJobs[worker] = job
        if programs[job] != nil {
            effects.append(.spawnWorker(worker, job: job))
        } else {
            programLookups[job, default: []].append(worker)
            if programLookups[job]?.count == 1 { effects.append(.send(to: .gcs, .kvGet(key: Self.programKey(job)))) }
        }
        return worker
    }

    /// Where a job's program is published in the GCS's KV.
    static func programKey(_ job: JobID) -> String { "swiftray/job/\(job.value)/executable" }

    static func job(ofProgramKey key: String) -> JobID? {
        guard key.hasPrefix("swiftray/job/"), key.hasSuffix("/executable") else { return nil }
        return UInt32(key.dropFirst("swiftray/job/".count).dropLast("/executable".count)).map(JobID.init)
    }

    /// A driver here published its job's program (it connected): record it, publish it for the
    /// other nodes, start the workers that waited for it, and prestart one per CPU (as Ray's
    /// raylet does for a new job's driver, so its first tasks do not wait for a process).
    mutating func programPublished(_ job: JobID, _ program: String, into effects: inout [RayletEffect]) {
        effects.append(.send(to: .gcs, .kvPut(key: Self.programKey(job), value: Array(program.utf8))))
        programAnswered(job, program, into: &effects)
        let cpus = Int(info.resources["CPU"] / 1000)
        if cpus > 0 { prestartWorkers(cpus, job: job, into: &effects) }
    }

    /// The job's program is known ("" when none was published): its waiting workers start.
    mutating func programAnswered(_ job: JobID, _ program: String, into effects: inout [RayletEffect]) {
        // A job that ended still runs its detached actors (they outlive it).
        guard !finishedJobs.contains(job) || programLookups[job]?.contains(where: isActorWorker) == true else { return }
        programs[job] = program
        for worker in programLookups.removeValue(forKey: job) ?? [] where workerJobs[worker] == job {
            effects.append(.spawnWorker(worker, job: job))
        }
    }

    mutating func prestartWorkers(_ count: Int, job: JobID, into effects: inout [RayletEffect]) {
        guard !finishedJobs.contains(job) else { return }
        let unleased = workers.keys.reduce(0) { total, worker in
            guard workerJobs[worker] == job else { return total }
            switch workers[worker] {
            case .idle?, .starting(.none)?: return total + 1
            default: return total
            }
        }
        let wanted = min(count, config.workersPerJob)
        guard wanted > unleased else { return }
        for _ in unleased..<wanted {
            let worker = newWorker(for: job, into: &effects)
            workers[worker] = .starting(nil)
        }
    }

    /// Makes `worker` idle, ready for its job's next lease.
    private mutating func makeIdle(_ worker: WorkerID) {
        workers[worker] = .idle
        idleWorkers[workerJobs[worker] ?? JobID(0), default: []].append(worker)
    }

    mutating func workerStarted(_ worker: WorkerID, into effects: inout [RayletEffect]) {
        if case .actor(let actor) = workers[worker] {
            actorWorkerStarted(actor, worker: worker, into: &effects)
            return
        }
        guard case .starting(let lease) = workers[worker] else { return }
        if let lease { startingRequests[lease] = nil }
        if let lease, leases[lease]?.worker == worker {
            workers[worker] = .leased(lease)
            effects.append(.send(to: .worker(lease.owner), .leaseGranted(lease, worker: worker)))
        } else {
            makeIdle(worker)
        }
    }

    mutating func returnWorker(_ lease: LeaseID, kill: Bool, into effects: inout [RayletEffect]) {
        releaseArguments(of: lease, into: &effects)
        guard let granted = leases.removeValue(forKey: lease) else { return }
        heldLeaseIDs.remove(lease)
        startingRequests[lease] = nil
        available = available + granted.held
        assert(available.fits(in: info.resources))
        if kill {
            let job = workerJobs[granted.worker]
            workers[granted.worker] = nil
            workerJobs[granted.worker] = nil
            releaseFetches(of: granted.worker, into: &effects)
            effects.append(.killWorker(granted.worker))
            ownerGone(granted.worker, job: job, into: &effects)
        } else if case .leased = workers[granted.worker] {
            makeIdle(granted.worker)
        }
        dispatch(into: &effects)
    }

    /// A leased worker's task waits in a get or wait: its lease lends its CPUs back to the node
    /// (so the tasks it waits for can be granted) until it resumes (Ray's
    /// ReleaseCpuResourcesFromBlockedWorker).
    mutating func workerBlocked(_ worker: WorkerID, into effects: inout [RayletEffect]) {
        guard case .leased(let lease) = workers[worker], var granted = leases[lease], !granted.blocked else { return }
        granted.blocked = true
        let cpus = granted.resources["CPU"]
        if cpus > 0 {
            granted.lent = ResourceSet(["CPU": cpus])
            available = available + granted.lent
            metrics.workersBlocked += 1
        }
        leases[lease] = granted
        dispatch(into: &effects)
    }

    /// The worker's task resumed: its lease holds its CPUs again at once, even if that takes the
    /// node's available CPUs below zero for a while (as Ray's ReturnCpuResourcesToUnblockedWorker);
    /// nothing new is granted until enough leases return.
    mutating func workerUnblocked(_ worker: WorkerID) {
        guard case .leased(let lease) = workers[worker], var granted = leases[lease], granted.blocked else { return }
        available = available - granted.lent
        granted.lent = ResourceSet()
        granted.blocked = false
        leases[lease] = granted
    }

    /// A local worker is gone (it exited, or this raylet killed it): if it owned tasks, what it
    /// leased and queued here goes, and the GCS tells the other raylets.
    private mutating func ownerGone(_ worker: WorkerID, job: JobID?, into effects: inout [RayletEffect]) {
        guard owningWorkers.remove(worker) != nil else { return }
        if let job { deadOwnerReports[worker] = job }
        ownerDied(worker, into: &effects)
        effects.append(.send(to: .gcs, .workerDied(worker)))
    }

    /// `detail`: how it ended, when this raylet knows better than "it died" (it killed it).
    mutating func workerExited(_ worker: WorkerID, detail: String? = nil, into effects: inout [RayletEffect]) {
        guard let state = workers.removeValue(forKey: worker) else { return }
        ownerGone(worker, job: workerJobs[worker], into: &effects)
        if let job = workerJobs.removeValue(forKey: worker) {
            programLookups[job]?.removeAll { $0 == worker }  // Killed before its program was known.
            idleWorkers[job]?.removeAll { $0 == worker }
            if idleWorkers[job]?.isEmpty == true { idleWorkers[job] = nil }
        }
        releaseFetches(of: worker, into: &effects)
        // Return values it sealed that no owner confirmed: their reply may never have left.
        for object in store.unconfirmed(sealedBy: worker) { free(object, into: &effects) }
        switch state {
        case .leased(let lease), .starting(.some(let lease)):
            if let granted = leases.removeValue(forKey: lease) {
                available = available + granted.held
            }
            heldLeaseIDs.remove(lease)
            if case .leased = state { releaseArguments(of: lease, into: &effects) }
            // A leased worker's owner learns from its broken connection and
            // retries; a request whose worker never started queues again.
            if case .starting = state, let request = startingRequests.removeValue(forKey: lease) {
                heldLeaseIDs.insert(lease)
                enqueue(request)
            }
            dispatch(into: &effects)
        case .idle, .starting(.none):
            break
        case .actor(let actor):
            actorWorkerExited(actor, worker: worker, detail: detail ?? "its worker \(worker) died", into: &effects)
        }
    }

    /// A driver died: drop its queued requests, kill the workers it leased and free what it owned.
    mutating func ownerDied(_ owner: WorkerID, into effects: inout [RayletEffect]) {
        deadOwners.insert(owner)
        for shape in classOrder { classQueues[shape]?.removeAll { $0.owner == owner } }
        cancelledLeases = cancelledLeases.filter { $0.owner != owner }
        dropDelayedLeases(ownedBy: owner)
        pruneEmptyClasses()
        heldLeaseIDs = heldLeaseIDs.filter { $0.owner != owner || leases[$0] != nil }
        for lease in waitingForArguments.keys.sorted() where lease.owner == owner {
            releaseArguments(of: lease, into: &effects)
        }
        for lease in leases.keys.sorted() where lease.owner == owner {
            returnWorker(lease, kill: true, into: &effects)
        }
        let owned = store.entries.filter { $0.value.owner == owner }.keys.sorted()
        for object in owned { free(object, into: &effects) }
        failPulls(ownedBy: owner, into: &effects)
        releaseFetches(of: owner, into: &effects)
        dispatch(into: &effects)
    }
}

extension Raylet {
    /// A job ended (its driver finished or died): its workers exit, as Ray's do, and its
    /// queued requests go (nobody is left to use them).
    mutating func jobFinished(_ job: JobID, into effects: inout [RayletEffect]) {
        guard finishedJobs.insert(job).inserted else { return }
        deadOwnerReports = deadOwnerReports.filter { $0.value != job }
        driverJobs = driverJobs.filter { $0.value != job }
        var dropped: Set<LeaseID> = []
        for shape in classOrder {
            for queued in classQueues[shape]?.elements ?? [] where queued.request.jobID == job {
                dropped.insert(queued.request.leaseID)
            }
            classQueues[shape]?.removeAll { $0.request.jobID == job }
        }
        cancelledLeases.subtract(dropped)
        heldLeaseIDs.subtract(dropped)
        dropLeaseRate(of: job)
        dropObjectRate(of: job, into: &effects)
        pruneEmptyClasses()
        for lease in waitingForArguments.keys.sorted() where waitingForArguments[lease]?.jobID == job {
            heldLeaseIDs.remove(lease)
            releaseArguments(of: lease, into: &effects)
        }
        for lease in leases.keys.sorted() where workerJobs[leases[lease]!.worker] == job {
            returnWorker(lease, kill: true, into: &effects)
        }
        for worker in workers.keys.sorted() where workerJobs[worker] == job && !hostsDetachedActor(worker) {
            if case .actor(let actor) = workers[worker] {
                actorWorkerExited(actor, worker: worker, detail: "its job \(job) ended", into: &effects)
            }
            workers[worker] = nil
            workerJobs[worker] = nil
            releaseFetches(of: worker, into: &effects)
            effects.append(.killWorker(worker))
        }
        idleWorkers[job] = nil
        programs[job] = nil
        programLookups[job] = nil
        dispatch(into: &effects)
    }
}
