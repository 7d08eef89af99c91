// Cluster authentication. Every process of a cluster holds the cluster's secret
// (256 random bits made when the cluster starts, kept in `<session>/cluster.secret`
// with mode 0600). Every connection, TCP or Unix, of every role, first runs a mutual
// challenge–response: each side sends a fresh random nonce, then proves it holds
// the secret with HMAC-SHA256(secret, label ‖ side ‖ initiator's nonce ‖ acceptor's
// nonce). Nothing else is decoded before the peer's proof checks out; frames this
// side queues meanwhile wait. A recorded handshake replayed later fails (the other
// side's nonce is new), and a proof cannot be reflected back (the side is in it).
// Over TLS the proofs also cover the connection's channel binding (RFC 9266's
// `tls-exporter`), so a relay that ends TLS on each side (holding some certificate of
// the cluster's CA) cannot pass one connection's proofs on to another.
//
// Credentials (least privilege): the cluster secret is the administrator's; each role
// below holds a key derived from the one above it — a node's HMAC(secret, "node"), a
// driver's HMAC(node key, "driver"), job J's HMAC(driver key, "job" ‖ J) — so a holder
// can act as any role below its own and none above: administrator ⊃ node ⊃ driver ⊃
// each job. The GCS holds the secret, a raylet a node key, a driver a driver key, a
// worker only its job's key. The acceptor of a connection sends its identity in its
// challenge; the initiator presents the highest credential it holds that the acceptor
// can check (its own, or one derived down to the acceptor's), and both prove it with
// that credential's key. Hosts then allow each hello only to the roles that may send it.
//
// Where a process finds its credential: SWIFTRAY_CLUSTER_SECRET_FILE (a file holding it),
// or SWIFTRAY_CLUSTER_SECRET (its text); a driver or the CLI on a node's machine
// reads the node's session file. A credential is never put on a command line or in a log.

import Crypto
public import RayCore
import Foundation
import Glibc
import Synchronization

/// Whom a credential speaks for. Roles are ordered: a holder may act as any role below its own
/// (it derives that role's key) and as no other.
public struct Identity: Hashable, Sendable, CustomStringConvertible {
    public enum Role: UInt8, Comparable, Sendable {
        case job = 0, driver = 1, node = 2, admin = 3
        public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rawValue < rhs.rawValue }
    }
    public var role: Role
    /// The job of a `.job` identity (0 otherwise).
    public var job: UInt32

    public static let admin = Identity(role: .admin, job: 0)
    public static let node = Identity(role: .node, job: 0)
    public static let driver = Identity(role: .driver, job: 0)
    public static func forJob(_ job: JobID) -> Identity { Identity(role: .job, job: job.value) }

    /// True when a holder of this identity can check (and derive) `other`'s credential.
    public func covers(_ other: Identity) -> Bool { self == other || role > other.role }

    /// True when this identity may act in `role` (its own role or one below).
    public func may(_ needed: Role) -> Bool { role >= needed }

    public var description: String {
        switch role {
        case .admin: "the administrator's"
        case .node: "a node's"
        case .driver: "a driver's"
        case .job: "job-\(job)'s"
        }
    }

    /// The text prefix of a credential of this identity ("" for the administrator's secret).
    var textPrefix: String {
        switch role {
        case .admin: ""
        case .node: "node:"
        case .driver: "driver:"
        case .job: "job-\(job):"
        }
    }

    var bytes: [UInt8] {
        [role.rawValue, UInt8(truncatingIfNeeded: job), UInt8(truncatingIfNeeded: job >> 8),
         UInt8(truncatingIfNeeded: job >> 16), UInt8(truncatingIfNeeded: job >> 24)]
    }

    init(role: Role, job: UInt32) {
        self.role = role
        self.job = role == .job ? job : 0
    }

    init(bytes: ArraySlice<UInt8>) throws(WireError) {
        let start = bytes.startIndex
        guard bytes.count == 5, let role = Role(rawValue: bytes[start]) else {
            throw WireError("unknown credential role \(bytes.first ?? 0)")
        }
        let job = UInt32(bytes[start + 1]) | UInt32(bytes[start + 2]) << 8 | UInt32(bytes[start + 3]) << 16
            | UInt32(bytes[start + 4]) << 24
        guard role == .job || job == 0 else { throw WireError("a \(role) credential names job \(job)") }
        self.init(role: role, job: job)
    }
}

/// A credential: the cluster's secret (the administrator's), or a key derived from it for a role
/// below (Identity). The type keeps its first name: every process holds one.
public struct ClusterSecret: Sendable, Equatable {
    let bytes: [UInt8]
    /// Where it came from (a file, a variable, "a new cluster"), for errors.
    public let source: String
    /// Whom it speaks for.
    public let identity: Identity

