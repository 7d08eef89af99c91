// The owner: the ownership half of Ray's core worker (core_worker.cc,
// reference_count.cc, task_manager.cc, object_recovery_manager.cc), in every
// driver. It submits tasks once their arguments exist, leases workers,
// pushes tasks, keeps small values inline, tracks where large ones live,
// counts references (local handles, pending tasks, borrowers), keeps lineage
// while it may be needed, retries failed attempts and rebuilds lost objects
// by re-running their lineage, recursively.
//
// Invariants: every count is ≥ 0; an object is freed on every node that has
// a copy once nothing references it; lineage is released only when no
// returned object is referenced and no retained downstream task needs it;
// every API `get` is answered exactly once with data or a Ray error.

/// Who an owner is.
public struct OwnerIdentity: Hashable, Codable, Sendable {
    public var worker: WorkerID
    public var job: JobID
    /// The job's ID key (KeyedIDs.swift): what this owner's program makes gets IDs no process
    /// without it can derive. 0 (a record written before this field): IDs without a key.
    public var idKey: UInt64
    public init(worker: WorkerID, job: JobID, idKey: UInt64 = 0) {
        self.worker = worker
        self.job = job
        self.idKey = idKey
    }
}

/// A task as the program submits it (the owner derives its ID).
public struct TaskRequest: Hashable, Codable, Sendable {
    public var function: String
    public var instance: Int
    public var args: [TaskArg]
    public var resources: ResourceSet
    public var strategy: SchedulingStrategy
    public var maxRetries: Int
    public var retryExceptions: Bool
    public var body: [Int64]
    /// How many values the task returns (Ray's `num_returns`), each its own object; at least 1.
    public var returnCount: Int
    public init(function: String, instance: Int, args: [TaskArg], resources: ResourceSet,
                strategy: SchedulingStrategy, maxRetries: Int, retryExceptions: Bool, body: [Int64],
                returnCount: Int = 1) {
        self.function = function
        self.instance = instance
        self.args = args
        self.resources = resources
        self.strategy = strategy
        self.maxRetries = maxRetries
        self.retryExceptions = retryExceptions
        self.body = body
        self.returnCount = returnCount
    }
}

