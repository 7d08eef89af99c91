// The scenario model: one YAML file under Scenarios/ describes a cluster, a
// workload, a fault plan and what must hold at the end (../SCENARIOS.md).
// The loader (ScenarioLoader) turns YAML into these values and validates every
// key; the simulator and, later, the real runner consume them.
//
// Invariants once loaded: node names are unique and `count` is expanded
// (worker-1, worker-2, ...); exactly one node is the head; every reference
// names an existing put, task group, node or actor; `workload.tasks` is in a
// valid submission order (a group comes after every group its args name);
// sizes and durations are non-negative integers (bytes, microseconds);
// resources are integer milli-units.

public import RayCore

/// A whole scenario file, validated.
public struct Scenario: Sendable, Equatable {
    /// `name`: unique scenario name.
    public var name: String
    /// `description`: what the scenario proves.
    public var description: String
    /// `seed`: default seed (`--seed` overrides).
    public var seed: UInt64?
    /// `cluster:` nodes, GCS options and the simulated network.
    public var cluster: ClusterSpec
    /// `workload:` what the driver submits and gets.
    public var workload: WorkloadSpec
    /// `faults:` in file order (not sorted by trigger time).
    public var faults: [FaultSpec]
    /// `expect:` what must hold at the end.
    public var expect: ExpectSpec
    /// The file it came from (for messages and reproduction commands).
    public var sourcePath: String
    /// `jobs:` (an added key) other drivers, each its own job, beside the workload's (job 1).
    public var jobs: [JobSpec]

    /// Builds a scenario from already validated parts.
    public init(name: String, description: String, seed: UInt64?, cluster: ClusterSpec,
                workload: WorkloadSpec, faults: [FaultSpec], expect: ExpectSpec, sourcePath: String,
                jobs: [JobSpec] = []) {
        self.name = name
        self.description = description
        self.seed = seed
        self.cluster = cluster
        self.workload = workload
        self.faults = faults
        self.expect = expect
        self.sourcePath = sourcePath
        self.jobs = jobs
    }

    /// Job `index` of `jobs:` as a scenario of its own: the same cluster, its workload and its
    /// expectations, no faults (the fault plan is the main program's), leaks checked once by
    /// the whole run.
    public func jobScenario(_ index: Int) -> Scenario {
        let job = jobs[index]
        var expect = job.expect
        expect.maxSimTimeMicros = self.expect.maxSimTimeMicros
        expect.maxWallTimeMicros = self.expect.maxWallTimeMicros
        expect.checkLeaks = false
        return Scenario(name: "\(name)/\(job.name)", description: description, seed: seed, cluster: cluster,
                        workload: job.workload, faults: [], expect: expect, sourcePath: sourcePath)
    }
}

/// `jobs:` entry — another driver, with its own job, running its own workload beside the
/// scenario's program (fair share, quotas and abuse: one job must not starve another).
public struct JobSpec: Sendable, Equatable {
    /// Unique among jobs (its task, put and actor names are unique across the whole scenario).
    public var name: String
    /// `start`: when its driver starts, since the workload started. Default 0.
    public var startMicros: Int64
    /// `workload:` the same keys as the scenario's.
    public var workload: WorkloadSpec
    /// `expect:` `results` and `finish_within` only.
    public var expect: ExpectSpec

    /// Builds a job spec.
    public init(name: String, startMicros: Int64, workload: WorkloadSpec, expect: ExpectSpec) {
        self.name = name
        self.startMicros = startMicros
        self.workload = workload
        self.expect = expect
    }
}

/// `cluster:`
public struct ClusterSpec: Sendable, Equatable {
    /// `gcs.persistent`: the GCS logs to LMDB and `restart_gcs` recovers from it. Default true.
    public var gcsPersistent: Bool
    /// `nodes:` with `count` expanded; the head is among them.
    public var nodes: [NodeSpec]
    /// `network:` (simulator only).
    public var network: NetworkSpec
    /// `quotas:` (an added key) per-job limits, in both worlds.
    public var quotas = QuotaSpec()

    /// Builds a cluster spec.
    public init(gcsPersistent: Bool, nodes: [NodeSpec], network: NetworkSpec) {
        self.gcsPersistent = gcsPersistent
        self.nodes = nodes
        self.network = network
    }
}

