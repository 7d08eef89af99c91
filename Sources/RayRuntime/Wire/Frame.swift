// The wire format between SwiftRay processes: length-prefixed frames over TCP
// (between nodes, and to the GCS) and Unix domain sockets (a raylet and its
// local workers and drivers).
//
// A frame is [body length: UInt32 LE][kind: UInt8][kind-specific payload].
// - auth:       "SWRY", protocol version (UInt16 LE), step (0 challenge, 1 proof), 32 bytes:
//               the challenge–response every connection runs first, both ways (Auth.swift).
// - hello:      "SWRY", protocol version (UInt16 LE), then a `Hello` (protobuf, swiftray.proto).
//               The first frame after authentication, in both directions.
// - message:    from (9 bytes), to (9 bytes), then a `Message` (protobuf, Sources/RayWire/
//               swiftray.proto): the schema the event logs record too.
// - peerClosed: observer (9 bytes), peer (9 bytes), then optional UTF-8 text: the observer's
//               virtual connection to `peer` closed (its process or node is gone); for a
//               worker process, the text says how it ended, then its last lines of stderr.
// - error:      UTF-8 text; the sender closes the connection after it.
// - control:    UTF-8 text: a command from the `swiftray` CLI; `controlReply` answers it.
// - directory:  a `Directory` (protobuf): the GCS tells raylets where every node listens.
// - objectChunk: object (task UInt64 LE, index UInt32 LE), total size, offset (UInt64 LE
//               each), CRC-32C of the bytes (UInt32 LE), then bytes: a piece of a pushed
//               object (a chunk whose bytes do not match is dropped, and with it the
//               transfer: the pull retries); the pushObject message
//               (without bytes) follows its last chunk on the same connection.
// - output:     from (9 bytes: a raylet), to (9 bytes: a driver), stream (1 stdout, 2 stderr),
//               then UTF-8 lines: what the job's workers printed, prefixed with task and node.
// An address is 9 bytes: a tag (0 GCS, 1 raylet, 2 worker), then two UInt32 LE.
//
// Invariants: a reader never trusts a length: a body longer than the limit is
// an error naming the limit, a connection whose first frame is not a hello of
// this protocol version is refused with an error frame saying why.

public import RayCore
import RayStorage
import RayWire

/// The protocol version spoken on every connection; peers must match exactly.
/// 1: BinaryCoder payloads; 2: protobuf (swiftray.proto); 3: lease requests name their job;
/// 4: authentication first; 5: object chunks carry a checksum; 6: credentials per role;
/// 7: proofs bound to the TLS channel.
public let wireProtocolVersion: UInt16 = 7
/// The hello magic.
let wireMagic: [UInt8] = Array("SWRY".utf8)

/// What a frame carries.
public enum FrameKind: UInt8, Sendable {
    case hello = 1
    case message = 2
    case peerClosed = 3
    case error = 4
    case control = 5
    case controlReply = 6
    case directory = 7
    case objectChunk = 8
    case output = 9
    /// The challenge–response every connection runs before its hello (Auth.swift).
    case auth = 10
}

/// Who is on the other end of a connection, and what it tells its peer.
public struct Hello: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable {
        case gcs, raylet, worker, driver, client
    }
    public var role: Role
    /// A raylet: its node (nil when it first joins; the GCS assigns one). A worker or driver: its node.
    public var node: NodeID?
    /// A worker: the ID its raylet spawned it with. A driver's ack: the ID it was given.
    public var worker: WorkerID?
    /// A driver's ack: its job.
    public var job: JobID?
    /// A raylet: where it listens for other raylets.
    public var host: String?
    public var port: Int?
    /// A raylet: its name, resources and store capacity.
    public var name: String?
    public var resources: ResourceSet?
    public var objectStoreBytes: Int64?
    /// A driver: the executable its workers run (its own).
    public var executable: String?
    /// An ack: the cluster's configuration.
    public var config: RayConfig?
    /// An ack: the session directory (logs, sockets).
    public var session: String?

    public init(role: Role) { self.role = role }
}

/// Where each alive node's raylet listens (sent by the GCS to every raylet).
public struct Directory: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var node: NodeID
        public var host: String
        public var port: Int
        public var name: String
    }
    public var entries: [Entry]
    /// The executable workers run: "<digest> <path>" (the last driver's), if any driver connected.
    public var executable: String?
}

/// Errors found in what a peer sent.
public struct WireError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

enum Wire {
    static let addressBytes = 9

