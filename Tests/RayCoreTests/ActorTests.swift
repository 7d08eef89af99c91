// Unit tests of actors in the machines: the GCS actor manager (placement,
// lifecycle, restarts, kills, names, owner death), the executor's per-caller
// ordering, and the caller's at-most-once / at-least-once handling of calls in
// flight when an incarnation dies (ray-core-semantics §1.3, §2.2).

import Testing
@testable import RayCore

private let owner = Build.worker(1, 100)
private let job = JobID(1)

private func gcsWith(_ nodes: [NodeInfo]) -> GCS {
    var gcs = GCS()
    _ = gcs.handle(.started(RayConfig()), now: 0)
    for info in nodes { _ = gcs.handle(.messageReceived(from: .raylet(info.nodeID), .registerNode(info)), now: 1) }
    _ = gcs.handle(.messageReceived(from: .worker(owner), .registerJob(job, driver: owner)), now: 1)
    return gcs
}

private func actorSpec(_ index: UInt64, cpus: Int64 = 1, _ options: ActorOptions = ActorOptions(),
                       by creator: WorkerID = owner) -> ActorSpec {
    let task = TaskID.child(of: .driver(of: job), index: index)
    return ActorSpec(creation: TaskSpec(taskID: task, jobID: job, function: "Counter", instance: Int(index), args: [],
                                        returnCount: 1, resources: Build.cpus(cpus), strategy: .default, maxRetries: 0,
                                        retryExceptions: false, body: [], owner: creator), options: options)
}

private func sent(_ effects: [GCSEffect]) -> [(Address, Message)] {
    effects.compactMap { if case .send(let to, let message) = $0 { return (to, message) } else { return nil } }
}

private func updates(_ effects: [GCSEffect], to worker: WorkerID = owner) -> [ActorInfo] {
    sent(effects).compactMap { to, message in
        if to == .worker(worker), case .actorUpdate(let info) = message { return info } else { return nil }
    }
}

private func placement(_ effects: [GCSEffect]) -> (NodeID, Int)? {
    for (to, message) in sent(effects) {
        if case .raylet(let node) = to, case .createActor(_, let incarnation) = message { return (node, incarnation) }
    }
    return nil
}

/// Registers `spec` and reports it created on the node it was placed on; returns its worker.
@discardableResult
private func create(_ gcs: inout GCS, _ spec: ActorSpec, worker index: UInt32 = 7) -> WorkerID? {
    let effects = gcs.handle(.messageReceived(from: .worker(spec.creation.owner), .registerActor(spec)), now: 2)
    guard let (node, incarnation) = placement(effects) else { return nil }
    let worker = WorkerID(node: node, index: index)
    _ = gcs.handle(.messageReceived(from: .worker(worker), .actorCreated(spec.actorID, incarnation: incarnation,
                                                                          worker: worker, failure: "")), now: 3)
    return worker
}

@Test func anActorIsPlacedWhereMostCPUsAreFreeAndPublishedAlive() {
    var gcs = gcsWith([Build.node(1, cpus: 2), Build.node(2, cpus: 8)])
    let spec = actorSpec(1)
    let effects = gcs.handle(.messageReceived(from: .worker(owner), .registerActor(spec)), now: 2)
    #expect(placement(effects)?.0 == NodeID(2))
    #expect(updates(effects).map(\.state) == [.pendingCreation])
    let worker = WorkerID(node: NodeID(2), index: 3)
    let created = gcs.handle(.messageReceived(from: .worker(worker), .actorCreated(
        spec.actorID, incarnation: 0, worker: worker, failure: "")), now: 3)
    #expect(updates(created).map(\.state) == [.alive])
    #expect(updates(created).first?.worker == worker)
    #expect(gcs.actors[spec.actorID]?.state == .alive)
}

