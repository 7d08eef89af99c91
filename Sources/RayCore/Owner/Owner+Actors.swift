// Actors from a caller's side (Ray's actor_task_submitter.cc and the actor
// handle's reference count): creating an actor registers it with the GCS;
// each method call gets the next sequence number of this caller and is pushed
// straight to the actor's worker, in order, once the actor is alive and the
// call's arguments exist. When an incarnation dies with calls in flight, each
// is pushed again to the next incarnation while it has task retries left
// (at-least-once), else fails with ActorDied (at-most-once: it may or may not
// have run, and never runs twice). Calls wait while the actor restarts, and
// fail with ActorDied once it is dead.
//
// Invariants: a caller's calls are pushed in sequence order; a call is in at
// most one of `pending` and `inFlight`; every call ends exactly once (a reply
// from an attempt given up on is ignored).

public import DequeModule

extension Owner {
    /// An actor as this process sees it.
    public struct CallerActor: Sendable {
        /// Its state as the GCS last published it (nil: not heard yet).
        public var info: ActorInfo?
        /// This process created it (its handle's object is owned here).
        public var created: Bool
        public var maxTaskRetries: Int
        public var detached: Bool
        /// `Counter[0]`.
        public var name: String
        var nextSequence: UInt64 = 0
        /// Calls not pushed to the current incarnation, in submission order (those pushed to an
        /// incarnation that died first, with their sequence numbers).
        public internal(set) var pending: Deque<TaskID> = []
        /// Calls pushed to incarnation `pushedTo`, in sequence order (replies end them mostly in
        /// order: a deque, or removing the first of thousands in flight moved all the others).
        public internal(set) var inFlight: Deque<TaskID> = []
        var pushedTo = 0
        var sequence: [TaskID: UInt64] = [:]
        /// Every handle went (here and at borrowers): once its calls end, it is destroyed.
        var outOfScope = false
        /// This process killed it for good (`Ray.kill`): later calls fail at once.
        var killedHere: String?
        /// The objects its constructor takes, held while it lives (created here only).
        var arguments: [ObjectID] = []
        /// The placement group of this program's it was created in (created here only).
        var placementGroup: PlacementGroupID?
    }

    mutating func createActor(_ request: TaskRequest, _ options: ActorOptions, into effects: inout [OwnerEffect]) {
        metrics.tasksSubmitted += 1
        let id = ids.takeTask()
        let spec = TaskSpec(taskID: id, jobID: identity.job, function: request.function, instance: request.instance,
                            args: request.args, returnCount: 1, resources: request.resources, strategy: request.strategy,
                            maxRetries: 0, retryExceptions: false, body: request.body, owner: workerID)
        let actor = ActorID(creationTask: id)
        // The handle's object: its count is the actor's handles here (and its borrowers').
        var handle = ObjectEntry()
        handle.localRefs = 1
        handle.state = .inline(ObjectData(sizeBytes: 0, digest: id.value))
        objects[actor.handle] = handle
        var caller = CallerActor(info: nil, created: true, maxTaskRetries: options.maxTaskRetries,
                                 detached: options.detached, name: "\(request.function)[\(request.instance)]")
        // The constructor's reference arguments are held for the actor's life (a restart runs it
        // again): owned ones here, borrowed ones at their owners (this process keeps its borrow).
        var foreign: ObjectID?
        for object in spec.argumentObjects {
            if objects[object] != nil {
                objects[object]!.submittedRefs += 1
            } else if isBorrowed(object) {
                borrowed[object]!.submitted += 1
            } else {
                foreign = foreign ?? object
                continue
            }
            caller.arguments.append(object)
        }
        caller.placementGroup = placementGroup(of: request.resources)?.id
        actors[actor] = caller
        // A worker that creates actors has its death reported (its actors die with it).
        if inWorker && !ownsActors {
            ownsActors = true
            effects.append(.send(to: .raylet(localNode), .ownsActors(workerID)))
        }
        let ready = ActorSpec(creation: spec, options: options)
        if let foreign {
            // Registered and killed at once, so the failure has the GCS's words and reaches every caller.
            effects.append(.send(to: .gcs, .registerActor(ActorSpec(creation: spec, options: options,
                                                                    dependenciesReady: false))))
            effects.append(.send(to: .gcs, .killActor(actor, noRestart: true, reason: "its constructor takes \(foreign), "
                + "which its creator neither owns nor borrows (a released reference, or one of another session)")))
            return
        }
        guard constructorArgumentsExist(ready) else {
            // DEPENDENCIES_UNREADY until they do (Ray's actor creation waits for its arguments).
            effects.append(.send(to: .gcs, .registerActor(ActorSpec(creation: spec, options: options,
                                                                    dependenciesReady: false))))
            pendingConstructors[actor] = ready
            rebuildLostArguments(spec, into: &effects)
            return
        }
        effects.append(.send(to: .gcs, .registerActor(resolvedConstructor(ready))))
    }

