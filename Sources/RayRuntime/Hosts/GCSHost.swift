// The GCS process: the `GCS` machine on a libuv loop. Raylets connect over
// TCP; drivers reach it through their raylet. Every input is logged; on a
// restart the log is replayed into a fresh machine (effects of replayed
// inputs already happened and are dropped), then `recovered` restarts its
// timers and the raylets re-register when they reconnect.

import Glibc
public import RayCore
import RayWire
import RayStorage

/// Hosts the GCS machine.
public final class GCSHost: ConnectionDelegate {
    let loop: EventLoop
    let log: HostLog
    /// Where large KV values live (GCSHost+Blobs.swift); nil without a log directory.
    let blobDirectory: String?
    let session: String?
    let gcs = ComponentDriver<GCS>()
    var config: RayConfig
    var listener: Listener?
    var raylets: [NodeID: Connection] = [:]
    var directory: [NodeID: Directory.Entry] = [:]
    /// The raylet whose join the machine is answering (`nodeJoining` → `admitNode`/`refuseNode`).
    private var joining: (connection: Connection, hello: Hello, ack: Hello, host: String, port: Int)?
    /// Inputs replayed from the log at start (0 for a fresh cluster).
    public private(set) var replayedInputs = 0

    /// Opens the log, replays it if it holds a previous incarnation, and listens.
    public init(loop: EventLoop, host: String, port: Int, config: RayConfig, logDirectory: String?,
                session: String?) throws(RuntimeError) {
        self.loop = loop
        self.config = config
        self.session = session
        log = try HostLog(directory: logDirectory, component: "gcs", loop: loop)
        blobDirectory = logDirectory.map { $0 + "/blobs" }
        let log = self.log
        gcs.attach(loop: loop, log: { log }, role: "gcs")
        gcs.perform = { [unowned(unsafe) self] effect in  // The host owns its driver.
            switch effect {
            case .send(let to, let message): send(message, to: to)
            case .startTimer: break  // Armed by the driver.
            case .admitNode(let node): admitted(node)
            case .refuseNode(let reason):
                joining?.connection.refuse(reason)
                joining = nil
            }
        }
        try replayOrStart()
        listener = try Listener.tcp(loop: loop, host: host, port: port) { [unowned self] connection in
            connection.delegate = self
            connection.label = "unidentified peer"
            connection.startReading()
        }
    }

    /// The TCP port the GCS listens on.
    public var port: Int { listener?.port ?? 0 }

    private func replayOrStart() throws(RuntimeError) {
        guard let stored = log.log, stored.committedCount > 0 else {
            handle(.started(config))
            return
        }
        var inputs: [(GCSInput, Int64)] = []
        do {
            try stored.forEach { sequence, bytes in
                guard let input = try? LogRecord.decode(GCSInput.self, bytes) else { return false }
                inputs.append(input)
                return true
            }
            replayedInputs = inputs.count
            // With their logged times; their effects happened before the restart, not again.
            let observe = gcs.observe
            gcs.observe = nil
            gcs.replay(inputs)
            gcs.observe = observe
        } catch {
            throw RuntimeError("cannot replay the GCS log: \(error); move the session's logs/gcs aside to start afresh")
        }
        guard UInt64(replayedInputs) == stored.committedCount else {
            throw RuntimeError("the GCS log record \(replayedInputs + 1) cannot be decoded (written by another "
                + "SwiftRay version?); move the session's logs/gcs aside to start afresh")
        }
        config = gcs.config
        note("gcs", "recovered from its log: \(replayedInputs) inputs, \(gcs.aliveNodeIDs.count) nodes alive")
        handle(.recovered)
    }

    // MARK: - The machine

    func handle(_ input: GCSInput) {
        gcs.submit(input)
    }

    private func send(_ message: Message, to: Address) {
        // Drivers and workers are reached through their node's raylet.
        guard let node = to.node, let connection = raylets[node] else { return }
        do {
            try connection.send(internalizingBlobs(message), from: .gcs, to: to)
        } catch {
            note("gcs", "cannot encode a message to \(to): \(error)")
        }
    }

    // MARK: - Connections

    public func connection(_ connection: Connection, received frame: Frame) {
        guard let peer = connection.peer else {
            hello(connection, frame)
            return
        }
        do {
            let kind = FrameKind(rawValue: frame.kind)
            // A client (the CLI) only asks; messages and closed links come from raylets.
            if peer.role != .raylet && (kind == .message || kind == .peerClosed) {
                throw WireError("a \(peer.role.rawValue) may not send \(kind!) frames to the GCS")
            }
            switch kind {
            case .message:
                let (from, to) = try frame.addresses()
                guard to == .gcs else { return }
                // A raylet speaks for its own node: itself, or a process it started or serves.
                if peer.role == .raylet, let node = peer.node, from.node != node {
                    throw WireError("the raylet of \(node) sent a message as \(from)")
                }
                handle(.messageReceived(from: from, externalizingBlobs(try frame.message())))
            case .peerClosed:
                let (observer, closedPeer) = try frame.addresses()
                if observer == .gcs { handle(.peerDisconnected(closedPeer)) }
            case .control:
                connection.sendControlReply(Wire.controlReplyFrame(control(try frame.controlRequest())))
            case .error:
                note("gcs", "\(connection.label) reported: \(frame.text)")
            default:
                throw WireError("unexpected frame kind \(frame.kind) from a \(peer.role.rawValue)")
            }
        } catch {
            connection.refuse("\(error)", noting: "gcs")
        }
    }