@Test func aDeadIncarnationRestartsUpToMaxRestartsThenTheActorIsDead() {
    var gcs = gcsWith([Build.node(1), Build.node(2)])
    let spec = actorSpec(1, ActorOptions(maxRestarts: 1))
    let worker = create(&gcs, spec)!
    let died = gcs.handle(.messageReceived(from: .raylet(worker.node), .actorWorkerDied(
        spec.actorID, incarnation: 0, detail: "its worker died")), now: 4)
    #expect(updates(died).map(\.state) == [.restarting])
    #expect(placement(died)?.1 == 1)
    // A stale report about incarnation 0 changes nothing.
    #expect(gcs.handle(.messageReceived(from: .raylet(worker.node), .actorWorkerDied(
        spec.actorID, incarnation: 0, detail: "again")), now: 5).isEmpty)
    let second = WorkerID(node: placement(died)!.0, index: 9)
    _ = gcs.handle(.messageReceived(from: .worker(second), .actorCreated(spec.actorID, incarnation: 1, worker: second,
                                                                          failure: "")), now: 6)
    let final = gcs.handle(.messageReceived(from: .raylet(second.node), .actorWorkerDied(
        spec.actorID, incarnation: 1, detail: "its worker died")), now: 7)
    #expect(updates(final).map(\.state) == [.dead])
    #expect(gcs.actors[spec.actorID]?.cause == "its worker died (max_restarts=1 used up)")
    #expect(gcs.actors[spec.actorID]?.restarts == 1)
}

@Test func aKillWithoutRestartIsFinalAndFreesTheName() {
    var gcs = gcsWith([Build.node(1)])
    let spec = actorSpec(1, ActorOptions(maxRestarts: -1, name: "c", namespace: "ns"))
    let worker = create(&gcs, spec)!
    // A second actor under the same name is refused while the first lives.
    let twin = actorSpec(2, ActorOptions(name: "c", namespace: "ns"))
    let refused = gcs.handle(.messageReceived(from: .worker(owner), .registerActor(twin)), now: 3)
    #expect(updates(refused).first?.state == .dead)
    #expect(updates(refused).first?.cause.contains("the name 'c' is taken in namespace 'ns'") == true)
    let kill = gcs.handle(.messageReceived(from: .worker(owner), .killActor(spec.actorID, noRestart: true,
                                                                          reason: "killed by Ray.kill")), now: 4)
    #expect(sent(kill).contains { $0.0 == .raylet(worker.node) && $0.1 == .killActorWorker(spec.actorID, incarnation: 0) })
    #expect(gcs.namedActors["ns/c"] == nil)  // Freed at the kill, before the worker's death is reported.
    let lookup = gcs.handle(.messageReceived(from: .worker(owner), .lookupActor(name: "c", namespace: "ns")), now: 4)
    #expect(sent(lookup).map(\.1) == [.actorNotFound(name: "c", namespace: "ns")])
    let died = gcs.handle(.messageReceived(from: .raylet(worker.node), .actorWorkerDied(
        spec.actorID, incarnation: 0, detail: "it was killed")), now: 5)
    #expect(updates(died).map(\.state) == [.dead])
    #expect(gcs.actors[spec.actorID]?.cause == "killed by Ray.kill")
    #expect(gcs.namedActors["ns/c"] == nil)
}

@Test func anOwnersDeathKillsItsActorsButNotDetachedOnes() {
    var gcs = gcsWith([Build.node(1, cpus: 8)])
    let attached = actorSpec(1)
    let detached = actorSpec(2, ActorOptions(name: "keep", detached: true))
    let worker = create(&gcs, attached)!
    create(&gcs, detached, worker: 8)
    let effects = gcs.handle(.messageReceived(from: .worker(owner), .jobFinished(job)), now: 5)
    #expect(sent(effects).contains { $0.1 == .killActorWorker(attached.actorID, incarnation: 0) })
    #expect(!sent(effects).contains { $0.1 == .killActorWorker(detached.actorID, incarnation: 0) })
    _ = gcs.handle(.messageReceived(from: .raylet(worker.node), .actorWorkerDied(
        attached.actorID, incarnation: 0, detail: "it was killed")), now: 6)
    #expect(gcs.actors[attached.actorID]?.state == .dead)
    #expect(gcs.actors[attached.actorID]?.cause == "its owner \(owner) died")
    #expect(gcs.actors[detached.actorID]?.state == .alive)
}

