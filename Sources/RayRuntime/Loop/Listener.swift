// Listening sockets (TCP and Unix domain) and outgoing connects.

import CLibUV
import Glibc
public import RayCore

/// A listening socket; every accepted connection goes to `accepted`.
public final class Listener {
    let loop: EventLoop
    let kind: Connection.Kind
    let handle: UnsafeMutableRawPointer
    var accepted: (Connection) -> Void
    /// The bound TCP port (0 for a Unix socket).
    public private(set) var port: Int = 0
    public let path: String?

    private init(loop: EventLoop, kind: Connection.Kind, path: String?, accepted: @escaping (Connection) -> Void) {
        self.loop = loop
        self.kind = kind
        self.path = path
        self.accepted = accepted
        handle = .allocate(byteCount: max(MemoryLayout<uv_tcp_t>.size, MemoryLayout<uv_pipe_t>.size), alignment: 16)
    }

    private var stream: UnsafeMutablePointer<uv_stream_t> { handle.assumingMemoryBound(to: uv_stream_t.self) }

    /// Listens on TCP `host:port` (port 0 picks a free one).
    public static func tcp(loop: EventLoop, host: String, port: Int,
                           accepted: @escaping (Connection) -> Void) throws(RuntimeError) -> Listener {
        let listener = Listener(loop: loop, kind: .tcp, path: nil, accepted: accepted)
        let tcp = OpaquePointer(listener.handle).assumingTCP
        uv_tcp_init(loop.raw, tcp)
        var address = sockaddr_in()
        var status = uv_ip4_addr(host, Int32(port), &address)
        guard status == 0 else { throw RuntimeError("bad listen address \(host):\(port): \(uvError(status))") }
        status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_bind(tcp, $0, 0) }
        }
        guard status == 0 else {
            throw RuntimeError("cannot listen on \(host):\(port): \(uvError(status)); pick another port with --port")
        }
        try listener.listen("\(host):\(port)")
        var bound = sockaddr_in()
        var length = Int32(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getsockname(tcp, $0, &length) }
        }
        listener.port = Int(UInt16(bigEndian: bound.sin_port))
        return listener
    }

    /// Listens on the Unix domain socket `path` (replacing a stale socket file).
    public static func unix(loop: EventLoop, path: String,
                            accepted: @escaping (Connection) -> Void) throws(RuntimeError) -> Listener {
        let listener = Listener(loop: loop, kind: .pipe, path: path, accepted: accepted)
        let pipe = OpaquePointer(listener.handle).assumingPipe
        uv_pipe_init(loop.raw, pipe, 0)
        unlink(path)
        let status = uv_pipe_bind(pipe, path)
        guard status == 0 else { throw RuntimeError("cannot listen on the socket \(path): \(uvError(status))") }
        // The group may connect too (workers running as another user share the sockets
        // directory's group; every connection authenticates before anything else).
        setSocketPermissions(path)
        try listener.listen(path)
        return listener
    }

    private func listen(_ what: String) throws(RuntimeError) {
        stream.pointee.data = Unmanaged.passRetained(self).toOpaque()
        let status = uv_listen(stream, 128) { server, status in
            guard let server, let data = server.pointee.data, status == 0 else { return }
            Unmanaged<Listener>.fromOpaque(data).takeUnretainedValue().accept()
        }
        guard status == 0 else { throw RuntimeError("cannot listen on \(what): \(uvError(status))") }
    }

    /// At most this many connections at once on one listener (SWIFTRAY_MAX_CONNECTIONS).
    public static let maxConnections = Int(environment("SWIFTRAY_MAX_CONNECTIONS") ?? "") ?? 4096
    /// At most this many at once from one TCP source address (SWIFTRAY_MAX_CONNECTIONS_PER_SOURCE).
    public static let maxConnectionsPerSource = Int(environment("SWIFTRAY_MAX_CONNECTIONS_PER_SOURCE") ?? "") ?? 1024
    /// The frame rate each accepted connection's peer may send (SWIFTRAY_RATE_LIMIT,
    /// SWIFTRAY_RATE_BURST; a GCS or raylet refuses to start with a malformed value).
    public static let rateLimit = (try? RateLimit.fromEnvironment()) ?? RateLimit(perSecond: 200_000, burst: 200_000)
    /// Connections accepted here and not closed yet, in total and per TCP source address.
    private var live = 0
    private var liveBySource: [String: Int] = [:]

    private func accept() {
        let connection = Connection(loop: loop, kind: kind, label: kind == .tcp ? "tcp peer" : "local peer")
        guard uv_accept(stream, connection.stream) == 0 else {
            connection.close(reason: "accept failed")
            return
        }
        let source = kind == .tcp ? connection.peerHost : nil
        if kind == .tcp, let source { connection.label = "tcp peer \(source)" }
        if live >= Self.maxConnections {
            refuseOverLimit(connection, "this process already holds \(live) connections, its limit "
                + "(SWIFTRAY_MAX_CONNECTIONS=\(Self.maxConnections))")
            return
        }
        if let source, liveBySource[source, default: 0] >= Self.maxConnectionsPerSource {
            refuseOverLimit(connection, "\(source) already holds \(liveBySource[source]!) connections, the limit "
                + "per source (SWIFTRAY_MAX_CONNECTIONS_PER_SOURCE=\(Self.maxConnectionsPerSource))")
            return
        }
        live += 1
        if let source { liveBySource[source, default: 0] += 1 }
        connection.rateLimit = Self.rateLimit
        connection.onClose = { [weak self] in
            guard let self else { return }
            live -= 1
            if let source {
                liveBySource[source, default: 1] -= 1
                if liveBySource[source] == 0 { liveBySource.removeValue(forKey: source) }
            }
        }
        accepted(connection)
    }

    private func refuseOverLimit(_ connection: Connection, _ reason: String) {
        AuthCounters.countOverLimit()
        writeStandardError("swiftray: refused \(connection.label) (pid \(getpid())): \(reason)\n")
        connection.refuse("too many connections: \(reason)")
    }
}

