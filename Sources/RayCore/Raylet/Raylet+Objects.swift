// The raylet's object manager (Ray's object_manager/, pull_manager.cc and
// local_object_manager.cc): fetches for local workers, pulls from the node
// that has a copy (asking the owner where that is), pushes to other nodes,
// sealing return values as pinned primary copies, spilling and restoring.
//
// Invariants: every fetch is answered exactly once (with values or errors);
// every pin a fetch took is released when the fetch is released or its worker
// goes; the owner hears of every copy added or evicted here.

/// A fetch request: the worker that asked and its request number.
struct FetchKey: Hashable, Comparable, Sendable {
    var worker: WorkerID
    var requestID: UInt64
    /// The raylet's own fetch of a lease's arguments (requestID is the lease index).
    var forLease = false
    static func < (lhs: FetchKey, rhs: FetchKey) -> Bool {
        (lhs.worker, lhs.requestID, lhs.forLease ? 1 : 0) < (rhs.worker, rhs.requestID, rhs.forLease ? 1 : 0)
    }
}

/// An open fetch.
struct FetchState: Sendable {
    var objects: [ObjectID]
    var owner: WorkerID
    var waiting: Int
    /// Pins this fetch holds: object and the generation of the pinned copy.
    var pinned: [(ObjectID, UInt64)] = []
    var failed: [ObjectID: RayError] = [:]
    var answered = false
}

/// A pull of one object from another node.
struct PullState: Sendable {
    enum Phase: Equatable, Sendable {
        case locating
        case pulling(NodeID)
        case waitingToRetry
    }
    var owner: WorkerID
    var waiters: [FetchKey]
    var phase: Phase
}

/// Someone waiting for a restore from disk.
enum RestoreWaiter: Hashable, Sendable {
    case fetch(FetchKey)
    case push(NodeID)
}

extension Raylet {
    mutating func fetch(_ key: FetchKey, objects: [ObjectID], owner: WorkerID, into effects: inout [RayletEffect]) {
        var state = FetchState(objects: objects, owner: owner, waiting: 0)
        var restores: [ObjectID] = []
        for object in objects {
            if let entry = store[object] {
                if let generation = store.pin(object) { state.pinned.append((object, generation)) }
                if !entry.inMemory {
                    state.waiting += 1
                    restoreWaiters[object, default: []].append(.fetch(key))
                    if !entry.restoring && !restores.contains(object) { restores.append(object) }
                }
            } else if deadOwners.contains(owner) {
                // The owner is gone, and with it every way to find or rebuild the object.
                state.failed[object] = RayError(.ownerDied, "the owner of \(object) (\(owner)) died; "
                    + "objects cannot outlive their owner (pass them to a longer-lived owner)")
            } else {
                state.waiting += 1
                if pulls[object] != nil {
                    pulls[object]?.waiters.append(key)
                } else {
                    pulls[object] = PullState(owner: owner, waiters: [key], phase: .locating)
                    effects.append(.send(to: .worker(owner), .locateObject(object)))
                }
            }
        }
        // Registered before any restore starts: a restore can finish at once and resolve this fetch.
        fetches[key] = state
        for object in restores { startRestore(object, into: &effects) }
        if state.waiting == 0 { answer(key, into: &effects) }
    }

    private mutating func answer(_ key: FetchKey, into effects: inout [RayletEffect]) {
        guard var state = fetches[key], !state.answered, state.waiting == 0 else { return }
        state.answered = true
        fetches[key] = state
        if key.forLease {
            argumentsLocal(key, into: &effects)
            return
        }
        let values: [ObjectValue] = state.objects.map { object in
            if let error = state.failed[object] { return .error(error) }
            if let entry = store[object] { return .data(entry.data) }
            return .error(RayError(.objectLost, "\(object) vanished from \(info.name) while being fetched"))
        }
        effects.append(.send(to: .worker(key.worker), .objectsReady(requestID: key.requestID, values: values)))
    }

    /// One object of a fetch arrived (or failed).
    private mutating func resolved(_ object: ObjectID, for key: FetchKey, pin: Bool, error: RayError?,
                                   into effects: inout [RayletEffect]) {
        guard var state = fetches[key], !state.answered else { return }
        if pin, let generation = store.pin(object) { state.pinned.append((object, generation)) }
        if let error { state.failed[object] = error }
        state.waiting -= 1
        fetches[key] = state
        if state.waiting == 0 { answer(key, into: &effects) }
    }

