// A framed connection over a libuv stream (TCP or a Unix domain socket).
// Before anything else it runs the cluster's challenge–response (Auth.swift):
// frames the owner sends meanwhile wait, and nothing the peer sends but the
// handshake is decoded until the peer has proved it holds the cluster secret.
// Frames queued with `send` are written when the loop flushes (once per
// iteration, after the log commit): first with a non-blocking try-write, the
// rest with a queued uv_write. Reads are split into frames; a malformed or
// oversized frame closes the connection with an error frame naming the cause.

import CLibUV
import Glibc
import Synchronization
public import RayCore

/// What a connection reports to its owner.
public protocol ConnectionDelegate: AnyObject {
    func connection(_ connection: Connection, received frame: Frame)
    /// The connection closed; `reason` is nil for an orderly end of stream.
    func connectionClosed(_ connection: Connection, reason: String?)
}

/// Limits of a connection.
public enum ConnectionLimits {
    /// The largest frame body accepted (objects over this move in chunks).
    /// Objects move in 4 MiB chunks; the largest frames are a job's executable in the GCS's KV.
    public static let maxFrameBodyBytes = 256 << 20
    /// The most bytes a connection keeps queued for a peer that does not read them
    /// (SWIFTRAY_MAX_SEND_BACKLOG_BYTES, default 1 GiB: far above what streamed objects queue,
    /// which wait below 8 MiB); past it the connection is closed, so a peer that stops reading
    /// cannot make this process hold its replies without bound.
    public static let maxSendBacklogBytes = (try? positiveSetting("SWIFTRAY_MAX_SEND_BACKLOG_BYTES")).flatMap { $0 } ?? (1 << 30)
}

/// How many frames a peer may send on an accepted connection (a token bucket): `perSecond` on
/// average, `burst` at once. Past it the connection stops reading until a token is due, so the
/// peer's writes back up in its socket (backpressure): nothing is dropped, and the rest of the
/// process serves everyone else meanwhile.
public struct RateLimit: Sendable, Hashable {
    public var perSecond: Double
    public var burst: Double
    /// A peer held back without a break (never a second under its limit) for this long is
    /// refused: it is flooding, not bursting. SWIFTRAY_RATE_LIMIT_REFUSE_AFTER_MS, default 30 s.
    public var refuseAfterMicros: Int64 = 30_000_000

    /// SWIFTRAY_RATE_LIMIT (frames per second per connection, default 200 000: far above what
    /// one connection carries in the benchmarks, ≈ 65 000) and SWIFTRAY_RATE_BURST (default: one
    /// second's worth); a value that is not a positive whole number is refused by name.
    public static func fromEnvironment() throws(RuntimeError) -> RateLimit {
        let perSecond = Double(try positiveSetting("SWIFTRAY_RATE_LIMIT") ?? 200_000)
        var limit = RateLimit(perSecond: perSecond, burst: try positiveSetting("SWIFTRAY_RATE_BURST").map(Double.init) ?? perSecond)
        if let millis = try positiveSetting("SWIFTRAY_RATE_LIMIT_REFUSE_AFTER_MS") { limit.refuseAfterMicros = Int64(millis) * 1000 }
        return limit
    }
}

/// How often connections of this process were held back by their rate limit (`swiftray status`).
public enum RateLimitCounters {
    private static let pauses = Atomic<Int>(0)
    /// Times a connection stopped reading until its peer's next frame was due.
    public static var throttled: Int { pauses.load(ordering: .relaxed) }
    static func countPause() { pauses.add(1, ordering: .relaxed) }
}

/// The bytes of control replies (status, listings: their cost grows with the tables they list)
/// a GCS or raylet gives peers below a node's role (drivers, a job's workers) per second, all
/// connections together: a control request from such a peer waits — its connection stops
/// reading — while the replies already given are over the budget. Nodes and administrators are
/// not metered. SWIFTRAY_CONTROL_REPLY_BYTES_PER_SECOND, default 64 MiB (one second's worth
/// may be used at once).
public final class ControlReplyBudget {
    public let bytesPerSecond: Double
    private var balance: Double
    private var at: Int64 = 0

