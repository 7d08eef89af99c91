// TLS 1.3 on every TCP link (issue 12), when a process is given a directory of TLS
// material (SWIFTRAY_TLS_DIR): the cluster CA (`ca.pem`), this process's certificate
// and key (`node.pem`, `node.key`), all made by `swiftray cert` (or by `swiftray start`
// when a node listens beyond loopback). Both sides verify that the other holds a
// certificate the cluster CA signed; the cluster secret's challenge–response then runs
// inside the channel as before. OpenSSL does the cryptography (CTLS), over memory
// buffers: the event loop moves the ciphertext, so a TLS link is the same non-blocking
// connection. Unix sockets (a node's own processes) stay plain.

import CTLS
import Foundation
import Glibc
import Synchronization

/// A process's TLS material, loaded once: a server and a client context.
public final class TLSContext: @unchecked Sendable {
    /// The directory it was read from.
    public let directory: String
    let server: UnsafeMutableRawPointer
    let client: UnsafeMutableRawPointer

    public static let caFile = "ca.pem"
    public static let certificateFile = "node.pem"
    public static let keyFile = "node.key"

    /// Reads `directory`'s CA, certificate and key; throws naming the file that is missing or wrong.
    public init(directory: String) throws(RuntimeError) {
        self.directory = directory
        let paths = [Self.caFile, Self.certificateFile, Self.keyFile].map { directory + "/" + $0 }
        for path in paths where access(path, R_OK) != 0 {
            throw RuntimeError("TLS: cannot read \(path) (\(String(cString: strerror(errno)))); a directory of TLS material "
                + "holds ca.pem, node.pem and node.key: copy the head node's <session>/tls, or make a certificate with "
                + "`swiftray cert --ca <the cluster CA's directory> --out \(directory)` (`swiftray cert --out DIR` makes a new CA)")
        }
        let keyPath = paths[2]
        var status = stat()
        if stat(keyPath, &status) == 0, status.st_mode & 0o077 != 0 {
            throw RuntimeError("TLS: \(keyPath) is readable by others (mode \(String(status.st_mode & 0o777, radix: 8))); "
                + "`chmod 600 \(keyPath)`")
        }
        func make(_ isServer: Bool) throws(RuntimeError) -> UnsafeMutableRawPointer {
            var error = [CChar](repeating: 0, count: 1024)
            guard let context = swiftray_tls_context(paths[0], paths[1], paths[2], isServer ? 1 : 0, &error, error.count) else {
                throw RuntimeError("TLS: " + cText(error))
            }
            return context
        }
        server = try make(true)
        do {
            client = try make(false)
        } catch {
            swiftray_tls_context_free(server)
            throw error
        }
    }

    deinit {
        swiftray_tls_context_free(server)
        swiftray_tls_context_free(client)
    }

    /// The environment's TLS material (SWIFTRAY_TLS_DIR; unset or empty: TLS off).
    public static func fromEnvironment() throws(RuntimeError) -> TLSContext? {
        guard let directory = environment(environmentVariable), !directory.isEmpty else { return nil }
        return try TLSContext(directory: directory)
    }

    public static let environmentVariable = "SWIFTRAY_TLS_DIR"

    /// The TLS material for talking to the GCS at `gcsAddress` (the CLI): the environment's, else
    /// that of a local node of that cluster (nil: the cluster runs without TLS).
    public static func forGCS(_ gcsAddress: String) throws(RuntimeError) -> TLSContext? {
        if let context = known.withLock({ $0[gcsAddress] }) { return context }
        if let context = try fromEnvironment() { return context }
        guard let record = try? LocalNodeRecord.find(gcsAddress: gcsAddress) else { return nil }
        return try forSession(record.session)
    }

    /// The clusters this process started (`LocalCluster`), by GCS address.
    private static let known = Mutex<[String: TLSContext]>([:])

    /// Remembers the TLS material of a cluster this process started (its CLI-style asks use it).
    public static func remember(_ context: TLSContext, forGCS gcsAddress: String) {
        known.withLock { $0[gcsAddress] = context }
    }

