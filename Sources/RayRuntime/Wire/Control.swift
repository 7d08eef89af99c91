// Control requests and replies: what the `swiftray` CLI and `swiftray up` ask
// a GCS, a raylet or a driver, and the typed answers (ControlRequest and
// ControlReply in swiftray.proto). The CLI prints a reply's `description`;
// programs read its fields. A request a process does not serve, or does not
// know (a newer build's), is answered with `.error` naming it.

import Foundation
public import RayCore

/// A question to a SwiftRay process.
public enum ControlRequest: Sendable, Equatable, CustomStringConvertible {
    /// GCS: every node and job.
    case clusterStatus
    /// GCS: where each connected raylet listens.
    case raylets
    case ping
    /// Raylet: its node's resources, store and workers.
    case nodeStatus
    /// Raylet: the node IDs it knows alive.
    case view
    case idleWorkers
    /// Raylet: what it still holds.
    case quiescence
    case metrics
    case listObjects
    /// Raylet: the process ID of one of its workers (for fault injection).
    case workerPID(WorkerID)
    /// Raylet: its drivers' tasks (it relays the request); a driver: its own.
    case listTasks
    /// GCS or raylet: the connections it refused (unauthenticated, over the limits).
    case refusals
    /// A request this build does not know (decoded from a newer peer's frame).
    case unknown(String)

    public var description: String {
        switch self {
        case .clusterStatus: return "cluster status"
        case .raylets: return "raylets"
        case .ping: return "ping"
        case .refusals: return "refusals"
        case .nodeStatus: return "node status"
        case .view: return "view"
        case .idleWorkers: return "idle workers"
        case .quiescence: return "quiescence"
        case .metrics: return "metrics"
        case .listObjects: return "list objects"
        case .workerPID(let worker): return "worker pid \(worker)"
        case .listTasks: return "list tasks"
        case .unknown(let what): return what
        }
    }
}

/// One node as the GCS knows it.
public struct ControlNodeEntry: Sendable, Equatable {
    public var node: NodeID
    public var name: String
    public var alive: Bool
    /// Its raylet is connected to the GCS now.
    public var connected: Bool
    /// Where its raylet listens ("host:port"), when known.
    public var address: String?
    public var resources: ResourceSet
    public var available: ResourceSet
    public var storeBytes: Int64
}

/// One job as the GCS knows it.
public struct ControlJobEntry: Sendable, Equatable {
    public var job: JobID
    public var driver: WorkerID
    /// "running", "succeeded", "failed", "stopped".
    public var state: String
    /// How it ended, in words.
    public var end: String?
    /// How long it ran (so far, when running), from the GCS's job table.
    public var ranMicros: Int64
}

/// One row of the GCS's actor table.
public struct ControlActorEntry: Sendable, Equatable {
    public var actor: ActorID
    /// `Counter[0]`.
    public var name: String
    public var state: String
    public var node: NodeID?
    public var restarts: Int
    public var cause: String
    /// The name it was registered under ("" for none), and its namespace.
    public var registeredName: String
    public var namespace: String
    public var detached: Bool
    public init(actor: ActorID, name: String, state: String, node: NodeID?, restarts: Int, cause: String,
                registeredName: String, namespace: String, detached: Bool) {
        self.actor = actor
        self.name = name
        self.state = state
        self.node = node
        self.restarts = restarts
        self.cause = cause
        self.registeredName = registeredName
        self.namespace = namespace
        self.detached = detached
    }

    /// One line of `swiftray list actors`.
    public var line: String {
        var text = "\(actor) \(name) \(state)"
        if let node { text += " on \(node)" }
        if !registeredName.isEmpty { text += " named '\(registeredName)'" + (namespace.isEmpty ? "" : " in '\(namespace)'") }
        if detached { text += " detached" }
        text += " restarts \(restarts)"
        if !cause.isEmpty { text += " (\(cause))" }
        return text
    }
}

