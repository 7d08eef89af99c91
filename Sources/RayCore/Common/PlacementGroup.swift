// Placement groups (Ray's §1.5): a gang reservation of resource bundles,
// placed by the GCS with a strategy and reserved on the raylets all or nothing
// (prepare on every node, then commit; any failure cancels every prepared
// bundle). A committed bundle turns its node's resources into the group's own:
// `CPU_group_<i>_<group>` for bundle i and `CPU_group_<group>` for any bundle,
// so tasks and actors of the group ask for those and nothing else can use them.

/// A placement group: named after the creation "task" of its creator (as actors are).
public struct PlacementGroupID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var creationTask: TaskID
    public init(creationTask: TaskID) { self.creationTask = creationTask }
    public static func < (lhs: PlacementGroupID, rhs: PlacementGroupID) -> Bool { lhs.creationTask < rhs.creationTask }
    public var description: String { "pg-" + hex16(creationTask.value) }
    /// The suffix of the group's resource names.
    public var resourceTag: String { hex16(creationTask.value) }
}

/// How bundles spread over nodes (Ray's strategies).
public enum PlacementStrategy: String, Hashable, Codable, Sendable, CaseIterable, CustomStringConvertible {
    public var description: String { rawValue }
    /// As few nodes as possible (best effort).
    case pack = "PACK"
    /// As many nodes as possible (best effort).
    case spread = "SPREAD"
    /// Every bundle on one node.
    case strictPack = "STRICT_PACK"
    /// Every bundle on a node of its own.
    case strictSpread = "STRICT_SPREAD"
}

/// A group's lifecycle in the GCS.
public enum PlacementGroupState: String, Hashable, Codable, Sendable, CaseIterable, CustomStringConvertible {
    public var description: String { rawValue }
    /// Not reserved yet (or waiting to be placed again after a failed attempt).
    case pending = "PENDING"
    /// Every bundle reserved.
    case created = "CREATED"
    /// Some bundles were lost with their node: being placed again.
    case rescheduling = "RESCHEDULING"
    /// Removed (by its creator, or with it): nothing reserved any more.
    case removed = "REMOVED"
}

/// One bundle of a group: its index and what it reserves.
public struct BundleSpec: Hashable, Codable, Sendable {
    public var index: Int
    public var resources: ResourceSet
    public init(index: Int, resources: ResourceSet) {
        self.index = index
        self.resources = resources
    }
}

/// A bundle a raylet holds, as it reports them to the GCS.
public struct BundleHold: Hashable, Codable, Sendable {
    public var group: PlacementGroupID
    public var index: Int
    public var round: UInt64
    public var committed: Bool
    public init(group: PlacementGroupID, index: Int, round: UInt64, committed: Bool) {
        self.group = group
        self.index = index
        self.round = round
        self.committed = committed
    }
}

/// What a creator asks for.
public struct PlacementGroupSpec: Hashable, Codable, Sendable {
    public var id: PlacementGroupID
    /// BundleSpec i reserves `bundles[i]`.
    public var bundles: [ResourceSet]
    public var strategy: PlacementStrategy
    /// The process that created it (the group goes when it does, unless detached).
    public var owner: WorkerID
    /// `""`: unnamed.
    public var name: String
    public var detached: Bool
    /// The job of the process that created it: its per-job quota (`RayConfig.placementGroupsPerJobHard`)
    /// counts it. `JobID(0)` in a record written before this field.
    public var job: JobID

    public init(id: PlacementGroupID, bundles: [ResourceSet], strategy: PlacementStrategy, owner: WorkerID,
                name: String = "", detached: Bool = false, job: JobID = JobID(0)) {
        self.id = id
        self.bundles = bundles
        self.strategy = strategy
        self.owner = owner
        self.name = name
        self.detached = detached
        self.job = job
    }

    /// Why the spec cannot be a group (nil when it can): a bundle asking for nothing, or for a
    /// negative amount, or no bundles at all.
    public var problem: String? { Self.problem(bundles: bundles) }

    /// Why these bundles cannot make a group (nil when they can).
    public static func problem(bundles: [ResourceSet]) -> String? {
        if bundles.isEmpty { return "a placement group needs at least one bundle" }
        for (index, bundle) in bundles.enumerated() {
            if bundle.isEmpty || bundle.entries.allSatisfy({ $0.milli == 0 }) {
                return "bundle \(index) asks for nothing (every bundle needs some resource, e.g. {CPU: 1})"
            }
            if let negative = bundle.entries.first(where: { $0.milli < 0 }) {
                return "bundle \(index) asks for a negative amount of \(negative.name)"
            }
        }
        return nil
    }
}

