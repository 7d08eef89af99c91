// Failures as typed Swift errors, mirroring Ray's exception classes. Each
// message says what happened and what the user can do about it.

import Foundation
public import RayCore

extension Ray {
/// An error from SwiftRay (`catch let error as Ray.Error`).
public enum Error: Swift.Error, CustomStringConvertible, Equatable, Sendable, TaskErrorDescribing {
    /// The task raised an error in its body (Ray's `RayTaskError`); retried only with `retryExceptions`.
    case taskFailed(String)
    /// The worker running the task died and its retries are exhausted (`WorkerCrashedError`).
    case workerCrashed(String)
    /// No copy of the object is reachable and it cannot be rebuilt (`ObjectLostError`).
    case objectLost(String)
    /// The object's owner died (`OwnerDiedError`).
    case ownerDied(String)
    /// Rebuilding the object from lineage failed (`ObjectReconstructionFailedError`).
    case reconstructionFailed(String)
    /// No node can run the task (`TaskUnschedulableError`).
    case unschedulable(String)
    /// The task was cancelled (`TaskCancelledError`).
    case cancelled(String)
    /// `get` or `wait` ran out of time (`GetTimeoutError`).
    case timeout(String)
    /// A value could not be decoded as the type asked for.
    case decodingFailed(String)
    /// A value could not be encoded.
    case encodingFailed(String)
    /// An argument to the API was invalid.
    case invalidArgument(String)
    /// The API was used before `Ray.start()`.
    case notStarted(String)
    /// `Ray.start()` was called twice.
    case alreadyStarted(String)
    /// The runtime could not start or reach the cluster.
    case runtime(String)
    /// The actor is dead for good, or died with this call in flight and it is not retried
    /// (`ActorDiedError`); the message says why (killed, its node died, restarts used up, ...).
    case actorDied(String)
    /// The actor could not be reached for this call (`ActorUnavailableError`): it may or may not have run.
    case actorUnavailable(String)
    /// A per-job quota refused the request; the message names the limit and how to raise it.
    case quotaExceeded(String)
    /// A value over the object size limit (the node's object store capacity, or
    /// SWIFTRAY_MAX_OBJECT_BYTES): refused before anything was allocated.
    case objectTooLarge(String)
    /// This program lost its local raylet (Ray's `RaySystemError`, raised when the raylet is
    /// killed): its node died, or the raylet refused this driver, the message saying why (e.g. its
    /// job's object store was given up). Every later call fails so; start a new driver.
    case systemError(String)

    init(_ error: RayCore.RayError) {
        let message = error.message
        switch error.kind {
        case .workerCrashed, .objectLost, .ownerDied, .objectReconstructionFailed:
            // Logs worth keeping (Ray.shutdown() keeps the session's logs when any was seen).
            Ray.failuresSeen.withLock { $0[error.kind.rawValue, default: 0] += 1 }
        default:
            break
        }
        switch error.kind {
        case .taskFailed: self = .taskFailed(message)
        // The owner's advice names the scenario key; a Swift program sets `TaskOptions.maxRetries`.
        case .workerCrashed:
            var text = message.replacingOccurrences(of: "max_retries", with: "maxRetries")
            if text.contains("(killed by signal 11 ") || text.contains("(killed by signal 7 ") {
                text += "\nA bad memory access in a task body is often a global of main.swift that is declared or "
                    + "set after Ray.start(): workers run the program only up to Ray.start(), so there it was never "
                    + "initialized. Declare and set it before Ray.start(), or pass the value as an argument."
            }
            self = .workerCrashed(text)
        case .objectLost: self = .objectLost(message)
        case .ownerDied: self = .ownerDied(message)
        case .objectReconstructionFailed: self = .reconstructionFailed(message)
        case .taskUnschedulable: self = .unschedulable(message)
        case .cancelled: self = .cancelled(message)
        case .actorDied: self = .actorDied(message.replacingOccurrences(of: "max_task_retries", with: "maxTaskRetries")
            .replacingOccurrences(of: "max_restarts", with: "maxRestarts"))
        case .actorUnavailable: self = .actorUnavailable(message)
        case .placementGroupUnschedulable: self = .runtime("\(error.kind.rawValue): \(message)")
        case .quotaExceeded:
            // The GCS's quotas name its RayConfig; a raylet's say "for a cluster's raylets" themselves.
            self = .quotaExceeded(message.contains("for a cluster's raylets") ? message
                : message.replacingOccurrences(of: "RayConfig.", with: "the GCS's RayConfig."))
        case .objectTooLarge: self = .objectTooLarge(message)
        case .systemError: self = .systemError(message)
        }
    }

    /// As a task body that throws it failed: a child's failure rethrown reads as the chain of
    /// tasks that raised it.
    public var taskErrorDescription: String {
        if case .taskFailed(let message) = self { return message }
        return description
    }

    public var description: String {
        switch self {
        case .taskFailed(let m): return "task failed: \(m)"
        case .workerCrashed(let m): return "worker crashed: \(m)"
        case .objectLost(let m): return "object lost: \(m)"
        case .ownerDied(let m): return "owner died: \(m)"
        case .reconstructionFailed(let m): return "reconstruction failed: \(m)"
        case .unschedulable(let m): return "unschedulable: \(m)"
        case .cancelled(let m): return "cancelled: \(m)"
        case .timeout(let m): return "timeout: \(m)"
        case .decodingFailed(let m): return "decoding failed: \(m)"
        case .encodingFailed(let m): return "encoding failed: \(m)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .notStarted(let m): return "not started: \(m)"
        case .alreadyStarted(let m): return "already started: \(m)"
        case .runtime(let m): return "runtime: \(m)"
        case .actorDied(let m): return "actor died: \(m)"
        case .actorUnavailable(let m): return "actor unavailable: \(m)"
        case .quotaExceeded(let m): return "quota exceeded: \(m)"
        case .objectTooLarge(let m): return "object too large: \(m)"
        case .systemError(let m): return "system error: \(m)"
        }
    }
}
}
