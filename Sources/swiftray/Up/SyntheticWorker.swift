// Scenario task bodies in real worker processes (`swiftray up`): the same
// synthetic work the simulator models (../SCENARIOS.md "Synthetic work"):
// sleep `duration`, then return `output` bytes whose content is the
// deterministic stream of a digest of (task name, instance, argument digests).
// Failure plans: raise, or SIGKILL the worker halfway through the duration.

import Glibc
import RayCore
import RayRuntime
import RaySim

enum SyntheticWorker {
    /// Installs the synthetic bodies for tasks no function is registered for.
    static func install() {
        let seed = getenv("SWIFTRAY_SCENARIO_SEED").flatMap { UInt64(String(cString: $0)) } ?? 0
        FunctionRegistry.fallback = { spec, attempt, arguments in
            run(spec, attempt: attempt, arguments, seed: seed)
        }
        ActorRegistry.fallback = { spec, task, _ in actorCall(spec, task) }
    }

    /// An actor caller (`callers`), as raysim runs it: follows the actor whose handle it got,
    /// makes its calls through this worker's owner, gets them, and checks what came back.
    static func callActor(_ spec: TaskSpec) -> ExecutionResult {
        guard let actor = ActorCaller.actor(of: spec) else {
            return .applicationError("\(spec.function): no actor handle among its arguments")
        }
        guard let owner = WorkerHost.taskOwner() else {
            return .applicationError("\(spec.function)[\(spec.instance)]: this worker cannot own tasks (see its stderr)")
        }
        owner.subscribeActor(actor)
        let calls = ActorCaller.calls(of: spec).map { owner.callActor(actor, $0)[0] }
        WorkerHost.bodyWillBlock()
        let values = owner.get(calls, timeoutSeconds: nil).map { $0?.value ?? .error(RayError(.objectLost, "never came")) }
        for call in calls { owner.release(call) }
        guard case .returned(let data) = ActorCaller.outcome(spec, values), let value = data.first else {
            return ActorCaller.outcome(spec, values)
        }
        return .returned([ObjectData(sizeBytes: value.sizeBytes, digest: value.digest,
                                     bytes: syntheticBytes(digest: value.digest, size: value.sizeBytes))])
    }

    /// A synthetic actor, as raysim models it: the constructor returns at once; a method sleeps
    /// its duration and returns its incarnation and call number (`ActorTask.syntheticDigest`).
    static func actorCall(_ spec: TaskSpec, _ task: ActorTask) -> ExecutionResult {
        let duration = spec.body.count > SyntheticBody.durationIndex ? spec.body[SyntheticBody.durationIndex] : 0
        sleep(micros: duration)
        guard task.call > 0 else { return .returned([]) }
        let output = spec.body.count > SyntheticBody.outputIndex ? spec.body[SyntheticBody.outputIndex] : 8
        let digest = task.syntheticDigest
        return .returned([ObjectData(sizeBytes: output, digest: digest, bytes: syntheticBytes(digest: digest, size: output))])
    }

    static func run(_ spec: TaskSpec, attempt: Int, _ arguments: [FetchedValue], seed: UInt64)
        -> (ExecutionResult, returned: [ObjectID]) {
        var returned: [ObjectID] = []
        let result = compute(spec, attempt: attempt, arguments, seed: seed, returned: &returned)
        if case .applicationError = result { return (result, []) }
        return (result, returned)
    }

