// CRC-32C (Castagnoli), table-driven: the per-record checksum of the LMDB log.
// Covers the record's sequence number and payload, so a torn write, a flipped
// bit or a value stored under the wrong key is detected on read.

/// CRC-32C of byte sequences.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// Continues `crc` (start with 0) over `bytes`.
    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var value = ~crc
        table.withUnsafeBufferPointer { table in
            for byte in bytes {
                value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8)
            }
        }
        return ~value
    }

    /// The checksum of a record: its 8-byte big-endian sequence number, then its payload.
    static func record(sequence: UInt64, payload: UnsafeRawBufferPointer) -> UInt32 {
        var key = sequence.bigEndian
        let keyChecksum = withUnsafeBytes(of: &key) { update(0, $0) }
        return update(keyChecksum, payload)
    }
}