/// Inputs of an owner.
public enum OwnerInput: Hashable, Codable, Sendable {
    /// The driver process started.
    case started(RayConfig, OwnerIdentity)
    /// The program submitted a task (`f.remote(...)`); its ID is the next child of the driver task.
    case submitTask(TaskRequest)
    /// The program put a value (`ray.put`); `node` is where the primary copy
    /// is created when a process there put it on this owner's behalf (Ray's
    /// `_owner`), nil for this owner's own node.
    case put(ObjectData, node: NodeID?)
    /// The program asked for a value (`ray.get`); answered with `getResolved`.
    case get(ObjectID)
    /// The program dropped a handle.
    case release(ObjectID)
    /// A message arrived.
    case messageReceived(from: Address, Message)
    /// The connection to a peer closed.
    case peerDisconnected(Address)
    /// The program copied a handle (a new reference to an object it already holds).
    case addReference(ObjectID)
    /// The program cancelled the task that returns this object (`ray.cancel`): a task not
    /// started yet fails with Cancelled; a running one is stopped only with `force` (its
    /// worker is killed); a finished one is left alone. `recursive`: what a running task
    /// submitted is cancelled too (by its worker's owner), and so on down.
    case cancel(ObjectID, force: Bool, recursive: Bool)
    /// A worker process ended (its raylet reaped it): `detail` says how ("killed by signal 9
    /// (Killed)"), then its last lines of stderr, one per line. Like `peerDisconnected`, with words.
    case workerDied(WorkerID, detail: String)
    /// The owner of a worker process started (the first task that needs one): it owns what the
    /// tasks the worker runs submit and put; it registers no job (its driver did).
    case startedInWorker(RayConfig, OwnerIdentity)
    /// The worker began running `attempt` of `task`: what the body submits and puts now are
    /// that attempt's children (`OwnerIDs.forTask`). As logged before the task's owner was
    /// recorded (`taskStartedFor`): a cancel of its children is taken from any sender.
    case taskStarted(TaskID, attempt: Int)
    /// A body this worker ran returns references to these objects, owned here, to `to` (the
    /// task's owner): each handle the body kept for them becomes `to`'s borrow (released by
    /// `borrowReleased`).
    case lend([ObjectID], to: WorkerID)
    /// The program creates an actor (`Counter.remote()`): the request's function is its class,
    /// its resources are held for the actor's life. Its ID is the next child's (`ActorID`).
    case createActor(TaskRequest, ActorOptions)
    /// The program calls a method of an actor it holds a handle to; the call's ID is the next child's.
    case callActor(ActorID, TaskRequest)
    /// The program kills an actor (`Ray.kill`); with `noRestart` false it may restart.
    case killActor(ActorID, noRestart: Bool)
    /// The program got a handle to an actor another process created (passed to a task, or in a
    /// value): it hears the actor's state from the GCS, and may call it.
    case subscribeActor(ActorID)
    /// The program looks an actor up by name (`Ray.getActor`); answered with `actorLookedUp`.
    case lookupActor(name: String, namespace: String)
    /// A task body passes on a reference it received as an argument (its caller `owner` owns or
    /// borrows it): this process borrows it from there while what it submits needs it.
    case borrowArgument(ObjectID, owner: WorkerID)
    /// The program creates a placement group (its ID is the next task ID, as an actor's).
    case createPlacementGroup(bundles: [ResourceSet], strategy: PlacementStrategy, name: String, detached: Bool)
    /// The program removes a placement group it created.
    case removePlacementGroup(PlacementGroupID)
    /// The program asks for an object that becomes `value` once the group is CREATED (Ray's
    /// `pg.ready()`), or fails if it is removed first; its ID is the program's next put.
    case placementGroupReady(PlacementGroupID, value: ObjectData)
    /// The value the program just put (`container`) holds references to `held` (objects owned or
    /// borrowed here): they stay alive while it does, and a task given it gets them too.
    case holdReferences(ObjectID, held: [ObjectID])
    /// `taskStarted` of a task `owner` owns: only `owner` may cancel what this attempt submits
    /// (`cancelChildren`), not another process that learned the task's ID.
    case taskStartedFor(TaskID, attempt: Int, owner: WorkerID)
}

/// Effects of an owner.
public enum OwnerEffect: Hashable, Codable, Sendable {
    /// Send a message.
    case send(to: Address, Message)
    /// Answer the program's `get` of this object.
    case getResolved(ObjectID, ObjectValue)
    /// Answer the program's lookup of an actor by name (nil: no live actor has it).
    case actorLookedUp(name: String, namespace: String, ActorID?)
    /// A placement group this process created changed state (its `ready()` waits for CREATED).
    case placementGroupUpdated(PlacementGroupInfo)
}

/// Tasks that may share a leased worker: same resources, same placement.
struct ReuseKey: Hashable, Sendable {
    var resources: ResourceSet
    var strategy: SchedulingStrategy
}

/// The owner state machine.
public struct Owner: Sendable {
    /// A task's lifecycle.
    public enum TaskState: Hashable, Sendable {
        /// Waiting for `remaining` arguments to exist.
        case waitingForArguments(remaining: Int)
        /// A lease request is out at `node`.
        case leasing(LeaseID, node: NodeID)
        /// Pushed to `worker`.
        case running(LeaseID, worker: WorkerID)
        /// A method call of this actor: waiting for its turn, or pushed (Owner+Actors.swift).
        case actorCall(ActorID)
        case finished
        case failed

        /// Finished or failed: only its lineage is kept.
        public var isEnded: Bool {
            switch self {
            case .finished, .failed: return true
            default: return false
            }
        }
    }

