// The GCS's placement-group manager (Ray's GcsPlacementGroupManager and
// scheduler): each group is reserved by two-phase commit across the raylets
// its bundles go to. Ray reserves one group at a time; here every group that
// fits has its own round in flight at once (each plan counts what the rounds
// before it reserve, so they rarely collide; a raylet that cannot hold a round
// refuses it and that group tries again). A round is numbered; the GCS sends
// `prepareBundles` to every node of the plan, and once every node prepared,
// `commitBundles`; once every node committed, the group is CREATED. Any
// refusal, a node dying, no answer within `bundleRoundMicros`, or a GCS
// restart in the middle aborts the round: `cancelBundles` goes to every node
// of the plan (a raylet releases what it holds of that round, prepared or
// committed; one that never hears it releases a prepared bundle on its own
// after `RayConfig`-independent `Raylet.preparedBundleMicros`), and the group
// is tried again. A created group whose node dies is RESCHEDULING: its lost
// bundles are placed again around the surviving ones.
//
// Invariants: at most one round in flight per group; a group's bundle is recorded on a
// node only once that node committed it; STRICT_SPREAD groups never hold two
// bundles on one node.

extension GCS {
    /// How long a round may wait for the raylets' answers before it is aborted.
    static let bundleRoundMicros: Int64 = 2_000_000
    /// How long after an aborted round the GCS tries again.
    static let bundleRetryMicros: Int64 = 100_000
    /// How many removed groups the GCS keeps for listings.
    public static let removedGroupsKept = 1_000

    /// A group as the GCS keeps it.
    public struct PlacementGroupEntry: Hashable, Codable, Sendable {
        public var spec: PlacementGroupSpec
        public var state: PlacementGroupState
        /// The node holding each bundle (nil: not reserved now), and the round that reserved it.
        public var nodes: [NodeID?]
        public var rounds: [UInt64]
        public var cause: String
        /// "QuotaExceeded" for a group refused over its job's quota ("" otherwise).
        public var causeKind: String = ""

        public var info: PlacementGroupInfo {
            PlacementGroupInfo(id: spec.id, state: state, nodes: nodes.map { $0 ?? NodeID(0) }, cause: cause,
                               name: spec.name, causeKind: causeKind)
        }
    }

    /// The reservation in flight.
    public struct BundleRound: Hashable, Codable, Sendable {
        public var group: PlacementGroupID
        public var round: UInt64
        /// BundleSpec index → node.
        public var plan: [Int: NodeID]
        /// Nodes that have not answered the current phase.
        public var awaiting: Set<NodeID>
        public var committing: Bool
        /// Every node of the plan, in ID order.
        public var planNodes: [NodeID] { Set(plan.values).sorted() }
    }

    mutating func receivePlacementGroupMessage(_ message: Message, from: Address, into effects: inout [GCSEffect]) {
        switch message {
        case .createPlacementGroup(let spec):
            createPlacementGroup(spec, into: &effects)
        case .removePlacementGroup(let id):
            guard case .worker(let worker) = from else { return }
            removePlacementGroup(id, cause: "removed by \(worker)", into: &effects)
        case .bundlesPrepared(let id, let round, let failure):
            guard case .raylet(let node) = from else { return }
            roundAnswered(id, round: round, node: node, committed: false, failure: failure, into: &effects)
        case .bundlesCommitted(let id, let round, let failure):
            guard case .raylet(let node) = from else { return }
            roundAnswered(id, round: round, node: node, committed: true, failure: failure, into: &effects)
        case .bundlesHeld(let holds):
            guard case .raylet(let node) = from, nodes[node]?.state == .alive else { return }
            bundlesHeld(holds, on: node, into: &effects)
        default:
            break
        }
    }