/// `quotas:` — the cluster's per-job quotas (`RayConfig`; a real cluster's processes get them
/// as `SWIFTRAY_ACTORS_PER_JOB_HARD` and `_SOFT`). Nil: the default.
public struct QuotaSpec: Sendable, Equatable {
    /// `actors_per_job`: live actors a job may hold; creations beyond are refused (QuotaExceeded).
    public var actorsPerJob: Int?
    /// `actors_per_job_soft`: beyond it creations are accepted and counted (warned of).
    public var actorsPerJobSoft: Int?
    /// `actor_creations_per_second`: a job's creations beyond this rate wait.
    public var actorCreationsPerSecond: Int?
    /// `actor_creations_delayed`: past this many waiting, a job's creations are refused (QuotaExceeded).
    public var actorCreationsDelayed: Int?
    /// `max_object_bytes`: the largest object a program may make (default: the store's capacity of
    /// the node where it is made); larger puts and return values are refused (ObjectTooLarge).
    public var maxObjectBytes: Int64?
    /// `owned_objects`: objects one owner (a job's driver, or a worker's owner) may hold; its puts
    /// beyond are refused (QuotaExceeded). `owned_objects_soft`: beyond it puts are counted.
    public var ownedObjects: Int?
    public var ownedObjectsSoft: Int?
    /// `lease_requests_per_owner`: lease requests one owner has out at raylets at once.
    public var leaseRequestsPerOwner: Int?
    /// `placement_groups_per_job`: groups (not removed) a job may hold; creations beyond are
    /// refused (QuotaExceeded). `placement_groups_per_job_soft`: beyond it creations are counted.
    public var placementGroupsPerJob: Int?
    public var placementGroupsPerJobSoft: Int?
    /// `workers_per_job`: task workers one job may have on a node; past it its lease requests wait.
    public var workersPerJob: Int?
    /// `store_bytes_per_job`: bytes of objects one job may keep in a node's object store (in
    /// memory or spilled); stores beyond are refused (QuotaExceeded). `store_bytes_per_job_soft`:
    /// beyond it stores are counted.
    public var storeBytesPerJob: Int64?
    public var storeBytesPerJobSoft: Int64?
    /// `placement_group_creations_per_second`: a job's group creations beyond this rate wait.
    /// `placement_group_creations_delayed`: past this many waiting, its creations are refused.
    public var placementGroupCreationsPerSecond: Int?
    public var placementGroupCreationsDelayed: Int?
    /// `lease_requests_per_second`: lease requests a job's processes may send one raylet per
    /// second; beyond, the raylet delays them. `lease_requests_delayed`: past this many delayed
    /// at a raylet, a job's requests are refused (their tasks fail with QuotaExceeded).
    public var leaseRequestsPerSecond: Int?
    public var leaseRequestsDelayed: Int?
    /// `lease_requests_queued`: a job's requests a raylet keeps queued for resources or a worker;
    /// past it the job's new requests are delayed (slowed down) until its queue drains.
    public var leaseRequestsQueued: Int?
    /// `object_requests_per_second`: fetches and stores a job's processes may send one raylet per
    /// second; beyond, the raylet delays them. `object_requests_delayed`: past this many delayed
    /// at a raylet, a job's fetches and stores are refused (QuotaExceeded).
    public var objectRequestsPerSecond: Int?
    public var objectRequestsDelayed: Int?

    public init() {}

    /// The object size limit on a node whose store holds `storeBytes` (`RayConfig.forNode`).
    public func objectSizeLimit(storeBytes: Int64) -> Int64 { maxObjectBytes ?? storeBytes }