/// One row of the GCS's placement group table.
public struct ControlPlacementGroupEntry: Sendable, Equatable {
    public var id: PlacementGroupID
    public var name: String
    public var strategy: String
    public var state: String
    public var bundles: [ResourceSet]
    /// The node holding each bundle (nil: not reserved now).
    public var nodes: [NodeID?]
    public var cause: String
    public var detached: Bool
    public var owner: WorkerID

    public init(id: PlacementGroupID, name: String, strategy: String, state: String, bundles: [ResourceSet],
                nodes: [NodeID?], cause: String, detached: Bool, owner: WorkerID) {
        self.id = id
        self.name = name
        self.strategy = strategy
        self.state = state
        self.bundles = bundles
        self.nodes = nodes
        self.cause = cause
        self.detached = detached
        self.owner = owner
    }

    /// One line of `swiftray list placement-groups`: the group, then each bundle and its node.
    public var line: String {
        var text = "\(id)" + (name.isEmpty ? "" : " '\(name)'") + " \(strategy) \(state)"
            + (detached ? " detached" : " owner \(owner)")
        if !cause.isEmpty { text += " (\(cause))" }
        for (index, bundle) in bundles.enumerated() {
            let node = index < nodes.count ? nodes[index].map { "on \($0)" } ?? "not reserved" : "not reserved"
            text += "\n    bundle \(index) \(bundle) \(node)"
        }
        return text
    }
}

/// A raylet's node.
public struct ControlNodeStatus: Sendable, Equatable {
    public var node: NodeID
    public var name: String
    public var resources: ResourceSet
    public var available: ResourceSet
    public var usedBytes: Int64
    public var capacityBytes: Int64
    public var objectCount: Int
    public var spilledBytes: Int64
    public var workers: Int
    public var leases: Int
    public var queued: Int
    /// Connections the raylet refused for authentication (wrong or no secret, too slow).
    public var authRefusals: Int = 0
    /// Connections the raylet refused over its connection limits (in total, or from one source).
    public var limitRefusals: Int = 0
    /// Leases the raylet asked back from a job holding more of the node than a waiting job.
    public var leasesAskedBack: Int = 0
    /// Times one of its connections stopped reading at its peer's rate limit (`RateLimit`).
    public var throttled: Int = 0
    /// Per-job CPU shares of its workers (`JobCPUShares`): "on (...)" or "off (why)".
    public var cpuShares: String = ""
    /// Messages its raylet dropped because their sender may not send them (`Raylet.senderMay`).
    public var forged: Int = 0
    /// Stores its raylet refused at a job's hard quota of bytes in the store, and counted past
    /// the soft one (RayConfig.storeBytesPerJob*).
    public var storesRefused: Int = 0
    public var storesOverSoftQuota: Int = 0
    /// Lease requests its raylet delayed at a job's request rate, and refused past the job's
    /// delayed bound (RayConfig.leaseRequests*PerJob).
    public var leaseRequestsDelayed: Int = 0
    public var leaseRequestsRefused: Int = 0
    /// Fetches and stores its raylet delayed at a job's rate of object requests, and refused past
    /// the job's delayed bound (RayConfig.objectRequests*PerJob).
    public var objectRequestsDelayed: Int = 0
    public var objectRequestsRefused: Int = 0
    /// Object stores its raylet gave up (a region found damaged, or its lock held past the
    /// raylet's patience): what only they held was lost, a job's processes there stopped.
    public var storesGivenUp: Int = 0
    /// Objects crossing jobs its raylet copied to the reader's spill directory rather than memory,
    /// since the copies in memory had reached the store's capacity (a store per job).
    public var copiesOnDisk: Int = 0
}

/// What a process refused or held back since it started (`swiftray status`): connections, for
/// every process; the GCS adds what its per-job quotas refused or warned of and what it dropped.
public struct ControlRefusals: Sendable, Equatable {
    public var unauthenticated = 0, overLimit = 0, throttled = 0
    public var actorsOverQuota = 0, actorsOverSoftQuota = 0, actorsDelayed = 0
    public var groupsOverQuota = 0, groupsOverSoftQuota = 0
    public var forged = 0, earlySubscriptionsRefused = 0, groupsDelayed = 0
    public init() {}
}

