// The raylet: one per node. Mirrors Ray's raylet (node_manager.cc): local
// resources in integer units, the worker-lease queue and its scheduling policy
// (Raylet+Scheduling), the worker pool (Raylet+Workers), and the local object
// store with pinning, eviction, spilling and pulls (Raylet+ObjectStore).
//
// Invariants: `available` never exceeds `total` and is never negative; a lease
// holds exactly the resources it was granted until it is returned or its
// worker dies; a request is queued, granted, spilled back or reported
// unschedulable — never dropped; the store's in-memory bytes never exceed its
// capacity.

/// Timers a raylet starts.
public enum RayletTimer: Hashable, Codable, Sendable {
    /// Report resources to the GCS if they changed.
    case reportResources
    /// Ask the owner again where `object` is.
    case retryPull(ObjectID)
    /// A placement group's bundles prepared in `round` were neither committed nor cancelled in
    /// time: released (Raylet+Bundles.swift).
    case preparedExpired(PlacementGroupID, round: UInt64)
    /// A job's next lease request is due at its request rate (Raylet+RequestRate.swift).
    case leaseRequests(JobID)
    /// A job's next fetch or store is due at its rate of object requests (Raylet+ObjectRate.swift).
    case objectRequests(JobID)
}

/// Inputs of a raylet.
public enum RayletInput: Hashable, Codable, Sendable {
    /// The raylet process started on node `info`.
    case started(RayConfig, NodeInfo)
    /// A message arrived.
    case messageReceived(from: Address, Message)
    /// A timer fired.
    case timerFired(RayletTimer)
    /// A worker process the raylet spawned is up and connected.
    case workerStarted(WorkerID)
    /// A worker process exited (crashed or killed).
    case workerExited(WorkerID)
    /// A spilled object is back in memory.
    case objectRestored(ObjectID)
    /// The connection to a peer closed.
    case peerDisconnected(Address)
    /// The connection to a peer (re)opened; for the GCS, after it restarted.
    case peerConnected(Address)
    /// Start idle workers of `job` until `count` are idle or starting (Ray prestarts one per
    /// CPU when a job's driver connects, so first tasks do not wait for a process to start).
    case prestartWorkers(count: Int, job: JobID)
    /// A driver of `job` on this node named its program ("<digest> <path>"): the job's workers
    /// run it, on every node (published in the GCS's KV, where other raylets look it up).
    case programPublished(JobID, program: String)
    /// A spilled object could not be read back (its file is damaged, or gone), or the store that
    /// held its copy in memory was given up (its region damaged): the copy is lost.
    case objectRestoreFailed(ObjectID, reason: String)
    /// The driver `WorkerID` of `job` connected to this raylet: what it stores here is its job's
    /// (workers' jobs the raylet knows from spawning them).
    case driverConnected(WorkerID, job: JobID)
}

/// Effects of a raylet.
public enum RayletEffect: Hashable, Codable, Sendable {
    /// Send a message.
    case send(to: Address, Message)
    /// Fire `timer` after `afterMicros`.
    case startTimer(RayletTimer, afterMicros: Int64)
    /// Start a worker process with this ID, running `job`'s program.
    case spawnWorker(WorkerID, job: JobID)
    /// Kill a worker process.
    case killWorker(WorkerID)
    /// Write this object to local disk (its memory is already released).
    case spillObject(ObjectID, sizeBytes: Int64)
    /// Read this object back from local disk; answer with `objectRestored`.
    case restoreObject(ObjectID, sizeBytes: Int64)
    /// Delete this object's spill file.
    case deleteSpilledObject(ObjectID)
    /// Stop the raylet process (it was declared dead).
    case exit(reason: String)
    /// The in-memory copy of this object is gone (freed or evicted): release its memory.
    case releaseObject(ObjectID)
    /// The GCS declared this node dead: close every link to it (it is out of the cluster, even if
    /// its process lives on behind a partition). What waits to go there bounces; local workers
    /// hear that their peers there closed.
    case disconnect(NodeID)
}

