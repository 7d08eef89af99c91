// The Swift API of SwiftRay, shaped after Ray's Python API:
//
//     let square = RemoteFunction("square") { (x: Int) in x * x }   // before Ray.start()
//     try Ray.start()                                               // an embedded local cluster
//     let refs = try (0..<100).map { try square.remote($0) }
//     let values = try Ray.get(refs)
//
// Worker processes run this same program: `Ray.start()` in a worker never
// returns (it serves tasks), so every remote function must be created before
// it. Values are `Codable`; they travel in SwiftRay's binary encoding.

import Foundation
import Synchronization
public import RayCore
import RayRuntime

/// The entry point: start or join a cluster, put and get objects.
public enum Ray {
    struct State: @unchecked Sendable {
        var client: DriverClient?
        var cluster: EmbeddedCluster?
        /// Keep the embedded cluster's logs even when nothing failed.
        var keepLogs = false
    }
    static let state = Mutex(State())

    /// Options of an embedded local cluster.
    public struct StartOptions: Sendable {
        /// CPUs the local node offers (default: the machine's cores).
        public var numCPUs: Double?
        /// GPUs the local node offers.
        public var numGPUs: Double = 0
        /// Custom resources, e.g. ["disk": 4].
        public var resources: [String: Double] = [:]
        /// Object store capacity (default: 30% of RAM, as Ray).
        public var objectStoreBytes: Int64?
        /// Log every input of every process (the default; false only to measure the cost).
        public var logInputs = true
        /// The binary the cluster's processes and workers run (default: this program). Tests
        /// point it at a program that registers the same remote functions.
        public var executable: String?
        /// Print what this job's workers print, prefixed with task and node (Ray's `log_to_driver`).
        public var logToDriver = true
        /// Where worker output goes instead of stdout/stderr (a line and whether it is stderr).
        public var workerOutput: OutputHandler?
        /// Keep the session's logs after `Ray.shutdown()` even when nothing failed (also
        /// SWIFTRAY_KEEP_LOGS=1). By default they are kept only when a task failed or the
        /// program exited with an error; the newest 10 kept sessions stay.
        public var keepLogs = false
        public init() {}

        func launchOptions() throws -> NodeLaunchOptions {
            var milli: [String: Int64] = [:]
            for (name, amount) in [("CPU", numCPUs ?? Double(cpuCount())), ("GPU", numGPUs)] + resources.sorted(by: { $0.key < $1.key }) {
                guard amount >= 0, amount.isFinite else {
                    throw Ray.Error.invalidArgument("resource \(name) must be a finite amount ≥ 0, got \(amount)")
                }
                if amount > 0 { milli[name] = Int64((amount * 1000).rounded()) }
            }
            if let bytes = objectStoreBytes, bytes <= 0 {
                throw Ray.Error.invalidArgument("objectStoreBytes must be positive, got \(bytes)")
            }
            var options = NodeLaunchOptions(resources: ResourceSet(milli),
                                            objectStoreBytes: objectStoreBytes ?? defaultObjectStoreBytes())
            options.logInputs = logInputs
            options.executable = executable
            return options
        }
    }

    /// Receives a line a worker of this job printed, prefixed with its task and node
    /// (`(square[3], node-1) text`), and whether it went to stderr; called on the driver's loop thread.
    public typealias OutputHandler = @Sendable (_ line: Substring, _ isError: Bool) -> Void

    static func outputHandler(logToDriver: Bool, _ handler: OutputHandler?) -> WorkerOutputHandler? {
        logToDriver ? (handler ?? DriverClient.printWorkerOutput) : nil
    }


    /// Starts an embedded local cluster (GCS, raylet, workers on this machine) and connects to it.
    ///
    /// In a worker process (the runtime re-executes this program) this call serves
    /// tasks and never returns: create every `RemoteFunction` before calling it.
    public static func start(_ options: StartOptions = StartOptions()) throws {
        try join(alreadyStarted: "Ray.start() was already called; call Ray.shutdown() first", call: "Ray.start()") { state in
            let cluster: EmbeddedCluster
            do {
                cluster = try EmbeddedCluster.start(try options.launchOptions())
            } catch let error as RuntimeError {
                throw Ray.Error.runtime("\(error)")
            }
            do {
                state.client = try DriverClient(socketPath: cluster.socketPath,
                                                logRoot: options.logInputs ? cluster.session.logs : nil,
                                                workerExecutable: options.executable, workerOutput: outputHandler(logToDriver: options.logToDriver, options.workerOutput))
            } catch {
                cluster.stop()
                throw Ray.Error.runtime("\(error)")
            }
            state.cluster = cluster
            state.keepLogs = options.keepLogs || ProcessInfo.processInfo.environment["SWIFTRAY_KEEP_LOGS"] == "1"
        }
    }