@Test func aConstructorThatRaisesLeavesTheActorDeadForGood() {
    var gcs = gcsWith([Build.node(1)])
    let spec = actorSpec(1, ActorOptions(maxRestarts: -1))
    let effects = gcs.handle(.messageReceived(from: .worker(owner), .registerActor(spec)), now: 2)
    let worker = WorkerID(node: placement(effects)!.0, index: 4)
    let failed = gcs.handle(.messageReceived(from: .worker(worker), .actorCreated(
        spec.actorID, incarnation: 0, worker: worker, failure: "bad seed")), now: 3)
    #expect(updates(failed).map(\.state) == [.dead])
    #expect(gcs.actors[spec.actorID]?.cause == "its constructor raised: bad seed")
    #expect(sent(failed).contains { $0.1 == .killActorWorker(spec.actorID, incarnation: 0) })
}

@Test func anActorNoNodeCanHostWaitsAndIsPlacedWhenOneJoins() {
    var gcs = gcsWith([Build.node(1, cpus: 2)])
    let spec = actorSpec(1, cpus: 4)
    let effects = gcs.handle(.messageReceived(from: .worker(owner), .registerActor(spec)), now: 2)
    #expect(placement(effects) == nil)
    #expect(gcs.actors[spec.actorID]?.cause.contains("waiting for a node with {CPU: 4}") == true)
    let joined = gcs.handle(.messageReceived(from: .raylet(NodeID(2)), .registerNode(Build.node(2, cpus: 4))), now: 3)
    #expect(placement(joined)?.0 == NodeID(2))
}

@Test func anActorWaitsInDependenciesUnreadyUntilItsOwnerSaysItsArgumentsExist() {
    var gcs = gcsWith([Build.node(1)])
    var spec = actorSpec(1)
    spec.dependenciesReady = false
    let registered = gcs.handle(.messageReceived(from: .worker(owner), .registerActor(spec)), now: 2)
    #expect(placement(registered) == nil)
    #expect(updates(registered).map(\.state) == [.dependenciesUnready])
    spec.dependenciesReady = true
    let ready = gcs.handle(.messageReceived(from: .worker(owner), .actorDependenciesReady(spec)), now: 3)
    #expect(placement(ready)?.0 == NodeID(1))
    #expect(gcs.actors[spec.actorID]?.state == .pendingCreation)
}

@Test func subscribersOfAnActorNobodyRegisteredHearItIsDeadAfterTheGrace() {
    var gcs = gcsWith([Build.node(1, cpus: 2)])
    let stranger = Build.worker(1, 200)
    // A handle from another cluster: nobody here registers it.
    let foreign = actorSpec(9).actorID
    let subscribed = gcs.handle(.messageReceived(from: .worker(stranger), .subscribeActor(foreign)), now: 5)
    #expect(subscribed.contains(.startTimer(.unknownActor(foreign), afterMicros: GCS.unknownActorGraceMicros)))
    #expect(updates(subscribed, to: stranger).isEmpty)
    let fired = gcs.handle(.timerFired(.unknownActor(foreign)), now: 5 + GCS.unknownActorGraceMicros)
    let told = updates(fired, to: stranger)
    #expect(told.map(\.state) == [.dead])
    #expect(told.first?.cause.contains("was ever registered with this cluster") == true)
    // A registration racing the handle (the usual case) answers the subscriber; the timer then does nothing.
    let spec = actorSpec(10)
    _ = gcs.handle(.messageReceived(from: .worker(stranger), .subscribeActor(spec.actorID)), now: 6)
    let registered = gcs.handle(.messageReceived(from: .worker(owner), .registerActor(spec)), now: 7)
    #expect(updates(registered, to: stranger).map(\.state) == [.pendingCreation])
    #expect(updates(gcs.handle(.timerFired(.unknownActor(spec.actorID)), now: 8), to: stranger).isEmpty)
}

@Test func aNodesDeathEndsTheIncarnationsItHosted() {
    var gcs = gcsWith([Build.node(1), Build.node(2)])
    let spec = actorSpec(1)
    let worker = create(&gcs, spec)!
    var effects: [GCSEffect] = []
    for _ in 0..<RayConfig().healthCheckFailureThreshold {
        _ = gcs.handle(.timerFired(.sendHealthCheck(worker.node)), now: 10)
        let sequence = gcs.nodes[worker.node]!.healthCheckOutstanding!
        effects = gcs.handle(.timerFired(.healthCheckTimeout(worker.node, sequence: sequence)), now: 20)
    }
    #expect(updates(effects).map(\.state) == [.dead])
    #expect(gcs.actors[spec.actorID]?.cause == "its node \(worker.node) died")
}

