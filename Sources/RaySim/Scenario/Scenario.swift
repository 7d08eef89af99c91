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
    public var cluster: ClusterSpec
    public var workload: WorkloadSpec
    public var faults: [FaultSpec]
    public var expect: ExpectSpec
    /// The file it came from (for messages and reproduction commands).
    public var sourcePath: String

    public init(name: String, description: String, seed: UInt64?, cluster: ClusterSpec,
                workload: WorkloadSpec, faults: [FaultSpec], expect: ExpectSpec, sourcePath: String) {
        self.name = name
        self.description = description
        self.seed = seed
        self.cluster = cluster
        self.workload = workload
        self.faults = faults
        self.expect = expect
        self.sourcePath = sourcePath
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

    public init(gcsPersistent: Bool, nodes: [NodeSpec], network: NetworkSpec) {
        self.gcsPersistent = gcsPersistent
        self.nodes = nodes
        self.network = network
    }
}

/// One node of the cluster (after `count` expansion).
public struct NodeSpec: Sendable, Equatable {
    public var name: String
    public var head: Bool
    /// Resources in milli-units (`{CPU: 2}` is CPU = 2000). Default {CPU: 1}.
    public var resources: ResourceSet
    /// `object_store`: capacity in bytes. Default 128 MiB.
    public var objectStoreBytes: Int64

    public static let objectStoreBytesDefault: Int64 = 128 << 20

    public init(name: String, head: Bool, resources: ResourceSet, objectStoreBytes: Int64) {
        self.name = name
        self.head = head
        self.resources = resources
        self.objectStoreBytes = objectStoreBytes
    }
}

/// `network:` — simulated one-way latency and its jitter.
public struct NetworkSpec: Sendable, Equatable {
    public var latencyMicros: Int64
    public var jitterMicros: Int64
    public static let `default` = NetworkSpec(latencyMicros: 500, jitterMicros: 100)

    public init(latencyMicros: Int64, jitterMicros: Int64) {
        self.latencyMicros = latencyMicros
        self.jitterMicros = jitterMicros
    }
}

/// `workload:`
public struct WorkloadSpec: Sendable, Equatable {
    public var puts: [PutSpec]
    /// Task groups in a valid submission order (dependencies first).
    public var tasks: [TaskGroupSpec]
    public var actors: [ActorSpec]
    public var placementGroups: [PlacementGroupSpec]
    /// `get:` what the driver gets and verifies at the end.
    public var get: [RefPattern]

    public init(puts: [PutSpec], tasks: [TaskGroupSpec], actors: [ActorSpec],
                placementGroups: [PlacementGroupSpec], get: [RefPattern]) {
        self.puts = puts
        self.tasks = tasks
        self.actors = actors
        self.placementGroups = placementGroups
        self.get = get
    }
}

/// `puts:` entry — an object the driver creates with `put`.
public struct PutSpec: Sendable, Equatable {
    public var name: String
    public var sizeBytes: Int64
    public init(name: String, sizeBytes: Int64) {
        self.name = name
        self.sizeBytes = sizeBytes
    }
}

/// `tasks:` entry — `count` instances of one synthetic task body.
public struct TaskGroupSpec: Sendable, Equatable {
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
    public var strategy: StrategySpec
    /// `args:` references, resolved per instance.
    public var args: [RefPattern]
    public var fail: FailSpec?
    /// Default false.
    public var retryExceptions: Bool
    public var placementGroup: PlacementGroupRef?

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

/// `strategy:` — default | spread | {node: NAME, soft: BOOL}.
public enum StrategySpec: Sendable, Equatable {
    case `default`
    case spread
    case nodeAffinity(node: String, soft: Bool)
}

/// `fail:` — how a synthetic body fails.
public struct FailSpec: Sendable, Equatable {
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
    public var kind: Kind

    public init(probability: Double?, attempts: Int?, kind: Kind) {
        self.probability = probability
        self.attempts = attempts
        self.kind = kind
    }
}

/// `placement_group: {name: gang, bundle: i}`.
public struct PlacementGroupRef: Sendable, Equatable {
    public enum Bundle: Sendable, Equatable {
        case index(Int)
        case instance
    }
    public var name: String
    public var bundle: Bundle
    public init(name: String, bundle: Bundle) {
        self.name = name
        self.bundle = bundle
    }
}

/// `actors:` entry (parsed and validated; the simulator rejects it until actors land).
public struct ActorSpec: Sendable, Equatable {
    public var name: String
    public var count: Int
    public var resources: ResourceSet
    public var maxRestarts: Int
    public var maxTaskRetries: Int
    public var calls: Int
    public init(name: String, count: Int, resources: ResourceSet, maxRestarts: Int,
                maxTaskRetries: Int, calls: Int) {
        self.name = name
        self.count = count
        self.resources = resources
        self.maxRestarts = maxRestarts
        self.maxTaskRetries = maxTaskRetries
        self.calls = calls
    }
}

/// `placement_groups:` entry (parsed and validated; rejected by the simulator for now).
public struct PlacementGroupSpec: Sendable, Equatable {
    public enum Strategy: String, Sendable, Equatable {
        case pack = "PACK", spread = "SPREAD", strictPack = "STRICT_PACK", strictSpread = "STRICT_SPREAD"
    }
    public var name: String
    public var strategy: Strategy
    public var bundles: [ResourceSet]
    public init(name: String, strategy: Strategy, bundles: [ResourceSet]) {
        self.name = name
        self.strategy = strategy
        self.bundles = bundles
    }
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