    public init(bytesPerSecond: Int) {
        self.bytesPerSecond = Double(bytesPerSecond)
        balance = Double(bytesPerSecond)
    }

    /// The budget a GCS or raylet starts with; a malformed setting is refused by name.
    public static func fromEnvironment() throws(RuntimeError) -> ControlReplyBudget {
        ControlReplyBudget(bytesPerSecond: try positiveSetting("SWIFTRAY_CONTROL_REPLY_BYTES_PER_SECOND") ?? 64 << 20)
    }

    private func refill(_ now: Int64) {
        balance = min(bytesPerSecond, balance + Double(now - at) * bytesPerSecond / 1e6)
        at = now
    }

    /// How long a request must wait before it is answered (nil: not at all).
    func microsUntilDue(_ now: Int64) -> Int64? {
        refill(now)
        return balance >= 0 ? nil : Int64((-balance / bytesPerSecond * 1e6).rounded(.up)) + 1
    }

    func charge(_ bytes: Int, _ now: Int64) {
        refill(now)
        balance -= Double(bytes)
    }
}

/// A framed stream connection, used on its loop's thread only.
public final class Connection {
    enum Kind { case tcp, pipe }
    let loop: EventLoop
    let kind: Kind
    let stream: UnsafeMutablePointer<uv_stream_t>
    private var reader = FrameReader(maxBodyBytes: ConnectionLimits.maxFrameBodyBytes)
    private var outgoing: [UInt8] = []
    private var queued = false
    /// Bytes handed to libuv in queued writes, not yet written.
    private var bytesInFlight = 0
    /// Who waits for the backlog to shrink (a streamed object push).
    private var drainWaiters: [() -> Void] = []
    private var readBuffer: UnsafeMutableRawPointer?
    private static let readBufferBytes = 256 * 1024
    /// Hears the frames and the close; let go once it heard the close. Strong: a `weak` reference
    /// would slow every retain of the host (see Lifeline), and an open connection needs its host.
    public var delegate: (any ConnectionDelegate)?
    public private(set) var isClosed = false
    /// True for a connection this process opened (its peer's hello is an ack).
    public var initiatedHere = false
    /// The peer's hello, once received.
    public var peer: Hello?
    /// A description for errors ("raylet node-2", "worker-1.3").
    public var label: String
    private var retained: Unmanaged<Connection>?
    /// The challenge–response in progress (nil once the peer authenticated, or without a secret).
    private var handshake: Handshake?
    /// The credential this connection authenticates with (default: the loop's).
    var credential: ClusterSecret?
    /// Whom the peer speaks for, once authenticated (nil on a loop without credentials: trusted).
    public private(set) var peerIdentity: Identity?
    /// The peer refused this connection during the handshake (it cannot check this side's credential).
    public private(set) var refusedByPeer = false
    /// Frames queued before the peer authenticated; sent once it has.
    private var held: [UInt8] = []
    private var handshakeDeadline: LoopTimer?
    /// Called once when the connection closes (the listener that accepted it counts it).
    var onClose: (() -> Void)?
    /// The peer's frame rate limit (set on accepted connections); nil: unlimited.
    var rateLimit: RateLimit? {
        didSet { tokens = rateLimit?.burst ?? 0 }
    }
    private var tokens: Double = 0
    private var tokensAt: Int64 = 0
    /// A frame read while no token was left: delivered first when reading resumes.
    private var throttledFrame: Frame?
    /// Why a write failed (the peer is gone) while this connection reads on to the end of what the
    /// peer sent before it went (`writeFailed`).
    private var writeFailure: String?
    private var resumeTimer: LoopTimer?
    /// Since when the peer has been held back without a break (nil: not lately), and when reading
    /// last resumed.
    private var heldSince: Int64?
    private var resumedAt: Int64 = 0
    /// TLS on a TCP link whose loop has TLS material (nil: plain bytes).
    private var tls: TLSSession?
    /// Whether this link runs TLS (its records authenticated: a corrupted byte fails the link).
    public var isEncrypted: Bool { tls != nil }
    /// Where TLS decrypts to (the read buffer holds the ciphertext lent to it meanwhile).
    private var plainBuffer: UnsafeMutableRawPointer?

