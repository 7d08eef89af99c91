// The executing half of a core worker (Ray's task_receiver.cc and the
// worker's plasma client): a leased worker receives a pushed task, has its
// raylet make the stored arguments local, runs the body (an effect: the
// simulator models it, the runtime calls the user's function), seals large
// results in the local store as primary copies, and replies to the owner.
//
// Invariants: one task runs at a time (a lease is one worker); every fetch
// the worker opens is released after the task; a reply is sent exactly once
// per pushed attempt, unless the process dies first.

/// What running a task body produced.
public enum ExecutionResult: Hashable, Codable, Sendable {
    /// One value per return.
    case returned([ObjectData])
    /// The body raised.
    case applicationError(String)
}

/// Timers an executor starts.
public enum ExecutorTimer: Hashable, Codable, Sendable {
    /// Stop borrowing these references (the body held them past its return).
    case releaseBorrowed(owner: WorkerID, objects: [ObjectID])
}

/// Inputs of an executor.
public enum ExecutorInput: Hashable, Codable, Sendable {
    /// The worker process started.
    case started(RayConfig, WorkerID)
    /// A message arrived.
    case messageReceived(from: Address, Message)
    /// The body of the running task finished.
    case executionFinished(TaskID, attempt: Int, ExecutionResult)
    /// A timer fired.
    case timerFired(ExecutorTimer)
    /// The running body waits in a get or wait (for objects another task makes): the raylet
    /// frees the lease's CPUs meanwhile, so the tasks it waits for can run (Ray's
    /// NotifyDirectCallTaskBlocked; without it, parents holding every CPU deadlock).
    case bodyBlocked(TaskID, attempt: Int)
    /// The body resumed after `bodyBlocked`.
    case bodyUnblocked(TaskID, attempt: Int)
    /// Before `executionFinished`: the body's return values hold references to these objects
    /// (`returnIndices[i]`: the value holding `objects[i]`), which its worker's owner lent to
    /// the task's owner; the reply is preceded by `returnedReferences`.
    case returnsHold(TaskID, attempt: Int, objects: [ObjectID], returnIndices: [Int])
    /// Before `executionFinished`: the body passed these argument references on (its worker's
    /// owner borrows them still); the reply lists them, so the task's owner keeps them.
    case argumentsBorrowed(TaskID, attempt: Int, objects: [ObjectID])
}

/// Effects of an executor.
public enum ExecutorEffect: Hashable, Codable, Sendable {
    /// Send a message.
    case send(to: Address, Message)
    /// Run the task body with these argument values (in argument order); answer with `executionFinished`.
    case execute(TaskSpec, attempt: Int, arguments: [ObjectValue])
    /// Run an actor's constructor (`call` 0: the spec's function is its class) or one of its
    /// methods on the instance the constructor made; answer with `executionFinished`.
    case executeActor(TaskSpec, attempt: Int, arguments: [ObjectValue], ActorTask)
    /// Fire `timer` after `afterMicros`.
    case startTimer(ExecutorTimer, afterMicros: Int64)
}

/// The executor state machine of one worker process.
public struct Executor: Sendable {
    /// The task being run.
    struct Current: Sendable {
        var spec: TaskSpec
        var attempt: Int
        var args: [ResolvedArg]
        var fetchRequest: UInt64?
        var storeRequest: UInt64?
        var returns: [ReturnValue] = []
        /// The body waits in a get or wait (its lease's CPUs are lent out).
        var blocked = false
        /// References the return values hold (`returnsHold`), announced before the reply.
        var returnedReferences: (objects: [ObjectID], indices: [Int])?
        /// An actor's constructor or method call (nil: a normal task).
        var actorTask: ActorTask?
        /// Argument references the body passed on and its worker still borrows.
        var passedOn: [ObjectID] = []
    }