    /// A task and its lineage.
    public struct TaskEntry: Sendable {
        public var spec: TaskSpec
        public var state: TaskState
        /// Attempts started so far.
        public var attempts: Int
        /// Retries (and re-executions for reconstruction) left; -1 is infinite.
        public var retriesLeft: Int
        /// Spillbacks of the current lease request.
        public var spillbacks = 0
        /// The raylet asked for the running attempt's lease back (`yieldLease`: another job
        /// waits there): its worker goes back when the attempt ends instead of running the next
        /// task of its shape.
        public var leaseAskedBack = false
        /// What submitted it: the `OwnerIDs.parent` of the driver, or of the task attempt whose
        /// body submitted it in this worker (a recursive cancel finds the attempt's children).
        public var submitter: TaskID
        /// It ended once (counted in `Metrics.tasksEnded`; a rebuild that runs it again is not).
        public var endedOnce = false
    }

    /// Where an object's value is.
    public enum ObjectState: Hashable, Sendable {
        /// Not created yet, or being rebuilt.
        case pending
        /// Small: held here.
        case inline(ObjectData)
        /// Large: in the object stores listed in `locations`.
        case stored(sizeBytes: Int64)
        /// An error stands in for the value.
        case failed(RayError)
    }

    /// An owned object.
    public struct ObjectEntry: Sendable {
        public var state: ObjectState = .pending
        /// Handles the program holds.
        public var localRefs = 0
        /// Pending tasks that take it as an argument.
        public var submittedRefs = 0
        /// Workers that hold it inside arguments.
        public var borrowers: [WorkerID] = []
        /// Retained lineage entries of tasks that take it as an argument.
        public var lineageRefs = 0
        /// Nodes with a copy, ascending.
        public var locations: [NodeID] = []
        /// Out of scope: copies were freed; the entry stays only for lineage.
        public var freed = false
        /// The size of the stored value, kept while it is rebuilt (a surviving copy may turn up).
        public var storedSizeBytes: Int64?
        /// Objects its value holds (references a task returned, or a put value's), in order.
        public var contains: [ObjectID] = []

        public var inScope: Bool { localRefs > 0 || submittedRefs > 0 || !borrowers.isEmpty }
    }

    /// What an owner counts.
    public struct Metrics: Hashable, Sendable {
        public var tasksSubmitted = 0
        public var attemptsStarted = 0
        public var retries = 0
        public var reconstructions = 0
        public var tasksFailed = 0
        public var lineageEvictions = 0
        /// Tasks and actor calls that ended (returned or failed for good), each counted once:
        /// `tasksSubmitted`-like work minus this is what the owner holds unfinished.
        public var tasksEnded = 0
        /// Puts handled (a host's program counts the puts it makes; the difference is in flight).
        public var puts = 0
        /// Messages dropped because their sender may not send them (`senderMay`): a raylet's
        /// answer from a process, the GCS's news from anyone else, a borrow released in another's
        /// name, a cancel of a task's children from anyone but its owner. Never in a correct
        /// cluster (the simulator's checker holds it at 0).
        public var forgedMessages = 0
        public init() {}
    }

