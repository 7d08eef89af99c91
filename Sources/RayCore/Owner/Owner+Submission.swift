// Task submission, leasing, pushing and the replies (Ray's
// normal_task_submitter.cc and task_manager.cc): dependency resolution,
// locality-aware lease placement, spillback, retries on worker or node
// failure up to max_retries (application errors only with retry_exceptions).

extension Owner {
    mutating func submit(_ request: TaskRequest, into effects: inout [OwnerEffect]) {
        metrics.tasksSubmitted += 1
        let id = ids.takeTask()
        let spec = TaskSpec(taskID: id, jobID: identity.job, function: request.function, instance: request.instance,
                            args: withHeldReferences(request.args), returnCount: max(1, request.returnCount),
                            resources: request.resources,
                            strategy: request.strategy, maxRetries: request.maxRetries,
                            retryExceptions: request.retryExceptions, body: request.body, owner: workerID)
        let foreign = holdReturnsAndArguments(spec)
        lineageBytes += Int64(spec.approximateSizeBytes)
        tasks[id] = TaskEntry(spec: spec, state: .waitingForArguments(remaining: 0), attempts: 0,
                              retriesLeft: spec.maxRetries, submitter: ids.parent)
        if let foreign {
            failForeign(id, spec, foreign, into: &effects)
            return
        }
        waitForArguments(id, spec: spec, into: &effects)
    }

    /// Makes the task's return objects (one handle each) and counts its arguments as submitted
    /// and in lineage; returns an argument it cannot resolve (not owned here, or borrowed inside a value).
    mutating func holdReturnsAndArguments(_ spec: TaskSpec) -> ObjectID? {
        for object in spec.returnIDs {
            var entry = ObjectEntry()
            entry.localRefs = 1
            objects[object] = entry
        }
        var foreign: ObjectID?
        for object in spec.argumentObjects {
            guard objects[object] != nil else {
                // A borrowed object is held for the task like an owned one (its owner resolves it).
                if borrowed[object] != nil {
                    borrowed[object]!.submitted += 1
                    borrowed[object]!.lineage += 1
                    if !spec.args.contains(.reference(object)) { foreign = foreign ?? object }
                } else {
                    foreign = foreign ?? object
                }
                continue
            }
            objects[object]!.submittedRefs += 1
            objects[object]!.lineageRefs += 1
        }
        return foreign
    }

    /// Fails a task that takes an argument this owner does not own (borrowed inside a value, or
    /// released): it cannot be resolved here.
    mutating func failForeign(_ id: TaskID, _ spec: TaskSpec, _ foreign: ObjectID, into effects: inout [OwnerEffect]) {
        finish(id, withError: RayError(.objectLost, "\(spec.function)[\(spec.instance)] takes \(foreign), which "
            + (borrowed[foreign] != nil ? "this process borrows (a task returned it); passing a borrowed "
                + "reference inside a value (a borrower of a borrower) is not supported yet: pass it as an "
                + "argument of its own, or its value"
               : "is not owned here (released, or from another session)")), into: &effects)
    }

    /// Counts missing top-level arguments (rebuilding lost ones) and leases once none are missing.
    /// `spec` saves a lookup (and a copy) when the caller has it at hand.
    mutating func waitForArguments(_ id: TaskID, spec given: TaskSpec? = nil, into effects: inout [OwnerEffect]) {
        guard let spec = given ?? tasks[id]?.spec else { return }
        var remaining = 0
        var lost: [ObjectID] = []
        for arg in spec.args {
            guard case .reference(let object) = arg else { continue }
            if isBorrowed(object) {
                // Borrowed: it counts once its owner said where or what it is.
                guard !borrowedExists(object) else { continue }
                remaining += 1
                dependents[object, default: []].append(id)
                askOwner(object, into: &effects)
                continue
            }
            guard let entry = objects[object], !exists(entry) else { continue }
            remaining += 1
            dependents[object, default: []].append(id)
            if case .stored = entry.state { lost.append(object) }
        }
        tasks[id]?.state = .waitingForArguments(remaining: remaining)
        if remaining == 0 {
            argumentsReady(id, spec: spec, into: &effects)
            return
        }
        // Rebuilt only once the count is recorded: a rebuild can end at once (a lost put fails
        // on the spot) and count itself off.
        for object in lost { recover(object, into: &effects) }
    }