    /// Connects to a running cluster through the raylet on this machine (`swiftray start`).
    /// `address` is the GCS's HOST:PORT as `swiftray start --head` printed it.
    /// `logToDriver: false`: do not print what this job's workers print (it is still kept in
    /// the session's `logs/job-<n>-<node>.out`).
    public static func connect(_ address: String, logToDriver: Bool = true) throws {
        try join(alreadyStarted: "already connected; call Ray.shutdown() first", call: "Ray.connect()") { state in
            do {
                let node = try LocalNodeRecord.find(gcsAddress: address)
                state.client = try DriverClient(socketPath: node.socketPath, logRoot: node.session + "/logs",
                                                workerOutput: outputHandler(logToDriver: logToDriver, nil))
            } catch {
                throw Ray.Error.runtime("\(error)")
            }
        }
    }

    /// Connects through the raylet listening on the Unix socket `rayletSocket` (a
    /// `LocalCluster` node); workers run `workerExecutable` (default: this program).
    public static func connect(rayletSocket: String, workerExecutable: String? = nil, logRoot: String? = nil,
                               logToDriver: Bool = true, workerOutput: OutputHandler? = nil) throws {
        try join(alreadyStarted: "already connected; call Ray.shutdown() first", call: "Ray.connect()") { state in
            do {
                state.client = try DriverClient(socketPath: rayletSocket, logRoot: logRoot, workerExecutable: workerExecutable,
                                                workerOutput: outputHandler(logToDriver: logToDriver, workerOutput))
            } catch {
                throw Ray.Error.runtime("\(error)")
            }
        }
    }

    /// What every way of joining a cluster does first: serve instead, in a role process; check
    /// the remote functions; refuse a second connection; then `connect` under the lock.
    private static func join(alreadyStarted: String, call: String, _ connect: (inout State) throws -> Void) throws {
        Role.runIfRequested()
        try RemoteFunctions.checkRegistrations()
        let client = try state.withLock { state -> DriverClient? in
            guard state.client == nil else { throw Ray.Error.alreadyStarted(alreadyStarted) }
            try connect(&state)
            return state.client
        }
        if let client { watchProcessEnd(client) }
        RemoteFunctions.noteStart(call)
    }

    /// Disconnects; an embedded cluster is stopped and its session removed (its logs are kept
    /// when asked, or when a task failed: the path is printed).
    public static func shutdown() {
        let state = takeState()
        state.client?.shutdown()
        stop(state, because: clusterFailures())
        RemoteFunctions.noteShutdown()
    }

    private static func takeState() -> State {
        state.withLock { state -> State in
            defer { state = State() }
            return state
        }
    }

    /// Failures of the cluster the program was told of (crashed workers, lost objects, dead
    /// owners: not the errors its own task bodies threw), since the last check.
    static let failuresSeen = Mutex<[String: Int]>([:])

    static func clusterFailures() -> String? {
        let seen = failuresSeen.withLock { seen -> [String: Int] in
            defer { seen = [:] }
            return seen
        }
        guard !seen.isEmpty else { return nil }
        return seen.keys.sorted().map { "\(seen[$0]!) \($0)" }.joined(separator: ", ")
    }

    /// Stops an embedded cluster: removes its session, or keeps its logs saying why.
    private static func stop(_ state: State, because failure: String?) {
        guard let cluster = state.cluster else { return }
        let reason = state.keepLogs ? "kept on request (keepLogs)" : failure
        cluster.stop(keepLogs: reason)
        if let failure, !state.keepLogs {
            writeStandardError("swiftray: \(failure); this run's logs are kept in \(cluster.session.logs)\n")
        }
    }

    /// The process is ending without `Ray.shutdown()` (exit, or a signal): the GCS learns how,
    /// and an embedded cluster is stopped.
    static func processEnding(status: Int, signal: Int32) {
        let state = takeState()
        guard let client = state.client else { return }
        client.processEnding(status: status, signal: Int(signal))
        let failure = status != 0 ? "the program exited with status \(status)" : clusterFailures()
        stop(state, because: failure)
    }