    /// True once every reference the constructor takes exists (or failed); a borrowed one once
    /// its owner said what or where it is.
    private func constructorArgumentsExist(_ spec: ActorSpec) -> Bool {
        spec.creation.args.allSatisfy { arg in
            guard case .reference(let object) = arg else { return true }
            guard let entry = objects[object] else { return borrowedExists(object) }
            return exists(entry)
        }
    }

    /// The spec with its small reference arguments inline (the actor's worker fetches the stored ones).
    private func resolvedConstructor(_ spec: ActorSpec) -> ActorSpec {
        var resolved = spec
        resolved.creation.args = spec.creation.args.map { arg in
            guard case .reference(let object) = arg else { return arg }
            if case .inline(let data)? = objects[object]?.state { return .value(data) }
            if isBorrowed(object), case .data(let data)? = borrowed[object]?.value { return .value(data) }
            return arg
        }
        resolved.dependenciesReady = true
        return resolved
    }

    /// An object exists now: actors waiting for their constructor's arguments may be placed.
    mutating func constructorArgumentsChanged(into effects: inout [OwnerEffect]) {
        for actor in pendingConstructors.keys.sorted() {
            let spec = pendingConstructors[actor]!
            if let error = failedArgument(spec.creation) {
                pendingConstructors[actor] = nil
                effects.append(.send(to: .gcs, .killActor(actor, noRestart: true,
                    reason: "its constructor's argument failed: \(error)")))
                continue
            }
            guard constructorArgumentsExist(spec) else { continue }
            pendingConstructors[actor] = nil
            effects.append(.send(to: .gcs, .actorDependenciesReady(resolvedConstructor(spec))))
        }
    }

    mutating func callActor(_ actor: ActorID, _ request: TaskRequest, into effects: inout [OwnerEffect]) {
        metrics.tasksSubmitted += 1
        let id = ids.takeTask()
        // Fields read in place (`peek`): `actors[actor]?.field` copies the whole entry first.
        let retries = actors.peek(actor) { $0.maxTaskRetries } ?? 0
        let spec = TaskSpec(taskID: id, jobID: identity.job, function: request.function, instance: request.instance,
                            args: withHeldReferences(request.args), returnCount: max(1, request.returnCount),
                            resources: ResourceSet(),
                            strategy: .default, maxRetries: retries, retryExceptions: request.retryExceptions,
                            body: request.body, owner: workerID)
        let foreign = holdReturnsAndArguments(spec)
        lineageBytes += Int64(spec.approximateSizeBytes)
        tasks[id] = TaskEntry(spec: spec, state: .actorCall(actor), attempts: 0, retriesLeft: retries,
                              submitter: ids.parent)
        guard let killedHere = actors.peek(actor, { $0.killedHere }) else {
            finish(id, withError: RayError(.actorDied, "\(request.function) called on \(actor), which this process "
                + "holds no handle to"), into: &effects)
            return
        }
        if let foreign {
            failForeign(id, spec, foreign, into: &effects)
            return
        }
        if let reason = killedHere {
            finish(id, withError: RayError(.actorDied, "\(actors[actor]!.name).\(request.function) cannot run: "
                + "\(actors[actor]!.name) is dead (\(reason))"), into: &effects)
            return
        }
        actors[actor]!.pending.append(id)
        if let cause = actors.peek(actor, { $0.info?.state == .dead ? $0.info!.cause : nil }) ?? nil {
            // Known dead (the GCS said so): the call fails now, with the cause.
            failPendingCalls(actor, cause: cause, into: &effects)
            return
        }
        pushCalls(actor, into: &effects)
    }