    public var name: String {
        switch self {
        case .instance(let name, _), .all(let name), .relative(let name, _), .bare(let name): return name
        }
    }

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
    public enum Trigger: Sendable, Equatable {
        /// `at: 150ms` — microseconds since the workload started.
        case at(micros: Int64)
        /// `after: "load[*]"` — once these instances have finished.
        case after(RefPattern)
    }
    public var trigger: Trigger
    public var action: FaultAction
    public init(trigger: Trigger, action: FaultAction) {
        self.trigger = trigger
        self.action = action
    }
}

/// What a fault does.
public enum FaultAction: Sendable, Equatable {
    public enum NodeTarget: Sendable, Equatable {
        case named(String)
        /// `{holding: "load[0]"}` — the node holding that object's primary copy (or hosting that actor).
        case holding(RefPattern)
    }
    case killNode(NodeTarget)
    /// Kill, then the same shape rejoins as a new node.
    case restartNode(String)
    case addNode(NodeSpec)
    /// `{running: "step[*]"}` — a worker running one of these.
    case killWorker(running: RefPattern)
    case restartGCS
    case partition(groups: [[String]], durationMicros: Int64)
    case killActor(actor: RefPattern, noRestart: Bool)
    case killDriver
}

/// `expect:`
public struct ExpectSpec: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case ok
        case error(RayErrorKind)
    }
    /// `results:` in file order.
    public var results: [(RefPattern, Outcome)]
    public var reconstructions: Comparison?
    public var retries: Comparison?
    /// Default 60 s.
    public var maxSimTimeMicros: Int64
    /// Default 120 s.
    public var maxWallTimeMicros: Int64
    /// `leaks: none` (default) checks for leaks; `leaks: allowed` skips the check.
    public var checkLeaks: Bool

    public init(results: [(RefPattern, Outcome)], reconstructions: Comparison?, retries: Comparison?,
                maxSimTimeMicros: Int64, maxWallTimeMicros: Int64, checkLeaks: Bool) {
        self.results = results
        self.reconstructions = reconstructions
        self.retries = retries
        self.maxSimTimeMicros = maxSimTimeMicros
        self.maxWallTimeMicros = maxWallTimeMicros
        self.checkLeaks = checkLeaks
    }

    public static func == (lhs: ExpectSpec, rhs: ExpectSpec) -> Bool {
        lhs.results.count == rhs.results.count
            && zip(lhs.results, rhs.results).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            && lhs.reconstructions == rhs.reconstructions && lhs.retries == rhs.retries
            && lhs.maxSimTimeMicros == rhs.maxSimTimeMicros && lhs.maxWallTimeMicros == rhs.maxWallTimeMicros
            && lhs.checkLeaks == rhs.checkLeaks
    }
}

/// `">= 1"`, `"== 0"`, `"< 5"`; a bare integer means `==`.
public struct Comparison: Sendable, Equatable, CustomStringConvertible {
    public enum Operator: String, Sendable, Equatable {
        case equal = "==", atLeast = ">=", atMost = "<=", greater = ">", less = "<"
    }
    public var op: Operator
    public var value: Int64
    public init(op: Operator, value: Int64) {
        self.op = op
        self.value = value
    }
    public func holds(for actual: Int64) -> Bool {
        switch op {
        case .equal: return actual == value
        case .atLeast: return actual >= value
        case .atMost: return actual <= value
        case .greater: return actual > value
        case .less: return actual < value
        }
    }
    public var description: String { "\(op.rawValue) \(value)" }
}

/// A scenario file that cannot be used: names the file, the key path and the problem.
public struct ScenarioError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// e.g. `workload.tasks[2].args[0]`; empty for the whole file.
    public var keyPath: String
    public var problem: String
    public init(file: String, keyPath: String, problem: String) {
        self.file = file
        self.keyPath = keyPath
        self.problem = problem
    }
    public var description: String {
        keyPath.isEmpty ? "\(file): \(problem)" : "\(file): \(keyPath): \(problem)"
    }
}