    /// Watches how the process ends, once: `exit` (on_exit) and SIGINT, SIGTERM, SIGHUP left at
    /// their default action (the signal then does what it would have: the process dies of it).
    private static func watchProcessEnd(_ client: DriverClient) {
        installExitHook
        client.watchSignals([SIGINT, SIGTERM, SIGHUP]) { number in
            processEnding(status: 0, signal: number)
            signal(number, SIG_DFL)
            raise(number)
        }
    }

    private static let installExitHook: Void = {
        on_exit({ status, _ in Ray.processEnding(status: Int(status), signal: 0) }, nil)
    }()

    /// True between `start`/`connect` and `shutdown`.
    public static var isConnected: Bool { state.withLock { $0.client != nil } }

    /// Where the calling code runs (Ray's `get_runtime_context()`): job, node, worker, and inside a
    /// task body the task. Throws `.notStarted` in a driver that has not joined a cluster.
    public static var runtimeContext: RuntimeContext {
        get throws {
            if let task = TaskContext.current {
                return RuntimeContext(job: task.job, node: task.worker.node, worker: task.worker,
                                      task: task.task, taskName: "\(task.function)[\(task.instance)]", attempt: task.attempt)
            }
            let client = try client()
            return RuntimeContext(job: client.job, node: client.worker.node, worker: client.worker,
                                  task: nil, taskName: nil, attempt: nil)
        }
    }

    /// The node the calling code runs on (`Ray.runtimeContext.node`).
    public static var nodeID: NodeID {
        get throws { try runtimeContext.node }
    }

    /// The session directory of the cluster (logs, sockets).
    public static var sessionDirectory: String? { state.withLock { $0.client?.session } }

    static func client() throws(Ray.Error) -> DriverClient {
        if let client = state.withLock({ $0.client }) { return client }
        if let task = TaskContext.current {
            // A task body: what it submits and puts is owned by its worker.
            guard let owner = WorkerHost.taskOwner() else {
                throw Ray.Error.runtime("\(task.function)[\(task.instance)] called the Ray API, but its worker could "
                    + "not make an owner for what the body creates (its stderr says why)")
            }
            return owner
        }
        throw Ray.Error.notStarted("call Ray.start() (or Ray.connect(address)) first")
    }

    /// The client references made here belong to: the driver's, or in a worker its owner's.
    static var currentClient: DriverClient? { state.withLock { $0.client } ?? WorkerHost.madeTaskOwner }

    // MARK: - Objects

    /// Stores `value` in the cluster; the returned reference owns it.
    public static func put<T: Codable>(_ value: T) throws -> ObjectRef<T> {
        let client = try client()
        do {
            // Byte buffers go straight into shared memory: a length header and the caller's bytes.
            if let bytes = value as? [UInt8] { return ObjectRef(id: try putBytes(bytes, client), client: client) }
            if let shared = value as? SharedBytes {
                return ObjectRef(id: try shared.withUnsafeBytes { raw in
                    let header = ValueCoding.varint(UInt64(raw.count))
                    return try header.withUnsafeBytes { try client.put(parts: [$0, raw]) }
                }, client: client)
            }
            let (bytes, held) = try ValueCoding.encodePut(value)
            let id = try client.put(bytes)
            // A value holding references keeps them alive while it lives (Ray's nested references);
            // a task given it gets them too.
            if !held.isEmpty { client.hold(held, in: id) }
            return ObjectRef(id: id, client: client)
        } catch let error as RuntimeError {
            // A typed refusal (over the object size limit, or the owner's object quota) as its Ray.Error.
            guard let kind = error.kind else { throw Ray.Error.runtime(error.description) }
            throw Ray.Error(RayCore.RayError(kind, error.description))
        }
    }

    private static func putBytes(_ bytes: [UInt8], _ client: DriverClient) throws -> ObjectID {
        let header = ValueCoding.varint(UInt64(bytes.count))
        return try header.withUnsafeBytes { head in try bytes.withUnsafeBytes { try client.put(parts: [head, $0]) } }
    }

    /// Waits for the value of `ref`.
    /// - Throws: `Ray.Error` (the task failed, its worker crashed, the object was lost...) or `.timeout`.
    public static func get<T>(_ ref: ObjectRef<T>, timeout: Duration? = nil) throws -> T {
        try get([ref], timeout: timeout)[0]
    }

