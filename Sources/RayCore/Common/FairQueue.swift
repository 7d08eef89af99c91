// The queue of one scheduling class in a raylet: a FIFO per job, with a turn order between
// jobs (the job served last goes to the back), so a job that floods a node with requests of
// a shape cannot make another job's requests of that shape wait behind all of its own
// (issue 12: fair share between jobs; the raylet picks the job holding least of the node,
// the turn breaking ties). With one job it is exactly a FIFO.
//
// Invariants: `order` holds each job with a non-empty queue once, and no other; `first`
// is the head of the first job in `order`; popping it moves that job to the back.

/// Elements queued per job and served round robin between jobs.
public struct FairQueue<Element>: Sendable where Element: Sendable {
    private var queues: [JobID: FIFOQueue<Element>] = [:]
    /// Jobs with queued elements; the first is served next.
    private var order: [JobID] = []
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    /// The element served next.
    public var first: Element? { order.first.flatMap { queues[$0]?.first } }

    public mutating func append(_ element: Element, job: JobID) {
        if queues[job] == nil {
            queues[job] = FIFOQueue()
            order.append(job)
        }
        queues[job]!.append(element)
        count += 1
    }

    /// Takes the element served next; its job goes to the back of the turn.
    @discardableResult
    public mutating func popFirst() -> Element? {
        guard let job = order.first else { return nil }
        return popFirst(of: job)
    }

    /// The oldest element of `job`.
    public func first(of job: JobID) -> Element? { queues[job]?.first }

    /// Takes the oldest element of `job`; the job goes to the back of the turn.
    @discardableResult
    public mutating func popFirst(of job: JobID) -> Element? {
        guard let element = queues[job]?.popFirst() else { return nil }
        count -= 1
        order.removeAll { $0 == job }
        if queues[job]!.isEmpty {
            queues[job] = nil
        } else {
            order.append(job)
        }
        return element
    }

    /// Drops, from the head of each job's queue, the elements `drop` says to (the turn order stays).
    public mutating func dropHeads(where drop: (Element) -> Bool) {
        for job in order {
            while let head = queues[job]!.first, drop(head) {
                queues[job]!.popFirst()
                count -= 1
            }
            if queues[job]!.isEmpty { queues[job] = nil }
        }
        order.removeAll { queues[$0] == nil }
    }

    public mutating func removeAll(where shouldRemove: (Element) -> Bool) {
        for job in order {
            let before = queues[job]!.count
            queues[job]!.removeAll(where: shouldRemove)
            count -= before - queues[job]!.count
            if queues[job]!.isEmpty { queues[job] = nil }
        }
        order.removeAll { queues[$0] == nil }
    }

    /// Every element, job by job in turn order (each job's oldest first).
    public var elements: [Element] {
        var all: [Element] = []
        all.reserveCapacity(count)
        for job in order { all.append(contentsOf: queues[job]!.elements) }
        return all
    }

    /// How many elements `job` has queued.
    public func count(of job: JobID) -> Int { queues[job]?.count ?? 0 }

    /// The jobs with queued elements, in turn order.
    public var jobs: [JobID] { order }
}