    /// The body's result; `returned`: the children's references its value holds (`return_refs`).
    private static func compute(_ spec: TaskSpec, attempt: Int, _ arguments: [FetchedValue], seed: UInt64,
                                returned: inout [ObjectID]) -> ExecutionResult {
        let body = spec.body
        guard body.count > SyntheticBody.outputIndex else {
            return .applicationError("unknown function '\(spec.function)' (and not a scenario task: no synthetic body)")
        }
        let duration = body[SyntheticBody.durationIndex]
        let output = body[SyntheticBody.outputIndex]
        let failKind = body.count > SyntheticBody.failKindIndex ? body[SyntheticBody.failKindIndex] : 0
        if failKind != 0 && attemptFails(spec, attempt: attempt, seed: seed) {
            if failKind == 2 {
                sleep(micros: duration / 2)
                kill(getpid(), SIGKILL)
            }
            sleep(micros: duration)
            return .applicationError("synthetic exception in \(spec.function)[\(spec.instance)] (attempt \(attempt))")
        }
        var digests: [UInt64] = []
        for argument in arguments {
            guard case .data(let data) = argument.value else {
                return .applicationError("\(spec.function)[\(spec.instance)] ran with a failed argument")
            }
            digests.append(data.digest)
        }
        if spec.function == ActorCaller.function { return callActor(spec) }
        let children = plan?.childRequests(function: spec.function, instance: spec.instance) ?? []
        if !children.isEmpty {
            // A parent (nested tasks): its children are submitted first, owned by this worker.
            guard let owner = WorkerHost.taskOwner() else {
                return .applicationError("\(spec.function)[\(spec.instance)]: this worker cannot own tasks (see its stderr)")
            }
            let objects = children.map { owner.submit($0) }
            // Returned, its handles become the task owner's borrows (the worker lends them); else they drop.
            var lent = false
            defer { if !lent { for object in objects { owner.release(object) } } }
            // The loop goes on while the parent "works" (its children are submitted meanwhile, as in raysim).
            WorkerHost.bodyWillBlock()
            sleep(micros: duration)
            if plan?.getsChildren(spec.function) == true {
                for (index, value) in owner.get(objects, timeoutSeconds: nil).enumerated() {
                    switch value?.value {
                    case .data(let data)?:
                        digests.append(data.digest)
                    case .error(let error)?:
                        return .applicationError("\(spec.function)[\(spec.instance)]: getting child \(index + 1) of "
                            + "\(objects.count) raised \(error)")
                    case nil:
                        return .applicationError("\(spec.function)[\(spec.instance)]: child \(index + 1) never came")
                    }
                }
            }
            if plan?.returnsChildren(spec.function) == true {
                lent = true
                returned = objects
            }
        } else {
            sleep(micros: duration)
        }
        let digest = SyntheticContent.digest(name: spec.function, instance: spec.instance, argumentDigests: digests)
        return .returned([ObjectData(sizeBytes: output, digest: digest, bytes: syntheticBytes(digest: digest, size: output))])
    }

    /// The scenario's plan (what parents submit), read once from the file `swiftray up` names.
    static let plan: WorkloadPlan? = getenv("SWIFTRAY_SCENARIO_FILE").flatMap { path in
        (try? ScenarioLoader.load(path: String(cString: path))).map { WorkloadPlan($0.workload) }
    }

    /// Mirrors the simulator's draw: the first `attempts` attempts fail, then each with the probability.
    static func attemptFails(_ spec: TaskSpec, attempt: Int, seed: UInt64) -> Bool {
        let body = spec.body
        let attempts = body.count > SyntheticBody.failAttemptsIndex ? body[SyntheticBody.failAttemptsIndex] : 0
        if Int64(attempt) <= attempts { return true }
        let partsPerMillion = body.count > SyntheticBody.failProbabilityIndex ? body[SyntheticBody.failProbabilityIndex] : 0
        guard partsPerMillion > 0 else { return false }
        return Int64(mix(seed ^ mix(spec.taskID.value &+ UInt64(attempt))) % 1_000_000) < partsPerMillion
    }

    /// The content stream of a synthetic value (ObjectData.syntheticByte, eight bytes per mix).
    static func syntheticBytes(digest: UInt64, size: Int64) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, count in
            var index = 0
            while index < Int(size) {
                let word = mix(digest &+ UInt64(index >> 3))
                for byte in 0..<min(8, Int(size) - index) {
                    buffer[index + byte] = UInt8(truncatingIfNeeded: word >> (UInt64(byte) * 8))
                }
                index += 8
            }
            count = Int(size)
        }
    }

    static func sleep(micros: Int64) {
        guard micros > 0 else { return }
        var request = timespec(tv_sec: Int(micros / 1_000_000), tv_nsec: Int(micros % 1_000_000) * 1000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
