// A raylet's share of placement groups: the bundles the GCS reserves here by
// two-phase commit. Prepare sets a round's bundles aside from what is free, all
// or none; commit turns them into the group's resources (`CPU_group_<i>_<g>` and
// `CPU_group_<g>`, added to the node's total and to what is free), which only
// the group's tasks and actors ask for; cancel gives a round's bundles back
// (every round's with round 0), killing the workers leased in committed ones.
// A prepared bundle the GCS never commits or cancels (its message lost, the GCS
// gone) is released here after `preparedBundleMicros`.

extension Raylet {
    /// How long a prepared bundle waits for its commit before this raylet releases it (well
    /// beyond the GCS's round timeout, so a round it still completes finds it here).
    static let preparedBundleMicros: Int64 = 10_000_000

    /// A bundle reserved here.
    public struct HeldBundle: Hashable, Sendable {
        public var group: PlacementGroupID
        public var index: Int
        public var resources: ResourceSet
        public var round: UInt64
        public var committed: Bool
    }

    /// From the GCS (`senderMay`).
    mutating func receiveBundleMessage(_ message: Message, into effects: inout [RayletEffect]) {
        switch message {
        case .prepareBundles(let group, let round, let bundles, let keep):
            prepare(group, round: round, bundles, keep: keep, into: &effects)
        case .commitBundles(let group, let round):
            commit(group, round: round, into: &effects)
        case .cancelBundles(let group, let round):
            releaseBundles(group, round: round, into: &effects)
        default:
            break
        }
    }

    private mutating func prepare(_ group: PlacementGroupID, round: UInt64, _ bundles: [BundleSpec], keep: [Int],
                                  into effects: inout [RayletEffect]) {
        // Bundles of this group held here from another round that the GCS does not count (a round
        // it gave up on, whose cancel was lost) go first: a STRICT_SPREAD group never has two here.
        let stale = Set(heldBundles.values.filter { $0.group == group && $0.round != round && !keep.contains($0.index) }
            .map(\.round)).sorted()
        for old in stale { releaseBundles(group, round: old, into: &effects) }
        let needs = bundles.reduce(ResourceSet()) { $0 + $1.resources }
        guard bundles.allSatisfy({ heldBundles[BundleKey(group: group, index: $0.index)] == nil }),
              needs.fits(in: available) else {
            effects.append(.send(to: .gcs, .bundlesPrepared(group, round: round,
                failure: "\(nodeID) has \(available) free; the bundles need \(needs)")))
            return
        }
        available = available - needs
        for bundle in bundles {
            heldBundles[BundleKey(group: group, index: bundle.index)] = HeldBundle(
                group: group, index: bundle.index, resources: bundle.resources, round: round, committed: false)
        }
        effects.append(.startTimer(.preparedExpired(group, round: round), afterMicros: Self.preparedBundleMicros))
        effects.append(.send(to: .gcs, .bundlesPrepared(group, round: round, failure: "")))
    }

    private mutating func commit(_ group: PlacementGroupID, round: UInt64, into effects: inout [RayletEffect]) {
        let keys = heldBundles.keys.filter { heldBundles[$0]!.group == group && heldBundles[$0]!.round == round }.sorted()
        guard !keys.isEmpty else {
            effects.append(.send(to: .gcs, .bundlesCommitted(group, round: round,
                failure: "\(nodeID) holds no prepared bundle of round \(round) (released: it waited too long)")))
            return
        }
        for key in keys where !heldBundles[key]!.committed {
            heldBundles[key]!.committed = true
            let added = heldBundles[key]!.resources.committedAsBundle(key.index, of: group)
            info.resources = info.resources + added
            available = available + added
        }
        effects.append(.send(to: .gcs, .bundlesCommitted(group, round: round, failure: "")))
        // No report of its own: the GCS counts the commit (the periodic report confirms it).
        dispatch(into: &effects)  // Requests of the group queued here run now.
    }

