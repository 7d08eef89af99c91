// A worker process: the `Executor` machine on a libuv loop, connected to its
// raylet over the node's Unix socket. Task bodies are the program's own
// registered functions, run one at a time (the executor runs one task per
// lease) on the loop's thread between its iterations; while a body waits for
// objects or computes for long, another thread runs the loop (`LoopBaton`).
// What bodies submit and put is owned by the worker's own owner
// (`DriverHost`, made when a body first needs it; nested tasks). A worker whose
// raylet goes away exits, as Ray's do.

import Dispatch
import Glibc
import Synchronization
public import RayCore

/// An object value as a task body or a get receives it: large values are mapped
/// from the node's shared-memory store (`mapping`) instead of carried in `value`.
public struct FetchedValue: @unchecked Sendable {
    public var value: ObjectValue
    /// The bytes of a large value, mapped without a copy.
    public var mapping: SharedMapping?
    public init(value: ObjectValue, mapping: SharedMapping? = nil) {
        self.value = value
        self.mapping = mapping
    }
}

/// The functions a program registered, by their stable names.
public enum FunctionRegistry {
    /// A registered body: argument values in order, to the encoded return values (one per return).
    public typealias Body = ([FetchedValue]) throws -> [[UInt8]]
    nonisolated(unsafe) static var functions: [String: Body] = [:]

    /// Registers `body` under `name` (call before `Ray.start()`: workers run the program up to there).
    public static func register(_ name: String, _ body: @escaping Body) {
        functions[name] = body
    }

    public static func lookup(_ name: String) -> Body? { functions[name] }

    /// Runs tasks whose function is not registered (e.g. scenario tasks with synthetic
    /// bodies under `swiftray up`): the spec, the attempt number and the arguments; returns the
    /// result and the references its first return value holds (owned by this worker: lent to
    /// the task's owner).
    nonisolated(unsafe) public static var fallback: ((TaskSpec, Int, [FetchedValue]) -> (ExecutionResult, returned: [ObjectID]))?
    public static var names: [String] { functions.keys.sorted() }
}

/// Where a task body runs and what it was given, set by its worker around the body
/// (read it through `Ray.runtimeContext`).
public struct TaskContext: Sendable {
    public var task: TaskID
    public var function: String
    public var instance: Int
    public var attempt: Int
    public var job: JobID
    public var worker: WorkerID
    /// The values of the task's reference arguments, top-level and nested, by object.
    public var references: [ObjectID: FetchedValue]
    /// The process that submitted the task (it owns, or borrows, the references passed in).
    public var owner: WorkerID
    /// Argument references the body passed on to tasks it submitted (this worker borrows them).
    public var passedOn: PassedOnReferences
    /// References the body's return values hold (filled as they are encoded).
    public let returned = ReturnedReferences()

    /// The task running on this thread, nil outside a task body.
    @TaskLocal public static var current: TaskContext?
}

/// Argument references a body passed on (the body's thread adds, the loop reads after it ended).
public final class PassedOnReferences: @unchecked Sendable {
    public private(set) var objects: [ObjectID] = []
    public init() {}
    public func add(_ object: ObjectID) { if !objects.contains(object) { objects.append(object) } }
}

/// References a body's return values hold, each with the return value (from 1) that holds it:
/// objects this worker owns, lent to the task's owner when the body returns.
public final class ReturnedReferences: @unchecked Sendable {
    public private(set) var objects: [ObjectID] = []
    public private(set) var returnIndices: [Int] = []
    init() {}
    /// Notes that return value `index` holds `object` (the body's thread only).
    public func add(_ object: ObjectID, returnValue index: Int) {
        objects.append(object)
        returnIndices.append(index)
    }
}