    /// Applies the quotas to a configuration.
    public func apply(to config: inout RayConfig) {
        if let actorsPerJob { config.actorsPerJobHardMax = actorsPerJob }
        if let actorsPerJobSoft { config.actorsPerJobSoftMax = actorsPerJobSoft }
        if let actorCreationsPerSecond { config.actorCreationsPerSecondMax = actorCreationsPerSecond }
        if let actorCreationsDelayed { config.actorCreationsDelayedMax = actorCreationsDelayed }
        if let maxObjectBytes { config.objectSizeBytesMax = maxObjectBytes }
        if let ownedObjects { config.ownedObjectsHardMax = ownedObjects }
        if let ownedObjectsSoft { config.ownedObjectsSoftMax = ownedObjectsSoft }
        if let leaseRequestsPerOwner { config.leaseRequestsPerOwnerMax = leaseRequestsPerOwner }
        if let placementGroupsPerJob { config.placementGroupsPerJobHardMax = placementGroupsPerJob }
        if let placementGroupsPerJobSoft { config.placementGroupsPerJobSoftMax = placementGroupsPerJobSoft }
        if let workersPerJob { config.workersPerJobMax = workersPerJob }
        if let storeBytesPerJob { config.storeBytesPerJobHardMax = storeBytesPerJob }
        if let storeBytesPerJobSoft { config.storeBytesPerJobSoftMax = storeBytesPerJobSoft }
        if let placementGroupCreationsPerSecond { config.placementGroupCreationsPerSecondMax = placementGroupCreationsPerSecond }
        if let placementGroupCreationsDelayed { config.placementGroupCreationsDelayedMax = placementGroupCreationsDelayed }
        if let leaseRequestsPerSecond { config.leaseRequestsPerSecondPerJobMax = leaseRequestsPerSecond }
        if let leaseRequestsDelayed { config.leaseRequestsDelayedPerJobMax = leaseRequestsDelayed }
        if let leaseRequestsQueued { config.leaseRequestsQueuedPerJobMax = leaseRequestsQueued }
        if let objectRequestsPerSecond { config.objectRequestsPerSecondPerJobMax = objectRequestsPerSecond }
        if let objectRequestsDelayed { config.objectRequestsDelayedPerJobMax = objectRequestsDelayed }
    }

    /// The settings a real cluster's processes read (`Roles.applyConfigOverrides`).
    public var environment: [String] {
        var settings: [String] = []
        if let actorsPerJob { settings.append("SWIFTRAY_ACTORS_PER_JOB_HARD=\(actorsPerJob)") }
        if let actorsPerJobSoft { settings.append("SWIFTRAY_ACTORS_PER_JOB_SOFT=\(actorsPerJobSoft)") }
        if let actorCreationsPerSecond { settings.append("SWIFTRAY_ACTOR_CREATIONS_PER_SECOND=\(actorCreationsPerSecond)") }
        if let actorCreationsDelayed { settings.append("SWIFTRAY_ACTOR_CREATIONS_DELAYED=\(actorCreationsDelayed)") }
        if let maxObjectBytes { settings.append("SWIFTRAY_MAX_OBJECT_BYTES=\(maxObjectBytes)") }
        if let ownedObjects { settings.append("SWIFTRAY_OWNED_OBJECTS_HARD=\(ownedObjects)") }
        if let ownedObjectsSoft { settings.append("SWIFTRAY_OWNED_OBJECTS_SOFT=\(ownedObjectsSoft)") }
        if let leaseRequestsPerOwner { settings.append("SWIFTRAY_LEASE_REQUESTS_PER_OWNER=\(leaseRequestsPerOwner)") }
        if let placementGroupsPerJob { settings.append("SWIFTRAY_PLACEMENT_GROUPS_PER_JOB_HARD=\(placementGroupsPerJob)") }
        if let placementGroupsPerJobSoft {
            settings.append("SWIFTRAY_PLACEMENT_GROUPS_PER_JOB_SOFT=\(placementGroupsPerJobSoft)")
        }
        if let workersPerJob { settings.append("SWIFTRAY_WORKERS_PER_JOB=\(workersPerJob)") }
        if let storeBytesPerJob { settings.append("SWIFTRAY_STORE_BYTES_PER_JOB_HARD=\(storeBytesPerJob)") }
        if let storeBytesPerJobSoft { settings.append("SWIFTRAY_STORE_BYTES_PER_JOB_SOFT=\(storeBytesPerJobSoft)") }
        if let placementGroupCreationsPerSecond {
            settings.append("SWIFTRAY_PLACEMENT_GROUP_CREATIONS_PER_SECOND=\(placementGroupCreationsPerSecond)")
        }
        if let placementGroupCreationsDelayed {
            settings.append("SWIFTRAY_PLACEMENT_GROUP_CREATIONS_DELAYED=\(placementGroupCreationsDelayed)")
        }
        if let leaseRequestsPerSecond { settings.append("SWIFTRAY_LEASE_REQUESTS_PER_SECOND=\(leaseRequestsPerSecond)") }
        if let leaseRequestsDelayed { settings.append("SWIFTRAY_LEASE_REQUESTS_DELAYED=\(leaseRequestsDelayed)") }
        if let leaseRequestsQueued { settings.append("SWIFTRAY_LEASE_REQUESTS_QUEUED=\(leaseRequestsQueued)") }
        if let objectRequestsPerSecond { settings.append("SWIFTRAY_OBJECT_REQUESTS_PER_SECOND=\(objectRequestsPerSecond)") }
        if let objectRequestsDelayed { settings.append("SWIFTRAY_OBJECT_REQUESTS_DELAYED=\(objectRequestsDelayed)") }
        return settings
    }
}

