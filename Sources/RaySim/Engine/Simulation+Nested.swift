// Nested tasks in simulated time: a parent's body, run by a worker, submits its
// children through that worker's own owner (made on the first parent it runs),
// runs its duration, then — when the scenario says `get: true` — gets every
// child, blocked meanwhile (its raylet lends the lease's CPUs), and returns a
// value whose content depends on theirs. The body's handles to its children
// drop when it returns. What is submitted, and what the output must be, is the
// scenario plan's (`WorkloadPlan.childRequests`), shared with real processes.

import RayCore

/// A parent's body in progress.
struct ParentBody {
    var task: TaskID
    var attempt: Int
    var spec: TaskSpec
    var argumentDigests: [UInt64]
    /// The children's return objects, in submission order.
    var children: [ObjectID]
    /// The children's values, once gotten.
    var values: [ObjectID: ObjectValue] = [:]
    /// The body waits in its get (the executor told its raylet).
    var blocked = false
    /// The body asked for its children's values.
    var getting = false
    /// An actor caller (`callers`): its "children" are its calls of the actor.
    var caller = false
}

extension Simulation {
    /// The owner of `worker`'s process, made (and started) on first use.
    func workerOwner(_ worker: WorkerID, job: JobID) -> ComponentDriver<Owner> {
        if let owner = workerOwners[worker] { return owner }
        let log = makeLog("owner-\(worker.node.value)-\(worker.index)")
        if let log { workerOwnerLogs[worker] = log }
        let owner = ComponentDriver<Owner>()
        attach(owner, log: { log }, as: { .workerOwner(worker) })
        owner.perform = { [unowned(unsafe) self] effect in
            switch effect {
            case .send(let to, let message): send(message, from: .worker(worker), to: to)
            case .getResolved(let object, let value): childResolved(worker, object, value)
            case .actorLookedUp: break  // Scenario programs look no actor up.
            case .placementGroupUpdated: break  // Scenarios with placement groups are refused (for now).
            }
        }
        workerOwners[worker] = owner
        owner.submit(.startedInWorker(nodeConfig(worker.node), OwnerIdentity(worker: worker, job: job, idKey: idKey(job))))
        return owner
    }

    /// Starts a parent's body: its children are submitted now; it resumes after its duration.
    func runParentBody(_ spec: TaskSpec, attempt: Int, argumentDigests: [UInt64], on worker: WorkerID,
                       children requests: [TaskRequest]) {
        let owner = workerOwner(worker, job: spec.jobID)
        owner.submit(.taskStartedFor(spec.taskID, attempt: attempt, owner: spec.owner))
        var children: [ObjectID] = []
        children.reserveCapacity(requests.count)
        for request in requests {
            children.append(ObjectID.returnValue(of: owner.machine.nextTaskID, index: 1))
            owner.submit(.submitTask(request))
        }
        parentBodies[worker] = ParentBody(task: spec.taskID, attempt: attempt, spec: spec,
                                          argumentDigests: argumentDigests, children: children)
        let duration = spec.body.count > SyntheticBody.durationIndex ? spec.body[SyntheticBody.durationIndex] : 0
        schedule(.bodyResumes(worker, spec.taskID, attempt: attempt), after: duration)
    }

    /// Starts an actor caller's body (`callers`): it follows the actor whose handle it got, makes
    /// its calls, and gets them at once (ActorCaller checks what comes back).
    func runCallerBody(_ spec: TaskSpec, attempt: Int, on worker: WorkerID) {
        guard let actor = ActorCaller.actor(of: spec) else {
            schedule(.executionFinished(worker, spec.taskID, attempt: attempt,
                                        .applicationError("\(spec.function): no actor handle among its arguments")), after: 0)
            return
        }
        let owner = workerOwner(worker, job: spec.jobID)
        owner.submit(.taskStartedFor(spec.taskID, attempt: attempt, owner: spec.owner))
        owner.submit(.subscribeActor(actor))
        var calls: [ObjectID] = []
        for request in ActorCaller.calls(of: spec) {
            calls.append(ObjectID.returnValue(of: owner.machine.nextTaskID, index: 1))
            owner.submit(.callActor(actor, request))
        }
        parentBodies[worker] = ParentBody(task: spec.taskID, attempt: attempt, spec: spec, argumentDigests: [],
                                          children: calls, caller: true)
        schedule(.bodyResumes(worker, spec.taskID, attempt: attempt), after: 0)
    }

