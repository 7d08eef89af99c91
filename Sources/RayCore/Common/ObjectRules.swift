// Rules on the objects a program makes, one for both worlds (each host applies them
// where a program makes an object, before anything is allocated):
// - The object size limit: a put and a task's (or an actor method's) return value over it
//   are refused (ObjectTooLarge). The limit is the node's: the cluster's setting
//   (RayConfig.objectSizeBytesMax, SWIFTRAY_MAX_OBJECT_BYTES) or, without one, the capacity
//   of the store of the node where the object is made. A raylet hands its drivers and
//   workers the configuration with the limit made concrete (`forNode`), so the simulator
//   and the real hosts read it from there.
// - The per-owner object quota (OwnedObjectsRule): a put by an owner whose table is full is
//   refused (QuotaExceeded); one past the soft limit is made, and holds its program a while.

extension RayConfig {
    /// The configuration a node hands its drivers and workers: the object size limit made
    /// concrete for its store of `storeBytes` (a configured limit stays as it is).
    public func forNode(storeBytes: Int64) -> RayConfig {
        var config = self
        if config.objectSizeBytesMax <= 0 { config.objectSizeBytesMax = storeBytes }
        return config
    }

    /// The object size limit, once a node made it concrete (nil: unlimited).
    public var objectSizeLimit: Int64? { objectSizeBytesMax > 0 ? objectSizeBytesMax : nil }
}

/// Refusals of objects over the size limit.
public enum ObjectSizeRule {
    /// How a program raises the limit, said at the end of each refusal.
    public static let howToRaise = "SWIFTRAY_MAX_OBJECT_BYTES where the node starts (the environment of "
        + "`swiftray start`, or of the program calling Ray.start(); `quotas: {max_object_bytes: ...}` in a "
        + "scenario), or a larger object store"

    /// The refusal of an object of `size` bytes (`what` names it), or nil when it fits `limit`.
    @inline(__always)
    public static func refusal(_ size: Int64, limit: Int64?, what: @autoclosure () -> String) -> RayError? {
        guard let limit, size > limit else { return nil }
        return RayError(.objectTooLarge, "\(what()) is \(size) bytes, over the object size limit of \(limit) bytes; "
            + "nothing was allocated. Split the value into smaller objects, or raise the limit with " + howToRaise)
    }

    /// The refusal of the first of a task's return values over the limit, or nil.
    public static func refusal(returns values: [ObjectData], of function: String, limit: Int64?) -> RayError? {
        guard let limit else { return nil }
        for (index, value) in values.enumerated() where value.sizeBytes > limit {
            return refusal(value.sizeBytes, limit: limit,
                           what: values.count == 1 ? "the value \(function) returned" : "return value \(index + 1) of \(function)")
        }
        return nil
    }
}

/// The per-owner object quota (RayConfig.ownedObjectsSoftMax / HardMax): a put by an owner whose
/// object table already holds `entries` is refused at the hard limit, before an ID is taken.
/// Each host counts the entries its own way (the simulator reads the machine; a real driver
/// adds the puts its program made since the loop's last step) and applies this rule.
public enum OwnedObjectsRule {
    /// The refusal of a put by an owner holding `entries` objects, or nil.
    public static func refusal(entries: Int, config: RayConfig) -> RayError? {
        guard entries >= config.ownedObjectsHard else { return nil }
        return RayError(.quotaExceeded, "the put is refused: this owner already holds \(entries) objects, its hard "
            + "quota (SWIFTRAY_OWNED_OBJECTS_HARD where the cluster starts, RayConfig's "
            + "ownedObjectsHardMax; `quotas: {owned_objects: N}` in a scenario); let go of the references it no longer needs, "
            + "or raise the quota")
    }

    /// True when a put by an owner holding `entries` objects is past the soft limit (counted,
    /// warned of, and slowed down).
    public static func pastSoftLimit(entries: Int, config: RayConfig) -> Bool { entries >= config.ownedObjectsSoft }

    /// How a put past the soft limit slows its program down: once made, the program is held
    /// until `pace(after:now:)`, so such puts go at most one per `slowdownMicros` (10 000 a
    /// second) however fast the program makes them. From the default soft limit (1 000 000) to
    /// the hard one (10 000 000) that is at least 15 minutes, with the warning given.
    public static let slowdownMicros: Int64 = 100

    /// When the program may go on after a put past the soft limit made at `now`, the previous
    /// one having held it until `previous` (a time on the same clock; 0 for none).
    @inline(__always)
    public static func pace(after previous: Int64, now: Int64) -> Int64 { max(previous, now) &+ slowdownMicros }
}