/// A body's error as the owner reports it: its type, then its description, without
/// repeating the type when the description already names it (`ParseError(line: 3)`),
/// and an enum case qualified by its type (`ParseError.badNumber("x")`).
public func describeError(_ error: any Error) -> String {
    if let described = error as? any TaskErrorDescribing { return described.taskErrorDescription }
    let type = errorTypeName(error)
    let text = String(describing: error)
    if text.hasPrefix(type) { return text }
    let mirror = Mirror(reflecting: error)
    if mirror.displayStyle == .enum {
        // A case's default description starts with its name (its payload's label); a custom one is left alone.
        let isDefault = mirror.children.first?.label.map { text.hasPrefix($0) } ?? !text.contains(" ")
        if isDefault { return "\(type).\(text)" }
    }
    return "\(type): \(text)"
}

/// An error's type as a reader knows it: qualified by the types it is nested in
/// (`Ray.Error`, not `Error`), without its module.
func errorTypeName(_ error: any Error) -> String {
    let short = String(describing: Swift.type(of: error))
    let full = String(reflecting: Swift.type(of: error))
    guard !full.contains("("), !full.contains("<") else { return short }  // private or generic contexts
    let parts = full.split(separator: ".")
    return parts.count > 2 ? parts.dropFirst().joined(separator: ".") : short
}

/// An error a task body raised, carried to the owner as its description.
struct UnknownFunction: Error, CustomStringConvertible {
    var name: String
    var description: String {
        let known = FunctionRegistry.names
        return "unknown function '\(name)': this worker's program registers "
            + (known.isEmpty ? "no functions" : known.joined(separator: ", "))
            + "; create every remote function before calling Ray.start() so workers register it too"
    }
}

/// Hosts an executor in a worker process.
public final class WorkerHost: ConnectionDelegate, @unchecked Sendable {
    let loop: EventLoop
    let workerID: WorkerID
    let log: HostLog
    let logDirectory: String?
    let executor = ComponentDriver<Executor>()
    var connection: Connection?
    var links: DirectLinks?
    let objects: SharedObjects?
    /// The node's object size limit, read once (its store was made before this worker started).
    var config = RayConfig()
    /// The task attempt whose body runs now (loop thread).
    var running: (task: TaskID, attempt: Int, job: JobID, owner: WorkerID)?
    /// The actor instance this worker hosts (made by its constructor; one per process).
    var actorInstance: (any ActorInstance)?
    /// The owner of what bodies submit and put (loop thread), made on first use.
    var ownerHost: DriverHost?
    /// Its API, for bodies (any thread).
    let ownerClient = Mutex<DriverClient?>(nil)
    /// This process's worker host (a process hosts one, for its life; not `weak`, which would slow
    /// every retain of the host: see Lifeline).
    nonisolated(unsafe) static var current: WorkerHost?
    /// Where the hosted actor's calls run: on this loop's thread (`LoopExecutor`).
    let callExecutor: LoopExecutor
    /// The executor an actor's calls run on in this process (nil outside a worker).
    public static var actorCallExecutor: (any TaskExecutor)? { current?.callExecutor }