// MARK: - The executor's ordering

private func call(_ index: UInt64, caller: WorkerID = owner) -> TaskSpec {
    TaskSpec(taskID: TaskID.child(of: .driver(of: job), index: 100 + index), jobID: job, function: "incr",
             instance: Int(index), args: [], returnCount: 1, resources: ResourceSet(), strategy: .default,
             maxRetries: 0, retryExceptions: false, body: [], owner: caller)
}

private func executed(_ effects: [ExecutorEffect]) -> [ActorTask] {
    effects.compactMap { if case .executeActor(_, _, _, let task) = $0 { return task } else { return nil } }
}

@Test func anActorRunsItsConstructorFirstThenEachCallersCallsInSequenceOrder() {
    var executor = Executor()
    let me = Build.worker(2, 5)
    _ = executor.handle(.started(RayConfig(), me), now: 0)
    let spec = actorSpec(1)
    let id = spec.actorID
    let constructing = executor.handle(.messageReceived(from: .raylet(me.node), .createActor(spec, incarnation: 0)), now: 1)
    #expect(executed(constructing).map(\.call) == [0])
    // Call 1 arrives before call 0 and waits; neither runs before the constructor returned.
    for sequence in [UInt64(1), 0] {
        let pushed = executor.handle(.messageReceived(from: .worker(owner), .pushActorTask(
            call(sequence), attempt: 1, id, incarnation: 0, sequence: sequence, skipBelow: 0, args: [])), now: 2)
        #expect(executed(pushed).isEmpty)
    }
    let ready = executor.handle(.executionFinished(spec.creation.taskID, attempt: 1, .returned([])), now: 3)
    #expect(ready.contains(.send(to: .gcs, .actorCreated(id, incarnation: 0, worker: me, failure: ""))))
    #expect(executed(ready).map(\.call) == [1])
    guard case .executeActor(let first, _, _, _)? = ready.last else { Issue.record("nothing ran"); return }
    #expect(first.instance == 0)
    let next = executor.handle(.executionFinished(first.taskID, attempt: 1, .returned([ObjectData(sizeBytes: 8, digest: 1)])),
                               now: 4)
    guard case .executeActor(let second, _, _, let task)? = next.last else { Issue.record("call 1 did not run"); return }
    #expect(second.instance == 1 && task.call == 2)
}

@Test func aCallerSaysWhichEarlierCallsAreSettledSoTheActorDoesNotWaitForThem() {
    var executor = Executor()
    let me = Build.worker(2, 5)
    _ = executor.handle(.started(RayConfig(), me), now: 0)
    let spec = actorSpec(1)
    _ = executor.handle(.messageReceived(from: .raylet(me.node), .createActor(spec, incarnation: 2)), now: 1)
    _ = executor.handle(.executionFinished(spec.creation.taskID, attempt: 3, .returned([])), now: 2)
    // Calls 0-4 ran (or failed) on an incarnation that died: call 5 runs at once here.
    let pushed = executor.handle(.messageReceived(from: .worker(owner), .pushActorTask(
        call(5), attempt: 1, spec.actorID, incarnation: 2, sequence: 5, skipBelow: 5, args: [])), now: 3)
    #expect(executed(pushed).map(\.incarnation) == [2])
    // A call meant for another incarnation is refused as unreachable, not run.
    let stale = executor.handle(.messageReceived(from: .worker(owner), .pushActorTask(
        call(6), attempt: 1, spec.actorID, incarnation: 1, sequence: 6, skipBelow: 6, args: [])), now: 4)
    #expect(executed(stale).isEmpty)
    #expect(stale.contains { if case .send(_, .taskReply(_, _, .argumentFailed(let error), _)) = $0 {
        return error.kind == .actorUnavailable } else { return false } })
}

// MARK: - The caller

