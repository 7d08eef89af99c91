// The checkers. Safety after every step (each machine's own invariants, which
// its ComponentDriver checks: resources never over-allocated or negative,
// store within capacity, a node marked dead at most once; and every
// value the driver gets byte-identical to what its lineage defines); a full
// scan every few thousand steps; at the end, liveness (every get resolved as
// `expect` says within max_sim_time), the expectations, and leaks.

import RayCore

extension Simulation {
    /// The O(state) scan: each machine's own (`fullInvariantViolation`): every count
    /// non-negative, every lease accounted for.
    func fullCheck() {
        for job in jobs where job.alive {
            if let problem = job.owner.machine.fullInvariantViolation() { violation = violation ?? problem }
        }
        for node in nodeOrder where nodes[node]?.alive == true {
            guard let problem = nodes[node]?.raylet.machine.fullInvariantViolation() else { continue }
            violation = violation ?? problem
        }
        checkSenders()
    }

    /// No machine dropped a message for its sender (`senderMay`): the simulator has no forger, so
    /// a drop means a check that refuses what the cluster itself sends.
    func checkSenders() {
        if gcsAlive, gcs.machine.quota.forgedMessages > 0 {
            violation = violation ?? "the GCS dropped \(gcs.machine.quota.forgedMessages) message(s) as forged"
        }
        for job in jobs where job.alive && job.owner.machine.metrics.forgedMessages > 0 {
            violation = violation ?? "\(job.worker)'s owner dropped \(job.owner.machine.metrics.forgedMessages) message(s) as forged"
        }
        for worker in workerOwners.keys.sorted() {
            guard let owner = workerOwners[worker], owner.machine.metrics.forgedMessages > 0 else { continue }
            violation = violation ?? "\(worker)'s owner dropped \(owner.machine.metrics.forgedMessages) message(s) as forged"
        }
        for node in nodeOrder {
            guard let raylet = nodes[node]?.raylet.machine, raylet.metrics.forgedMessages > 0 else { continue }
            violation = violation ?? "\(node) dropped \(raylet.metrics.forgedMessages) message(s) as forged"
        }
    }

    /// After every raylet step: a STRICT_SPREAD group never has two bundles (prepared or
    /// committed) on one node, a STRICT_PACK group never has bundles on two live nodes. A node the
    /// GCS declared dead does not count: cut off by a partition it may still hold what the cluster
    /// placed again elsewhere (as in Ray), until it hears it is dead and exits. Nor does a bundle
    /// of a round the (live) GCS has abandoned: a prepare held up by a partition may arrive after
    /// the GCS aborted its round and placed the group elsewhere, just before the cancel that
    /// follows it on the same link (swarm seed 29480); it reserves, but nothing runs in it.
    func checkStrictGroups(on node: SimNode) {
        let counted = { (id: NodeID) in !(self.gcsAlive && self.gcs.machine.nodes[id]?.state == .dead) }
        guard counted(node.raylet.machine.nodeID) else { return }
        var held: [PlacementGroupID: Int] = [:]
        for (key, bundle) in node.raylet.machine.heldBundles where strictGroups[key.group] != nil && isCurrent(bundle) {
            held[key.group, default: 0] += 1
        }
        for (group, count) in held.sorted(by: { $0.key < $1.key }) {
            if strictGroups[group] == .strictSpread && count > 1 {
                violation = violation ?? "STRICT_SPREAD group \(group) has \(count) bundles on \(node.raylet.machine.nodeID): "
                    + "\(node.raylet.machine.heldBundles.values.filter { $0.group == group }.map(\.index).sorted())"
            } else if strictGroups[group] == .strictPack,
                      let other = nodeOrder.first(where: { other in other != node.raylet.machine.nodeID && nodes[other]?.alive == true
                          && counted(other)
                          && nodes[other]!.raylet.machine.heldBundles.values.contains { $0.group == group && isCurrent($0) } }) {
                violation = violation ?? "STRICT_PACK group \(group) has bundles on \(node.raylet.machine.nodeID) and \(other)"
            }
        }
    }

    /// True unless the live GCS has abandoned the round that reserved `bundle` (its group is gone,
    /// or neither records that round for the bundle nor has it in flight).
    private func isCurrent(_ bundle: Raylet.HeldBundle) -> Bool {
        guard gcsAlive else { return true }
        guard let entry = gcs.machine.placementGroups[bundle.group] else { return false }
        if entry.rounds.indices.contains(bundle.index) && entry.rounds[bundle.index] == bundle.round { return true }
        return gcs.machine.bundleRounds[bundle.group]?.round == bundle.round
    }

