// Lease requests per task shape, pipelined as Ray's owner does
// (max_pending_lease_requests_per_scheduling_category, 10): tasks of one shape
// that a worker leased for another can run as is (no stored arguments, not
// SPREAD) share at most `RayConfig.leaseRequestsPerShapeMax` requests in flight. The
// others wait parked in the owner, each with a lease ID its raylet never heard
// of; a worker freed by a finished task of the shape runs the oldest parked one
// (no message to any raylet), and a parked task's request goes out when an
// in-flight request of its shape ends (granted, cancelled, refused, lost).
// Without it, each of 1000 such tasks sent a request that the reuse of a
// worker then cancelled: two raylet messages, two logged inputs, per task.

extension Owner {
    /// Sends the lease request of `id` (a task that can share workers of its shape).
    mutating func sendSharedLease(_ lease: LeaseID, for id: TaskID, _ spec: TaskSpec, to node: NodeID, key: ReuseKey,
                                  spillbackCount: Int, into effects: inout [OwnerEffect]) {
        sendLease(lease, for: id, spec, to: node, spillbackCount: spillbackCount, dependencies: [], into: &effects)
        inFlight[key, default: 0] += 1
        inFlightShape[lease] = key
        reusable[key, default: FIFOQueue()].append(id)
    }

    /// Parks `id` (its shape has enough requests in flight): it runs on a worker freed by
    /// its shape, or its request goes out when one in flight ends.
    mutating func park(_ lease: LeaseID, for id: TaskID, key: ReuseKey) {
        parkedLeases.insert(lease)
        parked[key, default: FIFOQueue()].append(id)
    }

    /// True when the request of `lease` was never sent (its task is parked, or its request held).
    public func isParked(_ lease: LeaseID) -> Bool { parkedLeases.contains(lease) || heldLeaseRequests[lease] != nil }

    /// The request of `lease` ended (granted, cancelled, refused, its node died, or moved by a
    /// spillback): parked tasks of its shape take its place, and held requests its slot.
    mutating func leaseRequestEnded(_ lease: LeaseID, into effects: inout [OwnerEffect]) {
        if heldLeaseRequests.removeValue(forKey: lease) == nil, leaseRequestsOut.remove(lease) != nil {
            sendHeldLeaseRequests(into: &effects)
        }
        rebuildRequestsOut.remove(lease)
        if parkedLeases.remove(lease) != nil { return }
        guard let key = inFlightShape.removeValue(forKey: lease) else { return }
        let count = (inFlight[key] ?? 1) - 1
        inFlight[key] = count > 0 ? count : nil
        unpark(key, into: &effects)
    }

    /// Sends the requests of parked tasks of `key` while fewer than the cap are in flight.
    private mutating func unpark(_ key: ReuseKey, into effects: inout [OwnerEffect]) {
        while (inFlight[key] ?? 0) < config.leaseRequestCap, let id = parked[key]?.popFirst() {
            guard let entry = tasks[id], case .leasing(let lease, let node) = entry.state,
                  parkedLeases.remove(lease) != nil else { continue }
            sendSharedLease(lease, for: id, entry.spec, to: node, key: key, spillbackCount: 0, into: &effects)
        }
        if parked[key]?.isEmpty == true { parked[key] = nil }
    }

    /// The oldest parked task of `key` still waiting, taken (to run on a freed worker).
    mutating func takeParked(_ key: ReuseKey) -> TaskID? {
        defer { if parked[key]?.isEmpty == true { parked[key] = nil } }
        while let candidate = parked[key]?.popFirst() {
            guard let entry = tasks[candidate], case .leasing(let lease, _) = entry.state, parkedLeases.contains(lease),
                  pinsNothing(entry.spec) else { continue }
            return candidate
        }
        return nil
    }

    // Every request an owner sends waits in a raylet's queue until granted, so the owner bounds
    // how many it has out at once (`RayConfig.leaseRequestsPerOwnerMax`, issue 12: every queue
    // bounded): past it a request is held here, in order, and sent when one out ends — the
    // producer waits, nothing is refused or dropped. (Shareable tasks already share 10 per shape;
    // this bounds the rest: tasks with stored arguments, SPREAD, spilled-back requests.)
    // A request that rebuilds a lost object (its task ended once and runs again) is never held
    // and not counted: requests out may wait at their raylets for that very object (an argument
    // lost with its node), so holding it behind them would wait forever (swarm seed 8862, with
    // one request out per owner). Rebuilds are few: one per lost object, within its retries.

    /// True when the request of `lease` is held here (the owner's bound on requests out).
    public func isHeld(_ lease: LeaseID) -> Bool { heldLeaseRequests[lease] != nil }

    /// Holds the request of `request.leaseID` until a request out ends.
    mutating func holdLeaseRequest(_ request: LeaseRequest, to node: NodeID) {
        heldLeaseRequests[request.leaseID] = (node, request)
        heldLeaseOrder.append(request.leaseID)
    }

    /// Sends held requests, oldest first, while fewer than the bound are out.
    private mutating func sendHeldLeaseRequests(into effects: inout [OwnerEffect]) {
        while leaseRequestsOut.count < config.leaseRequestsPerOwner, let lease = heldLeaseOrder.popFirst() {
            guard let held = heldLeaseRequests.removeValue(forKey: lease) else { continue }  // Ended while held.
            leaseRequestsOut.insert(lease)
            effects.append(.send(to: .raylet(held.node), .requestWorkerLease(held.request)))
        }
    }
}