private func ownerWithActor(_ options: ActorOptions) -> (Owner, ActorID) {
    var machine = Owner()
    _ = machine.handle(.started(RayConfig(), OwnerIdentity(worker: owner, job: job)), now: 0)
    let actor = ActorID(creationTask: machine.nextTaskID)
    _ = machine.handle(.createActor(TaskRequest(function: "Counter", instance: 0, args: [], resources: Build.cpus(1),
                                                strategy: .default, maxRetries: 0, retryExceptions: false, body: []),
                                    options), now: 1)
    return (machine, actor)
}

private func info(_ actor: ActorID, _ state: ActorState, incarnation: Int, worker: WorkerID = Build.worker(2, 5),
                  retries: Int = 0) -> Message {
    .actorUpdate(ActorInfo(actorID: actor, state: state, worker: worker, incarnation: incarnation, cause: "its worker died",
                           maxTaskRetries: retries, name: "Counter[0]"))
}

private func callRequest(_ index: Int) -> TaskRequest {
    TaskRequest(function: "incr", instance: index, args: [], resources: ResourceSet(), strategy: .default,
                maxRetries: 0, retryExceptions: false, body: [])
}

private func pushes(_ effects: [OwnerEffect]) -> [(sequence: UInt64, skipBelow: UInt64, incarnation: Int)] {
    effects.compactMap { effect in
        guard case .send(_, .pushActorTask(_, _, _, let incarnation, let sequence, let skipBelow, _)) = effect else { return nil }
        return (sequence, skipBelow, incarnation)
    }
}

@Test func atMostOnceCallsInFlightFailWithActorDiedAndLaterCallsGoToTheNextIncarnation() {
    var (machine, actor) = ownerWithActor(ActorOptions(maxRestarts: 1))
    let first = machine.nextTaskID
    _ = machine.handle(.callActor(actor, callRequest(0)), now: 2)
    _ = machine.handle(.callActor(actor, callRequest(1)), now: 2)
    let alive = machine.handle(.messageReceived(from: .gcs, info(actor, .alive, incarnation: 0)), now: 3)
    #expect(pushes(alive).map(\.sequence) == [0, 1])
    #expect(pushes(alive).map(\.skipBelow) == [0, 0])
    _ = machine.handle(.get(.returnValue(of: first, index: 1)), now: 3)
    let restarting = machine.handle(.messageReceived(from: .gcs, info(actor, .restarting, incarnation: 1)), now: 4)
    let failed = restarting.compactMap { effect -> RayError? in
        if case .getResolved(_, .error(let error)) = effect { return error } else { return nil }
    }
    #expect(failed.map(\.kind) == [.actorDied])
    #expect(failed.first?.message.contains("max_task_retries=0, so it is not retried") == true)
    _ = machine.handle(.callActor(actor, callRequest(2)), now: 5)
    let back = machine.handle(.messageReceived(from: .gcs, info(actor, .alive, incarnation: 1, worker: Build.worker(3, 1))),
                              now: 6)
    #expect(pushes(back).map(\.sequence) == [2])
    #expect(pushes(back).map(\.skipBelow) == [2])
    #expect(pushes(back).map(\.incarnation) == [1])
}

@Test func atLeastOnceCallsInFlightArePushedAgainInOrderToTheNextIncarnation() {
    var (machine, actor) = ownerWithActor(ActorOptions(maxRestarts: 1, maxTaskRetries: -1))
    for index in 0..<3 { _ = machine.handle(.callActor(actor, callRequest(index)), now: 2) }
    _ = machine.handle(.messageReceived(from: .gcs, info(actor, .alive, incarnation: 0, retries: -1)), now: 3)
    _ = machine.handle(.messageReceived(from: .gcs, info(actor, .restarting, incarnation: 1, retries: -1)), now: 4)
    let back = machine.handle(.messageReceived(from: .gcs, info(actor, .alive, incarnation: 1, worker: Build.worker(3, 1),
                                                                retries: -1)), now: 5)
    // Numbered afresh for the new incarnation, the first saying nothing below it is pending there.
    #expect(pushes(back).map(\.sequence) == [3, 4, 5])
    #expect(pushes(back).allSatisfy { $0.skipBelow == 3 && $0.incarnation == 1 })
    #expect(machine.metrics.retries == 3)
    // Dead for good: what is in flight and pending fails, none is pushed again.
    _ = machine.handle(.callActor(actor, callRequest(3)), now: 6)
    let dead = machine.handle(.messageReceived(from: .gcs, .actorUpdate(ActorInfo(
        actorID: actor, state: .dead, worker: Build.worker(3, 1), incarnation: 1, cause: "its node node-3 died",
        maxTaskRetries: -1, name: "Counter[0]"))), now: 7)
    #expect(pushes(dead).isEmpty)
    #expect(machine.actors[actor]?.inFlight.isEmpty == true && machine.actors[actor]?.pending.isEmpty == true)
}

