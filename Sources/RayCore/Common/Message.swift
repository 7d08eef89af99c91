// The wire messages between components: one schema for every link (GCS,
// raylets, drivers and workers), and the same values are what the event logs
// record as inputs. Mirrors the RPCs of Ray's gcs_service.proto,
// node_manager.proto, core_worker.proto and object_manager.proto, reduced to
// what the machines need. Every message is idempotent or deduplicated by an ID.

/// What a raylet tells the GCS about itself when it registers.
public struct NodeInfo: Hashable, Codable, Sendable {
    public var nodeID: NodeID
    /// A human name (the scenario's node name).
    public var name: String
    public var resources: ResourceSet
    public var objectStoreBytes: Int64
    public init(nodeID: NodeID, name: String, resources: ResourceSet, objectStoreBytes: Int64) {
        self.nodeID = nodeID
        self.name = name
        self.resources = resources
        self.objectStoreBytes = objectStoreBytes
    }
}

/// One node in the cluster resource view the GCS broadcasts.
public struct NodeView: Hashable, Codable, Sendable {
    public var nodeID: NodeID
    public var total: ResourceSet
    public var available: ResourceSet
    public init(nodeID: NodeID, total: ResourceSet, available: ResourceSet) {
        self.nodeID = nodeID
        self.total = total
        self.available = available
    }
}

/// A request for a worker lease (Ray's RequestWorkerLease).
public struct LeaseRequest: Hashable, Codable, Sendable {
    public var leaseID: LeaseID
    public var taskID: TaskID
    public var resources: ResourceSet
    public var strategy: SchedulingStrategy
    /// How many raylets already spilled this request back (bounds ping-pong).
    public var spillbackCount: Int
    /// Stored arguments: the raylet makes them local before it takes resources
    /// for the lease (Ray's PENDING_ARGS_FETCH), so no lease holds a CPU
    /// while it waits for an argument that may need rebuilding.
    public var dependencies: [ObjectID]
    /// The job the task belongs to: only a worker of that job (running its program) may run it.
    public var jobID: JobID
    public init(leaseID: LeaseID, taskID: TaskID, resources: ResourceSet, strategy: SchedulingStrategy,
                spillbackCount: Int, dependencies: [ObjectID] = [], jobID: JobID) {
        self.leaseID = leaseID
        self.taskID = taskID
        self.resources = resources
        self.strategy = strategy
        self.spillbackCount = spillbackCount
        self.dependencies = dependencies
        self.jobID = jobID
    }
}

/// An argument as pushed to a worker: inline data, or an object to fetch.
public enum ResolvedArg: Hashable, Codable, Sendable {
    case inline(ObjectData)
    case object(ObjectID)
    /// A reference the worker receives as a reference (it becomes a borrower).
    case borrowed(ObjectID)
}

/// One return value of a finished task.
public enum ReturnValue: Hashable, Codable, Sendable {
    /// Small values (≤ 100 KiB) travel in the reply.
    case inline(ObjectData)
    /// Large values were sealed in the executing node's store as primary copies.
    case stored(node: NodeID, sizeBytes: Int64)
}

/// How an attempt of a task ended, as its worker reports it.
public enum TaskOutcome: Hashable, Codable, Sendable {
    case returned([ReturnValue])
    /// The body raised an application error.
    case applicationError(String)
    /// An argument could not be obtained; its error becomes the task's result.
    case argumentFailed(RayError)
}

/// What an owner answers when asked where an object is.
public enum LocationAnswer: Hashable, Codable, Sendable {
    /// Copies exist on these nodes.
    case at([NodeID])
    /// The object is an error; fetching it yields this error.
    case failed(RayError)
    /// The owner no longer tracks the object (freed).
    case freed
}

/// Every message between components.
public enum Message: Hashable, Codable, Sendable {
    // raylet <-> GCS
    /// raylet → GCS: join the cluster (idempotent; sent again after a GCS restart).
    case registerNode(NodeInfo)
    /// GCS → raylet: are you alive?
    case healthCheck(sequence: UInt64)
    /// raylet → GCS: yes.
    case healthCheckReply(sequence: UInt64)
    /// raylet → GCS: my available resources changed.
    case resourceReport(node: NodeID, available: ResourceSet)
    /// GCS → raylets: the cluster resource view (alive nodes only, sorted by ID).
    case clusterView([NodeView])
    /// GCS → raylets and subscribers: a node is dead (sent once per node).
    case nodeDead(NodeID)