/// A raylet's counters.
public struct ControlMetrics: Sendable, Equatable {
    public var spilled = 0, restored = 0, spillbacks = 0, evicted = 0, pulled = 0, leases = 0
    /// Leases asked back from a job holding more of the node than a waiting job (fair share).
    public var askedBack = 0
    public init() {}
}

/// An object in a raylet's store.
public struct ControlStoredObject: Sendable, Equatable {
    public var object: ObjectID
    public var sizeBytes: Int64
    public var owner: WorkerID
    public var primary: Bool
    public var spilled: Bool
    public var pins: Int
}

/// A driver's tasks (`answered` false: it did not answer in time).
public struct ControlDriverTasks: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var task: TaskID
        public var function: String
        public var instance: Int
        public var state: String
        public var attempts: Int
    }
    public var driver: WorkerID
    public var job: JobID
    public var answered = true
    public var submitted = 0, attempts = 0, retries = 0, reconstructions = 0, failed = 0
    public var tasks: [Line] = []
}

/// The answer to a control request.
public enum ControlReply: Sendable, Equatable, CustomStringConvertible {
    case cluster(nodes: [ControlNodeEntry], jobs: [ControlJobEntry], actors: [ControlActorEntry],
                 placementGroups: [ControlPlacementGroupEntry])
    case raylets([Directory.Entry])
    case pong
    case nodeStatus(ControlNodeStatus)
    case view([NodeID])
    case idleWorkers(Int)
    /// What the raylet still holds; nil: nothing.
    case quiescence(held: String?)
    case metrics(ControlMetrics)
    case objects(node: NodeID, [ControlStoredObject])
    /// nil: no such worker process.
    case workerPID(Int32?)
    /// A raylet's relayed listing: each connected driver's tasks.
    case tasks(node: NodeID, name: String, drivers: [ControlDriverTasks])
    /// A driver's own tasks (to the raylet relaying `list tasks`).
    case driverTasks(ControlDriverTasks)
    /// The request was not served: which, and why.
    case error(request: String, message: String)
    /// What the process refused or held back since it started.
    case refusals(ControlRefusals)