    /// The body ran its duration: it returns, or first gets its children.
    func parentBodyResumes(_ worker: WorkerID, _ task: TaskID, attempt: Int) {
        guard var body = parentBodies[worker], body.task == task, body.attempt == attempt,
              let owner = workerOwners[worker] else { return }
        guard body.caller || program.plan.getsChildren(body.spec.function) else {
            finishParentBody(worker)
            return
        }
        body.getting = true
        parentBodies[worker] = body
        for child in body.children {
            owner.submit(.get(child))
            // A get answered at once ended the body already (and maybe a new one began).
            guard parentBodies[worker]?.task == task, parentBodies[worker]?.attempt == attempt else { return }
        }
        guard var waiting = parentBodies[worker], waiting.values.count < waiting.children.count else { return }
        waiting.blocked = true
        parentBodies[worker] = waiting
        handleExecutor(worker, .bodyBlocked(task, attempt: attempt))
    }

    /// The worker's owner answered one of the body's gets.
    func childResolved(_ worker: WorkerID, _ object: ObjectID, _ value: ObjectValue) {
        guard var body = parentBodies[worker], body.getting, body.children.contains(object),
              body.values[object] == nil else { return }
        body.values[object] = value
        parentBodies[worker] = body
        guard body.values.count == body.children.count else { return }
        if body.blocked { handleExecutor(worker, .bodyUnblocked(body.task, attempt: body.attempt)) }
        finishParentBody(worker)
    }

    /// The body returns: a child's failure is its exception (Ray's get raises it in the parent);
    /// otherwise its content covers its arguments and, when it got them, its children. Its
    /// handles to its children drop.
    private func finishParentBody(_ worker: WorkerID) {
        guard let body = parentBodies.removeValue(forKey: worker), let owner = workerOwners[worker] else { return }
        let spec = body.spec
        if body.caller {
            let values = body.children.map { body.values[$0] ?? .error(RayError(.objectLost, "never came")) }
            handleExecutor(worker, .executionFinished(body.task, attempt: body.attempt, ActorCaller.outcome(spec, values)))
            for call in body.children { owner.submit(.release(call)) }
            return
        }
        var failure: String?
        var digests = body.argumentDigests
        for (index, child) in body.children.enumerated() {
            switch body.values[child] {
            case .data(let data)?:
                digests.append(data.digest)
            case .error(let error)?:
                failure = failure ?? "\(spec.function)[\(spec.instance)]: getting child \(index + 1) of "
                    + "\(body.children.count) raised \(error)"
            case nil:
                break  // Not gotten (`get: false`): it adds nothing.
            }
        }
        let output = spec.body.count > SyntheticBody.outputIndex ? spec.body[SyntheticBody.outputIndex] : 8
        let digest = SyntheticContent.digest(name: spec.function, instance: spec.instance, argumentDigests: digests)
        let finished: ExecutionResult = failure.map { .applicationError($0) }
            ?? returning([ObjectData(sizeBytes: output, digest: digest)], of: spec, on: worker)
        if case .returned = finished, program.plan.returnsChildren(spec.function) {
            // It returns its children's references: its handles become the task owner's borrows.
            owner.submit(.lend(body.children, to: spec.owner))
            handleExecutor(worker, .returnsHold(body.task, attempt: body.attempt, objects: body.children,
                                                returnIndices: body.children.map { _ in 1 }))
            handleExecutor(worker, .executionFinished(body.task, attempt: body.attempt, finished))
            return
        }
        handleExecutor(worker, .executionFinished(body.task, attempt: body.attempt, finished))
        for child in body.children { owner.submit(.release(child)) }
    }

    /// What the owners in workers ran (nested tasks), alive or gone.
    var nestedCounts: Owner.Metrics {
        var total = goneOwnerMetrics
        for worker in workerOwners.keys.sorted() {
            let metrics = workerOwners[worker]!.metrics
            total.attemptsStarted += metrics.attemptsStarted
            total.retries += metrics.retries
            total.reconstructions += metrics.reconstructions
        }
        return total
    }

    /// A worker process died: its owner and its body go with it.
    func dropWorkerOwner(_ worker: WorkerID) {
        parentBodies[worker] = nil
        guard let owner = workerOwners.removeValue(forKey: worker) else { return }
        goneOwnerMetrics.attemptsStarted += owner.metrics.attemptsStarted
        goneOwnerMetrics.retries += owner.metrics.retries
        goneOwnerMetrics.reconstructions += owner.metrics.reconstructions
        try? workerOwnerLogs.removeValue(forKey: worker)?.commit()
    }
}

extension Simulation {
    /// Job `job`'s ID key (RayCore's KeyedIDs), drawn from the seed as a real cluster derives it
    /// from the job's credential: the same for all of the job's owners, never 0.
    func idKey(_ job: JobID) -> UInt64 {
        let key = mix(config.seed ^ 0x5357_5259_4B45_5953 &+ UInt64(job.value) << 32)
        return key == 0 ? 1 : key
    }
}