    // drivers <-> GCS
    /// driver → GCS: a job starts; the driver subscribes to node events.
    case registerJob(JobID, driver: WorkerID)
    /// driver → GCS: the job finished cleanly.
    case jobFinished(JobID)
    /// GCS → raylets: this worker (an owner) died; free what it owned and its leases.
    case workerDied(WorkerID)
    /// any → GCS: internal KV put.
    case kvPut(key: String, value: [UInt8])
    /// any → GCS: internal KV get; answered by `kvValue`.
    case kvGet(key: String)
    /// GCS → requester.
    case kvValue(key: String, value: [UInt8]?)

    // owner <-> raylet: leases
    /// owner → raylet: lease a worker for this task.
    case requestWorkerLease(LeaseRequest)
    /// raylet → owner: the lease is granted on `worker`.
    case leaseGranted(LeaseID, worker: WorkerID)
    /// raylet → owner: ask `node` instead.
    case leaseSpillback(LeaseID, to: NodeID)
    /// raylet → owner: no node can run this; the reason says why.
    case leaseUnschedulable(LeaseID, reason: String)
    /// owner → raylet: the lease is done; the worker is idle again (or to be killed).
    case returnWorker(LeaseID, killWorker: Bool)

    // owner <-> worker
    /// owner → leased worker: run this attempt.
    /// (Boxed: a task spec is large, and every message pays for the largest case.)
    indirect case pushTask(TaskSpec, attempt: Int, lease: LeaseID, args: [ResolvedArg])
    /// worker → owner: the attempt finished; `borrowed` lists argument refs the
    /// worker still holds (it is now a borrower of each).
    case taskReply(TaskID, attempt: Int, TaskOutcome, borrowed: [ObjectID])
    /// borrower → owner: I no longer hold this reference.
    case borrowReleased(ObjectID, borrower: WorkerID)

    // worker <-> its raylet (the object store client)
    /// worker → raylet: make these objects local and pin them for me.
    case fetchObjects(requestID: UInt64, objects: [ObjectID], owner: WorkerID)
    /// raylet → worker: the objects, in request order (errors in place of failed ones).
    case objectsReady(requestID: UInt64, values: [ObjectValue])
    /// worker → raylet: unpin what a fetch pinned.
    case releaseFetch(requestID: UInt64)
    /// worker → raylet: seal these return values as primary copies.
    case storeObjects(requestID: UInt64, objects: [ObjectID], values: [ObjectData], owner: WorkerID)
    /// raylet → worker: sealed.
    case objectsStored(requestID: UInt64)

    // raylet <-> owner: the object directory
    /// raylet → owner: where is this object? (answered when known)
    case locateObject(ObjectID)
    /// owner → raylet.
    case objectLocation(ObjectID, LocationAnswer)
    /// raylet → owner: a copy now lives here.
    case locationAdded(ObjectID, node: NodeID)
    /// raylet → owner: the copy here is gone (evicted).
    case locationRemoved(ObjectID, node: NodeID)
    /// owner → raylet: the object is out of scope; drop every copy.
    case freeObject(ObjectID)
    /// owner → raylet: this sealed return value is the object's primary copy
    /// (Ray's PinObjectIDs); until then a copy whose worker dies is dropped.
    case pinObject(ObjectID)

    // raylet <-> raylet: the object manager
    /// raylet → raylet: send me this object.
    case pullObject(ObjectID)
    /// raylet → raylet: here it is.
    case pushObject(ObjectID, ObjectData, owner: WorkerID)
    /// raylet → raylet: I do not have it.
    case objectMissing(ObjectID)

    // owner -> raylet: leases (continued)
    /// owner → raylet: drop this queued request; a worker it leased already serves the task
    /// (Ray's CancelWorkerLease). A request already granted is answered as before, and returned.
    case cancelWorkerLease(LeaseID)