    public internal(set) var config = RayConfig()
    public internal(set) var identity = OwnerIdentity(worker: WorkerID(node: NodeID(0), index: 0), job: JobID(0))
    public internal(set) var tasks: [TaskID: TaskEntry] = [:]
    /// Who owns each task this worker began running lately (nil: not recorded): `startedFor`.
    var taskOwners: [TaskID: WorkerID?] = [:]
    public internal(set) var objects: [ObjectID: ObjectEntry] = [:]
    public internal(set) var metrics = Metrics()
    /// Approximate bytes of retained task specs.
    public internal(set) var lineageBytes: Int64 = 0
    /// The IDs of what the program submits and puts (OwnerIDs.swift).
    public internal(set) var ids = OwnerIDs(parent: TaskID.driver(of: JobID(0)))
    var leaseCounter: UInt64 = 0
    var requestCounter: UInt64 = 0
    /// True in a worker process (nested tasks): it registers no job.
    public internal(set) var inWorker = false
    /// A worker's owner numbers its raylet requests from here, its executor from 1: the raylet
    /// answers both at the worker's address, and `Message.workerPart` routes by the number.
    public static let workerRequestBase: UInt64 = 1 << 48
    var deadNodes: Set<NodeID> = []
    /// Tasks waiting for an object to exist.
    var dependents: [ObjectID: [TaskID]] = [:]
    /// Program gets waiting for an object to exist, counted: each is answered once.
    var getWaiters: [ObjectID: Int] = [:]
    /// Fetches the owner sent its raylet for gets, with how many gets each answers.
    var getFetches: [UInt64: (object: ObjectID, gets: Int)] = [:]
    /// The fetch already out for an object: later gets of it join that fetch.
    var openGetFetch: [ObjectID: UInt64] = [:]
    /// Raylets waiting to learn where an object is.
    var locationWaiters: [ObjectID: [NodeID]] = [:]
    /// Objects owned elsewhere that this owner borrows (references returned to it), by object.
    public internal(set) var borrowed: [ObjectID: BorrowedEntry] = [:]
    /// References a running attempt's return values hold (`returnedReferences`), until its reply.
    var pendingReturned: [TaskID: (attempt: Int, objects: [ObjectID], indices: [Int], owner: WorkerID)] = [:]
    /// Borrowers waiting for an object owned here to exist (`borrowerGet`), in order.
    var borrowerWaiters: [ObjectID: [WorkerID]] = [:]
    /// Which task each outstanding lease serves.
    var leaseTasks: [LeaseID: TaskID] = [:]
    /// Which task each leased worker runs.
    var runningOn: [WorkerID: TaskID] = [:]
    /// Workers whose connection closed: a late reply from one borrows nothing, a grant of one is void.
    var deadWorkers: Set<WorkerID> = []
    /// Tasks whose lease request is out and that a worker leased for another task of the
    /// same shape could run instead (no stored arguments), oldest first, per shape.
    var reusable: [ReuseKey: FIFOQueue<TaskID>] = [:]
    /// Lease requests in flight per shape, and the shape of each (Owner+LeasePipeline).
    var inFlight: [ReuseKey: Int] = [:]
    var inFlightShape: [LeaseID: ReuseKey] = [:]
    /// Tasks waiting for a request slot of their shape, oldest first, and their unsent leases.
    var parked: [ReuseKey: FIFOQueue<TaskID>] = [:]
    var parkedLeases: Set<LeaseID> = []
    /// Lease requests out at raylets (sent, not ended), at most `config.leaseRequestsPerOwner`,
    /// and the requests held here past that bound, oldest first (Owner+LeasePipeline).
    var leaseRequestsOut: Set<LeaseID> = []
    /// Requests out that rebuild a lost object (its task ended once and runs again), outside the
    /// bound: requests out may wait for that object at their raylets (Owner+LeasePipeline).
    var rebuildRequestsOut: Set<LeaseID> = []
    var heldLeaseRequests: [LeaseID: (node: NodeID, request: LeaseRequest)] = [:]
    var heldLeaseOrder = FIFOQueue<LeaseID>()
    /// Finished tasks in completion order, for lineage eviction.
    var lineageOrder = FIFOQueue<TaskID>()
    /// Actors this process created or holds handles to, with its calls to each (Owner+Actors.swift).
    public internal(set) var actors: [ActorID: CallerActor] = [:]
    /// Placement groups this process created, as the GCS last published them.
    public internal(set) var placementGroups: [PlacementGroupID: PlacementGroupInfo] = [:]
    /// Objects waiting for a group to be CREATED, with the value each then holds.
    var groupReadyObjects: [PlacementGroupID: [(object: ObjectID, value: ObjectData)]] = [:]
    /// This worker told its raylet it owns actors (`ownsActors`).
    var ownsActors = false
    /// Actors this process created whose constructor waits for an argument to exist, with the spec.
    var pendingConstructors: [ActorID: ActorSpec] = [:]
    /// Actors whose next call waits for an argument to exist.
    var actorsWaitingForArguments: Set<ActorID> = []

    public init() {}

    public var workerID: WorkerID { identity.worker }
    public var localNode: NodeID { identity.worker.node }
    public var driverTask: TaskID { TaskID.driver(of: identity.job) }

    /// The ID the next submitted task will get.
    public var nextTaskID: TaskID { ids.nextTask }
    /// The ID the next put object will get.
    public var nextPutID: ObjectID { ids.nextPut }

