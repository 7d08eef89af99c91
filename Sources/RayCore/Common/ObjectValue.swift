// Object contents as the machines see them. A value is either data or a Ray
// error stored in place of the object (Ray stores a RayTaskError the same way).
// Data carries its size and a content digest; real programs also carry the
// bytes. Synthetic values (simulator) are a deterministic byte stream of
// their digest, so two values with the same size and digest have the same bytes.

/// An error stored in place of an object: its kind and a human-readable account.
public struct RayError: Error, Hashable, Codable, Sendable, CustomStringConvertible {
    public var kind: RayErrorKind
    public var message: String
    public init(_ kind: RayErrorKind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { "\(kind.rawValue): \(message)" }
}

/// The data of an object.
public struct ObjectData: Hashable, Codable, Sendable {
    public var sizeBytes: Int64
    /// Content digest: for synthetic values the seed of their byte stream.
    public var digest: UInt64
    /// The bytes themselves when a real program produced them; nil for synthetic values.
    public var bytes: [UInt8]?

    public init(sizeBytes: Int64, digest: UInt64, bytes: [UInt8]? = nil) {
        precondition(sizeBytes >= 0, "negative object size")
        self.sizeBytes = sizeBytes
        self.digest = digest
        self.bytes = bytes
    }

    /// The `index`-th byte of a synthetic value's content stream.
    public static func syntheticByte(digest: UInt64, index: Int64) -> UInt8 {
        UInt8(truncatingIfNeeded: mix(digest &+ UInt64(index >> 3)) >> (UInt64(index & 7) * 8))
    }

    /// Materialises a synthetic value's bytes (for byte-for-byte checks of small values).
    public func syntheticBytes() -> [UInt8] {
        (0..<sizeBytes).map { Self.syntheticByte(digest: digest, index: $0) }
    }
}

/// What an object holds: data, or the error a `get` of it raises.
public enum ObjectValue: Hashable, Codable, Sendable {
    case data(ObjectData)
    case error(RayError)

    /// Bytes this value occupies in an object store (errors are small).
    public var sizeBytes: Int64 {
        switch self {
        case .data(let data): return data.sizeBytes
        case .error: return 0
        }
    }

    public var error: RayError? {
        if case .error(let error) = self { return error }
        return nil
    }
}
