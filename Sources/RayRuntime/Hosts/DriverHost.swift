// A driver: the `Owner` machine on a libuv loop running on a background
// thread of the user's program, connected to its node's raylet. The program's
// threads call `DriverClient`, which derives object IDs exactly as the owner
// will (the n-th submission is the n-th child of the driver task), posts the
// input to the loop in that order, and for gets waits for the answer.

import CLibUV
import Dispatch
import Foundation
import Synchronization
import RayWire
public import RayCore

/// The answer to a get, handed from the loop thread to the waiting thread.
final class GetWaiter: @unchecked Sendable {
    let semaphore = DispatchSemaphore(value: 0)
    var value: ObjectValue?
    var mapping: SharedMapping?
    let abandoned = Atomic<Bool>(false)
    /// Run on the loop thread when the value arrives (wait counts with it).
    var onResolved: (() -> Void)?

    func fulfil(_ value: ObjectValue, mapping: SharedMapping? = nil) {
        self.value = value
        self.mapping = mapping
        semaphore.signal()
        onResolved?()
    }
}

/// The loop side of a driver.
final class DriverHost: ConnectionDelegate, @unchecked Sendable {
    let loop: EventLoop
    let owner = ComponentDriver<Owner>()
    var connection: Connection?
    var log: HostLog?
    var logRoot: String?
    var identity: OwnerIdentity?
    /// Direct links to workers on this node (nil: everything goes through the raylet).
    var links: DirectLinks?
    /// This node's shared-memory object store.
    var objects: SharedObjects?
    var waiters: [ObjectID: [GetWaiter]] = [:]
    /// Lookups of actors by name ("namespace/name") waiting for the GCS's answer.
    var actorLookups: [String: [(ActorID?) -> Void]] = [:]
    /// Waits for placement groups to be created (or removed), by group.
    var groupWaiters: [PlacementGroupID: [(PlacementGroupInfo) -> Void]] = [:]
    var connected: ((Result<Hello, RuntimeError>) -> Void)?
    /// The raylet's hello, kept until the GCS confirmed the job.
    var pendingHello: Hello?
    static let registrationKey = "swiftray/driver-registered"
    /// Set when the raylet connection is gone: every get fails with it.
    var lostReason: String?
    /// Why the raylet said it refused this driver (its error frame, sent only before it closes), if it did.
    var refusedBecause: String?
    /// What calls fail with once the raylet connection is gone: QuotaExceeded when the raylet refused
    /// this driver over its rate limit, else ObjectLost (the node died).
    var lostKind: RayErrorKind {
        refusedBecause?.hasPrefix(Connection.rateLimitRefusal) == true ? .quotaExceeded : .objectLost
    }
    /// Where the job's workers' output goes (nil: nowhere).
    var workerOutput: WorkerOutputHandler?
    /// How the process ends, watched while connected (the Ray layer's SIGINT/SIGTERM/SIGHUP).
    var signalWatches: [SignalWatch] = []
    /// The process is ending: a closing connection fails no get.
    var ending = false
    /// Values a get can take without the loop (shared with the DriverClient).
    let resolved = ResolvedValues()
    /// Sees the owner after each input, before that input's effects are performed (loop thread).
    var stepHook: ((Owner, OwnerInput) -> Void)?
    /// Held weakly by timers that must not keep this host (see Lifeline).
    lazy var lifeline = Lifeline(self)
    /// The bound on unfinished tasks and calls: the program's submissions wait past it.
    let gate = SubmissionGate(limit: (try? SubmissionGate.limitFromEnvironment()) ?? SubmissionGate.defaultLimit)
    /// The per-owner object quota: the program's puts are refused at its hard limit.
    let ownedObjects = OwnedObjectsCount()

    /// The owner on `loop`, not connected to anything yet (`role` names it in its log's messages).
    init(loop: EventLoop, logRoot: String?, workerOutput: WorkerOutputHandler?, role: String) {
        self.loop = loop
        self.workerOutput = workerOutput
        self.logRoot = logRoot
        // `unowned(unsafe)`: the host owns its driver, so these never outlive it (and they run
        // on every step, where `unowned`'s checked retain cost ≈ 4 % of a busy owner's thread).
        owner.attach(loop: loop, log: { [unowned(unsafe) self] in log }, role: role)
        let journal = owner.observe
        owner.observe = { [unowned(unsafe) self] input, now, effects in
            journal?(input, now, effects)
            if case .messageReceived(_, .taskReply(let task, _, _, _)) = input { holdReturns(of: task) }
            gate.noteEnded(owner.machine.metrics.tasksEnded)
            ownedObjects.publish(entries: owner.machine.objects.count, putsHandled: owner.machine.metrics.puts)
            stepHook?(owner.machine, input)
        }
        owner.perform = { [unowned(unsafe) self] effect in perform(effect) }
    }

