// How values become object bytes and back: SwiftRay's binary Codable encoding.
// A large value read from the node's shared-memory store arrives as a mapping;
// `SharedBytes` is decoded from it without a copy.

import RayCore
import RayRuntime
import Distributed

enum ValueCoding {
    /// Collects the references an encoding meets (`ObjectRef.encode(to:)` reports to it).
    final class ReferenceCollector: @unchecked Sendable {
        var objects: [ObjectID] = []
        /// The value is a task's argument (a borrowed reference cannot be passed on yet).
        var forArgument = false
        /// The value is put (`Ray.put`): it may hold references this process owns or borrows.
        var forPut = false
        /// What becomes of actor handles met: counted references (`.argument`: a task's or call's
        /// argument; `.result`: a task's return value, for actors its worker created), or plain IDs.
        var handles = Handles.plain
        enum Handles { case plain, argument, result }

        /// An actor handle met in the value: its handle object travels as a reference when this
        /// process counts the actor's handles (an argument), or owns it (a result).
        func saw(_ actor: ActorID) {
            switch handles {
            case .plain:
                return
            case .argument:
                guard RayActorSystem.shared.handles.counts(actor) else { return }
            case .result:
                guard RayActorSystem.shared.handles.counts(actor), let owner = WorkerHost.madeTaskOwner,
                      owner.owns([actor.handle]) else { return }
            }
            objects.append(actor.handle)
        }
    }
    @TaskLocal static var collector: ReferenceCollector?
    /// False while a put value is encoded (handles there are plain IDs: not counted).
    @TaskLocal static var countHandles = true

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        do {
            guard let collector, collector.handles != .plain else { return try BinaryCoder.encode(value) }
            return try BinaryCoder.encode(value, seeingActors: { collector.saw($0) })
        } catch {
            throw Ray.Error.encodingFailed("cannot encode a \(T.self): \(error)")
        }
    }

    /// Encodes a value and lists the references inside it, in the order met (each once).
    static func encodeCollectingReferences<T: Encodable>(_ value: T, forArgument: Bool = false) throws -> ([UInt8], [ObjectID]) {
        let collector = ReferenceCollector()
        collector.forArgument = forArgument
        collector.handles = !countHandles ? .plain : forArgument ? .argument : .result
        let bytes = try $collector.withValue(collector) { try encode(value) }
        var seen = Set<ObjectID>(), unique: [ObjectID] = []
        for object in collector.objects where seen.insert(object).inserted { unique.append(object) }
        return (bytes, unique)
    }

    /// Encodes return value `index` (from 1) of a task body: references inside it, to objects
    /// this worker made, are returned as Ray returns nested references (the task's owner borrows
    /// them: its worker takes a handle of each now and lends it when the body returns).
    static func encodeTaskResult<T: Encodable>(_ value: T, of what: String, index: Int) throws -> [UInt8] {
        let (bytes, contained) = try encodeCollectingReferences(value)
        guard !contained.isEmpty else { return bytes }
        guard let context = TaskContext.current else {
            throw Ray.Error.encodingFailed("\(what) returns ObjectRefs (\(contained.count)) outside a task body")
        }
        // References the caller passed in go back as they are (the caller owns or borrows them);
        // those this worker made are lent to the caller.
        let made = contained.filter { context.references[$0] == nil }
        if !made.isEmpty {
            guard let owner = WorkerHost.madeTaskOwner, case let check = owner.lendable(made), check.notOwned == nil else {
                throw Ray.Error.encodingFailed("\(what) returns a reference it neither made nor received as an "
                    + "argument (one that came inside a value the body got): returning those is not supported "
                    + "yet (borrowers of borrowers); return its value instead")
            }
            if let holding = check.holdingReferences {
                throw Ray.Error.encodingFailed("\(what) returns \(holding), a value it put that holds references: "
                    + "returning such a value's reference is not supported yet (its reader could not learn "
                    + "whose the references inside are); return the references themselves, or the value")
            }
            for object in made { owner.addLocalReference(object) }
        }
        for object in contained { context.returned.add(object, returnValue: index) }
        return bytes
    }

    /// Encodes a value that holds no references (the runtime's own: a readiness flag, a list of IDs).
    static func encodeResult<T: Encodable>(_ value: T, of what: String) throws -> [UInt8] {
        do {
            return try BinaryCoder.encode(value)
        } catch {
            throw Ray.Error.encodingFailed("cannot encode \(what) (a \(T.self)): \(error)")
        }
    }

    /// Encodes a value a program puts, and lists the references inside it (the put value holds
    /// them: see `Ray.put`). Actor handles in a put value are plain IDs (not counted).
    static func encodePut<T: Encodable>(_ value: T) throws -> ([UInt8], [ObjectID]) {
        try $countHandles.withValue(false) {
            let collector = ReferenceCollector()
            collector.forPut = true
            let bytes = try $collector.withValue(collector) { try encode(value) }
            var seen = Set<ObjectID>(), unique: [ObjectID] = []
            for object in collector.objects where seen.insert(object).inserted { unique.append(object) }
            return (bytes, unique)
        }
    }

    /// Decodes a value, or throws the Ray error stored in its place.
    static func decode<T: Decodable>(_ type: T.Type, from fetched: FetchedValue, object: ObjectID?) throws -> T {
        // Named only when something is wrong (a description per get cost ≈ 12 % of a get).
        func what() -> String { object.map { "\($0)" } ?? "an argument" }
        switch fetched.value {
        case .error(let error):
            throw Ray.Error(error)
        case .data(let data):
            if let mapping = fetched.mapping {
                if T.self == SharedBytes.self {
                    return try SharedBytes(decoding: mapping, what: what()) as! T
                }
                return try decodeBytes(type, Array(mapping.bytes), what: what)
            }
            guard let bytes = data.bytes else {
                throw Ray.Error.decodingFailed("\(what()) holds no bytes (a simulated value?)")
            }
            return try decodeBytes(type, bytes, what: what)
        }
    }

    /// What the decoder is told: a distributed actor in a value resolves through this process's actor system.
    nonisolated(unsafe) private static let userInfo: [CodingUserInfoKey: Any] = [.actorSystemKey: RayActorSystem.shared]

    private static func decodeBytes<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], what: () -> String) throws -> T {
        do {
            return try BinaryCoder.decode(type, from: bytes, userInfo: userInfo)
        } catch {
            throw Ray.Error.decodingFailed("\(what()) is not a \(T.self): \(error); "
                + "the function that produced it returns another type")
        }
    }

    /// LEB128, as the binary coder writes lengths.
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, out: [UInt8] = []
        repeat {
            let byte = UInt8(value & 0x7F)
            value >>= 7
            out.append(value == 0 ? byte : byte | 0x80)
        } while value != 0
        return out
    }
}

