// The `Decoder` half of `BinaryCoder`: reads the layout `BinaryEncoder.swift`
// describes, strictly in order. A keyed container knows how many keys it has
// left, so `contains` / `decodeIfPresent` peek at the next key without ever
// reading past the container's end; `allKeys` (used by synthesized enums)
// peeks the next key only. Every read is bounds-checked by `BinaryReader`.

/// A decoder reading one value (and everything nested in it) from a shared reader.
final class BinaryDecoderState: Decoder, SingleValueDecodingContainer {
    let reader: BinaryReader
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { reader.userInfo }
    /// The keys left in this value's keyed container, once one is requested.
    private var keyedRemaining: CountSlot?
    /// The element count and cursor of this value's unkeyed container, once one is requested.
    private var unkeyedState: UnkeyedDecodingState?
    /// Whether `init(from:)` asked for any container.
    private(set) var requestedContainer = false

    init(reader: BinaryReader, codingPath: [any CodingKey]) {
        self.reader = reader
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        requestedContainer = true
        let remaining = try keyedRemaining ?? BinaryKeyedDecodingContainer<Key>.readHeader(reader)
        keyedRemaining = remaining
        return KeyedDecodingContainer(BinaryKeyedDecodingContainer<Key>(reader: reader, remaining: remaining, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        requestedContainer = true
        let state = try unkeyedState ?? UnkeyedDecodingState(count: reader.readLength())
        unkeyedState = state
        return BinaryUnkeyedDecodingContainer(reader: reader, state: state, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueDecodingContainer {
        requestedContainer = true
        return self
    }

    // MARK: Single value

    func decodeNil() -> Bool { BinaryDecoderState.consumeNilTag(reader) }
    func decode(_ type: Bool.Type) throws -> Bool { try BinaryDecoderState.readBool(reader) }
    func decode(_ type: String.Type) throws -> String { try reader.readString() }
    func decode(_ type: Double.Type) throws -> Double { Double(bitPattern: try reader.readFixed64()) }
    func decode(_ type: Float.Type) throws -> Float { Float(bitPattern: try reader.readFixed32()) }
    func decode(_ type: Int.Type) throws -> Int { try BinaryDecoderState.readSigned(reader) }
    func decode(_ type: Int8.Type) throws -> Int8 { try BinaryDecoderState.readSigned(reader) }
    func decode(_ type: Int16.Type) throws -> Int16 { try BinaryDecoderState.readSigned(reader) }
    func decode(_ type: Int32.Type) throws -> Int32 { try BinaryDecoderState.readSigned(reader) }
    func decode(_ type: Int64.Type) throws -> Int64 { try reader.readSigned() }
    func decode(_ type: UInt.Type) throws -> UInt { try BinaryDecoderState.readUnsigned(reader) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try BinaryDecoderState.readUnsigned(reader) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try BinaryDecoderState.readUnsigned(reader) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try BinaryDecoderState.readUnsigned(reader) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try reader.readUnsigned() }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try BinaryDecoderState.decodeValue(type, reader: reader, codingPath: codingPath)
    }

    // MARK: Shared reading helpers

    /// Decodes any value: primitives and the special layouts directly, everything else through `init(from:)`.
    static func decodeValue<T: Decodable>(_ type: T.Type, reader: BinaryReader, codingPath: [any CodingKey]) throws -> T {
        if let primitive = try decodePrimitive(type, reader: reader) { return primitive }
        if let optionalType = type as? any OptionalDecodingMarker.Type {
            return try typed(optionalType.decodeOptional(reader: reader, codingPath: codingPath), reader: reader)
        }
        if let dictionaryType = type as? any DictionaryDecodingMarker.Type {
            return try typed(dictionaryType.decodeEntries(reader: reader, codingPath: codingPath), reader: reader)
        }
        let decoder = BinaryDecoderState(reader: reader, codingPath: codingPath)
        let value = try T(from: decoder)
        // The mirror of the encoder: a value that asked for no container was written as an empty keyed one.
        if !decoder.requestedContainer {
            let headerOffset = reader.offset
            let keyCount = try reader.readLength()
            guard keyCount == 0 else {
                throw BinaryCoderError.invalidValue(
                    description: "\(T.self) reads no fields but the input holds \(keyCount)", offset: headerOffset)
            }
        }
        return value
    }

    /// Reads `type` if it is a primitive or `[UInt8]`; returns nil (reading nothing) otherwise.
    private static func decodePrimitive<T>(_ type: T.Type, reader: BinaryReader) throws -> T? {
        let value: Any
        switch type {
        case is String.Type: value = try reader.readString()
        case is Int.Type: value = try readSigned(reader) as Int
        case is Bool.Type: value = try readBool(reader)
        case is Double.Type: value = Double(bitPattern: try reader.readFixed64())
        case is UInt64.Type: value = try reader.readUnsigned()
        case is Int64.Type: value = try reader.readSigned()
        case is UInt8.Type: value = try readUnsigned(reader) as UInt8
        case is [UInt8].Type: value = try reader.readByteArray()
        case is Float.Type: value = Float(bitPattern: try reader.readFixed32())
        case is UInt.Type: value = try readUnsigned(reader) as UInt
        case is UInt32.Type: value = try readUnsigned(reader) as UInt32
        case is Int32.Type: value = try readSigned(reader) as Int32
        case is UInt16.Type: value = try readUnsigned(reader) as UInt16
        case is Int16.Type: value = try readSigned(reader) as Int16
        case is Int8.Type: value = try readSigned(reader) as Int8
        default: return nil
        }
        return try typed(value, reader: reader)
    }

    private static func typed<T>(_ value: Any, reader: BinaryReader) throws -> T {
        guard let typedValue = value as? T else {
            throw BinaryCoderError.invalidValue(description: "internal type mismatch decoding \(T.self)", offset: reader.offset)
        }
        return typedValue
    }

    static func readSigned<T: FixedWidthInteger & SignedInteger>(_ reader: BinaryReader) throws -> T {
        let start = reader.offset
        guard let value = T(exactly: try reader.readSigned()) else {
            throw BinaryCoderError.integerOutOfRange(type: "\(T.self)", offset: start)
        }
        return value
    }

    static func readUnsigned<T: FixedWidthInteger & UnsignedInteger>(_ reader: BinaryReader) throws -> T {
        let start = reader.offset
        guard let value = T(exactly: try reader.readUnsigned()) else {
            throw BinaryCoderError.integerOutOfRange(type: "\(T.self)", offset: start)
        }
        return value
    }

    static func readBool(_ reader: BinaryReader) throws -> Bool {
        let start = reader.offset
        switch try reader.readByte() {
        case 0: return false
        case 1: return true
        case let byte: throw BinaryCoderError.invalidBool(byte: byte, offset: start)
        }
    }

    /// Consumes an absent-optional tag (0) if it is next; a direct `encodeNil()` writes one.
    static func consumeNilTag(_ reader: BinaryReader) -> Bool {
        guard reader.peekByte() == 0 else { return false }
        _ = try? reader.readByte()
        return true
    }
}

/// The cursor of an unkeyed container, shared by every copy of the container.
final class UnkeyedDecodingState {
    let count: Int
    var currentIndex: Int = 0
    init(count: Int) { self.count = count }
}

/// A keyed container: keys are consumed in order; `remaining` bounds every peek.
struct BinaryKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let reader: BinaryReader
    let remaining: CountSlot
    let codingPath: [any CodingKey]

    static func readHeader(_ reader: BinaryReader) throws -> CountSlot {
        let slot = CountSlot()
        slot.count = try reader.readLength()
        return slot
    }

    /// The next key only: enough for synthesized enums, which hold exactly one.
    var allKeys: [Key] {
        guard remaining.count > 0, let name = reader.peekKey(), let key = Key(stringValue: name) else { return [] }
        return [key]
    }

    func contains(_ key: Key) -> Bool {
        remaining.count > 0 && reader.nextKeyMatches(key.stringValue)
    }

    private func consumeKey(_ key: Key) throws {
        guard remaining.count > 0 else {
            throw BinaryCoderError.keyMissing(expected: key.stringValue, offset: reader.offset)
        }
        try reader.readKey(key.stringValue)
        remaining.count -= 1
    }

    /// A nil was encoded as an absent key.
    func decodeNil(forKey key: Key) -> Bool { !contains(key) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try consumeKey(key)
        return try BinaryDecoderState.readBool(reader)
    }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try consumeKey(key); return try reader.readString() }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try consumeKey(key)
        return Double(bitPattern: try reader.readFixed64())
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        try consumeKey(key)
        return Float(bitPattern: try reader.readFixed32())
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try consumeKey(key); return try BinaryDecoderState.readSigned(reader) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try consumeKey(key); return try BinaryDecoderState.readSigned(reader) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try consumeKey(key); return try BinaryDecoderState.readSigned(reader) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try consumeKey(key); return try BinaryDecoderState.readSigned(reader) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try consumeKey(key); return try reader.readSigned() }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try consumeKey(key); return try BinaryDecoderState.readUnsigned(reader) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try consumeKey(key); return try BinaryDecoderState.readUnsigned(reader) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try consumeKey(key); return try BinaryDecoderState.readUnsigned(reader) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try consumeKey(key); return try BinaryDecoderState.readUnsigned(reader) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try consumeKey(key); return try reader.readUnsigned() }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try consumeKey(key)
        return try BinaryDecoderState.decodeValue(type, reader: reader, codingPath: codingPath + [key])
    }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard contains(key) else { return nil }
        return try decode(type, forKey: key)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try consumeKey(key)
        let nested = BinaryKeyedDecodingContainer<NestedKey>(
            reader: reader, remaining: try BinaryKeyedDecodingContainer<NestedKey>.readHeader(reader),
            codingPath: codingPath + [key])
        return KeyedDecodingContainer(nested)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try consumeKey(key)
        return BinaryUnkeyedDecodingContainer(
            reader: reader, state: UnkeyedDecodingState(count: try reader.readLength()), codingPath: codingPath + [key])
    }

    func superDecoder() throws -> any Decoder {
        guard remaining.count > 0 else {
            throw BinaryCoderError.keyMissing(expected: BinarySuperKey.key.stringValue, offset: reader.offset)
        }
        try reader.readKey(BinarySuperKey.key.stringValue)
        remaining.count -= 1
        return BinaryDecoderState(reader: reader, codingPath: codingPath + [BinarySuperKey.key])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try consumeKey(key)
        return BinaryDecoderState(reader: reader, codingPath: codingPath + [key])
    }
}

