// Bad input at the process boundaries: garbage, oversized frames, another
// protocol version, malformed hellos, impostor workers, a corrupt log, an
// object over the store's capacity. Each gets an error that names the cause,
// and the process keeps serving everyone else.

import Foundation
import Glibc
import Testing

import Ray
import RayCore
@testable import RayRuntime
import RayTestbed

/// Sends `bytes` to `127.0.0.1:port` (or a Unix socket) and returns everything received until the peer
/// closes; with `secret`, after authenticating with it (a failed handshake returns its error as a frame).
func exchangeRaw(port: Int? = nil, unixPath: String? = nil, secret: ClusterSecret? = nil, _ bytes: [UInt8]) -> [UInt8] {
    let fd: Int32
    if let port {
        fd = openTCP(port: port)
    } else {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in Array(unixPath!.utf8).enumerated() { raw[index] = byte }
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
    defer { close(fd) }
    if let secret {
        do {
            _ = try ControlClient.authenticate(fd, secret: secret, peer: "the test's peer")
        } catch {
            return Wire.textFrame(.error, error.description)
        }
    }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { break }
        received.append(contentsOf: buffer[0..<count])
    }
    return received
}

/// The text of the first error frame in `bytes` (after any hello), or "".
func errorText(_ bytes: [UInt8]) -> String {
    var reader = FrameReader(maxBodyBytes: 1 << 20)
    bytes.withUnsafeBytes { reader.append($0) }
    while let frame = try? reader.next() {
        if frame.kind == FrameKind.error.rawValue { return frame.text }
    }
    return ""
}

func helloBytes(version: UInt16, body: [UInt8]) -> [UInt8] {
    var payload: [UInt8] = [FrameKind.hello.rawValue] + Array("SWRY".utf8)
    payload += [UInt8(truncatingIfNeeded: version), UInt8(truncatingIfNeeded: version >> 8)] + body
    let length = UInt32(payload.count)
    return [UInt8(truncatingIfNeeded: length), UInt8(truncatingIfNeeded: length >> 8),
            UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 24)] + payload
}