/// The raylet state machine.
public struct Raylet: Sendable {
    /// A lease request waiting for resources or a worker.
    struct QueuedLease: Sendable {
        var request: LeaseRequest
        var owner: WorkerID { request.leaseID.owner }
    }

    /// A granted lease.
    public struct Lease: Hashable, Sendable {
        public var worker: WorkerID
        public var resources: ResourceSet
        /// The CPUs a worker blocked in a get or wait lent back to the node (empty otherwise).
        public var lent = ResourceSet()
        /// Its worker is blocked in a get or wait (it does not count against its job's worker cap).
        public var blocked = false
        /// What the lease holds of the node's resources now.
        public var held: ResourceSet { lent.isEmpty ? resources : resources - lent }
    }

    /// A worker process's lifecycle.
    public enum WorkerState: Hashable, Sendable {
        /// Spawned for this lease; not connected yet.
        case starting(LeaseID?)
        case idle
        case leased(LeaseID)
        /// Dedicated to an actor (started for it, or running it): never leased, never idle.
        case actor(ActorID)
    }

    public internal(set) var config = RayConfig()
    public internal(set) var info = NodeInfo(nodeID: NodeID(0), name: "", resources: ResourceSet(), objectStoreBytes: 0)
    public internal(set) var available = ResourceSet()
    /// False once the raylet learned it was declared dead and exited.
    public internal(set) var running = false

    // Scheduling
    var view: [NodeView] = []
    var deadNodes: Set<NodeID> = []
    /// Owners the GCS reported dead: their objects can no longer be found or rebuilt.
    var deadOwners: Set<WorkerID> = []
    /// Local workers that asked for leases (owners of nested tasks): their death is reported to
    /// the GCS, which tells the other raylets; node deaths are forwarded to them.
    var owningWorkers: Set<WorkerID> = []
    /// Local owners that died, with their job, reported to the GCS again after it restarts
    /// (until their job ends).
    var deadOwnerReports: [WorkerID: JobID] = [:]
    /// Queues per scheduling class (resource shape), in order of first use.
    /// (Each a FIFO per job, served round robin between jobs: `FairQueue`.)
    var classQueues: [ResourceSet: FairQueue<QueuedLease>] = [:]
    var classOrder: [ResourceSet] = []
    /// Every request held here in any state (queued, fetching arguments, worker
    /// starting, granted): a repeated request with the same lease ID is a
    /// duplicate (Ray's lease-ID dedup, PR#55469) and is ignored.
    var heldLeaseIDs: Set<LeaseID> = []
    /// Queued requests their owner cancelled; dropped when they reach the head of their queue.
    var cancelledLeases: Set<LeaseID> = []
    /// Requests placed here whose stored arguments are still being fetched.
    var waitingForArguments: [LeaseID: LeaseRequest] = [:]
    /// Seed of the policy's tie-breaks (from the configured seed and the node ID).
    var tieBreakSeed: UInt64 = 0
    var spreadCursor = 0
    var lastReported: ResourceSet?