    /// Waits for every value, in order. Any number of gets (and waits) of the same reference,
    /// from any number of threads, each get the value.
    public static func get<T>(_ refs: [ObjectRef<T>], timeout: Duration? = nil) throws -> [T] {
        if let local = try resolvedInTask(refs, timeout: timeout) { return local }
        let client = try client()
        // Not `refs.map(\.id)`: a key path in this generic function is built anew on every call.
        let values = client.get(ids(refs), timeoutSeconds: timeout.map(seconds))
        return try decode(refs, values, timeout: timeout)
    }

    /// Waits for the value of `ref` without blocking a thread (`try await Ray.get(ref)`).
    public static func get<T>(_ ref: ObjectRef<T>, timeout: Duration? = nil) async throws -> T {
        try await get([ref], timeout: timeout)[0]
    }

    /// Waits for every value, in order, without blocking a thread (`try await Ray.get(refs)`).
    public static func get<T>(_ refs: [ObjectRef<T>], timeout: Duration? = nil) async throws -> [T] {
        if let local = try resolvedInTask(refs, timeout: timeout) { return local }
        let client = try client()
        let ids = ids(refs)
        // Values this process holds already: no suspension (a resumed continuation costs a hop
        // through the executor, which made an async get of a ready value ≈ 15 % dearer).
        if let values = client.alreadyResolved(ids) { return try decode(refs, values, timeout: timeout) }
        let values = await withCheckedContinuation { (continuation: CheckedContinuation<[FetchedValue?], Never>) in
            client.get(ids, timeoutSeconds: timeout.map(seconds)) { continuation.resume(returning: $0) }
        }
        return try decode(refs, values, timeout: timeout)
    }

    private static func decode<T>(_ refs: [ObjectRef<T>], _ values: [FetchedValue?], timeout: Duration?) throws -> [T] {
        // Plain loops: `zip` and `map` here (generic over T, not specialized) looked up type
        // metadata on every get, most of a ready get's cost.
        var decoded: [T] = []
        decoded.reserveCapacity(refs.count)
        for index in refs.indices {
            guard let value = values[index] else {
                throw Ray.Error.timeout("\(refs[index].id) was not ready within \(timeout.map { "\($0)" } ?? "the timeout"); "
                    + "its task may still be running: get it again later, or raise the timeout")
            }
            decoded.append(try ValueCoding.decode(T.self, from: value, object: refs[index].id))
        }
        return decoded
    }

    /// The IDs of `refs` (a loop, for the reason `decode` gives).
    private static func ids<T>(_ refs: [ObjectRef<T>]) -> [ObjectID] {
        var ids: [ObjectID] = []
        ids.reserveCapacity(refs.count)
        for index in refs.indices { ids.append(refs[index].id) }
        return ids
    }

    /// Inside a task body: the values of references the task was given (nil when none of `refs` is
    /// one); the others (made by the body) are got through the worker's owner.
    private static func resolvedInTask<T>(_ refs: [ObjectRef<T>], timeout: Duration?) throws -> [T]? {
        var any = false
        for index in refs.indices where refs[index].resolved != nil { any = true; break }
        guard any else { return nil }
        let owned = refs.filter { $0.resolved == nil }
        let fetched = owned.isEmpty ? [] : try get(owned, timeout: timeout)
        var next = 0
        return try refs.map { ref in
            guard let value = ref.resolved else {
                defer { next += 1 }
                return fetched[next]
            }
            return try ValueCoding.decode(T.self, from: value, object: ref.id)
        }
    }