    public init(loop: EventLoop, worker: WorkerID, socketPath: String, logDirectory: String?) throws(RuntimeError) {
        self.loop = loop
        self.logDirectory = logDirectory
        callExecutor = LoopExecutor(loop: loop)
        workerID = worker
        log = try HostLog(directory: logDirectory, component: "worker", loop: loop)
        let log = self.log
        executor.attach(loop: loop, log: { log }, role: "worker")
        // `unowned(unsafe)`: the host owns its executor's driver, which runs this on every effect.
        defer { executor.perform = { [unowned(unsafe) self] effect in perform(effect) } }
        // Its job's own store when the raylet made one (a user ID per job), else the node's.
        let identity = (try? ClusterSecret.fromEnvironment())??.identity
        objects = environment("SWIFTRAY_SESSION").map { session in
            guard let identity, identity.role == .job else { return SharedObjects(session: session, node: worker.node) }
            return SharedObjects.forProcess(session: session, node: worker.node, job: JobID(identity.job))
        }
        // Listen for owners before the raylet learns of this worker (and can lease it).
        links = DirectLinks(loop: loop, me: worker, role: .worker, session: environment("SWIFTRAY_SESSION"))
        links?.throughRaylet = { [unowned self] bytes in connection?.send(bytes) }
        links?.deliver = { [unowned self] frame in
            guard let (from, _) = try? frame.addresses(), let message = try? frame.message() else { return }
            deliver(message, from: from, frame: frame)
        }
        WorkerHost.current = self
        Connector.unix(loop: loop, path: socketPath, label: "raylet") { [unowned self] result in
            switch result {
            case .success(let connection):
                connection.delegate = self
                var hello = Hello(role: .worker)
                hello.worker = worker
                hello.node = worker.node
                connection.send(Wire.helloFrame(hello))
                self.connection = connection
            case .failure(let error):
                note("worker", "\(error); the raylet that started this worker is gone")
                exit(1)
            }
        }
    }

    /// Hands the executor an input (`encoded`: its log record, spliced from the frame it came in).
    func handle(_ input: ExecutorInput, encoded: [UInt8]? = nil) {
        executor.submit(input, encoded: encoded)
    }

    /// A message for this worker: to its executor, or to its owner (`Message.workerPart`); a
    /// message for an owner this worker never made has nobody to act on it.
    func deliver(_ message: Message, from: Address, frame: Frame) {
        if message.workerPart == .owner {
            ownerHost?.handle(.messageReceived(from: from, message),
                              encoded: ownerHost?.log?.received(OwnerInput.self, from: from, frame: frame))
        } else {
            handle(.messageReceived(from: from, message), encoded: log.received(ExecutorInput.self, from: from, frame: frame))
        }
    }

    private func perform(_ effect: ExecutorEffect) {
        switch effect {
        case .send(let to, var message):
            do {
                if case .storeObjects = message { message = storeOutgoing(message) }
                if let links, case .worker(let owner) = to, links.reaches(to) {
                    try links.send(message, to: owner)
                } else {
                    try connection?.send(message, from: .worker(workerID), to: to)
                }
            } catch {
                note("worker", "cannot encode a message to \(to): \(error)")
            }
        case .startTimer:
            break  // Armed by the driver.
        case .executeActor(let spec, let attempt, let arguments, let task):
            executeActor(spec, attempt, arguments, task)
        case .execute(let spec, let attempt, let arguments):
            running = (spec.taskID, attempt, spec.jobID, spec.owner)
            if let ownerHost {
                ownerHost.handle(.taskStartedFor(spec.taskID, attempt: attempt, owner: spec.owner))
                ownerClient.withLock { $0 }?.beginTask(spec.taskID, attempt: attempt)
            }
            // On the loop's thread, outside its callbacks: a body that waits (or runs long) has
            // the loop run by another thread meanwhile (`EventLoop.runOutside`).
            let passedOn = PassedOnReferences()
            loop.runOutside({ [unowned self] in execute(spec, attempt, arguments, passedOn) }) { [unowned self] outcome in
                let (result, returned, indices) = outcome
                guard !returned.isEmpty || !passedOn.objects.isEmpty else {
                    running = nil
                    executor.submit(.executionFinished(spec.taskID, attempt: attempt, result))
                    return
                }
                // After what the body posted (its handles taken and dropped, what it submitted).
                loop.post { [self] in
                    running = nil
                    // Arguments it passed on that this worker still borrows: the reply says so, and the
                    // task's owner keeps them until this worker releases them.
                    if let ownerHost, !passedOn.objects.isEmpty {
                        let held = passedOn.objects.filter { ownerHost.owner.machine.borrowed[$0] != nil }
                        if !held.isEmpty {
                            executor.submit(.argumentsBorrowed(spec.taskID, attempt: attempt, objects: held))
                        }
                    }
                    // The return values hold references this worker owns: the task's owner borrows them.
                    if !returned.isEmpty {
                        ownerHost?.handle(.lend(returned, to: spec.owner))
                        executor.submit(.returnsHold(spec.taskID, attempt: attempt, objects: returned,
                                                     returnIndices: indices))
                    }
                    executor.submit(.executionFinished(spec.taskID, attempt: attempt, result))
                }
            }
        }
    }

