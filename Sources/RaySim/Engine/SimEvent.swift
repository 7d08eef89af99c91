// The things that happen in a simulation, each scheduled at a virtual time.

public import RayCore

/// Which process a step belongs to.
public enum ComponentID: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    /// The GCS; `incarnation` counts restarts.
    case gcs(incarnation: Int)
    case raylet(NodeID)
    case worker(WorkerID)
    case driver(WorkerID)
    /// The owner in a worker process (what the tasks it runs submit: nested tasks).
    case workerOwner(WorkerID)

    public var description: String {
        switch self {
        case .gcs(let incarnation): return "gcs#\(incarnation)"
        case .raylet(let node): return "raylet(\(node))"
        case .worker(let worker): return "\(worker)"
        case .driver(let worker): return "driver(\(worker))"
        case .workerOwner(let worker): return "owner(\(worker))"
        }
    }
}

/// A scheduled event.
enum SimEvent {
    /// A message reaches `to`.
    case deliver(from: Address, to: Address, Message)
    /// A timer a component's driver armed fires (dropped there if a newer start replaced it).
    case gcsTimer(GCSTimer, TimerToken)
    case rayletTimer(NodeID, RayletTimer, TimerToken)
    case executorTimer(WorkerID, ExecutorTimer, TimerToken)
    /// A spawned worker process is up.
    case workerStarted(WorkerID)
    /// A task body finished on `worker`.
    case executionFinished(WorkerID, TaskID, attempt: Int, ExecutionResult)
    /// A task body crashes its worker.
    case crashWorker(WorkerID, TaskID, attempt: Int)
    /// A restore from disk finished.
    case restoreFinished(NodeID, ObjectID)
    /// A connection to `peer` closed, as seen by `observer`.
    case disconnected(observer: Address, peer: Address)
    /// The GCS is reachable again, as seen by a raylet.
    case gcsReconnected(NodeID)
    /// The driver program takes its next step.
    case driverStep(Int)
    /// Job `index`'s program, held by a put past its owner's soft quota, goes on.
    case programResumes(Int)
    /// Fault number `index` of the plan is due (or due to be re-checked).
    case fault(Int)
    /// A partition ends.
    case partitionHealed
    /// The restarted GCS comes up.
    case gcsRestarted
    /// A restarted node's replacement joins.
    case nodeRejoins(NodeSpec)
    /// The borrower probe asks about the dead owner's objects.
    case ownerDeathProbe
    /// The timeout of the program's `ray.wait` (fault number `index`) passed.
    case waitTimeout(Int)
    /// A parent's body (nested tasks) ran its duration: it gets its children or returns.
    case bodyResumes(WorkerID, TaskID, attempt: Int)
}