extension RuntimeTests {
@Suite struct BadInputTests {
    @Test func garbageOversizedFramesAndOtherVersionsAreRefusedWhileServingOthers() throws {
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1000]))

        // An HTTP request is refused at its first bytes.
        let http = errorText(exchangeRaw(port: cluster.gcsPort, Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        #expect(http.contains("not a SwiftRay peer") && http.contains("GET /"), "\(http)")
        // After a good hello: a frame announcing 2 GiB, and a zero-length frame.
        let hello = Wire.helloFrame(Hello(role: .client))
        let oversized = errorText(exchangeRaw(port: cluster.gcsPort, secret: cluster.secret, hello + [0xFF, 0xFF, 0xFF, 0x7F, 2, 0, 0]))
        #expect(oversized.contains("exceeds the limit of \(ConnectionLimits.maxFrameBodyBytes) bytes"), "\(oversized)")
        #expect(errorText(exchangeRaw(port: cluster.gcsPort, secret: cluster.secret, hello + [0, 0, 0, 0])).contains("empty frame"))
        // A frame of an unknown kind.
        let unknown = errorText(exchangeRaw(port: cluster.gcsPort, secret: cluster.secret, hello + [1, 0, 0, 0, 0xEE]))
        #expect(unknown.contains("unexpected frame kind 238"), "\(unknown)")
        // A peer of another protocol version.
        let version = errorText(exchangeRaw(port: cluster.gcsPort, secret: cluster.secret, helloBytes(version: 99, body: [])))
        #expect(version.contains("protocol version 99") && version.contains("same SwiftRay build"), "\(version)")
        // The right magic and version, then garbage.
        let malformed = errorText(exchangeRaw(port: cluster.gcsPort, secret: cluster.secret, helloBytes(version: wireProtocolVersion, body: [0xFF, 0x13])))
        #expect(malformed.contains("malformed hello"), "\(malformed)")
        // A first frame that is not a hello.
        let notHello = errorText(exchangeRaw(port: cluster.gcsPort, Wire.textFrame(.control, "status")))
        #expect(notHello.contains("not a SwiftRay peer"), "\(notHello)")
        // A process claiming to be a worker the raylet never started.
        var impostor = Hello(role: .worker)
        impostor.worker = WorkerID(node: head.id, index: 77)
        let refused = errorText(exchangeRaw(unixPath: head.socketPath, secret: cluster.secret, Wire.helloFrame(impostor)))
        #expect(refused.contains("unknown worker"), "\(refused)")
        // A driver speaking for another process after its hello.
        let driverHello = Wire.helloFrame(Hello(role: .driver))
        var spoof: [UInt8] = []
        try Wire.appendMessage(.kvGet(key: "x"), from: .worker(WorkerID(node: head.id, index: 5)), to: .gcs, into: &spoof)
        let spoofed = errorText(exchangeRaw(unixPath: head.socketPath, secret: cluster.secret, driverHello + spoof))
        #expect(spoofed.contains("sent a message as"), "\(spoofed)")

        // Both processes still serve.
        let status = try ControlClient.ask(gcs: cluster.gcsAddress, .clusterStatus, secret: cluster.secret)
        #expect("\(status)".contains("head alive"))
        guard case .nodeStatus(let node) = try ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus) else {
            Issue.record("the raylet did not answer with its node's status")
            return
        }
        #expect(node.name == "head" && node.resources == ResourceSet(["CPU": 1000]))
        // A request a process does not serve: a typed error naming it and what it serves.
        guard case .error(let request, let message) = try ControlClient.ask(gcs: cluster.gcsAddress, .listObjects, secret: cluster.secret) else {
            Issue.record("the GCS answered a raylet's request")
            return
        }
        #expect(request == "list objects" && message.contains("the GCS does not answer") && message.contains("raylets"))
    }

    @Test func aControlRequestOfANewerBuildIsNamedInTheErrorItGets() throws {
        // Field 15 of ControlRequest, which this build does not know (an empty message).
        var frame: [UInt8] = []
        let start = Wire.begin(.control, in: &frame)
        frame += [15 << 3 | 2, 0]
        Wire.finish(start, in: &frame)
        var reader = FrameReader(maxBodyBytes: 1 << 10)
        frame.withUnsafeBytes { reader.append($0) }
        let request = try #require(try reader.next()).controlRequest()
        #expect(request == .unknown("an unknown request (field 15)"))
        let reply = ControlReply.notServed(request, by: "a raylet", serves: [.nodeStatus])
        let decoded = try #require(try { () throws -> Frame? in
            var replies = FrameReader(maxBodyBytes: 1 << 10)
            Wire.controlReplyFrame(reply).withUnsafeBytes { replies.append($0) }
            return try replies.next()
        }()).controlReply()
        #expect(decoded == reply)
        #expect("\(decoded)" == "error: an unknown request (field 15): a raylet does not answer this request; it answers: node status")
    }

    @Test func aCorruptGCSLogIsRefusedWithAClearError() throws {
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1000]))
        cluster.killGCS()
        // Overwrite the log's data file with garbage.
        let data = cluster.session.logs + "/gcs/data.mdb"
        #expect(FileManager.default.fileExists(atPath: data))
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: data))
        #expect {
            try cluster.startGCS()
        } throws: { error in
            let text = "\(error)"
            return text.contains("log") && text.contains("gcs")
        }
    }

    /// A driver whose local raylet dies has lost its way into the cluster: its calls fail with the
    /// typed `Ray.Error.systemError` (Ray's `RaySystemError`), saying so and what to do — not as a
    /// lost object, and not by hanging.
    @Test func aDriverWhoseRayletDiesGetsASystemError() throws {
        try withCluster([("head", ["CPU": 1])]) { cluster throws in
            #expect(try Testbed.square.remote(4).get(timeout: .seconds(30)) == 16)
            let waiting = try Testbed.sleepThenWhere.remote(60_000)
            cluster.killNode(named: "head")
            for call in ["a get in flight", "a new call"] {
                #expect {
                    if call == "a get in flight" { _ = try waiting.get(timeout: .seconds(30)) }
                    else { _ = try Testbed.square.remote(5).get(timeout: .seconds(30)) }
                } throws: { error in
                    guard case .systemError(let message)? = error as? Ray.Error else { return false }
                    return message.contains("the connection to the local raylet closed")
                        && message.contains("start a new driver")
                }
            }
        }
    }

    @Test func objectsOverTheStoreCapacityTogetherGoToDiskAndComeBack() throws {
        Testbed.register()
        var options = Ray.StartOptions()
        options.executable = testbedPath
        options.objectStoreBytes = 1 << 20
        options.numCPUs = 1
        try Ray.start(options)
        defer { Ray.shutdown() }
        // Each under the capacity (the object size limit), three times it together.
        let values = (0..<4).map { Testbed.blobBytes(seed: 5 + $0, size: 800 << 10) }
        let refs = try values.map { try Ray.put($0) }
        #expect(try Ray.get(refs) == values)
        // Tasks' return values too.
        let returned = try (0..<4).map { try Testbed.blob.remote(10 + $0, 900 << 10) }
        #expect(try Ray.get(returned) == (0..<4).map { Testbed.blobBytes(seed: 10 + $0, size: 900 << 10) })
    }
}
}