    /// Runs an actor's constructor on the loop's thread, outside its callbacks (as a task body);
    /// starts a method call on the instance (it runs on Swift concurrency: the loop goes on).
    private func executeActor(_ spec: TaskSpec, _ attempt: Int, _ arguments: [ObjectValue], _ task: ActorTask) {
        running = (spec.taskID, attempt, spec.jobID, spec.owner)
        if let ownerHost {
            ownerHost.handle(.taskStartedFor(spec.taskID, attempt: attempt, owner: spec.owner))
            ownerClient.withLock { $0 }?.beginTask(spec.taskID, attempt: attempt)
        }
        let fetched: [FetchedValue]
        switch mappedArguments(spec, arguments) {
        case .success(let values): fetched = values
        case .failure(let error):
            actorTaskEnded(spec, attempt, .applicationError(error.description))
            return
        }
        let passedOn = PassedOnReferences()
        let context = TaskContext(task: spec.taskID, function: spec.function, instance: spec.instance, attempt: attempt,
                                  job: spec.jobID, worker: workerID, references: references(spec, fetched),
                                  owner: spec.owner, passedOn: passedOn)
        // Any thread may end a call: its end is handed to the loop.
        let host = self
        let loop = self.loop
        let ended: @Sendable (ExecutionResult) -> Void = { result in
            // A call run on the loop's thread (`LoopExecutor`) ends there: no post needed.
            if passedOn.objects.isEmpty && context.returned.objects.isEmpty
                && loop.runIfLoopThread({ host.actorTaskEnded(spec, attempt, result) }) {
                return
            }
            // After what the call posted (the borrows of what it passed on or kept, the handles of
            // what it returns).
            loop.post { host.actorTaskEnded(spec, attempt, result, passedOn: passedOn, returned: context.returned) }
        }
        if task.call > 0, let instance = actorInstance {
            TaskContext.$current.withValue(context) {
                instance.call(spec.function, fetched) { outcome in
                    switch outcome {
                    case .success(let values):
                        ended(self.returnedValues(values, of: spec))
                    case .failure(let error):
                        ended(.applicationError(describeError(error)))
                    }
                }
            }
            return
        }
        if task.call > 0, actorInstance == nil, let run = ActorRegistry.fallback {
            nonisolated(unsafe) let fallback = run
            let arguments = fetched
            // A synthetic actor's call (scenarios) runs on a thread of its own: a concurrent
            // actor's calls overlap, as they do in raysim.
            DispatchQueue.global().async {
                ended(self.withinSizeLimit(TaskContext.$current.withValue(context) { fallback(spec, task, arguments) },
                                           of: spec))
            }
            return
        }
        loop.runOutside({ [unowned self] in runActorTask(spec, task, fetched, context) }) { [unowned self] result in
            actorTaskEnded(spec, attempt, result)
        }
    }

    /// An actor's constructor or call ended (on the loop). References it received and passed on or
    /// kept (actor handles) that this worker still borrows: the reply says so, and the caller keeps
    /// them until this worker releases them.
    private func actorTaskEnded(_ spec: TaskSpec, _ attempt: Int, _ result: ExecutionResult,
                                passedOn: PassedOnReferences? = nil, returned: ReturnedReferences? = nil) {
        running = nil
        if let ownerHost, let passedOn, !passedOn.objects.isEmpty {
            let held = passedOn.objects.filter { ownerHost.owner.machine.borrowed[$0] != nil }
            if !held.isEmpty { executor.submit(.argumentsBorrowed(spec.taskID, attempt: attempt, objects: held)) }
        }
        // The result holds references this worker owns: the caller borrows them (as a task's).
        if let returned, !returned.objects.isEmpty, case .returned = result {
            ownerHost?.handle(.lend(returned.objects, to: spec.owner))
            executor.submit(.returnsHold(spec.taskID, attempt: attempt, objects: returned.objects,
                                         returnIndices: returned.returnIndices))
        }
        executor.submit(.executionFinished(spec.taskID, attempt: attempt, result))
    }

