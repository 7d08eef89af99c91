// CRC-32C (Castagnoli): the per-record checksum of the LMDB log.
// Covers the record's sequence number and payload, so a torn write, a flipped
// bit or a value stored under the wrong key is detected on read.

import CChecksum

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

    /// The checksum of a record: its 8-byte big-endian sequence number, then its payload
    /// (through the CPU's crc32 instruction: every input of every process is checksummed).
    static func record(sequence: UInt64, payload: UnsafeRawBufferPointer) -> UInt32 {
        var key = sequence.bigEndian
        let keyChecksum = withUnsafeBytes(of: &key) { FastCRC32C.update(0, $0) }
        return FastCRC32C.update(keyChecksum, payload)
    }
}

/// CRC-32C of large buffers (object chunks, spilled objects): the CPU's crc32 instruction
/// (SSE 4.2) when it has one, a table otherwise (CChecksum).
public enum FastCRC32C {
    /// Continues `crc` (start with 0) over `bytes`; equal to the byte-at-a-time CRC-32C.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return crc }
        return swiftray_crc32c(crc, base, bytes.count)
    }

    /// The byte-at-a-time checksum (the reference `update` must equal; tests compare them).
    public static func reference(_ bytes: UnsafeRawBufferPointer) -> UInt32 { CRC32C.update(0, bytes) }
}