    /// The TLS material a session's processes use (nil: its cluster runs without TLS).
    public static func forSession(_ session: String) throws(RuntimeError) -> TLSContext? {
        let marker = Session(path: session).tlsSettingPath
        guard let directory = try? String(contentsOfFile: marker, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), !directory.isEmpty else { return nil }
        return try TLSContext(directory: directory)
    }

    /// Makes a CA in `caDirectory` (when `makeCA`) and a certificate it signs, named `name`, in
    /// `outDirectory` (with a copy of the CA's certificate, so the directory is all a node needs).
    public static func makeCertificates(caDirectory: String, outDirectory: String, name: String, makeCA: Bool,
                                        validDays: Int = 3650) throws(RuntimeError) {
        for directory in [caDirectory, outDirectory] {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw RuntimeError("cannot create \(directory): \(error.localizedDescription)")
            }
        }
        var error = [CChar](repeating: 0, count: 1024)
        guard swiftray_tls_make_certificates(caDirectory, outDirectory, name, makeCA ? 1 : 0, Int32(validDays),
                                             &error, error.count) == 0 else {
            throw RuntimeError("TLS: " + cText(error))
        }
        let source = caDirectory + "/" + caFile, copy = outDirectory + "/" + caFile
        guard source != copy else { return }
        do {
            if FileManager.default.fileExists(atPath: copy) { try FileManager.default.removeItem(atPath: copy) }
            try FileManager.default.copyItem(atPath: source, toPath: copy)
        } catch {
            throw RuntimeError("cannot copy \(source) to \(copy): \(error.localizedDescription)")
        }
    }
}

/// One connection's TLS state, over memory buffers (the loop's thread only).
final class TLSSession {
    private let raw: UnsafeMutableRawPointer
    /// The handshake finished: plaintext flows.
    private(set) var established = false

    init?(_ context: TLSContext, server: Bool) {
        guard let raw = swiftray_tls_session(server ? context.server : context.client, server ? 1 : 0) else { return nil }
        self.raw = raw
    }

    deinit { swiftray_tls_session_free(raw) }

    /// Runs the handshake as far as it can: false if it failed.
    func advanceHandshake() -> Bool {
        guard !established else { return true }
        switch swiftray_tls_handshake(raw) {
        case 1: established = true
        case 0: break
        default: return false
        }
        return true
    }

    /// Lends ciphertext read from the peer (not copied) to the reads that follow, until
    /// `endLend`, which keeps a copy of what they left: false if that copy failed.
    func lend(_ bytes: UnsafeRawBufferPointer) {
        swiftray_tls_lend(raw, bytes.baseAddress, bytes.count)
    }

    func endLend() -> Bool { swiftray_tls_end_lend(raw) == 0 }

    /// The ciphertext waiting to go out, in place (valid until the next write); `consume` drops
    /// the first `count` bytes of it.
    var ciphertext: UnsafeRawBufferPointer {
        var length = 0
        let base = swiftray_tls_out(raw, &length)
        return UnsafeRawBufferPointer(start: base, count: length)
    }

    func consumeCiphertext(_ count: Int) { swiftray_tls_out_consume(raw, count) }

    /// Decrypts what was fed into `buffer`: bytes written (0: nothing yet), nil if the stream failed.
    func read(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int? {
        let count = swiftray_tls_read(raw, buffer, capacity)
        return count < 0 ? nil : count
    }

    /// Encrypts `bytes` (the ciphertext waits in `ciphertext`).
    func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { swiftray_tls_write(raw, $0.baseAddress, $0.count) == $0.count }
    }

    /// The connection's channel binding (RFC 9266): nil before the handshake finished.
    var channelBinding: [UInt8]? { tlsChannelBinding(raw) }

    /// Why the last step failed.
    var lastError: String {
        var text = [CChar](repeating: 0, count: 512)
        swiftray_tls_last_error(raw, &text, text.count)
        return cText(text)
    }
}