/// Bytes that take the zero-copy path: `Ray.put` writes them straight into the
/// node's shared-memory store, and `get` of an `ObjectRef<SharedBytes>` (or a task
/// argument of this type) maps them from it without a copy. Encodes exactly as `[UInt8]`.
public struct SharedBytes: Codable, @unchecked Sendable, RandomAccessCollection, CustomStringConvertible {
    private let owned: [UInt8]?
    private let mapping: SharedMapping?
    private let start: Int
    public let count: Int

    public init(_ bytes: [UInt8]) {
        owned = bytes
        mapping = nil
        start = 0
        count = bytes.count
    }

    init(decoding mapping: SharedMapping, what: String) throws {
        // The encoding of [UInt8]: a LEB128 length, then the bytes.
        let raw = mapping.bytes
        var length: UInt64 = 0, shift: UInt64 = 0, offset = 0
        while true {
            guard offset < raw.count, shift < 64 else {
                throw Ray.Error.decodingFailed("\(what) is not a SharedBytes/[UInt8] value (bad length)")
            }
            let byte = raw[offset]
            offset += 1
            length |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        guard UInt64(raw.count - offset) == length else {
            throw Ray.Error.decodingFailed("\(what) is not a SharedBytes/[UInt8] value (length \(length), "
                + "\(raw.count - offset) bytes follow)")
        }
        owned = nil
        self.mapping = mapping
        start = offset
        count = Int(length)
    }

    /// The bytes, valid inside `body` (mapped from shared memory when they came from the store).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let owned { return try owned.withUnsafeBytes(body) }
        return try body(UnsafeRawBufferPointer(rebasing: mapping!.bytes[start..<(start + count)]))
    }

    /// True when the bytes are mapped from the shared-memory store (no copy was made).
    public var isMapped: Bool { mapping != nil }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> UInt8 {
        precondition(position >= 0 && position < count, "SharedBytes index out of range")
        if let owned { return owned[position] }
        return mapping!.bytes[start + position]
    }

    public init(from decoder: any Decoder) throws {
        self.init(try [UInt8](from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try (owned ?? Array(self)).encode(to: encoder)
    }

    public var description: String { "SharedBytes(\(count) bytes\(isMapped ? ", mapped" : ""))" }
}

extension SharedBytes: RayValue {}
