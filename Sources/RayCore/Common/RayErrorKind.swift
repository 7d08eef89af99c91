// Ray's error kinds as data: a failed task, a lost object or a dead owner is a
// value stored in place of the object, delivered to whoever gets it
// (ray/python/ray/exceptions.py, fault_tolerance/{tasks,objects}.md).

/// The kinds of failure a `get` can report, named as in Ray.
public enum RayErrorKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// The worker running the task died and retries are exhausted (`WorkerCrashedError`).
    case workerCrashed = "WorkerCrashed"
    /// The task raised an application error (`RayTaskError`).
    case taskFailed = "TaskFailed"
    /// No copy of the object is reachable and it cannot be rebuilt (`ObjectLostError`), e.g. a lost `put`.
    case objectLost = "ObjectLost"
    /// The object's owner died (`OwnerDiedError`).
    case ownerDied = "OwnerDied"
    /// Rebuilding the object from lineage failed (`ObjectReconstructionFailedError`).
    case objectReconstructionFailed = "ObjectReconstructionFailed"
    /// The actor is dead for good (`ActorDiedError`).
    case actorDied = "ActorDied"
    /// The actor is temporarily unreachable (`ActorUnavailableError`).
    case actorUnavailable = "ActorUnavailable"
    /// A placement group cannot be placed.
    case placementGroupUnschedulable = "PlacementGroupUnschedulable"
    /// The task was cancelled (`TaskCancelledError`).
    case cancelled = "Cancelled"
    /// No node can ever satisfy the request, or its hard node affinity target is dead
    /// (`TaskUnschedulableError`).
    case taskUnschedulable = "TaskUnschedulable"
    /// A per-job quota refused the request (the message names the limit and how to raise it).
    case quotaExceeded = "QuotaExceeded"
    /// A value over the object size limit (the node's object store capacity by default): refused
    /// before anything was allocated for it.
    case objectTooLarge = "ObjectTooLarge"
    /// The program lost its way into the cluster (`RaySystemError`, "thrown when the raylet is
    /// killed"): its local raylet's connection closed — its node died, or the raylet refused this
    /// driver (the message says why). Nothing this process asks of the cluster can be answered.
    case systemError = "RaySystemError"
}

/// An error that says itself how a task body that throws it failed (SwiftRay's own errors:
/// a body rethrowing a child's failure reads `parent[1] raised: child[3] raised: ...`).
public protocol TaskErrorDescribing: Error {
    var taskErrorDescription: String { get }
}
