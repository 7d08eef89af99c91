// The `Encoder` half of `BinaryCoder`. Layout, written strictly in the order
// the encode calls happen:
// - keyed container: varint key count, then per key its stringValue
//   (varint length + UTF-8) followed by the value; `encodeIfPresent(nil)`
//   writes nothing, so absence is the missing key;
// - unkeyed container: varint element count, then the elements;
// - integers: LEB128 varints, zigzag for signed; Bool: one byte 0/1;
//   Float/Double: 4/8-byte little-endian bit patterns; String: varint length + UTF-8;
// - Optional (as a whole value): tag byte 0 (absent) or 1 followed by the value;
// - Dictionary: varint count, then key/value pairs sorted by the key's encoding,
//   so the bytes do not depend on hash-seeded iteration order;
// - [UInt8]: varint length + the raw bytes;
// - a value whose encode(to:) asks for no container: one byte 0 (an empty keyed container).

/// An encoder writing one value (and everything nested in it) into a shared writer.
final class BinaryEncoderState: Encoder, SingleValueEncodingContainer {
    let writer: BinaryWriter
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// The key count of this value's keyed container, once one is requested.
    private var keyedSlot: CountSlot?
    /// The element count of this value's unkeyed container, once one is requested.
    private var unkeyedSlot: CountSlot?
    /// Whether `encode(to:)` asked for any container.
    private(set) var requestedContainer = false

