// A raylet process: the `Raylet` machine on a libuv loop, plus the node's
// message router. Local workers and drivers connect over a Unix domain
// socket and send every frame through the raylet, which delivers it to its
// machine, a local process, another node's raylet (TCP, connected on demand
// from the GCS's directory) or the GCS. Forwarded frames are not decoded.
//
// Virtual connections: the router remembers which addresses each local
// process exchanged frames with. When a local process exits, each of them
// gets a `peerClosed` for it; when a node is lost, each local process gets
// one for every address on that node it talked to. That is how an owner
// learns that the worker running its task died, as it would from a closed
// gRPC channel in Ray.

import Foundation
import Glibc
public import RayCore
import RayStorage

/// How to start a raylet.
public struct RayletOptions: Sendable {
    public var gcsHost = "127.0.0.1"
    public var gcsPort = 6380
    public var listenHost = "127.0.0.1"
    public var port = 0
    public var name = "head"
    public var resources = ResourceSet()
    public var objectStoreBytes: Int64 = 0
    /// The Unix socket local workers and drivers connect to.
    public var socketPath = ""
    public var logDirectory: String?
    public var session: String?
    /// Workers run this executable until a driver names its own.
    public var workerExecutable: String?
    /// The user workers run as (SWIFTRAY_WORKER_USER; nil: the raylet's own).
    public var workerUser: WorkerUser?
    /// How long the raylet waits (off its loop) for a store's lock, or an object file's, before it
    /// gives the store up (a writer holds one for microseconds; a job's code can hold it for ever):
    /// 1 s, or SWIFTRAY_STORE_LOCK_PATIENCE_MS.
    public var storeLockPatience: Duration = .seconds(1)
    public init() {}
}

/// Hosts a raylet machine and routes its node's frames.
public final class RayletHost: ConnectionDelegate {
    struct Local {
        var connection: Connection
        var contacts: Set<Address> = []
        var isDriver: Bool
    }
    /// Callbacks for control requests relayed to local drivers, in the order sent.
    var driverReplies: [WorkerID: [(ControlDriverTasks?) -> Void]] = [:]

    let loop: EventLoop
    /// The node's disk thread: spills, restores and deletes of spill files, in order.
    let disk = DispatchQueue(label: "swiftray-raylet-disk")
    /// Where large objects crossing jobs are copied into the reader's job's store, side by side (one
    /// job's large copy does not hold up another's; RayletHost+CrossJobCopies).
    let copies = DispatchQueue(label: "swiftray-raylet-copies", attributes: .concurrent)
    var options: RayletOptions
    let log: HostLog
    let raylet = ComponentDriver<Raylet>()
    public private(set) var nodeID = NodeID(0)
    var config = RayConfig()
    var started = false
    var onReady: ((NodeID) -> Void)?
    /// Per-job CPU groups of its workers (nil: off), and what status says of them.
    var cpuShares: JobCPUShares?
    var cpuSharesStatus = ""
    /// With a worker user and TLS: the node's TLS material, and the copy each worker user ID has.
    var workerTLS: (source: String, copies: [UInt32: String])?
    /// With a range of worker user IDs: the one each job was given on this node.
    var jobUIDs: [JobID: UInt32] = [:]
    /// With a worker user: where workers log (`<logs>/workers`; nil: beside the node's own logs).
    var workerLogRoot: String?

    var tcpListener: Listener?
    var unixListener: Listener?
    var gcsConnection: Connection?
    var gcsQueue: [[UInt8]] = []
    var gcsLostAt: Int64?
    var peers: [NodeID: Connection] = [:]
    var pendingToNode: [NodeID: [[UInt8]]] = [:]
    var connecting: Set<NodeID> = []
    var lostNodes: Set<NodeID> = []
    var directory: [NodeID: Directory.Entry] = [:]
    var locals: [WorkerID: Local] = [:]
    var processes: [WorkerID: ChildProcess] = [:]
    /// The job each worker process was started for (its credential is that job's).
    var workerJobs: [WorkerID: JobID] = [:]
    var exitedWorkers: Set<WorkerID> = []
    /// Workers whose connection closed while their process runs: who to tell once it exits.
    var closedWorkers: [WorkerID: Set<Address>] = [:]
    /// Each running worker's captured stdout and stderr (WorkerOutput.swift).
    var outputs: [WorkerID: WorkerOutput] = [:]
    var driverCounter: UInt32 = 0
    // Worker executables (RayletHost+Executable)
    var pendingSpawns: [(WorkerID, JobID)] = []
    /// Each job's program: its digest and the path its driver named.
    var fetchingExecutables: Set<UInt64> = []
    var localExecutables: [UInt64: String] = [:]
    var publishedDigests: Set<UInt64> = []
    var digestCache: [String: UInt64] = [:]
    /// Workers whose process exited before connecting, in a row (backs off restarts).
    var failedStarts = 0
    // The shared-memory object store (RayletHost+Objects)
    var objects: SharedObjects?
    var incomingObjects: [ObjectID: IncomingObject] = [:]
    var perJob = JobStores()  // RayletHost+JobStores
    /// Object chunks that arrived damaged (dropped, their transfers retried).
    var corruptedChunks = 0

