// Cluster authentication: the challenge–response on its own (both sides, a wrong
// secret, a replayed and a reflected handshake), the secret file, and a real cluster
// refusing peers without the secret (counted) while it serves everyone else.

import Foundation
import Glibc
import Testing

import RayCore
@testable import RayRuntime

/// The single frame in `bytes`.
private func frame(_ bytes: [UInt8]) throws -> Frame {
    var reader = FrameReader(maxBodyBytes: 1 << 10)
    bytes.withUnsafeBytes { reader.append($0) }
    return try #require(try reader.next())
}

/// A TCP connection to 127.0.0.1:`port` (the caller closes it).
func openTCP(port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return fd
}

/// What `fd` has to read within 5 s (at most 4 KiB).
private func readSome(_ fd: Int32) -> [UInt8] {
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    return count > 0 ? Array(buffer[0..<count]) : []
}

private func proof(_ step: Handshake.Step) throws -> [UInt8] {
    guard case .send(let bytes) = step else {
        Issue.record("expected frames to send, got \(step)")
        throw WireError("no proof")
    }
    return bytes
}

/// Every frame in `bytes`.
private func frames(_ bytes: [UInt8]) throws -> [Frame] {
    var reader = FrameReader(maxBodyBytes: 1 << 10)
    bytes.withUnsafeBytes { reader.append($0) }
    var out: [Frame] = []
    while let frame = try reader.next() { out.append(frame) }
    return out
}

/// Runs a whole handshake between an initiator holding `mine` and an acceptor holding `theirs`;
/// returns what each side believes the other is, or throws the first side's refusal.
private func handshake(_ mine: ClusterSecret, _ theirs: ClusterSecret) throws -> (acceptorSees: Identity?, initiatorSees: Identity?) {
    var initiator = Handshake(secret: mine, initiator: true)
    var acceptor = Handshake(secret: theirs, initiator: false)
    let answer = try frames(try proof(try initiator.receive(try frame(acceptor.challengeFrame))))
    #expect(answer.count == 2)  // The initiator's challenge and its proof.
    let acceptorProof = try proof(try acceptor.receive(answer[0]))
    #expect(try acceptor.receive(answer[1]) == .authenticated)
    #expect(try initiator.receive(try frame(acceptorProof)) == .authenticated)
    return (acceptor.peerIdentity, initiator.peerIdentity)
}

@Suite struct HandshakeTests {
    @Test func twoSidesHoldingTheSecretAuthenticateEachOther() throws {
        let secret = ClusterSecret.generate()
        let (acceptorSees, initiatorSees) = try handshake(secret, secret)
        #expect(acceptorSees == .admin && initiatorSees == .admin)
    }

