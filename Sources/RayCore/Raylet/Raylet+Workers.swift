// The raylet's worker pool and leases (Ray's worker_pool.cc and the lease
// half of node_manager.cc): workers are spawned on demand, reused when idle,
// and their lease's resources return when the owner hands the worker back or
// the worker dies. A dead owner's leases and objects are reclaimed.

extension Raylet {
    /// Allocates resources for `request` and hands it an idle worker, or spawns one.
    mutating func grant(_ request: LeaseRequest, into effects: inout [RayletEffect]) {
        precondition(request.resources.fits(in: available), "granting a lease that does not fit")
        available = available - request.resources
        assert(available.isNonNegative)
        metrics.leasesGranted += 1
        if let worker = idleWorkers.popLast() {
            leases[request.leaseID] = Lease(worker: worker, resources: request.resources)
            workers[worker] = .leased(request.leaseID)
            effects.append(.send(to: .worker(request.leaseID.owner), .leaseGranted(request.leaseID, worker: worker)))
        } else {
            workerCounter += 1
            let worker = WorkerID(node: nodeID, index: workerCounter)
            leases[request.leaseID] = Lease(worker: worker, resources: request.resources)
            workers[worker] = .starting(request.leaseID)
            startingRequests[request.leaseID] = request
            effects.append(.spawnWorker(worker))
        }
    }

    mutating func prestartWorkers(_ count: Int, into effects: inout [RayletEffect]) {
        let unleased = workers.values.reduce(0) { total, state in
            switch state {
            case .idle, .starting(.none): return total + 1
            default: return total
            }
        }
        guard count > unleased else { return }
        for _ in unleased..<count {
            workerCounter += 1
            let worker = WorkerID(node: nodeID, index: workerCounter)
            workers[worker] = .starting(nil)
            effects.append(.spawnWorker(worker))
        }
    }

    mutating func workerStarted(_ worker: WorkerID, into effects: inout [RayletEffect]) {
        guard case .starting(let lease) = workers[worker] else { return }
        if let lease { startingRequests[lease] = nil }
        if let lease, leases[lease]?.worker == worker {
            workers[worker] = .leased(lease)
            effects.append(.send(to: .worker(lease.owner), .leaseGranted(lease, worker: worker)))
        } else {
            workers[worker] = .idle
            idleWorkers.append(worker)
        }
    }

    mutating func returnWorker(_ lease: LeaseID, kill: Bool, into effects: inout [RayletEffect]) {
        releaseArguments(of: lease, into: &effects)
        guard let granted = leases.removeValue(forKey: lease) else { return }
        heldLeaseIDs.remove(lease)
        startingRequests[lease] = nil
        available = available + granted.resources
        assert(available.fits(in: info.resources))
        if kill {
            workers[granted.worker] = nil
            releaseFetches(of: granted.worker, into: &effects)
            effects.append(.killWorker(granted.worker))
        } else if case .leased = workers[granted.worker] {
            workers[granted.worker] = .idle
            idleWorkers.append(granted.worker)
        }
        dispatch(into: &effects)
    }

    mutating func workerExited(_ worker: WorkerID, into effects: inout [RayletEffect]) {
        guard let state = workers.removeValue(forKey: worker) else { return }
        idleWorkers.removeAll { $0 == worker }
        releaseFetches(of: worker, into: &effects)
        // Return values it sealed that no owner confirmed: their reply may never have left.
        for object in store.unconfirmed(sealedBy: worker) { free(object, into: &effects) }
        switch state {
        case .leased(let lease), .starting(.some(let lease)):
            if let granted = leases.removeValue(forKey: lease) {
                available = available + granted.resources
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
        }
    }

    /// A driver died: drop its queued requests, kill the workers it leased and free what it owned.
    mutating func ownerDied(_ owner: WorkerID, into effects: inout [RayletEffect]) {
        deadOwners.insert(owner)
        for shape in classOrder { classQueues[shape]?.removeAll { $0.owner == owner } }
        cancelledLeases = cancelledLeases.filter { $0.owner != owner }
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
        for key in fetches.keys.sorted() where key.worker == owner { releaseFetch(key, into: &effects) }
        dispatch(into: &effects)
    }
}