/// One node of the cluster (after `count` expansion).
public struct NodeSpec: Sendable, Equatable {
    /// Unique node name (`worker-1` after `count` expansion).
    public var name: String
    /// True for the one node that runs the GCS and the driver.
    public var head: Bool
    /// Resources in milli-units (`{CPU: 2}` is CPU = 2000). Default {CPU: 1}.
    public var resources: ResourceSet
    /// `object_store`: capacity in bytes. Default 128 MiB.
    public var objectStoreBytes: Int64

    /// Default object store capacity: 128 MiB.
    public static let objectStoreBytesDefault: Int64 = 128 << 20

    /// Builds a node spec.
    public init(name: String, head: Bool, resources: ResourceSet, objectStoreBytes: Int64) {
        self.name = name
        self.head = head
        self.resources = resources
        self.objectStoreBytes = objectStoreBytes
    }
}

/// `network:` — simulated one-way latency and its jitter.
public struct NetworkSpec: Sendable, Equatable {
    /// `latency`: one-way delay of every message, in microseconds.
    public var latencyMicros: Int64
    /// `jitter`: extra random delay up to this bound, in microseconds.
    public var jitterMicros: Int64
    /// 500 us latency, 100 us jitter.
    public static let `default` = NetworkSpec(latencyMicros: 500, jitterMicros: 100)

    /// Builds a network spec.
    public init(latencyMicros: Int64, jitterMicros: Int64) {
        self.latencyMicros = latencyMicros
        self.jitterMicros = jitterMicros
    }
}

/// `workload:`
public struct WorkloadSpec: Sendable, Equatable {
    /// `puts:` objects the driver creates first.
    public var puts: [PutSpec]
    /// Task groups in a valid submission order (dependencies first).
    public var tasks: [TaskGroupSpec]
    /// `actors:` actor groups.
    public var actors: [ActorSpec]
    /// `placement_groups:` gangs of resource bundles.
    public var placementGroups: [PlacementGroupEntry]
    /// `get:` what the driver gets and verifies at the end.
    public var get: [RefPattern]

    /// Builds a workload spec.
    public init(puts: [PutSpec], tasks: [TaskGroupSpec], actors: [ActorSpec],
                placementGroups: [PlacementGroupEntry], get: [RefPattern]) {
        self.puts = puts
        self.tasks = tasks
        self.actors = actors
        self.placementGroups = placementGroups
        self.get = get
    }
}

/// `puts:` entry — an object the driver creates with `put`.
public struct PutSpec: Sendable, Equatable {
    /// Unique among puts, task groups, actors and placement groups.
    public var name: String
    /// `size`: the object's size in bytes.
    public var sizeBytes: Int64
    /// `node` (an added key): the object is put by a process on this node on
    /// the driver's behalf (Ray's `ray.put(value, _owner=driver)`), so its
    /// primary copy lives there. Default: the driver's own node (the head).
    public var node: String?
    /// `count` (an added key): this many objects of that size (`name[0]` ... `name[count-1]`). Default 1.
    public var count: Int
    /// Builds a put spec.
    public init(name: String, sizeBytes: Int64, node: String? = nil, count: Int = 1) {
        self.name = name
        self.sizeBytes = sizeBytes
        self.node = node
        self.count = count
    }
}

