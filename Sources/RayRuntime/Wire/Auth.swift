// Cluster authentication. Every process of a cluster holds the cluster's secret
// (256 random bits made when the cluster starts, kept in `<session>/cluster.secret`
// with mode 0600). Every connection, TCP or Unix, of every role, first runs a mutual
// challenge–response: each side sends a fresh random nonce, then proves it holds
// the secret with HMAC-SHA256(secret, label ‖ side ‖ initiator's nonce ‖ acceptor's
// nonce). Nothing else is decoded before the peer's proof checks out; frames this
// side queues meanwhile wait. A recorded handshake replayed later fails (the other
// side's nonce is new), and a proof cannot be reflected back (the side is in it).
//
// Where a process finds the secret: SWIFTRAY_CLUSTER_SECRET_FILE (a file holding it),
// or SWIFTRAY_CLUSTER_SECRET (its text); a driver or the CLI on a node's machine
// reads the node's session file. The secret is never put on a command line or in a log.

import Crypto
import Foundation
import Glibc
import Synchronization

/// A cluster's shared secret.
public struct ClusterSecret: Sendable, Equatable {
    let bytes: [UInt8]
    /// Where it came from (a file, a variable, "a new cluster"), for errors.
    public let source: String

    public static func == (lhs: ClusterSecret, rhs: ClusterSecret) -> Bool { lhs.bytes == rhs.bytes }

    /// The file name inside a session directory.
    public static let fileName = "cluster.secret"
    static let byteCount = 32