    /// A driver: connects to the raylet at `socketPath` and joins its cluster.
    convenience init(loop: EventLoop, socketPath: String, logRoot: String?, workerExecutable: String?,
                     workerOutput: WorkerOutputHandler?, connected: @escaping (Result<Hello, RuntimeError>) -> Void) {
        self.init(loop: loop, logRoot: logRoot, workerOutput: workerOutput, role: "driver")
        self.connected = connected
        Connector.unix(loop: loop, path: socketPath, label: "raylet") { [unowned self] result in
            switch result {
            case .success(let connection):
                connection.delegate = self
                var hello = Hello(role: .driver)
                hello.executable = workerExecutable ?? currentExecutablePath()
                connection.send(Wire.helloFrame(hello))
                self.connection = connection
            case .failure(let error):
                finishConnect(.failure(RuntimeError("\(error): is a raylet running on this machine? "
                    + "Start one with `swiftray start --head`, or call Ray.start() without an address")))
            }
        }
    }

    private func finishConnect(_ result: Result<Hello, RuntimeError>) {
        let callback = connected
        connected = nil
        callback?(result)
    }

    /// The log record of an input a program's thread hands the loop, encoded on that thread (so
    /// the loop, which every call goes through, does not): nil without a log.
    func preEncoded(_ input: OwnerInput) -> [UInt8]? {
        guard log != nil else { return nil }
        return try? LogRecord.encode(input, at: 0)
    }

    /// Hands the owner an input (`encoded`: its log record, spliced from the frame it came in).
    func handle(_ input: OwnerInput, encoded: [UInt8]? = nil) {
        guard identity != nil else { return }  // Not joined yet: nothing to act for.
        owner.submit(input, encoded: encoded)
    }

    private func perform(_ effect: OwnerEffect) {
        guard let identity else { return }
        switch effect {
        case .send(let to, let message):
            do {
                if let links, case .worker(let worker) = to, links.reaches(to) {
                    try links.send(message, to: worker)
                } else {
                    try connection?.send(message, from: .worker(identity.worker), to: to)
                }
            } catch {
                note("driver", "cannot encode a message to \(to): \(error)")
            }
        case .getResolved(let object, let value):
            resolve(object, value)
        case .actorLookedUp(let name, let namespace, let actor):
            for answer in actorLookups.removeValue(forKey: namespace + "/" + name) ?? [] { answer(actor) }
        case .placementGroupUpdated(let info):
            placementGroupUpdated(info)
        }
    }

    /// A task's returns that ended inline or failed are final: held in `resolved`, so gets and
    /// waits of them are answered on the caller's thread (while the program holds a handle).
    private func holdReturns(of task: TaskID) {
        guard let spec = owner.tasks[task]?.spec else { return }
        for object in spec.returnIDs {
            guard let entry = owner.objects[object], entry.localRefs > 0 else { continue }
            switch entry.state {
            case .inline(let data) where data.bytes != nil: resolved.store(object, .data(data))
            case .failed(let error): resolved.store(object, .error(error))
            default: break
            }
        }
    }

    /// `swiftray list tasks`: this owner's task table, from the machine's state.
    func control(_ request: ControlRequest) -> ControlReply {
        guard request == .listTasks, let identity else {
            return .notServed(request, by: "a driver", serves: [.listTasks])
        }
        let metrics = owner.metrics
        var tasks = ControlDriverTasks(driver: identity.worker, job: identity.job)
        tasks.submitted = metrics.tasksSubmitted
        tasks.attempts = metrics.attemptsStarted
        tasks.retries = metrics.retries
        tasks.reconstructions = metrics.reconstructions
        tasks.failed = metrics.tasksFailed
        tasks.tasks = owner.tasks.keys.sorted().compactMap { id in
            guard let entry = owner.tasks[id] else { return nil }
            var state = "\(entry.state)"
            if case .leasing(let lease, _) = entry.state, owner.machine.isParked(lease) {
                state = owner.machine.isHeld(lease)
                    ? "held (the owner has its \(owner.config.leaseRequestsPerOwner) lease requests out; "
                        + "SWIFTRAY_LEASE_REQUESTS_PER_OWNER)"
                    : "parked (waiting for one of its shape's \(owner.config.leaseRequestCap) lease requests in flight)"
            }
            return .init(task: id, function: entry.spec.function, instance: entry.spec.instance, state: state,
                         attempts: entry.attempts)
        }
        return .driverTasks(tasks)
    }