    @Test func aWrongSecretFailsOnBothSides() throws {
        var initiator = Handshake(secret: .generate(), initiator: true)
        var acceptor = Handshake(secret: .generate(), initiator: false)
        let answer = try frames(try proof(try initiator.receive(try frame(acceptor.challengeFrame))))
        let acceptorProof = try proof(try acceptor.receive(answer[0]))
        #expect { _ = try acceptor.receive(answer[1]) } throws: { error in
            "\(error)".contains("does not hold this cluster's credentials")
        }
        #expect(throws: WireError.self) { _ = try initiator.receive(try frame(acceptorProof)) }
    }

    @Test func aRecordedHandshakeReplayedLaterFails() throws {
        let secret = ClusterSecret.generate()
        // A peer that held the secret once: its frames are recorded on the wire.
        var honest = Handshake(secret: secret, initiator: true)
        var first = Handshake(secret: secret, initiator: false)
        let recorded = try frames(try proof(try honest.receive(try frame(first.challengeFrame))))
        _ = try first.receive(recorded[0])
        #expect(try first.receive(recorded[1]) == .authenticated)
        // Replayed to a new connection: the acceptor's nonce is new, so the old proof is wrong.
        var later = Handshake(secret: secret, initiator: false)
        _ = try later.receive(recorded[0])
        #expect(throws: WireError.self) { _ = try later.receive(recorded[1]) }
    }

    @Test func aProofReflectedBackOrAnEchoedNonceFails() throws {
        let secret = ClusterSecret.generate()
        var acceptor = Handshake(secret: secret, initiator: false)
        // An attacker sends some challenge, gets the acceptor's proof, and returns it as its own.
        var attacker = Handshake(secret: .generate(), initiator: true)
        let attackerFrames = try frames(try proof(try attacker.receive(try frame(acceptor.challengeFrame))))
        let acceptorProof = try proof(try acceptor.receive(attackerFrames[0]))
        #expect(throws: WireError.self) { _ = try acceptor.receive(try frame(acceptorProof)) }
        // Or echoes the acceptor's own nonce as its challenge.
        var other = Handshake(secret: secret, initiator: false)
        let echoed = Handshake.frame(.challenge, other.nonce + Identity.admin.bytes)
        #expect { _ = try other.receive(try frame(echoed)) } throws: { "\($0)".contains("echoed") }
    }

    @Test func anythingButTheHandshakeFirstIsRefusedUndecoded() throws {
        var acceptor = Handshake(secret: .generate(), initiator: false)
        #expect { _ = try acceptor.receive(try frame(Wire.helloFrame(Hello(role: .driver)))) } throws: { error in
            "\(error)".contains("did not authenticate")
        }
        #expect { _ = try acceptor.receive(try frame(Wire.controlFrame(.nodeStatus))) } throws: { error in
            "\(error)".contains("before authenticating")
        }
        // A proof before any challenge.
        #expect { _ = try acceptor.receive(try frame(Handshake.frame(.proof, [UInt8](repeating: 1, count: 32)))) }
            throws: { "\($0)".contains("before its challenge") }
    }

    @Test func eachRoleDerivesTheRolesBelowItAndNoneAbove() throws {
        let admin = ClusterSecret.generate()
        let node = try #require(admin.derive(.node))
        let driver = try #require(node.derive(.driver))
        let job1 = try #require(driver.derive(.forJob(JobID(1))))
        // The same key whichever way down it was derived.
        #expect(admin.derive(.forJob(JobID(1))) == job1 && admin.derive(.driver) == driver)
        // Different keys per role and per job.
        let keys = [admin, node, driver, job1, try #require(driver.derive(.forJob(JobID(2))))].map(\.bytes)
        #expect(Set(keys).count == 5)
        // Never up, never sideways.
        #expect(node.derive(.admin) == nil && driver.derive(.node) == nil && job1.derive(.driver) == nil)
        #expect(job1.derive(.forJob(JobID(2))) == nil)
        // The text form names the role; reading it back gives the same credential.
        for credential in [admin, node, driver, job1] {
            #expect(try ClusterSecret(text: credential.text, from: "the test") == credential)
        }
        #expect(job1.text.hasPrefix("job-1:") && node.text.hasPrefix("node:") && !admin.text.contains(":"))
        #expect { _ = try ClusterSecret(text: "root:" + admin.hexText, from: "the test") } throws: { error in
            "\(error)".contains("'root' is not a role")
        }
        #expect { _ = try driver.acting(as: .node) } throws: { "\($0)".contains("cannot act as a node's") }
    }

    @Test func anInitiatorPresentsWhatTheAcceptorCanCheck() throws {
        let admin = ClusterSecret.generate()
        let node = admin.derive(.node)!, driver = admin.derive(.driver)!
        let job1 = admin.derive(.forJob(JobID(1)))!, job2 = admin.derive(.forJob(JobID(2)))!
        // Those above present their credential derived down to the acceptor's role.
        #expect(try handshake(admin, node).acceptorSees == .node)
        #expect(try handshake(driver, job1).acceptorSees == .forJob(JobID(1)))
        // Those below present their own, which the acceptor derives.
        #expect(try handshake(job2, node).acceptorSees == .forJob(JobID(2)))
        #expect(try handshake(job2, driver).acceptorSees == .forJob(JobID(2)))
        #expect(try handshake(node, admin) == (.node, .admin))
        // One job's credential is refused by another job's process, saying why.
        #expect { _ = try handshake(job1, job2) } throws: { error in
            "\(error)".contains("job-1's credential") && "\(error)".contains("runs job-2's code")
        }
        // Routine (a link between jobs), unlike a higher role presented to a lower one.
        var acceptor = Handshake(secret: job2, initiator: false)
        var initiator = Handshake(secret: job1, initiator: true)
        let answer = try frames(try proof(try initiator.receive(try frame(acceptor.challengeFrame))))
        #expect(throws: WireError.self) { _ = try acceptor.receive(answer[0]) }
        #expect(acceptor.refusedAnotherJob)
        // A credential that claims a role it does not hold fails its proof.
        let forged = ClusterSecret(bytes: job1.bytes, source: "a forger", identity: .node)
        #expect { _ = try handshake(forged, admin) } throws: { "\($0)".contains("does not hold") }
    }

    @Test func theSecretFileIsPrivateAndCheckedWhenRead() throws {
        let directory = NSTemporaryDirectory() + "swiftray-secret-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secret = ClusterSecret.generate()
        let path = directory + "/" + ClusterSecret.fileName
        try secret.write(to: path)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(try ClusterSecret.load(file: path) == secret)
        // Never overwritten in place.
        #expect(throws: RuntimeError.self) { try ClusterSecret.generate().write(to: path) }
        // Readable by others: refused, saying how to fix it.
        chmod(path, 0o644)
        #expect { _ = try ClusterSecret.load(file: path) } throws: { "\($0)".contains("chmod 600") }
        // Not a secret.
        #expect { _ = try ClusterSecret(text: "swordfish", from: "the test") } throws: { error in
            "\(error)".contains("64 hexadecimal digits") && "\(error)".contains("the test")
        }
        #expect(try ClusterSecret(text: secret.text + "\n", from: "the test") == secret)
    }
}