    /// Returns when `numReturns` of `refs` are ready or `timeout` passed: (ready, not ready), each
    /// in input order. As Ray's `ray.wait`, `ready` holds `numReturns` ready references, never
    /// more (fewer only when the timeout passed), so a loop of `wait(_, numReturns: 1)` takes one
    /// per call; the references must be distinct.
    /// (Inlinable: specialized for `T` where it is called, the per-reference work stays cheap.
    /// `refs` is consumed: when the caller hands over its only copy, as `notReady = wait(notReady)`
    /// does, the ready references are taken out in place, so the ones left are moved, not copied
    /// with a retain and a release each.)
    @inlinable
    public static func wait<T>(_ refs: consuming [ObjectRef<T>], numReturns: Int = 1,
                               timeout: Duration? = nil) throws -> (ready: [ObjectRef<T>], notReady: [ObjectRef<T>]) {
        let ids = refs.withUnsafeBufferPointer { buffer in
            [ObjectID](unsafeUninitializedCapacity: buffer.count) { ids, count in
                for index in buffer.indices { ids.initializeElement(at: index, to: buffer[index].id) }
                count = buffer.count
            }
        }
        let readyIndices = try waitIndices(ids, numReturns: numReturns, timeout: timeout)
        guard let first = readyIndices.first else { return ([], refs) }
        var ready: [ObjectRef<T>] = []
        ready.reserveCapacity(readyIndices.count)
        for index in readyIndices { ready.append(refs[index]) }
        // Compacts the not-ready references to the front, in order (swaps move, they do not
        // retain), then drops the ready ones left at the end.
        var kept = first
        refs.withUnsafeMutableBufferPointer { buffer in
            var next = 0
            for index in first..<buffer.count {
                if next < readyIndices.count && readyIndices[next] == index {
                    next += 1
                    continue
                }
                buffer.swapAt(kept, index)
                kept += 1
            }
        }
        refs.removeLast(refs.count - kept)
        return (ready, refs)
    }

    /// `wait` on object IDs: checks the arguments, returns the ready indices in input order.
    @usableFromInline
    static func waitIndices(_ ids: [ObjectID], numReturns: Int, timeout: Duration?) throws -> [Int] {
        guard numReturns >= 0, numReturns <= ids.count else {
            throw Ray.Error.invalidArgument("numReturns must be between 0 and the number of refs (\(ids.count)), "
                + "got \(numReturns)")
        }
        if let repeated = firstRepeated(ids) {
            throw Ray.Error.invalidArgument("wait needs distinct references, but \(repeated) is given more than once")
        }
        return try client().wait(ids, numReturns: numReturns, timeoutSeconds: timeout.map(seconds))
    }

    /// The first ID `ids` repeats, if any: an open-addressing table of indices in a scratch
    /// buffer (a wait checks its whole list on every call, so this skips a Set's allocations).
    static func firstRepeated(_ ids: [ObjectID]) -> ObjectID? {
        guard ids.count > 1 else { return nil }
        var capacity = 8
        while capacity < ids.count * 2 { capacity <<= 1 }
        let mask = capacity - 1
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: capacity) { table -> ObjectID? in
            table.initialize(repeating: -1)
            for index in ids.indices {
                let id = ids[index]
                var slot = id._rawHashValue(seed: 0) & mask
                while table[slot] >= 0 {
                    if ids[Int(table[slot])] == id { return id }
                    slot = (slot + 1) & mask
                }
                table[slot] = Int32(index)
            }
            return nil
        }
    }

    /// Cancels the task that returns `ref` (Ray's `ray.cancel`). A task not started yet fails
    /// with `.cancelled` at once. A running task is stopped only with `force: true`, which
    /// kills its worker process (Swift code cannot be interrupted); without it, it runs to the
    /// end. Finished tasks and `put` objects are left alone. A cancelled task is not retried.
    /// `recursive` (the default, as Ray's): the tasks a running task submitted are cancelled too,
    /// and theirs, and so on down.
    public static func cancel<T>(_ ref: ObjectRef<T>, force: Bool = false, recursive: Bool = true) throws {
        try client().cancel(ref.id, force: force, recursive: recursive)
    }

    static func seconds(_ duration: Duration) -> Double {
        let (whole, fraction) = duration.components
        return Double(whole) + Double(fraction) / 1e18
    }
}

/// Where code runs: its job, node and worker, and inside a task body the task.
public struct RuntimeContext: Sendable, Hashable, CustomStringConvertible {
    public var job: JobID
    public var node: NodeID
    public var worker: WorkerID
    /// The running task (nil in a driver).
    public var task: TaskID?
    /// The running task's name, `function[n]` (nil in a driver).
    public var taskName: String?
    /// The running attempt, from 1 (nil in a driver).
    public var attempt: Int?
    /// True in a task body, false in a driver.
    public var inTask: Bool { task != nil }
    public var description: String {
        "\(job) on \(node), \(worker)" + (taskName.map { ", running \($0)" } ?? " (driver)")
    }
}