    /// Index of the first driver on a node: workers count up from 1, drivers from here.
    static let driverIndexBase: UInt32 = 1 << 30
    /// How long a raylet keeps trying to reach a GCS that went away before it exits (Ray: 60 s).
    static let gcsReconnectTimeoutMicros: Int64 = 60_000_000

    public init(loop: EventLoop, options: RayletOptions, onReady: @escaping (NodeID) -> Void) throws(RuntimeError) {
        self.loop = loop
        self.options = options
        self.onReady = onReady
        log = try HostLog(directory: options.logDirectory, component: "raylet", loop: loop)
        let log = self.log
        raylet.attach(loop: loop, log: { log }, role: "raylet")
        raylet.perform = { [unowned(unsafe) self] effect in perform(effect) }  // The host owns its driver.
        tcpListener = try Listener.tcp(loop: loop, host: options.listenHost, port: options.port) { [unowned self] in
            accepted($0)
        }
        try grantSessionToWorkerUser()
        unixListener = try Listener.unix(loop: loop, path: options.socketPath) { [unowned self] in
            accepted($0)
        }
        connectToGCS()
    }

    public var port: Int { tcpListener?.port ?? 0 }

    private func accepted(_ connection: Connection) {
        connection.delegate = self
        connection.label = "unidentified peer"
        connection.startReading()
    }

    // MARK: - The machine

    func handle(_ input: RayletInput) {
        if case .messageReceived(.gcs, .kvValue(let key, let value)) = input,
           executableAnswered(key: key, value: value) {
            // Answers to the host's own fetches of an executable's bytes; logged like every input,
            // not the machine's business (which ignores them: replay gives no effects either).
            let now = loop.nowMicros
            log.append(input, at: now)
            log.appendEffects([RayletEffect](), now: now)
            return
        }
        raylet.submit(input)
    }

    private func perform(_ effect: RayletEffect) {
        switch effect {
        case .send(.raylet(let node), .pushObject(let object, let data, let owner)):
            sendObject(object, data, owner: owner, to: node)
        case .send(let to, let message):
            if heldForCopies(message, to: to) { break }
            sendFromMachine(message, to: to)
        case .startTimer:
            break  // Armed by the driver.
        case .spawnWorker(let worker, let job):
            spawn(worker, job: job)
        case .killWorker(let worker):
            processes[worker]?.kill()
        case .spillObject, .restoreObject, .deleteSpilledObject:
            performOnDisk(effect)
        case .releaseObject(let object):
            recycle(object)
        case .disconnect(let node):
            closeLinks(to: node)
        case .exit(let reason):
            note("raylet", "exiting: \(reason)")
            for process in processes.values { process.kill() }
            cpuShares?.removeAll()
            objects?.remove()
            log.commit()
            exit(1)
        }
    }

    // MARK: - Routing

    /// Sends a whole frame toward `to`.
    func route(_ frame: [UInt8], from: Address, to: Address) {
        switch to {
        case .raylet(let node) where node == nodeID:
            deliverToMachine(frame, from: from)
        case .gcs:
            sendToGCS(frame)
        case .raylet(let node):
            sendToNode(node, frame, from: from, to: to)
        case .worker(let worker) where worker.node == nodeID:
            if locals[worker] != nil {
                locals[worker]!.contacts.insert(from)
                locals[worker]!.connection.send(frame)
            } else if frame.count > 4 && frame[4] == FrameKind.message.rawValue {
                // Only a message is answered with a close: a close to a process that is gone
                // is dropped (two gone processes would otherwise bounce closes at each other
                // forever: a stack overflow seen when a driver ended while its workers died).
                bounce(from: from, to: to)
            }
        case .worker(let worker):
            sendToNode(worker.node, frame, from: from, to: to)
        }
    }