/// TLS on a connected blocking socket (the CLI's control client).
final class BlockingTLS {
    private let raw: UnsafeMutableRawPointer

    init(_ context: TLSContext, fd: Int32, peer: String) throws(RuntimeError) {
        var error = [CChar](repeating: 0, count: 512)
        guard let raw = swiftray_tls_connect_fd(context.client, fd, &error, error.count) else {
            throw RuntimeError("TLS with \(peer) failed: \(cText(error))\(TLSHint.text)")
        }
        self.raw = raw
    }

    deinit { swiftray_tls_session_free(raw) }

    func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { swiftray_tls_write(raw, $0.baseAddress, $0.count) == $0.count }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        swiftray_tls_fd_read(raw, buffer.baseAddress, buffer.count)
    }

    /// The connection's channel binding (RFC 9266; its handshake is done).
    var channelBinding: [UInt8]? { tlsChannelBinding(raw) }
}

/// RFC 9266's `tls-exporter` value of a session: the same on both ends of one TLS connection,
/// different on any other (a relay that ends TLS on each side has two). The cluster's
/// challenge–response proves it (`Handshake.channelBinding`), so a proof cannot be relayed
/// from one TLS connection to another.
private func tlsChannelBinding(_ session: UnsafeMutableRawPointer) -> [UInt8]? {
    var out = [UInt8](repeating: 0, count: Handshake.channelBindingBytes)
    let status = out.withUnsafeMutableBufferPointer { swiftray_tls_channel_binding(session, $0.baseAddress, $0.count) }
    return status == 0 ? out : nil
}

enum TLSHint {
    /// What to check when a TLS handshake fails.
    static let text = " (both ends need TLS material of the same cluster CA: SWIFTRAY_TLS_DIR, or `swiftray start "
        + "--tls DIR`; a peer without TLS cannot talk to one with it)"
}

/// A NUL-terminated C buffer as text.
private func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// TLS's own cost, without sockets or stores: `megabytes` MiB encrypted by a client session and
/// decrypted by a server session, both on this thread (`swiftray-bench --only tls_memory_gigabytes`).
public enum TLSBenchmark {
    /// GB/s of plaintext through encrypt and decrypt together.
    public static func throughput(directory: String, megabytes: Int) throws(RuntimeError) -> Double {
        let context = try TLSContext(directory: directory)
        guard let client = TLSSession(context, server: false), let server = TLSSession(context, server: true) else {
            throw RuntimeError("cannot make TLS sessions")
        }
        // What `from` has to send goes to `to` as the loop hands it over: lent in place while
        // `step` reads it, what it leaves kept by `to`, then dropped from `from`.
        func pass(_ from: TLSSession, to: TLSSession, _ step: () -> Bool) throws(RuntimeError) {
            let out = from.ciphertext
            to.lend(out)
            let stepped = step()
            guard to.endLend() else { throw RuntimeError("cannot keep ciphertext") }
            from.consumeCiphertext(out.count)
            guard stepped else { throw RuntimeError("TLS failed: \(to.lastError)") }
        }
        // The handshake, by hand: each side's records to the other until both are done.
        for _ in 0..<10 where !(client.established && server.established) {
            guard client.advanceHandshake() else { throw RuntimeError("client handshake: \(client.lastError)") }
            try pass(client, to: server) { server.advanceHandshake() }
            try pass(server, to: client) { client.advanceHandshake() }
        }
        let chunk = [UInt8](repeating: 7, count: 1 << 20)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        var received = 0
        for _ in 0..<megabytes {
            guard client.write(chunk) else { throw RuntimeError("encrypt: \(client.lastError)") }
            try pass(client, to: server) {
                while true {
                    guard let count = server.read(into: buffer, capacity: 1 << 20) else { return false }
                    if count == 0 { return true }
                    received += count
                }
            }
        }
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &end)
        guard received == megabytes << 20 else { throw RuntimeError("decrypted \(received) bytes, not \(megabytes << 20)") }
        let seconds = Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
        return Double(received) / 1e9 / seconds
    }
}