/// `tasks:` entry — `count` instances of one synthetic task body.
public struct TaskGroupSpec: Sendable, Equatable {
    /// Unique among puts, task groups, actors and placement groups.
    public var name: String
    /// Default 1.
    public var count: Int
    /// Default 0.
    public var durationMicros: Int64
    /// Default 8 B.
    public var outputBytes: Int64
    /// Default {CPU: 1}.
    public var resources: ResourceSet
    /// Default 3, as in Ray; -1 is infinite.
    public var maxRetries: Int
    /// `strategy:` where instances may run. Default `.default`.
    public var strategy: StrategySpec
    /// `args:` references, resolved per instance.
    public var args: [RefPattern]
    /// `nested_args` (an added key): references passed *inside* an argument, as
    /// `f.remote([ref])` does in Ray — not resolved before the task runs; the
    /// worker receives the reference and becomes a borrower of the object.
    public var nestedArgs: [RefPattern] = []
    /// `hold` (an added key): how long the body keeps its borrowed references
    /// after it returns (the worker stays a borrower that long). Default 0.
    public var holdMicros: Int64 = 0
    /// `fail:` how attempts fail; nil means they never fail on purpose.
    public var fail: FailSpec?
    /// Default false.
    public var retryExceptions: Bool
    /// `placement_group:` the bundle each instance runs in.
    public var placementGroup: PlacementGroupRef?
    /// `children:` the tasks each instance's body submits (Ray's nested tasks): the worker that
    /// runs the instance owns them.
    public var children: ChildrenSpec?
    /// `nested: true`: submitted only by a parent's body, never by the driver; `count` is derived
    /// (the parents' count × `children.count`), numbered across parents in order.
    public var nested = false

    /// Builds a task group; the defaults are the file format's.
    public init(name: String, count: Int = 1, durationMicros: Int64 = 0, outputBytes: Int64 = 8,
                resources: ResourceSet = ResourceSet(["CPU": 1000]), maxRetries: Int = 3,
                strategy: StrategySpec = .default, args: [RefPattern] = [], fail: FailSpec? = nil,
                retryExceptions: Bool = false, placementGroup: PlacementGroupRef? = nil) {
        self.name = name
        self.count = count
        self.durationMicros = durationMicros
        self.outputBytes = outputBytes
        self.resources = resources
        self.maxRetries = maxRetries
        self.strategy = strategy
        self.args = args
        self.fail = fail
        self.retryExceptions = retryExceptions
        self.placementGroup = placementGroup
    }
}

/// `children:` — what a parent task's body submits (SCENARIOS.md, "Nested tasks").
public struct ChildrenSpec: Sendable, Equatable {
    /// The `nested: true` group the children belong to.
    public var task: String
    /// Children per parent instance.
    public var count: Int
    /// The body gets every child's value before it returns (its output then depends on theirs).
    public var get: Bool
    /// The body returns its children's references (the driver borrows worker-owned objects).
    public var returnRefs: Bool

    public init(task: String, count: Int, get: Bool = false, returnRefs: Bool = false) {
        self.task = task
        self.count = count
        self.get = get
        self.returnRefs = returnRefs
    }
}

/// `strategy:` — default | spread | {node: NAME, soft: BOOL}.
public enum StrategySpec: Sendable, Equatable {
    /// Ray's hybrid policy: pack locally until busy, then spread.
    case `default`
    /// Spread instances across nodes.
    case spread
    /// Run on `node`; when `soft`, fall back to others if it is dead or full.
    case nodeAffinity(node: String, soft: Bool)
}

/// `fail:` — how a synthetic body fails.
public struct FailSpec: Sendable, Equatable {
    /// `kind:` what a failing attempt does. Default exception.
    public enum Kind: String, Sendable, Equatable {
        /// The body raises an application error (TaskFailed unless retried).
        case exception
        /// The worker process dies while running the body (WorkerCrashed).
        case crash
    }
    /// `probability`: each attempt fails with this chance (0...1).
    public var probability: Double?
    /// `attempts`: the first N attempts of each instance fail (an added key).
    public var attempts: Int?
    /// `kind`: default `.exception`.
    public var kind: Kind