    /// Tells `from` that `to` is gone (its message could not be delivered).
    private func bounce(from: Address, to: Address) {
        switch from {
        case .raylet(let node) where node == nodeID:
            return  // The machine already heard of the exit.
        case .gcs:
            return
        default:
            route(Wire.peerClosedFrame(observer: from, peer: to), from: to, to: from)
        }
    }

    private func deliverToMachine(_ frame: [UInt8], from: Address) {
        do {
            guard let message = storeIncoming(try Frame(bytes: frame).message(), from: from) else { return }
            handle(.messageReceived(from: from, message))
        } catch {
            note("raylet", "dropping an undecodable message from \(from): \(error)")
        }
    }

    private func sendToGCS(_ frame: [UInt8]) {
        if let gcsConnection, !gcsConnection.isClosed, started {
            gcsConnection.send(frame)
        } else {
            gcsQueue.append(frame)
        }
    }

    private func sendToNode(_ node: NodeID, _ frame: [UInt8], from: Address, to: Address) {
        if lostNodes.contains(node) {
            if frame[4] == FrameKind.message.rawValue { bounce(from: from, to: to) }
            return
        }
        if let connection = peers[node], !connection.isClosed {
            connection.send(frame)
            return
        }
        pendingToNode[node, default: []].append(frame)
        connect(to: node)
    }

    private func connect(to node: NodeID) {
        guard !connecting.contains(node), peers[node] == nil, let entry = directory[node] else { return }
        connecting.insert(node)
        Connector.tcp(loop: loop, host: entry.host, port: entry.port, label: "raylet \(node)") { [unowned self] result in
            connecting.remove(node)
            switch result {
            case .success(let connection):
                connection.delegate = self
                connection.initiatedHere = true
                var hello = Hello(role: .raylet)
                hello.node = nodeID
                connection.send(Wire.helloFrame(hello))
                // Outgoing frames wait for the peer's hello (it proves the right node answered).
            case .failure(let error):
                note("raylet", "\(error); treating \(node) as lost")
                nodeLost(node)
            }
        }
    }

    /// A node is gone: its connection closed or the GCS declared it dead. Once per node.
    /// A link to `node` failed: the machine hears that its peer there is gone.
    func nodeLost(_ node: NodeID) {
        guard closeLinks(to: node) else { return }
        handle(.peerDisconnected(.raylet(node)))
    }

    /// Closes the links to `node` (once): what waits to go there bounces, and local workers hear
    /// that their peers there closed. False when they were closed already.
    @discardableResult
    func closeLinks(to node: NodeID) -> Bool {
        guard node != nodeID, lostNodes.insert(node).inserted else { return false }
        peers.removeValue(forKey: node)?.close(reason: nil)
        let pending = pendingToNode.removeValue(forKey: node) ?? []
        for frame in pending where frame[4] == FrameKind.message.rawValue {
            if let (from, to) = try? Frame(bytes: frame).addresses() { bounce(from: from, to: to) }
        }
        for worker in locals.keys.sorted() {
            let gone = locals[worker]!.contacts.filter { $0.node == node }
            for peer in gone.sorted() {
                locals[worker]!.contacts.remove(peer)
                locals[worker]!.connection.send(Wire.peerClosedFrame(observer: .worker(worker), peer: peer))
            }
        }
        return true
    }

    // MARK: - The GCS connection

    private func connectToGCS() {
        Connector.tcp(loop: loop, host: options.gcsHost, port: options.gcsPort, label: "GCS") { [unowned self] result in
            switch result {
            case .success(let connection):
                connection.delegate = self
                var hello = Hello(role: .raylet)
                hello.node = started ? nodeID : nil
                hello.host = options.listenHost
                hello.port = port
                hello.name = options.name
                hello.resources = options.resources
                hello.objectStoreBytes = options.objectStoreBytes
                connection.send(Wire.helloFrame(hello))
                gcsConnection = connection
            case .failure(let error):
                gcsUnreachable("\(error)")
            }
        }
    }

