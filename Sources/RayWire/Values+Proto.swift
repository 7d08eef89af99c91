// Hand-written conversions for the small values every record repeats (IDs,
// addresses, resources, object data, errors), the checks generated code
// calls, and `ProtoRecord`: encoding a record to bytes and back — what frames
// carry and what every event log holds.

import Foundation
public import RayCore
public import SwiftProtobuf

/// A record that does not make sense: a missing field, an unknown case, an out-of-range value.
public struct RecordError: Error, CustomStringConvertible, Sendable {
    /// Where in the record, e.g. `Message.push_task.spec.owner`.
    public var path: String
    public var problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

/// Checks the generated conversions call.
public enum ProtoRecords {
    /// A message-typed field that must be present.
    @inline(__always)
    public static func field<M>(_ present: Bool, _ value: M, _ path: @autoclosure () -> String) throws -> M {
        guard present else { throw RecordError(path: path(), problem: "missing") }
        return value
    }
}

/// A value stored as one protobuf record: a wire message or a logged input.
public protocol ProtoRecord {
    associatedtype Proto: SwiftProtobuf.Message
    var proto: Proto { get }
    init(proto: Proto, at path: @autoclosure () -> String) throws
    /// Appends the record's bytes written by hand (the bytes `proto` serializes to) when this
    /// value is of a kind written so (FastMessages: tasks, calls, replies); false otherwise.
    func appendHandWritten(to out: inout [UInt8]) -> Bool
    /// The value of `bytes` read by hand when they are a canonical record of such a kind
    /// (exactly what the generated decoder reads); nil to take the generated decoder.
    static func handRead(_ bytes: UnsafeRawBufferPointer) -> Self?
}

extension ProtoRecord {
    public func appendHandWritten(to out: inout [UInt8]) -> Bool { false }
    public static func handRead(_ bytes: UnsafeRawBufferPointer) -> Self? { nil }

    /// The record's bytes.
    public func recordBytes() throws -> [UInt8] {
        var out: [UInt8] = []
        try appendRecord(to: &out)
        return out
    }

    /// Appends the record's bytes to `out`.
    public func appendRecord(to out: inout [UInt8]) throws {
        if appendHandWritten(to: &out) { return }
        let bytes: [UInt8] = try proto.serializedBytes()
        out.append(contentsOf: bytes)
    }

    /// Decodes a record; malformed bytes or a record that does not make sense throw a `RecordError`.
    public init<Bytes: SwiftProtobufContiguousBytes>(recordBytes bytes: Bytes) throws {
        if let value = bytes.withUnsafeBytes({ Self.handRead($0) }) {
            self = value
            return
        }
        try self.init(generatedDecoding: bytes)
    }

    /// Decodes a record with the generated decoder only (what the hand-written one is checked against).
    public init<Bytes: SwiftProtobufContiguousBytes>(generatedDecoding bytes: Bytes) throws {
        let message: Proto
        do {
            message = try Proto(serializedBytes: bytes)
        } catch {
            throw RecordError(path: String(describing: Self.self), problem: "malformed protobuf (\(error))")
        }
        try self.init(proto: message, at: String(describing: Self.self))
    }
}

/// An event-log record: the time the machine was handed the input (microseconds, 8 bytes
/// little-endian), then the input's protobuf bytes. Replay hands the time back.
public enum LogRecord {
    public static let timeBytes = 8

    public static func encode<Input: ProtoRecord>(_ input: Input, at now: Int64) throws -> [UInt8] {
        var record = [UInt8](repeating: 0, count: timeBytes)
        try input.appendRecord(to: &record)
        stamp(&record, at: now)
        return record
    }

    /// The time of a record.
    public static func time(_ record: [UInt8]) throws -> Int64 {
        guard record.count >= timeBytes else {
            throw RecordError(path: "log record", problem: "\(record.count) bytes, shorter than its time")
        }
        var time: UInt64 = 0
        for index in 0..<timeBytes { time |= UInt64(record[index]) << UInt64(index * 8) }
        return Int64(bitPattern: time)
    }