/// An unkeyed container: elements are read in order up to the count in its header.
struct BinaryUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let reader: BinaryReader
    let state: UnkeyedDecodingState
    let codingPath: [any CodingKey]
    var count: Int? { state.count }
    var isAtEnd: Bool { state.currentIndex >= state.count }
    var currentIndex: Int { state.currentIndex }

    /// Claims the next element, or throws if there is none.
    private func advance() throws -> [any CodingKey] {
        guard !isAtEnd else { throw BinaryCoderError.containerExhausted(offset: reader.offset) }
        let path = codingPath + [BinaryIndexKey(intValue: state.currentIndex)]
        state.currentIndex += 1
        return path
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, BinaryDecoderState.consumeNilTag(reader) else { return false }
        state.currentIndex += 1
        return true
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { _ = try advance(); return try BinaryDecoderState.readBool(reader) }
    mutating func decode(_ type: String.Type) throws -> String { _ = try advance(); return try reader.readString() }
    mutating func decode(_ type: Double.Type) throws -> Double { _ = try advance(); return Double(bitPattern: try reader.readFixed64()) }
    mutating func decode(_ type: Float.Type) throws -> Float { _ = try advance(); return Float(bitPattern: try reader.readFixed32()) }
    mutating func decode(_ type: Int.Type) throws -> Int { _ = try advance(); return try BinaryDecoderState.readSigned(reader) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { _ = try advance(); return try BinaryDecoderState.readSigned(reader) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { _ = try advance(); return try BinaryDecoderState.readSigned(reader) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { _ = try advance(); return try BinaryDecoderState.readSigned(reader) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { _ = try advance(); return try reader.readSigned() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { _ = try advance(); return try BinaryDecoderState.readUnsigned(reader) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { _ = try advance(); return try BinaryDecoderState.readUnsigned(reader) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { _ = try advance(); return try BinaryDecoderState.readUnsigned(reader) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { _ = try advance(); return try BinaryDecoderState.readUnsigned(reader) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { _ = try advance(); return try reader.readUnsigned() }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let path = try advance()
        return try BinaryDecoderState.decodeValue(type, reader: reader, codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let path = try advance()
        return KeyedDecodingContainer(BinaryKeyedDecodingContainer<NestedKey>(
            reader: reader, remaining: try BinaryKeyedDecodingContainer<NestedKey>.readHeader(reader), codingPath: path))
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let path = try advance()
        return BinaryUnkeyedDecodingContainer(
            reader: reader, state: UnkeyedDecodingState(count: try reader.readLength()), codingPath: path)
    }

    mutating func superDecoder() throws -> any Decoder {
        BinaryDecoderState(reader: reader, codingPath: try advance())
    }
}
