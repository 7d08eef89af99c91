// Identifiers, all derived deterministically as Ray derives them
// (ray/common/id.h): a task ID from its parent task and submission index, an
// object ID from the task that creates it and a return (or put) index. Node
// and worker IDs are handed out in order by whoever creates them (the driver
// of a machine: the simulator or the runtime) and arrive as inputs.

/// A job (one driver program).
public struct JobID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }
    public static func < (lhs: JobID, rhs: JobID) -> Bool { lhs.value < rhs.value }
    public var description: String { "job-\(value)" }
}

/// A task, derived from its parent task and submission index.
public struct TaskID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(value: UInt64) { self.value = value }

    /// The root task of a job's driver.
    public static func driver(of job: JobID) -> TaskID {
        TaskID(value: mix(0x5157_4946_5452_4159 &+ UInt64(job.value)))
    }

    /// The `index`-th task submitted by `parent` (index counts from 1).
    public static func child(of parent: TaskID, index: UInt64) -> TaskID {
        TaskID(value: mix(parent.value ^ mix(index &+ 0x9E37_79B9_7F4A_7C15)))
    }

    public static func < (lhs: TaskID, rhs: TaskID) -> Bool { lhs.value < rhs.value }
    public var description: String { "task-" + hex16(value) }
    /// A set's or a dictionary's hash without SipHash (the value is already mixed).
    public func _rawHashValue(seed: Int) -> Int { fastHash(value, seed: seed) }
}

/// An object: the task that created it and an index (return values count from
/// 1; `put` objects have the put flag set, as Ray's ObjectID does).
public struct ObjectID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var task: TaskID
    public var index: UInt32

    static let putFlag: UInt32 = 1 << 31

    public init(task: TaskID, index: UInt32) {
        self.task = task
        self.index = index
    }

    /// The `index`-th return value of `task` (index counts from 1).
    public static func returnValue(of task: TaskID, index: UInt32) -> ObjectID {
        precondition(index > 0 && index < putFlag, "return index out of range")
        return ObjectID(task: task, index: index)
    }

    /// The `index`-th object that `task` created with `put` (index counts from 1).
    public static func put(by task: TaskID, index: UInt32) -> ObjectID {
        precondition(index > 0 && index < putFlag, "put index out of range")
        return ObjectID(task: task, index: index | putFlag)
    }

    /// True for objects created by `put`: Ray never reconstructs those.
    public var isPut: Bool { index & Self.putFlag != 0 }

    public static func < (lhs: ObjectID, rhs: ObjectID) -> Bool {
        (lhs.task.value, lhs.index) < (rhs.task.value, rhs.index)
    }

    /// One word into the hasher: the task part is already well mixed.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(task.value &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// A set's or a dictionary's hash without SipHash: the task part is already a mixed 64-bit
    /// value, so folding in the index and the table's seed with one multiply is enough (object
    /// tables and waits hash IDs millions of times a second).
    public func _rawHashValue(seed: Int) -> Int {
        fastHash(task.value &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15, seed: seed)
    }

    public var description: String {
        "obj-" + hex16(task.value) + (isPut ? "-p\(index & ~Self.putFlag)" : "-r\(index)")
    }
}

/// A node (one raylet). A restarted raylet gets a new ID, as in Ray.
public struct NodeID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }
    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.value < rhs.value }
    public var description: String { "node-\(value)" }
}

/// A worker process (drivers are workers too): its node and a per-node counter.
public struct WorkerID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var node: NodeID
    public var index: UInt32
    public init(node: NodeID, index: UInt32) {
        self.node = node
        self.index = index
    }
    public static func < (lhs: WorkerID, rhs: WorkerID) -> Bool { (lhs.node, lhs.index) < (rhs.node, rhs.index) }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(UInt64(node.value) << 32 | UInt64(index))
    }
    public var description: String { "worker-\(node.value).\(index)" }
}

/// A worker lease: an owner-chosen counter, unique per owner (the dedup key
/// Ray added to `RequestWorkerLease`).
public struct LeaseID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var owner: WorkerID
    public var index: UInt64
    public init(owner: WorkerID, index: UInt64) {
        self.owner = owner
        self.index = index
    }
    public static func < (lhs: LeaseID, rhs: LeaseID) -> Bool { (lhs.owner, lhs.index) < (rhs.owner, rhs.index) }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(index ^ (UInt64(owner.node.value) << 48) ^ (UInt64(owner.index) << 32))
    }
    public var description: String { "lease-\(owner.node.value).\(owner.index).\(index)" }
}

/// Where a message goes: the GCS, a raylet, or a worker (driver or task worker).
public enum Address: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    case gcs
    case raylet(NodeID)
    case worker(WorkerID)

    public var description: String {
        switch self {
        case .gcs: return "gcs"
        case .raylet(let node): return "raylet(\(node))"
        case .worker(let worker): return "\(worker)"
        }
    }

    /// The node this address lives on (nil for the GCS).
    public var node: NodeID? {
        switch self {
        case .gcs: return nil
        case .raylet(let node): return node
        case .worker(let worker): return worker.node
        }
    }
}

/// A table hash for an ID whose bits are already well mixed: the table's seed folded in by one
/// multiply and shift, so tables seeded differently still order their elements differently (what
/// Swift's per-table seeds are for) without SipHash's cost.
@inline(__always)
func fastHash(_ value: UInt64, seed: Int) -> Int {
    let z = (value ^ UInt64(bitPattern: Int64(seed))) &* 0xD6E8_FEB8_6659_FD93
    return Int(bitPattern: UInt(z ^ (z >> 32)))
}

/// SplitMix64's finaliser: a bijective 64-bit mixer.
@inline(__always)
public func mix(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Sixteen lowercase hex digits.
func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
