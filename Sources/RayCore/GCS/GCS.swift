// The GCS: the cluster's control plane, as a pure state machine.
// Mirrors Ray's gcs_server: the node table with health checks polled from
// the GCS (gcs_health_check_manager), the cluster resource view and its
// broadcast (RaySyncer), the job table, and the internal KV.
//
// Invariants: a node is marked dead at most once and never comes back (a
// restarted raylet is a new node); the view holds alive nodes only; every
// table iterates in ID order so effects never depend on hash order.

/// Timers the GCS starts.
public enum GCSTimer: Hashable, Codable, Sendable {
    /// Time to send the next health check to `node`.
    case sendHealthCheck(NodeID)
    /// The health check `sequence` to `node` timed out if still unanswered.
    case healthCheckTimeout(NodeID, sequence: UInt64)
    /// Time to broadcast the resource view if it changed.
    case broadcastView
    /// Subscribers of an actor this GCS never heard of waited `unknownActorGraceMicros`: unless
    /// its registration arrived meanwhile, they hear it is dead (a handle from another cluster).
    case unknownActor(ActorID)
    /// A placement group's reservation round had no answer in time: unless it ended, it is aborted.
    case bundleRound(PlacementGroupID, round: UInt64)
    /// Time to try the waiting placement groups again (after an aborted round).
    case retryPlacementGroups
    /// A job's next actor creation is due at its creation rate (GCS+CreationRate).
    case actorCreations(JobID)
    /// A job's next placement-group creation is due at its creation rate (GCS+CreationRate).
    case placementGroupCreations(JobID)
}

/// Inputs of the GCS: facts, each logged before it is handled.
public enum GCSInput: Hashable, Codable, Sendable {
    /// The GCS process started with an empty log (a fresh cluster).
    case started(RayConfig)
    /// The GCS finished replaying its log after a restart and serves again.
    case recovered
    /// A message arrived.
    case messageReceived(from: Address, Message)
    /// A timer fired.
    case timerFired(GCSTimer)
    /// The connection to a peer closed (its process is gone).
    case peerDisconnected(Address)
    /// A raylet asks to join: `known` is the ID it had (it reconnects after a GCS restart), nil
    /// for a new node. Answered with `admitNode` or `refuseNode`.
    case nodeJoining(known: NodeID?)
}

/// Effects of the GCS: commands for its driver, run in order.
public enum GCSEffect: Hashable, Codable, Sendable {
    /// Send a message.
    case send(to: Address, Message)
    /// Fire `timer` after `afterMicros`.
    case startTimer(GCSTimer, afterMicros: Int64)
    /// The joining raylet is this node (the answer to `nodeJoining`).
    case admitNode(NodeID)
    /// The joining raylet may not join, for this reason (the answer to `nodeJoining`).
    case refuseNode(reason: String)
}

/// The GCS state machine.
public struct GCS: Sendable {
    /// Lifecycle of a node in the node table.
    public enum NodeState: Hashable, Codable, Sendable {
        case alive
        case dead
    }

    /// One row of the node table.
    public struct NodeEntry: Hashable, Codable, Sendable {
        public var info: NodeInfo
        public var state: NodeState
        public var available: ResourceSet
        public var healthCheckFailures: Int
        /// The sequence number of the unanswered health check, if any.
        public var healthCheckOutstanding: UInt64?
    }

    /// Lifecycle of a job.
    public enum JobState: String, Hashable, Codable, Sendable {
        case running, succeeded, failed
    }

    /// One row of the job table.
    public struct JobEntry: Hashable, Codable, Sendable {
        public var driver: WorkerID
        public var state: JobState
        /// How the driver ended, once it did: "exit code 1", "killed by signal 15", ...
        public var end: String?
        /// When the job started and ended, on the world's clock (Ray's job table keeps both):
        /// read from `now`, so a GCS rebuilt from its log has the same times.
        public var startedAt: Int64 = 0
        public var endedAt: Int64?
    }

