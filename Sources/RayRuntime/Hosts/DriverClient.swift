// The thread-safe driver API (what the `Ray` module calls): the program's threads derive
// object IDs exactly as the loop's owner will (the n-th submission is the n-th child of the
// driver task), post each input to the loop in that order, and wait in gets. The loop side is
// DriverHost.

import CLibUV
import Dispatch
import Foundation
import Synchronization
import RayWire
public import RayCore

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
            objects = hello.session.map { SharedObjects.forProcess(session: $0, node: hello.worker!.node, job: hello.job!) }
            idKey = made?.identity?.idKey ?? 0  // The loop's owner's, set before the hello completed.
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
    /// Puts made past the owner's soft object quota, each slowing the program down (`OwnedObjectsRule`).
    public var putsSlowedDown: Int { host!.ownedObjects.pastSoftLimit.load(ordering: .relaxed) }

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
        return try admittedPut { ids throws(RuntimeError) in
            let object = ids.takePut()
            host.resolved.store(object, .data(data))
            loop.post { host.handle(.put(data, node: nil)) }
            return object
        }
    }

    /// Makes a put under the driver's ID lock once the owner's object quota admits it (`make`
    /// takes the put's ID and hands the value on), then, past the soft quota, holds the program
    /// (outside the lock) as `OwnedObjectsRule.pace` says.
    private func admittedPut(_ make: (inout OwnerIDs) throws(RuntimeError) -> ObjectID) throws(RuntimeError) -> ObjectID {
        let counted = host!.ownedObjects
        let (object, held) = try counters.withLock { ids throws(RuntimeError) in
            let held = try counted.admitPut(config: config)
            let object = try make(&ids)
            counted.putMade()
            return (object, held)
        }
        counted.holdProgram(until: held)
        return object
    }

    /// Puts `data` as a primary copy on another node, owned here (Ray's `_owner`: a process on
    /// that node created it). `create` runs first with the object's ID (e.g. to write the bytes
    /// into that node's shared-memory store, when `data` carries none).
    public func put(_ data: ObjectData, on node: NodeID,
                    create: ((ObjectID) throws(RuntimeError) -> Void)? = nil) throws(RuntimeError) -> ObjectID {
        let host = self.host!
        return try admittedPut { ids throws(RuntimeError) in
            let object = ids.nextPut
            try create?(object)
            _ = ids.takePut()
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
        return try admittedPut { ids throws(RuntimeError) in
            let object = ids.nextPut
            try objects.write(object, parts)
            _ = ids.takePut()
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