    /// The input's bytes of a record (what a trace step holds).
    public static func inputBytes(_ record: [UInt8]) -> ArraySlice<UInt8> {
        record.dropFirst(timeBytes)
    }

    public static func decode<Input: ProtoRecord>(_ type: Input.Type, _ record: [UInt8]) throws -> (Input, Int64) {
        let time = try time(record)
        return (try Input(recordBytes: Array(inputBytes(record))), time)
    }
}

extension RayCore.Message: ProtoRecord {
    public func appendHandWritten(to out: inout [UInt8]) -> Bool { FastMessages.append(self, to: &out) }
    public static func handRead(_ bytes: UnsafeRawBufferPointer) -> Self? { FastMessages.decode(bytes) }
}
extension OwnerInput {
    public func appendHandWritten(to out: inout [UInt8]) -> Bool { FastMessages.append(self, to: &out) }
}
extension ExecutorInput {
    public func appendHandWritten(to out: inout [UInt8]) -> Bool { FastMessages.append(self, to: &out) }
}
extension GCSInput: ReceivedRecord { public static let messageReceivedField: UInt64 = 3 }
extension RayletInput: ReceivedRecord { public static let messageReceivedField: UInt64 = 2 }
extension OwnerInput: ReceivedRecord { public static let messageReceivedField: UInt64 = 6 }
extension ExecutorInput: ReceivedRecord { public static let messageReceivedField: UInt64 = 2 }

/// An input with a `messageReceived(from:, Message)` case: its log record can be spliced from
/// the message's bytes as they came off the wire (the `message_received` field number in
/// swiftray.proto; `LogRecordTests` checks the splice decodes to the same input).
public protocol ReceivedRecord: ProtoRecord {
    static var messageReceivedField: UInt64 { get }
}

extension LogRecord {
    /// The record of `Input.messageReceived(from: from, message)` where `messageBytes` is the
    /// message's encoding (a frame's tail): the bytes are copied, not decoded and encoded again.
    /// Its time is zero until `stamp` sets it.
    public static func received<Input: ReceivedRecord>(_ type: Input.Type, from: Address,
                                                       messageBytes: ArraySlice<UInt8>) throws -> [UInt8] {
        let address: [UInt8] = try from.proto.serializedBytes()
        // MessageReceived { Address from = 1; Message message = 2; }
        let inner = 1 + Varint.size(UInt64(address.count)) + address.count
            + 1 + Varint.size(UInt64(messageBytes.count)) + messageBytes.count
        let tag = Input.messageReceivedField << 3 | 2
        var record = [UInt8]()
        record.reserveCapacity(timeBytes + Varint.size(tag) + Varint.size(UInt64(inner)) + inner)
        record.append(contentsOf: repeatElement(0, count: timeBytes))
        Varint.append(tag, to: &record)
        Varint.append(UInt64(inner), to: &record)
        record.append(1 << 3 | 2)
        Varint.append(UInt64(address.count), to: &record)
        record.append(contentsOf: address)
        record.append(2 << 3 | 2)
        Varint.append(UInt64(messageBytes.count), to: &record)
        record.append(contentsOf: messageBytes)
        return record
    }

