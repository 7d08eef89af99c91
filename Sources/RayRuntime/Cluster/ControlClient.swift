// A blocking client for the control requests the GCS, raylets and drivers
// answer (`swiftray status`, `swiftray list`, `swiftray up`): typed requests and
// replies (Control.swift). Plain sockets: the CLI has no loop. Each request
// authenticates first with the cluster's secret (Auth.swift).

import Foundation
import Glibc

/// Sends one control request to a SwiftRay process and returns its reply.
public enum ControlClient {
    /// Asks the GCS at `host:port`.
    /// `secret`: the cluster's (default: the environment's, else a local node's of that cluster).
    /// `tls`: the cluster's TLS material (default: the environment's, else a local node's of that cluster).
    public static func ask(gcs address: String, _ command: ControlRequest, secret: ClusterSecret? = nil,
                           tls: TLSContext? = nil, timeoutSeconds: Double = 5) throws(RuntimeError) -> ControlReply {
        let secret = if let secret { secret } else { try ClusterSecret.forGCS(address) }
        let tls = if let tls { tls } else { try TLSContext.forGCS(address) }
        return try ask(tcp: address, command, secret: secret, tls: tls,
                timeoutSeconds: timeoutSeconds, peer: "GCS",
                hint: "is the cluster running? `swiftray start --head` starts one")
    }

    /// Asks the raylet listening at `host:port` (another host's node, say).
    public static func ask(raylet address: String, _ command: ControlRequest, secret: ClusterSecret,
                           tls: TLSContext? = nil, timeoutSeconds: Double = 5) throws(RuntimeError) -> ControlReply {
        let tls = if let tls { tls } else { try TLSContext.fromEnvironment() }
        return try ask(tcp: address, command, secret: secret, tls: tls, timeoutSeconds: timeoutSeconds, peer: "raylet",
                hint: "has the node died since the GCS listed it? `swiftray status` shows the nodes")
    }