extension RuntimeTests {
@Suite struct ClusterAuthTests {
    @Test func peersWithoutTheSecretAreRefusedAndCountedWhileTheClusterServes() throws {
        let cluster = try LocalCluster(executable: testbedPath, environment: ["SWIFTRAY_AUTH_DEADLINE_MS=300"])
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1]))

        // A hello first, as a build without authentication would send it.
        let noAuth = errorText(exchangeRaw(unixPath: head.socketPath, Wire.helloFrame(Hello(role: .driver))))
        #expect(noAuth.contains("did not authenticate"), "\(noAuth)")
        // Another cluster's secret, on the raylet's socket and on the GCS's port.
        for (port, path) in [(nil, head.socketPath), (cluster.gcsPort, nil)] as [(Int?, String?)] {
            let wrong = errorText(exchangeRaw(port: port, unixPath: path, secret: .generate(), Wire.helloFrame(Hello(role: .client))))
            #expect(wrong.contains("does not hold this cluster's credentials"), "\(wrong)")
        }
        // A challenge, then a request without the proof: refused, the request never decoded.
        let skipping = Handshake.frame(.challenge, [UInt8](repeating: 4, count: 32) + Identity.driver.bytes) + Wire.controlFrame(.nodeStatus)
        let skipped = errorText(exchangeRaw(unixPath: head.socketPath, skipping))
        #expect(skipped.contains("before authenticating"), "\(skipped)")
        // A peer that says nothing is refused once the deadline passes.
        let silent = errorText(exchangeRaw(unixPath: head.socketPath, []))
        #expect(silent.contains("did not authenticate within 300 ms"), "\(silent)")

        // Counted in the node's status, and the cluster serves whoever holds the secret.
        guard case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus) else {
            Issue.record("the raylet did not answer with its status")
            return
        }
        #expect(status.authRefusals >= 4, "\(status)")
        #expect("\(ControlReply.nodeStatus(status))".contains("refused \(status.authRefusals) unauthenticated or unauthorized"))
        #expect("\(try ControlClient.ask(gcs: cluster.gcsAddress, .clusterStatus, secret: cluster.secret))".contains("head alive"))
        // The GCS counts its own (the wrong secret on its port above).
        guard case .refusals(let refusals) = try ControlClient.ask(gcs: cluster.gcsAddress, .refusals,
                                                                             secret: cluster.secret) else {
            Issue.record("the GCS did not answer with its refusals")
            return
        }
        #expect(refusals.unauthenticated >= 1)
    }

    @Test func eachRoleMaySendOnlyItsOwnHellosAndRequests() throws {
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1]))
        let driver = try #require(cluster.secret.derive(.driver))
        let job = try #require(cluster.secret.derive(.forJob(JobID(1))))
        guard case .raylets(let raylets) = try ControlClient.ask(gcs: cluster.gcsAddress, .raylets, secret: cluster.secret),
              let port = raylets.first?.port else {
            Issue.record("the GCS did not list the raylet")
            return
        }
        // A driver's credential may not register a node with the GCS, nor speak as a raylet to one.
        var rogue = Hello(role: .raylet)
        (rogue.host, rogue.port, rogue.name, rogue.node) = ("127.0.0.1", 1, "rogue", NodeID(99))
        let register = errorText(exchangeRaw(port: cluster.gcsPort, secret: driver, Wire.helloFrame(rogue)))
        #expect(register.contains("a driver's credential may not register a node") && register.contains("node.credential"),
                "\(register)")
        let peer = errorText(exchangeRaw(port: port, secret: driver, Wire.helloFrame(rogue)))
        #expect(peer.contains("a driver's credential may not speak as a raylet"), "\(peer)")
        // A job's credential (a worker's) may not start a driver, nor ask the node about itself.
        let start = errorText(exchangeRaw(unixPath: head.socketPath, secret: job, Wire.helloFrame(Hello(role: .driver))))
        #expect(start.contains("job-1's credential may not start a driver"), "\(start)")
        let ask = errorText(exchangeRaw(unixPath: head.socketPath, secret: job,
                                        Wire.helloFrame(Hello(role: .client)) + Wire.controlFrame(.nodeStatus)))
        #expect(ask.contains("job-1's credential may not ask the raylet"), "\(ask)")
        // A driver may read the node's status, but not a worker's process ID (fault injection).
        let pid = errorText(exchangeRaw(unixPath: head.socketPath, secret: driver, Wire.helloFrame(Hello(role: .client))
                                        + Wire.controlFrame(.workerPID(WorkerID(node: NodeID(1), index: 1)))))
        #expect(pid.contains("may not ask for a worker's process ID"), "\(pid)")
        // A client (the CLI's connection) only asks: it may not claim a raylet's address to the GCS,
        // nor tell a raylet its link to the GCS closed.
        var claim: [UInt8] = []
        try Wire.appendMessage(.resourceReport(node: NodeID(1), available: ResourceSet(["CPU": 64])), from: .raylet(NodeID(1)),
                               to: .gcs, into: &claim)
        let asRaylet = errorText(exchangeRaw(port: cluster.gcsPort, secret: driver, Wire.helloFrame(Hello(role: .client)) + claim))
        #expect(asRaylet.contains("a client may not send message frames to the GCS"), "\(asRaylet)")
        let closed = errorText(exchangeRaw(unixPath: head.socketPath, secret: driver, Wire.helloFrame(Hello(role: .client))
                                           + Wire.peerClosedFrame(observer: .raylet(NodeID(1)), peer: .gcs)))
        #expect(closed.contains("a client may not send peerClosed frames"), "\(closed)")
        guard case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus, secret: driver)
        else {
            Issue.record("the raylet did not answer a driver's status request")
            return
        }
        // Counted (the raylet's three), and the GCS counts its own.
        #expect(status.authRefusals >= 3, "\(status)")
        guard case .refusals(let refusals) = try ControlClient.ask(gcs: cluster.gcsAddress, .refusals,
                                                                         secret: cluster.secret) else {
            Issue.record("the GCS did not answer with its refusals")
            return
        }
        #expect(refusals.unauthenticated >= 1)
        // The session holds each role's credential, each private.
        for role in [Identity.Role.admin, .node, .driver] {
            var info = stat()
            #expect(stat(cluster.session.credentialPath(role), &info) == 0 && info.st_mode & 0o777 == 0o600)
        }
        #expect(try ClusterSecret.load(file: cluster.session.credentialPath(.node)) == cluster.secret.derive(.node))
    }

    @Test func aJobsCodeCannotWriteTheGCSsKV() throws {
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1]))
        // A driver (its credential) connects, learns the ID its raylet gave it, and tries to replace
        // the program a job's workers run.
        let driver = try RawDriver(cluster: cluster, socket: head.socketPath)
        let me = driver.me
        var put: [UInt8] = []
        try Wire.appendMessage(.kvPut(key: "swiftray/executable/1", value: [1, 2, 3]), from: .worker(me), to: .gcs, into: &put)
        try ControlClient.sendAll(driver.fd, put, peer: "the raylet")
        for _ in 0..<20 where !driver.received.contains(where: { $0.kind == FrameKind.error.rawValue }) { driver.readFrames() }
        let refusal = driver.received.first { $0.kind == FrameKind.error.rawValue }?.text ?? ""
        #expect(refusal.contains("may not write the GCS's KV (entry 'swiftray/executable/1')"), "\(refusal)")
    }

    /// A job's process creating an actor, a placement group or a put on another node in another
    /// job's name (charging it to that job's quotas and rates) is refused by its raylet, which knows the job the process
    /// runs; nothing reaches the GCS. (Every other test creates actors and groups for its own job.)
    @Test func aJobCannotCreateActorsGroupsOrRemotePutsInAnotherJobsName() throws {
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1]))
        // Another job than the sender's own (each raw driver is a job of its own).
        func other(_ me: WorkerID) -> JobID { JobID(RayletHost.job(ofDriver: me).value + 100) }
        func refusal(to: Address = .gcs, _ message: (WorkerID) -> Message) throws -> (text: String, other: JobID) {
            let driver = try RawDriver(cluster: cluster, socket: head.socketPath)
            var frames: [UInt8] = []
            try Wire.appendMessage(message(driver.me), from: .worker(driver.me), to: to, into: &frames)
            try ControlClient.sendAll(driver.fd, frames, peer: "the raylet")
            for _ in 0..<20 where !driver.received.contains(where: { $0.kind == FrameKind.error.rawValue }) { driver.readFrames() }
            return (driver.received.first { $0.kind == FrameKind.error.rawValue }?.text ?? "", other(driver.me))
        }
        let actor = try refusal { me in
            .registerActor(ActorSpec(creation: TaskSpec(taskID: TaskID(value: 0xA11CE), jobID: other(me), function: "Counter",
                                                        instance: 0, args: [], returnCount: 1, resources: ResourceSet(),
                                                        strategy: .default, maxRetries: 0, retryExceptions: false,
                                                        body: [], owner: me),
                                     options: ActorOptions(name: "squatter")))
        }
        #expect(actor.text.contains("may not create an actor for \(actor.other)")
                && actor.text.contains("a job creates actors, placement groups and objects for itself only"), "\(actor)")
        let group = try refusal { me in
            .createPlacementGroup(PlacementGroupSpec(id: PlacementGroupID(creationTask: TaskID(value: 0xB0B)),
                                                     bundles: [ResourceSet(["CPU": 1])], strategy: .pack, owner: me,
                                                     job: other(me)))
        }
        #expect(group.text.contains("may not create a placement group for \(group.other)"), "\(group)")
        // A put placed on another node's store, charged there to the job it names.
        let placed = try refusal(to: .raylet(NodeID(head.id.value + 1))) { me in
            .storeRemoteObjects(requestID: 1, objects: [ObjectID.put(by: TaskID(value: 0xC0FFEE), index: 1)],
                                values: [ObjectData(sizeBytes: 8, digest: 0, bytes: [1, 2, 3, 4, 5, 6, 7, 8])], owner: me,
                                job: other(me))
        }
        #expect(placed.text.contains("may not create objects in another node's store for \(placed.other)"), "\(placed)")
        guard case .cluster(_, _, let actors, let groups) = try ControlClient.ask(gcs: cluster.gcsAddress, .clusterStatus,
                                                                                 secret: cluster.secret) else {
            Issue.record("no cluster status")
            return
        }
        #expect(actors.isEmpty && groups.isEmpty, "\(actors) \(groups)")
    }

    /// A driver's process speaking for others: the GCS's order to its raylet ("your node is dead",
    /// which would stop it) and a node's registration in another's name reach the machines, which
    /// drop them and count them; the raylet serves on.
    @Test func aProcessSpeakingForAnotherIsDroppedAndCountedWhileTheClusterServes() throws {
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1]))
        let driver = try RawDriver(cluster: cluster, socket: head.socketPath)
        let me = driver.me
        let fd = driver.fd
        var forged: [UInt8] = []
        try Wire.appendMessage(.nodeDead(me.node), from: .worker(me), to: .raylet(me.node), into: &forged)
        try Wire.appendMessage(.registerNode(NodeInfo(nodeID: NodeID(77), name: "fake", resources: ResourceSet(["CPU": 64]),
                                                      objectStoreBytes: 1 << 30)),
                               from: .worker(me), to: .gcs, into: &forged)
        try ControlClient.sendAll(fd, forged, peer: "the raylet")
        // Counted where `swiftray status` reads them; the raylet is alive and the node table holds one node.
        var rayletForged = 0, gcsForged = 0
        for _ in 0..<200 where rayletForged < 1 || gcsForged < 1 {
            if case .nodeStatus(let status)? = try? ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus,
                                                                     secret: cluster.secret) {
                rayletForged = status.forged
                #expect("\(ControlReply.nodeStatus(status))".contains("dropped \(status.forged) message(s) from senders not allowed"))
            }
            if case .refusals(let refusals)? = try? ControlClient.ask(gcs: cluster.gcsAddress, .refusals,
                                                                                         secret: cluster.secret) {
                gcsForged = refusals.forged
            }
            if rayletForged < 1 || gcsForged < 1 { usleep(20_000) }
        }
        #expect(rayletForged == 1 && gcsForged == 1)
        guard case .cluster(let nodes, _, _, _) = try ControlClient.ask(gcs: cluster.gcsAddress, .clusterStatus,
                                                                       secret: cluster.secret) else {
            Issue.record("no cluster status")
            return
        }
        #expect(nodes.count == 1 && nodes.allSatisfy(\.alive))
    }

    @Test func connectionsOverTheLimitsAreRefusedAndCountedUntilOthersClose() throws {
        let cluster = try LocalCluster(executable: testbedPath, environment: ["SWIFTRAY_MAX_CONNECTIONS_PER_SOURCE=3"])
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1]))
        guard case .raylets(let raylets) = try ControlClient.ask(gcs: cluster.gcsAddress, .raylets, secret: cluster.secret),
              let port = raylets.first?.port else {
            Issue.record("the GCS did not list the raylet")
            return
        }
        // Three connections from 127.0.0.1 are held open (each gets the raylet's challenge)...
        let held = (0..<3).map { _ in openTCP(port: port) }
        defer { held.forEach { close($0) } }
        for fd in held { #expect(readSome(fd).count > 0) }
        // ... so a fourth is refused, saying which limit and how to raise it.
        let refused = errorText(exchangeRaw(port: port, []))
        #expect(refused.contains("too many connections") && refused.contains("SWIFTRAY_MAX_CONNECTIONS_PER_SOURCE=3"),
                "\(refused)")
        guard case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus) else {
            Issue.record("the raylet did not answer with its status")
            return
        }
        #expect(status.limitRefusals >= 1, "\(status)")
        // Once they close, the raylet's port takes connections again.
        held.forEach { close($0) }
        var answered = false
        for _ in 0..<100 where !answered {
            if (try? ControlClient.ask(raylet: "127.0.0.1:\(port)", .nodeStatus, secret: cluster.secret)) != nil { answered = true }
            else { usleep(20_000) }
        }
        #expect(answered)
    }

    @Test func theSecretStaysOffCommandLinesAndOutOfLogs() throws {
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1]))
        _ = try ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus)
        var info = stat()
        #expect(stat(cluster.session.secretPath, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let text = cluster.secret.text
        for pid in [cluster.gcs!.pid, head.pid] {
            let commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            #expect(!String(decoding: commandLine, as: UTF8.self).contains(text))
        }
        // The processes' own logs (stderr), not their LMDB input logs (which hold no secret either,
        // but are mapped at their full size).
        let logs = FileManager.default.enumerator(atPath: cluster.session.logs)?.compactMap { $0 as? String } ?? []
        for name in logs where name.hasSuffix(".err") {
            guard let data = FileManager.default.contents(atPath: cluster.session.logs + "/" + name) else { continue }
            #expect(!String(decoding: data, as: UTF8.self).contains(text), "\(name) holds the secret")
        }
    }
}
}

/// A driver's process speaking the wire itself: connected to a raylet's socket with a driver's
/// credential, its hello answered (`me`: the ID its raylet gave it).
final class RawDriver {
    let fd: Int32
    var me = WorkerID(node: NodeID(0), index: 0)
    private var reader: FrameReader
    private(set) var received: [Frame] = []
    private var buffer = [UInt8](repeating: 0, count: 65536)

    init(cluster: LocalCluster, socket path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in Array(path.utf8).enumerated() { raw[index] = byte }
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        reader = try ControlClient.authenticate(fd, secret: try #require(cluster.secret.derive(.driver)), peer: "the raylet")
        try ControlClient.sendAll(fd, Wire.helloFrame(Hello(role: .driver)), peer: "the raylet")
        while received.isEmpty { guard readFrames() else { break } }
        let hello = try #require(received.first)
        me = try #require(try Wire.decodeHello(hello).worker)
    }

    deinit { close(fd) }

    /// Reads what has arrived (blocking for some); false once the connection closed.
    @discardableResult
    func readFrames() -> Bool {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return false }
        buffer.withUnsafeBytes { reader.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        while let frame = try? reader.next() { received.append(frame) }
        return true
    }
}