    /// How a refusal over the rate limit begins (a driver refused so fails its calls with QuotaExceeded).
    static let rateLimitRefusal = "rate limit:"

    /// A connection over a fresh TCP or pipe handle (not connected yet).
    init(loop: EventLoop, kind: Kind, label: String) {
        self.loop = loop
        self.kind = kind
        self.label = label
        let size = max(MemoryLayout<uv_tcp_t>.size, MemoryLayout<uv_pipe_t>.size)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        stream = raw.bindMemory(to: uv_stream_t.self, capacity: 1)
        switch kind {
        case .tcp: uv_tcp_init(loop.raw, OpaquePointer(raw).assumingTCP)
        case .pipe: uv_pipe_init(loop.raw, OpaquePointer(raw).assumingPipe, 0)
        }
        // The handle holds the connection alive until it is closed.
        let retained = Unmanaged.passRetained(self)
        self.retained = retained
        stream.pointee.data = retained.toOpaque()
    }

    /// The peer's IP address of a TCP connection (nil if unknown).
    var peerHost: String? {
        var address = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                uv_tcp_getpeername(OpaquePointer(stream).assumingTCP, $0, &length)
            }
        }
        guard status == 0 else { return nil }
        var text = [CChar](repeating: 0, count: 64)
        let named = withUnsafePointer(to: &address) { pointer -> Int32 in
            if Int32(pointer.pointee.ss_family) == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { uv_ip6_name($0, &text, text.count) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { uv_ip4_name($0, &text, text.count) }
        }
        guard named == 0 else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    var handle: UnsafeMutablePointer<uv_handle_t> { UnsafeMutableRawPointer(stream).assumingMemoryBound(to: uv_handle_t.self) }

    /// The process at the other end of a Unix socket, as the kernel says (SO_PEERCRED): nil on TCP;
    /// its pid is 0 when it lives in another PID namespace (its uid is still known).
    var peerProcess: (pid: Int32, uid: UInt32)? {
        guard kind == .pipe else { return nil }
        var fd: uv_os_fd_t = -1
        guard uv_fileno(handle, &fd) == 0 else { return nil }
        var credentials = [Int32](repeating: 0, count: 3)  // struct ucred: pid, uid, gid
        var length = socklen_t(12)
        let status = credentials.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, SO_PEERCRED, $0.baseAddress, &length) }
        guard status == 0 else { return nil }
        return (credentials[0], UInt32(bitPattern: credentials[1]))
    }

    /// Starts delivering frames to the delegate.
    func startReading() {
        reader.expectHello = true
        if kind == .tcp { uv_tcp_nodelay(OpaquePointer(stream).assumingTCP, 1) }
        if kind == .tcp, let context = loop.tls {
            guard let session = TLSSession(context, server: !initiatedHere) else {
                close(reason: "\(label): cannot start TLS")
                return
            }
            tls = session
            // The initiator's hello starts the TLS handshake.
            if initiatedHere { advanceTLS() }
        }
        if let secret = credential ?? loop.secret {
            let handshake = Handshake(secret: secret, initiator: initiatedHere)
            if !initiatedHere {
                // The acceptor speaks first; the initiator answers its challenge.
                outgoing.append(contentsOf: handshake.challengeFrame)
                markDirty()
            }
            self.handshake = handshake
            reader.maxBodyBytes = Handshake.maxFrameBeforeAuth
            // Unowned: the handle keeps this connection until it is closed, and closing cancels the timer.
            handshakeDeadline = loop.timer(afterMicros: Int64(Handshake.deadlineMicros)) { [unowned self] in
                guard !isClosed, self.handshake != nil else { return }
                refuseUnauthenticated("the peer did not authenticate within \(Handshake.deadlineMicros / 1000) ms")
            }
        }
        readBuffer = .allocate(byteCount: Self.readBufferBytes, alignment: 16)
        beginReads()
    }

    private func beginReads() {
        uv_read_start(stream, { handle, _, buf in
            guard let handle, let buf, let data = handle.pointee.data else { return }
            let connection = Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue()
            buf.pointee.base = connection.readBuffer?.assumingMemoryBound(to: CChar.self)
            buf.pointee.len = connection.readBuffer == nil ? 0 : Connection.readBufferBytes
        }, { stream, nread, buf in
            guard let stream, let data = stream.pointee.data else { return }
            Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue().didRead(nread, buf)
        })
    }

    private func didRead(_ count: Int, _ buf: UnsafePointer<uv_buf_t>?) {
        if count < 0 {
            close(reason: writeFailure ?? (count == Int(UV_EOF.rawValue) ? nil : "read failed: \(uvError(Int32(count)))"))
            return
        }
        guard count > 0, let base = buf?.pointee.base else { return }
        loop.activity &+= 1
        let bytes = UnsafeRawBufferPointer(start: base, count: count)
        if let tls {
            // Ciphertext in, lent in place (not copied) while TLS reads it; what a read leaves
            // (a partial record) is kept. Plaintext out into a buffer of its own.
            tls.lend(bytes)
            defer {
                if !tls.endLend() { close(reason: "\(label): TLS: out of memory for the ciphertext read") }
            }
            guard advanceTLS() else { return }
            if plainBuffer == nil { plainBuffer = .allocate(byteCount: Self.readBufferBytes, alignment: 16) }
            while !isClosed, let plainBuffer {
                guard let plain = tls.read(into: plainBuffer, capacity: Self.readBufferBytes) else {
                    close(reason: "\(label): TLS: \(tls.lastError)")
                    return
                }
                if plain == 0 { break }
                reader.append(UnsafeRawBufferPointer(start: plainBuffer, count: plain))
            }
        } else {
            reader.append(bytes)
        }
        deliverFrames()
    }

    /// Runs the TLS handshake as far as the bytes read allow, and queues what it sends; refuses
    /// the peer (counted) if it failed. True while the connection stands.
    @discardableResult
    private func advanceTLS() -> Bool {
        guard let tls else { return true }
        let wasEstablished = tls.established
        guard tls.advanceHandshake() else {
            let reason = "TLS handshake with \(label) failed: \(tls.lastError)\(TLSHint.text)"
            if !initiatedHere { AuthCounters.countRefusal() }
            // What the handshake says (an alert) still goes out.
            writeCiphertext(of: tls)
            close(reason: reason)
            return false
        }
        // Handshake records, and once established the plaintext that waited.
        if !wasEstablished || !outgoing.isEmpty { markDirty() }
        return true
    }

    /// Hands the delegate every whole frame read, as the rate limit allows.
    private func deliverFrames() {
        if let frame = throttledFrame {
            throttledFrame = nil
            delegate?.connection(self, received: frame)
        }
        while !isClosed && resumeTimer == nil {
            let frame: Frame?
            do {
                frame = try reader.next()
            } catch {
                refuse(error.description)
                return
            }
            guard let frame else { break }
            if handshake != nil {
                authenticate(frame)
                continue
            }
            if frame.bytes.count >= EventLoop.largeBufferBytes { loop.trimSoon() }
            if rateLimit != nil && !takeToken() {
                hold(frame)
                return
            }
            if frame.kind == FrameKind.control.rawValue, !peerMay(.node), let budget = loop.controlReplyBudget,
               let wait = budget.microsUntilDue(loop.nowMicros) {
                // Over the process's reply budget: answered when it is due (the peer's requests wait in its socket).
                pause(holding: frame, forMicros: wait) {}
                return
            }
            delegate?.connection(self, received: frame)
        }
    }

    /// Keeps `frame`, stops reading, and after `wait` µs runs `onResume`, hands the frame on and
    /// reads again (counted as a rate-limit hold).
    private func pause(holding frame: Frame, forMicros wait: Int64, onResume: @escaping () -> Void) {
        throttledFrame = frame
        RateLimitCounters.countPause()
        uv_read_stop(stream)
        // Unowned: closing cancels the timer.
        resumeTimer = loop.timer(afterMicros: wait) { [unowned self] in
            resumeTimer = nil
            guard !isClosed else { return }
            onResume()
            deliverFrames()
            if !isClosed && resumeTimer == nil { beginReads() }
        }
    }

    /// Sends a control reply, charged to the process's control-reply budget when the peer is
    /// below a node's role.
    public func sendControlReply(_ frame: [UInt8]) {
        if !peerMay(.node) { loop.controlReplyBudget?.charge(frame.count, loop.nowMicros) }
        send(frame)
    }

    /// One frame's token, if one is left (refilled at the limit's rate since last asked).
    private func takeToken() -> Bool {
        guard let limit = rateLimit else { return true }
        let now = loop.nowMicros
        tokens = min(limit.burst, tokens + Double(now - tokensAt) * limit.perSecond / 1e6)
        tokensAt = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Out of tokens: keeps `frame`, stops reading, and resumes when the next token is due.
    private func hold(_ frame: Frame) {
        guard let limit = rateLimit else { return }
        let now = loop.nowMicros
        // A second under its limit since reading last resumed ends a streak of holds.
        if heldSince == nil || now - resumedAt > 1_000_000 { heldSince = now }
        if let since = heldSince, now - since > limit.refuseAfterMicros {
            AuthCounters.countOverLimit()
            let reason = "\(Self.rateLimitRefusal) the peer sent more than \(Int(limit.perSecond)) frames/s without a break for "
                + "\((now - since) / 1_000_000) s, so it is refused (SWIFTRAY_RATE_LIMIT=\(Int(limit.perSecond)) frames/s per "
                + "connection; SWIFTRAY_RATE_LIMIT_REFUSE_AFTER_MS=\(limit.refuseAfterMicros / 1000) sets how long a peer may "
                + "stay over it)"
            writeStandardError("swiftray: refused \(label) (pid \(getpid())): \(reason)\n")
            refuse(reason)
            return
        }
        let wait = Int64(max(1, ((1 - tokens) / limit.perSecond * 1e6).rounded(.up)))
        pause(holding: frame, forMicros: wait) { [unowned self] in
            resumedAt = loop.nowMicros
            _ = takeToken()  // The held frame's.
        }
    }

    /// A frame of the handshake: answers the peer's challenge, or checks its proof and then
    /// sends what waited. Anything else, or a wrong proof, refuses the connection (counted).
    private func authenticate(_ frame: Frame) {
        if let tls, handshake!.channelBinding.isEmpty {
            // Frames come out of TLS only once its handshake finished: the binding is known.
            guard let binding = tls.channelBinding else {
                refuseUnauthenticated("TLS gave no channel binding: \(tls.lastError)")
                return
            }
            handshake!.channelBinding = binding
        }
        do {
            switch try handshake!.receive(frame) {
            case .send(let proof):
                outgoing.append(contentsOf: proof)
                markDirty()
            case .authenticated:
                peerIdentity = handshake!.peerIdentity
                handshake = nil
                handshakeDeadline?.cancel()
                handshakeDeadline = nil
                reader.maxBodyBytes = ConnectionLimits.maxFrameBodyBytes
                if !held.isEmpty {
                    outgoing.append(contentsOf: held)
                    held = []
                    markDirty()
                }
            }
        } catch {
            if frame.kind == FrameKind.error.rawValue {
                refusedByPeer = true
                close(reason: "\(label): \(error.description)")
                return
            }
            if handshake?.refusedAnotherJob == true {
                // Another job's process opening a direct link: routine (its messages go through the
                // raylet instead), not an attack — neither logged nor counted.
                refuse(error.description)
                return
            }
            refuseUnauthenticated(error.description)
        }
    }

    /// Refuses a peer that did not authenticate: counted, noted on stderr (the process's log).
    private func refuseUnauthenticated(_ reason: String) {
        AuthCounters.countRefusal()
        writeStandardError("swiftray: refused \(label) (pid \(getpid())): \(reason)\n")
        refuse(reason)
    }

    /// True when the peer may act in `role` (its credential's role or a lower one); always true on
    /// a loop without credentials.
    public func peerMay(_ role: Identity.Role) -> Bool {
        guard credential ?? loop.secret != nil else { return true }
        return peerIdentity?.may(role) ?? false
    }

    /// Refuses a hello the peer's credential does not allow (`what`: "register a node"), naming the
    /// credential it presented and the one needed; counted with the unauthenticated refusals.
    func refuseRole(_ what: String, needs role: Identity.Role, noting component: String) {
        AuthCounters.countRefusal()
        let needed = switch role {
        case .admin: "the administrator's (the head node's <session>/\(ClusterSecret.fileName))"
        case .node: "a node's (the head node's <session>/\(ClusterSecret.nodeFileName))"
        case .driver: "a driver's (<session>/\(ClusterSecret.driverFileName))"
        case .job: "its job's"
        }
        refuse("not allowed: \(peerIdentity.map { "\($0)" } ?? "no") credential may not \(what); that needs \(needed)",
               noting: component)
    }

    /// What was queued while the handshake ran and never sent (a link the peer refused).
    func takeUnsent() -> [UInt8] {
        defer { held = [] }
        return held
    }

    /// Decodes the peer's hello; on a bad one, notes it in `role`'s log, refuses the
    /// connection with the reason and returns nil.
    func acceptHello(_ frame: Frame, noting role: String) -> Hello? {
        do {
            return try Wire.decodeHello(frame)
        } catch {
            refuse(error.description, noting: role)
            return nil
        }
    }

    /// Notes the refusal in `role`'s log, then refuses.
    func refuse(_ reason: String, noting role: String) {
        note(role, "refusing \(label): \(reason)")
        refuse(reason)
    }

    /// Sends an error frame naming the problem, then closes.
    public func refuse(_ reason: String) {
        guard !isClosed else { return }
        // Straight out, even before the handshake finished (the peer learns why).
        outgoing.append(contentsOf: Wire.textFrame(.error, reason))
        flush()
        close(reason: reason)
    }

    /// Queues encoded frames; they are written when the loop flushes.
    public func send(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        if handshake != nil {
            held.append(contentsOf: bytes)
            return
        }
        if outgoing.isEmpty { outgoing = bytes } else { outgoing.append(contentsOf: bytes) }
        markDirty()
    }

    /// Queues a message frame, encoding it straight into the outgoing buffer.
    public func send(_ message: Message, from: Address, to: Address) throws(WireError) {
        guard !isClosed else { return }
        if handshake != nil {
            try Wire.appendMessage(message, from: from, to: to, into: &held)
            return
        }
        try Wire.appendMessage(message, from: from, to: to, into: &outgoing)
        markDirty()
    }

    private func markDirty() {
        guard !queued else { return }
        queued = true
        loop.dirtyConnections.append(self)
    }

    /// Writes what is queued (called by the loop before it blocks).
    func flush() {
        queued = false
        guard !isClosed else { return }
        if let tls {
            // Plaintext waits for the handshake; then it goes encrypted.
            if tls.established, !outgoing.isEmpty {
                guard tls.write(outgoing) else {
                    close(reason: "\(label): TLS: \(tls.lastError)")
                    return
                }
                outgoing = []
            }
            writeCiphertext(of: tls)
            return
        }
        guard !outgoing.isEmpty else { return }
        let pending = outgoing
        outgoing = []
        writeBytes(pending)
    }

    /// Writes the TLS records waiting in `tls` straight from where it encrypted them; only what
    /// the socket does not take at once is copied, for a queued write.
    private func writeCiphertext(of tls: TLSSession) {
        let ciphertext = tls.ciphertext
        guard !isClosed, writeFailure == nil, ciphertext.count > 0 else { return }
        if ciphertext.count >= EventLoop.largeBufferBytes { loop.trimSoon() }
        let written = tryWrite(ciphertext)
        if written == ciphertext.count {
            tls.consumeCiphertext(written)
            if backlogBytes < Self.drainedBytes { wakeDrainWaiters() }
            return
        }
        let rest = [UInt8](UnsafeRawBufferPointer(rebasing: ciphertext[max(0, written)...]))
        tls.consumeCiphertext(ciphertext.count)
        queueWrite(rest, from: 0, afterTrying: written)
    }

    /// uv_try_write of `bytes`: how many went out, or a negative libuv status.
    private func tryWrite(_ bytes: UnsafeRawBufferPointer) -> Int {
        // Read only, though libuv's buffer type is mutable.
        var buf = uv_buf_init(UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: CChar.self)),
                              UInt32(bytes.count))
        return Int(uv_try_write(stream, &buf, 1))
    }

    /// Writes bytes as they go on the wire (plaintext frames).
    private func writeBytes(_ bytes: [UInt8]) {
        guard !isClosed, writeFailure == nil, !bytes.isEmpty else { return }
        if bytes.count >= EventLoop.largeBufferBytes { loop.trimSoon() }
        // Read only: the array is shared with the caller, and a mutable view would copy it.
        let written = bytes.withUnsafeBytes { tryWrite($0) }
        if written == bytes.count {
            if backlogBytes < Self.drainedBytes { wakeDrainWaiters() }
            return
        }
        queueWrite(bytes, from: max(0, written), afterTrying: written)
    }

    /// Queues a write of `bytes` from `start` on, after uv_try_write returned `tried`.
    private func queueWrite(_ bytes: [UInt8], from start: Int, afterTrying tried: Int) {
        if tried < 0 && tried != Int(UV_EAGAIN.rawValue) {
            writeFailed("write failed: \(uvError(Int32(tried)))")
            return
        }
        // A queued write keeps the array (not a copy) until done.
        let request = WriteRequest(bytes: bytes, from: start)
        bytesInFlight += request.count
        // Unowned: libuv ends a stream's writes (UV_ECANCELED at the latest) before its close
        // callback, which lets this connection go.
        request.done = { [unowned self] count in
            bytesInFlight -= count
            if backlogBytes < Self.drainedBytes { wakeDrainWaiters() }
        }
        let status = request.start(on: stream)
        if status < 0 {
            writeFailed("write failed: \(uvError(status))")
            return
        }
        if bytesInFlight > ConnectionLimits.maxSendBacklogBytes {
            AuthCounters.countOverLimit()
            let reason = "the peer does not read what is sent to it: \(bytesInFlight) bytes wait for it, over "
                + "SWIFTRAY_MAX_SEND_BACKLOG_BYTES=\(ConnectionLimits.maxSendBacklogBytes); the connection is closed"
            writeStandardError("swiftray: closed \(label) (pid \(getpid())): \(reason)\n")
            close(reason: reason)
        }
    }

    /// A write failed: the peer is gone. What it sent before it went — an error frame saying why it
    /// refused this process, say — may still wait to be read, so the connection writes nothing more
    /// and reads on to the end before it closes, with this reason unless what it reads closes it
    /// first. Closed at once when it is not reading (held back at its rate limit).
    private func writeFailed(_ reason: String) {
        guard readBuffer != nil, resumeTimer == nil else { return close(reason: reason) }
        writeFailure = reason
        outgoing = []
    }

    /// Bytes queued on this connection and not yet written.
    public var backlogBytes: Int { outgoing.count + held.count + bytesInFlight }
    /// Below this backlog, drain waiters run.
    static let drainedBytes = 8 << 20

    /// Runs `body` (on a later loop turn) once the backlog is below `drainedBytes`, or the connection closed.
    public func whenDrained(_ body: @escaping () -> Void) {
        drainWaiters.append(body)
        if isClosed || backlogBytes < Self.drainedBytes { wakeDrainWaiters() }
    }

    private func wakeDrainWaiters() {
        guard !drainWaiters.isEmpty else { return }
        let waiters = drainWaiters
        drainWaiters = []
        // Not from inside a flush: a zero timer runs them before the loop next sleeps.
        loop.timer(afterMicros: 0) { for waiter in waiters { waiter() } }
    }

    /// Closes the connection (idempotent); the delegate hears of it once.
    public func close(reason: String?) {
        guard !isClosed else { return }
        isClosed = true
        onClose?()
        onClose = nil
        outgoing = []
        handshakeDeadline?.cancel()
        handshakeDeadline = nil
        resumeTimer?.cancel()
        resumeTimer = nil
        throttledFrame = nil
        wakeDrainWaiters()
        uv_read_stop(stream)
        uv_close(handle) { handle in
            guard let handle, let data = handle.pointee.data else { return }
            let connection = Unmanaged<Connection>.fromOpaque(data)
            connection.takeUnretainedValue().released()
            connection.release()
        }
        // The delegate may take what never went out (`takeUnsent`) to send it another way.
        delegate?.connectionClosed(self, reason: reason)
        delegate = nil
        held = []
    }

    private func released() {
        readBuffer?.deallocate()
        readBuffer = nil
        plainBuffer?.deallocate()
        plainBuffer = nil
        UnsafeMutableRawPointer(stream).deallocate()
    }
}