    public static func == (lhs: ClusterSecret, rhs: ClusterSecret) -> Bool {
        lhs.bytes == rhs.bytes && lhs.identity == rhs.identity
    }

    /// The file name inside a session directory (the administrator's secret).
    public static let fileName = "cluster.secret"
    /// The node's and the driver's credentials, beside it in a session directory.
    public static let nodeFileName = "node.credential"
    public static let driverFileName = "driver.credential"
    static let byteCount = 32

    /// The credential of `target`, derived from this one; nil unless this one covers it.
    public func derive(_ target: Identity) -> ClusterSecret? {
        if target == identity { return self }
        guard identity.covers(target) else { return nil }
        var key = bytes
        var role = identity.role
        while role > target.role {
            var hmac = HMAC<SHA256>(key: SymmetricKey(data: key))
            switch role {
            case .admin:
                hmac.update(data: Array("SWRY-role-node".utf8))
                role = .node
            case .node:
                hmac.update(data: Array("SWRY-role-driver".utf8))
                role = .driver
            case .driver, .job:
                hmac.update(data: Array("SWRY-role-job".utf8) + Array(target.bytes[1...]))
                role = .job
            }
            key = Array(hmac.finalize())
        }
        return ClusterSecret(bytes: key, source: source, identity: target)
    }

