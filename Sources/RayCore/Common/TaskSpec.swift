// A task specification: what an owner submits, keeps as lineage, and pushes
// to a leased worker. Mirrors Ray's TaskSpec (common.proto) for normal tasks.

/// How a lease request picks a node (ray.util.scheduling_strategies).
public enum SchedulingStrategy: Hashable, Codable, Sendable {
    /// Ray's hybrid policy: pack until the utilisation threshold, then spread.
    case `default`
    /// Spread across nodes.
    case spread
    /// Run on `node`; if it is dead or infeasible, `soft` falls back to the default policy.
    case nodeAffinity(node: NodeID, soft: Bool)
}

/// An argument of a task.
public enum TaskArg: Hashable, Codable, Sendable {
    /// A top-level reference: resolved to its value before the task runs.
    case reference(ObjectID)
    /// A value passed inline.
    case value(ObjectData)
    /// A reference inside an argument value: not resolved; the worker borrows it.
    case nestedReference(ObjectID)
}

/// The description of a normal task: enough to run it, and to run it again.
public struct TaskSpec: Hashable, Codable, Sendable {
    public var taskID: TaskID
    public var jobID: JobID
    /// The registered function name (for synthetic tasks, the scenario group name).
    public var function: String
    /// Instance index, for synthetic bodies (`load[3]` is index 3).
    public var instance: Int
    public var args: [TaskArg]
    public var returnCount: Int
    public var resources: ResourceSet
    public var strategy: SchedulingStrategy
    /// Retries on system failure (and reconstruction); -1 is infinite.
    public var maxRetries: Int
    /// Retry application errors too.
    public var retryExceptions: Bool
    /// Opaque body parameters the executor hands to the function (synthetic: duration, output size, failure plan).
    public var body: [Int64]
    /// The owner that submitted the task.
    public var owner: WorkerID

    public init(taskID: TaskID, jobID: JobID, function: String, instance: Int, args: [TaskArg],
                returnCount: Int, resources: ResourceSet, strategy: SchedulingStrategy,
                maxRetries: Int, retryExceptions: Bool, body: [Int64], owner: WorkerID) {
        self.taskID = taskID
        self.jobID = jobID
        self.function = function
        self.instance = instance
        self.args = args
        self.returnCount = returnCount
        self.resources = resources
        self.strategy = strategy
        self.maxRetries = maxRetries
        self.retryExceptions = retryExceptions
        self.body = body
        self.owner = owner
    }

    /// The IDs of this task's return objects.
    public var returnIDs: LazyMapSequence<ClosedRange<Int>, ObjectID> {
        // Lazy: computed on every use on hot paths, so it must not allocate.
        let task = taskID
        return (1...max(1, returnCount)).lazy.map { ObjectID.returnValue(of: task, index: UInt32($0)) }
    }

    /// Every object the arguments refer to (top-level and nested), without allocating.
    public var argumentObjects: LazyMapSequence<LazyFilterSequence<LazyMapSequence<[TaskArg], ObjectID?>>, ObjectID> {
        args.lazy.map { arg -> ObjectID? in
            switch arg {
            case .reference(let object), .nestedReference(let object): return object
            case .value: return nil
            }
        }.filter { $0 != nil }.map { $0! }
    }

    /// Rough in-memory size of this spec, for lineage accounting (Ray: "on the order of 1KB").
    public var approximateSizeBytes: Int {
        128 + function.utf8.count + args.count * 24 + body.count * 8 + resources.entries.count * 24
    }
}