    public private(set) var config = RayConfig()
    public internal(set) var nodes: [NodeID: NodeEntry] = [:]
    /// Node IDs in ascending order (the table's iteration order).
    public private(set) var nodeOrder: [NodeID] = []
    public private(set) var jobs: [JobID: JobEntry] = [:]
    /// The time of the input being handled.
    var now: Int64 = 0
    public private(set) var kv: [String: [UInt8]] = [:]
    /// Drivers subscribed to node events, in ascending order.
    public private(set) var subscribers: [WorkerID] = []
    /// How many times each node was marked dead (the safety checker asserts ≤ 1).
    public private(set) var deathMarks: [NodeID: Int] = [:]
    var viewDirty = false
    private var healthCheckSequence: UInt64 = 0
    /// The ID the next new node gets (IDs are dense from 1, never reused).
    public private(set) var nextNodeID: UInt32 = 1
    /// The actor table (GCS+Actors.swift), its IDs in ascending order, and the named actors
    /// ("namespace/name").
    public internal(set) var actors: [ActorID: ActorEntry] = [:]
    public internal(set) var actorOrder: [ActorID] = []
    public internal(set) var namedActors: [String: ActorID] = [:]
    /// Live (not dead) actors per job, for the per-job quota.
    public internal(set) var liveActors: [JobID: Int] = [:]
    /// What the per-job quotas refused or warned of (`swiftray status`).
    public internal(set) var quota = QuotaCounts()
    public struct QuotaCounts: Hashable, Sendable {
        /// Actor creations refused over a job's hard quota.
        public var actorsRefused = 0
        /// Actor creations accepted over a job's soft quota (warned of).
        public var actorsOverSoft = 0
        /// Actor creations held back at a job's creation rate (each delayed creation once).
        public var actorsDelayed = 0
        /// Placement groups refused over a job's hard quota, and accepted past its soft one.
        public var groupsRefused = 0
        public var groupsOverSoft = 0
        /// Placement-group creations held back at a job's creation rate (each delayed one once).
        public var groupsDelayed = 0
        /// Messages dropped because their sender may not send them (`senderMay`): a node
        /// registering or reporting as another, a job ended by a process that is not its driver, an
        /// actor or group registered for another owner. Never in a correct cluster.
        public var forgedMessages = 0
        /// Subscriptions to actors the GCS has not heard of answered at once, past their bound.
        public var earlySubscriptionsRefused = 0
    }
    /// Placement groups not removed, per job, for the per-job quota.
    public internal(set) var liveGroups: [JobID: Int] = [:]
    /// Each job's actor and placement-group creation rates (GCS+CreationRate).
    var creationRates: [JobID: CreationRate<ActorID>] = [:]
    var groupCreationRates: [JobID: CreationRate<PlacementGroupID>] = [:]
    /// Processes that asked for an actor's updates before its registration arrived, how many
    /// such subscriptions wait, and their bound.
    var earlySubscribers: [ActorID: [WorkerID]] = [:]
    var earlySubscriptions = 0
    public var earlySubscriptionsMax = 100_000
    /// Dead actors, oldest first, kept up to `deadActorsKept` (GCS+Actors `noteDead`).
    var deadActors: [ActorID] = []
    var deadActorSet: Set<ActorID> = []
    public var deadActorsKept = 100_000
    /// Placement groups (GCS+PlacementGroups.swift), in creation order; those not placed (PENDING
    /// or RESCHEDULING: rescheduled ones first), and each group's round in flight.
    public internal(set) var placementGroups: [PlacementGroupID: PlacementGroupEntry] = [:]
    public internal(set) var placementGroupOrder: [PlacementGroupID] = []
    public internal(set) var unplacedGroups: [PlacementGroupID] = []
    /// Removed groups, oldest first: kept for listings up to `removedGroupsKept` (as Ray bounds
    /// its cache of destroyed actors), then forgotten.
    var removedGroups: [PlacementGroupID] = []
    public internal(set) var bundleRounds: [PlacementGroupID: BundleRound] = [:]
    var nextBundleRound: UInt64 = 0
    /// Owners reported dead (their non-detached actors die with them).
    public internal(set) var deadOwners: Set<WorkerID> = []

    public init() {}

    /// Handles one input at time `now` (microseconds) and returns the effects, in order.
    public mutating func handle(_ input: GCSInput, now: Int64) -> [GCSEffect] {
        var effects: [GCSEffect] = []
        self.now = now
        switch input {
        case .started(let config):
            self.config = config
            effects.append(.startTimer(.broadcastView, afterMicros: config.resourceReportPeriodMicros))
        case .recovered:
            recover(into: &effects)
        case .messageReceived(let from, let message):
            receive(message, from: from, into: &effects)
        case .timerFired(let timer):
            fire(timer, into: &effects)
        case .peerDisconnected(let peer):
            disconnected(peer, into: &effects)
        case .nodeJoining(let known):
            admit(known, into: &effects)
        }
        return effects
    }

