// The public entry point of the compact, deterministic binary codec used for
// log records and frames. Pure Swift: no Foundation, clocks or randomness.
// Invariants: equal values give equal bytes (dictionaries are sorted by key);
// decoding malformed or truncated input throws `BinaryCoderError`, never traps;
// decoding must consume the input exactly. The layout is described in
// BinaryEncoder.swift; values round-trip when `init(from:)` reads in the same
// order `encode(to:)` writes, which synthesized conformances always do.

/// Encodes `Codable` values to compact bytes and back.
///
/// Keyed containers carry key names (so a renamed field is detected as a key
/// mismatch, not silently misread), integers are varints, and there are no
/// type tags: the decoder must be given the type that was encoded.
public enum BinaryCoder {
    /// Encodes `value` into bytes.
    public static func encode<T: Encodable>(_ value: T) throws(BinaryCoderError) -> [UInt8] {
        try encode(value, seeingActors: nil)
    }

    /// Encodes `value`, telling `seeingActors` of each `ActorID` written (an actor handle inside
    /// the value: the API layer counts the handles that travel in values).
    public static func encode<T: Encodable>(_ value: T, seeingActors: ((ActorID) throws -> Void)?)
        throws(BinaryCoderError) -> [UInt8] {
        let writer = BinaryWriter()
        writer.seeingActors = seeingActors
        do {
            try BinaryEncoderState.encodeValue(value, writer: writer, codingPath: [])
        } catch let error as BinaryCoderError {
            throw error
        } catch {
            throw .encodingFailed(description: String(describing: error))
        }
        return writer.finish()
    }

    /// Decodes a value of `type` from `bytes`, which must hold exactly one encoded value.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8],
                                            userInfo: [CodingUserInfoKey: Any] = [:]) throws(BinaryCoderError) -> T {
        let reader = BinaryReader(bytes: bytes)
        reader.userInfo = userInfo
        let value: T
        do {
            value = try BinaryDecoderState.decodeValue(type, reader: reader, codingPath: [])
        } catch let error as BinaryCoderError {
            throw error
        } catch {
            throw .invalidValue(description: String(describing: error), offset: reader.offset)
        }
        guard reader.remainingByteCount == 0 else {
            throw .trailingBytes(offset: reader.offset, byteCount: reader.remainingByteCount)
        }
        return value
    }
}