    // driver -> GCS (continued)
    /// driver → GCS: the driver's process is ending: with `exitCode` (exit status), or killed by
    /// `signal` (nonzero). The job succeeded only with both 0; its workers stop.
    case driverExited(JobID, exitCode: Int, signal: Int)

    // worker -> raylet: blocking (Ray's NotifyDirectCallTaskBlocked / Unblocked)
    /// (`workerDied` also goes raylet → GCS: a worker that owned tasks died; the GCS tells the
    /// other raylets, which reclaim what it leased there, as Ray's worker-failure publication.)
    /// worker → its raylet: the task it runs waits in a get or wait for objects: the lease's
    /// CPUs are free for other leases (its children) until it resumes.
    case workerBlocked(WorkerID)
    /// worker → its raylet: the task resumed: its lease holds its CPUs again, even when that
    /// oversubscribes the node for a while (as Ray).
    case workerUnblocked(WorkerID)
    /// owner → the worker running `attempt` of a task it cancelled recursively (`ray.cancel`'s
    /// `recursive`): that worker's owner cancels what the attempt submitted, and so on down.
    case cancelChildren(TaskID, attempt: Int, force: Bool)
    /// executor → the owner of the task it ran, just before `taskReply`: the return values hold
    /// references to these objects, owned by the replying worker's owner (which counts the
    /// task's owner as a borrower of each, `OwnerInput.lend`); `returnIndices[i]` is the return
    /// value (from 1) that holds `objects[i]`. The task's owner borrows them while those values
    /// live (Ray's nested references in return values), and sends `borrowReleased` after.
    case returnedReferences(TaskID, attempt: Int, objects: [ObjectID], returnIndices: [Int])
    /// borrower → owner: send the value of an object, or where it is, once it exists
    /// (answered with `ownedValue`, or `objectLocation` for a stored one).
    case borrowerGet(ObjectID)
    /// owner → borrower: an object's inline value, or the error standing for it.
    case ownedValue(ObjectID, ObjectValue)

    // actors (GCS actor manager, raylets hosting actors, callers)
    /// owner → GCS: create this actor (Ray's RegisterActor + CreateActor); the owner is
    /// subscribed to its updates.
    indirect case registerActor(ActorSpec)
    /// GCS → raylet: host `incarnation` of this actor (hold its resources, start a dedicated
    /// worker); raylet → that worker: run its constructor.
    indirect case createActor(ActorSpec, incarnation: Int)
    /// actor worker → GCS: the constructor of `incarnation` returned ("" failure) or raised.
    case actorCreated(ActorID, incarnation: Int, worker: WorkerID, failure: String)
    /// raylet → GCS: this node cannot host the actor (its resources never fit here, or its job
    /// ended): place it elsewhere.
    case actorPlacementFailed(ActorID, incarnation: Int, reason: String)
    /// raylet → GCS: the worker hosting `incarnation` of this actor exited.
    case actorWorkerDied(ActorID, incarnation: Int, detail: String)
    /// any → GCS: kill this actor (`Ray.kill`); `noRestart` false lets it restart (counted).
    case killActor(ActorID, noRestart: Bool, reason: String)
    /// GCS → raylet: kill the worker hosting `incarnation` of this actor.
    case killActorWorker(ActorID, incarnation: Int)
    /// GCS → subscribers: the actor's state changed.
    case actorUpdate(ActorInfo)
    /// a handle's holder → GCS: send me this actor's updates (answered with its state now).
    case subscribeActor(ActorID)
    /// caller → actor worker: run this method call; `sequence` is the call's number among this
    /// caller's calls to the actor; every call numbered below `skipBelow` is settled (ran or
    /// failed), so the actor does not wait for it.
    indirect case pushActorTask(TaskSpec, attempt: Int, ActorID, incarnation: Int, sequence: UInt64,
                                skipBelow: UInt64, args: [ResolvedArg])
    /// any → GCS: which live actor has this name in this namespace (`Ray.getActor`)? The asker
    /// is subscribed to the one found.
    case lookupActor(name: String, namespace: String)
    /// GCS → asker: this one (its state now).
    case actorFound(name: String, namespace: String, ActorInfo)
    /// GCS → asker: no live actor has that name there.
    case actorNotFound(name: String, namespace: String)
    /// a worker → its raylet: I created actors; report my death to the GCS (whose non-detached
    /// actors die with their owner), as for a worker that leased others.
    case ownsActors(WorkerID)
    /// owner → GCS: the constructor's arguments exist now (the spec with them resolved: small
    /// values inline): place the actor.
    indirect case actorDependenciesReady(ActorSpec)

