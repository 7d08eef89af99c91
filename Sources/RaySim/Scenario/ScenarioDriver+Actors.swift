// Actors in a scenario (../SCENARIOS.md "Actors"), in either world: the
// program creates `count` actors per entry and makes `calls` method calls to
// each, in order, then gets them all. A synthetic actor's call returns its
// incarnation and its call number within it, so the checkers read back Ray's
// rules: a caller's calls ran in submission order (the (incarnation, call)
// pairs of the calls that returned strictly increase), no more incarnations
// than max_restarts allows, and calls fail only with actor errors.

import RayCore

extension ScenarioDriver {
    /// The size of what a synthetic actor method returns.
    static let actorCallOutputBytes: Int64 = 8

    /// The actor instances a pattern names (`counter[*]`, `counter[0]`, `counter`).
    func actorInstances(_ pattern: RefPattern) -> [InstanceRef] {
        guard let spec = scenario.workload.actors.first(where: { $0.name == pattern.name }) else { return [] }
        let make = { (index: Int) in InstanceRef(name: spec.name, index: index, isPut: false) }
        switch pattern {
        case .instance(_, let index): return index < spec.count ? [make(index)] : []
        case .all: return (0..<spec.count).map(make)
        case .bare: return [make(0)]
        case .relative: return []
        }
    }

    /// The reference of call `call` (from 0) to actor `actor`: `counter[0][3]`.
    static func callRef(_ actor: InstanceRef, _ call: Int) -> InstanceRef {
        InstanceRef(name: "\(actor)", index: call, isPut: false)
    }

    /// Creates every actor and makes its calls (after the tasks: a program's order).
    func startActors() {
        for spec in scenario.workload.actors {
            for index in 0..<spec.count {
                let ref = InstanceRef(name: spec.name, index: index, isPut: false)
                // A detached actor is named (SCENARIOS.md: reachable by its name at the end).
                let options = ActorOptions(maxRestarts: spec.maxRestarts, maxTaskRetries: spec.maxTaskRetries,
                                           maxConcurrency: spec.maxConcurrency, name: spec.detached ? "\(ref)" : "", namespace: spec.detached ? "scenario" : "",
                                           detached: spec.detached)
                // Its constructor's arguments: what the driver submitted or put (the loader checked it holds them).
                let args = spec.args.flatMap { plan.resolve($0) }.compactMap { refs[$0].map(TaskArg.reference) }
                let actor = world.createActor(TaskRequest(
                    function: spec.name, instance: index, args: args,
                    resources: resources(spec.resources, in: spec.placementGroup, instance: index), strategy: .default,
                    maxRetries: 0, retryExceptions: false, body: [0, 0]), options)
                actorIDs[ref] = actor
                handles.append(actor.handle)  // Dropped with the others at the end: the actor then goes.
                var calls: [ObjectID] = []
                for call in 0..<spec.calls {
                    let object = world.callActor(actor, TaskRequest(
                        function: "call", instance: call, args: [], resources: ResourceSet(), strategy: .default,
                        maxRetries: spec.maxTaskRetries, retryExceptions: false,
                        body: [spec.callMicros, Self.actorCallOutputBytes]))
                    remember(Self.callRef(ref, call), object)
                    calls.append(object)
                }
                actorCalls[ref] = calls
                actorCallNames.insert("\(ref)")
                // Callers beyond the driver: tasks that receive the handle and make their own calls.
                for caller in 1..<max(1, spec.callers) {
                    let object = world.submit(TaskRequest(
                        function: ActorCaller.function, instance: actorCallerCount, args: [.nestedReference(actor.handle)],
                        resources: ResourceSet(), strategy: .default, maxRetries: 0, retryExceptions: false,
                        body: ActorCaller.body(spec)))
                    actorCallerCount += 1
                    remember(InstanceRef(name: "\(ref)/caller", index: caller, isPut: false), object)
                    actorCallNames.insert("\(ref)/caller")
                    actorCallerRefs.append(InstanceRef(name: "\(ref)/caller", index: caller, isPut: false))
                }
            }
        }
    }

    /// The call references a get or expectation pattern names when it names actors (the
    /// driver's calls, and its other callers' tasks).
    func actorCallRefs(_ pattern: RefPattern) -> [InstanceRef] {
        actorInstances(pattern).flatMap { actor in
            (0..<(actorCalls[actor]?.count ?? 0)).map { Self.callRef(actor, $0) }
                + actorCallerRefs.filter { $0.name == "\(actor)/caller" }
        }
    }

    /// True for the reference of a task that called an actor (`callers`).
    func isActorCaller(_ ref: InstanceRef) -> Bool { ref.name.hasSuffix("/caller") && isActorCall(ref) }

    /// What an `after:` trigger waits for: the instances it names, and for an actor its first
    /// call (the actor is up and serving).
    func afterRefs(_ pattern: RefPattern) -> [InstanceRef] {
        plan.resolve(pattern) + actorInstances(pattern).compactMap { actor in
            (actorCalls[actor]?.isEmpty ?? true) ? nil : Self.callRef(actor, 0)
        }
    }

    /// True for the reference of an actor call.
    func isActorCall(_ ref: InstanceRef) -> Bool { !actorCalls.isEmpty && actorCallNames.contains(ref.name) }

    /// Ray's actor rules over what the calls returned: per-caller order, the restart limit.
    func actorRuleViolation() -> String? {
        for spec in scenario.workload.actors {
            for index in 0..<spec.count {
                let actor = InstanceRef(name: spec.name, index: index, isPut: false)
                var last: (incarnation: UInt64, call: UInt64)?
                for call in 0..<(actorCalls[actor]?.count ?? 0) {
                    guard case .data(let data)? = result(Self.callRef(actor, call)) else { continue }
                    let incarnation = data.digest >> 32, number = data.digest & 0xFFFF_FFFF
                    // A concurrent actor's calls may run in any order (Ray checks none): only its restarts are.
                    if spec.maxConcurrency == 1, let last, (incarnation, number) <= (last.incarnation, last.call) {
                        return "\(actor): call \(call) ran as call \(number) of incarnation \(incarnation), not after "
                            + "the call before it (call \(last.call) of incarnation \(last.incarnation)): calls of one "
                            + "caller ran out of submission order"
                    }
                    if spec.maxRestarts >= 0 && incarnation > UInt64(spec.maxRestarts) {
                        return "\(actor): call \(call) ran on incarnation \(incarnation), but max_restarts is "
                            + "\(spec.maxRestarts)"
                    }
                    last = (incarnation, number)
                }
            }
        }
        return nil
    }
}