    /// Sizes the task and object tables for a workload known in advance (a hint:
    /// it changes no state, so replay does not need it).
    public mutating func reserveCapacity(tasks taskCount: Int, objects objectCount: Int) {
        tasks.reserveCapacity(taskCount)
        objects.reserveCapacity(objectCount)
    }

    /// Handles one input at time `now` and returns the effects, in order.
    public mutating func handle(_ input: OwnerInput, now: Int64) -> [OwnerEffect] {
        var effects: [OwnerEffect] = []
        switch input {
        case .started(let config, let identity):
            self.config = config
            self.identity = identity
            ids = OwnerIDs(parent: TaskID.driver(of: identity.job), key: identity.idKey)
            effects.append(.send(to: .gcs, .registerJob(identity.job, driver: identity.worker)))
        case .startedInWorker(let config, let identity):
            self.config = config
            self.identity = identity
            inWorker = true
            requestCounter = Self.workerRequestBase
        case .taskStarted(let task, let attempt):
            ids = OwnerIDs.forTask(task, attempt: attempt, key: identity.idKey)
            startedFor(task, owner: nil)
        case .taskStartedFor(let task, let attempt, let owner):
            ids = OwnerIDs.forTask(task, attempt: attempt, key: identity.idKey)
            startedFor(task, owner: owner)
        case .lend(let objects, let borrower):
            lend(objects, to: borrower, into: &effects)
        case .holdReferences(let container, let held):
            hold(held, in: container)
        case .submitTask(let request):
            submit(request, into: &effects)
        case .put(let data, let node):
            put(data, at: node ?? localNode, into: &effects)
        case .get(let object):
            get(object, into: &effects)
        case .release(let object):
            if isBorrowed(object) {
                releaseBorrowedHandle(object, into: &effects)
                return effects
            }
            // Releasing a handle that is not held is a no-op (the API layer prevents it).
            guard let entry = objects[object], entry.localRefs > 0 else { return effects }
            objects[object]!.localRefs -= 1
            releaseIfUnused(object, into: &effects)
        case .addReference(let object):
            if isBorrowed(object) {
                borrowed[object]!.handles += 1  // A handle to a borrowed object (read from a value).
                return effects
            }
            // Only a held, live object gains a handle (the API copies handles it holds).
            guard let entry = objects[object], !entry.freed, entry.localRefs > 0 else { return effects }
            objects[object]!.localRefs += 1
        case .cancel(let object, let force, let recursive):
            cancel(object, force: force, recursive: recursive, into: &effects)
        case .messageReceived(let from, let message):
            receive(message, from: from, into: &effects)
        case .peerDisconnected(.worker(let worker)):
            workerLost(worker, into: &effects)
        case .workerDied(let worker, let detail):
            workerLost(worker, detail: detail, into: &effects)
        case .peerDisconnected:
            break
        case .createActor(let request, let options):
            createActor(request, options, into: &effects)
        case .callActor(let actor, let request):
            callActor(actor, request, into: &effects)
        case .killActor(let actor, let noRestart):
            killActor(actor, noRestart: noRestart, into: &effects)
        case .lookupActor(let name, let namespace):
            effects.append(.send(to: .gcs, .lookupActor(name: name, namespace: namespace)))
        case .borrowArgument(let object, let owner):
            guard objects[object] == nil, borrowed[object] == nil, owner != workerID else { return effects }
            borrowed[object] = BorrowedEntry(owner: owner)
        case .createPlacementGroup(let bundles, let strategy, let name, let detached):
            createPlacementGroup(bundles, strategy: strategy, name: name, detached: detached, into: &effects)
        case .removePlacementGroup(let id):
            removePlacementGroup(id, into: &effects)
        case .placementGroupReady(let id, let value):
            placementGroupReady(id, value: value, into: &effects)
        case .subscribeActor(let actor):
            guard actors[actor] == nil else { return effects }
            actors[actor] = CallerActor(info: nil, created: false, maxTaskRetries: 0, detached: false, name: "\(actor)")
            effects.append(.send(to: .gcs, .subscribeActor(actor)))
        }
        return effects
    }