    /// Borrower fetches: request IDs from here up are not the owner's.
    static let probeRequestBase: UInt64 = 1 << 62
    var probes: [UInt64: GetWaiter] = [:]
    var probeCounter: UInt64 = 0

    func probe(_ object: ObjectID, owner: WorkerID, _ waiter: GetWaiter) {
        guard let identity else { return }
        probeCounter += 1
        let requestID = Self.probeRequestBase + probeCounter
        probes[requestID] = waiter
        try? connection?.send(.fetchObjects(requestID: requestID, objects: [object], owner: owner),
                              from: .worker(identity.worker), to: .raylet(identity.worker.node))
    }

    func get(_ object: ObjectID, _ waiter: GetWaiter) {
        if let lostReason {
            waiter.fulfil(.error(RayError(lostKind, lostReason)))
            return
        }
        waiters[object, default: []].append(waiter)
        handle(.get(object))
    }

    private func resolve(_ object: ObjectID, _ value: ObjectValue) {
        guard var queue = waiters[object], !queue.isEmpty else { return }
        let waiter = queue.removeFirst()
        waiters[object] = queue.isEmpty ? nil : queue
        // A large value is mapped now, while the fetch still pins it (its release is not sent yet).
        if case .data(let data) = value, data.bytes == nil, data.sizeBytes > 0, let objects {
            do {
                waiter.fulfil(value, mapping: try objects.map(object))
            } catch {
                waiter.fulfil(.error(RayError(.objectLost, "\(error)")))
            }
            return
        }
        if case .data(let data) = value, data.bytes != nil, (owner.objects[object]?.localRefs ?? 0) > 0 {
            resolved.store(object, value)
        }
        waiter.fulfil(value)
    }

    /// The program dropped a handle; the last one takes the value out of `resolved`.
    func release(_ object: ObjectID) {
        handle(.release(object))
        if (owner.objects[object]?.localRefs ?? 0) == 0 { resolved.remove(object) }
    }

