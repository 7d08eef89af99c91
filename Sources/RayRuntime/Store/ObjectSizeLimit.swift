// The object size limit in a real process (the rule itself is RayCore's `ObjectSizeRule`):
// a put is checked before any memory is allocated for it, against the limit its raylet
// handed the program (`RayConfig.forNode`); a task's return values are checked by the
// executor machine before its host writes them into the store. SWIFTRAY_MAX_OBJECT_BYTES
// sets the limit where a node (or the GCS) starts; a value that is not a positive whole
// number is refused by name. Objects that reach a store by other ways (pulled from another
// node, restored from a spill) were checked where they were made; the store itself still
// takes one over its capacity in a file of its own.

import RayCore

public enum ObjectSizeLimit {
    /// SWIFTRAY_MAX_OBJECT_BYTES, read once (nil: the store's capacity).
    static let configured: Int64? = (try? positiveSetting("SWIFTRAY_MAX_OBJECT_BYTES")).flatMap { $0.map(Int64.init) }

    /// Refuses a malformed SWIFTRAY_MAX_OBJECT_BYTES by name (when a process starts or a program connects).
    static func validateEnvironment() throws(RuntimeError) {
        _ = try positiveSetting("SWIFTRAY_MAX_OBJECT_BYTES")
    }

    /// The configuration a raylet hands its drivers and workers: its own setting, if any, else
    /// the cluster's, else its store's capacity.
    static func forNode(_ config: RayConfig, storeBytes: Int64) -> RayConfig {
        var config = config
        if let configured { config.objectSizeBytesMax = configured }
        return config.forNode(storeBytes: storeBytes)
    }

    /// Throws `objectTooLarge`, naming the size, the limit and how to raise it, when `size` is over `limit`.
    @inline(__always)
    static func check(_ size: Int, limit: Int64?, what: @autoclosure () -> String) throws(RuntimeError) {
        guard let refusal = ObjectSizeRule.refusal(Int64(size), limit: limit, what: what()) else { return }
        throw RuntimeError(kind: .objectTooLarge, refusal.message)
    }
}