    /// Pushes the pending calls, in order, while the actor is alive and the next call's
    /// arguments exist (a call waiting for an argument holds back the ones after it).
    mutating func pushCalls(_ actor: ActorID, into effects: inout [OwnerEffect]) {
        actorsWaitingForArguments.remove(actor)
        // The tables are changed in place (`actors[actor]!`): a copy of them per call would cost
        // O(calls in flight).
        guard let (worker, incarnation, pushedTo) = actors.peek(actor, { caller -> (WorkerID, Int, Int)? in
            guard let info = caller.info, info.state == .alive else { return nil }
            return (info.worker, info.incarnation, caller.pushedTo)
        }) ?? nil else { return }
        if pushedTo != incarnation {
            precondition(actors.peek(actor) { $0.inFlight.isEmpty } == true, "calls in flight to an incarnation that ended")
            actors[actor]!.pushedTo = incarnation
            // A new incarnation: the calls pushed again are numbered afresh, from the first one
            // (which says everything below it is settled). Keeping their old numbers left a gap
            // where a call had replied out of order, and the new incarnation waited there forever.
            actors[actor]!.sequence.removeAll()
        }
        while let id = actors.peek(actor, { $0.pending.first }) ?? nil, let entry = tasks[id] {
            if let error = failedArgument(entry.spec) {
                actors[actor]!.pending.removeFirst()
                finish(id, withError: error, into: &effects)
                continue
            }
            guard argumentsAvailable(id) else {
                actorsWaitingForArguments.insert(actor)
                rebuildLostArguments(entry.spec, into: &effects)
                break
            }
            actors[actor]!.pending.removeFirst()
            let (sequence, settledBelow) = Self.numberCall(id, of: &actors[actor]!)
            tasks[id]!.attempts += 1
            metrics.attemptsStarted += 1
            effects.append(.send(to: .worker(worker), .pushActorTask(
                entry.spec, attempt: entry.attempts + 1, actor, incarnation: incarnation, sequence: sequence,
                skipBelow: settledBelow, args: resolvedArguments(entry.spec))))
        }
    }

    /// Moves call `id` to the calls in flight of `caller`: its sequence number (given when it was
    /// first pushed to this incarnation, so a call cancelled or failed before leaves no gap the
    /// actor would wait at), and the number below which every call is settled.
    private static func numberCall(_ id: TaskID, of caller: inout CallerActor) -> (UInt64, UInt64) {
        let sequence: UInt64
        if let known = caller.sequence[id] {
            sequence = known
        } else {
            sequence = caller.nextSequence
            caller.sequence[id] = sequence
            caller.nextSequence += 1
        }
        let settledBelow = caller.inFlight.first.flatMap { caller.sequence[$0] } ?? sequence
        caller.inFlight.append(id)
        return (sequence, settledBelow)
    }

    /// The error of an argument that failed (the call fails with it, as a task does).
    private func failedArgument(_ spec: TaskSpec) -> RayError? {
        for arg in spec.args {
            guard case .reference(let object) = arg else { continue }
            if case .failed(let error)? = objects[object]?.state { return error }
            if isBorrowed(object), case .error(let error)? = borrowed[object]?.value { return error }
        }
        return nil
    }