    private mutating func createPlacementGroup(_ spec: PlacementGroupSpec, into effects: inout [GCSEffect]) {
        guard placementGroups[spec.id] == nil else { return }  // Sent again (after a GCS restart): known.
        var entry = PlacementGroupEntry(spec: spec, state: .pending,
                                        nodes: Array(repeating: nil, count: spec.bundles.count),
                                        rounds: Array(repeating: 0, count: spec.bundles.count), cause: "")
        var delayed = false, overSoft = false
        if let problem = spec.problem {
            entry.state = .removed
            entry.cause = "invalid: \(problem)"
        } else if let refusal = admitGroup(of: spec.job, overSoft: &overSoft) {
            // Per-job quota of groups not removed (a placement-group storm): refused at the hard
            // limit, removed at once with the cause and a typed kind; counted past the soft one.
            entry.state = .removed
            entry.cause = refusal
            entry.causeKind = RayErrorKind.quotaExceeded.rawValue
        } else if let rated = rateGroupCreation(spec.id, job: spec.job, overSoft: overSoft, entry: &entry, into: &effects) {
            // Per-job creation rate (GCS+CreationRate): past it the group waits, pending, the
            // cause saying why; past the delayed bound it is refused as over the quota.
            delayed = rated.delayed
            if let refusal = rated.refusal {
                releaseGroup(of: spec.job)
                quota.groupsRefused += 1
                entry.state = .removed
                entry.cause = refusal
                entry.causeKind = RayErrorKind.quotaExceeded.rawValue
            }
        }
        placementGroups[spec.id] = entry
        placementGroupOrder.append(spec.id)
        if entry.state != .pending {
            forgetOldRemovedGroups(adding: spec.id)
        } else if !delayed {
            unplacedGroups.append(spec.id)
        }
        publishGroup(spec.id, into: &effects)
        scheduleGroups(into: &effects)
    }

    /// Removes a group: a round in flight for it is aborted, its reserved bundles released (what
    /// runs in them is killed by their raylets). Idempotent.
    mutating func removePlacementGroup(_ id: PlacementGroupID, cause: String, into effects: inout [GCSEffect]) {
        guard var entry = placementGroups[id], entry.state != .removed else { return }
        abortRound(of: id, reason: cause, retry: false, into: &effects)
        for node in Set(entry.nodes.compactMap { $0 }).sorted() {
            effects.append(.send(to: .raylet(node), .cancelBundles(id, round: 0)))
        }
        for (index, node) in entry.nodes.enumerated() {
            guard let node, let row = nodes[node] else { continue }
            // The bundle's group resources leave the node, and what it reserved is free again there.
            let added = entry.spec.bundles[index].committedAsBundle(index, of: id)
            let total = row.info.resources - added
            let freed = row.available.subtractingClamped(added) + entry.spec.bundles[index]
            nodes[node]!.info.resources = total
            nodes[node]!.available = freed.fits(in: total) ? freed : total
            viewDirty = true
        }
        if entry.state == .pending || entry.state == .rescheduling { unplacedGroups.removeAll { $0 == id } }
        releaseGroup(of: entry.spec.job)
        entry.state = .removed
        entry.nodes = entry.nodes.map { _ in nil }
        entry.cause = cause
        placementGroups[id] = entry
        forgetOldRemovedGroups(adding: id)
        // Its actors die with it, for good (Ray force-kills what runs in a removed group).
        for actor in actorOrder where actors[actor]?.state != .dead
            && actors[actor]!.spec.creation.resources.entries.contains(where: { $0.name.isResource(of: id) }) {
            killActor(actor, noRestart: true, reason: "its placement group \(id) was removed", into: &effects)
        }
        publishGroup(id, into: &effects)
        placePendingActors(into: &effects)  // What the group reserved is free again.
        scheduleGroups(into: &effects)
    }