/// A group as the GCS publishes it.
public struct PlacementGroupInfo: Hashable, Codable, Sendable {
    public var id: PlacementGroupID
    public var state: PlacementGroupState
    /// The node of each bundle (`NodeID(0)`: not placed).
    public var nodes: [NodeID]
    /// Why it is pending or removed ("" otherwise): infeasible (which constraint no set of
    /// alive nodes satisfies), or waiting (for which resources).
    public var cause: String
    public var name: String
    /// The error kind a removal was (`RayErrorKind.rawValue`): "QuotaExceeded" for a group the
    /// GCS refused over its job's quota; "" otherwise (removed, or not removed).
    public var causeKind: String

    public init(id: PlacementGroupID, state: PlacementGroupState, nodes: [NodeID], cause: String, name: String,
                causeKind: String = "") {
        self.id = id
        self.state = state
        self.nodes = nodes
        self.cause = cause
        self.name = name
        self.causeKind = causeKind
    }
}

extension ResourceSet {
    /// A bundle's resources renamed as the group's (`CPU` → `CPU_group_<i>_<tag>`, or with
    /// `index` nil the wildcard `CPU_group_<tag>`): what tasks of the group ask for.
    public func inGroup(_ group: PlacementGroupID, bundle index: Int?) -> ResourceSet {
        var renamed: [String: Int64] = [:]
        for entry in entries {
            let name = index.map { "\(entry.name)_group_\($0)_\(group.resourceTag)" }
                ?? "\(entry.name)_group_\(group.resourceTag)"
            renamed[name, default: 0] += entry.milli
        }
        return ResourceSet(renamed)
    }

    /// Whether these resources ask for `group`'s, and which bundle (nil: any bundle).
    public func groupBundle(_ group: PlacementGroupID) -> (asks: Bool, bundle: Int?) {
        var asks = false
        for entry in entries {
            guard let resource = entry.name.placementGroupResource, resource.tag == group.creationTask.value else { continue }
            if let bundle = resource.bundle { return (true, bundle) }
            asks = true
        }
        return (asks, nil)
    }

    /// What a committed bundle adds to its node: its own resources and the wildcard ones.
    public func committedAsBundle(_ index: Int, of group: PlacementGroupID) -> ResourceSet {
        inGroup(group, bundle: index) + inGroup(group, bundle: nil)
    }
}

extension String {
    /// True for a resource name of `group` (`CPU_group_<i>_<tag>` or `CPU_group_<tag>`).
    public func isResource(of group: PlacementGroupID) -> Bool {
        placementGroupTag == group.creationTask.value
    }

    /// The group a resource name belongs to, by its tag (`CPU_group_1_<16 hex digits>`), read
    /// from its bytes without allocating (raylets and owners ask on every lease and release).
    public var placementGroupTag: UInt64? { placementGroupResource?.tag }

    /// A group resource name read once: `<base>_group_<i>_<tag>` (bundle `i`) or
    /// `<base>_group_<tag>` (the wildcard); nil for any other name.
    public var placementGroupResource: (tag: UInt64, bundle: Int?)? {
        var name = self  // withUTF8 is mutating; a native string is read in place.
        return name.withUTF8(Self.groupResource(in:))
    }

    private static let groupMarker: [UInt8] = Array("_group".utf8)

    private static func groupResource(in bytes: UnsafeBufferPointer<UInt8>) -> (tag: UInt64, bundle: Int?)? {
        // The tag: the last 16 bytes, lowercase hex, after an underscore.
        guard bytes.count >= 24, bytes[bytes.count - 17] == UInt8(ascii: "_") else { return nil }
        var tag: UInt64 = 0
        for byte in bytes[(bytes.count - 16)...] {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): tag = tag << 4 | UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): tag = tag << 4 | UInt64(byte - UInt8(ascii: "a") + 10)
            default: return nil
            }
        }
        // Before it, an optional `_<i>`, then `_group` after a base name of at least one byte.
        var end = bytes.count - 17
        var digits = end
        while digits > 0 && end - digits < 9 && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[digits - 1]) {
            digits -= 1
        }
        var bundle: Int?
        if digits < end {
            guard digits > 0, bytes[digits - 1] == UInt8(ascii: "_") else { return nil }
            bundle = bytes[digits..<end].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            end = digits - 1
        }
        let marker = groupMarker
        guard end > marker.count, bytes[(end - marker.count)..<end].elementsEqual(marker) else { return nil }
        return (tag, bundle)
    }
}