    /// The actor this worker hosts (Executor+Actors.swift).
    struct HostedActor: Sendable {
        var spec: ActorSpec
        var incarnation: Int
        /// The constructor returned: calls may run.
        var ready = false
        /// Method calls run so far by this incarnation.
        var callsRun = 0
        /// Calls waiting for their turn, per caller, by sequence number.
        var waiting: [WorkerID: [UInt64: (TaskSpec, Int, [ResolvedArg])]] = [:]
        /// The next sequence number each caller's calls run at.
        var next: [WorkerID: UInt64] = [:]
    }

    public private(set) var config = RayConfig()
    public private(set) var workerID = WorkerID(node: NodeID(0), index: 0)
    var current: Current?
    /// Further calls of a concurrent actor (`maxConcurrency` > 1) running beside `current`.
    var concurrent: [TaskID: Current] = [:]

    /// Where a running task is: the one slot of a worker, or beside it (a concurrent actor).
    enum Slot: Hashable, Sendable {
        case primary
        case extra(TaskID)
    }

    subscript(slot: Slot) -> Current? {
        get {
            switch slot {
            case .primary: return current
            case .extra(let task): return concurrent[task]
            }
        }
        set {
            switch slot {
            case .primary: current = newValue
            case .extra(let task): concurrent[task] = newValue
            }
        }
    }

    func slot(task: TaskID, attempt: Int) -> Slot? {
        if current?.spec.taskID == task && current?.attempt == attempt { return .primary }
        if !concurrent.isEmpty, concurrent[task]?.attempt == attempt { return .extra(task) }
        return nil
    }

    private func slot(where matches: (Current) -> Bool) -> Slot? {
        if let current, matches(current) { return .primary }
        return concurrent.first { matches($0.value) }.map { .extra($0.key) }
    }
    var queued = FIFOQueue<(TaskSpec, Int, [ResolvedArg])>()
    var actor: HostedActor?
    var requestCounter: UInt64 = 0
    /// Tasks this worker finished (for reports).
    public private(set) var tasksRun = 0

    public init() {}

    /// True while a task is being run.
    public var isBusy: Bool { current != nil }
    /// The task being run, if any.
    public var runningTask: TaskSpec? { current?.spec }
    /// The attempt number of the task being run, if any.
    public var runningAttempt: Int? { current?.attempt }

    /// Handles one input at time `now` and returns the effects, in order.
    public mutating func handle(_ input: ExecutorInput, now: Int64) -> [ExecutorEffect] {
        var effects: [ExecutorEffect] = []
        switch input {
        case .started(let config, let worker):
            self.config = config
            workerID = worker
        case .messageReceived(_, let message):
            receive(message, into: &effects)
        case .executionFinished(let task, let attempt, let result):
            finished(task, attempt: attempt, result: result, into: &effects)
        case .timerFired(.releaseBorrowed(let owner, let objects)):
            for object in objects {
                effects.append(.send(to: .worker(owner), .borrowReleased(object, borrower: workerID)))
            }
        case .bodyBlocked(let task, let attempt):
            setBlocked(true, task, attempt: attempt, into: &effects)
        case .bodyUnblocked(let task, let attempt):
            setBlocked(false, task, attempt: attempt, into: &effects)
        case .argumentsBorrowed(let task, let attempt, let objects):
            guard let slot = slot(task: task, attempt: attempt) else { return effects }
            self[slot]?.passedOn = objects
        case .returnsHold(let task, let attempt, let objects, let indices):
            guard let slot = slot(task: task, attempt: attempt) else { return effects }
            self[slot]?.returnedReferences = (objects, indices)
        }
        return effects
    }

    private var raylet: Address { .raylet(workerID.node) }

    /// The running attempt's body blocked or resumed: its raylet hears of each change once.
    private mutating func setBlocked(_ blocked: Bool, _ task: TaskID, attempt: Int, into effects: inout [ExecutorEffect]) {
        guard let slot = slot(task: task, attempt: attempt), self[slot]?.blocked == !blocked,
              self[slot]?.actorTask == nil else { return }  // An actor holds its resources for its life.
        self[slot]?.blocked = blocked
        effects.append(.send(to: raylet, blocked ? .workerBlocked(workerID) : .workerUnblocked(workerID)))
    }

