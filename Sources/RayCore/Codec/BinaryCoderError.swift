// What can go wrong while encoding or decoding with `BinaryCoder`.
// Invariant: every failure of the binary codec surfaces as one of these cases,
// carrying the byte offset where the decoder stood, so a corrupt log record or
// frame can be located; malformed input never traps.

/// A failure of `BinaryCoder.encode` or `BinaryCoder.decode`, naming what went wrong and where.
public enum BinaryCoderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input ended early: `neededBytes` more bytes were required at `offset`.
    case truncated(offset: Int, neededBytes: Int)
    /// A keyed container expected the key `expected` but the input holds `found` at `offset`.
    case keyMismatch(expected: String, found: String, offset: Int)
    /// A keyed container expected the key `expected` but has no keys left at `offset`.
    case keyMissing(expected: String, offset: Int)
    /// A string at `offset` is not valid UTF-8.
    case invalidUTF8(offset: Int)
    /// Decoding finished at `offset` but `byteCount` bytes were left over.
    case trailingBytes(offset: Int, byteCount: Int)
    /// A variable-length integer at `offset` is longer than 64 bits.
    case varintOverflow(offset: Int)
    /// An integer at `offset` does not fit the Swift type `type`.
    case integerOutOfRange(type: String, offset: Int)
    /// A Boolean at `offset` is neither 0 nor 1.
    case invalidBool(byte: UInt8, offset: Int)
    /// An optional's presence tag at `offset` is neither 0 (absent) nor 1 (present).
    case invalidOptionalTag(byte: UInt8, offset: Int)
    /// A length or element count at `offset` is larger than the bytes left in the input.
    case lengthExceedsInput(length: UInt64, offset: Int)
    /// An unkeyed container at `offset` was asked for more elements than it holds.
    case containerExhausted(offset: Int)
    /// A type's own `init(from:)` rejected the decoded data at `offset`.
    case invalidValue(description: String, offset: Int)
    /// A type's own `encode(to:)` failed.
    case encodingFailed(description: String)

    /// A sentence saying what happened and what the caller can do about it.
    public var description: String {
        switch self {
        case let .truncated(offset, neededBytes):
            return "binary input truncated at byte \(offset): \(neededBytes) more byte(s) needed; the data was cut short"
        case let .keyMismatch(expected, found, offset):
            return "binary input has key \"\(found)\" at byte \(offset) where \"\(expected)\" was expected; "
                + "the data was written by a different type or version"
        case let .keyMissing(expected, offset):
            return "binary input has no key \"\(expected)\" at byte \(offset); "
                + "the data was written by a different type or version"
        case let .invalidUTF8(offset):
            return "binary input holds a string that is not valid UTF-8 at byte \(offset); the data is corrupt"
        case let .trailingBytes(offset, byteCount):
            return "binary input has \(byteCount) unexpected byte(s) after the value ending at byte \(offset); "
                + "the data was written by a different type or is corrupt"
        case let .varintOverflow(offset):
            return "binary input holds an integer longer than 64 bits at byte \(offset); the data is corrupt"
        case let .integerOutOfRange(type, offset):
            return "binary input holds an integer at byte \(offset) that does not fit \(type); "
                + "the data was written by a different type or is corrupt"
        case let .invalidBool(byte, offset):
            return "binary input holds \(byte) at byte \(offset) where a Boolean (0 or 1) was expected; the data is corrupt"
        case let .invalidOptionalTag(byte, offset):
            return "binary input holds \(byte) at byte \(offset) where an optional tag (0 or 1) was expected; "
                + "the data is corrupt"
        case let .lengthExceedsInput(length, offset):
            return "binary input declares \(length) element(s) or byte(s) at byte \(offset), more than remain; "
                + "the data is corrupt or truncated"
        case let .containerExhausted(offset):
            return "binary input has no more elements in a list at byte \(offset); "
                + "the data was written by a different type or version"
        case let .invalidValue(description, offset):
            return "binary input rejected at byte \(offset): \(description)"
        case let .encodingFailed(description):
            return "binary encoding failed: \(description)"
        }
    }
}