    func connection(_ connection: Connection, received frame: Frame) {
        guard connection.peer != nil else {
            do {
                let hello = try Wire.decodeHello(frame)
                guard let worker = hello.worker, let job = hello.job, let config = hello.config else {
                    throw WireError("the raylet's hello lacks the driver's ID, job or configuration")
                }
                connection.peer = hello
                if let logRoot {
                    log = try HostLog(directory: logRoot + "/driver-\(worker.node.value).\(worker.index)",
                                      component: "driver", loop: loop)
                }
                identity = OwnerIdentity(worker: worker, job: job, idKey: loop.secret?.idKey(for: job) ?? 0)
                links = DirectLinks(loop: loop, me: worker, role: .driver, session: hello.session)
                // Links to workers go with the job's credential (a worker can check no other).
                links?.credential = loop.secret?.derive(.forJob(job))
                links?.throughRaylet = { [unowned self] bytes in self.connection?.send(bytes) }
                objects = hello.session.map { SharedObjects(session: $0, node: worker.node) }
                links?.deliver = { [unowned self] frame in
                    guard let (from, _) = try? frame.addresses(), let message = try? frame.message() else { return }
                    handle(.messageReceived(from: from, message),
                           encoded: log?.received(OwnerInput.self, from: from, frame: frame))
                }
                links?.peerGone = { [unowned self] worker in
                    // A local worker running a task of this owner's is reported by its raylet once it
                    // reaped the process (with how it ended and its last output); any other peer's
                    // link speaks for itself (a driver; a worker that owns objects this owner borrows).
                    if worker.index >= RayletHost.driverIndexBase || !owner.machine.isRunningTask(on: worker) {
                        handle(.peerDisconnected(.worker(worker)))
                    }
                }
                links?.control = { [unowned self] command in control(command) }
                handle(.started(config, identity!))
                // As ray.init does, wait until the GCS registered the job: its answer to this
                // lookup follows the registration on the same path, and the GCS commits its log
                // before it sends anything.
                pendingHello = hello
                try connection.send(.kvGet(key: Self.registrationKey), from: .worker(worker), to: .gcs)
                loop.timer(afterMicros: 30_000_000) { [weak lifeline] in
                    guard let host = lifeline?.target, host.pendingHello != nil else { return }
                    host.finishConnect(.failure(RuntimeError("the GCS did not confirm the job within 30 s; "
                        + "is the GCS running? (`swiftray status`)")))
                }
            } catch let error as WireError {
                finishConnect(.failure(RuntimeError("the raylet refused the driver: \(error)")))
            } catch {
                finishConnect(.failure(RuntimeError("\(error)")))
            }
            return
        }
        do {
            switch FrameKind(rawValue: frame.kind) {
            case .message:
                let (from, _) = try frame.addresses()
                let message = try frame.message()
                if case .objectsReady(let requestID, let values) = message, let waiter = probes.removeValue(forKey: requestID) {
                    if let identity {
                        try? connection.send(.releaseFetch(requestID: requestID), from: .worker(identity.worker),
                                             to: .raylet(identity.worker.node))
                    }
                    waiter.fulfil(values.first ?? .error(RayError(.objectLost, "empty answer")))
                    return
                }
                if case .kvValue(Self.registrationKey, _) = message, let hello = pendingHello {
                    pendingHello = nil
                    finishConnect(.success(hello))
                    return
                }
                handle(.messageReceived(from: from, message),
                       encoded: log?.received(OwnerInput.self, from: from, frame: frame))
            case .peerClosed:
                let (_, peer) = try frame.addresses()
                if case .worker(let worker) = peer, let detail = frame.closedDetail {
                    handle(.workerDied(worker, detail: detail))
                } else {
                    handle(.peerDisconnected(peer))
                }
            case .output:
                let (stream, text) = try frame.output()
                guard let workerOutput else { return }
                for line in text.split(separator: "\n") { workerOutput(line, stream == 2) }
            case .error:
                refusedBecause = frame.text
                note("driver", "the raylet reported: \(frame.text)")
            case .control:
                // Relayed by the raylet for a `swiftray list tasks` anywhere in the cluster.
                connection.send(Wire.controlReplyFrame(control(try frame.controlRequest())))
            default:
                throw WireError("unexpected frame kind \(frame.kind)")
            }
        } catch {
            note("driver", "dropping a frame: \(error)")
        }
    }

    func connectionClosed(_ connection: Connection, reason: String?) {
        // Refused by the raylet (its error frame said why), or its node died.
        let why = refusedBecause.map { "the local raylet refused this driver: \($0); start a new driver" }
            ?? "the connection to the local raylet closed\(reason.map { " (" + $0 + ")" } ?? ""): "
            + "its node died, so this driver cannot reach the cluster; start a new driver"
        if connected != nil {
            finishConnect(.failure(RuntimeError("the raylet closed the connection while the driver joined"
                + (reason.map { ": " + $0 } ?? ""))))
        }
        lostReason = why
        if ending { return }
        let pending = waiters
        waiters = [:]
        for waiter in pending.values.joined() { waiter.fulfil(.error(RayError(lostKind, why))) }
    }
}

/// Receives a line a worker of this job printed (prefixed with its task and node), and whether
/// it went to stderr. Called on the driver's loop thread.
public typealias WorkerOutputHandler = @Sendable (_ line: Substring, _ isError: Bool) -> Void

extension DriverClient {
    /// Prints worker output on this process's stdout or stderr (Ray's log_to_driver).
    public static let printWorkerOutput: WorkerOutputHandler = { line, isError in
        let text = line + "\n"
        if isError {
            writeStandardError(String(text))
        } else {
            swiftray_print_stdout(String(text))
        }
    }
}

