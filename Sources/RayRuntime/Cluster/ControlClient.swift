// A blocking client for the control requests the GCS, raylets and drivers
// answer (`swiftray status`, `swiftray list`, `swiftray up`): typed requests and
// replies (Control.swift). Plain sockets: the CLI has no loop.

import Foundation
import Glibc

/// Sends one control request to a SwiftRay process and returns its reply.
public enum ControlClient {
    /// Asks the GCS at `host:port`.
    public static func ask(gcs address: String, _ command: ControlRequest, timeoutSeconds: Double = 5) throws(RuntimeError) -> ControlReply {
        try ask(tcp: address, command, timeoutSeconds: timeoutSeconds, peer: "GCS",
                hint: "is the cluster running? `swiftray start --head` starts one")
    }

    /// Asks the raylet listening at `host:port` (another host's node, say).
    public static func ask(raylet address: String, _ command: ControlRequest, timeoutSeconds: Double = 5) throws(RuntimeError) -> ControlReply {
        try ask(tcp: address, command, timeoutSeconds: timeoutSeconds, peer: "raylet",
                hint: "has the node died since the GCS listed it? `swiftray status` shows the nodes")
    }

    private static func ask(tcp address: String, _ command: ControlRequest, timeoutSeconds: Double, peer: String,
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
        return try exchange(fd, command, timeoutSeconds: timeoutSeconds, peer: "the \(peer) at \(host):\(port)")
    }

    /// Asks the process (raylet or driver) listening on the Unix socket `path`.
    public static func ask(rayletSocket path: String, _ command: ControlRequest, timeoutSeconds: Double = 5) throws(RuntimeError) -> ControlReply {
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
        return try exchange(fd, command, timeoutSeconds: timeoutSeconds, peer: "the raylet at \(path)")
    }

    private static func exchange(_ fd: Int32, _ command: ControlRequest, timeoutSeconds: Double,
                                 peer: String) throws(RuntimeError) -> ControlReply {
        var timeout = timeval(tv_sec: Int(timeoutSeconds), tv_usec: Int((timeoutSeconds - timeoutSeconds.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Wire.helloFrame(Hello(role: .client)) + Wire.controlFrame(command)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw RuntimeError("cannot send to \(peer): \(String(cString: strerror(errno)))")
        }
        var reader = FrameReader(maxBodyBytes: 64 << 20)
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
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
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
