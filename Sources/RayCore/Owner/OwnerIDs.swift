// The IDs an owner gives what its program makes, in order: the n-th task it
// submits is the n-th child of the task it runs for (the driver's task), and
// returns object index 1 of it; the n-th value it puts is that task's put n.
// The rule lives here once: the owner machine advances one sequence; the
// driver API, which hands an ID back to the program's thread before the owner
// has seen the call, advances its own copy in the same order (each call posts
// one input), so both give the same IDs.

/// An owner's ID sequence.
public struct OwnerIDs: Hashable, Sendable {
    /// The task the owner submits and puts for (a driver's: `TaskID.driver(of: job)`).
    public let parent: TaskID
    /// The job's ID key (KeyedIDs.swift): 0 derives IDs without one.
    public let key: UInt64
    /// How many tasks were submitted and values put.
    public private(set) var tasks: UInt64 = 0
    public private(set) var puts: UInt32 = 0

    public init(parent: TaskID, key: UInt64 = 0) {
        self.parent = parent
        self.key = key
    }

    /// The sequence of what `attempt` of `task` submits and puts, in the worker that runs it
    /// (nested tasks). Ray derives a child from its parent task alone; the attempt is mixed in
    /// here too, so a retried parent's children never collide with the earlier attempt's, which
    /// its owner may still hold.
    public static func forTask(_ task: TaskID, attempt: Int, key: UInt64 = 0) -> OwnerIDs {
        guard key != 0 else {
            return OwnerIDs(parent: TaskID(value: mix(task.value ^ mix(UInt64(attempt) &+ 0xA076_1D64_78BD_642F))))
        }
        return OwnerIDs(parent: TaskID(value: keyed(key, task.value, UInt64(attempt) | attemptTag)), key: key)
    }

    /// The ID of submitted task `index` (from 1).
    func task(_ index: UInt64) -> TaskID {
        key == 0 ? TaskID.child(of: parent, index: index) : TaskID(value: Self.keyed(key, parent.value, index))
    }

    /// The ID of put `index` (from 1): keyed, each put is a task part of its own (so one put's ID
    /// says nothing of the others').
    func put(_ index: UInt32) -> ObjectID {
        guard key != 0 else { return ObjectID.put(by: parent, index: index) }
        return ObjectID.put(by: TaskID(value: Self.keyed(key, parent.value, UInt64(index) | Self.putTag)), index: 1)
    }

    /// The ID the next submitted task gets.
    public var nextTask: TaskID { task(tasks + 1) }
    /// The ID the next put value gets.
    public var nextPut: ObjectID { put(puts + 1) }

    /// The next task's ID, taken.
    public mutating func takeTask() -> TaskID {
        tasks += 1
        return task(tasks)
    }

    /// The next put's ID, taken.
    public mutating func takePut() -> ObjectID {
        puts += 1
        return put(puts)
    }
}

/// The two machines of a worker process: its executor (runs the tasks pushed to it) and its
/// owner (owns what those tasks submit and put). Both are reached at the worker's address.
public enum WorkerPart: Sendable {
    case executor
    case owner
}

extension Message {
    /// Which machine of a worker process this message is for: pushed tasks, and the answers to
    /// the executor's own fetches and stores, go to the executor; everything else (leases,
    /// replies of submitted tasks, borrowers, location questions, the owner's fetches and
    /// stores, numbered from `Owner.workerRequestBase`) to the owner.
    public var workerPart: WorkerPart {
        switch self {
        case .pushTask, .createActor, .pushActorTask:
            return .executor
        case .objectsReady(let requestID, _), .objectsStored(let requestID), .objectsRefused(let requestID, _, _):
            return requestID >= Owner.workerRequestBase ? .owner : .executor
        default:
            return .owner
        }
    }
}