/// The thread-safe driver API: what the `Ray` module calls.
public final class DriverClient: @unchecked Sendable {
    let loop: EventLoop
    var host: DriverHost!
    /// The owner's ID rule (OwnerIDs), advanced here in the order the calls are posted, so a call
    /// returns its ID without waiting for the loop (set once the job is known).
    let counters = Mutex<OwnerIDs>(OwnerIDs(parent: TaskID.driver(of: JobID(0))))
    public let worker: WorkerID
    public let job: JobID
    public let config: RayConfig
    public let session: String?
    /// The job's ID key (OwnerIdentity.idKey), as the loop's owner has it.
    private(set) var idKey: UInt64 = 0
    /// This node's shared-memory store (nil without a session: large values travel in messages).
    let objects: SharedObjects?
    private var thread: Thread?
    /// Set once the driver disconnected (shutdown, or the process ending).
    private let ended = Atomic<Bool>(false)

    /// Connects a driver to the raylet listening on `socketPath`; logs under `logRoot` when given.
    /// Workers run `workerExecutable` (default: this program).
    ///
    /// What the job's workers print reaches `workerOutput`, line by line, prefixed with the task and
    /// node that printed it (`(square[3], node-1) text`); by default this process's stdout and stderr.
    public init(socketPath: String, logRoot: String?, workerExecutable: String? = nil,
                workerOutput: WorkerOutputHandler? = DriverClient.printWorkerOutput) throws(RuntimeError) {
        _ = try SubmissionGate.limitFromEnvironment()  // A malformed limit is refused by name, now.
        try ObjectSizeLimit.validateEnvironment()
        let loop = EventLoop()
        loop.secret = try ClusterSecret.forSocket(socketPath, as: .driver)
        self.loop = loop
        let ready = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: Result<Hello, RuntimeError>?
        nonisolated(unsafe) var made: DriverHost?
        let thread = Thread {
            made = DriverHost(loop: loop, socketPath: socketPath, logRoot: logRoot,
                              workerExecutable: workerExecutable, workerOutput: workerOutput) { result in
                outcome = result
                ready.signal()
            }
            loop.run()
        }
        thread.name = "swiftray-driver-loop"
        thread.start()
        self.thread = thread
        ready.wait()
        host = made
        switch outcome! {
        case .success(let hello):
            worker = hello.worker!
            job = hello.job!
            config = hello.config!
            session = hello.session
            objects = hello.session.map { SharedObjects(session: $0, node: hello.worker!.node) }
            idKey = loop.secret?.idKey(for: hello.job!) ?? 0
            counters.withLock { [idKey] in $0 = OwnerIDs(parent: TaskID.driver(of: hello.job!), key: idKey) }
        case .failure(let error):
            loop.post { loop.stop() }
            throw error
        }
    }

    /// The API of a worker process's owner, for the task bodies it runs (nested tasks): `host`
    /// shares the worker's loop and links. Each task begins with `beginTask`.
    init(workerOwner host: DriverHost, loop: EventLoop, worker: WorkerID, job: JobID, config: RayConfig,
         session: String?, objects: SharedObjects?, idKey: UInt64) {
        self.idKey = idKey
        self.loop = loop
        self.host = host
        self.worker = worker
        self.job = job
        self.config = config
        self.session = session
        self.objects = objects
    }

    /// In a worker: a body of `attempt` of `task` starts; what it submits and puts are that
    /// attempt's children (the owner machine is told the same, on the loop, before the body runs).
    func beginTask(_ task: TaskID, attempt: Int) {
        counters.withLock { [idKey] in $0 = OwnerIDs.forTask(task, attempt: attempt, key: idKey) }
    }

    /// In a worker: called on the body's thread with true before a get or wait blocks, false
    /// after (the raylet lends the lease's CPUs meanwhile).
    nonisolated(unsafe) var onBlock: ((Bool) -> Void)?

    /// Unfinished tasks and calls this owner may hold before a submission waits (backpressure;
    /// SWIFTRAY_MAX_PENDING_TASKS), and how many submissions have waited so far.
    public var pendingTaskLimit: Int { host!.gate.limit }
    public var submissionsThatWaited: Int { host!.gate.waited.load(ordering: .relaxed) }

    /// Submits a task; returns the ID of its return object (the caller holds one handle).
    public func submit(_ request: TaskRequest) -> ObjectID {
        ObjectID.returnValue(of: submitTask(request), index: 1)
    }