    /// A constructor, or a call of an actor run by the fallback (scenario actors).
    private func runActorTask(_ spec: TaskSpec, _ task: ActorTask, _ fetched: [FetchedValue], _ context: TaskContext)
        -> ExecutionResult {
        OutputMarkers.begin(spec.function, instance: spec.instance)
        defer { OutputMarkers.end() }
        do {
            if task.call == 0, let constructor = ActorRegistry.lookup(spec.function) {
                actorInstance = try TaskContext.$current.withValue(context) { try constructor(fetched) }
                return .returned([])
            }
            guard let fallback = ActorRegistry.fallback else {
                return .applicationError(task.call == 0
                    ? "unknown actor class '\(spec.function)' (register it before Ray.start())"
                    : "\(spec.function) called on an actor this worker does not host")
            }
            return withinSizeLimit(fallback(spec, task, fetched), of: spec)
        } catch {
            return .applicationError(describeError(error))
        }
    }

    /// The values of the references passed to a task or call (top-level or inside its values: the
    /// trailing reference arguments), fetched with its arguments.
    private func references(_ spec: TaskSpec, _ fetched: [FetchedValue]) -> [ObjectID: FetchedValue] {
        var references: [ObjectID: FetchedValue] = [:]
        for (index, arg) in spec.args.enumerated() where index < fetched.count {
            if case .reference(let object) = arg { references[object] = fetched[index] }
        }
        return references
    }

    /// The arguments as a body reads them: stored values in the node's shared memory are mapped, not copied.
    private func mappedArguments(_ spec: TaskSpec, _ arguments: [ObjectValue]) -> Result<[FetchedValue], RuntimeError> {
        var fetched: [FetchedValue] = []
        fetched.reserveCapacity(arguments.count)
        for (index, value) in arguments.enumerated() {
            guard case .data(let data) = value, data.bytes == nil, data.sizeBytes > 0, let objects,
                  index < spec.args.count, case .reference(let object) = spec.args[index] else {
                fetched.append(FetchedValue(value: value))
                continue
            }
            do {
                fetched.append(FetchedValue(value: value, mapping: try objects.map(object)))
            } catch {
                return .failure(RuntimeError("argument \(index + 1) of \(spec.function): \(error)"))
            }
        }
        return .success(fetched)
    }

    /// Writes return values into the node's shared-memory store; the message carries none of their bytes.
    private func storeOutgoing(_ message: Message) -> Message {
        guard let objects, case .storeObjects(let requestID, let ids, let values, let owner) = message else { return message }
        var stripped = values
        for index in values.indices {
            guard let bytes = values[index].bytes else { continue }
            do {
                try objects.write(ids[index], bytes: bytes)
                stripped[index].bytes = nil
            } catch {
                note("worker", "\(error); the value travels in the message instead")
            }
        }
        return .storeObjects(requestID: requestID, objects: ids, values: stripped, owner: owner)
    }