    /// Starts a round for every group waiting that fits now (in creation order) and has none in flight.
    mutating func scheduleGroups(into effects: inout [GCSEffect]) {
        var alive: [BundlePlanner.Node]?
        for id in unplacedGroups where bundleRounds[id] == nil {
            guard let entry = placementGroups[id], entry.state == .pending || entry.state == .rescheduling else { continue }
            let missing = entry.nodes.indices.filter { entry.nodes[$0] == nil }
                .map { BundleSpec(index: $0, resources: entry.spec.bundles[$0]) }
            let kept = entry.nodes.compactMap { $0 }
            if alive == nil {
                alive = nodeOrder.compactMap { node -> BundlePlanner.Node? in
                    guard let row = nodes[node], row.state == .alive else { return nil }
                    return BundlePlanner.Node(id: node, total: row.info.resources, available: row.available)
                }
            }
            switch BundlePlanner.place(missing, strategy: entry.spec.strategy, nodes: alive!, kept: kept) {
            case .infeasible(let reason):
                setCause(id, "infeasible: \(reason)", into: &effects)
                failActorsWaiting(in: id, because: "infeasible: \(reason)", into: &effects)
            case .waiting(let reason):
                setCause(id, "waiting for resources: \(reason)", into: &effects)
            case .placed(let plan):
                startRound(id, plan: plan, into: &effects)
                alive = nil  // What the round reserved is counted in the next plan.
            }
        }
    }

    private mutating func startRound(_ id: PlacementGroupID, plan: [Int: NodeID], into effects: inout [GCSEffect]) {
        nextBundleRound += 1
        let round = BundleRound(group: id, round: nextBundleRound, plan: plan, awaiting: Set(plan.values),
                                committing: false)
        bundleRounds[id] = round
        let spec = placementGroups[id]!.spec
        for node in round.planNodes {
            let bundles = plan.keys.sorted().filter { plan[$0] == node }
                .map { BundleSpec(index: $0, resources: spec.bundles[$0]) }
            let keep = placementGroups[id]!.nodes.indices.filter { placementGroups[id]!.nodes[$0] == node }
            // Counted at once, as an actor's placement is, so the next plan sees it used.
            let needs = bundles.reduce(ResourceSet()) { $0 + $1.resources }
            if let row = nodes[node] { nodes[node]!.available = row.available.subtractingClamped(needs) }
            effects.append(.send(to: .raylet(node), .prepareBundles(id, round: round.round, bundles: bundles, keep: keep)))
        }
        effects.append(.startTimer(.bundleRound(id, round: round.round), afterMicros: Self.bundleRoundMicros))
    }

    private mutating func roundAnswered(_ id: PlacementGroupID, round number: UInt64, node: NodeID, committed: Bool,
                                        failure: String, into effects: inout [GCSEffect]) {
        guard var round = bundleRounds[id], round.round == number, round.committing == committed,
              round.awaiting.contains(node) else {
            // A late answer of an aborted round: if it holds something now, it must let go.
            if failure.isEmpty && bundleRounds[id]?.round != number {
                effects.append(.send(to: .raylet(node), .cancelBundles(id, round: number)))
            }
            return
        }
        guard failure.isEmpty else {
            abortRound(of: id, reason: "\(node) refused: \(failure)", retry: true, into: &effects)
            return
        }
        round.awaiting.remove(node)
        bundleRounds[id] = round
        guard round.awaiting.isEmpty else { return }
        if !round.committing {
            // Every node prepared: commit everywhere.
            round.committing = true
            round.awaiting = Set(round.plan.values)
            bundleRounds[id] = round
            for node in round.planNodes { effects.append(.send(to: .raylet(node), .commitBundles(id, round: number))) }
            return
        }
        // Every node committed: the group holds its bundles.
        bundleRounds[id] = nil
        var entry = placementGroups[id]!
        for (index, node) in round.plan {
            entry.nodes[index] = node
            entry.rounds[index] = number
            // The node's total now holds the bundle's group resources (the view's owners and raylets
            // send the group's tasks there).
            // Its available amounts too (the raylet's next periodic report confirms them; it sends
            // none of its own for a commit, which would carry every group resource of the node).
            if let row = nodes[node] {
                let added = entry.spec.bundles[index].committedAsBundle(index, of: id)
                nodes[node]!.info.resources = row.info.resources + added
                nodes[node]!.available = row.available + added
            }
        }
        // The view goes out with the next periodic broadcast: the owner sends the group's tasks to
        // the raylets holding their bundles, which need no view to run them.
        viewDirty = true
        if entry.nodes.contains(nil) {
            // A node holding another of its bundles died while this round was out: those are
            // placed next (the group stays RESCHEDULING until every bundle is held).
            entry.state = .rescheduling
        } else {
            entry.state = .created
            entry.cause = ""
            unplacedGroups.removeAll { $0 == id }
        }
        placementGroups[id] = entry
        publishGroup(id, into: &effects)
        placePendingActors(into: &effects)  // Actors of the group wait for its resources.
        scheduleGroups(into: &effects)
    }