    /// A raylet joins: a new node gets the next ID; a known one keeps its own unless it was
    /// declared dead (a dead node never comes back: its raylet restarts as a new node).
    private mutating func admit(_ known: NodeID?, into effects: inout [GCSEffect]) {
        guard let known else {
            effects.append(.admitNode(NodeID(nextNodeID)))
            nextNodeID += 1
            return
        }
        if nodes[known]?.state == .dead {
            effects.append(.refuseNode(reason: "\(known) was declared dead; restart the raylet and it joins as a new node"))
            return
        }
        nextNodeID = max(nextNodeID, known.value + 1)
        effects.append(.admitNode(known))
    }

    /// The alive nodes' view, sorted by node ID.
    public var clusterView: [NodeView] {
        nodeOrder.compactMap { id in
            guard let entry = nodes[id], entry.state == .alive else { return nil }
            return NodeView(nodeID: id, total: entry.info.resources, available: entry.available)
        }
    }

    public var aliveNodeIDs: [NodeID] { nodeOrder.filter { nodes[$0]?.state == .alive } }

    // MARK: - Inputs

    private mutating func recover(into effects: inout [GCSEffect]) {
        // Timers died with the old process: restart them. Health-check counts
        // start afresh, as Ray's health check manager does after a restart.
        effects.append(.startTimer(.broadcastView, afterMicros: config.resourceReportPeriodMicros))
        for id in nodeOrder where nodes[id]?.state == .alive {
            nodes[id]?.healthCheckFailures = 0
            nodes[id]?.healthCheckOutstanding = nil
            effects.append(.startTimer(.sendHealthCheck(id), afterMicros: config.healthCheckInitialDelayMicros))
        }
        placementGroupsRecovered(into: &effects)
        creationTimersRecovered(into: &effects)
        for id in earlySubscribers.keys.sorted() {
            effects.append(.startTimer(.unknownActor(id), afterMicros: Self.unknownActorGraceMicros))
        }
        viewDirty = true
    }

    private mutating func receive(_ message: Message, from: Address, into effects: inout [GCSEffect]) {
        guard senderMay(send: message, from: from) else {
            quota.forgedMessages += 1
            return
        }
        switch message {
        case .registerNode(let info):
            register(info, into: &effects)
            placePendingActors(into: &effects)
            scheduleGroups(into: &effects)
        case .healthCheckReply(let sequence):
            guard case .raylet(let id) = from, var entry = nodes[id], entry.state == .alive,
                  entry.healthCheckOutstanding == sequence else { return }
            entry.healthCheckFailures = 0
            entry.healthCheckOutstanding = nil
            nodes[id] = entry
            effects.append(.startTimer(.sendHealthCheck(id), afterMicros: config.healthCheckPeriodMicros))
        case .resourceReport(let node, let available):
            guard var entry = nodes[node], entry.state == .alive else { return }
            if entry.available != available {
                let grew = !available.fits(in: entry.available)
                entry.available = available
                nodes[node] = entry
                viewDirty = true
                if grew {
                    placePendingActors(into: &effects)
                    scheduleGroups(into: &effects)
                }
            }
        case .registerJob(let job, let driver):
            jobs[job] = JobEntry(driver: driver, state: .running, startedAt: now)
            insertSorted(driver, into: &subscribers)
            // A new subscriber learns of nodes that already died.
            for id in nodeOrder where nodes[id]?.state == .dead {
                effects.append(.send(to: .worker(driver), .nodeDead(id)))
            }
        case .jobFinished(let job):
            finishJob(job, .succeeded, end: "Ray.shutdown()", into: &effects)
        case .workerDied(let worker):
            // A raylet reports a worker that owned tasks died: the others reclaim what it leased.
            guard case .raylet(let reporter) = from else { return }
            for id in nodeOrder where id != reporter && nodes[id]?.state == .alive {
                effects.append(.send(to: .raylet(id), .workerDied(worker)))
            }
            placementGroupsOwnerDied(worker, into: &effects)
            actorOwnerDied(worker, into: &effects)
        case .driverExited(let job, let exitCode, let signal):
            let end = signal != 0 ? "killed by signal \(signal)" : "exit code \(exitCode)"
            finishJob(job, exitCode == 0 && signal == 0 ? .succeeded : .failed, end: end, into: &effects)
        case .kvPut(let key, let value):
            kv[key] = value
        case .kvGet(let key):
            effects.append(.send(to: from, .kvValue(key: key, value: kv[key])))
        case .registerActor, .actorCreated, .actorPlacementFailed, .actorWorkerDied, .killActor, .subscribeActor,
             .lookupActor, .actorDependenciesReady:
            receiveActorMessage(message, from: from, into: &effects)
        case .createPlacementGroup, .removePlacementGroup, .bundlesPrepared, .bundlesCommitted, .bundlesHeld:
            receivePlacementGroupMessage(message, from: from, into: &effects)
        default:
            break  // Not a GCS message; ignoring it cannot lose state.
        }
    }