    /// What is wrong with an actor once its job ended: one that is not detached must be dead; a
    /// detached one must not have died with its owner (the same rule in both worlds).
    public static func actorEndProblem(name: String, state: String, detached: Bool, cause: String) -> String? {
        if !detached && state != "DEAD" { return "actor \(name) is still \(state) after its job ended" }
        if detached && state == "DEAD" && cause.contains("owner") {
            return "detached actor \(name) died with its owner (\(cause)); a detached actor outlives it"
        }
        return nil
    }

    /// At-most-once: a call whose actor allows no task retries never runs twice (it may run once
    /// and still fail with ActorDied, never more). Only the simulator sees every execution.
    func noteActorExecution(_ spec: TaskSpec) {
        let runs = (actorCallRuns[spec.taskID] ?? 0) + 1
        actorCallRuns[spec.taskID] = runs
        if spec.maxRetries == 0 && !spec.retryExceptions && runs > 1 {
            violation = violation ?? "\(spec.function)[\(spec.instance)] (\(spec.taskID)) ran \(runs) times, but its "
                + "actor's max_task_retries is 0: calls are at-most-once"
        }
    }

    /// Leaks after the driver finished: anything still held anywhere.
    func leaks() -> [String] {
        var found: [String] = []
        for job in jobs where job.alive && !job.owner.isQuiescent {
            let driver: ComponentDriver<Owner> = job.owner, program: ScenarioDriver = job.program
            let tasks = driver.tasks.count, objects = driver.objects.count
            let sample = driver.objects.keys.sorted().prefix(3).map { object -> String in
                let entry = driver.objects[object]!
                let ref = program.refByObject[object].map { " \($0)" } ?? ""
                let task = driver.tasks[object.task].map { ", task \($0.state)" } ?? ""
                return "\(object)\(ref) \(entry.state), refs: local \(entry.localRefs), tasks \(entry.submittedRefs), "
                    + "borrowers \(entry.borrowers.count), lineage \(entry.lineageRefs)\(task)"
            }
            let taskSample = driver.tasks.keys.sorted().prefix(3).map { id -> String in
                let entry = driver.tasks[id]!
                return "\(entry.spec.function)[\(entry.spec.instance)] \(entry.state), \(entry.attempts) attempt(s)"
            }
            let who = job.index == 0 ? "driver" : "the driver of \(job.job)"
            let objectList = sample.isEmpty ? "" : " [" + sample.joined(separator: "; ") + "]"
            let taskList = taskSample.isEmpty ? "" : " tasks [" + taskSample.joined(separator: "; ") + "]"
            found.append("\(who) still holds \(tasks) task(s) and \(objects) object(s)" + objectList + taskList)
        }
        for node in nodeOrder where nodes[node]?.alive == true {
            guard let raylet = nodes[node]?.raylet, raylet.running, !raylet.isQuiescent else { continue }
            var held: [String] = []
            if !raylet.leases.isEmpty { held.append("\(raylet.leases.count) lease(s)") }
            if raylet.queuedLeaseCount > 0 { held.append("\(raylet.queuedLeaseCount) queued request(s)") }
            if raylet.store.objectCount > 0 {
                let sample = raylet.store.entries.keys.sorted().prefix(3).map { object in
                    let entry = raylet.store.entries[object]!
                    let ref = jobs.lazy.compactMap { $0.program.refByObject[object] }.first.map { " \($0)" } ?? ""
                    return "\(object)\(ref) \(entry.primary ? "primary" : "secondary")"
                        + "\(entry.inMemory ? "" : " spilled") pins \(entry.pins)"
                }
                held.append("\(raylet.store.objectCount) object(s) [" + sample.joined(separator: "; ") + "]")
            }
            let attached = raylet.hostedActors.values.filter { !$0.spec.options.detached }.count
            if attached > 0 { held.append("\(attached) actor(s)") }
            if raylet.available + raylet.detachedActorHeld != raylet.info.resources {
                held.append("resources \(raylet.available) of \(raylet.info.resources)")
            }
            if held.isEmpty { held.append("open fetches or pulls") }
            found.append("\(raylet.info.name) (\(node)) still holds " + held.joined(separator: ", "))
        }
        for worker in executors.keys.sorted() where executors[worker]?.isBusy == true {
            found.append("\(worker) is still running a task")
        }
        // The job ended (the program's clean exit, or its driver died and the GCS ended it): its
        // workers and actors end with it, as in Ray.
        let jobOver = { (job: SimJob) in
            job.ended || (self.gcsAlive && self.gcs.machine.jobs[job.job].map { $0.state != .running } ?? false)
        }
        if jobs.allSatisfy(jobOver) {
            // Detached actors outlive their job (as in Ray); every other worker ends with it.
            let left = executors.keys.sorted().filter { executors[$0]?.hostsDetachedActor != true }
            if !left.isEmpty {
                found.append("\(left.count) worker(s) of the finished job still alive: "
                    + left.prefix(4).map { "\($0)" }.joined(separator: ", "))
            }
            for job in jobs where gcsAlive && gcs.machine.jobs[job.job]?.state == .running {
                found.append("the GCS still lists the finished \(job.job) as running")
            }
            // Its actors died with it (detached ones outlive it, as in Ray).
            if gcsAlive {
                for id in gcs.machine.actorOrder {
                    guard let entry = gcs.machine.actors[id] else { continue }
                    if let problem = Self.actorEndProblem(name: entry.spec.displayName, state: entry.state.rawValue,
                                                          detached: entry.spec.options.detached, cause: entry.cause) {
                        found.append(problem)
                    }
                }
            }
        }
        return found
    }