    private mutating func receive(_ message: Message, into effects: inout [ExecutorEffect]) {
        switch message {
        case .pushTask(let spec, let attempt, _, let args):
            // A repeated push of an attempt already here must not run it twice.
            if let running = current, running.spec.taskID == spec.taskID, running.attempt == attempt { return }
            if queued.elements.contains(where: { $0.0.taskID == spec.taskID && $0.1 == attempt }) { return }
            if current == nil {
                begin(spec, attempt: attempt, args: args, into: &effects)
            } else {
                queued.append((spec, attempt, args))
            }
        case .createActor(let spec, let incarnation):
            createActor(spec, incarnation: incarnation, into: &effects)
        case .pushActorTask(let spec, let attempt, let id, let incarnation, let sequence, let skipBelow, let args):
            receiveCall(spec, attempt: attempt, actor: id, incarnation: incarnation, sequence: sequence,
                        skipBelow: skipBelow, args: args, into: &effects)
        case .objectsReady(let requestID, let values):
            argumentsFetched(requestID, values: values, into: &effects)
        case .objectsStored(let requestID):
            guard let slot = slot(where: { $0.storeRequest == requestID }), let task = self[slot] else { return }
            reply(slot, .returned(task.returns), into: &effects)
        case .objectsRefused(let requestID, _, let error):
            // The job's bytes in the node's store are at their quota: the task fails with it (a
            // retry would be refused the same way).
            guard let slot = slot(where: { $0.storeRequest == requestID }) else { return }
            reply(slot, .argumentFailed(error), into: &effects)
        default:
            break  // Not an executor message.
        }
    }

    mutating func begin(_ spec: TaskSpec, attempt: Int, args: [ResolvedArg], actorTask: ActorTask? = nil,
                        into effects: inout [ExecutorEffect]) {
        var task = Current(spec: spec, attempt: attempt, args: args)
        task.actorTask = actorTask
        let stored = args.compactMap { arg -> ObjectID? in
            if case .object(let object) = arg { return object }
            return nil
        }
        // A concurrent actor's further calls run beside the one in `current`.
        let slot: Slot = current == nil ? .primary : .extra(spec.taskID)
        if stored.isEmpty {
            self[slot] = task
            effects.append(executeEffect(task, argumentValues(args, fetched: [])))
            return
        }
        requestCounter += 1
        task.fetchRequest = requestCounter
        self[slot] = task
        effects.append(.send(to: raylet, .fetchObjects(requestID: requestCounter, objects: stored, owner: spec.owner)))
    }

    private mutating func argumentsFetched(_ requestID: UInt64, values: [ObjectValue], into effects: inout [ExecutorEffect]) {
        guard let slot = slot(where: { $0.fetchRequest == requestID }), let task = self[slot] else { return }
        if let error = values.lazy.compactMap(\.error).first {
            reply(slot, .argumentFailed(error), into: &effects)
            return
        }
        effects.append(executeEffect(task, argumentValues(task.args, fetched: values)))
    }

    private func executeEffect(_ task: Current, _ arguments: [ObjectValue]) -> ExecutorEffect {
        guard let actorTask = task.actorTask else { return .execute(task.spec, attempt: task.attempt, arguments: arguments) }
        return .executeActor(task.spec, attempt: task.attempt, arguments: arguments, actorTask)
    }

    /// Argument values in argument order: inline ones as given, stored ones from the fetch.
    private func argumentValues(_ args: [ResolvedArg], fetched: [ObjectValue]) -> [ObjectValue] {
        var next = 0
        return args.map { arg in
            switch arg {
            case .inline(let data): return .data(data)
            case .borrowed:
                // A borrowed reference is passed as a reference, not as content.
                return .data(ObjectData(sizeBytes: 0, digest: 0))
            case .object:
                defer { next += 1 }
                return next < fetched.count ? fetched[next] : .error(RayError(.objectLost, "argument missing"))
            }
        }
    }