    // Workers and leases
    public internal(set) var leases: [LeaseID: Lease] = [:]
    public internal(set) var workers: [WorkerID: WorkerState] = [:]
    /// Idle workers by job: a worker runs its job's program and is leased only to that job.
    var idleWorkers: [JobID: [WorkerID]] = [:]
    /// The job of every worker process.
    public internal(set) var workerJobs: [WorkerID: JobID] = [:]
    /// The jobs of the drivers connected here (`driverConnected`), until their job ends.
    public internal(set) var driverJobs: [WorkerID: JobID] = [:]
    /// Jobs that ended: their workers were stopped and their requests are ignored.
    public internal(set) var finishedJobs: Set<JobID> = []
    /// The program each job's workers run ("<digest> <path>"; "" when no driver published one:
    /// the node's default program), as published here or looked up in the GCS's KV.
    public internal(set) var programs: [JobID: String] = [:]
    /// Workers waiting for their job's program, by job (one GCS lookup per job).
    var programLookups: [JobID: [WorkerID]] = [:]
    /// Requests whose worker is still starting (queued again if it fails to start).
    var startingRequests: [LeaseID: LeaseRequest] = [:]
    var workerCounter: UInt32 = 0
    /// Actors placed here (Raylet+Actors.swift): queued until their resources fit, then hosted
    /// by a dedicated worker that holds them for its life.
    public internal(set) var hostedActors: [ActorID: HostedActor] = [:]
    var actorQueue: [ActorID] = []
    /// Leases asked back (`yieldLease`), each with the waiting job it was asked for (at most
    /// one per job; Raylet+Fairness.swift).
    var yieldAsked: [LeaseID: JobID] = [:]
    /// Each job's lease-request rate here and the requests it delays (Raylet+RequestRate.swift).
    var leaseRates: [JobID: RateBucket<LeaseRequest>] = [:]
    var delayedLeases: Set<LeaseID> = []
    /// Per-job buckets of fetches and stores, and the delayed ones still wanted (Raylet+ObjectRate.swift).
    var objectRates: [JobID: RateBucket<ObjectRequest>] = [:]
    var delayedObjectRequests: Set<ObjectRequestKey> = []
    /// Requests that passed their job's rate and wait for room in their shape's queue, per job
    /// and shape, in the order those FIFOs began.
    var leaseRoomWaits: [RoomKey: FIFOQueue<LeaseRequest>] = [:]
    var leaseRoomWaitOrder: [RoomKey] = []
    /// Placement-group bundles reserved here, prepared or committed (Raylet+Bundles.swift).
    public internal(set) var heldBundles: [BundleKey: HeldBundle] = [:]

    // Object store
    public internal(set) var store = ObjectStore(capacityBytes: 0)
    var fetches: [FetchKey: FetchState] = [:]
    var pulls: [ObjectID: PullState] = [:]
    /// Who waits for an object that is being restored from disk.
    var restoreWaiters: [ObjectID: [RestoreWaiter]] = [:]

    /// Counters for reports and checkers.
    public internal(set) var metrics = Metrics()

    /// What a raylet counts.
    public struct Metrics: Hashable, Sendable {
        public var leasesGranted = 0
        public var spillbacks = 0
        public var objectsSpilled = 0
        public var objectsRestored = 0
        public var objectsEvicted = 0
        public var objectsPulled = 0
        /// Times a leased worker's task blocked in a get or wait and lent its CPUs.
        public var workersBlocked = 0
        /// Leases asked back from a job holding more of the node than a job waiting for it.
        public var leasesAskedBack = 0
        /// Messages dropped because their sender may not send them (`senderMay`): another
        /// process's lease returned or cancelled, an object freed by a process that does not own
        /// it, the GCS's messages from anyone else. Never in a correct cluster (the simulator's
        /// checker holds it at 0).
        public var forgedMessages = 0
        /// Stores refused because the job's bytes in this store would pass its hard quota, and
        /// stores counted past its soft one (RayConfig.storeBytesPerJob*).
        public var storesRefused = 0
        public var storesOverSoftQuota = 0
        /// Lease requests delayed at their job's request rate or queue bound, and refused past its
        /// delayed bound (RayConfig.leaseRequests*PerJob; Raylet+RequestRate.swift).
        public var leaseRequestsDelayed = 0
        public var leaseRequestsRefused = 0
        /// Fetches and stores delayed at their job's rate of object requests, and refused past its
        /// delayed bound (RayConfig.objectRequests*PerJob; Raylet+ObjectRate.swift).
        public var objectRequestsDelayed = 0
        public var objectRequestsRefused = 0
    }

    public init() {}

    public var nodeID: NodeID { info.nodeID }