    private static func ask(tcp address: String, _ command: ControlRequest, secret: ClusterSecret, tls: TLSContext?,
                            timeoutSeconds: Double, peer: String,
                            hint: String) throws(RuntimeError) -> ControlReply {
        let (host, port) = try parseAddress(address)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RuntimeError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            throw RuntimeError("no \(peer) answers at \(host):\(port) (\(String(cString: strerror(errno)))); \(hint)")
        }
        let name = "the \(peer) at \(host):\(port)"
        setReceiveTimeout(fd, timeoutSeconds)
        let channel = Channel(fd: fd, tls: try tls.map { context throws(RuntimeError) in try BlockingTLS(context, fd: fd, peer: name) })
        return try exchange(channel, command, secret: secret, timeoutSeconds: timeoutSeconds, peer: name)
    }

    /// Asks the process (raylet or driver) listening on the Unix socket `path`.
    /// `secret`: the cluster's (default: the environment's, else the socket's session's).
    public static func ask(rayletSocket path: String, _ command: ControlRequest, secret: ClusterSecret? = nil,
                           timeoutSeconds: Double = 5) throws(RuntimeError) -> ControlReply {
        let secret = if let secret { secret } else { try ClusterSecret.forSocket(path) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RuntimeError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw RuntimeError("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw RuntimeError("no raylet answers at \(path) (\(String(cString: strerror(errno))))")
        }
        return try exchange(Channel(fd: fd, tls: nil), command, secret: secret, timeoutSeconds: timeoutSeconds,
                            peer: "the raylet at \(path)")
    }

    /// Runs the challenge–response on the connected socket `fd` (as its initiator), with a
    /// receive timeout of `timeoutSeconds`; returns the reader holding what came after it.
    public static func authenticate(_ fd: Int32, secret: ClusterSecret, timeoutSeconds: Double = 5,
                                    peer: String) throws(RuntimeError) -> FrameReader {
        try authenticate(Channel(fd: fd, tls: nil), secret: secret, timeoutSeconds: timeoutSeconds, peer: peer)
    }

    static func setReceiveTimeout(_ fd: Int32, _ seconds: Double) {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A connected blocking socket, plain or under TLS.
    struct Channel {
        let fd: Int32
        let tls: BlockingTLS?

        func send(_ bytes: [UInt8], peer: String) throws(RuntimeError) {
            if let tls {
                guard tls.send(bytes) else { throw RuntimeError("cannot send to \(peer) over TLS") }
                return
            }
            try sendAll(fd, bytes, peer: peer)
        }

        /// Bytes received (0: closed, < 0: failed or timed out).
        func receive(_ buffer: inout [UInt8]) -> Int {
            buffer.withUnsafeMutableBytes { raw in
                if let tls { return tls.receive(into: raw) }
                return recv(fd, raw.baseAddress, raw.count, 0)
            }
        }
    }

    private static func authenticate(_ channel: Channel, secret: ClusterSecret, timeoutSeconds: Double,
                                     peer: String) throws(RuntimeError) -> FrameReader {
        setReceiveTimeout(channel.fd, timeoutSeconds)
        // The acceptor's challenge comes first; the answer is this side's challenge and proof.
        var handshake = Handshake(secret: secret, initiator: true)
        if let tls = channel.tls {
            guard let binding = tls.channelBinding else { throw RuntimeError("TLS with \(peer) gave no channel binding") }
            handshake.channelBinding = binding
        }
        var reader = FrameReader(maxBodyBytes: 64 << 20)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            while let frame = try nextFrame(&reader, peer: peer) {
                do {
                    switch try handshake.receive(frame) {
                    case .send(let proof): try channel.send(proof, peer: peer)
                    case .authenticated: return reader
                    }
                } catch {
                    throw RuntimeError("\(peer): \(error)")
                }
            }
            let count = channel.receive(&buffer)
            guard count > 0 else {
                throw RuntimeError(count == 0 ? "\(peer) closed the connection during authentication"
                    : "\(peer) did not authenticate within \(timeoutSeconds) s")
            }
            buffer.withUnsafeBytes { reader.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    /// A client's hello followed by `count` copies of `request`, encoded (for load tools such as
    /// `swiftray-attack`, which send them on a connection they authenticated themselves).
    public static func clientFrames(_ request: ControlRequest, count: Int) -> [UInt8] {
        var bytes = Wire.helloFrame(Hello(role: .client))
        let one = Wire.controlFrame(request)
        for _ in 0..<count { bytes += one }
        return bytes
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8], peer: String) throws(RuntimeError) {
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw RuntimeError("cannot send to \(peer): \(String(cString: strerror(errno)))")
        }
    }

    private static func exchange(_ channel: Channel, _ command: ControlRequest, secret: ClusterSecret,
                                 timeoutSeconds: Double, peer: String) throws(RuntimeError) -> ControlReply {
        var reader = try authenticate(channel, secret: secret, timeoutSeconds: timeoutSeconds, peer: peer)
        try channel.send(Wire.helloFrame(Hello(role: .client)) + Wire.controlFrame(command), peer: peer)
        var helloSeen = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            while let frame = try nextFrame(&reader, peer: peer) {
                if !helloSeen {
                    do {
                        _ = try Wire.decodeHello(frame)
                    } catch {
                        throw RuntimeError("\(peer) answered: \(frame.kind == FrameKind.error.rawValue ? frame.text : "\(error)")")
                    }
                    helloSeen = true
                    continue
                }
                switch FrameKind(rawValue: frame.kind) {
                case .controlReply:
                    do {
                        return try frame.controlReply()
                    } catch {
                        throw RuntimeError("\(peer) answered with \(error)")
                    }
                case .error: throw RuntimeError("\(peer) refused: \(frame.text)")
                default: continue
                }
            }
            let count = channel.receive(&buffer)
            guard count > 0 else {
                throw RuntimeError(count == 0 ? "\(peer) closed the connection without answering"
                    : "no answer from \(peer) within \(timeoutSeconds) s")
            }
            buffer.withUnsafeBytes { reader.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    private static func nextFrame(_ reader: inout FrameReader, peer: String) throws(RuntimeError) -> Frame? {
        do {
            return try reader.next()
        } catch {
            throw RuntimeError("\(peer) sent a malformed frame: \(error)")
        }
    }
}
