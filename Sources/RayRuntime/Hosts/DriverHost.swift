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
    /// this driver over its rate limit, else RaySystemError (its node died, or it was refused for
    /// another cause, named).
    var lostKind: RayErrorKind {
        refusedBecause?.hasPrefix(Connection.rateLimitRefusal) == true ? .quotaExceeded : .systemError
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
                finishConnect(.failure(RuntimeError("\(error): " + Self.whyNoRaylet(at: socketPath))))
            }
        }
    }

    /// What to do when the raylet's socket at `path` did not take a connection: a socket of another
    /// user's node (its sockets are the node's user's, and with a worker user its workers' group's),
    /// or no raylet there.
    static func whyNoRaylet(at path: String) -> String {
        var info = stat()
        var shut = false  // The socket, or a directory on the way to it, is not this user's to use.
        if stat(path, &info) == 0 {
            shut = access(path, W_OK) != 0
        } else if errno == EACCES {
            var directory = path
            repeat {
                directory = (directory as NSString).deletingLastPathComponent
            } while directory.count > 1 && stat(directory, &info) != 0
            shut = true
        }
        if shut {
            let owner = userName(info.st_uid)
            // The socket, or the session directory on the way to it, of the workers' group (a node
            // running workers as another user): that group's members may connect.
            let ownersGroup = getpwuid(info.st_uid)?.pointee.pw_gid
            let groupMay = info.st_mode & S_IFMT == S_IFSOCK ? info.st_mode & 0o060 == 0o060
                : info.st_mode & S_IFMT == S_IFDIR && info.st_mode & 0o010 != 0
            let group = groupMay && info.st_gid != ownersGroup
                ? getgrgid(info.st_gid).map { String(cString: $0.pointee.gr_name) } : nil
            let join = group.map { ", have this user added to the node's workers' group (`usermod -aG \($0) "
                + "\(userName(getuid()))`, then log in again)" } ?? ""
            return "the node runs as \(owner), and its sockets are for its own user (and, when it runs workers as "
                + "another user, that user's group); run the driver as \(owner)\(join), or start a node of your own "
                + "(`swiftray start --head`, or Ray.start() without an address)"
        }
        return "is a raylet running on this machine? Start one with `swiftray start --head`, or call Ray.start() "
            + "without an address"
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

    /// Where a driver logs: the session's `logs`, when this user may write there; else (a driver
    /// of another user than the node's: the session is the node's user's) a directory of this
    /// user's own, `~/.swiftray/<session>/logs` (0700), said once on stderr; nil (no log) when
    /// neither can be written, said too.
    static func logRootWritable(_ root: String) -> String? {
        // Root makes nothing in a directory another user owns (a session of a node that user
        // started: its names are that user's to swap for links).
        var info = stat()
        if access(root, W_OK | X_OK) == 0, geteuid() != 0 || (lstat(root, &info) == 0 && info.st_uid == 0) { return root }
        let session = (root as NSString).deletingLastPathComponent
        let home = getpwuid(getuid()).map { String(cString: $0.pointee.pw_dir) } ?? NSHomeDirectory()
        let own = home + "/.swiftray/" + (session as NSString).lastPathComponent + "/logs"
        do {
            try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            chmod(home + "/.swiftray", 0o700)
            note("driver", "the session's logs (\(root)) are the node's user's (\(ownerName(of: root))); this driver logs to \(own)")
            return own
        } catch {
            note("driver", "the session's logs (\(root)) are the node's user's, and \(own) cannot be made "
                + "(\(error.localizedDescription)); this driver keeps no event log")
            return nil
        }
    }

    func connection(_ connection: Connection, received frame: Frame) {
        guard connection.peer != nil else {
            if frame.kind == FrameKind.error.rawValue {
                // Refused in place of the hello (its credential, what it named): the raylet's reason.
                finishConnect(.failure(RuntimeError("the raylet refused the driver: \(frame.text)")))
                return
            }
            do {
                let hello = try Wire.decodeHello(frame)
                guard let worker = hello.worker, let job = hello.job, let config = hello.config else {
                    throw WireError("the raylet's hello lacks the driver's ID, job or configuration")
                }
                connection.peer = hello
                if let root = logRoot.flatMap(Self.logRootWritable) {
                    log = try HostLog(directory: root + "/driver-\(worker.node.value).\(worker.index)",
                                      component: "driver", loop: loop)
                }
                identity = OwnerIdentity(worker: worker, job: job, idKey: loop.secret?.idKey(for: job) ?? 0)
                links = DirectLinks(loop: loop, me: worker, role: .driver, session: hello.session)
                // Links to workers go with the job's credential (a worker can check no other).
                links?.credential = loop.secret?.derive(.forJob(job))
                links?.throughRaylet = { [unowned self] bytes in self.connection?.send(bytes) }
                objects = hello.session.map { SharedObjects.forProcess(session: $0, node: worker.node, job: job) }
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