/// Opens connections.
public enum Connector {
    /// Connects over TCP; `done` gets the connection (reading, not yet helloed) or an error.
    public static func tcp(loop: EventLoop, host: String, port: Int, label: String,
                           done: @escaping (Result<Connection, RuntimeError>) -> Void) {
        var address = sockaddr_in()
        let status = uv_ip4_addr(host, Int32(port), &address)
        guard status == 0 else {
            done(.failure(RuntimeError("bad address \(host):\(port): \(uvError(status))")))
            return
        }
        let connection = Connection(loop: loop, kind: .tcp, label: label)
        let request = ConnectRequest(connection: connection, target: "\(host):\(port)", done: done)
        let started = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                uv_tcp_connect(request.request, OpaquePointer(connection.stream).assumingTCP, $0) { request, status in
                    ConnectRequest.finished(request, status)
                }
            }
        }
        if started != 0 { request.fail(started) }
    }

    /// Connects to a Unix domain socket, authenticating with `credential` (default: the loop's).
    public static func unix(loop: EventLoop, path: String, label: String, credential: ClusterSecret? = nil,
                            done: @escaping (Result<Connection, RuntimeError>) -> Void) {
        let connection = Connection(loop: loop, kind: .pipe, label: label)
        connection.credential = credential
        let request = ConnectRequest(connection: connection, target: path, done: done)
        uv_pipe_connect(request.request, OpaquePointer(connection.stream).assumingPipe, path) { request, status in
            ConnectRequest.finished(request, status)
        }
    }
}

private final class ConnectRequest {
    let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
    let connection: Connection
    let target: String
    let done: (Result<Connection, RuntimeError>) -> Void

    init(connection: Connection, target: String, done: @escaping (Result<Connection, RuntimeError>) -> Void) {
        self.connection = connection
        self.target = target
        self.done = done
        request.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    static func finished(_ request: UnsafeMutablePointer<uv_connect_t>?, _ status: Int32) {
        guard let request, let data = request.pointee.data else { return }
        let me = Unmanaged<ConnectRequest>.fromOpaque(data).takeRetainedValue()
        if status == 0 {
            me.connection.initiatedHere = true
            me.connection.startReading()
            me.done(.success(me.connection))
        } else {
            me.connection.close(reason: nil)
            me.done(.failure(RuntimeError("cannot connect to \(me.target): \(uvError(status))")))
        }
    }

    func fail(_ status: Int32) {
        Unmanaged<ConnectRequest>.fromOpaque(request.pointee.data).release()
        connection.close(reason: nil)
        done(.failure(RuntimeError("cannot connect to \(target): \(uvError(status))")))
    }

    deinit { request.deallocate() }
}

/// An error of the runtime, with a message that names the cause and the fix.
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// The typed failure it is, when it is one a program may handle (e.g. `objectTooLarge`).
    public var kind: RayErrorKind?
    public init(_ description: String) { self.description = description }
    public init(kind: RayErrorKind, _ description: String) {
        self.description = description
        self.kind = kind
    }
}