    /// Submits a task with `request.returnCount` return values; returns their IDs in order (the
    /// caller holds one handle of each).
    public func submitReturningAll(_ request: TaskRequest) -> [ObjectID] {
        let task = submitTask(request)
        return (1...max(1, request.returnCount)).map { ObjectID.returnValue(of: task, index: UInt32($0)) }
    }

    private func submitTask(_ request: TaskRequest) -> TaskID {
        let host = self.host!
        host.gate.admit(blocking: onBlock)
        let record = host.preEncoded(.submitTask(request))
        return counters.withLock { ids in
            let task = ids.takeTask()
            loop.post { host.handle(.submitTask(request), encoded: record) }
            return task
        }
    }

    /// Puts a value owned by this driver; returns its ID (the caller holds one handle).
    public func put(_ bytes: [UInt8], digest: UInt64 = 0) throws(RuntimeError) -> ObjectID {
        try ObjectSizeLimit.check(bytes.count, limit: config.objectSizeLimit, what: "the value put")
        if bytes.count > config.inlineObjectSizeBytesMax, objects != nil {
            let result: Result<ObjectID, RuntimeError> = bytes.withUnsafeBytes { raw in
                do throws(RuntimeError) { return .success(try put(parts: [raw], digest: digest)) } catch { return .failure(error) }
            }
            return try result.get()
        }
        let host = self.host!
        let data = ObjectData(sizeBytes: Int64(bytes.count), digest: digest, bytes: bytes)
        return try counters.withLock { ids throws(RuntimeError) in
            try host.ownedObjects.admitPut(config: config)
            let object = ids.takePut()
            host.ownedObjects.putMade()
            host.resolved.store(object, .data(data))
            loop.post { host.handle(.put(data, node: nil)) }
            return object
        }
    }

    /// Puts `data` as a primary copy on another node, owned here (Ray's `_owner`: a process on
    /// that node created it). `create` runs first with the object's ID (e.g. to write the bytes
    /// into that node's shared-memory store, when `data` carries none).
    public func put(_ data: ObjectData, on node: NodeID,
                    create: ((ObjectID) throws(RuntimeError) -> Void)? = nil) throws(RuntimeError) -> ObjectID {
        let host = self.host!
        return try counters.withLock { ids throws(RuntimeError) in
            try host.ownedObjects.admitPut(config: config)
            let object = ids.nextPut
            try create?(object)
            _ = ids.takePut()
            host.ownedObjects.putMade()
            loop.post { host.handle(.put(data, node: node)) }
            return object
        }
    }

    /// Puts a large value given in parts (e.g. a length header and a caller's buffer), written
    /// once, straight into the node's shared-memory store.
    public func put(parts: [UnsafeRawBufferPointer], digest: UInt64 = 0) throws(RuntimeError) -> ObjectID {
        let size = parts.reduce(0) { $0 + $1.count }
        try ObjectSizeLimit.check(size, limit: config.objectSizeLimit, what: "the value put")
        guard let objects else {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(size)
            for part in parts { bytes.append(contentsOf: part.assumingMemoryBound(to: UInt8.self)) }
            return try put(bytes, digest: digest)
        }
        let host = self.host!
        let data = ObjectData(sizeBytes: Int64(size), digest: digest, bytes: nil)
        return try counters.withLock { ids throws(RuntimeError) in
            try host.ownedObjects.admitPut(config: config)
            let object = ids.nextPut
            try objects.write(object, parts)
            _ = ids.takePut()
            host.ownedObjects.putMade()
            loop.post { host.handle(.put(data, node: nil)) }
            return object
        }
    }

    /// How many values a get can take without the loop (diagnostics; read after `inspect`,
    /// which orders it after the releases posted before).
    public var resolvedValueCount: Int { host!.resolved.count }

    /// Every value, if the driver holds them all already (`ResolvedValues`): what an async get
    /// returns without suspending.
    public func alreadyResolved(_ objects: [ObjectID]) -> [FetchedValue?]? {
        let resolved = host!.resolved
        var values: [FetchedValue?] = []
        values.reserveCapacity(objects.count)
        for object in objects {
            guard let value = resolved.lookup(object) else { return nil }
            values.append(FetchedValue(value: value))
        }
        return values
    }

    /// Starts gets of `objects`; each waiter is signalled with its value.
    func startGets(_ objects: [ObjectID], onResolved: (() -> Void)? = nil) -> [GetWaiter] {
        let host = self.host!
        let waiters = objects.map { _ in GetWaiter() }
        for waiter in waiters { waiter.onResolved = onResolved }
        let pairs = Array(zip(objects, waiters))
        loop.post { for (object, waiter) in pairs { host.get(object, waiter) } }
        return waiters
    }

