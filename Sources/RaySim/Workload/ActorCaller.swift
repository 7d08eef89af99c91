// The synthetic body of a scenario task that calls an actor (`callers: N`: the
// driver and N-1 such tasks each make `calls` calls): it receives the actor's
// handle inside an argument, makes its calls through its worker's owner, gets
// them, and checks Ray's rules on what came back — its own calls ran in its
// submission order, on no incarnation beyond max_restarts — as the driver's
// checker does for the driver's calls. The same code in raysim and in real
// workers (`swiftray up`).

public import RayCore

public enum ActorCaller {
    /// The function name of a caller task.
    public static let function = "actor-caller"
    static let callsIndex = 6, callMicrosIndex = 7, maxRestartsIndex = 8, maxConcurrencyIndex = 9

    /// The body parameters of a caller of `spec`'s actors.
    static func body(_ spec: ActorSpec) -> [Int64] {
        [0, 8, 0, 0, 0, 0, Int64(spec.calls), spec.callMicros, Int64(spec.maxRestarts), Int64(spec.maxConcurrency)]
    }

    /// The actor a caller task calls: the one whose handle its argument holds.
    public static func actor(of spec: TaskSpec) -> ActorID? {
        for arg in spec.args {
            if case .nestedReference(let handle) = arg { return ActorID(creationTask: handle.task) }
        }
        return nil
    }

    /// The calls a caller task makes, in order.
    public static func calls(of spec: TaskSpec) -> [TaskRequest] {
        let count = spec.body.count > callsIndex ? Int(spec.body[callsIndex]) : 0
        let micros = spec.body.count > callMicrosIndex ? spec.body[callMicrosIndex] : 1_000
        return (0..<count).map { call in
            TaskRequest(function: "call", instance: call, args: [], resources: ResourceSet(), strategy: .default,
                        maxRetries: 0, retryExceptions: false, body: [micros, ScenarioDriver.actorCallOutputBytes])
        }
    }

    /// What the caller returns, given what its calls returned (in order): a failure when Ray's
    /// rules were broken (a safety violation the driver reports), else a value counting them.
    public static func outcome(_ spec: TaskSpec, _ values: [ObjectValue]) -> ExecutionResult {
        let restarts = spec.body.count > maxRestartsIndex ? spec.body[maxRestartsIndex] : 0
        let concurrency = spec.body.count > maxConcurrencyIndex ? spec.body[maxConcurrencyIndex] : 1
        var last: (incarnation: UInt64, call: UInt64)?
        var ok = 0
        for (index, value) in values.enumerated() {
            switch value {
            case .data(let data):
                let incarnation = data.digest >> 32, number = data.digest & 0xFFFF_FFFF
                if concurrency == 1, let last, (incarnation, number) <= (last.incarnation, last.call) {
                    return .applicationError(violationMarker + "\(spec.function)[\(spec.instance)]: call \(index) ran as "
                        + "call \(number) of incarnation \(incarnation), not after the call before it: calls of one "
                        + "caller ran out of submission order")
                }
                if restarts >= 0 && incarnation > UInt64(restarts) {
                    return .applicationError(violationMarker + "\(spec.function)[\(spec.instance)]: call \(index) ran on "
                        + "incarnation \(incarnation), but max_restarts is \(restarts)")
                }
                last = (incarnation, number)
                ok += 1
            case .error(let error) where error.kind == .actorDied || error.kind == .actorUnavailable:
                continue  // Allowed: the actor died (or was unreachable) with the call.
            case .error(let error):
                return .applicationError("\(spec.function)[\(spec.instance)]: call \(index) failed with \(error), "
                    + "not an actor error")
            }
        }
        return .returned([ObjectData(sizeBytes: 8, digest: UInt64(ok))])
    }

    /// Starts a caller's failure that breaks Ray's rules (not an allowed error).
    public static let violationMarker = "actor rule broken: "
}