    static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 24))
    }

    static func readUInt32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }

    static func appendAddress(_ address: Address, to out: inout [UInt8]) {
        switch address {
        case .gcs:
            out.append(0); appendUInt32(0, to: &out); appendUInt32(0, to: &out)
        case .raylet(let node):
            out.append(1); appendUInt32(node.value, to: &out); appendUInt32(0, to: &out)
        case .worker(let worker):
            out.append(2); appendUInt32(worker.node.value, to: &out); appendUInt32(worker.index, to: &out)
        }
    }

    static func readAddress(_ bytes: UnsafeRawBufferPointer, _ offset: Int) throws(WireError) -> Address {
        let a = readUInt32(bytes, offset + 1), b = readUInt32(bytes, offset + 5)
        switch bytes[offset] {
        case 0: return .gcs
        case 1: return .raylet(NodeID(a))
        case 2: return .worker(WorkerID(node: NodeID(a), index: b))
        default: throw WireError("bad address tag \(bytes[offset])")
        }
    }

    /// Starts a frame of `kind` in `out`; `finish` patches its length.
    @inline(__always)
    static func begin(_ kind: FrameKind, in out: inout [UInt8]) -> Int {
        let start = out.count
        appendUInt32(0, to: &out)
        out.append(kind.rawValue)
        return start
    }

    @inline(__always)
    static func finish(_ start: Int, in out: inout [UInt8]) {
        let length = UInt32(out.count - start - 4)
        out[start] = UInt8(truncatingIfNeeded: length)
        out[start + 1] = UInt8(truncatingIfNeeded: length >> 8)
        out[start + 2] = UInt8(truncatingIfNeeded: length >> 16)
        out[start + 3] = UInt8(truncatingIfNeeded: length >> 24)
    }

    static func helloFrame(_ hello: Hello) -> [UInt8] {
        var out: [UInt8] = []
        let start = begin(.hello, in: &out)
        out.append(contentsOf: wireMagic)
        out.append(UInt8(truncatingIfNeeded: wireProtocolVersion))
        out.append(UInt8(truncatingIfNeeded: wireProtocolVersion >> 8))
        // Hello holds only strings, integers and IDs: encoding cannot fail.
        out.append(contentsOf: (try? hello.proto.serializedBytes() as [UInt8]) ?? [])
        finish(start, in: &out)
        return out
    }

    static func textFrame(_ kind: FrameKind, _ text: String) -> [UInt8] {
        var out: [UInt8] = []
        let start = begin(kind, in: &out)
        out.append(contentsOf: Array(text.utf8))
        finish(start, in: &out)
        return out
    }

    static func directoryFrame(_ directory: Directory) -> [UInt8] {
        var out: [UInt8] = []
        let start = begin(.directory, in: &out)
        // Strings and integers only: encoding cannot fail.
        out.append(contentsOf: (try? directory.proto.serializedBytes() as [UInt8]) ?? [])
        finish(start, in: &out)
        return out
    }

    /// Appends a message frame to `out`.
    static func appendMessage(_ message: Message, from: Address, to: Address,
                              into out: inout [UInt8]) throws(WireError) {
        let start = begin(.message, in: &out)
        appendAddress(from, to: &out)
        appendAddress(to, to: &out)
        do {
            try message.appendRecord(to: &out)
        } catch {
            out.removeSubrange(start...)
            throw WireError("cannot encode \(message): \(error)")
        }
        finish(start, in: &out)
    }

    /// The size of an objectChunk frame's header after the kind byte.
    static let chunkHeaderBytes = 12 + 8 + 8 + 4

    /// An objectChunk frame's header, checked: its object, the object's size, and where the
    /// chunk's bytes (from `bodyStart` in the frame) go.
    struct ChunkHeader {
        var object: ObjectID
        var total: Int64
        var offset: Int64
        /// The bytes match the checksum the sender wrote (or were not checked: `verify` false).
        var intact: Bool
        var bodyStart: Int { 5 + Wire.chunkHeaderBytes }
    }

    /// `verify` false skips the CRC (a chunk that came over TLS).
    static func chunkHeader(_ frame: Frame, verify: Bool = true) throws(WireError) -> ChunkHeader {
        guard frame.bytes.count >= 5 + chunkHeaderBytes else { throw WireError("short object chunk frame") }
        let header = frame.bytes.withUnsafeBytes { raw in
            ChunkHeader(object: ObjectID(task: TaskID(value: readUInt64(raw, 5)), index: readUInt32(raw, 13)),
                        total: Int64(bitPattern: readUInt64(raw, 17)), offset: Int64(bitPattern: readUInt64(raw, 25)),
                        intact: !verify || readUInt32(raw, 33)
                            == FastCRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[(5 + chunkHeaderBytes)...])))
        }
        let count = Int64(frame.bytes.count - header.bodyStart)
        // Compared without overflow: an offset near Int64.max must not trap.
        guard header.total >= 0, header.offset >= 0, header.offset <= header.total, count <= header.total - header.offset else {
            throw WireError("object chunk of \(header.object) out of range (offset \(header.offset), "
                + "\(count) bytes, total \(header.total))")
        }
        return header
    }

    /// Appends the objectChunk frames of `bytes` to `out`, `chunkBytes` at a time.
    static func appendChunks(of object: ObjectID, _ bytes: UnsafeRawBufferPointer, chunkBytes: Int,
                             into out: inout [UInt8]) {
        var offset = 0
        repeat {
            let count = min(chunkBytes, bytes.count - offset)
            appendChunk(of: object, bytes, offset: offset, count: count, into: &out)
            offset += count
        } while offset < bytes.count
    }

    /// Appends the objectChunk frame of `bytes[offset..<offset + count]`, with its CRC-32C unless
    /// `checksum` is false (a TLS link: its records' authentication tags check every byte, and the
    /// receiver does not check the CRC of a chunk that came over TLS).
    static func appendChunk(of object: ObjectID, _ bytes: UnsafeRawBufferPointer, offset: Int, count: Int,
                            checksum: Bool = true, into out: inout [UInt8]) {
        let start = begin(.objectChunk, in: &out)
        appendUInt64(object.task.value, to: &out)
        appendUInt32(object.index, to: &out)
        appendUInt64(UInt64(bytes.count), to: &out)
        appendUInt64(UInt64(offset), to: &out)
        appendUInt32(checksum ? FastCRC32C.update(0, UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])) : 0,
                     to: &out)
        if count > 0 {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
                .assumingMemoryBound(to: UInt8.self))
        }
        finish(start, in: &out)
    }

    static func appendUInt64(_ value: UInt64, to out: inout [UInt8]) {
        appendUInt32(UInt32(truncatingIfNeeded: value), to: &out)
        appendUInt32(UInt32(truncatingIfNeeded: value >> 32), to: &out)
    }

    static func readUInt64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(readUInt32(bytes, offset)) | UInt64(readUInt32(bytes, offset + 4)) << 32
    }

    static func peerClosedFrame(observer: Address, peer: Address, detail: String? = nil) -> [UInt8] {
        var out: [UInt8] = []
        let start = begin(.peerClosed, in: &out)
        appendAddress(observer, to: &out)
        appendAddress(peer, to: &out)
        if let detail { out.append(contentsOf: detail.utf8) }
        finish(start, in: &out)
        return out
    }

    static func outputFrame(from: Address, to: Address, stream: UInt8, text: String) -> [UInt8] {
        var out: [UInt8] = []
        let start = begin(.output, in: &out)
        appendAddress(from, to: &out)
        appendAddress(to, to: &out)
        out.append(stream)
        out.append(contentsOf: text.utf8)
        finish(start, in: &out)
        return out
    }

    /// Checks a hello frame's magic and version and decodes it.
    static func decodeHello(_ frame: Frame) throws(WireError) -> Hello {
        guard frame.kind == FrameKind.hello.rawValue else {
            throw WireError("expected a hello frame first, got frame kind \(frame.kind): not a SwiftRay peer?")
        }
        let body = frame.payload
        guard body.count >= 6, Array(body[body.startIndex..<body.startIndex + 4]) == wireMagic else {
            throw WireError("the hello frame lacks the SWRY magic: not a SwiftRay peer")
        }
        let version = UInt16(body[body.startIndex + 4]) | UInt16(body[body.startIndex + 5]) << 8
        guard version == wireProtocolVersion else {
            throw WireError("peer speaks protocol version \(version), this process speaks \(wireProtocolVersion): "
                + "run the same SwiftRay build on every node")
        }
        do {
            return try Hello(proto: PBHello(serializedBytes: body[(body.startIndex + 6)...]))
        } catch {
            throw WireError("malformed hello: \(error)")
        }
    }
}

