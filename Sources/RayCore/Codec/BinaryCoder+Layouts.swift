// Layouts the binary codec gives Optional and Dictionary instead of their own
// `Codable` conformances. Optional: a presence tag, so `[Int?]` and nested
// optionals round-trip. Dictionary: a count and key/value pairs sorted by the
// key's encoded bytes, so equal dictionaries always give equal bytes (Swift's
// iteration order is seeded per process) and any `Codable` key type works
// without `allKeys`, which a sequential decoder cannot answer.

/// An `Optional` whose wrapped type is encodable.
protocol OptionalEncodingMarker {
    func encodeOptional(writer: BinaryWriter, codingPath: [any CodingKey]) throws
}

/// An `Optional` whose wrapped type is decodable.
protocol OptionalDecodingMarker {
    static func decodeOptional(reader: BinaryReader, codingPath: [any CodingKey]) throws -> Self
}

/// A `Dictionary` whose keys and values are encodable.
protocol DictionaryEncodingMarker {
    func encodeEntries(writer: BinaryWriter, codingPath: [any CodingKey]) throws
}

/// A `Dictionary` whose keys and values are decodable.
protocol DictionaryDecodingMarker {
    static func decodeEntries(reader: BinaryReader, codingPath: [any CodingKey]) throws -> Self
}

extension Optional: OptionalEncodingMarker where Wrapped: Encodable {
    func encodeOptional(writer: BinaryWriter, codingPath: [any CodingKey]) throws {
        switch self {
        case .none:
            writer.writeByte(0)
        case .some(let wrapped):
            writer.writeByte(1)
            try BinaryEncoderState.encodeValue(wrapped, writer: writer, codingPath: codingPath)
        }
    }
}

extension Optional: OptionalDecodingMarker where Wrapped: Decodable {
    static func decodeOptional(reader: BinaryReader, codingPath: [any CodingKey]) throws -> Self {
        let tagOffset = reader.offset
        switch try reader.readByte() {
        case 0: return .none
        case 1: return .some(try BinaryDecoderState.decodeValue(Wrapped.self, reader: reader, codingPath: codingPath))
        case let tag: throw BinaryCoderError.invalidOptionalTag(byte: tag, offset: tagOffset)
        }
    }
}

extension Dictionary: DictionaryEncodingMarker where Key: Encodable, Value: Encodable {
    func encodeEntries(writer: BinaryWriter, codingPath: [any CodingKey]) throws {
        var entries: [(keyBytes: [UInt8], value: Value)] = []
        entries.reserveCapacity(count)
        for (key, value) in self {
            let keyWriter = BinaryWriter(capacityBytes: 16)
            try BinaryEncoderState.encodeValue(key, writer: keyWriter, codingPath: codingPath)
            entries.append((keyWriter.finish(), value))
        }
        entries.sort { $0.keyBytes.lexicographicallyPrecedes($1.keyBytes) }
        writer.writeUnsigned(UInt64(entries.count))
        for entry in entries {
            writer.writeRaw(entry.keyBytes)
            try BinaryEncoderState.encodeValue(
                entry.value, writer: writer, codingPath: codingPath)
        }
    }
}

extension Dictionary: DictionaryDecodingMarker where Key: Decodable, Value: Decodable {
    static func decodeEntries(reader: BinaryReader, codingPath: [any CodingKey]) throws -> Self {
        let count = try reader.readLength()
        var dictionary: [Key: Value] = [:]
        dictionary.reserveCapacity(count)
        for index in 0..<count {
            let path = codingPath + [BinaryIndexKey(intValue: index)]
            let key = try BinaryDecoderState.decodeValue(Key.self, reader: reader, codingPath: path)
            dictionary[key] = try BinaryDecoderState.decodeValue(Value.self, reader: reader, codingPath: path)
        }
        return dictionary
    }
}