    /// Sets a record's time (its first `timeBytes`, little-endian).
    @inline(__always)
    public static func stamp(_ record: inout [UInt8], at now: Int64) {
        let time = UInt64(bitPattern: now)
        for index in 0..<timeBytes { record[index] = UInt8(truncatingIfNeeded: time >> UInt64(index * 8)) }
    }
}

extension WorkerID {
    public var proto: PBWorkerId {
        var message = PBWorkerId()
        message.node = node.value
        message.index = index
        return message
    }
    public init(proto message: PBWorkerId, at path: @autoclosure () -> String = "WorkerID") throws {
        self.init(node: NodeID(message.node), index: message.index)
    }
}

extension ObjectID {
    public var proto: PBObjectId {
        var message = PBObjectId()
        message.task = task.value
        message.index = index
        return message
    }
    public init(proto message: PBObjectId, at path: @autoclosure () -> String = "ObjectID") throws {
        guard message.index & ~(UInt32(1) << 31) != 0 else {
            throw RecordError(path: path(), problem: "object index 0 (indexes count from 1)")
        }
        self.init(task: TaskID(value: message.task), index: message.index)
    }
}

extension LeaseID {
    public var proto: PBLeaseId {
        var message = PBLeaseId()
        message.owner = owner.proto
        message.index = index
        return message
    }
    public init(proto message: PBLeaseId, at path: @autoclosure () -> String = "LeaseID") throws {
        self.init(owner: try WorkerID(proto: ProtoRecords.field(message.hasOwner, message.owner, path() + ".owner")),
                  index: message.index)
    }
}

extension Address {
    public var proto: PBAddress {
        var message = PBAddress()
        switch self {
        case .gcs: message.gcs = PBAddress.Gcs()
        case .raylet(let node): message.raylet = node.value
        case .worker(let worker): message.worker = worker.proto
        }
        return message
    }
    public init(proto message: PBAddress, at path: @autoclosure () -> String = "Address") throws {
        switch message.kind {
        case .gcs?: self = .gcs
        case .raylet(let node)?: self = .raylet(NodeID(node))
        case .worker(let worker)?: self = .worker(try WorkerID(proto: worker))
        case nil: throw RecordError(path: path(), problem: "no case set (a case unknown to this version?)")
        }
    }
}

extension ResourceSet {
    public var proto: PBResourceSet {
        var message = PBResourceSet()
        message.entries = entries.map { entry in
            var proto = PBResourceSet.Entry()
            proto.name = entry.name
            proto.milli = entry.milli
            return proto
        }
        return message
    }
    public init(proto message: PBResourceSet, at path: @autoclosure () -> String = "ResourceSet") throws {
        // What this code encodes is sorted, each name once, without zeros: taken as is.
        if let set = ResourceSet(sortedEntries: message.entries.map { ResourceSet.Entry(name: $0.name, milli: $0.milli) }) {
            self = set
            return
        }
        var milli: [String: Int64] = [:]
        for entry in message.entries {
            guard milli.updateValue(entry.milli, forKey: entry.name) == nil else {
                throw RecordError(path: path(), problem: "resource \"\(entry.name)\" given twice")
            }
        }
        self.init(milli)
    }
}

extension ObjectData {
    public var proto: PBObjectData {
        var message = PBObjectData()
        message.sizeBytes = sizeBytes
        message.digest = digest
        if let bytes { message.bytes = Data(bytes) }
        return message
    }
    public init(proto message: PBObjectData, at path: @autoclosure () -> String = "ObjectData") throws {
        guard message.sizeBytes >= 0 else {
            throw RecordError(path: path(), problem: "negative object size \(message.sizeBytes)")
        }
        self.init(sizeBytes: message.sizeBytes, digest: message.digest,
                  bytes: message.hasBytes ? [UInt8](message.bytes) : nil)
    }
}

extension RayError {
    public var proto: PBRayError {
        var message = PBRayError()
        message.kind = kind.rawValue
        message.message = self.message
        return message
    }
    public init(proto message: PBRayError, at path: @autoclosure () -> String = "RayError") throws {
        guard let kind = RayErrorKind(rawValue: message.kind) else {
            throw RecordError(path: path(), problem: "unknown error kind \"\(message.kind)\"")
        }
        self.init(kind, message.message)
    }
}

// Frames hand their payload over as a slice of the received buffer: decode it without a copy.
extension ArraySlice: @retroactive SwiftProtobufContiguousBytes where Element == UInt8 {}