    private func gcsUnreachable(_ reason: String) {
        guard started else {
            note("raylet", "\(reason); is the GCS running at \(options.gcsHost):\(options.gcsPort)?")
            exit(2)
        }
        let now = loop.nowMicros
        if gcsLostAt == nil { gcsLostAt = now }
        if now - gcsLostAt! > Self.gcsReconnectTimeoutMicros {
            note("raylet", "the GCS has been unreachable for 60 s (\(reason)); exiting")
            for process in processes.values { process.kill() }
            exit(1)
        }
        // A restarted GCS is usually back within milliseconds: retry quickly at first, then every 100 ms.
        loop.timer(afterMicros: now - gcsLostAt! < 200_000 ? 10_000 : 100_000) { [unowned self] in connectToGCS() }
    }

    private func gcsHello(_ hello: Hello) {
        gcsLostAt = nil
        if !started {
            guard let node = hello.node, let config = hello.config else {
                note("raylet", "the GCS's hello lacks a node ID or configuration")
                exit(2)
            }
            nodeID = node
            self.config = config
            if let session = options.session {
                let store = SharedObjects(session: session, node: node)
                do {
                    ObjectRegion.defaultLockPatience = options.storeLockPatience
                    ObjectRegion.impatient = true  // This loop never waits for a store's lock.
                    try store.create(capacity: options.objectStoreBytes)
                    try options.workerUser?.grantStore(store)
                    objects = store
                    watchRegion(of: store, as: .node)
                } catch {
                    note("raylet", "\(error); large objects travel in messages instead")
                }
            }
            // (A malformed SWIFTRAY_JOB_MEMORY_BYTES stopped the raylet before it started.)
            (cpuShares, cpuSharesStatus) = (try? JobCPUShares.make(node: node, storeBytes: options.objectStoreBytes)) ?? (nil, "")
            note("raylet", "per-job \(cpuSharesStatus)")
            started = true
            handle(.started(config, NodeInfo(nodeID: node, name: options.name, resources: options.resources,
                                             objectStoreBytes: options.objectStoreBytes)))
            flushGCSQueue()
            onReady?(node)
            onReady = nil
        } else {
            note("raylet", "reconnected to the GCS")
            handle(.peerConnected(.gcs))
            flushGCSQueue()
            repeatExecutableLookups()
        }
    }

    private func flushGCSQueue() {
        let queued = gcsQueue
        gcsQueue = []
        for frame in queued { gcsConnection?.send(frame) }
    }

    // MARK: - Connections

    public func connection(_ connection: Connection, received frame: Frame) {
        guard let peer = connection.peer else {
            hello(connection, frame)
            return
        }
        do {
            let kind = FrameKind(rawValue: frame.kind)
            if Self.refuses(kind, from: peer.role) { throw WireError("a \(peer.role.rawValue) may not send \(kind!) frames") }
            switch kind {
            case .message:
                let (from, to) = try frame.addresses()
                if peer.role == .worker || peer.role == .driver, let sender = peer.worker {
                    // A local process may only speak for itself.
                    guard from == .worker(sender) else {
                        throw WireError("a local process \(sender) sent a message as \(from)")
                    }
                    // What only a node may ask, or only another job (RayletHost+Relay.swift).
                    if relayChecked(to), let message = try? frame.message(), let (what, needs) = relayRefusal(message, from: sender) {
                        connection.refuseRole(what, needs: needs, noting: "raylet")
                        return
                    }
                    if to != .raylet(nodeID) { locals[sender]?.contacts.insert(to) }
                }
                route(frame.bytes, from: from, to: to)
            case .peerClosed:
                let (observer, closed) = try frame.addresses()
                if observer == .raylet(nodeID) {
                    if case .worker(let worker) = closed, worker.node == nodeID { return }
                    handle(.peerDisconnected(closed))
                } else if case .worker(let worker) = observer, worker.node == nodeID {
                    locals[worker]?.contacts.remove(closed)
                    locals[worker]?.connection.send(frame.bytes)
                } else {
                    route(frame.bytes, from: closed, to: observer)
                }
            case .directory:
                updateDirectory(try frame.directory())
            case .objectChunk:
                guard peer.role == .raylet else { throw WireError("object chunks come from raylets only") }
                try receiveChunk(frame, overTLS: connection.isEncrypted)
            case .output:
                guard peer.role == .raylet else { throw WireError("output frames come from raylets only") }
                let (from, to) = try frame.addresses()
                route(frame.bytes, from: from, to: to)
            case .control:
                let request = try frame.controlRequest()
                if case .workerPID = request, !connection.peerMay(.node) {
                    connection.refuseRole("ask for a worker's process ID", needs: .node, noting: "raylet")
                    return
                }
                if request == .listTasks {
                    listTasks(for: connection)
                } else {
                    connection.sendControlReply(Wire.controlReplyFrame(control(request)))
                }
            case .controlReply:
                // A driver's answer to a relayed `list tasks`.
                guard peer.role == .driver, let driver = peer.worker, var waiting = driverReplies[driver],
                      !waiting.isEmpty else { throw WireError("an unexpected control reply") }
                let answer = waiting.removeFirst()
                driverReplies[driver] = waiting.isEmpty ? nil : waiting
                if case .driverTasks(let tasks) = try frame.controlReply() { answer(tasks) } else { answer(nil) }
            case .error:
                note("raylet", "\(connection.label) reported: \(frame.text)")
            default:
                throw WireError("unexpected frame kind \(frame.kind)")
            }
        } catch {
            connection.refuse("\(error)", noting: "raylet")
        }
    }

