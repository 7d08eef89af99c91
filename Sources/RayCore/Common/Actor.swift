// Actors as data: their ID, options, creation spec and the state the GCS's
// actor manager publishes (Ray's gcs.proto ActorTableData, reduced). An actor
// is a dedicated worker process that runs its constructor once per
// incarnation, then its method calls one at a time, each caller's calls in the
// order they were submitted (sequence numbers, as Ray's actor task submitter).

/// An actor: named by the task that created it, as Ray derives an ActorID from its creation task.
public struct ActorID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var creationTask: TaskID
    public init(creationTask: TaskID) { self.creationTask = creationTask }

    /// The object that stands for the actor's handles in its owner's reference counts (Ray
    /// counts actor handles through the creation task's return): when nothing holds it, the
    /// actor is out of scope and destroyed (unless detached).
    public var handle: ObjectID { .returnValue(of: creationTask, index: 1) }

    public static func < (lhs: ActorID, rhs: ActorID) -> Bool { lhs.creationTask < rhs.creationTask }
    public var description: String { "actor-" + hex16(creationTask.value) }
}

/// How an actor is created and kept (Ray's `.options` for actors).
public struct ActorOptions: Hashable, Codable, Sendable {
    /// Restarts after its process dies (constructor re-run, state lost); -1 is infinite.
    public var maxRestarts: Int
    /// Retries of a method call whose actor died with it in flight; 0 is at-most-once, -1 infinite.
    public var maxTaskRetries: Int
    /// Calls that may run at once (1: one at a time, in each caller's order).
    public var maxConcurrency: Int
    /// A name unique in its namespace ("" for none): `Ray.getActor(name:)` finds it.
    public var name: String
    public var namespace: String
    /// Outlives its owner: destroyed only by `kill` (or the cluster's end).
    public var detached: Bool

    public init(maxRestarts: Int = 0, maxTaskRetries: Int = 0, maxConcurrency: Int = 1, name: String = "",
                namespace: String = "", detached: Bool = false) {
        self.maxRestarts = maxRestarts
        self.maxTaskRetries = maxTaskRetries
        self.maxConcurrency = maxConcurrency
        self.name = name
        self.namespace = namespace
        self.detached = detached
    }
}

/// What the GCS registers: the creation task (its function is the actor's class; its resources
/// are held by the actor's worker for its whole life) and the options.
public struct ActorSpec: Hashable, Codable, Sendable {
    public var creation: TaskSpec
    public var options: ActorOptions
    /// False while an argument of the constructor is still being made: the GCS keeps the actor
    /// in DEPENDENCIES_UNREADY until its owner sends `actorDependenciesReady`.
    public var dependenciesReady: Bool
    public init(creation: TaskSpec, options: ActorOptions, dependenciesReady: Bool = true) {
        self.creation = creation
        self.options = options
        self.dependenciesReady = dependenciesReady
    }

    public var actorID: ActorID { ActorID(creationTask: creation.taskID) }
    /// `Counter[0]`: the class and the instance.
    public var displayName: String { "\(creation.function)[\(creation.instance)]" }
}

/// An actor's lifecycle in the GCS (Ray's ActorTableData.ActorState).
public enum ActorState: String, Hashable, Codable, Sendable, CaseIterable {
    case dependenciesUnready = "DEPENDENCIES_UNREADY"
    case pendingCreation = "PENDING_CREATION"
    case alive = "ALIVE"
    case restarting = "RESTARTING"
    case dead = "DEAD"
}

/// One actor as the GCS publishes it to the processes that hold handles.
public struct ActorInfo: Hashable, Codable, Sendable {
    public var actorID: ActorID
    public var state: ActorState
    /// The worker running the current incarnation (meaningful when alive).
    public var worker: WorkerID
    /// 0 for the first incarnation, +1 per restart.
    public var incarnation: Int
    /// Why it is dead, or why it last restarted ("" when neither).
    public var cause: String
    /// Method-call retries, for callers that got the handle from someone else.
    public var maxTaskRetries: Int
    /// `Counter[0]`.
    public var name: String
    /// The kind of error its death is, a `RayErrorKind` raw value ("": ActorDied; "QuotaExceeded":
    /// refused over its job's quota).
    public var causeKind: String

    public init(actorID: ActorID, state: ActorState, worker: WorkerID, incarnation: Int, cause: String,
                maxTaskRetries: Int, name: String, causeKind: String = "") {
        self.causeKind = causeKind
        self.actorID = actorID
        self.state = state
        self.worker = worker
        self.incarnation = incarnation
        self.cause = cause
        self.maxTaskRetries = maxTaskRetries
        self.name = name
    }
}

/// Which call an actor worker runs: the constructor (`call` 0) or the `call`-th method call of
/// this incarnation (from 1; a synthetic actor returns it, so a checker sees order and restarts).
public struct ActorTask: Hashable, Codable, Sendable {
    public var actor: ActorID
    public var incarnation: Int
    public var call: Int
    public init(actor: ActorID, incarnation: Int, call: Int) {
        self.actor = actor
        self.incarnation = incarnation
        self.call = call
    }

    /// The value a synthetic actor's method returns: its incarnation and call number, which the
    /// scenario checkers read back (per-caller order, restart counts).
    public var syntheticDigest: UInt64 { UInt64(incarnation) << 32 | UInt64(call) }
}