    init(writer: BinaryWriter, codingPath: [any CodingKey]) {
        self.writer = writer
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        requestedContainer = true
        let slot = keyedSlot ?? writer.reserveCount()
        keyedSlot = slot
        return KeyedEncodingContainer(BinaryKeyedEncodingContainer<Key>(writer: writer, slot: slot, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        requestedContainer = true
        let slot = unkeyedSlot ?? writer.reserveCount()
        unkeyedSlot = slot
        return BinaryUnkeyedEncodingContainer(writer: writer, slot: slot, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        requestedContainer = true
        return self
    }

    // MARK: Single value

    func encodeNil() { writer.writeByte(0) }
    func encode(_ value: Bool) { writer.writeByte(value ? 1 : 0) }
    func encode(_ value: String) { writer.writeString(value) }
    func encode(_ value: Double) { writer.writeFixed64(value.bitPattern) }
    func encode(_ value: Float) { writer.writeFixed32(value.bitPattern) }
    func encode(_ value: Int) { writer.writeSigned(Int64(value)) }
    func encode(_ value: Int8) { writer.writeSigned(Int64(value)) }
    func encode(_ value: Int16) { writer.writeSigned(Int64(value)) }
    func encode(_ value: Int32) { writer.writeSigned(Int64(value)) }
    func encode(_ value: Int64) { writer.writeSigned(value) }
    func encode(_ value: UInt) { writer.writeUnsigned(UInt64(value)) }
    func encode(_ value: UInt8) { writer.writeUnsigned(UInt64(value)) }
    func encode(_ value: UInt16) { writer.writeUnsigned(UInt64(value)) }
    func encode(_ value: UInt32) { writer.writeUnsigned(UInt64(value)) }
    func encode(_ value: UInt64) { writer.writeUnsigned(value) }
    func encode<T: Encodable>(_ value: T) throws {
        try BinaryEncoderState.encodeValue(value, writer: writer, codingPath: codingPath)
    }

    /// Encodes any value: primitives and the special layouts directly, everything else through `encode(to:)`.
    static func encodeValue<T: Encodable>(_ value: T, writer: BinaryWriter, codingPath: [any CodingKey]) throws {
        if encodePrimitive(value, writer: writer) { return }
        if let seeingActors = writer.seeingActors, T.self == ActorID.self { try seeingActors(value as! ActorID) }
        if T.self is any OptionalEncodingMarker.Type, let optional = value as? any OptionalEncodingMarker {
            try optional.encodeOptional(writer: writer, codingPath: codingPath)
        } else if T.self is any DictionaryEncodingMarker.Type, let dictionary = value as? any DictionaryEncodingMarker {
            try dictionary.encodeEntries(writer: writer, codingPath: codingPath)
        } else {
            let encoder = BinaryEncoderState(writer: writer, codingPath: codingPath)
            try value.encode(to: encoder)
            // A value that asked for no container is written as an empty keyed container, so
            // every value takes at least one byte and an empty struct (whose synthesized
            // `init(from:)` asks for none while `encode(to:)` asks for one) reads back the same.
            if !encoder.requestedContainer { writer.writeByte(0) }
        }
    }

    /// Writes `value` if its static type is a primitive or `[UInt8]`; returns whether it did.
    /// The static type decides, because a dynamic cast would unwrap an `Optional<Int>` into an `Int`.
    private static func encodePrimitive<T: Encodable>(_ value: T, writer: BinaryWriter) -> Bool {
        switch T.self {
        case is String.Type: guard let value = value as? String else { return false }; writer.writeString(value)
        case is Int.Type: guard let value = value as? Int else { return false }; writer.writeSigned(Int64(value))
        case is Bool.Type: guard let value = value as? Bool else { return false }; writer.writeByte(value ? 1 : 0)
        case is Double.Type: guard let value = value as? Double else { return false }; writer.writeFixed64(value.bitPattern)
        case is UInt64.Type: guard let value = value as? UInt64 else { return false }; writer.writeUnsigned(value)
        case is Int64.Type: guard let value = value as? Int64 else { return false }; writer.writeSigned(value)
        case is UInt8.Type: guard let value = value as? UInt8 else { return false }; writer.writeUnsigned(UInt64(value))
        case is [UInt8].Type: guard let value = value as? [UInt8] else { return false }; writer.writeByteArray(value)
        case is Float.Type: guard let value = value as? Float else { return false }; writer.writeFixed32(value.bitPattern)
        case is UInt.Type: guard let value = value as? UInt else { return false }; writer.writeUnsigned(UInt64(value))
        case is UInt32.Type: guard let value = value as? UInt32 else { return false }; writer.writeUnsigned(UInt64(value))
        case is Int32.Type: guard let value = value as? Int32 else { return false }; writer.writeSigned(Int64(value))
        case is UInt16.Type: guard let value = value as? UInt16 else { return false }; writer.writeUnsigned(UInt64(value))
        case is Int16.Type: guard let value = value as? Int16 else { return false }; writer.writeSigned(Int64(value))
        case is Int8.Type: guard let value = value as? Int8 else { return false }; writer.writeSigned(Int64(value))
        default: return false
        }
        return true
    }
}

/// A keyed container: each encode writes the key, then the value, and counts one key.
struct BinaryKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: BinaryWriter
    let slot: CountSlot
    let codingPath: [any CodingKey]

    private func writeKey(_ key: Key) {
        slot.count += 1
        writer.writeString(key.stringValue)
    }

    /// Absence is the encoding of nil: the key is not written at all.
    mutating func encodeNil(forKey key: Key) {}
    mutating func encode(_ value: Bool, forKey key: Key) { writeKey(key); writer.writeByte(value ? 1 : 0) }
    mutating func encode(_ value: String, forKey key: Key) { writeKey(key); writer.writeString(value) }
    mutating func encode(_ value: Double, forKey key: Key) { writeKey(key); writer.writeFixed64(value.bitPattern) }
    mutating func encode(_ value: Float, forKey key: Key) { writeKey(key); writer.writeFixed32(value.bitPattern) }
    mutating func encode(_ value: Int, forKey key: Key) { writeKey(key); writer.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int8, forKey key: Key) { writeKey(key); writer.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int16, forKey key: Key) { writeKey(key); writer.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int32, forKey key: Key) { writeKey(key); writer.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) { writeKey(key); writer.writeSigned(value) }
    mutating func encode(_ value: UInt, forKey key: Key) { writeKey(key); writer.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) { writeKey(key); writer.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt16, forKey key: Key) { writeKey(key); writer.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt32, forKey key: Key) { writeKey(key); writer.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt64, forKey key: Key) { writeKey(key); writer.writeUnsigned(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        writeKey(key)
        try BinaryEncoderState.encodeValue(value, writer: writer, codingPath: codingPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        writeKey(key)
        let nested = BinaryKeyedEncodingContainer<NestedKey>(
            writer: writer, slot: writer.reserveCount(), codingPath: codingPath)
        return KeyedEncodingContainer(nested)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        writeKey(key)
        return BinaryUnkeyedEncodingContainer(writer: writer, slot: writer.reserveCount(), codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder {
        slot.count += 1
        writer.writeString(BinarySuperKey.key.stringValue)
        return BinaryEncoderState(writer: writer, codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        writeKey(key)
        return BinaryEncoderState(writer: writer, codingPath: codingPath)
    }
}

/// An unkeyed container: the elements follow each other; the count was reserved up front.
struct BinaryUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let writer: BinaryWriter
    let slot: CountSlot
    let codingPath: [any CodingKey]
    var count: Int { slot.count }

    private var indexKey: BinaryIndexKey { BinaryIndexKey(intValue: slot.count) }

    mutating func encodeNil() { slot.count += 1; writer.writeByte(0) }
    mutating func encode(_ value: Bool) { slot.count += 1; writer.writeByte(value ? 1 : 0) }
    mutating func encode(_ value: String) { slot.count += 1; writer.writeString(value) }
    mutating func encode(_ value: Double) { slot.count += 1; writer.writeFixed64(value.bitPattern) }
    mutating func encode(_ value: Float) { slot.count += 1; writer.writeFixed32(value.bitPattern) }
    mutating func encode(_ value: Int) { slot.count += 1; writer.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int8) { slot.count += 1; writer.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int16) { slot.count += 1; writer.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int32) { slot.count += 1; writer.writeSigned(Int64(value)) }
    mutating func encode(_ value: Int64) { slot.count += 1; writer.writeSigned(value) }
    mutating func encode(_ value: UInt) { slot.count += 1; writer.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt8) { slot.count += 1; writer.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt16) { slot.count += 1; writer.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt32) { slot.count += 1; writer.writeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt64) { slot.count += 1; writer.writeUnsigned(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath  // encoding cannot fail on our types: no path kept (saves an allocation per value)
        slot.count += 1
        try BinaryEncoderState.encodeValue(value, writer: writer, codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath  // encoding cannot fail on our types: no path kept (saves an allocation per value)
        slot.count += 1
        return KeyedEncodingContainer(
            BinaryKeyedEncodingContainer<NestedKey>(writer: writer, slot: writer.reserveCount(), codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath  // encoding cannot fail on our types: no path kept (saves an allocation per value)
        slot.count += 1
        return BinaryUnkeyedEncodingContainer(writer: writer, slot: writer.reserveCount(), codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let path = codingPath  // encoding cannot fail on our types: no path kept (saves an allocation per value)
        slot.count += 1
        return BinaryEncoderState(writer: writer, codingPath: path)
    }
}

/// The key under which `superEncoder()` / `superDecoder()` nest a parent's data.
struct BinarySuperKey: CodingKey {
    static let key = BinarySuperKey(stringValue: "super")
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The coding-path entry of an unkeyed container's element.
struct BinaryIndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}