    private func hello(_ connection: Connection, _ frame: Frame) {
        guard let hello = connection.acceptHello(frame, noting: "raylet") else { return }
        connection.peer = hello
        var ack = Hello(role: .raylet)
        ack.node = nodeID
        ack.config = ObjectSizeLimit.forNode(config, storeBytes: options.objectStoreBytes)
        ack.session = options.session
        switch hello.role {
        case .gcs:
            gcsHello(hello)
        case .raylet:
            guard connection.peerMay(.node) else {
                connection.refuseRole("speak as a raylet", needs: .node, noting: "raylet")
                return
            }
            guard let node = hello.node, node != nodeID else {
                connection.refuse("a raylet must name its node in its hello")
                return
            }
            connection.label = "raylet \(node)"
            // Our own outgoing connection gets the peer's ack; an incoming one is acked.
            if !connection.initiatedHere { connection.send(Wire.helloFrame(ack)) }
            if !lostNodes.contains(node), peers[node].map({ $0.isClosed }) ?? true {
                peers[node] = connection
                for queued in pendingToNode.removeValue(forKey: node) ?? [] { connection.send(queued) }
            }
        case .worker:
            guard started, let worker = hello.worker, worker.node == nodeID, processes[worker] != nil,
                  locals[worker] == nil, !exitedWorkers.contains(worker) else {
                connection.refuse("unknown worker \(hello.worker.map(String.init(describing:)) ?? "?"): "
                    + "workers are started by their raylet")
                return
            }
            // A worker speaks with its own job's credential (the one it was started with).
            guard connection.peerMay(.node) || connection.peerIdentity == workerJobs[worker].map(Identity.forJob) else {
                connection.refuseRole("speak as \(worker), a worker of \(workerJobs[worker].map { "\($0)" } ?? "another job")",
                                      needs: .job, noting: "raylet")
                return
            }
            connection.label = "\(worker)"
            failedStarts = 0
            locals[worker] = Local(connection: connection, isDriver: false)
            connection.send(Wire.helloFrame(ack))
            handle(.workerStarted(worker))
        case .driver:
            guard connection.peerMay(.driver) else {
                connection.refuseRole("start a driver (a job)", needs: .driver, noting: "raylet")
                return
            }
            guard started else {
                connection.refuse("the raylet is still joining the cluster; retry in a moment")
                return
            }
            if let executable = hello.executable, let refusal = executableRefusal(executable, namedBy: connection) {
                AuthCounters.countRefusal()
                connection.refuse("not allowed: \(refusal)", noting: "raylet")
                return
            }
            driverCounter += 1
            let worker = WorkerID(node: nodeID, index: Self.driverIndexBase + driverCounter)
            ack.worker = worker
            ack.job = Self.job(ofDriver: worker)
            var identified = hello
            identified.worker = worker
            connection.peer = identified
            connection.label = "driver \(worker)"
            locals[worker] = Local(connection: connection, isDriver: true)
            noteDriverUser(of: connection, job: ack.job!)
            if let error = assignStore(worker, job: ack.job!) { note("raylet", "\(error); \(worker) uses the node's object store") }
            connection.send(Wire.helloFrame(ack))
            handle(.driverConnected(worker, job: ack.job!))
            if let executable = hello.executable { publishExecutable(executable, job: ack.job!) }
        case .client:
            guard connection.peerMay(.driver) else {
                connection.refuseRole("ask the raylet about its node", needs: .driver, noting: "raylet")
                return
            }
            connection.label = "client"
            connection.send(Wire.helloFrame(ack))
        }
    }