/// A reference to an object in the cluster: the result of `remote(...)` or `Ray.put`.
/// Holding it keeps the object alive (and rebuildable); dropping the last copy releases it.
///
/// A reference inside a value passed to a task (`[ObjectRef<Int>]`, a struct holding one)
/// travels as a reference: the task depends on it, and its body reads it with `get`.
public final class ObjectRef<T: Codable>: @unchecked Sendable, Hashable, CustomStringConvertible, Codable {
    public let id: ObjectID
    /// The owner API that made or read it (strong: a `weak` reference would slow every retain of
    /// the client, see Lifeline; a reference of a session that has shut down is told by
    /// `client !== Ray.currentClient`).
    let client: DriverClient?
    /// Inside a task body: the value the worker fetched for this reference.
    let resolved: FetchedValue?
    /// Read from a value (a task returned it): borrowed unless this process made it.
    var readFromValue = false

    init(id: ObjectID, client: DriverClient) {
        self.id = id
        self.client = client
        resolved = nil
    }

    public init(from decoder: any Decoder) throws {
        let id = try ObjectID(from: decoder)
        if let value = TaskContext.current?.references[id] {
            // Passed to this task: its value was fetched with the arguments.
            self.id = id
            client = nil
            resolved = value
            return
        }
        // Read from a value (a task returned it): the program holds it now, borrowed from its owner.
        guard let client = Ray.currentClient else {
            throw Ray.Error.decodingFailed("\(id) is an ObjectRef, which decodes only in a program joined to a "
                + "cluster (or a task that received it)")
        }
        client.addLocalReference(id)
        self.id = id
        self.client = client
        resolved = nil
        readFromValue = true
    }

    public func encode(to encoder: any Encoder) throws {
        if let collector = ValueCoding.collector {
            if collector.forPut, resolved != nil {
                throw Ray.Error.invalidArgument("\(id) was passed to this task; a put value cannot hold such a "
                    + "reference yet (this worker neither owns nor borrows it): put its value (`try ref.get()`), "
                    + "or pass the reference itself")
            }
            try checkUsable(asArgument: collector.forArgument || collector.forPut, nested: true)
            collector.objects.append(id)
        }
        try id.encode(to: encoder)
    }

    /// Throws unless this reference can be passed to a task of the current driver (`asArgument`),
    /// or returned by the task body running.
    func checkUsable(asArgument: Bool, nested: Bool) throws {
        if resolved != nil {
            // Passed on to a task this body submits: this worker borrows it from the caller (which
            // owns or borrows it) while that task needs it (borrowers of borrowers, chained).
            if asArgument, let context = TaskContext.current, context.references[id] != nil {
                try Ray.client().borrowArgument(id, owner: context.owner)
                context.passedOn.add(id)
                return
            }
            // Returned to the caller it came from: the caller owns or borrows it already, and the
            // value it gets holds it (this worker lends nothing).
            if !asArgument, let context = TaskContext.current, context.references[id] != nil { return }
            throw Ray.Error.invalidArgument("\(id) was not made by this task nor passed to it by its caller; a "
                + "task returns references it made or received as arguments: return its value (`try ref.get()`)")
        }
        guard let client, client === Ray.currentClient else {
            throw Ray.Error.invalidArgument("\(id) belongs to a driver session that has shut down; "
                + "references are valid only between Ray.start() and Ray.shutdown()")
        }
        // A borrowed reference inside a value travels as a top-level argument too (resolved through
        // its owner before the task runs), so the task reads it as any reference it was given.
    }

    deinit {
        // Releases the handle unless the driver already shut down.
        if let client, Ray.currentClient === client { client.release(id) }
    }

    /// The same object read as another type with the same encoding (e.g. `[UInt8]` as `SharedBytes`).
    /// The new reference holds its own handle.
    public func retyped<U: Codable>(as type: U.Type = U.self) throws -> ObjectRef<U> {
        guard let client, client === Ray.currentClient else {
            throw Ray.Error.notStarted("the driver that made this reference has shut down")
        }
        client.addLocalReference(id)
        return ObjectRef<U>(id: id, client: client)
    }

    /// Waits for the value (`Ray.get(self)`).
    @discardableResult
    public func get(timeout: Duration? = nil) throws -> T { try Ray.get(self, timeout: timeout) }

    /// The value, awaited without blocking a thread (`try await ref.value`).
    public var value: T {
        get async throws { try await Ray.get(self) }
    }

    public static func == (lhs: ObjectRef, rhs: ObjectRef) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
    public var description: String { "ObjectRef<\(T.self)>(\(id))" }
}