    private func execute(_ spec: TaskSpec, _ attempt: Int, _ arguments: [ObjectValue],
                         _ passedOn: PassedOnReferences) -> (ExecutionResult, [ObjectID], [Int]) {
        let body = FunctionRegistry.lookup(spec.function)
        if body == nil && FunctionRegistry.fallback == nil {
            return (.applicationError(UnknownFunction(name: spec.function).description), [], [])
        }
        let fetched: [FetchedValue]
        switch mappedArguments(spec, arguments) {
        case .success(let values): fetched = values
        case .failure(let error): return (.applicationError(error.description), [], [])
        }
        guard let body else {
            let (made, returned) = FunctionRegistry.fallback!(spec, attempt, fetched)
            let result = withinSizeLimit(made, of: spec)
            guard case .returned = result else {
                if !returned.isEmpty, let owner = ownerClient.withLock({ $0 }) {
                    for object in returned { owner.release(object) }
                }
                return (result, [], [])
            }
            return (result, returned, returned.map { _ in 1 })
        }
        let context = TaskContext(task: spec.taskID, function: spec.function, instance: spec.instance, attempt: attempt,
                                  job: spec.jobID, worker: workerID, references: references(spec, fetched), owner: spec.owner,
                                  passedOn: passedOn)
        OutputMarkers.begin(spec.function, instance: spec.instance)
        defer { OutputMarkers.end() }
        do {
            let values = try TaskContext.$current.withValue(context) { try body(fetched) }
            let result = returnedValues(values, of: spec)
            guard case .returned = result else {
                if !context.returned.objects.isEmpty, let owner = ownerClient.withLock({ $0 }) {
                    for object in context.returned.objects { owner.release(object) }
                }
                return (result, [], [])
            }
            return (result, context.returned.objects, context.returned.returnIndices)
        } catch {
            // Handles the body took for references it meant to return drop with it.
            if !context.returned.objects.isEmpty, let owner = ownerClient.withLock({ $0 }) {
                for object in context.returned.objects { owner.release(object) }
            }
            return (.applicationError(describeError(error)), [], [])
        }
    }

    /// What a body returned, as the task's result: its values, or the task's failure if one is
    /// over the object size limit its raylet gave (nothing is allocated for it; the simulator's
    /// bodies apply the same rule).
    private func returnedValues(_ values: [[UInt8]], of spec: TaskSpec) -> ExecutionResult {
        withinSizeLimit(.returned(values.map { ObjectData(sizeBytes: Int64($0.count), digest: 0, bytes: $0) }), of: spec)
    }

    /// A result, or the task's failure if one of its values is over the object size limit.
    private func withinSizeLimit(_ result: ExecutionResult, of spec: TaskSpec) -> ExecutionResult {
        guard case .returned(let values) = result,
              let refusal = ObjectSizeRule.refusal(returns: values, of: spec.function, limit: config.objectSizeLimit)
        else { return result }
        return .applicationError(refusal.description)
    }

    public func connection(_ connection: Connection, received frame: Frame) {
        guard connection.peer != nil else {
            do {
                let hello = try Wire.decodeHello(frame)
                connection.peer = hello
                config = hello.config ?? RayConfig()
                handle(.started(config, workerID))
            } catch {
                note("worker", "the raylet refused or spoke another protocol: \(error)")
                exit(2)
            }
            return
        }
        do {
            switch FrameKind(rawValue: frame.kind) {
            case .message:
                let (from, _) = try frame.addresses()
                deliver(try frame.message(), from: from, frame: frame)
            case .peerClosed:
                // An executor keeps no per-peer state; this worker's owner learns of its tasks' workers.
                let (_, peer) = try frame.addresses()
                if case .worker(let worker) = peer, let detail = frame.closedDetail {
                    ownerHost?.handle(.workerDied(worker, detail: detail))
                } else {
                    ownerHost?.handle(.peerDisconnected(peer))
                }
            case .error:
                note("worker", "the raylet reported: \(frame.text)")
            default:
                throw WireError("unexpected frame kind \(frame.kind)")
            }
        } catch {
            note("worker", "dropping a frame: \(error)")
        }
    }

    public func connectionClosed(_ connection: Connection, reason: String?) {
        // The raylet is gone (or refused this worker): a worker never outlives its raylet.
        log.commit()
        exit(0)
    }
}