    public func connectionClosed(_ connection: Connection, reason: String?) {
        if connection === gcsConnection {
            gcsConnection = nil
            guard started else {
                // Closed without a word before the handshake: a GCS speaking TLS to a node without it.
                let hint = loop.tls == nil && connection.peerIdentity == nil
                    ? " (if the cluster uses TLS, this node needs its material: `swiftray start --tls DIR`, or SWIFTRAY_TLS_DIR)" : ""
                note("raylet", "the GCS closed the connection while joining\(reason.map { ": " + $0 } ?? "")\(hint)")
                exit(2)
            }
            note("raylet", "lost the GCS\(reason.map { ": " + $0 } ?? ""); reconnecting")
            handle(.peerDisconnected(.gcs))
            gcsUnreachable("the GCS closed the connection")
            return
        }
        guard let peer = connection.peer else { return }
        switch peer.role {
        case .raylet:
            if let node = peer.node { nodeLost(node) }
        case .worker, .driver:
            guard let worker = peer.worker, let local = locals[worker], local.connection === connection else { return }
            locals[worker] = nil
            localProcessGone(worker)
            if !local.isDriver {
                workerDisconnected(worker, contacts: local.contacts)
                return
            }
            for answer in driverReplies.removeValue(forKey: worker) ?? [] { answer(nil) }
            for contact in local.contacts.sorted() where contact != .raylet(nodeID) {
                route(Wire.peerClosedFrame(observer: contact, peer: .worker(worker)), from: .worker(worker), to: contact)
            }
            handle(.peerDisconnected(.worker(worker)))
        default:
            break
        }
    }

    private func updateDirectory(_ update: Directory) {
        directory = Dictionary(uniqueKeysWithValues: update.entries.map { ($0.node, $0) })
        for node in pendingToNode.keys.sorted() { connect(to: node) }
    }

    // MARK: - Worker processes

    private func spawn(_ worker: WorkerID, job: JobID) {
        // The job's program (RayletHost+Executable).
        pendingSpawns.append((worker, job))
        resolveExecutables()
    }

