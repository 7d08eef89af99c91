// Unguessable IDs (issue 12: a job's processes cannot name another job's objects and tasks).
// Ray derives every ID from the job's number and counters, so any process can compute the
// IDs of another job's objects and ask their owner for them, or cancel its tasks. Here a
// job's owners derive what their programs make — each submitted task, each put, each
// attempt's children — with SipHash-2-4 keyed by the job's ID key (`OwnerIdentity.idKey`:
// in a real cluster derived from the job's credential, which only the job's drivers and
// workers hold; in the simulator drawn from the seed). SipHash is a PRF: without the key,
// one ID says nothing about its siblings or its parent, so a reference is a capability —
// a process can read or cancel what it was handed (as Ray allows across jobs) and nothing
// it was not. Key 0 keeps the unkeyed derivation (records and tests written before keys).

/// SipHash-2-4 of two words under a 128-bit key (`k0`, `k1`).
@inline(__always)
func sipHash24(k0: UInt64, k1: UInt64, _ m0: UInt64, _ m1: UInt64) -> UInt64 {
    var v0: UInt64 = 0x736f_6d65_7073_6575 ^ k0
    var v1: UInt64 = 0x646f_7261_6e64_6f6d ^ k1
    var v2: UInt64 = 0x6c79_6765_6e65_7261 ^ k0
    var v3: UInt64 = 0x7465_6462_7974_6573 ^ k1
    @inline(__always) func round() {
        v0 = v0 &+ v1; v1 = (v1 << 13) | (v1 >> 51); v1 ^= v0; v0 = (v0 << 32) | (v0 >> 32)
        v2 = v2 &+ v3; v3 = (v3 << 16) | (v3 >> 48); v3 ^= v2
        v0 = v0 &+ v3; v3 = (v3 << 21) | (v3 >> 43); v3 ^= v0
        v2 = v2 &+ v1; v1 = (v1 << 17) | (v1 >> 47); v1 ^= v2; v2 = (v2 << 32) | (v2 >> 32)
    }
    v3 ^= m0
    round(); round()
    v0 ^= m0
    v3 ^= m1
    round(); round()
    v0 ^= m1
    let last: UInt64 = 16 << 56  // The message's length in bytes, in the top byte.
    v3 ^= last
    round(); round()
    v0 ^= last
    v2 ^= 0xff
    round(); round(); round(); round()
    return v0 ^ v1 ^ v2 ^ v3
}

extension OwnerIDs {
    /// Domain tags: a task's child, a put, an attempt's sequence never share an input.
    static let putTag: UInt64 = 1 << 63
    static let attemptTag: UInt64 = 1 << 62

    /// The keyed derivation of `(word, tagged)`.
    static func keyed(_ key: UInt64, _ word: UInt64, _ tagged: UInt64) -> UInt64 {
        sipHash24(k0: key, k1: key ^ 0x5357_5259_2D49_4453, word, tagged)
    }
}
