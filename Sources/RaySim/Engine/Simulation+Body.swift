// Synthetic task bodies in simulated time: wait the body's duration, then
// return its deterministic content, raise, or crash the worker, as the
// scenario's `fail` plan says. Failure draws depend only on the seed, the task
// and the attempt, so they do not shift when unrelated events reorder.

import RayCore

extension Simulation {
    func runBody(_ spec: TaskSpec, attempt: Int, _ arguments: [ObjectValue], on worker: WorkerID) {
        let body = spec.body
        let duration = body.count > SyntheticBody.durationIndex ? body[SyntheticBody.durationIndex] : 0
        let output = body.count > SyntheticBody.outputIndex ? body[SyntheticBody.outputIndex] : 8
        let failKind = body.count > SyntheticBody.failKindIndex ? body[SyntheticBody.failKindIndex] : 0
        if failKind != 0 && attemptFails(spec, attempt: attempt) {
            if failKind == 2 {
                schedule(.crashWorker(worker, spec.taskID, attempt: attempt), after: duration / 2)
            } else {
                let message = "synthetic exception in \(spec.function)[\(spec.instance)] (attempt \(attempt))"
                schedule(.executionFinished(worker, spec.taskID, attempt: attempt, .applicationError(message)),
                         after: duration)
            }
            return
        }
        var digests: [UInt64] = []
        digests.reserveCapacity(arguments.count)
        for argument in arguments {
            switch argument {
            case .data(let data): digests.append(data.digest)
            case .error(let error):
                // The executor never runs a body with a failed argument.
                violation = violation ?? "\(spec.function)[\(spec.instance)] ran with a failed argument: \(error)"
                return
            }
        }
        if spec.function == ActorCaller.function {
            runCallerBody(spec, attempt: attempt, on: worker)
            return
        }
        let children = program.plan.childRequests(function: spec.function, instance: spec.instance)
        if !children.isEmpty {
            runParentBody(spec, attempt: attempt, argumentDigests: digests, on: worker, children: children)
            return
        }
        let digest = SyntheticContent.digest(name: spec.function, instance: spec.instance, argumentDigests: digests)
        let value = ObjectData(sizeBytes: output, digest: digest)
        schedule(.executionFinished(worker, spec.taskID, attempt: attempt, returning([value], of: spec, on: worker)),
                 after: duration)
    }

    /// A body's return values as its result: refused when one is over the object size limit of
    /// the worker's node, as a real worker's host refuses it before allocating (ObjectSizeRule).
    func returning(_ values: [ObjectData], of spec: TaskSpec, on worker: WorkerID) -> ExecutionResult {
        if let refusal = ObjectSizeRule.refusal(returns: values, of: spec.function,
                                                limit: nodeConfig(worker.node).objectSizeLimit) {
            return .applicationError(refusal.description)
        }
        return .returned(values)
    }

    /// A synthetic actor: its constructor returns at once; a method waits its duration and returns
    /// its incarnation and call number (`ActorTask.syntheticDigest`), as `swiftray up`'s workers do.
    func runActorBody(_ spec: TaskSpec, attempt: Int, _ task: ActorTask, on worker: WorkerID) {
        let duration = spec.body.count > SyntheticBody.durationIndex ? spec.body[SyntheticBody.durationIndex] : 0
        guard task.call > 0 else {
            schedule(.executionFinished(worker, spec.taskID, attempt: attempt, .returned([])), after: duration)
            return
        }
        let output = spec.body.count > SyntheticBody.outputIndex ? spec.body[SyntheticBody.outputIndex] : 8
        let value = ObjectData(sizeBytes: output, digest: task.syntheticDigest)
        schedule(.executionFinished(worker, spec.taskID, attempt: attempt, returning([value], of: spec, on: worker)),
                 after: duration)
    }

    private func attemptFails(_ spec: TaskSpec, attempt: Int) -> Bool {
        let body = spec.body
        let attempts = body.count > SyntheticBody.failAttemptsIndex ? body[SyntheticBody.failAttemptsIndex] : 0
        if Int64(attempt) <= attempts { return true }
        let partsPerMillion = body.count > SyntheticBody.failProbabilityIndex ? body[SyntheticBody.failProbabilityIndex] : 0
        guard partsPerMillion > 0 else { return false }
        let draw = mix(options.seed ^ mix(spec.taskID.value &+ UInt64(attempt))) % 1_000_000
        return Int64(draw) < partsPerMillion
    }
}