    /// Builds a fail spec; at least one of probability and attempts is set.
    public init(probability: Double?, attempts: Int?, kind: Kind) {
        self.probability = probability
        self.attempts = attempts
        self.kind = kind
    }
}

/// `placement_group: {name: gang, bundle: i}`.
public struct PlacementGroupRef: Sendable, Equatable {
    /// `bundle:` a fixed index or `i`.
    public enum Bundle: Sendable, Equatable {
        /// Every instance uses this bundle.
        case index(Int)
        /// Instance `i` uses bundle `i`.
        case instance
        /// Any bundle of the group (no `bundle:`; Ray's index -1).
        case any

        /// The bundle index instance `i` asks for (nil: any).
        public func index(forInstance instance: Int) -> Int? {
            switch self {
            case .index(let index): return index
            case .instance: return instance
            case .any: return nil
            }
        }
    }
    /// A declared placement group.
    public var name: String
    /// Which bundle each instance uses.
    public var bundle: Bundle
    /// Builds a placement group reference.
    public init(name: String, bundle: Bundle) {
        self.name = name
        self.bundle = bundle
    }
}

/// `actors:` entry: `count` actors, each called `calls` times by the driver (and by `callers` - 1 tasks).
public struct ActorSpec: Sendable, Equatable {
    /// Unique among puts, task groups, actors and placement groups.
    public var name: String
    /// Actors `name[0]` ... Default 1.
    public var count: Int
    /// Milli-units; default {CPU: 1}.
    public var resources: ResourceSet
    /// `max_restarts`: default 0, as in Ray; -1 is infinite.
    public var maxRestarts: Int
    /// `max_task_retries`: default 0, as in Ray; -1 is infinite.
    public var maxTaskRetries: Int
    /// Method calls the driver makes to each actor, in order. Default 1.
    public var calls: Int
    /// `duration` (an added key): how long each synthetic call runs. Default 1ms.
    public var callMicros: Int64
    /// `detached`: outlives its creator (named `counter[0]` in namespace "scenario").
    public var detached = false
    /// `max_concurrency`: calls that may run at once (above 1, their order is not checked).
    public var maxConcurrency = 1
    /// `callers`: the driver, plus callers-1 tasks that receive the handle and make `calls` calls.
    public var callers = 1
    /// `placement_group:` the bundle each actor is created in (`i`: actor `i` in bundle `i`).
    public var placementGroup: PlacementGroupRef?
    /// `args:` what each actor's constructor takes (puts and driver-submitted task outputs): the
    /// actor waits for them (DEPENDENCIES_UNREADY), its creator holds them while it lives, and a
    /// restart reads them again (rebuilt from lineage if their copies were lost).
    public var args: [RefPattern] = []
    /// Builds an actor spec.
    public init(name: String, count: Int, resources: ResourceSet, maxRestarts: Int,
                maxTaskRetries: Int, calls: Int, callMicros: Int64 = 1_000) {
        self.callMicros = callMicros
        self.name = name
        self.count = count
        self.resources = resources
        self.maxRestarts = maxRestarts
        self.maxTaskRetries = maxTaskRetries
        self.calls = calls
    }
}

/// `placement_groups:` entry: a group the program creates before anything else (as a Ray
/// program's `placement_group(...)` at its start) and removes when it ends.
public struct PlacementGroupEntry: Sendable, Equatable {
    /// Unique among puts, task groups, actors and placement groups.
    public var name: String
    /// `strategy:` as in Ray (PACK, SPREAD, STRICT_PACK, STRICT_SPREAD). Default PACK.
    public var strategy: PlacementStrategy
    /// `bundles:` one resource set per bundle, at least one.
    public var bundles: [ResourceSet]
    /// `count:` how many such groups (default 1). Above 1 they are `name[0]` ... `name[count-1]`,
    /// created in that order, and instance i of what runs in `name` runs in `name[i]`.
    public var count: Int
    /// Builds a placement group entry.
    public init(name: String, strategy: PlacementStrategy, bundles: [ResourceSet], count: Int = 1) {
        self.name = name
        self.strategy = strategy
        self.bundles = bundles
        self.count = count
    }