    func launch(_ worker: WorkerID, job: JobID, executable program: String) {
        let user: WorkerUser?, executable: String
        do {
            user = try workerUser(for: job)
            executable = try runnable(program)
            if let error = assignStore(worker, job: job) { throw error }
        } catch {
            return workerFailedToStart(worker, because: "\(error)")
        }
        // Cluster-wide settings (SWIFTRAY_RECORD_EFFECTS, SWIFTRAY_SCENARIO_SEED, ...) pass through;
        // the role variables are this worker's own.
        let own = ["SWIFTRAY_ROLE=", "SWIFTRAY_WORKER=", "SWIFTRAY_RAYLET_SOCKET=", "SWIFTRAY_SESSION=",
                   "SWIFTRAY_LOG_DIR=", "SWIFTRAY_NO_LOG=", "SWIFTRAY_EXIT_WITH_PARENT=", "SWIFTRAY_GCS_",
                   "SWIFTRAY_NODE_NAME=", "SWIFTRAY_RESOURCES=", "SWIFTRAY_OBJECT_STORE_BYTES=", "SWIFTRAY_PORT=",
                   "SWIFTRAY_WORKER_EXECUTABLE=", "SWIFTRAY_LISTEN_HOST=", "SWIFTRAY_OUTPUT_CAPTURED=",
                   "SWIFTRAY_RAYLET_PID=", "SWIFTRAY_CLUSTER_SECRET"]
        var environment = currentEnvironment().filter { entry in !own.contains { entry.hasPrefix($0) } }
        environment.append("SWIFTRAY_ROLE=worker")
        environment.append("SWIFTRAY_WORKER=\(worker.node.value).\(worker.index)")
        environment.append("SWIFTRAY_RAYLET_SOCKET=\(options.socketPath)")
        environment.append("SWIFTRAY_OUTPUT_CAPTURED=1")
        environment.append("SWIFTRAY_RAYLET_PID=\(getpid())")
        // The worker holds its job's credential only (never the node's or the cluster's).
        if let credential = loop.secret?.derive(.forJob(job)) {
            environment.append("SWIFTRAY_CLUSTER_SECRET=\(credential.text)")
        }
        if let session = options.session { environment.append("SWIFTRAY_SESSION=\(session)") }
        if let logs = options.logDirectory {
            environment.append("SWIFTRAY_LOG_DIR=\(workerLogRoot ?? parentDirectory(logs))")
        } else {
            environment.append("SWIFTRAY_NO_LOG=1")
        }
        do { environment = try forWorkerUser(environment, user) } catch { return workerFailedToStart(worker, because: "\(error)") }
        let output: WorkerOutput
        do {
            output = try WorkerOutput(worker: worker, job: job)
        } catch {
            note("raylet", "\(error)")
            workerFailedToStart(worker)
            return
        }
        output.deliver = { [unowned self] stream, lines in workerPrinted(worker, job: job, stream, lines) }
        do {
            processes[worker] = try ChildProcess(loop: loop, executable: executable, arguments: [],
                                                 environment: environment, output: output.childFDs, user: user) {
                [unowned self] status, signal in
                let killedForMemory = signal == SIGKILL && cpuShares?.killedForMemory(job: job) == true
                if let pid = processes[worker]?.pid { cpuShares?.exited(pid, job: job) }
                processes[worker] = nil
                workerJobs[worker] = nil
                dropJobStoreIfUnused(job)
                let output = outputs.removeValue(forKey: worker)
                output?.finish()
                let connected = locals[worker] != nil || closedWorkers[worker] != nil || exitedWorkers.contains(worker)
                if status != 0 || signal != 0, !exitedWorkers.contains(worker) {
                    note("raylet", "\(worker) \(describeExit(status: status, signal: signal))")
                }
                guard connected else {
                    workerFailedToStart(worker)
                    return
                }
                var detail = describeExit(status: status, signal: signal)
                if killedForMemory, let limit = cpuShares?.memoryLimit {
                    detail += " by the kernel: the job's workers on this node reached their memory limit of \(limit) "
                        + "bytes (SWIFTRAY_JOB_MEMORY_BYTES)"
                }
                if let tail = output?.tail, !tail.isEmpty, status != 0 || signal != 0 {
                    detail += "\n" + tail.joined(separator: "\n")
                }
                workerGone(worker, detail: detail)
            }
            if let pid = processes[worker]?.pid { cpuShares?.place(pid, job: job) }
            output.start(loop: loop)
            outputs[worker] = output
            workerJobs[worker] = job
        } catch {
            output.discard()
            note("raylet", "\(error)")
            workerFailedToStart(worker)
        }
    }

    /// A worker that never connected: report it after a backoff, so a program that
    /// crashes at startup is not restarted in a tight loop.
    /// One the raylet could not start at all (`reason`) is reported with it.
    func workerFailedToStart(_ worker: WorkerID, because reason: String? = nil) {
        failedStarts += 1
        let delay = Int64(min(5_000_000, 50_000 << min(failedStarts, 7)))
        if let reason {
            note("raylet", "\(worker) cannot start: \(reason)")
        } else if failedStarts == 3 {
            note("raylet", "workers keep exiting before they connect; is the driver's program calling "
                + "Ray.start() or Ray.connect() first thing? retrying with backoff")
        }
        let detail = reason.map { "the raylet could not start it: \($0)" } ?? "it exited before it connected"
        loop.timer(afterMicros: delay) { [unowned self] in workerGone(worker, detail: detail) }
    }

    /// A worker's connection closed. Its process's exit (reaped on this loop) reports it, once its
    /// output is drained, so the report carries how it ended and its last lines of stderr; a process
    /// that lingers without its connection is killed.
    private func workerDisconnected(_ worker: WorkerID, contacts: Set<Address>) {
        closedWorkers[worker] = contacts
        guard let process = processes[worker], process.running else {
            workerGone(worker, detail: "its connection to the raylet closed")
            return
        }
        loop.timer(afterMicros: 1_000_000) { [unowned self] in processes[worker]?.kill() }
    }

    /// A worker is gone: everyone it exchanged messages with, and the owner of its lease, learn
    /// it (with `detail`: how it ended, then its last lines of stderr), then the machine does.
    private func workerGone(_ worker: WorkerID, detail: String) {
        var contacts = closedWorkers.removeValue(forKey: worker) ?? []
        if let local = locals.removeValue(forKey: worker) {
            contacts.formUnion(local.contacts)
            local.connection.close(reason: nil)
        }
        guard exitedWorkers.insert(worker).inserted else { return }
        processes[worker]?.kill()
        if case .leased(let lease)? = raylet.workers[worker] { contacts.insert(.worker(lease.owner)) }
        for contact in contacts.sorted() where contact != .raylet(nodeID) {
            route(Wire.peerClosedFrame(observer: contact, peer: .worker(worker), detail: detail),
                  from: .worker(worker), to: contact)
        }
        handle(.workerExited(worker))
    }

