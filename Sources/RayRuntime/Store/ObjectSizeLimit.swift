// The largest object a program may create: checked before any memory is allocated
// for it (a put, a task's or a call's return value), so one oversized value cannot
// exhaust a node's shared memory or disk. Default: the node's object store capacity;
// SWIFTRAY_MAX_OBJECT_BYTES sets another (a value that is not a positive whole number
// is refused by name when the program connects). Objects that reach a store by other
// ways (pulled from another node, restored from a spill) were checked where they were
// made; the store itself still takes one over its capacity in a file of its own.

import RayCore

public enum ObjectSizeLimit {
    /// SWIFTRAY_MAX_OBJECT_BYTES, read once (nil: the store's capacity).
    static let configured: Int64? = (try? positiveSetting("SWIFTRAY_MAX_OBJECT_BYTES")).flatMap { $0.map(Int64.init) }

    /// Refuses a malformed SWIFTRAY_MAX_OBJECT_BYTES by name (when a program connects).
    static func validateEnvironment() throws(RuntimeError) {
        _ = try positiveSetting("SWIFTRAY_MAX_OBJECT_BYTES")
    }

    /// The limit for objects made on a node whose store is `store` (nil without a store and
    /// without a setting: unlimited — values then travel in messages, whose frames are bounded).
    static func bytes(store: SharedObjects?) -> Int64? {
        if let configured { return configured }
        return store?.region?.capacity
    }

    /// Throws `objectTooLarge`, naming the size, the limit and how to raise it, when `size` is over it.
    static func check(_ size: Int, store: SharedObjects?, what: @autoclosure () -> String) throws(RuntimeError) {
        try check(size, limit: bytes(store: store), what: what())
    }

    /// The same with the limit already known (a worker reads it once: `bytes(store:)`).
    @inline(__always)
    static func check(_ size: Int, limit: Int64?, what: @autoclosure () -> String) throws(RuntimeError) {
        guard let limit, Int64(size) > limit else { return }
        try refuse(size, limit: limit, what: what())
    }

    private static func refuse(_ size: Int, limit: Int64, what: String) throws(RuntimeError) {
        throw RuntimeError(kind: .objectTooLarge, "\(what) is \(size) bytes, over the object size limit of \(limit) bytes ("
            + (configured != nil ? "SWIFTRAY_MAX_OBJECT_BYTES" : "the node's object store capacity")
            + "); nothing was allocated. Split the value into smaller objects, or raise the limit with "
            + (environment("SWIFTRAY_ROLE") == "worker"
                ? "SWIFTRAY_MAX_OBJECT_BYTES where the node starts (the environment of `swiftray start`, or of the "
                    + "program calling Ray.start()), which its workers inherit, or a larger object store"
                : "SWIFTRAY_MAX_OBJECT_BYTES in the program's environment (or a larger object store)"))
    }
}
