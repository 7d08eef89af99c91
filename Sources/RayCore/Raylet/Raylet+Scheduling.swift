// The raylet's scheduling policy (Ray's ClusterTaskManager + scheduling
// policies in src/ray/raylet/scheduling/policy/): hybrid pack-then-spread by
// default, SPREAD, node affinity (hard and soft), spillback to a better node
// from the broadcast view, and requests no node can ever run reported as
// unschedulable instead of hanging.

extension Raylet {
    /// Where a lease request should run.
    enum Placement: Equatable {
        case local
        case spillback(NodeID)
        case unschedulable(String)
    }

    mutating func requestLease(_ request: LeaseRequest, now: Int64, into effects: inout [RayletEffect]) {
        // A duplicate, or a request from an owner already known dead: nobody would ever return it.
        if heldLeaseIDs.contains(request.leaseID) || deadOwners.contains(request.leaseID.owner) { return }
        // A request of a job that ended: its driver is gone, nobody would use the worker.
        if finishedJobs.contains(request.jobID) { return }
        if workers[request.leaseID.owner] != nil { owningWorkers.insert(request.leaseID.owner) }
        // Placed now, or past its job's rate or room delayed (or refused): Raylet+RequestRate.swift.
        admitLeaseRequest(request, now: now, into: &effects)
    }

    /// Queues `request` here, or sends it elsewhere, or reports that no node can run it.
    mutating func placeRequest(_ request: LeaseRequest, into effects: inout [RayletEffect]) {
        let owner = Address.worker(request.leaseID.owner)
        switch place(request) {
        case .local:
            heldLeaseIDs.insert(request.leaseID)
            admit(request, into: &effects)
        case .spillback(let node):
            // Until the next broadcast, count what was sent there as taken (Ray's
            // AllocateRemoteTaskResources): a burst does not all go to one stale "free" node.
            if let index = view.firstIndex(where: { $0.nodeID == node }) {
                view[index].available = view[index].available.subtractingClamped(request.resources)
            }
            metrics.spillbacks += 1
            effects.append(.send(to: owner, .leaseSpillback(request.leaseID, to: node)))
        case .unschedulable(let reason):
            effects.append(.send(to: owner, .leaseUnschedulable(request.leaseID, reason: reason)))
        }
    }

    /// Decides where `request` should run, from the local state and the broadcast view.
    mutating func place(_ request: LeaseRequest) -> Placement {
        let feasibleHere = request.resources.fits(in: info.resources)
        switch request.strategy {
        case .nodeAffinity(let target, let soft):
            if target == nodeID {
                if feasibleHere { return .local }
                if !soft {
                    return .unschedulable("node affinity to \(target) (\(info.name)), which has \(info.resources) "
                        + "but the task needs \(request.resources)")
                }
            } else if let node = view.first(where: { $0.nodeID == target }), request.resources.fits(in: node.total) {
                return .spillback(target)
            } else if !soft {
                return .unschedulable("node affinity to \(target), which is dead or cannot fit \(request.resources); "
                    + "use soft affinity to fall back to other nodes")
            }
            return placeByPolicy(request, spread: false, feasibleHere: feasibleHere)
        case .spread:
            return placeByPolicy(request, spread: true, feasibleHere: feasibleHere)
        case .default:
            return placeByPolicy(request, spread: false, feasibleHere: feasibleHere)
        }
    }