    /// Releases what this node holds of `group` from `round` (0: every round): prepared bundles
    /// give their resources back; committed ones first kill the workers leased in them.
    mutating func releaseBundles(_ group: PlacementGroupID, round: UInt64, into effects: inout [RayletEffect]) {
        let keys = heldBundles.keys.filter {
            heldBundles[$0]!.group == group && (round == 0 || heldBundles[$0]!.round == round)
        }.sorted()
        if round == 0 { failQueuedRequests(of: group, into: &effects) }
        guard !keys.isEmpty else { return }
        var released: [HeldBundle] = []
        for key in keys {
            let held = heldBundles.removeValue(forKey: key)!
            available = available + held.resources
            if held.committed { released.append(held) }
        }
        guard !released.isEmpty else { return }
        let wildcardGone = !heldBundles.values.contains { $0.group == group && $0.committed }
        // What runs in the released bundles is killed (Ray force-kills a removed group's tasks and
        // actors); what their leases held goes with the bundles.
        var names = Set(released.flatMap { $0.resources.inGroup(group, bundle: $0.index).entries.map(\.name) })
        if wildcardGone {
            names.formUnion(released.flatMap { $0.resources.inGroup(group, bundle: nil).entries.map(\.name) })
        }
        let inReleased = { (resources: ResourceSet) in resources.entries.contains { names.contains($0.name) } }
        for (lease, granted) in leases.sorted(by: { $0.key < $1.key }) where inReleased(granted.resources) {
            leases[lease]!.resources = ResourceSet()
            leases[lease]!.lent = ResourceSet()
            effects.append(.killWorker(granted.worker))
        }
        // So do the actors hosted in them (the GCS kills them for good as it removes the group).
        for (actor, hosted) in hostedActors.sorted(by: { $0.key < $1.key }) where inReleased(hosted.spec.creation.resources) {
            hostedActors[actor]!.spec.creation.resources = ResourceSet()
            killActorWorker(actor, incarnation: hosted.incarnation, into: &effects)
        }
        // The released bundles' resources leave the node's total and what is free.
        for held in released {
            let added = held.resources.committedAsBundle(held.index, of: group)
            info.resources = info.resources - added
            available = available - added
        }
        // The group's amounts that killed leases held would be left negative: floored at zero.
        let negative = ResourceSet(Dictionary(uniqueKeysWithValues: available.entries
            .filter { $0.name.isResource(of: group) && $0.milli < 0 }.map { ($0.name, $0.milli) }))
        available = available - negative
        // No report of its own: the GCS counts the release (the periodic report confirms it).
    }

    /// The group was removed: requests queued here for its resources can never run.
    private mutating func failQueuedRequests(of group: PlacementGroupID, into effects: inout [RayletEffect]) {
        for shape in classOrder where shape.entries.contains(where: { $0.name.isResource(of: group) }) {
            while let head = classQueues[shape]?.popFirst() {
                heldLeaseIDs.remove(head.request.leaseID)
                releaseArguments(of: head.request.leaseID, into: &effects)
                effects.append(.send(to: .worker(head.owner), .leaseUnschedulable(head.request.leaseID,
                    reason: "its placement group \(group) was removed")))
            }
        }
        pruneEmptyClasses()
    }

    /// What this node holds, for the GCS to check against what it counts.
    mutating func reportBundles(into effects: inout [RayletEffect]) {
        guard !heldBundles.isEmpty else { return }
        let holds = heldBundles.keys.sorted().map { key in
            BundleHold(group: key.group, index: key.index, round: heldBundles[key]!.round,
                       committed: heldBundles[key]!.committed)
        }
        effects.append(.send(to: .gcs, .bundlesHeld(holds)))
    }

    /// A prepared bundle's commit never came: released.
    mutating func preparedExpired(_ group: PlacementGroupID, round: UInt64, into effects: inout [RayletEffect]) {
        let keys = heldBundles.keys.filter {
            heldBundles[$0]!.group == group && heldBundles[$0]!.round == round && !heldBundles[$0]!.committed
        }.sorted()
        for key in keys { available = available + heldBundles.removeValue(forKey: key)!.resources }
    }
}

/// A bundle's key on a node.
public struct BundleKey: Hashable, Comparable, Sendable {
    public var group: PlacementGroupID
    public var index: Int
    public static func < (lhs: BundleKey, rhs: BundleKey) -> Bool { (lhs.group, lhs.index) < (rhs.group, rhs.index) }
}