    /// Starts rebuilding a stored argument whose copies are all gone (its lineage re-runs), and
    /// asks the owner of a borrowed one where it is.
    private mutating func rebuildLostArguments(_ spec: TaskSpec, into effects: inout [OwnerEffect]) {
        for arg in spec.args {
            guard case .reference(let object) = arg else { continue }
            if isBorrowed(object) {
                if !borrowedExists(object) { askOwner(object, into: &effects) }
                continue
            }
            guard let entry = objects[object], case .stored = entry.state, !hasLiveCopy(entry) else { continue }
            recover(object, into: &effects)
        }
    }

    mutating func actorCallReplied(_ id: TaskID, _ actor: ActorID, attempt: Int, outcome: TaskOutcome,
                                   borrowed: [ObjectID], worker: WorkerID, into effects: inout [OwnerEffect]) {
        workerStillBorrows(borrowed, worker)
        guard let entry = tasks[id], entry.attempts == attempt,
              let index = actors.peek(actor, { $0.inFlight.firstIndex(of: id) }) ?? nil else {
            settleReturned(id, attempt: attempt, completed: false, into: &effects)
            return
        }
        actors[actor]!.inFlight.remove(at: index)
        actors[actor]!.sequence[id] = nil
        switch outcome {
        case .returned(let values):
            // The references the values hold are held first: completing drops the task's hold on
            // its arguments, and a returned reference may be one of them.
            settleReturned(id, attempt: attempt, completed: true, into: &effects)
            complete(id, values: values, into: &effects)
        case .applicationError(let message):
            if entry.spec.retryExceptions && entry.retriesLeft != 0 {
                // Run again, after what is queued (its turn passed: a new sequence number).
                if entry.retriesLeft > 0 { tasks[id]!.retriesLeft -= 1 }
                metrics.retries += 1
                actors[actor]!.pending.append(id)
                pushCalls(actor, into: &effects)
            } else {
                let name = "\(actors[actor]!.name).\(entry.spec.function)"
                finish(id, withError: RayError(.taskFailed, "\(name) raised: \(message)"), into: &effects)
            }
            settleReturned(id, attempt: attempt, completed: false, into: &effects)
        case .argumentFailed(let error):
            finish(id, withError: error, into: &effects)
            settleReturned(id, attempt: attempt, completed: false, into: &effects)
        }
        destroyIfDone(actor, into: &effects)
    }

    /// `Ray.kill`: the GCS kills it. Without restart, what this process calls after the kill
    /// fails at once, and so do its calls not sent yet (a call already sent may still have run).
    mutating func killActor(_ actor: ActorID, noRestart: Bool, into effects: inout [OwnerEffect]) {
        let reason = "killed by Ray.kill from \(workerID)"
        effects.append(.send(to: .gcs, .killActor(actor, noRestart: noRestart, reason: reason)))
        guard noRestart, actors[actor] != nil, actors[actor]!.info?.state != .dead else { return }
        actors[actor]!.killedHere = reason
        failPendingCalls(actor, cause: reason, into: &effects)
    }

    /// The actor is dead: the calls not pushed yet fail with the cause.
    mutating func failPendingCalls(_ actor: ActorID, cause: String, into effects: inout [OwnerEffect]) {
        guard let caller = actors[actor] else { return }
        let calls = caller.pending
        actors[actor]!.pending = []
        actorsWaitingForArguments.remove(actor)
        // An actor its job's quota refused fails its calls with that error (QuotaExceeded).
        let refused = caller.info.map { $0.causeKind == RayErrorKind.quotaExceeded.rawValue } ?? false
        for id in calls {
            guard let entry = tasks[id] else { continue }
            actors[actor]!.sequence[id] = nil
            finish(id, withError: refused
                ? RayError(.quotaExceeded, "\(caller.name).\(entry.spec.function) cannot run: \(caller.name) was "
                    + "not created (\(cause))")
                : RayError(.actorDied, "\(caller.name).\(entry.spec.function) cannot run: "
                    + "\(caller.name) is dead (\(cause))"), into: &effects)
        }
    }