    /// Gets values in order; an entry is nil if its value did not arrive before the deadline.
    public func get(_ objects: [ObjectID], timeoutSeconds: Double?) -> [FetchedValue?] {
        if let values = alreadyResolved(objects) { return values }
        let waiters = startGets(objects)
        let deadline = timeoutSeconds.map { DispatchTime.now() + $0 }
        onBlock?(true)  // In a worker: the lease's CPUs are lent while this waits.
        defer { onBlock?(false) }
        return waiters.map { waiter in
            if let deadline {
                guard waiter.semaphore.wait(timeout: deadline) == .success else {
                    waiter.abandoned.store(true, ordering: .relaxed)
                    return nil
                }
            } else {
                waiter.semaphore.wait()
            }
            return waiter.value.map { FetchedValue(value: $0, mapping: waiter.mapping) }
        }
    }

    /// Gets values in order without blocking: `completion` runs on the loop thread once every
    /// value arrived or the timeout passed (nil for a value that did not arrive), or at once on
    /// the caller's thread when the driver holds every value already.
    public func get(_ objects: [ObjectID], timeoutSeconds: Double?,
                    completion: @escaping @Sendable ([FetchedValue?]) -> Void) {
        if let values = alreadyResolved(objects) {
            completion(values)
            return
        }
        let host = self.host!
        let loop = self.loop
        let waiters = objects.map { _ in GetWaiter() }
        nonisolated(unsafe) var remaining = objects.count  // Loop thread only.
        nonisolated(unsafe) var finished = false
        let finish: @Sendable () -> Void = {
            guard !finished else { return }
            finished = true
            if remaining > 0 { for waiter in waiters { waiter.abandoned.store(true, ordering: .relaxed) } }
            completion(waiters.map { waiter in waiter.value.map { FetchedValue(value: $0, mapping: waiter.mapping) } })
        }
        for waiter in waiters {
            waiter.onResolved = {
                remaining -= 1
                if remaining == 0 { finish() }
            }
        }
        let pairs = Array(zip(objects, waiters))
        loop.post {
            if pairs.isEmpty { finish() }
            for (object, waiter) in pairs { host.get(object, waiter) }
            if let timeoutSeconds, !finished {
                loop.timer(afterMicros: Int64(max(0, timeoutSeconds) * 1_000_000)) { finish() }
            }
        }
    }

    /// Cancels the task that returns `object` (`ray.cancel`).
    public func cancel(_ object: ObjectID, force: Bool, recursive: Bool = true) {
        let host = self.host!
        loop.post { host.handle(.cancel(object, force: force, recursive: recursive)) }
    }

    /// Runs `hook` on the loop thread after every input the owner handles, before that input's
    /// effects are performed (what `swiftray up` uses to fire a fault at the instant a task
    /// finishes, as raysim does). Returns once the hook is in place.
    public func onStep(_ hook: @escaping (Owner, OwnerInput) -> Void) {
        let host = self.host!
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let hook = hook
        loop.post {
            host.stepHook = hook
            done.signal()
        }
        done.wait()
    }

    /// Runs `body` with the owner machine on the loop thread and returns its result
    /// (for inspection: task and object states, metrics).
    public func inspect<T>(_ body: @escaping (Owner) -> T) -> T {
        let host = self.host!
        loop.willBlock()  // In a task body on the loop's thread: another thread runs the loop meanwhile.
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: T?
        nonisolated(unsafe) let work = body
        loop.post {
            result = work(host.owner.machine)
            done.signal()
        }
        done.wait()
        return result!
    }

    /// Asks the local raylet for `objects` on behalf of `owner` (as a borrower would) and
    /// returns what it answers, nil for objects not answered within the timeout.
    public func fetchAsBorrower(_ objects: [ObjectID], owner: WorkerID, timeoutSeconds: Double) -> [ObjectValue?] {
        let host = self.host!
        let waiters = objects.map { _ in GetWaiter() }
        let pairs = Array(zip(objects, waiters))
        loop.post { for (object, waiter) in pairs { host.probe(object, owner: owner, waiter) } }
        let deadline = DispatchTime.now() + timeoutSeconds
        return waiters.map { $0.semaphore.wait(timeout: deadline) == .success ? $0.value : nil }
    }