// MARK: - Hosting, and owners in workers

@Test func aRayletHostsAnActorOnADedicatedWorkerHoldingItsResourcesForItsLife() {
    let info = Build.node(1, cpus: 2)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let spec = actorSpec(1, cpus: 2)
    let placed = raylet.handle(.messageReceived(from: .gcs, .createActor(spec, incarnation: 0)), now: 1)
    guard let worker = placed.spawnedWorkers.first else { Issue.record("no worker spawned: \(placed)"); return }
    #expect(raylet.available == ResourceSet())
    #expect(raylet.workers[worker] == .actor(spec.actorID))
    // A second actor waits: nothing is free.
    let second = actorSpec(2, cpus: 1)
    #expect(raylet.handle(.messageReceived(from: .gcs, .createActor(second, incarnation: 0)), now: 2).spawnedWorkers.isEmpty)
    let started = raylet.handle(.workerStarted(worker), now: 3)
    #expect(started.contains(.send(to: .worker(worker), .createActor(spec, incarnation: 0))))
    // An actor that never fits here is refused, not queued.
    let huge = raylet.handle(.messageReceived(from: .gcs, .createActor(actorSpec(3, cpus: 8), incarnation: 0)), now: 4)
    #expect(huge.contains { if case .send(.gcs, .actorPlacementFailed) = $0 { return true } else { return false } })
    // Its worker exits: the GCS hears of it, the resources return and the waiting actor starts.
    let exited = raylet.handle(.workerExited(worker), now: 5)
    #expect(exited.contains(.send(to: .gcs, .actorWorkerDied(spec.actorID, incarnation: 0, detail: "its worker \(worker) died"))))
    #expect(exited.spawnedWorkers.count == 1)
    #expect(raylet.available == Build.cpus(1))
}

@Test func aWorkerThatCreatesAnActorHasItsDeathReportedAndItsActorsDieWithIt() {
    // The worker's owner tells its raylet once.
    var machine = Owner()
    let worker = Build.worker(1, 3)
    _ = machine.handle(.startedInWorker(RayConfig(), OwnerIdentity(worker: worker, job: job)), now: 0)
    let request = TaskRequest(function: "Counter", instance: 0, args: [], resources: ResourceSet(), strategy: .default,
                              maxRetries: 0, retryExceptions: false, body: [])
    let first = machine.handle(.createActor(request, ActorOptions()), now: 1)
    #expect(first.contains(.send(to: .raylet(worker.node), .ownsActors(worker))))
    #expect(!machine.handle(.createActor(request, ActorOptions()), now: 2).contains(.send(to: .raylet(worker.node),
                                                                                          .ownsActors(worker))))
    // The raylet reports its death to the GCS.
    let info = Build.node(1, cpus: 2)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let lease = Build.lease(1, owner: owner, resources: Build.cpus(1))
    let spawned = raylet.handle(.messageReceived(from: .worker(owner), .requestWorkerLease(lease)), now: 1).spawnedWorkers
    _ = raylet.handle(.workerStarted(spawned[0]), now: 2)
    _ = raylet.handle(.messageReceived(from: .worker(spawned[0]), .ownsActors(spawned[0])), now: 3)
    #expect(raylet.handle(.workerExited(spawned[0]), now: 4).contains(.send(to: .gcs, .workerDied(spawned[0]))))
    // The GCS kills what it owned.
    var gcs = gcsWith([Build.node(2, cpus: 4)])
    let spec = actorSpec(1, by: spawned[0])
    create(&gcs, spec)
    let died = gcs.handle(.messageReceived(from: .raylet(NodeID(1)), .workerDied(spawned[0])), now: 5)
    #expect(sent(died).contains { $0.1 == .killActorWorker(spec.actorID, incarnation: 0) })
}