    mutating func releaseFetch(_ key: FetchKey, into effects: inout [RayletEffect]) {
        guard let state = fetches.removeValue(forKey: key) else { return }
        for (object, generation) in state.pinned { store.unpin(object, generation: generation) }
        // Unpinned copies may now be spilled if memory is over the threshold.
        apply(store.spillAboveThreshold(permille: config.objectSpillingThresholdPermille), into: &effects)
    }

    /// `worker` is gone (or its task ended for good): its fetches are released, and its fetches
    /// and stores still waiting at its job's rate dropped (Raylet+ObjectRate.swift).
    mutating func releaseFetches(of worker: WorkerID, into effects: inout [RayletEffect]) {
        for key in fetches.keys.sorted() where key.worker == worker { releaseFetch(key, into: &effects) }
        dropDelayedObjectRequests(of: worker, into: &effects)
    }

    mutating func storeReturns(_ objects: [ObjectID], _ values: [ObjectData], owner: WorkerID, sealedBy: WorkerID?,
                               job: JobID? = nil, into effects: inout [RayletEffect]) {
        guard objects.count == values.count else { return }  // malformed request: nothing to store
        // An owner already dead would never free these copies: keep none, and release what the
        // storer wrote for them.
        guard !deadOwners.contains(owner) else {
            releaseWritten(objects, into: &effects)
            return
        }
        for (object, data) in zip(objects, values) {
            let (actions, _) = store.insert(object, data: data, owner: owner, primary: true, pins: 0,
                                            sealedBy: sealedBy, job: job)
            apply(actions, into: &effects)
            // A rebuilt object may be sealed on the very node that was pulling it.
            if let pull = pulls.removeValue(forKey: object) {
                for key in pull.waiters { resolved(object, for: key, pin: true, error: nil, into: &effects) }
            }
        }
        apply(store.spillAboveThreshold(permille: config.objectSpillingThresholdPermille), into: &effects)
    }

    /// The job of a process on this node: a worker spawned here, or a connected driver.
    func job(of worker: WorkerID) -> JobID? {
        workerJobs[worker] ?? driverJobs[worker]
    }

    /// Why storing `values` for `job` is refused (its bytes here would pass its hard quota), or nil;
    /// a store past the soft quota is counted. Copies already here add nothing.
    mutating func storeRefusal(_ job: JobID, _ objects: [ObjectID], _ values: [ObjectData]) -> RayError? {
        guard objects.count == values.count else { return nil }  // malformed: storeReturns drops it
        var adding: Int64 = 0
        for (object, data) in zip(objects, values) where store[object] == nil { adding += data.sizeBytes }
        guard adding > 0 else { return nil }
        let holding = store.bytesByJob[job] ?? 0
        let hard = config.storeBytesPerJobHard(capacity: store.capacityBytes)
        if holding + adding > hard {
            metrics.storesRefused += 1
            return RayError(.quotaExceeded, "\(job) holds \(holding) bytes of objects in \(nodeID)'s object store "
                + "(in memory or spilled); \(adding) more would pass its hard quota of \(hard) bytes "
                + "(SWIFTRAY_STORE_BYTES_PER_JOB_HARD; by default 16 times the store's capacity); drop references "
                + "to objects you no longer need, or raise the quota")
        }
        if holding + adding > config.storeBytesPerJobSoft(capacity: store.capacityBytes) { metrics.storesOverSoftQuota += 1 }
        return nil
    }

    /// Keeps none of `objects`: releases what the sender wrote for them (not a copy already here)
    /// and tells it why.
    mutating func refuseStore(_ requestID: UInt64, _ objects: [ObjectID], _ error: RayError, to sender: Address,
                              into effects: inout [RayletEffect]) {
        releaseWritten(objects, into: &effects)
        effects.append(.send(to: sender, .objectsRefused(requestID: requestID, objects: objects, error)))
    }

    /// Releases what the storer of a store this raylet drops (forged, or from a process already
    /// gone) wrote into shared memory.
    func releaseWritten(by message: Message, into effects: inout [RayletEffect]) {
        switch message {
        case .storeObjects(_, let objects, _, _), .storeRemoteObjects(_, let objects, _, _, _):
            releaseWritten(objects, into: &effects)
        default:
            break
        }
    }

    /// Releases what a storer wrote for `objects` that this store does not keep (not a copy
    /// already here): the host frees that shared memory.
    func releaseWritten(_ objects: [ObjectID], into effects: inout [RayletEffect]) {
        for object in objects where store[object] == nil { effects.append(.releaseObject(object)) }
    }

