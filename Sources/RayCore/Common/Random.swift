// A seeded generator for the state machines. Machines never draw from the
// system: a seed arrives in their configuration (an input), so replaying the
// same inputs draws the same numbers.

/// SplitMix64: small, fast, and good enough for scheduling tie-breaks and fault plans.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable, Hashable {
    public private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A uniform integer in 0..<bound (bound > 0).
    public mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        return next() % bound
    }
    /// A uniform double in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// An order-sensitive 64-bit digest (FNV-1a over 64-bit words, then mixed).
public struct Digest: Sendable, Hashable {
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325
    public init() {}
    public mutating func add(_ word: UInt64) {
        value = (value ^ word) &* 0x0000_0100_0000_01B3
    }
    public mutating func add(_ string: String) {
        for byte in string.utf8 { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        add(UInt64(string.utf8.count))
    }
    public mutating func add(_ bytes: [UInt8]) {
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        add(UInt64(bytes.count))
    }
    public var finalized: UInt64 { mix(value) }
}