    private mutating func receive(_ message: Message, from: Address, into effects: inout [OwnerEffect]) {
        guard senderMay(send: message, from: from) else {
            metrics.forgedMessages += 1
            return
        }
        switch message {
        case .leaseGranted(let lease, let worker):
            leaseGranted(lease, worker: worker, into: &effects)
        case .yieldLease(let lease):
            // Only a lease running a task here: it is handed back when that task ends.
            if let id = leaseTasks[lease], case .running(lease, _)? = tasks[id]?.state { tasks[id]?.leaseAskedBack = true }
        case .leaseSpillback(let lease, let node):
            leaseSpilledBack(lease, to: node, into: &effects)
        case .leaseUnschedulable(let lease, let reason):
            leaseUnschedulable(lease, reason: reason, into: &effects)
        case .leaseRefused(let lease, let error):
            leaseRefused(lease, error, into: &effects)
        case .taskReply(let task, let attempt, let outcome, let borrowed):
            guard case .worker(let worker) = from else { return }
            if case .actorCall(let actor)? = tasks[task]?.state {
                actorCallReplied(task, actor, attempt: attempt, outcome: outcome, borrowed: borrowed, worker: worker,
                                 into: &effects)
                return
            }
            taskReplied(task, attempt: attempt, outcome: outcome, borrowed: borrowed, worker: worker, into: &effects)
        case .borrowReleased(let object, let borrower):
            guard objects[object] != nil else {
                subBorrowerReleased(object, borrower, into: &effects)
                return
            }
            objects[object]!.borrowers.removeAll { $0 == borrower }
            releaseIfUnused(object, into: &effects)
        case .objectsReady(let requestID, let values):
            getFetched(requestID, values: values, into: &effects)
        case .objectsStored:
            break
        case .objectsRefused(_, let refused, let error):
            // A put past its job's quota in the node's store: nothing was kept, and gets of it
            // raise why (as a put past the owner's own quota does, only later).
            guard case .raylet(let node) = from else { return }
            for object in refused where object.isPut { putRefused(object, at: node, error, into: &effects) }
        case .locateObject(let object):
            guard case .raylet(let node) = from else { return }
            if isBorrowed(object) {
                locateBorrowed(object, for: node, into: &effects)
            } else {
                locate(object, for: node, into: &effects)
            }
        case .locationAdded(let object, let node):
            locationAdded(object, node: node, into: &effects)
        case .locationRemoved(let object, let node):
            if isBorrowed(object), let entry = borrowed[object] {
                // A raylet fetching it for this owner found no copy where this owner said (from
                // the object's owner): that owner corrects its directory. (Copies a raylet makes
                // are reported to the object's owner directly: the pushed bytes name it.)
                effects.append(.send(to: .worker(entry.owner), .locationRemoved(object, node: node)))
                return
            }
            locationRemoved(object, node: node, into: &effects)
        case .nodeDead(let node):
            nodeDied(node, into: &effects)
        case .cancelChildren(let task, let attempt, let force):
            cancelChildren(of: task, attempt: attempt, force: force, into: &effects)
        case .returnedReferences(let task, let attempt, let objects, let indices):
            guard case .worker(let worker) = from else { return }
            referencesReturned(task, attempt: attempt, objects: objects, indices: indices, by: worker, into: &effects)
        case .borrowerGet(let object):
            guard case .worker(let borrower) = from else { return }
            borrowerAsked(object, borrower: borrower, into: &effects)
        case .ownedValue(let object, let value):
            borrowedValueArrived(object, value, into: &effects)
        case .actorUpdate(let info):
            actorUpdated(info, into: &effects)
        case .actorFound(let name, let namespace, let info):
            if actors[info.actorID] == nil {
                actors[info.actorID] = CallerActor(info: nil, created: false, maxTaskRetries: info.maxTaskRetries,
                                                   detached: false, name: info.name)
            }
            actorUpdated(info, into: &effects)
            effects.append(.actorLookedUp(name: name, namespace: namespace, info.actorID))
        case .actorNotFound(let name, let namespace):
            effects.append(.actorLookedUp(name: name, namespace: namespace, nil))
        case .placementGroupUpdate(let info):
            placementGroupUpdated(info, into: &effects)
        case .objectLocation(let object, .at(let nodes)) where isBorrowed(object):
            borrowedIsStored(object, at: nodes, into: &effects)
        default:
            break  // Not an owner message.
        }
    }