    mutating func apply(_ actions: [StoreAction], into effects: inout [RayletEffect]) {
        for action in actions {
            switch action {
            case .spilled(let object, let size):
                metrics.objectsSpilled += 1
                effects.append(.spillObject(object, sizeBytes: size))
            case .evicted(let object, let owner):
                metrics.objectsEvicted += 1
                effects.append(.releaseObject(object))
                effects.append(.send(to: .worker(owner), .locationRemoved(object, node: nodeID)))
            }
        }
    }

    private mutating func startRestore(_ object: ObjectID, into effects: inout [RayletEffect]) {
        guard let entry = store[object], !entry.inMemory, !entry.restoring else { return }
        let (actions, started) = store.beginRestore(object)
        apply(actions, into: &effects)
        if started {
            effects.append(.restoreObject(object, sizeBytes: entry.data.sizeBytes))
        } else {
            // Memory is pinned full: read it from disk in place (Ray's fallback allocation).
            objectRestored(object, into: &effects)
        }
    }

    mutating func objectRestored(_ object: ObjectID, into effects: inout [RayletEffect]) {
        store.finishRestore(object)
        metrics.objectsRestored += 1
        for waiter in restoreWaiters.removeValue(forKey: object) ?? [] {
            switch waiter {
            case .fetch(let key):
                resolved(object, for: key, pin: false, error: nil, into: &effects)
            case .push(let node):
                if let entry = store[object] {
                    effects.append(.send(to: .raylet(node), .pushObject(object, entry.data, owner: entry.owner)))
                } else {
                    effects.append(.send(to: .raylet(node), .objectMissing(object)))
                }
            }
        }
    }

    /// The spilled copy of `object` could not be read back (or, from the host, the copy in memory
    /// became unreadable: its store was given up): it is dropped (its owner hears the location is
    /// gone), what waited for it fails with ObjectLost naming the cause, and raylets that asked for
    /// it learn it is missing here.
    mutating func restoreFailed(_ object: ObjectID, reason: String, into effects: inout [RayletEffect]) {
        guard let entry = store.remove(object) else { return }
        if entry.inMemory || entry.restoring { effects.append(.releaseObject(object)) }
        if entry.spillFile { effects.append(.deleteSpilledObject(object)) }
        effects.append(.send(to: .worker(entry.owner), .locationRemoved(object, node: nodeID)))
        let error = entry.inMemory && !entry.restoring
            ? RayError(.objectLost, "the copy of \(object) on \(nodeID) is lost: \(reason)")
            : RayError(.objectLost, "the spilled copy of \(object) on \(nodeID) could not be restored: \(reason)")
        for waiter in restoreWaiters.removeValue(forKey: object) ?? [] {
            switch waiter {
            case .fetch(let key): resolved(object, for: key, pin: false, error: error, into: &effects)
            case .push(let node): effects.append(.send(to: .raylet(node), .objectMissing(object)))
            }
        }
    }

    mutating func free(_ object: ObjectID, into effects: inout [RayletEffect]) {
        if let entry = store.remove(object) {
            if entry.inMemory || entry.restoring { effects.append(.releaseObject(object)) }
            if entry.spillFile { effects.append(.deleteSpilledObject(object)) }
        }
        if let pull = pulls.removeValue(forKey: object) {
            let error = RayError(.objectLost, "\(object) was freed by its owner while \(info.name) was pulling it")
            for key in pull.waiters { resolved(object, for: key, pin: false, error: error, into: &effects) }
        }
        for waiter in restoreWaiters.removeValue(forKey: object) ?? [] {
            switch waiter {
            case .fetch(let key):
                resolved(object, for: key, pin: false,
                         error: RayError(.objectLost, "\(object) was freed while being restored"), into: &effects)
            case .push(let node):
                // The puller asks the owner again and learns the object is gone.
                effects.append(.send(to: .raylet(node), .objectMissing(object)))
            }
        }
    }

    mutating func servePull(_ object: ObjectID, to requester: NodeID, into effects: inout [RayletEffect]) {
        guard let entry = store[object] else {
            effects.append(.send(to: .raylet(requester), .objectMissing(object)))
            return
        }
        if entry.inMemory {
            effects.append(.send(to: .raylet(requester), .pushObject(object, entry.data, owner: entry.owner)))
        } else {
            restoreWaiters[object, default: []].append(.push(requester))
            if !entry.restoring { startRestore(object, into: &effects) }
        }
    }