    /// Job `job`'s ID key (RayCore's KeyedIDs): derived from the job's credential, so only the
    /// job's drivers and workers (and roles above) hold it; 0 when this credential does not cover
    /// the job.
    public func idKey(for job: JobID) -> UInt64 {
        guard let jobKey = derive(.forJob(job)) else { return 0 }
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: jobKey.bytes))
        hmac.update(data: Array("SWRY-object-ids".utf8))
        let key = Array(hmac.finalize()).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return key == 0 ? 1 : key
    }

    /// The credential to present to an acceptor that said it is `acceptor`: this one if the
    /// acceptor can check it, else this one derived down to the acceptor's (which it can), else
    /// this one (the acceptor will refuse it, saying why).
    func presented(to acceptor: Identity) -> ClusterSecret {
        if acceptor.covers(identity) { return self }
        return derive(acceptor) ?? self
    }

    /// A fresh random secret.
    public static func generate() -> ClusterSecret {
        var generator = SystemRandomNumberGenerator()
        return ClusterSecret(bytes: (0..<byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) },
                             source: "this cluster's new secret")
    }

    init(bytes: [UInt8], source: String, identity: Identity = .admin) {
        self.bytes = bytes
        self.source = source
        self.identity = identity
    }

    /// Reads a credential's text: 64 hexadecimal digits (the cluster's secret, what `generate`
    /// writes), or a role's prefix ("node:", "driver:", "job-3:") and 64 digits.
    public init(text: String, from source: String) throws(RuntimeError) {
        var trimmed = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        var identity = Identity.admin
        if let colon = trimmed.firstIndex(of: ":") {
            let prefix = trimmed[..<colon]
            switch prefix {
            case "node": identity = .node
            case "driver": identity = .driver
            default:
                guard prefix.hasPrefix("job-"), let job = UInt32(prefix.dropFirst(4)) else {
                    throw RuntimeError("\(source) does not hold a SwiftRay credential: '\(prefix)' is not a role "
                        + "(expected node, driver or job-N before the colon)")
                }
                identity = .forJob(JobID(job))
            }
            trimmed = trimmed[trimmed.index(after: colon)...]
        }
        self.identity = identity
        let digits = Array(trimmed.utf8)
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

    /// The text form: the identity's prefix, then 64 hexadecimal digits.
    var text: String { identity.textPrefix + hexText }

    /// The key alone, in 64 hexadecimal digits.
    var hexText: String {
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
            throw RuntimeError("cannot read the cluster credential \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw RuntimeError("the cluster credential \(path) may be read by others (mode "
                + "\(String(info.st_mode & 0o777, radix: 8))); make it private with `chmod 600 \(path)`")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RuntimeError("cannot read the cluster credential \(path): \(String(cString: strerror(errno)))")
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

    /// The credential for a process of the cluster a session directory belongs to: the
    /// environment's, else the session's most trusted credential file, derived down to `role`
    /// when one is given (a driver: `.driver`); nil `role`: the credential as held.
    public static func forSession(_ session: String, as role: Identity? = nil) throws(RuntimeError) -> ClusterSecret {
        let held: ClusterSecret
        if let secret = try fromEnvironment() {
            held = secret
        } else {
            let files = [fileName, nodeFileName, driverFileName].map { session + "/" + $0 }
            guard files.contains(where: { access($0, F_OK) == 0 }) else {
                throw RuntimeError("no cluster credential: \(files[0]) does not exist (a node's start writes it); "
                    + "set SWIFTRAY_CLUSTER_SECRET_FILE to a copy of the head node's \(fileName)")
            }
            // The most trusted one this user may read (the session's credentials are its node's user's).
            guard let path = files.first(where: { access($0, R_OK) == 0 }) else {
                throw RuntimeError("this user cannot read the session's credentials (\(session) is \(ownerName(of: session))'s): set "
                    + "SWIFTRAY_CLUSTER_SECRET_FILE to a copy of \(session)/\(driverFileName) made for you (mode 0600; "
                    + "a driver's credential is enough for a driver, `swiftray status` and `swiftray list`)")
            }
            held = try load(file: path)
        }
        guard let role else { return held }
        return try held.acting(as: role)
    }

    /// This credential derived down to `role`; throws, naming both, if it is lower.
    public func acting(as role: Identity) throws(RuntimeError) -> ClusterSecret {
        guard let derived = derive(role) else {
            throw RuntimeError("\(source) holds \(identity) credential, which cannot act as \(role) (a credential acts "
                + "for its own role and those below it: administrator, node, driver, job); use the head node's "
                + "<session>/\(role.role == .node ? Self.nodeFileName : Self.fileName)")
        }
        return derived
    }

    /// The credential a node joining the cluster at `gcsAddress` uses (a node's): the environment's,
    /// else that of a node of the same cluster on this machine.
    public static func forJoining(_ gcsAddress: String) throws(RuntimeError) -> ClusterSecret {
        try forCluster(gcsAddress, missing: "joining \(gcsAddress) needs a node's credential: copy the head node's "
            + "<session>/\(nodeFileName) to this machine (mode 0600) and set SWIFTRAY_CLUSTER_SECRET_FILE to it")
            .acting(as: .node)
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

    /// The credential for a raylet's Unix socket `<session>/sockets/NAME.sock`: the environment's,
    /// else its session's, derived down to `role` when one is given.
    public static func forSocket(_ socketPath: String, as role: Identity? = nil) throws(RuntimeError) -> ClusterSecret {
        let sockets = (socketPath as NSString).deletingLastPathComponent
        return try forSession((sockets as NSString).deletingLastPathComponent, as: role)
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

/// One side of the challenge–response a connection runs first. The acceptor speaks first: its
/// challenge (a nonce and its identity). The initiator answers with its own challenge (a nonce and
/// the identity it presents: `ClusterSecret.presented(to:)`) and its proof; the acceptor checks
/// that it can derive the presented credential, sends its proof, and checks the initiator's.
/// Both proofs are HMAC-SHA256(presented credential's key, label ‖ side ‖ initiator's nonce ‖
/// acceptor's nonce ‖ presented identity ‖ the TLS channel binding, if any).
public struct Handshake: Sendable {
    /// The nonce's size in bytes.
    static let nonceBytes = 32
    /// How long a peer has to authenticate before it is refused (a slow or silent peer holds a
    /// connection for nothing): 10 s, or SWIFTRAY_AUTH_DEADLINE_MS.
    public static let deadlineMicros: UInt64 = (UInt64(environment("SWIFTRAY_AUTH_DEADLINE_MS") ?? "") ?? 10_000) * 1000
    /// The largest frame read before authentication (a challenge is 44 bytes, a challenge and a
    /// proof 87).
    static let maxFrameBeforeAuth = 256
    static let label = Array("SWRY-auth-v3".utf8)
    /// The size of a TLS connection's channel binding.
    static let channelBindingBytes = 32

    enum Phase: UInt8 { case challenge = 0, proof = 1 }

    /// This side's own credential.
    let secret: ClusterSecret
    /// This side opened the connection.
    let initiator: Bool
    let nonce: [UInt8]
    private(set) var peerNonce: [UInt8]?
    /// The credential both proofs use (the initiator's presented one), once known.
    private var proofKey: ClusterSecret?
    /// Whom the peer speaks for: on the acceptor, the identity the initiator presented (checked
    /// by its proof); on the initiator, the identity the acceptor announced (it proved it can
    /// derive the credential presented to it).
    public private(set) var peerIdentity: Identity?
    /// The peer presented another job's credential to this job's process (a link between jobs,
    /// which goes through the raylet instead): the refusal is routine.
    public private(set) var refusedAnotherJob = false
    /// The TLS connection's channel binding (RFC 9266), empty on a plain one: both proofs cover
    /// it, so they hold on this TLS connection only. Set before the peer's first frame is handled.
    var channelBinding: [UInt8] = []

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

    /// The frame the acceptor sends first: its nonce and its identity. (The initiator's challenge
    /// goes with its proof, once it has read this.)
    public var challengeFrame: [UInt8] { Self.frame(.challenge, nonce + secret.identity.bytes) }

    /// What a received frame leads to: frames to send (the initiator's challenge and proof, or the
    /// acceptor's proof), or the peer authenticated (its proof checked out).
    public enum Step: Equatable { case send([UInt8]), authenticated }

    /// Handles the peer's next frame; throws, naming the cause, if it is not the expected
    /// step of the handshake, its credential is not one this side can check, or its proof is wrong.
    public mutating func receive(_ frame: Frame) throws(WireError) -> Step {
        if frame.kind == FrameKind.error.rawValue {
            throw WireError("the peer refused the connection: \(frame.text)")
        }
        guard frame.kind == FrameKind.auth.rawValue else {
            throw WireError(frame.kind == FrameKind.hello.rawValue
                ? "the peer did not authenticate (it sent its hello first): it does not run with this "
                    + "cluster's credentials, or is an older SwiftRay build"
                : "the peer sent a frame of kind \(frame.kind) before authenticating")
        }
        let body = Array(frame.payload)
        guard body.count >= 7, Array(body[0..<4]) == wireMagic else {
            throw WireError("malformed authentication frame (\(body.count) bytes)")
        }
        let version = UInt16(body[4]) | UInt16(body[5]) << 8
        guard version == wireProtocolVersion else {
            throw WireError("peer speaks protocol version \(version), this process speaks \(wireProtocolVersion): "
                + "run the same SwiftRay build on every node")
        }
        switch Phase(rawValue: body[6]) {
        case .challenge?:
            guard body.count == 7 + Self.nonceBytes + 5 else {
                throw WireError("malformed authentication challenge (\(body.count) bytes)")
            }
            guard peerNonce == nil else { throw WireError("the peer sent a second challenge") }
            let value = Array(body[7..<(7 + Self.nonceBytes)])
            guard value != nonce else { throw WireError("the peer echoed this side's nonce (a reflection)") }
            let identity = try Identity(bytes: body[(7 + Self.nonceBytes)...])
            peerNonce = value
            peerIdentity = identity
            if initiator {
                let presented = secret.presented(to: identity)
                proofKey = presented
                return .send(Self.frame(.challenge, nonce + presented.identity.bytes) + Self.frame(.proof, proof(byInitiator: true)))
            }
            guard let derived = secret.derive(identity) else {
                refusedAnotherJob = identity.role == .job && secret.identity.role == .job
                throw WireError(Self.cannotCheck(identity, holding: secret.identity))
            }
            proofKey = derived
            return .send(Self.frame(.proof, proof(byInitiator: false)))
        case .proof?:
            guard body.count == 7 + Self.nonceBytes else {
                throw WireError("malformed authentication proof (\(body.count) bytes)")
            }
            guard peerNonce != nil, proofKey != nil else { throw WireError("the peer sent a proof before its challenge") }
            let expected = proof(byInitiator: !initiator)
            guard constantTimeEqual(Array(body[7...]), expected) else {
                throw WireError("authentication failed: the peer does not hold this cluster's credentials (this "
                    + "process's are from \(secret.source); the peer's differ)")
            }
            return .authenticated
        case nil:
            throw WireError("unknown authentication step \(body[6])")
        }
    }

    /// Why a process holding `own` refuses a peer presenting `presented`.
    static func cannotCheck(_ presented: Identity, holding own: Identity) -> String {
        if own.role == .job && presented.role == .job {
            return "the peer presents job-\(presented.job)'s credential, and this process runs job-\(own.job)'s code: "
                + "a job's processes accept links from their own job only (messages between jobs go through the raylet)"
        }
        return "the peer presents \(presented) credential, which this process (holding \(own)) cannot check: a process "
            + "accepts its own role's credential and those below it (administrator, node, driver, job)"
    }

    /// HMAC-SHA256(presented key, label ‖ side ‖ initiator's nonce ‖ acceptor's nonce ‖ presented identity
    /// ‖ channel binding's length ‖ channel binding).
    func proof(byInitiator: Bool) -> [UInt8] {
        let peer = peerNonce ?? []
        let (initiatorNonce, acceptorNonce) = initiator ? (nonce, peer) : (peer, nonce)
        let key = proofKey ?? secret
        var hmac = HMAC<SHA256>(key: key.key)
        hmac.update(data: Self.label)
        hmac.update(data: [byInitiator ? 1 : 2])
        hmac.update(data: initiatorNonce)
        hmac.update(data: acceptorNonce)
        hmac.update(data: key.identity.bytes)
        hmac.update(data: [UInt8(truncatingIfNeeded: channelBinding.count)])
        hmac.update(data: channelBinding)
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