    /// The name of each group this entry makes (`name`, or `name[k]` when counted).
    public var instanceNames: [String] { count == 1 ? [name] : (0..<count).map { "\(name)[\($0)]" } }
}

/// A reference as written in `args`, `get`, `after`, `holding`, `running`.
public enum RefPattern: Sendable, Equatable, CustomStringConvertible {
    /// `"load[3]"`
    case instance(name: String, index: Int)
    /// `"load[*]"`
    case all(name: String)
    /// `"step[i-1]"`, `"load[i]"`: relative to the instance being defined (offset may be negative).
    case relative(name: String, offset: Int)
    /// `"weights"`: a put object, or a task group with one instance.
    case bare(name: String)

    /// The group, put or actor referred to.
    public var name: String {
        switch self {
        case .instance(let name, _), .all(let name), .relative(let name, _), .bare(let name): return name
        }
    }

    /// The reference as written in a file.
    public var description: String {
        switch self {
        case .instance(let name, let index): return "\(name)[\(index)]"
        case .all(let name): return "\(name)[*]"
        case .relative(let name, let offset):
            return offset == 0 ? "\(name)[i]" : offset > 0 ? "\(name)[i+\(offset)]" : "\(name)[i\(offset)]"
        case .bare(let name): return name
        }
    }
}

/// One `faults:` entry.
public struct FaultSpec: Sendable, Equatable {
    /// `at:` a time, or `after:` a reference.
    public enum Trigger: Sendable, Equatable {
        /// `at: 150ms` — microseconds since the workload started.
        case at(micros: Int64)
        /// `after: "load[*]"` — once these instances have finished.
        case after(RefPattern)
    }
    /// When the fault fires.
    public var trigger: Trigger
    /// What it does.
    public var action: FaultAction
    /// Builds a fault spec.
    public init(trigger: Trigger, action: FaultAction) {
        self.trigger = trigger
        self.action = action
    }
}

/// What a fault does.
public enum FaultAction: Sendable, Equatable {
    /// `kill_node:` a node name or `{holding: REF}`.
    public enum NodeTarget: Sendable, Equatable {
        /// The node with this name.
        case named(String)
        /// `{holding: "load[0]"}` — the node holding that object's primary copy (or hosting that actor).
        case holding(RefPattern)
        /// `{running: "shard[1]"}` — the node where a worker runs that instance now.
        case running(RefPattern)
        /// `{bundle: "gang[1]"}` — the node that holds bundle `index` of placement group `group`.
        case bundle(group: String, index: Int)
    }
    /// `kill_node:` kill the node (SIGKILL for the real runner).
    case killNode(NodeTarget)
    /// Kill, then the same shape rejoins as a new node.
    case restartNode(String)
    /// `add_node:` a new non-head node joins.
    case addNode(NodeSpec)
    /// `{running: "step[*]"}` — a worker running one of these.
    case killWorker(running: RefPattern)
    /// `{owner_of: "leaf[0]"}` — the worker process that owns that object (a nested instance
    /// whose parent returns its children's references: the parent's worker).
    case killWorkerOwning(RefPattern)
    /// `restart_gcs: {}` kill the GCS; it restarts from its log.
    case restartGCS
    /// `partition:` no messages between groups for the duration.
    case partition(groups: [[String]], durationMicros: Int64)
    /// `kill_actor:` kill the actor; `noRestart` forbids restarting it.
    case killActor(actor: RefPattern, noRestart: Bool)
    /// `kill_driver: {}` the driver (owner of everything) dies.
    case killDriver
    /// `cancel: {refs: "slow[*]", force: false, recursive: true}` the driver cancels those tasks
    /// (`ray.cancel`): one not started fails with Cancelled, a running one only with `force` (its
    /// worker is killed), a finished one is left alone; `recursive` (the default, as Ray's): what
    /// a running one submitted is cancelled too. A program's call, timed like the faults.
    case cancel(RefPattern, force: Bool, recursive: Bool)
    /// `wait: {refs: "t[*]", num_returns: 2, timeout: 100ms}` the driver waits (`ray.wait`) until
    /// `num_returns` of them are ready or the timeout passes (none: no bound); the run checks
    /// Ray's contract on the answer.
    case wait(RefPattern, numReturns: Int, timeoutMicros: Int64?)
    /// `remove_placement_group: {name: gang}` the driver removes that group (what runs in it is
    /// killed; its tasks not finished fail with PlacementGroupUnschedulable).
    case removePlacementGroup(String)
}