    mutating func pushed(_ object: ObjectID, _ data: ObjectData, owner: WorkerID, into effects: inout [RayletEffect]) {
        guard let pull = pulls.removeValue(forKey: object) else { return }  // nobody waits any more
        guard !deadOwners.contains(owner) else {
            // Its owner died while it travelled (the pull may be for a borrower of it): what waits
            // fails, as a fetch of a dead owner's object does.
            let error = RayError(.ownerDied, "\(object)'s owner \(owner) died while it was being pulled to \(nodeID)")
            for key in pull.waiters { resolved(object, for: key, pin: false, error: error, into: &effects) }
            return
        }
        metrics.objectsPulled += 1
        let waiters = pull.waiters.filter { fetches[$0].map { !$0.answered } ?? false }
        let (actions, _) = store.insert(object, data: data, owner: owner, primary: false, pins: 0)
        apply(actions, into: &effects)
        effects.append(.send(to: .worker(owner), .locationAdded(object, node: nodeID)))
        for key in waiters { resolved(object, for: key, pin: true, error: nil, into: &effects) }
    }

    mutating func locationAnswered(_ object: ObjectID, _ answer: LocationAnswer, into effects: inout [RayletEffect]) {
        guard var pull = pulls[object], pull.phase == .locating else { return }
        if store[object] != nil {
            pulls[object] = nil
            for key in pull.waiters { resolved(object, for: key, pin: true, error: nil, into: &effects) }
            return
        }
        switch answer {
        case .at(let nodes):
            if nodes.contains(nodeID) {
                // The owner believes a copy is here and there is none: correct its directory.
                effects.append(.send(to: .worker(pull.owner), .locationRemoved(object, node: nodeID)))
            }
            guard let source = nodes.first(where: { $0 != nodeID && !deadNodes.contains($0) }) else {
                pull.phase = .waitingToRetry
                pulls[object] = pull
                effects.append(.startTimer(.retryPull(object), afterMicros: config.pullRetryDelayMicros))
                return
            }
            pull.phase = .pulling(source)
            pulls[object] = pull
            effects.append(.send(to: .raylet(source), .pullObject(object)))
        case .failed(let error):
            pulls[object] = nil
            for key in pull.waiters { resolved(object, for: key, pin: false, error: error, into: &effects) }
        case .freed:
            pulls[object] = nil
            let error = RayError(.objectLost, "\(object) is no longer tracked by its owner")
            for key in pull.waiters { resolved(object, for: key, pin: false, error: error, into: &effects) }
        }
    }

    mutating func pullFailed(_ object: ObjectID, source: NodeID, into effects: inout [RayletEffect]) {
        guard let pull = pulls[object], pull.phase == .pulling(source) else { return }
        pulls[object]?.phase = .waitingToRetry
        effects.append(.startTimer(.retryPull(object), afterMicros: config.pullRetryDelayMicros))
    }

    mutating func pullSourceLost(_ node: NodeID, into effects: inout [RayletEffect]) {
        for object in pulls.keys.sorted() where pulls[object]?.phase == .pulling(node) {
            pullFailed(object, source: node, into: &effects)
        }
    }

    mutating func retryPull(_ object: ObjectID, into effects: inout [RayletEffect]) {
        guard let pull = pulls[object], pull.phase == .waitingToRetry else { return }
        pulls[object]?.phase = .locating
        effects.append(.send(to: .worker(pull.owner), .locateObject(object)))
    }

    /// Pulls of a dead owner's objects can never finish.
    mutating func failPulls(ownedBy owner: WorkerID, into effects: inout [RayletEffect]) {
        for object in pulls.keys.sorted() where pulls[object]?.owner == owner {
            guard let pull = pulls.removeValue(forKey: object) else { continue }
            let error = RayError(.ownerDied, "the owner of \(object) (\(owner)) died")
            for key in pull.waiters { resolved(object, for: key, pin: false, error: error, into: &effects) }
        }
    }
}

extension Raylet {
    /// What `worker`'s open fetches wait for, for liveness reports.
    public func fetchDescription(worker: WorkerID) -> String {
        let open = fetches.filter { $0.key.worker == worker && !$0.value.answered }
        if open.isEmpty { return "no open fetch" }
        return open.keys.sorted().map { key in
            let state = open[key]!
            let waiting = state.objects.filter { object in
                pulls[object]?.waiters.contains(key) == true
                    || restoreWaiters[object]?.contains(.fetch(key)) == true
            }
            let phases = waiting.prefix(4).map { object -> String in
                if let pull = pulls[object] { return "\(object) pull \(pull.phase)" }
                return "\(object) restoring"
            }
            return "fetch \(key.requestID) waits for \(state.waiting) of \(state.objects.count): "
                + phases.joined(separator: ", ")
        }.joined(separator: "; ")
    }
}