    /// Handles one input at time `now` and returns the effects, in order.
    public mutating func handle(_ input: RayletInput, now: Int64) -> [RayletEffect] {
        var effects: [RayletEffect] = []
        if !running {
            if case .started(let config, let info) = input { start(config, info, into: &effects) }
            return effects
        }
        switch input {
        case .started:
            break
        case .messageReceived(let from, let message):
            receive(message, from: from, now: now, into: &effects)
        case .timerFired(.reportResources):
            reportResources(force: false, into: &effects)
            reportBundles(into: &effects)
            effects.append(.startTimer(.reportResources, afterMicros: config.resourceReportPeriodMicros))
        case .timerFired(.retryPull(let object)):
            retryPull(object, into: &effects)
        case .timerFired(.preparedExpired(let group, let round)):
            preparedExpired(group, round: round, into: &effects)
        case .timerFired(.leaseRequests(let job)):
            leaseRequestsDue(job, now: now, into: &effects)
        case .timerFired(.objectRequests(let job)):
            objectRequestsDue(job, now: now, into: &effects)
        case .workerStarted(let worker):
            workerStarted(worker, into: &effects)
        case .workerExited(let worker):
            workerExited(worker, into: &effects)
        case .objectRestored(let object):
            objectRestored(object, into: &effects)
        case .peerDisconnected(let peer):
            if case .raylet(let node) = peer { pullSourceLost(node, into: &effects) }
            // A message to another node's worker came back undeliverable: that process is gone,
            // so what it leased or queued here as an owner goes now (its raylet's report to the
            // GCS may be late, or lost while the GCS restarts).
            if case .worker(let worker) = peer, worker.node != nodeID { ownerDied(worker, into: &effects) }
        case .peerConnected(.gcs):
            effects.append(.send(to: .gcs, .registerNode(info)))
            // Deaths of local owners reported to the GCS before may have been lost with it: again.
            for (owner, _) in deadOwnerReports.sorted(by: { $0.key < $1.key }) {
                effects.append(.send(to: .gcs, .workerDied(owner)))
            }
            reportResources(force: true, into: &effects)
            // Lookups written to the old connection may be lost with it: ask again.
            for job in programLookups.keys.sorted() { effects.append(.send(to: .gcs, .kvGet(key: Self.programKey(job)))) }
        case .peerConnected:
            break
        case .prestartWorkers(let count, let job):
            prestartWorkers(count, job: job, into: &effects)
        case .programPublished(let job, let program):
            programPublished(job, program, into: &effects)
        case .objectRestoreFailed(let object, let reason):
            restoreFailed(object, reason: reason, into: &effects)
        case .driverConnected(let driver, let job):
            if driver.node == nodeID && !finishedJobs.contains(job) { driverJobs[driver] = job }
        }
        if !leaseRoomWaitOrder.isEmpty { leaseRoomFreed(into: &effects) }
        return effects
    }

    private mutating func start(_ config: RayConfig, _ info: NodeInfo, into effects: inout [RayletEffect]) {
        self.config = config
        self.info = info
        available = info.resources
        running = true
        store = ObjectStore(capacityBytes: info.objectStoreBytes)
        tieBreakSeed = mix(config.seed ^ UInt64(info.nodeID.value))
        effects.append(.send(to: .gcs, .registerNode(info)))
        effects.append(.startTimer(.reportResources, afterMicros: config.resourceReportPeriodMicros))
    }