    /// The embedded cluster's driver exited: kill the workers, drop the node's shared memory.
    func stopForParent() {
        for process in processes.values { process.kill() }
        cpuShares?.removeAll()
        objects?.remove()
        log.commit()
    }

    // MARK: - Worker output (WorkerOutput.swift)

    /// A driver's job is numbered by its node and its index among the node's drivers; `driver(of:)`
    /// inverts it (the raylets send a job's worker output there).
    static func job(ofDriver driver: WorkerID) -> JobID {
        JobID(driver.node.value << 16 | (driver.index - driverIndexBase))
    }

    static func driver(of job: JobID) -> WorkerID {
        WorkerID(node: NodeID(job.value >> 16), index: driverIndexBase + (job.value & 0xFFFF))
    }

    // MARK: - Control

    private func control(_ request: ControlRequest) -> ControlReply {
        switch request {
        case .workerPID(let worker):
            return .workerPID(processes[worker].map(\.pid))
        case .view:
            return .view(raylet.viewNodeIDs)
        case .idleWorkers:
            return .idleWorkers(raylet.workers.values.filter { $0 == .idle }.count)
        case .quiescence:
            if raylet.isQuiescent { return .quiescence(held: nil) }
            return .quiescence(held: "\(raylet.store.objectCount) objects, \(raylet.leases.count) leases, "
                + "\(raylet.queuedLeaseCount) queued, available \(raylet.available) of \(raylet.info.resources)")
        case .metrics:
            let metrics = raylet.metrics
            var counters = ControlMetrics()
            counters.spilled = metrics.objectsSpilled
            counters.restored = metrics.objectsRestored
            counters.spillbacks = metrics.spillbacks
            counters.evicted = metrics.objectsEvicted
            counters.pulled = metrics.objectsPulled
            counters.leases = metrics.leasesGranted
            counters.askedBack = metrics.leasesAskedBack
            return .metrics(counters)
        case .nodeStatus:
            let store = raylet.store
            return .nodeStatus(ControlNodeStatus(
                node: nodeID, name: options.name, resources: raylet.info.resources, available: raylet.available,
                usedBytes: store.usedBytes, capacityBytes: store.capacityBytes, objectCount: store.objectCount,
                spilledBytes: store.spilledBytes, workers: raylet.workers.count, leases: raylet.leases.count,
                queued: raylet.queuedLeaseCount, authRefusals: AuthCounters.refused,
                limitRefusals: AuthCounters.overLimit, leasesAskedBack: raylet.metrics.leasesAskedBack,
                throttled: RateLimitCounters.throttled, cpuShares: cpuSharesStatus,
                forged: raylet.metrics.forgedMessages, storesRefused: raylet.metrics.storesRefused,
                storesOverSoftQuota: raylet.metrics.storesOverSoftQuota,
                leaseRequestsDelayed: raylet.metrics.leaseRequestsDelayed,
                leaseRequestsRefused: raylet.metrics.leaseRequestsRefused,
                objectRequestsDelayed: raylet.metrics.objectRequestsDelayed,
                objectRequestsRefused: raylet.metrics.objectRequestsRefused, storesGivenUp: perJob.givenUp,
                copiesOnDisk: perJob.copiesOnDisk))
        case .refusals:
            var counts = ControlRefusals()
            counts.unauthenticated = AuthCounters.refused
            counts.overLimit = AuthCounters.overLimit
            counts.throttled = RateLimitCounters.throttled
            return .refusals(counts)
        case .listObjects:
            return .objects(node: nodeID, raylet.store.entries.keys.sorted().map { id in
                let entry = raylet.store.entries[id]!
                return ControlStoredObject(object: id, sizeBytes: entry.data.sizeBytes, owner: entry.owner,
                                           primary: entry.primary, spilled: !entry.inMemory, pins: entry.pins)
            })
        default:
            return .notServed(request, by: "a raylet", serves: [.nodeStatus, .listObjects, .listTasks, .view,
                                                                .idleWorkers, .quiescence, .metrics, .refusals,
                                                                .workerPID(WorkerID(node: nodeID, index: 0))])
        }
    }
}
