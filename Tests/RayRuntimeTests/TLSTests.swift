// TLS on the TCP links (issue 12): `swiftray cert`'s CA and certificate, a cluster whose
// GCS, raylets and CLI speak TLS 1.3 (objects cross nodes encrypted), and peers without
// the cluster's CA (plain, or another CA's certificate) refused, counted, the cluster
// still serving.

import Foundation
import Glibc
import Testing

import Ray
import RayCore
@testable import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct TLSTests {
    /// A fresh directory under the test's temporary root.
    func temporaryDirectory(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "swiftray-tls-\(getpid())-\(name)"
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    @Test func certMakesACAAndACertificateItSigns() throws {
        let ca = temporaryDirectory("ca"), node = temporaryDirectory("node")
        defer { for path in [ca, node] { try? FileManager.default.removeItem(atPath: path) } }
        try TLSContext.makeCertificates(caDirectory: ca, outDirectory: ca, name: "head", makeCA: true)
        for file in ["ca.pem", "ca.key", "node.pem", "node.key"] {
            #expect(FileManager.default.fileExists(atPath: ca + "/" + file), "\(file)")
        }
        var info = stat()
        #expect(stat(ca + "/ca.key", &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(stat(ca + "/node.key", &info) == 0 && info.st_mode & 0o777 == 0o600)
        // Another node's certificate from the same CA, in its own directory (with the CA's certificate).
        try TLSContext.makeCertificates(caDirectory: ca, outDirectory: node, name: "worker-1", makeCA: false)
        #expect(FileManager.default.fileExists(atPath: node + "/ca.pem") && !FileManager.default.fileExists(atPath: node + "/ca.key"))
        _ = try TLSContext(directory: node)
        // A key others can read is refused, naming the fix.
        chmod(node + "/node.key", 0o644)
        #expect { _ = try TLSContext(directory: node) } throws: { error in
            "\(error)".contains("chmod 600 \(node)/node.key")
        }
        // No CA there: said so.
        #expect { try TLSContext.makeCertificates(caDirectory: node, outDirectory: node, name: "x", makeCA: false) } throws: { error in
            "\(error)".contains("cannot read the CA (ca.pem and ca.key) in \(node)")
        }
    }

    /// The event loop lends each read's ciphertext to TLS in place and takes the records to send
    /// from where TLS wrote them: records split across reads at any byte (here in pieces of 1 to
    /// 7 001 bytes) come out whole and in order, and what one read leaves is kept for the next.
    @Test func ciphertextLentInPiecesOfAnySizeDecryptsWholeAndInOrder() throws {
        let material = temporaryDirectory("pipe")
        defer { try? FileManager.default.removeItem(atPath: material) }
        try TLSContext.makeCertificates(caDirectory: material, outDirectory: material, name: "pipe", makeCA: true)
        let context = try TLSContext(directory: material)
        let client = try #require(TLSSession(context, server: false))
        let server = try #require(TLSSession(context, server: true))
        var random = SeededGenerator(seed: 12)
        let plainBuffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
        defer { plainBuffer.deallocate() }
        /// Moves `from`'s pending records to `to`, lent in random pieces; returns the plaintext.
        func move(_ from: TLSSession, _ to: TLSSession) -> [UInt8] {
            let ciphertext = Array(from.ciphertext)
            from.consumeCiphertext(ciphertext.count)
            var plain: [UInt8] = []
            var offset = 0
            while offset < ciphertext.count {
                let count = min(Int.random(in: 1...7001, using: &random), ciphertext.count - offset)
                ciphertext.withUnsafeBytes { to.lend(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
                _ = to.advanceHandshake()
                while to.established, let read = to.read(into: plainBuffer, capacity: 4096), read > 0 {
                    plain += UnsafeRawBufferPointer(start: plainBuffer, count: read)
                }
                #expect(to.endLend())
                offset += count
            }
            return plain
        }
        for _ in 0..<10 where !(client.established && server.established) {
            #expect(client.advanceHandshake())
            _ = move(client, server)
            #expect(server.advanceHandshake())
            _ = move(server, client)
        }
        #expect(client.established && server.established)
        let message = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        #expect(client.write(Array(message[..<100_000])) && client.write(Array(message[100_000...])))
        #expect(move(client, server) == message)
        #expect(client.ciphertext.count == 0, "the sent records were consumed")
        // The other way, many small records.
        for index in 0..<50 { #expect(server.write([UInt8](repeating: UInt8(index), count: 1000 + index))) }
        #expect(move(server, client) == (0..<50).flatMap { [UInt8](repeating: UInt8($0), count: 1000 + $0) })
    }

    /// A relay that holds a certificate of the cluster's CA (as a node's workers hold the node's)
    /// and sits between two processes ends TLS on each side: two TLS connections, two channel
    /// bindings. It passes the challenge–response's frames on unchanged, and the proofs, which
    /// cover each side's binding, fail — as they do not without the binding.
    @Test func aRelayHoldingACertificateOfTheClusterCannotPassTheProofsOn() throws {
        let material = temporaryDirectory("relay")
        defer { try? FileManager.default.removeItem(atPath: material) }
        try TLSContext.makeCertificates(caDirectory: material, outDirectory: material, name: "relay", makeCA: true)
        let context = try TLSContext(directory: material)
        /// A client and a server session with their TLS handshake done, over memory.
        func connected() throws -> (client: TLSSession, server: TLSSession) {
            let client = try #require(TLSSession(context, server: false))
            let server = try #require(TLSSession(context, server: true))
            #expect(client.channelBinding == nil, "no binding before the handshake")
            func move(_ from: TLSSession, _ to: TLSSession) {
                let ciphertext = from.ciphertext
                to.lend(ciphertext)
                from.consumeCiphertext(ciphertext.count)
                _ = to.advanceHandshake()
                #expect(to.endLend())
            }
            for _ in 0..<10 where !(client.established && server.established) {
                #expect(client.advanceHandshake())
                move(client, server)
                move(server, client)
            }
            try #require(client.established && server.established)
            return (client, server)
        }
        let near = try connected()  // the honest initiator to the relay
        let far = try connected()   // the relay to the honest acceptor
        let initiatorBinding = try #require(near.client.channelBinding)
        #expect(initiatorBinding.count == 32 && initiatorBinding == near.server.channelBinding,
                "both ends of one TLS connection have one binding")
        let acceptorBinding = try #require(far.server.channelBinding)
        #expect(acceptorBinding == far.client.channelBinding && acceptorBinding != initiatorBinding)
        /// The challenge–response between an initiator and an acceptor holding the node's credential,
        /// each proving the binding of its own TLS connection, its frames passed on unchanged.
        func relayed(initiator initiatorSide: [UInt8], acceptor acceptorSide: [UInt8]) throws {
            let node = try ClusterSecret.generate().acting(as: .node)
            var initiator = Handshake(secret: node, initiator: true)
            var acceptor = Handshake(secret: node, initiator: false)
            initiator.channelBinding = initiatorSide
            acceptor.channelBinding = acceptorSide
            func frames(_ bytes: [UInt8]) throws -> [Frame] {
                var reader = FrameReader(maxBodyBytes: 1 << 10)
                bytes.withUnsafeBytes { reader.append($0) }
                var out: [Frame] = []
                while let frame = try reader.next() { out.append(frame) }
                return out
            }
            func sent(_ step: Handshake.Step) throws -> [Frame] {
                guard case .send(let bytes) = step else { throw WireError("expected frames to send") }
                return try frames(bytes)
            }
            let answer = try sent(try initiator.receive(try frames(acceptor.challengeFrame)[0]))
            let acceptorProof = try sent(try acceptor.receive(answer[0]))
            #expect(try acceptor.receive(answer[1]) == .authenticated)
            #expect(try initiator.receive(acceptorProof[0]) == .authenticated)
        }
        // Without a binding (or over one connection) the relay's frames authenticate both ends...
        try relayed(initiator: [], acceptor: [])
        try relayed(initiator: initiatorBinding, acceptor: initiatorBinding)
        // ...with each side's own binding they do not: the acceptor refuses the initiator's proof.
        #expect { try relayed(initiator: initiatorBinding, acceptor: acceptorBinding) } throws: { error in
            "\(error)".contains("does not hold this cluster's credentials")
        }
    }

    /// Over TLS a chunk carries no CRC-32C and the receiver checks none (the records'
    /// authentication tags check every byte); over a plain link it is checked.
    @Test func aChunkOverTLSSkipsItsChecksum() throws {
        let body = [UInt8](repeating: 9, count: 64)
        var bytes: [UInt8] = []
        body.withUnsafeBytes { Wire.appendChunk(of: ObjectID(task: TaskID(value: 1), index: 1), $0, offset: 0, count: 64,
                                                checksum: false, into: &bytes) }
        let frame = Frame(bytes: bytes)
        #expect(try Wire.chunkHeader(frame, verify: false).intact)
        #expect(try !Wire.chunkHeader(frame).intact, "a plain link's receiver would refuse it")
    }

    @Test func aClusterSpeaksTLSOnEveryTCPLinkAndRefusesPeersWithoutItsCA() throws {
        let material = temporaryDirectory("cluster"), other = temporaryDirectory("other")
        defer { for path in [material, other] { try? FileManager.default.removeItem(atPath: path) } }
        try TLSContext.makeCertificates(caDirectory: material, outDirectory: material, name: "cluster", makeCA: true)
        try TLSContext.makeCertificates(caDirectory: other, outDirectory: other, name: "intruder", makeCA: true)
        try withCluster([("head", ["CPU": 1]), ("n2", ["CPU": 1])], tlsDirectory: material) { cluster throws in
            // Objects cross nodes (raylet to raylet, over TLS) both ways, byte for byte.
            let n2 = try #require(cluster.node(named: "n2"))
            let there = TaskOptions(scheduling: .nodeAffinity(node: n2.id.value, soft: false))
            let made = try Testbed.blob.options(there).remote(7, 3 << 20)
            #expect(Testbed.checksum(try made.get()) == Testbed.checksum(Testbed.blobBytes(seed: 7, size: 3 << 20)))
            let local = try Ray.put(Testbed.blobBytes(seed: 9, size: 2 << 20))
            #expect(try Testbed.checksum.options(there).remote(local).get()
                    == Testbed.checksum(Testbed.blobBytes(seed: 9, size: 2 << 20)))
            // The CLI's requests to the GCS go over TLS too.
            let status = "\(try ControlClient.ask(gcs: cluster.gcsAddress, .clusterStatus, secret: cluster.secret))"
            #expect(status.contains("head alive") && status.contains("n2 alive"), "\(status)")
            // The wire carries no plaintext: a plain peer's hello gets no frame back, only TLS's alert.
            let plain = exchangeRaw(port: cluster.gcsPort, Wire.helloFrame(Hello(role: .client)))
            #expect(!String(decoding: plain, as: UTF8.self).contains("authenticate"), "\(plain.prefix(64))")
            // A certificate of another CA is refused, saying why.
            let intruder = try TLSContext(directory: other)
            #expect { _ = try ControlClient.ask(gcs: cluster.gcsAddress, .clusterStatus, secret: cluster.secret, tls: intruder) }
                throws: { error in
                    "\(error)".contains("TLS with the GCS at \(cluster.gcsAddress) failed") && "\(error)".contains("SWIFTRAY_TLS_DIR")
                }
            // Both refusals counted; the cluster still serves.
            guard case .refusals(let refusals) = try ControlClient.ask(gcs: cluster.gcsAddress, .refusals,
                                                                             secret: cluster.secret) else {
                Issue.record("the GCS did not answer with its refusals")
                return
            }
            #expect(refusals.unauthenticated >= 2, "refused \(refusals.unauthenticated)")
            #expect(try Testbed.square.options(there).remote(12).get() == 144)
        }
    }
}
}