/// `expect:`
public struct ExpectSpec: Sendable, Equatable {
    /// An expected result for one reference.
    public enum Outcome: Sendable, Equatable {
        /// Every get of it returns the value.
        case ok
        /// Gets may fail only with this kind.
        case error(RayErrorKind)
    }
    /// `results:` in file order.
    public var results: [(RefPattern, Outcome)]
    /// `reconstructions:` bound on lineage reconstructions.
    public var reconstructions: Comparison?
    /// `retries:` bound on task retries.
    public var retries: Comparison?
    /// `spilled` (an added key): objects spilled to disk, over all nodes.
    public var spilled: Comparison?
    /// `spillbacks` (an added key): lease requests sent on to another node.
    public var spillbacks: Comparison?
    /// Default 60 s.
    public var maxSimTimeMicros: Int64
    /// Default 120 s.
    public var maxWallTimeMicros: Int64
    /// `leaks: none` (default) checks for leaks; `leaks: allowed` skips the check.
    public var checkLeaks: Bool
    /// `finish_within` (an added key): every get of the program returns within this long of
    /// its start (a bound on each get's latency, so on its p99), in both worlds.
    public var finishWithinMicros: Int64?

    /// Builds an expect spec.
    public init(results: [(RefPattern, Outcome)], reconstructions: Comparison?, retries: Comparison?,
                maxSimTimeMicros: Int64, maxWallTimeMicros: Int64, checkLeaks: Bool) {
        self.results = results
        self.reconstructions = reconstructions
        self.retries = retries
        self.maxSimTimeMicros = maxSimTimeMicros
        self.maxWallTimeMicros = maxWallTimeMicros
        self.checkLeaks = checkLeaks
    }

    /// Equal when every field is (results compared in order).
    public static func == (lhs: ExpectSpec, rhs: ExpectSpec) -> Bool {
        lhs.results.count == rhs.results.count
            && zip(lhs.results, rhs.results).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            && lhs.reconstructions == rhs.reconstructions && lhs.retries == rhs.retries
            && lhs.spilled == rhs.spilled && lhs.spillbacks == rhs.spillbacks
            && lhs.maxSimTimeMicros == rhs.maxSimTimeMicros && lhs.maxWallTimeMicros == rhs.maxWallTimeMicros
            && lhs.checkLeaks == rhs.checkLeaks && lhs.finishWithinMicros == rhs.finishWithinMicros
    }
}

/// `">= 1"`, `"== 0"`, `"< 5"`; a bare integer means `==`.
public struct Comparison: Sendable, Equatable, CustomStringConvertible {
    /// The comparison operator as written.
    public enum Operator: String, Sendable, Equatable {
        case equal = "==", atLeast = ">=", atMost = "<=", greater = ">", less = "<"
    }
    /// The operator.
    public var op: Operator
    /// The right-hand side.
    public var value: Int64
    /// Builds a comparison.
    public init(op: Operator, value: Int64) {
        self.op = op
        self.value = value
    }
    /// Whether `actual` satisfies the comparison.
    public func holds(for actual: Int64) -> Bool {
        switch op {
        case .equal: return actual == value
        case .atLeast: return actual >= value
        case .atMost: return actual <= value
        case .greater: return actual > value
        case .less: return actual < value
        }
    }
    /// `>= 1` style text.
    public var description: String { "\(op.rawValue) \(value)" }
}

/// A scenario file that cannot be used: names the file, the key path and the problem.
public struct ScenarioError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The scenario file's path.
    public var file: String
    /// e.g. `workload.tasks[2].args[0]`; empty for the whole file.
    public var keyPath: String
    /// What was wrong and what was expected.
    public var problem: String
    /// Builds an error.
    public init(file: String, keyPath: String, problem: String) {
        self.file = file
        self.keyPath = keyPath
        self.problem = problem
    }
    /// `file: key.path: problem`.
    public var description: String {
        keyPath.isEmpty ? "\(file): \(problem)" : "\(file): \(keyPath): \(problem)"
    }
}