    /// Group `id`'s round in flight is given up: every node of its plan releases what it holds of it.
    mutating func abortRound(of id: PlacementGroupID, reason: String, retry: Bool, into effects: inout [GCSEffect]) {
        guard let round = bundleRounds.removeValue(forKey: id) else { return }
        let spec = placementGroups[round.group]?.spec
        for node in round.planNodes {
            effects.append(.send(to: .raylet(node), .cancelBundles(round.group, round: round.round)))
            // What the plan counted as used there is free again (until the node's next report says).
            guard let spec, let row = nodes[node], row.state == .alive else { continue }
            let planned = round.plan.filter { $0.value == node }.keys.reduce(ResourceSet()) { $0 + spec.bundles[$1] }
            let restored = row.available + planned
            nodes[node]!.available = restored.fits(in: row.info.resources) ? restored : row.info.resources
        }
        guard retry else { return }
        setCause(round.group, "a reservation attempt failed (\(reason)); trying again", into: &effects)
        effects.append(.startTimer(.retryPlacementGroups, afterMicros: Self.bundleRetryMicros))
    }

    /// A raylet's report of what it holds: what the GCS does not count goes (a cancel lost with a
    /// partition, a round given up on after the node committed).
    mutating func bundlesHeld(_ holds: [BundleHold], on node: NodeID, into effects: inout [GCSEffect]) {
        var stale: [(PlacementGroupID, UInt64)] = []
        for hold in holds {
            if let round = bundleRounds[hold.group], round.round == hold.round,
               round.plan[hold.index] == node { continue }  // The round in flight.
            if let entry = placementGroups[hold.group], entry.state != .removed, hold.index < entry.nodes.count,
               entry.nodes[hold.index] == node, entry.rounds[hold.index] == hold.round { continue }  // Counted.
            if !stale.contains(where: { $0 == (hold.group, hold.round) }) { stale.append((hold.group, hold.round)) }
        }
        for (group, round) in stale { effects.append(.send(to: .raylet(node), .cancelBundles(group, round: round))) }
    }

    /// A round's timer fired: unanswered, it is aborted.
    mutating func bundleRoundExpired(_ id: PlacementGroupID, round number: UInt64, into effects: inout [GCSEffect]) {
        guard let round = bundleRounds[id], round.round == number else { return }
        let silent = round.awaiting.sorted().map(\.description).joined(separator: ", ")
        abortRound(of: id, reason: "no answer from \(silent) within \(Self.bundleRoundMicros / 1000) ms", retry: true,
                   into: &effects)
    }

    /// A node died: a round using it is aborted; created groups that held bundles there are
    /// rescheduled (the lost bundles placed again).
    mutating func placementGroupsNodeDied(_ node: NodeID, into effects: inout [GCSEffect]) {
        for (id, round) in bundleRounds.sorted(by: { $0.key < $1.key }) where round.plan.values.contains(node) {
            abortRound(of: id, reason: "\(node) died", retry: true, into: &effects)
        }
        var rescheduled: [PlacementGroupID] = []
        for id in placementGroupOrder {
            guard var entry = placementGroups[id], entry.state != .removed, entry.nodes.contains(node) else { continue }
            entry.nodes = entry.nodes.map { $0 == node ? nil : $0 }
            if entry.state == .created { rescheduled.append(id) }
            entry.state = .rescheduling
            entry.cause = "bundles on \(node) were lost with it; placing them again"
            placementGroups[id] = entry
            publishGroup(id, into: &effects)
        }
        unplacedGroups.insert(contentsOf: rescheduled, at: 0)  // As Ray: rescheduled ones go first.
        scheduleGroups(into: &effects)
    }

