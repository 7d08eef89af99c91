// Byte-level output of the binary codec: LEB128 varints (zigzag for signed
// integers), little-endian fixed-width floats, length-prefixed UTF-8.
// Container element counts are not known until a container is finished, so a
// container reserves a `CountSlot` at its start; `finish()` splices every
// slot's final count in as a varint, in one linear pass.

/// A container's element count, filled in while the container is written.
final class CountSlot {
    /// Elements (or keys) written so far.
    var count: Int = 0
}

/// An append-only byte buffer with deferred container counts.
final class BinaryWriter {
    /// The bytes written so far, without the deferred counts.
    private(set) var bytes: [UInt8]
    /// Deferred counts in the order they were reserved (which is offset order).
    private var countSlots: [(offset: Int, slot: CountSlot)] = []
    /// Told of each `ActorID` encoded (`BinaryCoder.encode(_:seeingActors:)`).
    var seeingActors: ((ActorID) throws -> Void)?

    init(capacityBytes: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacityBytes)
    }

    func writeByte(_ byte: UInt8) {
        bytes.append(byte)
    }

    func writeUnsigned(_ value: UInt64) {
        BinaryWriter.appendVarint(value, to: &bytes)
    }

    func writeSigned(_ value: Int64) {
        // Zigzag: small magnitudes of either sign take few bytes.
        writeUnsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    func writeFixed32(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
    }

    func writeFixed64(_ value: UInt64) {
        writeFixed32(UInt32(truncatingIfNeeded: value))
        writeFixed32(UInt32(truncatingIfNeeded: value >> 32))
    }

    func writeString(_ string: String) {
        let utf8 = string.utf8
        writeUnsigned(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    func writeByteArray(_ array: [UInt8]) {
        writeUnsigned(UInt64(array.count))
        bytes.append(contentsOf: array)
    }

    func writeRaw(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }

    /// Reserves a count at the current position, to be written by `finish()`.
    func reserveCount() -> CountSlot {
        let slot = CountSlot()
        countSlots.append((bytes.count, slot))
        return slot
    }

    /// The complete encoding, with every reserved count spliced in.
    func finish() -> [UInt8] {
        if countSlots.isEmpty { return bytes }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + countSlots.count * 2)
        var cursor = 0
        for (offset, slot) in countSlots {
            output.append(contentsOf: bytes[cursor..<offset])
            BinaryWriter.appendVarint(UInt64(slot.count), to: &output)
            cursor = offset
        }
        output.append(contentsOf: bytes[cursor...])
        return output
    }

    static func appendVarint(_ value: UInt64, to output: inout [UInt8]) {
        Varint.append(value, to: &output)
    }
}

/// LEB128 varints (BinaryCoder's lengths, and protobuf's).
public enum Varint {
    /// Appends `value`.
    public static func append(_ value: UInt64, to output: inout [UInt8]) {
        var remaining = value
        while remaining >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        output.append(UInt8(truncatingIfNeeded: remaining))
    }

    /// How many bytes `append` writes for `value`.
    public static func size(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest != 0 {
            size += 1
            rest >>= 7
        }
        return size
    }
}