    /// Whether `from` may send `message` to the GCS (issue 12: each role speaks only for itself).
    /// The hosts make sure `from` is the process that sent it and hold each role to its messages
    /// (a driver cannot register a node); this says for whom: a node registers and reports only
    /// itself, a driver registers and ends only its own job, an owner registers only its own
    /// actors and groups, a worker reports only its own actor's creation; what raylets report
    /// comes from raylets, and the KV is written by raylets only.
    func senderMay(send message: Message, from: Address) -> Bool {
        switch message {
        case .registerNode(let info):
            return from == .raylet(info.nodeID)
        case .resourceReport(let node, _):
            return from == .raylet(node)
        case .registerJob(let job, let driver):
            return from == .worker(driver) && (jobs[job].map { $0.driver == driver } ?? true)
        case .jobFinished(let job), .driverExited(let job, _, _):
            return jobs[job].map { from == .worker($0.driver) } ?? true  // Unknown: nothing to end.
        case .kvPut, .workerDied, .actorPlacementFailed, .actorWorkerDied, .bundlesPrepared, .bundlesCommitted,
             .bundlesHeld, .healthCheckReply:
            if case .raylet = from { return true }
            return false
        case .registerActor(let spec), .actorDependenciesReady(let spec):
            return from == .worker(spec.creation.owner)
        case .actorCreated(_, _, let worker, _):
            return from == .worker(worker)
        case .createPlacementGroup(let spec):
            return from == .worker(spec.owner)
        default:
            return true
        }
    }

    private mutating func register(_ info: NodeInfo, into effects: inout [GCSEffect]) {
        let id = info.nodeID
        if let entry = nodes[id] {
            if entry.state == .dead {
                // A node that was declared dead must not come back: tell it.
                effects.append(.send(to: .raylet(id), .nodeDead(id)))
            } else {
                // Re-registration after a GCS restart: send the view again.
                effects.append(.send(to: .raylet(id), .clusterView(clusterView)))
            }
            return
        }
        nodes[id] = NodeEntry(info: info, state: .alive, available: info.resources,
                              healthCheckFailures: 0, healthCheckOutstanding: nil)
        insertSorted(id, into: &nodeOrder)
        effects.append(.startTimer(.sendHealthCheck(id), afterMicros: config.healthCheckInitialDelayMicros))
        // Membership changes are rare and matter at once: broadcast now.
        broadcastView(into: &effects)
    }

    private mutating func fire(_ timer: GCSTimer, into effects: inout [GCSEffect]) {
        switch timer {
        case .unknownActor(let id):
            unknownActorWaited(id, into: &effects)
        case .bundleRound(let id, let round):
            bundleRoundExpired(id, round: round, into: &effects)
        case .retryPlacementGroups:
            scheduleGroups(into: &effects)
        case .actorCreations(let job):
            creationsDue(job, into: &effects)
        case .placementGroupCreations(let job):
            groupCreationsDue(job, into: &effects)
        case .broadcastView:
            if viewDirty { broadcastView(into: &effects) }
            effects.append(.startTimer(.broadcastView, afterMicros: config.resourceReportPeriodMicros))
        case .sendHealthCheck(let id):
            guard var entry = nodes[id], entry.state == .alive, entry.healthCheckOutstanding == nil else { return }
            healthCheckSequence += 1
            entry.healthCheckOutstanding = healthCheckSequence
            nodes[id] = entry
            effects.append(.send(to: .raylet(id), .healthCheck(sequence: healthCheckSequence)))
            effects.append(.startTimer(.healthCheckTimeout(id, sequence: healthCheckSequence),
                                       afterMicros: config.healthCheckTimeoutMicros))
        case .healthCheckTimeout(let id, let sequence):
            guard var entry = nodes[id], entry.state == .alive, entry.healthCheckOutstanding == sequence else {
                return
            }
            entry.healthCheckOutstanding = nil
            entry.healthCheckFailures += 1
            nodes[id] = entry
            if entry.healthCheckFailures >= config.healthCheckFailureThreshold {
                markDead(id, into: &effects)
            } else {
                effects.append(.startTimer(.sendHealthCheck(id), afterMicros: config.healthCheckPeriodMicros))
            }
        }
    }