    /// An owner died: its groups that are not detached are removed (Ray's fate-sharing).
    mutating func placementGroupsOwnerDied(_ owner: WorkerID, into effects: inout [GCSEffect]) {
        for id in placementGroupOrder {
            guard let entry = placementGroups[id], entry.state != .removed, entry.spec.owner == owner,
                  !entry.spec.detached else { continue }
            removePlacementGroup(id, cause: "its owner \(owner) died", into: &effects)
        }
    }

    /// After a restart: the rounds that were in flight are aborted (their nodes release them) and tried again.
    mutating func placementGroupsRecovered(into effects: inout [GCSEffect]) {
        for id in bundleRounds.keys.sorted() { abortRound(of: id, reason: "the GCS restarted", retry: true, into: &effects) }
        if !unplacedGroups.isEmpty {
            effects.append(.startTimer(.retryPlacementGroups, afterMicros: Self.bundleRetryMicros))
        }
    }

    /// Actors waiting to be placed (created or restarted) in a bundle of `id` that cannot be
    /// placed die for good, as the owner fails such tasks (Ray would leave them pending): the
    /// group is PENDING and infeasible, or RESCHEDULING and the bundle the actor needs is lost
    /// (one in a surviving bundle goes on; any bundle: while one survives).
    private mutating func failActorsWaiting(in id: PlacementGroupID, because reason: String,
                                            into effects: inout [GCSEffect]) {
        guard let entry = placementGroups[id] else { return }
        for actor in actorOrder {
            guard let state = actors[actor]?.state, state == .pendingCreation || state == .restarting
                || state == .dependenciesUnready else { continue }
            let (asks, index) = actors[actor]!.spec.creation.resources.groupBundle(id)
            guard asks else { continue }
            let lost = index.map { $0 >= entry.nodes.count || entry.nodes[$0] == nil } ?? !entry.nodes.contains { $0 != nil }
            guard lost else { continue }
            killActor(actor, noRestart: true, reason: "its placement group \(id) cannot hold it: \(reason)", into: &effects)
        }
    }

    /// Counts a new group against its job's quota: nil when admitted, else why it is refused.
    private mutating func admitGroup(of job: JobID, overSoft: inout Bool) -> String? {
        let live = liveGroups[job, default: 0]
        if live >= config.placementGroupsPerJobHard {
            quota.groupsRefused += 1
            return "refused: \(job) already holds \(live) placement groups, its hard quota "
                + "(SWIFTRAY_PLACEMENT_GROUPS_PER_JOB_HARD where the cluster starts, "
                + "RayConfig.placementGroupsPerJobHardMax); remove the groups it no longer needs, or raise the quota"
        }
        // Past the soft quota it is counted, and its creation costs ten of the rate (slowed down).
        overSoft = live >= config.placementGroupsPerJobSoft
        if overSoft { quota.groupsOverSoft += 1 }
        liveGroups[job] = live + 1
        return nil
    }

    /// A group of `job` is removed: its place in the quota is free.
    private mutating func releaseGroup(of job: JobID) {
        guard let live = liveGroups[job] else { return }
        liveGroups[job] = live > 1 ? live - 1 : nil
    }

    /// Keeps the newest `removedGroupsKept` removed groups (the table would grow with every group
    /// ever made); forgetting is in bulk, so the order array is rebuilt rarely.
    mutating func forgetOldRemovedGroups(adding id: PlacementGroupID) {
        removedGroups.append(id)
        guard removedGroups.count >= 2 * Self.removedGroupsKept else { return }
        let forgotten = Set(removedGroups.prefix(removedGroups.count - Self.removedGroupsKept))
        removedGroups.removeFirst(forgotten.count)
        for group in forgotten { placementGroups[group] = nil }
        placementGroupOrder.removeAll { forgotten.contains($0) }
    }

    private mutating func setCause(_ id: PlacementGroupID, _ cause: String, into effects: inout [GCSEffect]) {
        guard placementGroups[id]?.cause != cause else { return }
        placementGroups[id]!.cause = cause
        publishGroup(id, into: &effects)
    }

    func publishGroup(_ id: PlacementGroupID, into effects: inout [GCSEffect]) {
        guard let entry = placementGroups[id] else { return }
        effects.append(.send(to: .worker(entry.spec.owner), .placementGroupUpdate(entry.info)))
    }
}