/// A queued uv_write of the bytes of an array from an offset on. It holds the array, so its
/// storage stays put (nothing mutates it: the connection gave it up) and is not copied.
private final class WriteRequest {
    let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
    let bytes: [UInt8]
    let start: Int
    let count: Int
    /// Called with `count` when the write completed or failed.
    var done: ((Int) -> Void)?

    init(bytes: [UInt8], from start: Int) {
        self.bytes = bytes
        self.start = start
        count = bytes.count - start
    }

    func start(on stream: UnsafeMutablePointer<uv_stream_t>) -> Int32 {
        let retained = Unmanaged.passRetained(self)
        request.pointee.data = retained.toOpaque()
        // The pointer outlives the closure: an array's own storage (always native here, never
        // bridged) stays where it is while this request holds the array unmutated. Read only,
        // though libuv's buffer type is mutable (a mutable view would copy the array).
        let base = bytes.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
        var buf = uv_buf_init((base + start).assumingMemoryBound(to: CChar.self), UInt32(count))
        let status = uv_write(request, stream, &buf, 1) { request, _ in
            guard let request, let data = request.pointee.data else { return }
            let write = Unmanaged<WriteRequest>.fromOpaque(data)
            write.takeUnretainedValue().done?(write.takeUnretainedValue().count)
            write.release()
        }
        if status < 0 {
            done = nil
            retained.release()
        }
        return status
    }

    deinit {
        request.deallocate()
    }
}

func uvError(_ code: Int32) -> String {
    String(cString: uv_strerror(code))
}

extension OpaquePointer {
    var assumingTCP: UnsafeMutablePointer<uv_tcp_t> { UnsafeMutablePointer<uv_tcp_t>(self) }
    var assumingPipe: UnsafeMutablePointer<uv_pipe_t> { UnsafeMutablePointer<uv_pipe_t>(self) }
}