    /// True once the object has been made: its task returned (a value, a stored copy
    /// somewhere, whatever became of it since) or failed for good; a put is made at once. What a
    /// scenario's `after:` waits for, in both worlds.
    public func hasBeenMade(_ object: ObjectID) -> Bool {
        guard let entry = objects[object] else { return false }
        if case .pending = entry.state { return false }
        return true
    }

    /// `ray.wait`'s readiness, the one rule for both worlds: the value can be had now (inline,
    /// failed, or stored with a live copy), or the object is unknown here (a get fails at once).
    public func isReady(_ object: ObjectID) -> Bool {
        guard let entry = objects[object] else { return true }
        return exists(entry)
    }

    /// True when the object's value can be had now: inline, failed, or stored with a live copy.
    func exists(_ entry: ObjectEntry) -> Bool {
        switch entry.state {
        case .inline, .failed: return true
        case .stored: return hasLiveCopy(entry)
        case .pending: return false
        }
    }

    /// True when every top-level argument exists.
    mutating func argumentsAvailable(_ id: TaskID) -> Bool {
        guard let args = tasks.peek(id, { $0.spec.args }) else { return false }
        return args.allSatisfy { arg in
            guard case .reference(let object) = arg else { return true }
            guard let entry = objects[object] else { return borrowed[object] == nil || borrowedExists(object) }
            return exists(entry)
        }
    }

    mutating func argumentAvailable(_ id: TaskID, into effects: inout [OwnerEffect]) {
        guard case .waitingForArguments(let remaining) = tasks[id]?.state else { return }
        tasks[id]?.state = .waitingForArguments(remaining: remaining - 1)
        if remaining - 1 == 0 { argumentsReady(id, into: &effects) }
    }

    private mutating func argumentsReady(_ id: TaskID, spec given: TaskSpec? = nil, into effects: inout [OwnerEffect]) {
        guard let spec = given ?? tasks[id]?.spec else { return }
        // A failed argument fails the task with the argument's error, as in Ray.
        for arg in spec.args {
            if case .reference(let object) = arg, case .failed(let error)? = objects[object]?.state {
                finish(id, withError: error, into: &effects)
                return
            }
            if case .reference(let object) = arg, isBorrowed(object), case .error(let error)? = borrowed[object]?.value {
                finish(id, withError: error, into: &effects)
                return
            }
        }
        // An argument counted as available may have been lost since (its node died) and be
        // rebuilding: count again rather than lease a worker that would wait holding a CPU.
        guard argumentsAvailable(id) else {
            waitForArguments(id, spec: spec, into: &effects)
            return
        }
        if let error = placementGroupError(spec) {
            finish(id, withError: error, into: &effects)
            return
        }
        tasks[id]?.spillbacks = 0
        requestLease(id, spec: spec, spillbackCount: 0, at: leaseTarget(spec), into: &effects)
    }