    /// Drops the connection as a crashed process would (no job-finished message): the
    /// cluster sees this driver die. Used to run `kill_driver` faults.
    public func crash() {
        let host = self.host!
        let loop = self.loop
        let done = DispatchSemaphore(value: 0)
        loop.post {
            host.disconnect(flush: false)
            done.signal()
        }
        done.wait()
    }

    /// Disconnects from the raylet and stops the loop.
    public func shutdown() {
        let host = self.host!
        let job = self.job, worker = self.worker
        guard !ended.exchange(true, ordering: .relaxed) else { return }
        onLoop {
            // A clean exit finishes the job (a driver that just disappears fails it).
            try? host.connection?.send(.jobFinished(job), from: .worker(worker), to: .gcs)
            host.disconnect(flush: true)
        }
    }

    /// The process is ending (`exit(status)`, or killed by `signal`): tells the GCS how, then
    /// disconnects. Any thread, the loop's own included.
    public func processEnding(status: Int, signal: Int) {
        let host = self.host!
        let job = self.job, worker = self.worker
        guard !ended.exchange(true, ordering: .relaxed) else { return }
        onLoop {
            // The program's threads blocked in gets stay blocked: the process ends under them.
            host.ending = true
            try? host.connection?.send(.driverExited(job, exitCode: status, signal: signal), from: .worker(worker), to: .gcs)
            host.disconnect(flush: true)
        }
    }

    /// Runs `body` on the loop thread and waits (at most 5 s: the process may be ending).
    private func onLoop(_ body: @escaping () -> Void) {
        if Thread.current === thread { return body() }
        nonisolated(unsafe) let body = body
        let done = DispatchSemaphore(value: 0)
        loop.post {
            body()
            done.signal()
        }
        _ = done.wait(timeout: .now() + 5)
    }

    /// Calls `handler` on the loop thread when one of `signals` arrives (each only if the
    /// program left it at its default action; the loop thread unblocks it).
    public func watchSignals(_ signals: [Int32], _ handler: @escaping @Sendable (Int32) -> Void) {
        let loop = self.loop
        let host = self.host!
        loop.post {
            for number in signals {
                var current = sigaction()
                sigaction(number, nil, &current)
                guard current.__sigaction_handler.sa_handler == nil else { continue }  // SIG_DFL is nil
                host.signalWatches.append(SignalWatch(loop, number, handler))
                // A mask inherited from whoever started the program (a test runner blocks these)
                // would hold the signal forever: this thread takes it.
                var only = sigset_t()
                sigemptyset(&only)
                sigaddset(&only, number)
                pthread_sigmask(SIG_UNBLOCK, &only, nil)
            }
        }
    }
}

/// A libuv signal watcher on a driver's loop; stopped when the driver disconnects (libuv then
/// restores the signal's default action).
final class SignalWatch {
    let handle = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
    let handler: (Int32) -> Void

    init(_ loop: EventLoop, _ number: Int32, _ handler: @escaping (Int32) -> Void) {
        self.handler = handler
        uv_signal_init(loop.raw, handle)
        handle.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        uv_signal_start(handle, { handle, number in
            guard let data = handle?.pointee.data else { return }
            Unmanaged<SignalWatch>.fromOpaque(data).takeUnretainedValue().handler(number)
        }, number)
    }

    func stop() {
        uv_signal_stop(handle)
        handle.withMemoryRebound(to: uv_handle_t.self, capacity: 1) { raw in
            uv_close(raw) { $0?.withMemoryRebound(to: uv_signal_t.self, capacity: 1) { $0.deallocate() } }
        }
    }
}

extension DriverHost {
    /// Closes the connection and the links and stops the loop; with `flush`, what is queued is
    /// written and the log committed first (a crash, simulated, does neither).
    func disconnect(flush: Bool) {
        for watch in signalWatches { watch.stop() }
        signalWatches = []
        if flush {
            connection?.flush()
            log?.commit()
        }
        connection?.close(reason: nil)
        links?.closeAll()
        loop.stop()
    }
}

/// The path of the running executable (/proc/self/exe resolved).
public func currentExecutablePath() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return CommandLine.arguments[0] }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
