// Placement groups from Swift (Ray's `ray.util.placement_group`): a gang reservation of
// resource bundles, reserved all or nothing on the cluster; tasks and actors then run in a
// bundle (`TaskOptions.placementGroup`, `ActorClassOptions.placementGroup`), and only they
// can use its resources.
//
//     let gang = try PlacementGroup.create(bundles: [["CPU": 1], ["CPU": 1]], strategy: .strictSpread)
//     try gang.ready(timeout: .seconds(10))
//     let ref = try work.options(TaskOptions(placementGroup: gang, bundleIndex: 1)).remote(x)
//     try gang.remove()

public import RayCore
import RayRuntime

/// A placement group this program created.
public struct PlacementGroup: Sendable, Hashable, CustomStringConvertible {
    public let id: PlacementGroupID
    /// The number of bundles (indices 0..<bundleCount).
    public var bundleCount: Int { bundles.count }
    /// What each bundle reserves.
    public let bundles: [ResourceSet]

    /// Reserves `bundles` (each `["CPU": 1]`-style amounts) with `strategy` (Ray's PACK,
    /// SPREAD, STRICT_PACK, STRICT_SPREAD); returns at once: `ready()` waits for the reservation.
    /// A bundle asking for nothing or a negative amount is refused here, naming it.
    public static func create(bundles: [[String: Double]], strategy: PlacementStrategy = .pack, name: String = "",
                              detached: Bool = false) throws -> PlacementGroup {
        var sets: [ResourceSet] = []
        for (index, bundle) in bundles.enumerated() {
            var milli: [String: Int64] = [:]
            for (resource, amount) in bundle.sorted(by: { $0.key < $1.key }) {
                guard amount.isFinite else {
                    throw Ray.Error.invalidArgument("bundle \(index) asks for a non-finite amount of \(resource)")
                }
                milli[resource] = Int64((amount * 1000).rounded())
            }
            sets.append(ResourceSet(milli))
        }
        let client = try Ray.client()
        if let problem = PlacementGroupSpec.problem(bundles: sets) {
            throw Ray.Error.invalidArgument("placement group: \(problem)")
        }
        let id = client.createPlacementGroup(bundles: sets, strategy: strategy, name: name, detached: detached)
        return PlacementGroup(id: id, bundles: sets)
    }

    /// Waits until every bundle is reserved (CREATED). Throws if it was removed (saying why;
    /// `.quotaExceeded` when the GCS refused it over its job's placement-group quota), or
    /// `.timeout` (saying what it waits for: infeasible, or which resources).
    public func ready(timeout: Duration? = nil) throws {
        let client = try Ray.client()
        guard let info = client.waitPlacementGroup(id, timeoutSeconds: timeout.map(Ray.seconds)) else {
            let cause = client.placementGroupInfo(id)?.cause ?? ""
            throw Ray.Error.timeout("\(id) is not created within \(timeout.map { "\($0)" } ?? "the timeout")"
                + (cause.isEmpty ? "" : ": \(cause)"))
        }
        if info.state == .removed { throw Self.removed(info, "\(id) was removed: \(info.cause)") }
    }

    /// Ray's `pg.ready()`: a reference that becomes `true` once every bundle is reserved, to get,
    /// wait for (`Ray.wait`) or pass to a task (which then runs once the group exists). Its get
    /// fails with `PlacementGroupUnschedulable` if the group is removed first.
    public func readyRef() throws -> ObjectRef<Bool> {
        let client = try Ray.client()
        let bytes = try ValueCoding.encodeResult(true, of: "a placement group's readiness")
        let id = client.placementGroupReady(id, value: ObjectData(sizeBytes: Int64(bytes.count), digest: 0, bytes: bytes))
        return ObjectRef(id: id, client: client)
    }

    /// `ready()` without blocking a thread.
    public func ready(timeout: Duration? = nil) async throws {
        try await Task.detached { try self.ready(timeout: timeout) }.value
    }

    /// The group's state and, when pending or removed, why.
    public var state: (PlacementGroupState, cause: String) {
        get throws {
            guard let info = try Ray.client().placementGroupInfo(id) else {
                throw Ray.Error.invalidArgument("\(id) is not a placement group of this program")
            }
            return (info.state, info.cause)
        }
    }

    /// The node holding each bundle now (nil: not reserved now), as Ray's `placement_group_table`
    /// shows `bundles_to_node_id`.
    public var bundleNodes: [NodeID?] {
        get throws {
            guard let info = try Ray.client().placementGroupInfo(id) else {
                throw Ray.Error.invalidArgument("\(id) is not a placement group of this program")
            }
            return info.nodes.map { $0 == NodeID(0) ? nil : $0 }
        }
    }

    /// Removes the group: what runs in it is killed, its resources go back to their nodes.
    public func remove() throws {
        try Ray.client().removePlacementGroup(id)
    }

    public var description: String { id.description }

    /// What using a removed group throws: the typed quota error when the GCS refused it over its
    /// job's quota (naming the limit), else an invalid argument.
    private static func removed(_ info: PlacementGroupInfo, _ message: String) -> Ray.Error {
        info.removalKind == .quotaExceeded ? Ray.Error(RayError(.quotaExceeded, message)) : .invalidArgument(message)
    }

    /// `resources` renamed as the group's: in bundle `index` (-1: any bundle). Throws when the
    /// index is out of range or the group was removed.
    func resources(_ resources: ResourceSet, bundle index: Int) throws -> ResourceSet {
        guard index >= -1 && index < bundleCount else {
            throw Ray.Error.invalidArgument("bundle index \(index) is out of range: \(id) has \(bundleCount) "
                + "bundle(s) (0..<\(bundleCount), or -1 for any)")
        }
        if let info = try Ray.client().placementGroupInfo(id), info.state == .removed {
            throw Self.removed(info, "\(id) was removed (\(info.cause)): nothing can run in it")
        }
        guard !resources.isEmpty else {
            throw Ray.Error.invalidArgument("a task or actor in \(id) must ask for some resource of its bundle")
        }
        // As Ray's: what asks for more than its bundle (any bundle, for -1) holds could never run.
        let fits = index < 0 ? bundles.contains { resources.fits(in: $0) } : resources.fits(in: bundles[index])
        guard fits else {
            throw Ray.Error.invalidArgument("a task or actor asking for \(resources) cannot run in "
                + (index < 0 ? "any bundle of \(id)" : "bundle \(index) of \(id) (\(bundles[index]))")
                + ": it holds less; ask for less (TaskOptions(numCPUs:), ...) or reserve more")
        }
        return resources.inGroup(id, bundle: index < 0 ? nil : index)
    }
}
