// Byte-level input of the binary codec, the mirror of `BinaryWriter`.
// Invariant: every read checks the bytes left before touching the array, and
// every declared length or count is bounded by the bytes left, so malformed
// input throws a `BinaryCoderError` and never traps or over-allocates.

/// A cursor over encoded bytes, shared by a decoder and all its containers.
final class BinaryReader {
    /// What every decoder of this value sees as `userInfo` (a distributed actor's system, say).
    var userInfo: [CodingUserInfoKey: Any] = [:]
    let bytes: [UInt8]
    /// Index of the next byte to read.
    private(set) var offset: Int

    init(bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    var remainingByteCount: Int { bytes.count - offset }

    func peekByte() -> UInt8? {
        offset < bytes.count ? bytes[offset] : nil
    }

    func readByte() throws(BinaryCoderError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(offset: offset, neededBytes: 1) }
        let byte = bytes[offset]
        offset += 1
        return byte
    }

    func readUnsigned() throws(BinaryCoderError) -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count else { throw .truncated(offset: offset, neededBytes: 1) }
            let byte = bytes[offset]
            offset += 1
            let payload = UInt64(byte & 0x7F)
            // The tenth byte may carry only the top bit of a 64-bit value.
            if shift == 63 && payload > 1 { throw .varintOverflow(offset: start) }
            result |= payload << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .varintOverflow(offset: start) }
        }
    }

    func readSigned() throws(BinaryCoderError) -> Int64 {
        let zigzag = try readUnsigned()
        return Int64(bitPattern: (zigzag >> 1) ^ (0 &- (zigzag & 1)))
    }

    func readFixed32() throws(BinaryCoderError) -> UInt32 {
        try require(byteCount: 4)
        var value: UInt32 = 0
        for index in 0..<4 {
            value |= UInt32(bytes[offset + index]) << UInt32(8 * index)
        }
        offset += 4
        return value
    }

    func readFixed64() throws(BinaryCoderError) -> UInt64 {
        try require(byteCount: 8)
        let low = UInt64(try readFixed32())
        let high = UInt64(try readFixed32())
        return low | (high << 32)
    }

    /// Reads a length or count and checks that it does not exceed the bytes left.
    func readLength() throws(BinaryCoderError) -> Int {
        let start = offset
        let length = try readUnsigned()
        guard length <= UInt64(remainingByteCount) else {
            throw .lengthExceedsInput(length: length, offset: start)
        }
        return Int(length)
    }

    func readString() throws(BinaryCoderError) -> String {
        let length = try readLength()
        let start = offset
        let string = bytes.withUnsafeBufferPointer { buffer in
            String(validating: UnsafeBufferPointer(rebasing: buffer[start..<(start + length)]), as: UTF8.self)
        }
        guard let string else { throw .invalidUTF8(offset: start) }
        offset += length
        return string
    }

    func readByteArray() throws(BinaryCoderError) -> [UInt8] {
        let length = try readLength()
        let array = Array(bytes[offset..<(offset + length)])
        offset += length
        return array
    }

    /// Whether the next bytes are the length-prefixed UTF-8 of `key`; consumes nothing.
    func nextKeyMatches(_ key: String) -> Bool {
        guard let range = peekKeyRange() else { return false }
        return bytes[range].elementsEqual(key.utf8)
    }

    /// The next length-prefixed key, decoded leniently for messages and `allKeys`; consumes nothing.
    func peekKey() -> String? {
        guard let range = peekKeyRange() else { return nil }
        return String(decoding: bytes[range], as: UTF8.self)
    }

    /// Consumes the next key, which must be `key`.
    func readKey(_ key: String) throws(BinaryCoderError) {
        let start = offset
        let length = try readLength()
        let range = offset..<(offset + length)
        guard bytes[range].elementsEqual(key.utf8) else {
            let found = String(decoding: bytes[range], as: UTF8.self)
            offset = start
            throw .keyMismatch(expected: key, found: found, offset: start)
        }
        offset += length
    }

    private func peekKeyRange() -> Range<Int>? {
        let start = offset
        defer { offset = start }
        guard let length = try? readLength() else { return nil }
        return offset..<(offset + length)
    }

    private func require(byteCount: Int) throws(BinaryCoderError) {
        guard remainingByteCount >= byteCount else {
            throw .truncated(offset: offset, neededBytes: byteCount - remainingByteCount)
        }
    }
}