    /// A fresh random secret.
    public static func generate() -> ClusterSecret {
        var generator = SystemRandomNumberGenerator()
        return ClusterSecret(bytes: (0..<byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) },
                             source: "this cluster's new secret")
    }

    init(bytes: [UInt8], source: String) {
        self.bytes = bytes
        self.source = source
    }

    /// Reads a secret's text: 64 hexadecimal digits (what `generate` writes).
    public init(text: String, from source: String) throws(RuntimeError) {
        let digits = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        guard digits.count == Self.byteCount * 2 else {
            throw RuntimeError("\(source) does not hold a cluster secret: expected \(Self.byteCount * 2) "
                + "hexadecimal digits, found \(digits.count) characters")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        var index = 0
        while index < digits.count {
            guard let high = Self.hexValue(digits[index]), let low = Self.hexValue(digits[index + 1]) else {
                throw RuntimeError("\(source) does not hold a cluster secret: it has a character that is not "
                    + "a hexadecimal digit")
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        self.bytes = bytes
        self.source = source
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The text form (64 hexadecimal digits).
    var text: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads the secret file at `path`, refusing one that others than its owner may read.
    public static func load(file path: String) throws(RuntimeError) -> ClusterSecret {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw RuntimeError("cannot read the cluster secret \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw RuntimeError("the cluster secret \(path) may be read by others (mode "
                + "\(String(info.st_mode & 0o777, radix: 8))); make it private with `chmod 600 \(path)`")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RuntimeError("cannot read the cluster secret \(path): \(String(cString: strerror(errno)))")
        }
        return try ClusterSecret(text: String(decoding: data, as: UTF8.self), from: path)
    }

    /// Writes the secret to a new file at `path` with mode 0600 (created so, never widened).
    public func write(to path: String) throws(RuntimeError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw RuntimeError("cannot create the cluster secret \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let text = Array((self.text + "\n").utf8)
        let written = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == text.count else {
            throw RuntimeError("cannot write the cluster secret \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The secret the environment names: SWIFTRAY_CLUSTER_SECRET_FILE, else SWIFTRAY_CLUSTER_SECRET;
    /// nil when neither is set.
    public static func fromEnvironment() throws(RuntimeError) -> ClusterSecret? {
        if let path = environment("SWIFTRAY_CLUSTER_SECRET_FILE"), !path.isEmpty { return try load(file: path) }
        if let text = environment("SWIFTRAY_CLUSTER_SECRET"), !text.isEmpty {
            return try ClusterSecret(text: text, from: "SWIFTRAY_CLUSTER_SECRET")
        }
        return nil
    }

    /// The secret of the cluster a session directory belongs to: the environment's, else the
    /// session's file.
    public static func forSession(_ session: String) throws(RuntimeError) -> ClusterSecret {
        if let secret = try fromEnvironment() { return secret }
        let path = session + "/" + fileName
        guard access(path, F_OK) == 0 else {
            throw RuntimeError("no cluster secret: \(path) does not exist (a node's start writes it); "
                + "set SWIFTRAY_CLUSTER_SECRET_FILE to a copy of the head node's \(fileName)")
        }
        return try load(file: path)
    }

    /// The secret a node joining the cluster at `gcsAddress` uses: the environment's, else
    /// that of a node of the same cluster on this machine.
    public static func forJoining(_ gcsAddress: String) throws(RuntimeError) -> ClusterSecret {
        try forCluster(gcsAddress, missing: "joining \(gcsAddress) needs the cluster's secret: copy the head node's "
            + "<session>/\(fileName) to this machine (mode 0600) and set SWIFTRAY_CLUSTER_SECRET_FILE to it")
    }

    /// The secret for the GCS at `gcsAddress` (the CLI): the environment's, else that of a node of
    /// the cluster on this machine.
    public static func forGCS(_ gcsAddress: String) throws(RuntimeError) -> ClusterSecret {
        try forCluster(gcsAddress, missing: "no cluster secret for the GCS at \(gcsAddress): no node of that cluster "
            + "runs on this machine; set SWIFTRAY_CLUSTER_SECRET_FILE to a copy of the head node's <session>/\(fileName)")
    }

    /// The environment's secret, else the session's of a local node of the cluster at `gcsAddress`;
    /// `missing` is the error when there is neither.
    private static func forCluster(_ gcsAddress: String, missing: String) throws(RuntimeError) -> ClusterSecret {
        if let secret = try fromEnvironment() { return secret }
        guard let record = try? LocalNodeRecord.find(gcsAddress: gcsAddress) else { throw RuntimeError(missing) }
        return try forSession(record.session)
    }

    /// The secret for a raylet's Unix socket `<session>/sockets/NAME.sock`: the environment's,
    /// else its session's.
    public static func forSocket(_ socketPath: String) throws(RuntimeError) -> ClusterSecret {
        let sockets = (socketPath as NSString).deletingLastPathComponent
        return try forSession((sockets as NSString).deletingLastPathComponent)
    }

    /// The HMAC key (the secret's bytes).
    var key: SymmetricKey { SymmetricKey(data: bytes) }
}

/// Counts connections this process refused (shown in its node's status).
public enum AuthCounters {
    private static let refusedCount = Atomic<Int>(0)
    private static let overLimitCount = Atomic<Int>(0)
    /// Refused for authentication: no or a wrong secret, a frame before the proof, too slow.
    public static var refused: Int { refusedCount.load(ordering: .relaxed) }
    /// Refused over the connection limits (`Listener`).
    public static var overLimit: Int { overLimitCount.load(ordering: .relaxed) }
    static func countRefusal() { refusedCount.add(1, ordering: .relaxed) }
    static func countOverLimit() { overLimitCount.add(1, ordering: .relaxed) }
}

/// One side of the challenge–response a connection runs first.
public struct Handshake: Sendable {
    /// The nonce's size in bytes.
    static let nonceBytes = 32
    /// How long a peer has to authenticate before it is refused (a slow or silent peer holds a
    /// connection for nothing): 10 s, or SWIFTRAY_AUTH_DEADLINE_MS.
    public static let deadlineMicros: UInt64 = (UInt64(environment("SWIFTRAY_AUTH_DEADLINE_MS") ?? "") ?? 10_000) * 1000
    /// The largest frame read before authentication (a challenge or proof is 40 bytes).
    static let maxFrameBeforeAuth = 256
    static let label = Array("SWRY-auth-v1".utf8)

    enum Phase: UInt8 { case challenge = 0, proof = 1 }

    let secret: ClusterSecret
    /// This side opened the connection.
    let initiator: Bool
    let nonce: [UInt8]
    private(set) var peerNonce: [UInt8]?

    public init(secret: ClusterSecret, initiator: Bool, nonce: [UInt8]? = nil) {
        self.secret = secret
        self.initiator = initiator
        if let nonce {
            self.nonce = nonce
        } else {
            var generator = SystemRandomNumberGenerator()
            self.nonce = (0..<Self.nonceBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
    }

    /// The first frame this side sends: its nonce.
    public var challengeFrame: [UInt8] { Self.frame(.challenge, nonce) }

    /// What a received frame leads to: a proof to send (the peer's challenge came), or the
    /// peer authenticated (its proof checked out).
    public enum Step: Equatable { case send([UInt8]), authenticated }

    /// Handles the peer's next frame; throws, naming the cause, if it is not the expected
    /// step of the handshake or its proof is wrong.
    public mutating func receive(_ frame: Frame) throws(WireError) -> Step {
        if frame.kind == FrameKind.error.rawValue {
            throw WireError("the peer refused the connection: \(frame.text)")
        }
        guard frame.kind == FrameKind.auth.rawValue else {
            throw WireError(frame.kind == FrameKind.hello.rawValue
                ? "the peer did not authenticate (it sent its hello first): it does not run with this "
                    + "cluster's secret, or is an older SwiftRay build"
                : "the peer sent a frame of kind \(frame.kind) before authenticating")
        }
        let body = Array(frame.payload)
        guard body.count == 7 + Self.nonceBytes, Array(body[0..<4]) == wireMagic else {
            throw WireError("malformed authentication frame (\(body.count) bytes)")
        }
        let version = UInt16(body[4]) | UInt16(body[5]) << 8
        guard version == wireProtocolVersion else {
            throw WireError("peer speaks protocol version \(version), this process speaks \(wireProtocolVersion): "
                + "run the same SwiftRay build on every node")
        }
        let value = Array(body[7...])
        switch Phase(rawValue: body[6]) {
        case .challenge?:
            guard peerNonce == nil else { throw WireError("the peer sent a second challenge") }
            guard value != nonce else { throw WireError("the peer echoed this side's nonce (a reflection)") }
            peerNonce = value
            return .send(Self.frame(.proof, proof(byInitiator: initiator)))
        case .proof?:
            guard peerNonce != nil else { throw WireError("the peer sent a proof before its challenge") }
            let expected = proof(byInitiator: !initiator)
            guard constantTimeEqual(value, expected) else {
                throw WireError("authentication failed: the peer does not hold this cluster's secret (this "
                    + "process's secret is from \(secret.source); the peer's differs)")
            }
            return .authenticated
        case nil:
            throw WireError("unknown authentication step \(body[6])")
        }
    }

    /// HMAC-SHA256(secret, label ‖ side ‖ initiator's nonce ‖ acceptor's nonce).
    func proof(byInitiator: Bool) -> [UInt8] {
        let peer = peerNonce ?? []
        let (initiatorNonce, acceptorNonce) = initiator ? (nonce, peer) : (peer, nonce)
        var hmac = HMAC<SHA256>(key: secret.key)
        hmac.update(data: Self.label)
        hmac.update(data: [byInitiator ? 1 : 2])
        hmac.update(data: initiatorNonce)
        hmac.update(data: acceptorNonce)
        return Array(hmac.finalize())
    }

    private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    static func frame(_ phase: Phase, _ value: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        let start = Wire.begin(.auth, in: &out)
        out.append(contentsOf: wireMagic)
        out.append(UInt8(truncatingIfNeeded: wireProtocolVersion))
        out.append(UInt8(truncatingIfNeeded: wireProtocolVersion >> 8))
        out.append(phase.rawValue)
        out.append(contentsOf: value)
        Wire.finish(start, in: &out)
        return out
    }
}