    /// Whether `from` may send `message` to this owner (issue 12: each role speaks only for
    /// itself): what a raylet answers (leases, fetched values, new copies) only from a raylet, the
    /// GCS's news only from the GCS, a borrow released only by its borrower. (Replies of tasks
    /// and calls are matched to the worker running them where they are handled: a late reply
    /// from an earlier attempt's worker is legitimate there.)
    func senderMay(send message: Message, from: Address) -> Bool {
        switch message {
        case .leaseGranted, .leaseSpillback, .leaseUnschedulable, .yieldLease, .objectsReady, .locationAdded,
             .objectsRefused, .leaseRefused:
            if case .raylet = from { return true }
            return false
        case .actorUpdate, .actorFound, .actorNotFound, .placementGroupUpdate:
            return from == .gcs
        case .nodeDead:
            if case .worker = from { return false }
            return true
        case .borrowReleased(_, let borrower):
            return from == .worker(borrower)
        case .cancelChildren(let task, _, _):
            // Only the owner of a task this worker ran cancels what it submitted: knowing the
            // task's ID is not enough (issue 12: a job's workers cannot cancel another's tasks).
            switch taskOwners[task] {
            case .some(.some(let owner)): return from == .worker(owner)
            case .some(.none): return true  // Logged before owners were recorded (`taskStarted`).
            // Not begun here (a cancel that overtook its task's push) or long ago: it has no
            // children here to cancel (`cancelChildren` finds none).
            case .none: return true
            }
        default:
            return true
        }
    }

    /// Notes who owns `task`, which this worker began running (nil: not recorded); the last
    /// `taskOwnersKept` tasks or so are remembered.
    private mutating func startedFor(_ task: TaskID, owner: WorkerID?) {
        if taskOwners.count >= Self.taskOwnersKept { taskOwners.removeAll(keepingCapacity: true) }
        taskOwners[task] = .some(owner)
    }

    static let taskOwnersKept = 256

    // MARK: - Program API

    private mutating func put(_ data: ObjectData, at node: NodeID, into effects: inout [OwnerEffect]) {
        let object = ids.takePut()
        metrics.puts += 1
        var entry = ObjectEntry()
        entry.localRefs = 1
        if data.sizeBytes <= config.inlineObjectSizeBytesMax {
            entry.state = .inline(data)
        } else {
            entry.state = .stored(sizeBytes: data.sizeBytes)
            entry.storedSizeBytes = data.sizeBytes
            entry.locations = [node]
            requestCounter += 1
            // Another node's raylet cannot tell this owner's job: the store names it.
            let store: Message = node == localNode
                ? .storeObjects(requestID: requestCounter, objects: [object], values: [data], owner: workerID)
                : .storeRemoteObjects(requestID: requestCounter, objects: [object], values: [data], owner: workerID,
                                      job: identity.job)
            effects.append(.send(to: .raylet(node), store))
        }
        objects[object] = entry
    }

    /// Answers `count` gets of `object` (every get is answered exactly once, however many
    /// ask for the same object): at once, by joining or sending a fetch, or once it exists.
    private mutating func get(_ object: ObjectID, count: Int = 1, into effects: inout [OwnerEffect]) {
        if isBorrowed(object) {
            getBorrowed(object, count: count, into: &effects)
            return
        }
        guard let entry = objects[object], !entry.freed else {
            let error = RayError(.objectLost,
                "\(object) is not owned here or was already released; keep a handle until get returns")
            answer(count, gets: object, with: .error(error), into: &effects)
            return
        }
        switch entry.state {
        case .inline(let data):
            answer(count, gets: object, with: .data(data), into: &effects)
        case .failed(let error):
            answer(count, gets: object, with: .error(error), into: &effects)
        case .stored where hasLiveCopy(entry):
            fetchForGets(object, count: count, owner: workerID, into: &effects)
        case .stored, .pending:
            getWaiters[object, default: 0] += count
            if case .stored = entry.state { recover(object, into: &effects) }
        }
    }