    func finish(livenessExceeded: Bool) -> ScenarioReport {
        var report = ScenarioReport(scenario: scenario, seed: options.seed)
        report.simulatedMicros = now
        report.eventsProcessed = eventsProcessed
        report.traceDigest = stepDigest.finalized
        var counts = ScenarioCounts()
        // The driver's tasks, as `swiftray up` counts them (nested tasks are owned by workers, whose
        // counts real processes cannot gather yet once they are gone; `nestedCounts` has them here).
        counts.tasksRun = driver.metrics.attemptsStarted
        counts.retries = driver.metrics.retries
        counts.reconstructions = driver.metrics.reconstructions
        for node in nodeOrder {
            guard let metrics = nodes[node]?.raylet.metrics else { continue }
            counts.objectsSpilled += metrics.objectsSpilled
            counts.objectsRestored += metrics.objectsRestored
            counts.spillbacks += metrics.spillbacks
        }
        var ending = ScenarioEnding()
        ending.violation = violation
        ending.finishedAt = finishedAt.map(formatTime)
        if livenessExceeded {
            ending.livenessBound = "at \(formatTime(now)) (max_sim_time \(formatTime(scenario.expect.maxSimTimeMicros)))"
        }
        ending.describePending = { [unowned self] ref in describePending(ref) }
        for node in killedNodes where !program.headKilled && gcs.nodes[node] != nil && gcs.nodes[node]?.state != .dead {
            ending.problems.append("killed \(node) was never marked dead by the GCS")
        }
        ending.findLeaks = { [unowned self] in
            // The program ends cleanly, as a real driver's `Ray.shutdown()`.
            if jobs.contains(where: { $0.alive && $0.program.phase == .done }) { endJob() }
            return (leaks() + (violation.map { ["invariant violated as the job ended: \($0)"] } ?? []), jobEnded)
        }
        program.finish(&report, counts: counts, ending: ending)
        return report
    }

    private func describePending(_ ref: InstanceRef) -> String {
        guard let object = program.refs[ref] else { return "(never submitted)" }
        if let borrowed = driver.borrowed[object] {
            return "(borrowed from \(borrowed.owner)\(executors[borrowed.owner] == nil ? ", dead" : ""): "
                + (borrowed.asked ? "asked its owner" : "not asked") + (borrowed.stored ? ", stored at \(borrowed.locations)" : "")
                + (program.borrowedWaiting ? "; the program gets borrowed references last, and still waits for others" : "") + ")"
        }
        guard let task = driver.tasks[object.task] else { return "(no task entry)" }
        var detail = "(task \(task.state), \(task.attempts) attempt(s)"
        if case .running(_, let worker) = task.state, let raylet = nodes[worker.node]?.raylet {
            detail += "; on \(raylet.info.name): " + raylet.machine.fetchDescription(worker: worker)
        }
        if case .leasing(_, let node) = task.state, let simNode = nodes[node] {
            let raylet = simNode.raylet
            detail += "; \(raylet.info.name) \(simNode.alive ? "alive" : "dead"): \(raylet.queuedLeaseCount) queued, "
                + "\(raylet.leases.count) leased, available \(raylet.available)"
        }
        if let entry = driver.objects[object] {
            detail += "; object \(entry.state) at \(entry.locations)"
        }
        if let raylet = nodes[driverWorker.node]?.raylet {
            detail += "; driver's fetches: " + raylet.machine.fetchDescription(worker: driverWorker)
        }
        return detail + ")"
    }
}