    /// The GCS published the actor's state: calls in flight to an incarnation that ended are
    /// retried or fail; a live actor gets the pending ones; a dead one fails them all.
    mutating func actorUpdated(_ info: ActorInfo, into effects: inout [OwnerEffect]) {
        let actor = info.actorID
        guard let known = actors[actor] else { return }
        if let last = known.info {
            // Updates about an older incarnation, or a step back, are stale.
            if info.incarnation < last.incarnation || last.state == .dead { return }
            if info.incarnation == last.incarnation && info.state == last.state { return }
        }
        actors[actor]!.info = info
        if !known.created {
            actors[actor]!.name = info.name
            actors[actor]!.maxTaskRetries = info.maxTaskRetries
            // Calls made before the first update did not know the actor's retries: they do now.
            for id in known.pending where tasks[id]?.attempts == 0 && tasks[id]?.spec.maxRetries != info.maxTaskRetries {
                tasks[id]!.spec.maxRetries = info.maxTaskRetries
                tasks[id]!.retriesLeft = info.maxTaskRetries
            }
        }
        let name = actors[actor]!.name
        let cause = info.cause.isEmpty ? "no cause given" : info.cause
        if !known.inFlight.isEmpty && (known.pushedTo < info.incarnation || info.state == .dead || info.state == .restarting) {
            // The incarnation they were pushed to ended: retried in order while allowed, else failed.
            actors[actor]!.inFlight = []
            var requeued: [TaskID] = []
            for id in known.inFlight {
                guard let entry = tasks[id] else { continue }
                if entry.retriesLeft != 0 && info.state != .dead {
                    if entry.retriesLeft > 0 { tasks[id]!.retriesLeft -= 1 }
                    metrics.retries += 1
                    requeued.append(id)
                    continue
                }
                actors[actor]!.sequence[id] = nil
                let retries = entry.spec.maxRetries
                finish(id, withError: RayError(.actorDied, "\(name).\(entry.spec.function) was running when \(name) died "
                    + "(\(cause)); " + (retries == 0 ? "max_task_retries=0, so it is not retried (it may or may not have run)"
                                                    : "its max_task_retries=\(retries) are used up")), into: &effects)
            }
            actors[actor]!.pending = requeued + actors[actor]!.pending
        }
        switch info.state {
        case .dead:
            // Its constructor's arguments are not needed any more.
            let held = actors[actor]!.arguments
            actors[actor]!.arguments = []
            for object in held {
                if objects[object] != nil {
                    objects[object]!.submittedRefs -= 1
                    releaseIfUnused(object, into: &effects)
                } else {
                    borrowedArgumentDone(object, lineage: false, into: &effects)
                }
            }
            pendingConstructors[actor] = nil
            failPendingCalls(actor, cause: cause, into: &effects)
        case .alive:
            pushCalls(actor, into: &effects)
        case .pendingCreation, .restarting, .dependenciesUnready:
            break
        }
        destroyIfDone(actor, into: &effects)
    }

    /// The last handle to an actor this process created went (no local handle, no borrower):
    /// unless detached, the actor is destroyed (Ray's out-of-scope actor termination).
    mutating func actorHandleReleased(_ actor: ActorID, into effects: inout [OwnerEffect]) {
        guard let caller = actors[actor], caller.created, !caller.detached else { return }
        actors[actor]!.outOfScope = true
        destroyIfDone(actor, into: &effects)
    }

    /// An actor out of scope is destroyed once the calls made before its handles went ended.
    mutating func destroyIfDone(_ actor: ActorID, into effects: inout [OwnerEffect]) {
        guard let dead = actors.peek(actor, { caller -> Bool? in
            guard caller.outOfScope, caller.pending.isEmpty, caller.inFlight.isEmpty else { return nil }
            return caller.info?.state == .dead
        }) ?? nil else { return }
        actors[actor]!.outOfScope = false
        if dead { return }
        effects.append(.send(to: .gcs, .killActor(actor, noRestart: true, reason: "all its handles went out of scope")))
    }
}