    private mutating func placeByPolicy(_ request: LeaseRequest, spread: Bool, feasibleHere: Bool) -> Placement {
        // A request spilled here is queued here if this node can ever run it
        // (Ray's grant-or-reject on spillback): no ping-pong on a stale view.
        // Queued requests still move when the view shows room elsewhere.
        if request.spillbackCount >= 1 && feasibleHere { return .local }
        // Hybrid fast path: room here and this node is below the spread threshold — pack locally.
        if !spread && request.resources.fits(in: available)
            && available.utilisationPermille(of: info.resources) < config.schedulerSpreadThresholdPermille {
            return .local
        }
        let feasible = candidateNodes(for: request.resources)
        if feasible.isEmpty && request.resources.entries.contains(where: { $0.name.placementGroupTag != nil }) {
            // A placement group's bundle this view does not show yet (the group was just created:
            // the view's broadcast may come after the request): queued here until the view shows
            // its node, or it is committed here, or the group is removed.
            return .local
        }
        if feasible.isEmpty {
            let largest = view.map { $0.total.description }.joined(separator: ", ")
            return .unschedulable("no alive node can ever fit \(request.resources) (alive nodes have: \(largest))")
        }
        if spread {
            // Ray's SpreadSchedulingPolicy: round robin over the feasible nodes (in ID order) from
            // where the last pick left off, taking the first with room now, else the next in turn.
            let start = spreadCursor % feasible.count
            var pick = start
            for step in 0..<feasible.count {
                let index = (start + step) % feasible.count
                if request.resources.fits(in: feasible[index].available) {
                    pick = index
                    break
                }
            }
            spreadCursor = pick + 1
            let choice = feasible[pick]
            return choice.nodeID == nodeID ? .local : .spillback(choice.nodeID)
        }
        let availableNow = feasible.filter { request.resources.fits(in: $0.available) }
        if availableNow.isEmpty {
            // Nobody has room now: wait here if this node can ever run it.
            if feasibleHere { return .local }
            return .spillback(feasible[Int(truncatingIfNeeded: pseudoRandom() % UInt64(feasible.count))].nodeID)
        }
        // Hybrid: score 0 below the spread threshold, else the utilisation; local wins ties.
        let threshold = config.schedulerSpreadThresholdPermille
        func score(_ node: NodeView) -> Int64 {
            let utilisation = node.available.utilisationPermille(of: node.total)
            return utilisation < threshold ? 0 : utilisation
        }
        let best = availableNow.map(score).min() ?? 0
        let top = availableNow.filter { score($0) == best }
        if top.contains(where: { $0.nodeID == nodeID }) { return .local }
        let k = max(1, Int(Int64(view.count) * config.schedulerTopKPermille / 1000))
        let choice = top[Int(truncatingIfNeeded: pseudoRandom() % UInt64(min(k, top.count)))]
        return .spillback(choice.nodeID)
    }

    /// Alive nodes that could ever run `resources`, this node's entry taken from local truth.
    func candidateNodes(for resources: ResourceSet) -> [NodeView] {
        var nodes: [NodeView] = []
        nodes.reserveCapacity(view.count + 1)
        var sawSelf = false
        for node in view where resources.fits(in: node.total) {
            if node.nodeID == nodeID {
                sawSelf = true
                nodes.append(NodeView(nodeID: nodeID, total: info.resources, available: available))
            } else {
                nodes.append(node)
            }
        }
        if !sawSelf && resources.fits(in: info.resources) {
            nodes.append(NodeView(nodeID: nodeID, total: info.resources, available: available))
            nodes.sort { $0.nodeID < $1.nodeID }
        }
        return nodes
    }

    /// A deterministic draw: the policy's tie-breaks depend on the machine's seed and inputs only.
    private func pseudoRandom() -> UInt64 {
        mix(tieBreakSeed &+ UInt64(metrics.leasesGranted) &* 31 &+ UInt64(metrics.spillbacks))
    }

    /// Queues a request for resources once its stored arguments are local and pinned.
    mutating func admit(_ request: LeaseRequest, into effects: inout [RayletEffect]) {
        let key = FetchKey(worker: request.leaseID.owner, requestID: request.leaseID.index, forLease: true)
        if request.dependencies.isEmpty || fetches[key] != nil {
            enqueue(request)
            dispatch(into: &effects)
            return
        }
        waitingForArguments[request.leaseID] = request
        fetch(key, objects: request.dependencies, owner: request.leaseID.owner, into: &effects)
    }

    /// A lease's arguments are local (or failed: the worker's own fetch reports that).
    mutating func argumentsLocal(_ key: FetchKey, into effects: inout [RayletEffect]) {
        let lease = LeaseID(owner: key.worker, index: key.requestID)
        guard let request = waitingForArguments.removeValue(forKey: lease) else { return }
        enqueue(request)
        dispatch(into: &effects)
    }

    /// Releases the pins a lease's argument fetch holds.
    mutating func releaseArguments(of lease: LeaseID, into effects: inout [RayletEffect]) {
        waitingForArguments[lease] = nil
        releaseFetch(FetchKey(worker: lease.owner, requestID: lease.index, forLease: true), into: &effects)
    }

    mutating func enqueue(_ request: LeaseRequest) {
        let shape = request.resources
        if classQueues[shape] == nil {
            classQueues[shape] = FairQueue()
            classOrder.append(shape)
        }
        classQueues[shape]?.append(QueuedLease(request: request), job: request.jobID)
    }

