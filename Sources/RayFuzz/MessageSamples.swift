// Drawn messages of the kinds `FastMessages` writes by hand (tasks, actor calls, replies),
// covering every case and the edges of the encoding: zero and negative numbers, the
// largest values (ten-byte varints), empty and non-ASCII strings, byte payloads longer
// than one length byte holds. FastMessagesTests compares the hand-written codec with the
// generated one on them; the `records` fuzz target starts from their encodings.

import RayCore

public enum MessageSamples {
    /// The `count` messages drawn from `seed` (the same seed, the same messages).
    public static func draw(_ count: Int, seed: UInt64) -> [Message] {
        var random = SeededGenerator(seed: seed)
        return (0..<count).map { _ in message(&random) }
    }

    /// Owner inputs a program hands its owner per task, call and reference (written by hand).
    public static func drawOwnerInputs(_ count: Int, seed: UInt64) -> [OwnerInput] {
        var random = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            var r = random
            defer { random = r }
            switch r.below(5) {
            case 0: return .submitTask(request(&r))
            case 1: return .callActor(ActorID(creationTask: TaskID(value: uint64(&r))), request(&r))
            case 2: return .get(object(&r))
            case 3: return .release(object(&r))
            default: return .addReference(object(&r))
            }
        }
    }

    /// Finished executions (an executor's input, written by hand).
    public static func drawExecutorInputs(_ count: Int, seed: UInt64) -> [ExecutorInput] {
        var random = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            let result: ExecutionResult = random.below(3) == 0
                ? .applicationError(string(&random)) : .returned(list(&random, 3) { data(&$0) })
            return .executionFinished(TaskID(value: uint64(&random)), attempt: int(&random), result)
        }
    }

    static func request(_ r: inout SeededGenerator) -> TaskRequest {
        let spec = spec(&r)
        return TaskRequest(function: spec.function, instance: spec.instance, args: spec.args, resources: spec.resources,
                           strategy: spec.strategy, maxRetries: spec.maxRetries, retryExceptions: spec.retryExceptions,
                           body: spec.body, returnCount: spec.returnCount)
    }

    static func message(_ r: inout SeededGenerator) -> Message {
        switch r.below(3) {
        case 0:
            return .pushTask(spec(&r), attempt: int(&r), lease: LeaseID(owner: worker(&r), index: uint64(&r)),
                             args: list(&r, 4) { resolvedArg(&$0) })
        case 1:
            return .pushActorTask(spec(&r), attempt: int(&r), ActorID(creationTask: TaskID(value: uint64(&r))),
                                  incarnation: int(&r), sequence: uint64(&r), skipBelow: uint64(&r),
                                  args: list(&r, 4) { resolvedArg(&$0) })
        default:
            return .taskReply(TaskID(value: uint64(&r)), attempt: int(&r), outcome(&r),
                              borrowed: list(&r, 3) { object(&$0) })
        }
    }

    static func list<T>(_ r: inout SeededGenerator, _ most: UInt64, _ draw: (inout SeededGenerator) -> T) -> [T] {
        (0..<Int(r.below(most + 1))).map { _ in draw(&r) }
    }

    /// Zero often, small often, anything sometimes.
    static func uint64(_ r: inout SeededGenerator) -> UInt64 {
        switch r.below(4) {
        case 0: return 0
        case 1: return r.below(200)
        case 2: return UInt64.max - r.below(3)
        default: return r.next()
        }
    }

    static func int(_ r: inout SeededGenerator) -> Int {
        switch r.below(5) {
        case 0: return 0
        case 1: return Int(r.below(300)) - 150
        case 2: return Int.min + Int(r.below(2))
        case 3: return Int.max - Int(r.below(2))
        default: return Int(truncatingIfNeeded: r.next())
        }
    }

    static func uint32(_ r: inout SeededGenerator) -> UInt32 {
        r.below(3) == 0 ? UInt32(truncatingIfNeeded: r.next()) : UInt32(r.below(300))
    }

    static func string(_ r: inout SeededGenerator) -> String {
        switch r.below(5) {
        case 0: return ""
        case 1: return "f"
        case 2: return "square"
        case 3: return "zählen-π-\(r.below(1000))"
        default: return String(repeating: "long-name-", count: Int(r.below(30)))
        }
    }

    static func worker(_ r: inout SeededGenerator) -> WorkerID {
        WorkerID(node: NodeID(uint32(&r)), index: uint32(&r))
    }

    static func object(_ r: inout SeededGenerator) -> ObjectID {
        let index = UInt32(r.below(5) + 1) | (r.below(2) == 0 ? 0 : UInt32(1) << 31)
        return ObjectID(task: TaskID(value: uint64(&r)), index: index)
    }

    static func data(_ r: inout SeededGenerator) -> ObjectData {
        let bytes: [UInt8]? = switch r.below(3) {
        case 0: nil
        case 1: []
        default: (0..<Int(r.below(400))).map { _ in UInt8(truncatingIfNeeded: r.next()) }
        }
        let size = r.below(3) == 0 ? 0 : Int64(r.below(UInt64(Int64.max)))
        return ObjectData(sizeBytes: size, digest: uint64(&r), bytes: bytes)
    }

    static func resources(_ r: inout SeededGenerator) -> ResourceSet {
        var milli: [String: Int64] = [:]
        for name in ["CPU", "GPU", "memory", "node:ü", ""] where r.below(2) == 0 {
            milli[name] = Int64(int(&r))
        }
        return ResourceSet(milli)
    }

    static func strategy(_ r: inout SeededGenerator) -> SchedulingStrategy {
        switch r.below(3) {
        case 0: return .default
        case 1: return .spread
        default: return .nodeAffinity(node: NodeID(uint32(&r)), soft: r.below(2) == 0)
        }
    }

    static func spec(_ r: inout SeededGenerator) -> TaskSpec {
        let args: [TaskArg] = list(&r, 4) { r in
            switch r.below(3) {
            case 0: return .reference(object(&r))
            case 1: return .value(data(&r))
            default: return .nestedReference(object(&r))
            }
        }
        return TaskSpec(taskID: TaskID(value: uint64(&r)), jobID: JobID(uint32(&r)), function: string(&r),
                        instance: int(&r), args: args, returnCount: int(&r), resources: resources(&r),
                        strategy: strategy(&r), maxRetries: int(&r), retryExceptions: r.below(2) == 0,
                        body: list(&r, 6) { Int64(int(&$0)) }, owner: worker(&r))
    }

    static func resolvedArg(_ r: inout SeededGenerator) -> ResolvedArg {
        switch r.below(3) {
        case 0: return .inline(data(&r))
        case 1: return .object(object(&r))
        default: return .borrowed(object(&r))
        }
    }

    static func outcome(_ r: inout SeededGenerator) -> TaskOutcome {
        switch r.below(3) {
        case 0:
            return .returned(list(&r, 3) { r in
                r.below(2) == 0 ? .inline(data(&r)) : .stored(node: NodeID(uint32(&r)), sizeBytes: Int64(int(&r)))
            })
        case 1: return .applicationError(string(&r))
        default:
            let kinds = RayErrorKind.allCases
            return .argumentFailed(RayError(kinds[Int(r.below(UInt64(kinds.count)))], string(&r)))
        }
    }
}