    private mutating func receive(_ message: Message, from: Address, now: Int64, into effects: inout [RayletEffect]) {
        guard senderMay(send: message, from: from) else {
            metrics.forgedMessages += 1
            releaseWritten(by: message, into: &effects)
            return
        }
        // A worker this raylet started and has seen end (it killed it, or it exited) may still
        // have messages in flight: what they ask for (a fetch, a stored value) would be held for
        // nobody, since its end was already cleaned up (swarm seed 23158: a fetch sent just
        // before a forced cancel killed its worker stayed open).
        if case .worker(let worker) = from, worker.node == nodeID, worker.index >= 1, worker.index <= workerCounter,
           workers[worker] == nil {
            releaseWritten(by: message, into: &effects)
            return
        }
        switch message {
        case .healthCheck(let sequence):
            effects.append(.send(to: .gcs, .healthCheckReply(sequence: sequence)))
        case .clusterView(let nodes):
            view = nodes.filter { !deadNodes.contains($0.nodeID) }
            spillQueuedToIdleNodes(into: &effects)
        case .nodeDead(let node):
            nodeDied(node, into: &effects)
        case .workerDied(let owner):
            ownerDied(owner, into: &effects)
        case .jobFinished(let job):
            jobFinished(job, into: &effects)
        case .requestWorkerLease(let request):
            requestLease(request, now: now, into: &effects)
        case .returnWorker(let lease, let kill):
            returnWorker(lease, kill: kill, into: &effects)
        case .cancelWorkerLease(let lease):
            cancelLease(lease, into: &effects)
        case .workerBlocked(let worker):
            workerBlocked(worker, into: &effects)
        case .workerUnblocked(let worker):
            workerUnblocked(worker)
        case .fetchObjects(let requestID, let objects, let owner):
            guard case .worker(let worker) = from else { return }
            admitObjectRequest(ObjectRequest(worker: worker, requestID: requestID, kind: .fetch(objects: objects, owner: owner)),
                               now: now, into: &effects)
        case .releaseFetch(let requestID):
            guard case .worker(let worker) = from else { return }
            let key = FetchKey(worker: worker, requestID: requestID)
            if releaseDelayedFetch(key) { return }  // Never served: nothing to release.
            releaseFetch(key, into: &effects)
        case .storeObjects(let requestID, let objects, let values, let owner):
            if case .worker(let worker) = from {
                admitObjectRequest(ObjectRequest(worker: worker, requestID: requestID,
                                                 kind: .store(objects: objects, values: values, owner: owner)),
                                   now: now, into: &effects)
                return
            }
            storeReturns(objects, values, owner: owner, sealedBy: nil, into: &effects)
            effects.append(.send(to: from, .objectsStored(requestID: requestID)))
        case .storeRemoteObjects(let requestID, let objects, let values, let owner, let job):
            // Sent by the owner itself (senderMay).
            admitObjectRequest(ObjectRequest(worker: owner, requestID: requestID,
                                             kind: .store(objects: objects, values: values, owner: owner), named: job),
                               now: now, into: &effects)
        case .objectLocation(let object, let answer):
            locationAnswered(object, answer, into: &effects)
        case .freeObject(let object):
            free(object, into: &effects)
        case .createActor(let spec, let incarnation):
            createActor(spec, incarnation: incarnation, into: &effects)
        case .prepareBundles, .commitBundles, .cancelBundles:
            receiveBundleMessage(message, into: &effects)
        case .killActorWorker(let actor, let incarnation):
            killActorWorker(actor, incarnation: incarnation, into: &effects)
        case .ownsActors(let worker):
            guard workers[worker] != nil else { return }
            owningWorkers.insert(worker)
        case .pinObject(let object):
            if !store.confirm(object), case .worker(let owner) = from {
                effects.append(.send(to: .worker(owner), .locationRemoved(object, node: nodeID)))
            }
        case .pullObject(let object):
            guard case .raylet(let requester) = from else { return }
            servePull(object, to: requester, into: &effects)
        case .pushObject(let object, let data, let owner):
            pushed(object, data, owner: owner, into: &effects)
        case .objectMissing(let object):
            guard case .raylet(let source) = from else { return }
            pullFailed(object, source: source, into: &effects)
        case .kvValue(let key, let value):
            guard let job = Self.job(ofProgramKey: key) else { return }
            programAnswered(job, value.map { String(decoding: $0, as: UTF8.self) } ?? "", into: &effects)
        default:
            break  // Not a raylet message.
        }
    }