    /// Grants queued requests that fit, class by class in order of first use (within a class,
    /// job by job in turn: `FairQueue`).
    mutating func dispatch(into effects: inout [RayletEffect]) {
        if !actorQueue.isEmpty { dispatchActors(into: &effects) }
        // Across shapes: a job holding more leases is not granted while a job holding fewer waits
        // for room the richer jobs' leases will free (Raylet+Fairness).
        // And the classes whose next job holds fewest leases go first.
        let shared = classOrder.count > 1 && !leases.isEmpty && severalJobs()
        // The leases each job holds (when fair share has something to share), kept current per grant.
        var held = shared ? heldLeases() : nil
        var holdBackAbove = held.flatMap { fairShareFloor(held: $0) }
        var order = classOrder
        if let held {
            let rank = order.map { shape in classQueues[shape].flatMap { nextJob(in: $0, held: held) }.map { held[$0]?.count ?? 0 } ?? 0 }
            order = order.indices.sorted { (rank[$0], $0) < (rank[$1], $1) }.map { order[$0] }
        }
        // A job at its worker cap waits here until one of its workers is free or gone.
        var capped = jobsAtWorkerCap()
        for shape in order {
            dropCancelledHeads(shape)
            while let queue = classQueues[shape], let job = nextJob(in: queue, held: held, excluding: capped),
                  let head = queue.first(of: job), head.request.resources.fits(in: available) {
                if let floor = holdBackAbove, held?[job]?.count ?? 0 > floor { break }
                classQueues[shape]?.popFirst(of: job)
                grant(head.request, into: &effects)
                if workers.count >= config.workersPerJob { capped = jobsAtWorkerCap() }
                dropCancelledHeads(shape)
                if held != nil {
                    let now = heldLeases()
                    held = now
                    if holdBackAbove != nil { holdBackAbove = fairShareFloor(held: now) }
                }
            }
        }
        pruneEmptyClasses()
        askLeasesBackForWaitingJobs(into: &effects)
    }

    /// The owner no longer needs this request (a worker it already leases runs the task).
    /// A queued request is dropped (lazily: it leaves its queue when it reaches the head);
    /// one fetching arguments stops; one granted or whose worker is starting is answered as
    /// usual, and the owner returns the worker.
    mutating func cancelLease(_ lease: LeaseID, into effects: inout [RayletEffect]) {
        guard heldLeaseIDs.contains(lease), leases[lease] == nil, startingRequests[lease] == nil else { return }
        if cancelDelayedLease(lease) { return }
        heldLeaseIDs.remove(lease)
        if waitingForArguments[lease] != nil {
            releaseArguments(of: lease, into: &effects)
            return
        }
        cancelledLeases.insert(lease)
        dispatch(into: &effects)
    }

    /// Pops cancelled requests at the heads of a class queue.
    private mutating func dropCancelledHeads(_ shape: ResourceSet) {
        guard !cancelledLeases.isEmpty else { return }
        classQueues[shape]?.dropHeads { cancelledLeases.remove($0.request.leaseID) != nil }
    }

    /// Drops scheduling classes with empty queues (from the order and the table together).
    mutating func pruneEmptyClasses() {
        classOrder.removeAll { shape in
            guard classQueues[shape]?.isEmpty ?? true else { return false }
            classQueues[shape] = nil
            return true
        }
    }

    /// Queued requests that cannot run here now move to nodes that have room
    /// in the latest view (bounded by the room those nodes report).
    mutating func spillQueuedToIdleNodes(into effects: inout [RayletEffect]) {
        guard !classOrder.isEmpty else { return }
        var room: [NodeID: ResourceSet] = [:]
        for node in view where node.nodeID != nodeID { room[node.nodeID] = node.available }
        for shape in classOrder {
            dropCancelledHeads(shape)
            while let head = classQueues[shape]?.first, !shape.fits(in: available),
                  head.request.spillbackCount < config.spillbackCountMax {
                guard case .default = head.request.strategy else { break }
                guard let target = view.first(where: { $0.nodeID != nodeID && shape.fits(in: room[$0.nodeID] ?? ResourceSet()) })
                else { break }
                room[target.nodeID] = (room[target.nodeID] ?? ResourceSet()) - shape
                classQueues[shape]?.popFirst()
                heldLeaseIDs.remove(head.request.leaseID)
                metrics.spillbacks += 1
                releaseArguments(of: head.request.leaseID, into: &effects)
                effects.append(.send(to: .worker(head.owner), .leaseSpillback(head.request.leaseID, to: target.nodeID)))
                dropCancelledHeads(shape)
            }
        }
        pruneEmptyClasses()
    }
}
