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
    /// How many tasks were submitted and values put.
    public private(set) var tasks: UInt64 = 0
    public private(set) var puts: UInt32 = 0

    public init(parent: TaskID) {
        self.parent = parent
    }

    /// The ID the next submitted task gets.
    public var nextTask: TaskID { TaskID.child(of: parent, index: tasks + 1) }
    /// The ID the next put value gets.
    public var nextPut: ObjectID { ObjectID.put(by: parent, index: puts + 1) }

    /// The next task's ID, taken.
    public mutating func takeTask() -> TaskID {
        tasks += 1
        return TaskID.child(of: parent, index: tasks)
    }

    /// The next put's ID, taken.
    public mutating func takePut() -> ObjectID {
        puts += 1
        return ObjectID.put(by: parent, index: puts)
    }
}
