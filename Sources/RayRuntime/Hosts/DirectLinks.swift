// Direct links between processes on one node: an owner and the workers it
// leased talk over their own Unix sockets instead of through the raylet, as
// Ray's owners talk to leased workers directly. Every driver and worker
// listens on `<session>/sockets/w-<node>-<index>.sock`; a link is opened on
// the first message and kept. Frames to one peer always take the same link,
// so they stay in order. A link that closes means its peer died.
//
// A link authenticates with the job's credential (Auth.swift): a worker holds only its
// job's, so it accepts links from its own job's processes (and its drivers, who derive
// it). A link a peer of another job refuses is not a death: what was queued on it, and
// everything after, goes to that peer through the raylet.

import Glibc
import RayCore

/// One process's direct links to others on its node.
final class DirectLinks: ConnectionDelegate {
    let loop: EventLoop
    let me: WorkerID
    let directory: String
    let role: Hello.Role
    private var listener: Listener?
    private var links: [WorkerID: Connection] = [:]
    private var pending: [WorkerID: [UInt8]] = [:]
    private var connecting: Set<WorkerID> = []
    private var lost: Set<WorkerID> = []
    /// Peers of another job, which refused a link: reached through the raylet.
    private var viaRaylet: Set<WorkerID> = []
    /// The credential this process opens links with (its job's); nil: the loop's.
    var credential: ClusterSecret?
    /// The hello this process opens its links with.
    private var linkHello: [UInt8] {
        var hello = Hello(role: role)
        hello.worker = me
        return Wire.helloFrame(hello)
    }
    /// Sends encoded message frames through the raylet (to a peer that refused a link).
    var throughRaylet: ([UInt8]) -> Void = { _ in }
    /// A message frame arrived from a peer.
    var deliver: (Frame) -> Void = { _ in }
    /// The link to a peer closed, or could not be opened: the peer is gone.
    var peerGone: (WorkerID) -> Void = { _ in }
    /// Answers a control command from the `swiftray` CLI (a driver lists its tasks).
    var control: (ControlRequest) -> ControlReply = { .error(request: "\($0)", message: "not served here") }

    static func socketPath(directory: String, worker: WorkerID) -> String {
        "\(directory)/w-\(worker.node.value)-\(worker.index).sock"
    }

    /// Listens on this process's socket; nil if the path would be too long for a Unix socket.
    init?(loop: EventLoop, me: WorkerID, role: Hello.Role, session: String?) {
        guard let session else { return nil }
        self.loop = loop
        self.me = me
        self.role = role
        directory = session + "/sockets"
        let path = Self.socketPath(directory: directory, worker: me)
        guard path.utf8.count < 100 else { return nil }
        do {
            listener = try Listener.unix(loop: loop, path: path) { [unowned self] connection in
                connection.delegate = self
                connection.label = "direct link"
                connection.startReading()
            }
        } catch {
            note("\(role.rawValue)", "no direct links (\(error)); messages go through the raylet")
            return nil
        }
    }

    /// True when `address` is another process on this node.
    func reaches(_ address: Address) -> Bool {
        guard case .worker(let worker) = address else { return false }
        return worker.node == me.node && worker != me && !viaRaylet.contains(worker)
    }

    /// Sends `message` to the local process `to`.
    func send(_ message: Message, to worker: WorkerID) throws(WireError) {
        if let link = links[worker], !link.isClosed {
            try link.send(message, from: .worker(me), to: .worker(worker))
            return
        }
        if lost.contains(worker) { return }
        try Wire.appendMessage(message, from: .worker(me), to: .worker(worker), into: &pending[worker, default: []])
        open(worker)
    }

    private func open(_ worker: WorkerID) {
        guard !connecting.contains(worker) else { return }
        connecting.insert(worker)
        let path = Self.socketPath(directory: directory, worker: worker)
        Connector.unix(loop: loop, path: path, label: "direct link to \(worker)", credential: credential) {
            [unowned self] result in
            connecting.remove(worker)
            switch result {
            case .success(let connection):
                connection.delegate = self
                connection.initiatedHere = true
                connection.send(linkHello)
                adopt(connection, for: worker)
            case .failure:
                gone(worker)
            }
        }
    }

    /// Makes `connection` the link to `worker` unless an open one exists; flushes what waited.
    private func adopt(_ connection: Connection, for worker: WorkerID) {
        if let existing = links[worker], !existing.isClosed { return }
        links[worker] = connection
        if let queued = pending.removeValue(forKey: worker) { connection.send(queued) }
    }

    private func gone(_ worker: WorkerID) {
        pending[worker] = nil
        guard lost.insert(worker).inserted else { return }
        links[worker] = nil
        peerGone(worker)
    }

    /// Closes every link (the process is going away).
    func closeAll() {
        for link in links.values { link.close(reason: nil) }
        links = [:]
    }

    func connection(_ connection: Connection, received frame: Frame) {
        if connection.peer == nil {
            do {
                let hello = try Wire.decodeHello(frame)
                if hello.role == .client {
                    // The CLI asking this process about itself (not another job's worker).
                    guard connection.peerMay(.driver) else {
                        connection.refuseRole("ask a process about its tasks", needs: .driver, noting: role.rawValue)
                        return
                    }
                    connection.peer = hello
                    connection.label = "client"
                    var ack = Hello(role: role)
                    ack.worker = me
                    connection.send(Wire.helloFrame(ack))
                    return
                }
                guard let worker = hello.worker, worker.node == me.node else {
                    throw WireError("a direct link's hello must name a process on this node")
                }
                connection.peer = hello
                connection.label = "direct link to \(worker)"
                if !connection.initiatedHere {
                    var ack = Hello(role: role)
                    ack.worker = me
                    connection.send(Wire.helloFrame(ack))
                    adopt(connection, for: worker)
                }
            } catch {
                connection.refuse("\(error)")
            }
            return
        }
        if connection.peer?.role == .client {
            guard frame.kind == FrameKind.control.rawValue else {
                connection.refuse("a client sends control frames only")
                return
            }
            do {
                connection.send(Wire.controlReplyFrame(control(try frame.controlRequest())))
            } catch {
                connection.refuse("\(error)")
            }
            return
        }
        guard frame.kind == FrameKind.message.rawValue else {
            if frame.kind == FrameKind.error.rawValue { note(role.rawValue, "\(connection.label): \(frame.text)") }
            return
        }
        deliver(frame)
    }

    func connectionClosed(_ connection: Connection, reason: String?) {
        if connection.peer?.role == .client { return }
        guard let worker = connection.peer?.worker ?? links.first(where: { $0.value === connection })?.key else { return }
        if connection.refusedByPeer && connection.initiatedHere && links[worker] === connection {
            // A process of another job: not a death. What waited goes through the raylet, in order.
            links[worker] = nil
            viaRaylet.insert(worker)
            // The link's own hello went first; the raylet gets only the messages.
            var unsent = connection.takeUnsent()
            let hello = linkHello.count
            unsent = unsent.count >= hello && Array(unsent[0..<hello]) == linkHello ? Array(unsent[hello...]) : unsent
            unsent += pending.removeValue(forKey: worker) ?? []
            if !unsent.isEmpty { throughRaylet(unsent) }
            return
        }
        if links[worker] === connection || links[worker] == nil { gone(worker) }
    }
}