    /// Answers `count` gets of a stored object by a fetch through the local raylet (on behalf of
    /// `owner`, this owner or the one it borrows from): the fetch already out, or a new one.
    mutating func fetchForGets(_ object: ObjectID, count: Int, owner: WorkerID, into effects: inout [OwnerEffect]) {
        if let open = openGetFetch[object] {
            getFetches[open]!.gets += count
            return
        }
        requestCounter += 1
        getFetches[requestCounter] = (object, count)
        openGetFetch[object] = requestCounter
        effects.append(.send(to: .raylet(localNode), .fetchObjects(requestID: requestCounter, objects: [object], owner: owner)))
    }

    /// Resolves `count` gets of `object` with `value`.
    func answer(_ count: Int, gets object: ObjectID, with value: ObjectValue, into effects: inout [OwnerEffect]) {
        for _ in 0..<count { effects.append(.getResolved(object, value)) }
    }

    private mutating func getFetched(_ requestID: UInt64, values: [ObjectValue], into effects: inout [OwnerEffect]) {
        guard let (object, count) = getFetches.removeValue(forKey: requestID) else { return }
        if openGetFetch[object] == requestID { openGetFetch[object] = nil }
        effects.append(.send(to: .raylet(localNode), .releaseFetch(requestID: requestID)))
        guard let value = values.first else {
            let error = RayError(.objectLost, "the local raylet answered the get of \(object) with no value")
            answer(count, gets: object, with: .error(error), into: &effects)
            return
        }
        if case .error(let error) = value, error.kind == .objectLost, objects[object].map({ !$0.freed }) ?? false {
            // The copy vanished under the fetch: ask again from the owner's current knowledge
            // (answers a failure at once, waits for a rebuild, or fetches a live copy).
            get(object, count: count, into: &effects)
            return
        }
        answer(count, gets: object, with: value, into: &effects)
    }

    /// Answers gets and raylets waiting for `object`, now that it exists (or failed).
    mutating func objectAvailable(_ object: ObjectID, into effects: inout [OwnerEffect]) {
        guard let entry = objects[object] else { return }
        // Most objects have nobody waiting: skip the lookups when a table is empty.
        if !dependents.isEmpty, let waiting = dependents.removeValue(forKey: object) {
            for task in waiting { argumentAvailable(task, into: &effects) }
        }
        if !getWaiters.isEmpty, let count = getWaiters.removeValue(forKey: object) { get(object, count: count, into: &effects) }
        if !borrowerWaiters.isEmpty { answerBorrowers(object, into: &effects) }
        if !actorsWaitingForArguments.isEmpty {
            for actor in actorsWaitingForArguments.sorted() { pushCalls(actor, into: &effects) }
        }
        if !pendingConstructors.isEmpty { constructorArgumentsChanged(into: &effects) }
        if !locationWaiters.isEmpty, let raylets = locationWaiters.removeValue(forKey: object) {
            let answer: LocationAnswer
            switch entry.state {
            case .failed(let error): answer = .failed(error)
            default: answer = .at(liveLocations(entry))
            }
            for node in raylets { effects.append(.send(to: .raylet(node), .objectLocation(object, answer))) }
        }
    }

    func hasLiveCopy(_ entry: ObjectEntry) -> Bool {
        entry.locations.contains { !deadNodes.contains($0) }
    }

    func liveLocations(_ entry: ObjectEntry) -> [NodeID] {
        entry.locations.filter { !deadNodes.contains($0) }
    }

    /// True when `object` is another owner's, borrowed here (never both owned and borrowed).
    func isBorrowed(_ object: ObjectID) -> Bool { borrowed[object] != nil && objects[object] == nil }

    /// True while an attempt of one of this owner's tasks runs on `worker`.
    public func isRunningTask(on worker: WorkerID) -> Bool { runningOn[worker] != nil }

    /// True when nothing is held: no tasks, objects, leases or waiters.
    public var isQuiescent: Bool {
        tasks.isEmpty && objects.isEmpty && runningOn.isEmpty && getWaiters.isEmpty && getFetches.isEmpty
            && dependents.isEmpty && borrowed.isEmpty && pendingReturned.isEmpty
    }
}