    /// What the CLI prints.
    public var description: String {
        switch self {
        case .cluster(let nodes, let jobs, let actors, let groups):
            var lines = ["nodes:"]
            for entry in nodes {
                let link = !entry.alive ? "" : entry.connected ? " (connected)" : " (not connected)"
                lines.append("  \(entry.node) \(entry.name) \(entry.alive ? "alive" : "dead")\(link) \(entry.address ?? "-") "
                    + "resources \(entry.resources) available \(entry.available) store \(entry.storeBytes >> 20) MiB")
            }
            lines.append("jobs:")
            lines += jobs.isEmpty ? ["  (none)"] : jobs.map { job in
                let ran = String(format: "%.3f s", Double(job.ranMicros) / 1e6)
                return "  \(job.job) driver \(job.driver) \(job.state)" + (job.end.map { " (\($0))" } ?? "")
                    + (job.end == nil ? " for \(ran)" : ", ran \(ran)")
            }
            lines.append("actors:")
            lines += actors.isEmpty ? ["  (none)"] : actors.map { "  " + $0.line }
            lines.append("placement groups:")
            lines += groups.isEmpty ? ["  (none)"] : groups.map { "  " + $0.line }
            return lines.joined(separator: "\n")
        case .raylets(let entries):
            return entries.map { "\($0.node) \($0.name) \($0.host):\($0.port)" }.joined(separator: "\n")
        case .pong:
            return "pong"
        case .refusals(let r):
            return "refused \(r.unauthenticated) unauthenticated or unauthorized connection(s) and \(r.overLimit) over the "
                + "connection and rate limits; "
                + "per-job quotas refused \(r.actorsOverQuota) actor creation(s), warned of \(r.actorsOverSoftQuota) past "
                + "the soft limit and delayed \(r.actorsDelayed) at the creation rate; "
                + "held \(r.throttled) connection(s) back at the rate limit; "
                + "per-job quotas refused \(r.groupsOverQuota) placement group(s), warned of \(r.groupsOverSoftQuota) "
                + "past the soft limit and delayed \(r.groupsDelayed) at the creation rate; "
                + "dropped \(r.forged) message(s) from senders not allowed to send them; "
                + "answered \(r.earlySubscriptionsRefused) subscription(s) to unknown actors at once, past their bound"
        case .nodeStatus(let status):
            return "\(status.node) \(status.name): resources \(status.resources) available \(status.available); "
                + "store \(status.usedBytes) B of \(status.capacityBytes) B in \(status.objectCount) objects "
                + "(\(status.spilledBytes) B spilled); workers \(status.workers), leases \(status.leases), "
                + "queued \(status.queued), asked \(status.leasesAskedBack) lease(s) back for waiting jobs; "
                + "refused \(status.authRefusals) unauthenticated or unauthorized connection(s) "
                + "and \(status.limitRefusals) over the connection and rate limits; "
                + "held \(status.throttled) connection(s) back at the rate limit; "
                + "dropped \(status.forged) message(s) from senders not allowed to send them; "
                + "per-job store quotas refused \(status.storesRefused) store(s) and warned of "
                + "\(status.storesOverSoftQuota) past the soft limit; "
                + "per-job lease-request rates delayed \(status.leaseRequestsDelayed) request(s) and refused "
                + "\(status.leaseRequestsRefused); per-job object-request rates delayed "
                + "\(status.objectRequestsDelayed) fetch(es) or store(s) and refused \(status.objectRequestsRefused); "
                + "gave \(status.storesGivenUp) damaged or held object store(s) up; "
                + "copied \(status.copiesOnDisk) object(s) crossing jobs to disk, past the store's capacity of copies"
                + (status.cpuShares.isEmpty ? "" : "; per-job \(status.cpuShares)")
        case .view(let nodes):
            return nodes.map { "\($0)" }.joined(separator: " ")
        case .idleWorkers(let count):
            return "\(count) idle worker(s)"
        case .quiescence(let held):
            return held.map { "holds \($0)" } ?? "holds nothing"
        case .metrics(let metrics):
            return "spilled \(metrics.spilled) restored \(metrics.restored) spillbacks \(metrics.spillbacks) "
                + "evicted \(metrics.evicted) pulled \(metrics.pulled) leases \(metrics.leases) "
                + "asked back \(metrics.askedBack)"
        case .objects(let node, let objects):
            guard !objects.isEmpty else { return "(no objects on \(node))" }
            return objects.map { entry in
                "\(entry.object) \(entry.sizeBytes) B owner \(entry.owner) \(entry.primary ? "primary" : "copy")"
                    + "\(entry.spilled ? " spilled" : "") pins \(entry.pins)"
            }.joined(separator: "\n")
        case .workerPID(let pid):
            return pid.map { "\($0)" } ?? "no such worker"
        case .tasks(let node, let name, let drivers):
            guard !drivers.isEmpty else { return "\(node) (\(name)): no driver connected" }
            return "\(node) (\(name)):\n" + drivers.map(Self.describe).joined(separator: "\n")
        case .driverTasks(let tasks):
            return Self.describe(tasks)
        case .error(let request, let message):
            return "error: \(request): \(message)"
        }
    }

    private static func describe(_ tasks: ControlDriverTasks) -> String {
        guard tasks.answered else { return "driver \(tasks.driver): no answer within 3 s" }
        var lines = ["driver \(tasks.driver) (\(tasks.job)): \(tasks.tasks.count) tasks held (submitted \(tasks.submitted), "
            + "attempts \(tasks.attempts), retries \(tasks.retries), reconstructions \(tasks.reconstructions), "
            + "failed \(tasks.failed))"]
        for line in tasks.tasks {
            lines.append("  \(line.task) \(line.function)[\(line.instance)] \(line.state) attempts \(line.attempts)")
        }
        return lines.joined(separator: "\n")
    }

    /// The error a process answers a request it does not serve with.
    public static func notServed(_ request: ControlRequest, by process: String, serves: [ControlRequest]) -> ControlReply {
        .error(request: "\(request)", message: "\(process) does not answer this request; it answers: "
            + serves.map(\.description).joined(separator: ", "))
    }
}