    private func hello(_ connection: Connection, _ frame: Frame) {
        guard let hello = connection.acceptHello(frame, noting: "gcs") else { return }
        var ack = Hello(role: .gcs)
        ack.config = config
        ack.session = session
        switch hello.role {
        case .raylet:
            guard connection.peerMay(.node) else {
                connection.refuseRole("register a node", needs: .node, noting: "gcs")
                return
            }
            guard let host = hello.host, let port = hello.port else {
                connection.refuse("a raylet's hello must name the host and port it listens on")
                return
            }
            // The machine decides which node this is (or refuses a dead one).
            joining = (connection, hello, ack, host, port)
            handle(.nodeJoining(known: hello.node))
        case .client:
            guard connection.peerMay(.driver) else {
                connection.refuseRole("ask the GCS about the cluster", needs: .driver, noting: "gcs")
                return
            }
            connection.peer = hello
            connection.label = "client"
            connection.send(Wire.helloFrame(ack))
        default:
            connection.refuse("the GCS accepts raylets and clients; a \(hello.role.rawValue) connects to its raylet")
        }
    }

    /// The machine admitted the joining raylet as `node`: finish its hello.
    private func admitted(_ node: NodeID) {
        guard let (connection, hello, ack, host, port) = joining else { return }
        joining = nil
        var answer = ack
        raylets[node]?.close(reason: "replaced by a new connection from the same node")
        raylets[node] = connection
        connection.label = "raylet \(node)"
        answer.node = node
        directory[node] = Directory.Entry(node: node, host: host, port: port, name: hello.name ?? "\(node)")
        connection.peer = hello
        connection.send(Wire.helloFrame(answer))
        broadcastDirectory()
    }

    public func connectionClosed(_ connection: Connection, reason: String?) {
        guard let peer = connection.peer, peer.role == .raylet else { return }
        guard let (node, _) = raylets.first(where: { $0.value === connection }) else { return }
        raylets[node] = nil
        directory[node] = nil
        note("gcs", "lost the connection to raylet \(node)\(reason.map { ": " + $0 } ?? "")")
        handle(.peerDisconnected(.raylet(node)))
        broadcastDirectory()
    }

    private func broadcastDirectory() {
        let entries = directory.keys.sorted().compactMap { directory[$0] }
        let frame = Wire.directoryFrame(Directory(entries: entries, executable: nil))
        for node in raylets.keys.sorted() { raylets[node]?.send(frame) }
    }

    // MARK: - Control (the swiftray CLI)

    private func control(_ request: ControlRequest) -> ControlReply {
        switch request {
        case .clusterStatus:
            let nodes = gcs.nodeOrder.compactMap { id -> ControlNodeEntry? in
                guard let entry = gcs.nodes[id] else { return nil }
                return ControlNodeEntry(node: id, name: entry.info.name, alive: entry.state == .alive,
                                        connected: raylets[id] != nil,
                                        address: directory[id].map { "\($0.host):\($0.port)" },
                                        resources: entry.info.resources, available: entry.available,
                                        storeBytes: entry.info.objectStoreBytes)
            }
            let jobs = gcs.jobs.keys.sorted().map { job in
                let entry = gcs.jobs[job]!
                return ControlJobEntry(job: job, driver: entry.driver, state: entry.state.rawValue,
                                       end: entry.end.map(describeJobEnd),
                                       ranMicros: (entry.endedAt ?? loop.nowMicros) - entry.startedAt)
            }
            let actors = gcs.actorOrder.compactMap { id -> ControlActorEntry? in
                guard let entry = gcs.actors[id] else { return nil }
                return ControlActorEntry(actor: id, name: entry.spec.displayName, state: entry.state.rawValue,
                                         node: entry.node ?? entry.worker?.node, restarts: entry.restarts,
                                         cause: entry.cause, registeredName: entry.spec.options.name,
                                         namespace: entry.spec.options.namespace, detached: entry.spec.options.detached)
            }
            let groups = gcs.placementGroupOrder.compactMap { id -> ControlPlacementGroupEntry? in
                guard let entry = gcs.placementGroups[id] else { return nil }
                return ControlPlacementGroupEntry(id: id, name: entry.spec.name, strategy: entry.spec.strategy.rawValue,
                                                  state: entry.state.rawValue, bundles: entry.spec.bundles,
                                                  nodes: entry.nodes, cause: entry.cause,
                                                  detached: entry.spec.detached, owner: entry.spec.owner)
            }
            return .cluster(nodes: nodes, jobs: jobs, actors: actors, placementGroups: groups)
        case .raylets:
            return .raylets(directory.keys.sorted().compactMap { directory[$0] })
        case .ping:
            return .pong
        case .refusals:
            var counts = ControlRefusals()
            counts.unauthenticated = AuthCounters.refused
            counts.overLimit = AuthCounters.overLimit
            counts.throttled = RateLimitCounters.throttled
            counts.actorsOverQuota = gcs.quota.actorsRefused
            counts.actorsOverSoftQuota = gcs.quota.actorsOverSoft
            counts.actorsDelayed = gcs.quota.actorsDelayed
            counts.groupsOverQuota = gcs.quota.groupsRefused
            counts.groupsOverSoftQuota = gcs.quota.groupsOverSoft
            counts.forged = gcs.quota.forgedMessages
            counts.earlySubscriptionsRefused = gcs.quota.earlySubscriptionsRefused
            counts.groupsDelayed = gcs.quota.groupsDelayed
            return .refusals(counts)
        default:
            return .notServed(request, by: "the GCS", serves: [.clusterStatus, .raylets, .ping, .refusals])
        }
    }
}

/// A job's end in words, with a signal's name ("killed by signal 15 (Terminated)").
func describeJobEnd(_ end: String) -> String {
    guard end.hasPrefix("killed by signal "), let number = Int32(end.dropFirst("killed by signal ".count)) else { return end }
    return "\(end) (\(String(cString: strsignal(number))))"
}
