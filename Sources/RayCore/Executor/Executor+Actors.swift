// The executor of an actor's worker (Ray's actor task receiver and its
// ordered scheduling queue): the constructor runs first, then method calls
// one at a time, each caller's in sequence order. A call that arrives before
// an earlier one of the same caller waits for it, unless the caller said the
// earlier one is settled (`skipBelow`: it failed, or ran on an incarnation
// that died).
//
// Invariants: no call runs before the constructor returned; a caller's calls
// start in increasing sequence order (and run one at a time unless the actor
// is concurrent: `maxConcurrency` > 1); a (task, attempt) runs at most once here.

extension Executor {
    /// The actor this worker hosts, if any.
    public var hostedActor: ActorID? { actor?.spec.actorID }
    /// True when this worker hosts a detached actor (it outlives its job).
    public var hostsDetachedActor: Bool { actor?.spec.options.detached == true }
    /// Method calls this incarnation ran (for reports).
    public var actorCallsRun: Int { actor?.callsRun ?? 0 }

    mutating func createActor(_ spec: ActorSpec, incarnation: Int, into effects: inout [ExecutorEffect]) {
        guard actor == nil else { return }  // A worker hosts one actor, one incarnation, for its life.
        actor = HostedActor(spec: spec, incarnation: incarnation)
        let args: [ResolvedArg] = spec.creation.args.map { arg in
            switch arg {
            case .value(let data): return .inline(data)
            case .reference(let object): return .object(object)
            case .nestedReference(let object): return .borrowed(object)
            }
        }
        let task = ActorTask(actor: spec.actorID, incarnation: incarnation, call: 0)
        begin(spec.creation, attempt: incarnation + 1, args: args, actorTask: task, into: &effects)
    }

    mutating func receiveCall(_ spec: TaskSpec, attempt: Int, actor id: ActorID, incarnation: Int, sequence: UInt64,
                              skipBelow: UInt64, args: [ResolvedArg], into effects: inout [ExecutorEffect]) {
        guard actor?.spec.actorID == id, actor?.incarnation == incarnation else {
            // Meant for another actor or incarnation (this process is not it): the caller learns
            // of the actor's real state from the GCS; this attempt fails as unreachable.
            effects.append(.send(to: .worker(spec.owner), .taskReply(spec.taskID, attempt: attempt, .argumentFailed(
                RayError(.actorUnavailable, "\(spec.function)[\(spec.instance)] reached \(workerID), which does not "
                    + "run incarnation \(incarnation) of \(id)")), borrowed: [])))
            return
        }
        let caller = spec.owner
        if slot(task: spec.taskID, attempt: attempt) != nil { return }
        if actor!.waiting[caller]?[sequence] != nil { return }
        let next = max(actor!.next[caller] ?? 0, skipBelow)
        guard sequence >= next else { return }  // Ran already (a repeated push).
        // In place: a copy of the actor's tables per call would cost O(calls waiting).
        actor!.next[caller] = next
        actor!.waiting[caller, default: [:]][sequence] = (spec, attempt, args)
        runNextCall(into: &effects)
    }

    /// Starts the calls whose turn it is (callers in ID order) while fewer than `maxConcurrency`
    /// run (one, unless the actor is concurrent: then calls start in order but may end in any).
    mutating func runNextCall(into effects: inout [ExecutorEffect]) {
        guard actor?.ready == true else { return }
        let limit = max(1, actor!.spec.options.maxConcurrency)
        while (current == nil ? 0 : 1) + concurrent.count < limit, actor?.waiting.isEmpty == false {
            guard startNextCall(into: &effects) else { return }
        }
    }

    /// Starts the next call whose turn it is; false if none is.
    private mutating func startNextCall(into effects: inout [ExecutorEffect]) -> Bool {
        let id = actor!.spec.actorID, incarnation = actor!.incarnation
        let callers = actor!.waiting.count == 1 ? Array(actor!.waiting.keys) : actor!.waiting.keys.sorted()
        for caller in callers {
            let next = actor!.next[caller] ?? 0
            guard let (spec, attempt, args) = actor!.waiting[caller]?.removeValue(forKey: next) else { continue }
            if actor!.waiting[caller]?.isEmpty == true { actor!.waiting[caller] = nil }
            actor!.next[caller] = next + 1
            actor!.callsRun += 1
            let task = ActorTask(actor: id, incarnation: incarnation, call: actor!.callsRun)
            begin(spec, attempt: attempt, args: args, actorTask: task, into: &effects)
            return true
        }
        return false
    }

    /// The constructor ended: the GCS hears whether the actor is alive; calls may run.
    mutating func constructorEnded(_ task: ActorTask, _ outcome: TaskOutcome, into effects: inout [ExecutorEffect]) {
        var failure = ""
        switch outcome {
        case .returned: actor?.ready = true
        case .applicationError(let message): failure = message
        case .argumentFailed(let error): failure = "an argument failed: \(error)"
        }
        effects.append(.send(to: .gcs, .actorCreated(task.actor, incarnation: task.incarnation, worker: workerID,
                                                     failure: failure)))
        runNextCall(into: &effects)
    }
}