    // placement groups (GCS+PlacementGroups.swift, Raylet+Bundles.swift)
    /// owner → GCS: reserve this group (its updates come back to the owner).
    indirect case createPlacementGroup(PlacementGroupSpec)
    /// owner → GCS: remove this group (what runs in it is killed, its resources returned).
    case removePlacementGroup(PlacementGroupID)
    /// GCS → raylet: phase 1 of round `round`: set these bundles aside, all or none. `keep`: the
    /// group's bundles the GCS knows this node holds; any other it holds is stale and goes first.
    case prepareBundles(PlacementGroupID, round: UInt64, bundles: [BundleSpec], keep: [Int])
    /// raylet → GCS: prepared ("" failure), or why not.
    case bundlesPrepared(PlacementGroupID, round: UInt64, failure: String)
    /// GCS → raylet: phase 2: the prepared bundles of `round` become the group's resources.
    case commitBundles(PlacementGroupID, round: UInt64)
    /// raylet → GCS: committed ("" failure), or why not (its prepared bundles were released).
    case bundlesCommitted(PlacementGroupID, round: UInt64, failure: String)
    /// GCS → raylet: release what this node holds of the group from `round` (0: every round),
    /// prepared or committed; what runs in committed bundles is killed.
    case cancelBundles(PlacementGroupID, round: UInt64)
    /// GCS → owner: the group's state changed.
    case placementGroupUpdate(PlacementGroupInfo)
    /// raylet → GCS (every report period while it holds any): the bundles held here; the GCS
    /// cancels those it does not count (a cancel lost with a partition, a round it gave up on).
    case bundlesHeld([BundleHold])
    /// raylet → owner: another job's requests wait on this node while this lease's job holds
    /// more of it than they do; hand the worker back once its task ends instead of running the
    /// next task of the shape on it (fair share between jobs, Raylet+Fairness.swift).
    case yieldLease(LeaseID)
    /// Raylet → the process that asked to store `objects` (an owner's put, a worker sealing a
    /// task's return values): nothing was kept, for `error` (the job's bytes in this node's store
    /// are at their hard quota). The owner fails a put's objects with it; an executor fails its task.
    case objectsRefused(requestID: UInt64, objects: [ObjectID], RayError)
    /// raylet → owner: the lease request is refused for `error` (its job sent this raylet lease
    /// requests past its rate and its delayed bound: Raylet+RequestRate.swift); the task fails.
    case leaseRefused(LeaseID, RayError)
    /// owner → another node's raylet: seal these values there as primary copies (a put placed on
    /// that node, as if a process there made it: Ray's `_owner`), charged to `job`, the owner's —
    /// which that raylet cannot know (the sender's raylet checks it as it relays). Answered as
    /// `storeObjects` is.
    case storeRemoteObjects(requestID: UInt64, objects: [ObjectID], values: [ObjectData], owner: WorkerID, job: JobID)
}

extension Message {
    /// Bytes this message puts on the wire, for the simulated network's bandwidth model.
    public var payloadBytes: Int64 {
        switch self {
        case .pushObject(_, let data, _): return data.sizeBytes
        case .pushTask(_, _, _, let args):
            return args.reduce(256) { total, arg in
                if case .inline(let data) = arg { return total + data.sizeBytes }
                return total + 24
            }
        case .pushActorTask(_, _, _, _, _, _, let args):
            return args.reduce(256) { total, arg in
                if case .inline(let data) = arg { return total + data.sizeBytes }
                return total + 24
            }
        case .taskReply(_, _, .returned(let values), _):
            return values.reduce(64) { total, value in
                if case .inline(let data) = value { return total + data.sizeBytes }
                return total + 24
            }
        default: return 64
        }
    }
}
