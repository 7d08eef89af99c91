// The decoders a peer's bytes reach, as one entry point for the fuzzers
// (tools/fuzz.sh) and their regression tests: a byte stream split into frames,
// each frame decoded as its kind says, the handshake fed what comes first.

import RayCore

/// Feeds arbitrary bytes to every decoder a connection runs on what a peer sends.
public enum WireFuzzing {
    /// Splits `bytes` into frames as a connection's reader does (the first must look like a
    /// handshake; at most 256 bytes until authenticated, then up to 1 MiB here) and decodes each
    /// by its kind. Returns how many frames decoded without an error. Never traps.
    @discardableResult
    public static func decodeStream(_ bytes: [UInt8]) -> Int {
        var reader = FrameReader(maxBodyBytes: Handshake.maxFrameBeforeAuth)
        reader.expectHello = true
        bytes.withUnsafeBytes { reader.append($0) }
        var handshake: Handshake? = Handshake(secret: fuzzSecret, initiator: false, nonce: fuzzNonce)
        var decoded = 0
        for _ in 0..<256 {
            guard let frame = try? reader.next() else { break }
            if handshake != nil {
                // A proof cannot be forged here: after the challenge, go on as if authenticated.
                if (try? handshake!.receive(frame)) != nil { decoded += 1 }
                handshake = nil
                reader.maxBodyBytes = 1 << 20
                continue
            }
            if decodeFrame(frame) { decoded += 1 }
        }
        return decoded
    }

    /// Decodes one frame by its kind; true when it decoded.
    static func decodeFrame(_ frame: Frame) -> Bool {
        switch FrameKind(rawValue: frame.kind) {
        case .hello: return (try? Wire.decodeHello(frame)).map { "\($0)" } != nil
        case .message:
            guard (try? frame.addresses()) != nil, let message = try? frame.message() else { return false }
            return !"\(message)".isEmpty
        case .peerClosed:
            _ = frame.closedDetail  // read as a raylet reads it
            return (try? frame.addresses()) != nil
        case .error: return !frame.text.isEmpty
        case .control: return (try? frame.controlRequest()).map { "\($0)" } != nil
        case .controlReply: return (try? frame.controlReply()).map { "\($0)" } != nil
        case .directory: return (try? frame.directory()) != nil
        case .objectChunk: return (try? Wire.chunkHeader(frame)) != nil
        case .output: return (try? frame.output()) != nil && (try? frame.addresses()) != nil
        case .auth:
            var handshake = Handshake(secret: fuzzSecret, initiator: true, nonce: fuzzNonce)
            return (try? handshake.receive(frame)) != nil
        case nil: return false
        }
    }

    static let fuzzSecret = ClusterSecret(bytes: [UInt8](repeating: 7, count: ClusterSecret.byteCount), source: "the fuzzer")
    static let fuzzNonce = [UInt8](repeating: 9, count: Handshake.nonceBytes)

    /// Valid byte streams to start a fuzzer from: a challenge, then hellos, messages, control
    /// requests and replies, directories, chunks and output frames.
    public static func seeds() -> [[UInt8]] {
        let challenge = Handshake(secret: fuzzSecret, initiator: true, nonce: [UInt8](repeating: 3, count: 32)).challengeFrame
        var hello = Hello(role: .worker)
        hello.worker = WorkerID(node: NodeID(1), index: 2)
        hello.job = JobID(1)
        var message: [UInt8] = []
        try? Wire.appendMessage(.kvGet(key: "job"), from: .worker(WorkerID(node: NodeID(1), index: 2)), to: .gcs,
                                into: &message)
        var chunks: [UInt8] = []
        [UInt8](repeating: 5, count: 64).withUnsafeBytes { bytes in
            Wire.appendChunks(of: ObjectID(task: TaskID(value: 7), index: 1), bytes, chunkBytes: 16, into: &chunks)
        }
        let bodies: [[UInt8]] = [
            Wire.helloFrame(hello) + message,
            Wire.helloFrame(Hello(role: .client)) + Wire.controlFrame(.nodeStatus) + Wire.controlFrame(.listObjects),
            Wire.controlReplyFrame(.pong) + Wire.controlReplyFrame(.idleWorkers(3)),
            Wire.directoryFrame(Directory(entries: [], executable: nil)),
            chunks,
            Wire.outputFrame(from: .worker(WorkerID(node: NodeID(1), index: 3)), to: .worker(WorkerID(node: NodeID(1), index: 0)), stream: 1, text: "hi\n"),
            Wire.textFrame(.error, "refused"),
        ]
        return bodies.map { challenge + Handshake.frame(.proof, [UInt8](repeating: 0, count: 32)) + $0 }
    }
}