/// One received frame: its kind byte and the bytes after it. `bytes` is the
/// whole frame including its length prefix, so a router can forward it as is.
public struct Frame: Sendable {
    public var bytes: [UInt8]
    public var kind: UInt8 { bytes[4] }
    public var payload: ArraySlice<UInt8> { bytes[5...] }

    /// The (from, to) of a message frame, or (observer, peer) of a peerClosed frame.
    func addresses() throws(WireError) -> (Address, Address) {
        guard bytes.count >= 5 + 2 * Wire.addressBytes else { throw WireError("frame too short for its addresses") }
        let result: Result<(Address, Address), WireError> = bytes.withUnsafeBytes { raw in
            do throws(WireError) {
                return .success((try Wire.readAddress(raw, 5), try Wire.readAddress(raw, 5 + Wire.addressBytes)))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The encoded message of a message frame (after its kind and addresses).
    var messageBytes: ArraySlice<UInt8> { bytes[(5 + 2 * Wire.addressBytes)...] }

    /// The message of a message frame.
    func message() throws(WireError) -> Message {
        do {
            return try Message(recordBytes: messageBytes)
        } catch {
            throw WireError("undecodable message: \(error)")
        }
    }

    var text: String { String(decoding: payload, as: UTF8.self) }

    /// A peerClosed frame's text after its addresses (how a worker ended), nil when it has none.
    var closedDetail: String? {
        let start = 5 + 2 * Wire.addressBytes
        guard bytes.count > start else { return nil }
        return String(decoding: bytes[start...], as: UTF8.self)
    }

    /// An output frame's stream (1 stdout, 2 stderr) and text.
    func output() throws(WireError) -> (stream: UInt8, text: Substring) {
        let start = 5 + 2 * Wire.addressBytes
        guard bytes.count > start else { throw WireError("output frame too short") }
        return (bytes[start], Substring(String(decoding: bytes[(start + 1)...], as: UTF8.self)))
    }

    func directory() throws(WireError) -> Directory {
        do {
            return try Directory(proto: PBDirectory(serializedBytes: payload))
        } catch {
            throw WireError("undecodable directory: \(error)")
        }
    }
}

/// Splits a byte stream into frames, refusing bodies over `maxBodyBytes`.
public struct FrameReader {
    public var maxBodyBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Until the first frame is read, check that it starts like a hello (refuses
    /// another protocol at its first bytes instead of waiting for a length it announces).
    var expectHello = false

    public init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        // Typed, so the append is one memcpy (a raw buffer would be copied byte by byte).
        buffer.append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self))
    }

    /// The next complete frame, nil if more bytes are needed.
    public mutating func next() throws(WireError) -> Frame? {
        let available = buffer.count - start
        if expectHello && available >= 4 {
            let seen = Array(buffer[start..<min(buffer.count, start + 9)])
            // A SwiftRay peer starts with its authentication challenge (or, refusing, an error).
            let looksLike = { (kind: FrameKind) -> Bool in
                let expected = [kind.rawValue] + wireMagic
                return seen.count <= 4 || expected.starts(with: seen[4...]) || seen[4...].elementsEqual(expected.prefix(seen.count - 4))
            }
            if !looksLike(.auth) && !looksLike(.hello) && !(seen.count > 4 && seen[4] == FrameKind.error.rawValue) {
                let printable = String(decoding: seen.map { (32...126).contains($0) ? $0 : UInt8(ascii: ".") }, as: UTF8.self)
                throw WireError("not a SwiftRay peer: its first bytes are \"\(printable)\", not a SWRY handshake")
            }
            if seen.count == 9 { expectHello = false }
        }
        guard available >= 4 else { return nil }
        let length = Int(buffer.withUnsafeBytes { Wire.readUInt32($0, start) })
        guard length >= 1 else { throw WireError("empty frame (length 0)") }
        guard length <= maxBodyBytes else {
            throw WireError("frame of \(length) bytes exceeds the limit of \(maxBodyBytes) bytes "
                + "(a peer speaking another protocol, or a corrupt stream)")
        }
        guard available >= 4 + length else {
            if buffer.capacity < start + 4 + length { buffer.reserveCapacity(start + 4 + length) }
            return nil
        }
        if start == 0 && buffer.count == 4 + length && length > 1 << 16 {
            // A large frame that fills the buffer: hand the buffer over instead of copying it.
            let frame = Frame(bytes: buffer)
            buffer = []
            return frame
        }
        let frame = Frame(bytes: Array(buffer[start..<(start + 4 + length)]))
        start += 4 + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        } else if start > 1 << 16 && start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        return frame
    }
}