    private mutating func disconnected(_ peer: Address, into effects: inout [GCSEffect]) {
        switch peer {
        case .raylet(let id):
            if config.markNodeDeadOnDisconnect, nodes[id]?.state == .alive { markDead(id, into: &effects) }
        case .worker(let worker):
            // A driver whose connection closed without saying how it ended died (SIGKILL, a crash).
            guard let job = jobs.keys.sorted().first(where: { jobs[$0]?.driver == worker && jobs[$0]?.state == .running })
            else { return }
            finishJob(job, .failed, end: "its driver disconnected without a word (killed by SIGKILL, or crashed)",
                      into: &effects)
        case .gcs:
            break
        }
    }

    // MARK: - Helpers

    /// A job ended: every raylet frees what its driver owned and stops the job's workers
    /// (Ray's job-finished publication). Once per job.
    private mutating func finishJob(_ job: JobID, _ state: JobState, end: String, into effects: inout [GCSEffect]) {
        guard var entry = jobs[job], entry.state == .running else { return }
        entry.state = state
        entry.end = end
        entry.endedAt = now
        jobs[job] = entry
        subscribers.removeAll { $0 == entry.driver }
        placementGroupsOwnerDied(entry.driver, into: &effects)
        actorOwnerDied(entry.driver, into: &effects)
        for id in nodeOrder where nodes[id]?.state == .alive {
            effects.append(.send(to: .raylet(id), .workerDied(entry.driver)))
            effects.append(.send(to: .raylet(id), .jobFinished(job)))
        }
    }

    private mutating func markDead(_ id: NodeID, into effects: inout [GCSEffect]) {
        guard var entry = nodes[id], entry.state == .alive else { return }
        entry.state = .dead
        entry.healthCheckOutstanding = nil
        nodes[id] = entry
        deathMarks[id, default: 0] += 1
        // Everyone hears it, the dead node included: a partitioned raylet that
        // was declared dead exits when the partition heals.
        for other in nodeOrder where nodes[other]?.state == .alive || other == id {
            effects.append(.send(to: .raylet(other), .nodeDead(id)))
        }
        for subscriber in subscribers {
            effects.append(.send(to: .worker(subscriber), .nodeDead(id)))
        }
        viewDirty = true
        actorNodeDied(id, into: &effects)
        placementGroupsNodeDied(id, into: &effects)
    }

    mutating func broadcastView(into effects: inout [GCSEffect]) {
        viewDirty = false
        let view = clusterView
        for node in view {
            effects.append(.send(to: .raylet(node.nodeID), .clusterView(view)))
        }
    }

    /// A digest of the whole state, for replay checks.
    public var digest: UInt64 {
        var digest = Digest()
        for id in nodeOrder {
            guard let entry = nodes[id] else { continue }
            digest.add(UInt64(id.value))
            digest.add(entry.state == .alive ? 1 : 2)
            digest.add(UInt64(bitPattern: Int64(entry.healthCheckFailures)))
            digest.add(entry.healthCheckOutstanding ?? 0)
            for resource in entry.available.entries {
                digest.add(resource.name)
                digest.add(UInt64(bitPattern: resource.milli))
            }
        }
        for job in jobs.keys.sorted() {
            digest.add(UInt64(job.value))
            digest.add(jobs[job]?.state.rawValue ?? "")
            digest.add(jobs[job]?.end ?? "")
            digest.add(UInt64(bitPattern: jobs[job]?.startedAt ?? 0))
            digest.add(UInt64(bitPattern: jobs[job]?.endedAt ?? -1))
        }
        for key in kv.keys.sorted() {
            digest.add(key)
            digest.add(kv[key] ?? [])
        }
        for subscriber in subscribers { digest.add(UInt64(subscriber.node.value) << 32 | UInt64(subscriber.index)) }
        digest.add(healthCheckSequence)
        digest.add(UInt64(nextNodeID))
        addActors(to: &digest)
        return digest.finalized
    }
}

/// Inserts `element` into the ascending array `array` unless present.
@inline(__always)
func insertSorted<T: Comparable>(_ element: T, into array: inout [T]) {
    var low = 0, high = array.count
    while low < high {
        let middle = (low + high) / 2
        if array[middle] < element { low = middle + 1 } else { high = middle }
    }
    if low < array.count && array[low] == element { return }
    array.insert(element, at: low)
}