    /// Whether `from` may send `message` to this raylet (issue 12: each role speaks only for
    /// itself). The hosts make sure `from` is the process that sent it (a local process speaks
    /// only as itself; other nodes' frames come from authenticated raylets); this says what each
    /// sender may ask for: the GCS's orders only from the GCS, a lease's return or cancel only
    /// from the owner it was granted to, a request only for the sender's own lease, a worker's
    /// state (blocked, owning actors) only from that worker, an object
    /// freed only by its owner, transfers only between raylets.
    func senderMay(send message: Message, from: Address) -> Bool {
        switch message {
        case .healthCheck, .clusterView, .nodeDead, .workerDied, .jobFinished, .createActor, .killActorWorker,
             .kvValue, .prepareBundles, .commitBundles, .cancelBundles:
            return from == .gcs
        case .requestWorkerLease(let request):
            // A local process asks only for its own job (its workers run that job's program).
            guard from == .worker(request.leaseID.owner) else { return false }
            return job(of: request.leaseID.owner).map { $0 == request.jobID } ?? true
        case .workerBlocked(let worker), .workerUnblocked(let worker), .ownsActors(let worker):
            return from == .worker(worker)
        case .returnWorker(let lease, _), .cancelWorkerLease(let lease):
            return from == .worker(lease.owner)
        case .storeObjects:
            // A store from another node's process names its job (storeRemoteObjects), so it is charged.
            if case .worker(let worker) = from { return worker.node == nodeID }
            return true
        case .storeRemoteObjects(_, _, _, let owner, let job):
            // An owner places its own puts, for its own job (a process here: the job it runs).
            guard from == .worker(owner) else { return false }
            return self.job(of: owner).map { $0 == job } ?? true
        case .freeObject(let object):
            guard let owner = store[object]?.owner ?? pulls[object]?.owner else { return true }  // Nothing here.
            return from == .worker(owner)
        case .objectLocation(let object, _):
            guard let owner = pulls[object]?.owner else { return true }  // Not pulled: ignored anyway.
            return from == .worker(owner)
        case .pullObject, .pushObject, .objectMissing:
            if case .raylet = from { return true }
            return false
        default:
            return true
        }
    }

    private mutating func nodeDied(_ node: NodeID, into effects: inout [RayletEffect]) {
        if node == nodeID {
            running = false
            effects.append(.exit(reason: "the GCS declared \(nodeID) dead"))
            return
        }
        deadNodes.insert(node)
        view.removeAll { $0.nodeID == node }
        // Owners that lived there (workers running nested tasks) died with it.
        var owners = Set(leases.keys.map(\.owner)).union(heldLeaseIDs.map(\.owner))
            .union(store.entries.values.map(\.owner))
        for shape in classOrder { for queued in classQueues[shape]?.elements ?? [] { owners.insert(queued.owner) } }
        for key in delayedObjectRequests where key.worker.node == node { owners.insert(key.worker) }
        for owner in owners.sorted() where owner.node == node { ownerDied(owner, into: &effects) }
        // Owners in this node's workers hear of it from here (drivers from the GCS): they fail or
        // retry what they ran there. The raylets always hear it, across GCS restarts too.
        for owner in owningWorkers.sorted() { effects.append(.send(to: .worker(owner), .nodeDead(node))) }
        effects.append(.disconnect(node))
        pullSourceLost(node, into: &effects)
    }

    /// Sends a resource report when `available` changed (or always when forced).
    mutating func reportResources(force: Bool, into effects: inout [RayletEffect]) {
        guard force || lastReported != available else { return }
        lastReported = available
        effects.append(.send(to: .gcs, .resourceReport(node: nodeID, available: available)))
    }

    /// True when nothing is held: no leases, queued requests, pins, fetches or objects.
    public var isQuiescent: Bool {
        leases.isEmpty && queuedLeaseCount == 0 && fetches.isEmpty && pulls.isEmpty && delayedObjectRequests.isEmpty
            && waitingForArguments.isEmpty && heldLeaseIDs.isEmpty && startingRequests.isEmpty
            && store.objectCount == 0 && available + detachedActorHeld == info.resources
            && hostedActors.values.allSatisfy { $0.spec.options.detached && $0.worker != nil }
    }

    /// The nodes in this raylet's copy of the cluster view.
    public var viewNodeIDs: [NodeID] { view.map(\.nodeID) }

    /// Number of queued lease requests.
    public var queuedLeaseCount: Int { classQueues.values.reduce(0) { $0 + $1.count } - cancelledLeases.count }
}