    /// The node holding the most bytes of the task's stored arguments, else this node (Ray's locality-aware lease policy).
    private func leaseTarget(_ spec: TaskSpec) -> NodeID {
        if case .nodeAffinity = spec.strategy { return localNode }
        // A task of a group this program created asks the raylet holding its bundle (any bundle:
        // one chosen by the task's ID), as Ray's core worker does: that raylet has the resources.
        if let node = bundleNode(for: spec) { return node }
        if case .spread = spec.strategy { return localNode }
        if spec.args.isEmpty { return localNode }
        var bytesByNode: [NodeID: Int64] = [:]
        for arg in spec.args {
            guard case .reference(let object) = arg, let entry = objects[object],
                  case .stored(let size) = entry.state else { continue }
            for node in entry.locations where !deadNodes.contains(node) { bytesByNode[node, default: 0] += size }
        }
        guard let best = bytesByNode.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }) else { return localNode }
        return best.key
    }

    /// Asks the raylet of `node` for a lease for `id`; `replacing` is the request a spillback ended
    /// (still counted in flight for its shape until this one is sent).
    mutating func requestLease(_ id: TaskID, spec given: TaskSpec? = nil, spillbackCount: Int, at node: NodeID,
                               replacing: LeaseID? = nil, into effects: inout [OwnerEffect]) {
        guard let spec = given ?? tasks[id]?.spec else { return }
        leaseCounter += 1
        let lease = LeaseID(owner: workerID, index: leaseCounter)
        let target = deadNodes.contains(node) ? localNode : node
        tasks[id]?.state = .leasing(lease, node: target)
        leaseTasks[lease] = id
        let dependencies = storedArguments(spec)
        guard dependencies.isEmpty && spec.strategy != .spread else {
            sendLease(lease, for: id, spec, to: target, spillbackCount: spillbackCount, dependencies: dependencies,
                      into: &effects)
            return
        }
        // A task a worker of its shape can run as is: its request shares the shape's slots.
        let key = ReuseKey(resources: spec.resources, strategy: spec.strategy)
        // A spillback of a request in flight for this shape takes its place; any other request
        // (a first one, or one whose stored argument is gone since: it was not counted) waits
        // for a place under the cap.
        let takesItsPlace = replacing.map { inFlightShape[$0] == key } ?? false
        if !takesItsPlace && (inFlight[key] ?? 0) >= config.leaseRequestCap {
            park(lease, for: id, key: key)
        } else {
            sendSharedLease(lease, for: id, spec, to: target, key: key, spillbackCount: spillbackCount, into: &effects)
        }
    }

    /// Sends the request of `lease`, for task `id`, to the raylet of `node`.
    mutating func sendLease(_ lease: LeaseID, for id: TaskID, _ spec: TaskSpec, to node: NodeID, spillbackCount: Int,
                   dependencies: [ObjectID], into effects: inout [OwnerEffect]) {
        let request = LeaseRequest(leaseID: lease, taskID: id, resources: spec.resources, strategy: spec.strategy,
                                   spillbackCount: spillbackCount, dependencies: dependencies, jobID: identity.job)
        if tasks.peek(id, { $0.endedOnce }) == true {
            rebuildRequestsOut.insert(lease)  // Never held: requests out may wait for what it rebuilds.
        } else if leaseRequestsOut.count < config.leaseRequestsPerOwner {
            leaseRequestsOut.insert(lease)
        } else {
            holdLeaseRequest(request, to: node)  // Sent when a request out ends (a bounded raylet queue).
            return
        }
        effects.append(.send(to: .raylet(node), .requestWorkerLease(request)))
    }

    /// A task waiting for a lease that `worker` (leased for a finished task of `spec`'s
    /// shape) can run now instead — Ray's lease reuse: the worker stays leased and the
    /// waiting task's own request is cancelled. Only tasks without stored arguments (the
    /// raylet pinned nothing for them) and never across a hard placement.
    mutating func takeReusable(after spec: TaskSpec, on worker: WorkerID) -> TaskID? {
        guard spec.strategy != .spread, !deadWorkers.contains(worker), !deadNodes.contains(worker.node) else { return nil }
        if case .nodeAffinity(let node, _) = spec.strategy, node != worker.node { return nil }
        let key = ReuseKey(resources: spec.resources, strategy: spec.strategy)
        if let waiting = takeParked(key) { return waiting }  // No request of its own to cancel.
        guard reusable[key] != nil else { return nil }
        defer { if reusable[key]?.isEmpty == true { reusable[key] = nil } }
        while let candidate = reusable[key]?.popFirst() {
            guard let entry = tasks[candidate], case .leasing = entry.state, pinsNothing(entry.spec) else { continue }
            return candidate
        }
        return nil
    }

    /// The top-level arguments that are stored objects: what a raylet fetches and pins for
    /// the task's lease before granting it.
    func storedArguments(_ spec: TaskSpec) -> [ObjectID] {
        spec.args.compactMap { arg in
            guard case .reference(let object) = arg else { return nil }
            if case .stored? = objects[object]?.state { return object }
            return isBorrowed(object) && borrowed[object]!.stored ? object : nil
        }
    }

    /// True when no argument is a stored object (so no raylet fetched or pinned anything for
    /// the task's lease, and a worker leased for another task can run it as is).
    func pinsNothing(_ spec: TaskSpec) -> Bool {
        storedArguments(spec).isEmpty
    }

    mutating func leaseGranted(_ lease: LeaseID, worker: WorkerID, into effects: inout [OwnerEffect]) {
        leaseRequestEnded(lease, into: &effects)
        if deadWorkers.contains(worker), let id = leaseTasks.removeValue(forKey: lease),
           case .leasing(lease, _)? = tasks[id]?.state {
            // Granted a worker whose connection already closed: lease again (no attempt was made).
            waitForArguments(id, into: &effects)
            return
        }
        guard let id = leaseTasks[lease], let entry = tasks[id], case .leasing(lease, _) = entry.state else {
            // Stale grant (the task moved on): hand the worker straight back.
            leaseTasks[lease] = nil
            effects.append(.send(to: .raylet(worker.node), .returnWorker(lease, killWorker: false)))
            return
        }
        startAttempt(id, entry, lease: lease, worker: worker, into: &effects)
    }

    /// Pushes the next attempt of `id` to `worker`, which `lease` holds.
    private mutating func startAttempt(_ id: TaskID, _ entry: TaskEntry, lease: LeaseID, worker: WorkerID,
                                       into effects: inout [OwnerEffect]) {
        leaseTasks[lease] = id
        tasks[id]?.state = .running(lease, worker: worker)
        tasks[id]?.leaseAskedBack = false
        tasks[id]?.attempts += 1
        metrics.attemptsStarted += 1
        runningOn[worker] = id
        let args = resolvedArguments(entry.spec)
        effects.append(.send(to: .worker(worker), .pushTask(entry.spec, attempt: entry.attempts + 1, lease: lease,
                                                           args: args)))
    }

    /// The arguments as pushed: values and small objects inline, stored objects to fetch,
    /// references inside values borrowed.
    func resolvedArguments(_ spec: TaskSpec) -> [ResolvedArg] {
        spec.args.map { arg in
            switch arg {
            case .value(let data): return .inline(data)
            case .nestedReference(let object): return .borrowed(object)
            case .reference(let object):
                if case .inline(let data)? = objects[object]?.state { return .inline(data) }
                if isBorrowed(object), case .data(let data)? = borrowed[object]?.value { return .inline(data) }
                return .object(object)
            }
        }
    }

    mutating func leaseSpilledBack(_ lease: LeaseID, to node: NodeID, into effects: inout [OwnerEffect]) {
        guard let id = leaseTasks.removeValue(forKey: lease), case .leasing(lease, _)? = tasks[id]?.state else { return }
        defer { leaseRequestEnded(lease, into: &effects) }  // After the request that replaces it.
        tasks[id]?.spillbacks += 1
        // An argument lost meanwhile must be rebuilt before any raylet takes resources for this task.
        guard argumentsAvailable(id) else {
            waitForArguments(id, into: &effects)
            return
        }
        requestLease(id, spillbackCount: tasks[id]?.spillbacks ?? 0, at: node, replacing: lease, into: &effects)
    }

    mutating func leaseUnschedulable(_ lease: LeaseID, reason: String, into effects: inout [OwnerEffect]) {
        guard let id = leaseTasks.removeValue(forKey: lease), case .leasing(lease, _)? = tasks[id]?.state,
              let spec = tasks[id]?.spec else { return }
        leaseRequestEnded(lease, into: &effects)
        finish(id, withError: placementGroupError(spec)
            ?? RayError(.taskUnschedulable, "\(spec.function)[\(spec.instance)] cannot be scheduled: \(reason)"),
               into: &effects)
    }

    /// A raylet refused the lease request at its job's request rate (Raylet+RequestRate.swift):
    /// the task fails with the raylet's error (QuotaExceeded, naming the limits), not retried.
    mutating func leaseRefused(_ lease: LeaseID, _ error: RayError, into effects: inout [OwnerEffect]) {
        guard let id = leaseTasks.removeValue(forKey: lease), case .leasing(lease, _)? = tasks[id]?.state else { return }
        leaseRequestEnded(lease, into: &effects)
        finish(id, withError: error, into: &effects)
    }

    /// A worker that still holds references it got in arguments (or passed on) is now a borrower
    /// of each (Ray's borrowed_refs in PushTaskReply), of this owner's or of a borrow of this
    /// process (chained); it reports with borrowReleased when it lets go.
    mutating func workerStillBorrows(_ borrowed: [ObjectID], _ worker: WorkerID) {
        for object in borrowed {
            guard objects[object] != nil else {
                subBorrowerHolds(object, worker)
                continue
            }
            if !objects[object]!.borrowers.contains(worker) && !deadWorkers.contains(worker) {
                objects[object]!.borrowers.append(worker)
            }
        }
    }

    mutating func taskReplied(_ id: TaskID, attempt: Int, outcome: TaskOutcome, borrowed: [ObjectID], worker: WorkerID,
                              into effects: inout [OwnerEffect]) {
        workerStillBorrows(borrowed, worker)
        guard let entry = tasks[id], case .running(let lease, worker)? = Optional(entry.state),
              entry.attempts == attempt else {
            // A reply from an attempt given up on: drop a stored copy nobody tracks, and the
            // references its values hold.
            settleReturned(id, attempt: attempt, completed: false, into: &effects)
            if case .returned(let values) = outcome, let spec = tasks[id]?.spec {
                for (object, value) in zip(spec.returnIDs, values) {
                    guard case .stored(let node, _) = value, !(objects[object]?.locations.contains(node) ?? false)
                    else { continue }
                    effects.append(.send(to: .raylet(node), .freeObject(object)))
                }
            }
            return
        }
        runningOn[worker] = nil
        leaseTasks[lease] = nil
        switch outcome {
        case .returned(let values):
            // The references the values hold are held first: completing drops the task's hold on
            // its arguments, and a returned reference may be one of them.
            settleReturned(id, attempt: attempt, completed: true, into: &effects)
            complete(id, values: values, into: &effects)
        case .applicationError(let message):
            if entry.spec.retryExceptions && entry.retriesLeft != 0 {
                retry(id, into: &effects)
            } else {
                let retried = entry.spec.retryExceptions ? " after \(entry.attempts) attempts (max_retries=\(entry.spec.maxRetries))" : ""
                finish(id, withError: RayError(.taskFailed,
                    "\(entry.spec.function)[\(entry.spec.instance)] raised: \(message)\(retried)"), into: &effects)
            }
        case .argumentFailed(let error):
            finish(id, withError: error, into: &effects)
        }
        settleReturned(id, attempt: attempt, completed: false, into: &effects)
        // The worker is free: run a waiting task of the same shape on it (tasks the completion
        // just made ready included), else hand it back — and hand it back when its raylet
        // asked (another job waits there: the tasks left here wait in its queue, in turn).
        if !entry.leaseAskedBack,
           pinsNothing(entry.spec), let next = takeReusable(after: entry.spec, on: worker), let nextEntry = tasks[next],
           case .leasing(let ownLease, let node) = nextEntry.state {
            leaseTasks[ownLease] = nil
            if !isParked(ownLease) { effects.append(.send(to: .raylet(node), .cancelWorkerLease(ownLease))) }
            leaseRequestEnded(ownLease, into: &effects)
            startAttempt(next, nextEntry, lease: lease, worker: worker, into: &effects)
        } else {
            effects.append(.send(to: .raylet(worker.node), .returnWorker(lease, killWorker: false)))
        }
    }

    mutating func complete(_ id: TaskID, values: [ReturnValue], into effects: inout [OwnerEffect]) {
        guard let spec = tasks[id]?.spec else { return }
        tasks[id]?.state = .finished
        countEnded(id)
        lineageOrder.append(id)
        for (object, value) in zip(spec.returnIDs, values) {
            guard var entry = objects[object] else {
                // Nobody wants it any more: drop the stored copy.
                if case .stored(let node, _) = value {
                    effects.append(.send(to: .raylet(node), .freeObject(object)))
                }
                continue
            }
            switch value {
            case .inline(let data):
                entry.state = .inline(data)
            case .stored(let node, let size):
                entry.state = .stored(sizeBytes: size)
                entry.storedSizeBytes = size
                if entry.freed || deadNodes.contains(node) {
                    if entry.freed { effects.append(.send(to: .raylet(node), .freeObject(object))) }
                } else {
                    insertSorted(node, into: &entry.locations)
                    effects.append(.send(to: .raylet(node), .pinObject(object)))
                }
            }
            objects[object] = entry
            if !entry.freed { objectAvailable(object, into: &effects) }
        }
        argumentsDone(spec, into: &effects)
        evictLineageIfNeeded(into: &effects)
        compactLineageOrderIfNeeded()
    }

    /// The first end of a task or call counts in `tasksEnded` (a re-execution's does not).
    private mutating func countEnded(_ id: TaskID) {
        guard tasks.peek(id, { !$0.endedOnce }) == true else { return }
        tasks[id]!.endedOnce = true
        metrics.tasksEnded += 1
    }

    /// Stores `error` in every return of the task: it is final.
    mutating func finish(_ id: TaskID, withError error: RayError, into effects: inout [OwnerEffect]) {
        guard let spec = tasks[id]?.spec else { return }
        if case .running(let lease, let worker)? = tasks[id]?.state {
            runningOn[worker] = nil
            leaseTasks[lease] = nil
        }
        tasks[id]?.state = .failed
        metrics.tasksFailed += 1
        countEnded(id)
        dropReturned(id, into: &effects)
        lineageOrder.append(id)
        for object in spec.returnIDs where objects[object] != nil {
            objects[object]!.state = .failed(error)
            objectAvailable(object, into: &effects)
        }
        argumentsDone(spec, into: &effects)
    }

    /// The task no longer needs its arguments to run.
    mutating func argumentsDone(_ spec: TaskSpec, into effects: inout [OwnerEffect]) {
        for object in spec.argumentObjects {
            guard objects[object] != nil else {
                borrowedArgumentDone(object, lineage: false, into: &effects)
                continue
            }
            objects[object]!.submittedRefs -= 1
            precondition(objects[object]!.submittedRefs >= 0, "negative submitted count for \(object)")
            releaseIfUnused(object, into: &effects)
        }
        releaseLineageIfUnused(spec.taskID, into: &effects)
    }

    /// An attempt failed for a system reason: retry if allowed, else WorkerCrashed.
    /// `output`: the worker's last lines of stderr, quoted in the error.
    mutating func attemptFailed(_ id: TaskID, worker: WorkerID, reason: String, output: [Substring] = [],
                                into effects: inout [OwnerEffect]) {
        guard let entry = tasks[id] else { return }
        runningOn[worker] = nil
        if case .running(let lease, _) = entry.state { leaseTasks[lease] = nil }
        if let error = placementGroupError(entry.spec) {
            // Its group's removal killed it (Ray force-kills what runs in a removed group), or
            // the group lost the node and cannot be placed again: not retried.
            finish(id, withError: RayError(error.kind, error.message + " (its attempt ended: \(reason))"), into: &effects)
        } else if entry.retriesLeft != 0 {
            retry(id, into: &effects)
        } else {
            finish(id, withError: RayError(.workerCrashed,
                "\(entry.spec.function)[\(entry.spec.instance)] failed: \(reason); \(entry.attempts) attempt(s) made and "
                + "max_retries=\(entry.spec.maxRetries) is used up (raise max_retries to retry more)"
                + (output.isEmpty ? "" : "; its last lines of stderr:\n" + output.map { "    " + $0 }.joined(separator: "\n"))),
                into: &effects)
        }
    }

    private mutating func retry(_ id: TaskID, into effects: inout [OwnerEffect]) {
        guard let entry = tasks[id] else { return }
        if entry.retriesLeft > 0 { tasks[id]?.retriesLeft -= 1 }
        metrics.retries += 1
        waitForArguments(id, into: &effects)
    }

    /// `ray.cancel`: fails a task that has not finished with Cancelled. Waiting or leasing:
    /// at once (a lease request out is cancelled). Running: only with `force`, which kills
    /// its worker (a Swift body cannot be interrupted); without it the task runs to the end.
    mutating func cancel(_ object: ObjectID, force: Bool, recursive: Bool, into effects: inout [OwnerEffect]) {
        guard !object.isPut, let entry = tasks[object.task] else { return }
        let name = "\(entry.spec.function)[\(entry.spec.instance)]"
        switch entry.state {
        case .finished, .failed:
            return
        case .waitingForArguments:
            for argument in entry.spec.argumentObjects {
                if var waiting = dependents[argument] {
                    waiting.removeAll { $0 == object.task }
                    dependents[argument] = waiting.isEmpty ? nil : waiting
                }
            }
        case .leasing(let lease, let node):
            leaseTasks[lease] = nil
            if !isParked(lease) { effects.append(.send(to: .raylet(node), .cancelWorkerLease(lease))) }
            leaseRequestEnded(lease, into: &effects)
        case .actorCall(let actor):
            // A call not pushed yet is dropped; one the actor runs is not interrupted (as Ray,
            // which does not force-cancel actor tasks).
            guard let index = actors[actor]?.pending.firstIndex(of: object.task),
                  actors[actor]?.sequence[object.task] == nil else { return }
            actors[actor]!.pending.remove(at: index)
        case .running(let lease, let worker):
            // Its worker's owner cancels what this attempt submitted (a forced cancel kills the
            // worker, and with it that owner: its raylets then drop what it leased and queued).
            if recursive && !force {
                effects.append(.send(to: .worker(worker), .cancelChildren(object.task, attempt: entry.attempts, force: force)))
            }
            guard force else { return }
            runningOn[worker] = nil
            leaseTasks[lease] = nil
            effects.append(.send(to: .raylet(worker.node), .returnWorker(lease, killWorker: true)))
        }
        finish(object.task, withError: RayError(.cancelled, "\(name) was cancelled"
            + (force ? " (its worker was killed)" : "")), into: &effects)
    }

    /// The owner of `attempt` of `task` cancelled it recursively: cancel what that attempt's body
    /// submitted here (in submission order of their IDs: deterministic), recursively.
    mutating func cancelChildren(of task: TaskID, attempt: Int, force: Bool, into effects: inout [OwnerEffect]) {
        let submitter = OwnerIDs.forTask(task, attempt: attempt, key: identity.idKey).parent
        let children = tasks.compactMap { $0.value.submitter == submitter ? $0.key : nil }.sorted()
        for child in children {
            cancel(.returnValue(of: child, index: 1), force: force, recursive: true, into: &effects)
        }
    }

    /// A leased worker's connection closed: its attempt failed.
    /// `detail`: how its process ended, then its last lines of stderr (from its raylet).
    mutating func workerLost(_ worker: WorkerID, detail: String? = nil, into effects: inout [OwnerEffect]) {
        deadWorkers.insert(worker)
        borrowedOwnerDied(worker, into: &effects)
        if !borrowerWaiters.isEmpty {
            for object in borrowerWaiters.keys.sorted() {
                borrowerWaiters[object]!.removeAll { $0 == worker }
                if borrowerWaiters[object]!.isEmpty { borrowerWaiters[object] = nil }
            }
        }
        for object in borrowedBy(worker) {
            objects[object]?.borrowers.removeAll { $0 == worker }
            releaseIfUnused(object, into: &effects)
        }
        guard let id = runningOn[worker] else { return }
        let lines = detail?.split(separator: "\n", omittingEmptySubsequences: false) ?? []
        let how = lines.first.map { " (\($0))" } ?? ""
        attemptFailed(id, worker: worker, reason: "its worker \(worker) died\(how)", output: Array(lines.dropFirst()),
                      into: &effects)
    }

    private func borrowedBy(_ worker: WorkerID) -> [ObjectID] {
        objects.filter { $0.value.borrowers.contains(worker) }.keys.sorted()
    }
}