    private mutating func finished(_ task: TaskID, attempt: Int, result: ExecutionResult, into effects: inout [ExecutorEffect]) {
        guard let slot = slot(task: task, attempt: attempt), var running = self[slot] else { return }
        switch result {
        case .applicationError(let message):
            reply(slot, .applicationError(message), into: &effects)
        case .returned where running.actorTask?.call == 0:
            reply(slot, .returned([]), into: &effects)  // A constructor's result is the instance, kept by its host.
        case .returned(let values) where values.count != max(1, running.spec.returnCount):
            let declared = max(1, running.spec.returnCount)
            reply(slot, .applicationError("\(running.spec.function)[\(running.spec.instance)] returned \(values.count) "
                + "value\(values.count == 1 ? "" : "s"), but is declared with \(declared) return value\(declared == 1 ? "" : "s") "
                + "(numReturns)"), into: &effects)
        case .returned(let values):
            var storedIDs: [ObjectID] = [], storedValues: [ObjectData] = []
            running.returns = zip(Array(running.spec.returnIDs), values).map { object, data in
                if data.sizeBytes <= config.inlineObjectSizeBytesMax { return .inline(data) }
                storedIDs.append(object)
                storedValues.append(data)
                return .stored(node: workerID.node, sizeBytes: data.sizeBytes)
            }
            if storedIDs.isEmpty {
                self[slot] = running
                reply(slot, .returned(running.returns), into: &effects)
            } else {
                requestCounter += 1
                running.storeRequest = requestCounter
                self[slot] = running
                effects.append(.send(to: raylet, .storeObjects(requestID: requestCounter, objects: storedIDs,
                                                               values: storedValues, owner: running.spec.owner)))
            }
        }
    }

    /// Replies to the owner, releases the argument pins and starts the next queued task.
    private mutating func reply(_ slot: Slot, _ outcome: TaskOutcome, into effects: inout [ExecutorEffect]) {
        guard let task = self[slot] else { return }
        self[slot] = nil
        tasksRun += 1
        // A body that ended while blocked (it was never resumed) gives its lease its CPUs back
        // first: the owner may push the next task on the same lease.
        if task.blocked { effects.append(.send(to: raylet, .workerUnblocked(workerID))) }
        if let fetch = task.fetchRequest { effects.append(.send(to: raylet, .releaseFetch(requestID: fetch))) }
        let borrowed = task.args.compactMap { arg -> ObjectID? in
            if case .borrowed(let object) = arg { return object }
            return nil
        }
        // Body parameter 3 (synthetic bodies): how long the body keeps borrowed refs after returning.
        let holdMicros = task.spec.body.count > 3 ? task.spec.body[3] : 0
        let stillBorrowed = holdMicros > 0 ? borrowed : []
        // References the body passed on: this worker's owner borrows them, and releases them itself.
        let listed = stillBorrowed + task.passedOn.filter { !stillBorrowed.contains($0) }
        if let actorTask = task.actorTask, actorTask.call == 0 {
            constructorEnded(actorTask, outcome, into: &effects)
            return
        }
        if let held = task.returnedReferences, !held.objects.isEmpty {
            effects.append(.send(to: .worker(task.spec.owner), .returnedReferences(
                task.spec.taskID, attempt: task.attempt, objects: held.objects, returnIndices: held.indices)))
        }
        effects.append(.send(to: .worker(task.spec.owner), .taskReply(task.spec.taskID, attempt: task.attempt, outcome,
                                                                        borrowed: listed)))
        if !stillBorrowed.isEmpty {
            effects.append(.startTimer(.releaseBorrowed(owner: task.spec.owner, objects: stillBorrowed),
                                       afterMicros: holdMicros))
        }
        if current == nil, let (spec, attempt, args) = queued.popFirst() {
            begin(spec, attempt: attempt, args: args, into: &effects)
        }
        if actor != nil { runNextCall(into: &effects) }
    }
}
