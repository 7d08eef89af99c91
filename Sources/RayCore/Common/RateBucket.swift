// A token bucket that holds back what exceeds its rate (issue 12: rate limits per operation),
// shared by the GCS's creation rates (GCS+CreationRate) and the raylet's lease-request rates
// (Raylet+RequestRate). It holds one second's worth of credit, kept in millionths of an
// operation so the arithmetic is exact and the same in both worlds; what finds it empty waits
// in order behind what already waits, and is admitted as the bucket refills. An operation may
// cost more than one (a job past a soft limit is slowed down: GCS+CreationRate), never more
// than the bucket holds.
//
// Invariants: credit never exceeds one second's worth and is never negative; waiting elements
// are admitted in order, each once; while any wait, a new one waits behind them.

/// One bucket (one job's, for one kind of operation) and what waits for it.
public struct RateBucket<Element: Hashable & Sendable>: Hashable, Sendable {
    /// An operation's worth of credit.
    public static var unit: Int64 { 1_000_000 }

    /// Millionths of an operation available (at most one second's worth).
    var credit: Int64
    /// When `credit` was last brought up to date.
    var at: Int64
    /// One waiting element and what it costs, in operations.
    struct Waiting: Hashable, Sendable {
        var element: Element
        var cost: Int64
    }
    var waiting: [Waiting] = []
    /// The first waiting one (the queue's head; earlier ones were admitted).
    var head = 0
    public var waitingCount: Int { waiting.count - head }
    /// What waits, in order.
    public var waitingElements: [Element] { waiting[head...].map(\.element) }

    /// A full bucket at `now`.
    public init(perSecond: Int, now: Int64) {
        credit = Int64(perSecond) * Self.unit
        at = now
    }

    /// Brought up to `now` at `perSecond` (credit per microsecond: perSecond millionths).
    public mutating func refill(perSecond: Int, now: Int64) {
        let capacity = Int64(perSecond) * Self.unit
        let earned = max(0, now - at).multipliedReportingOverflow(by: Int64(perSecond))
        credit = earned.overflow ? capacity : min(capacity, credit + earned.partialValue)
        at = now
    }

    /// `bucket` refilled to `now`, or a full one where there was none (a job's first operation).
    public static func refilled(_ bucket: Self?, perSecond: Int, now: Int64) -> Self {
        guard var bucket else { return Self(perSecond: perSecond, now: now) }
        bucket.refill(perSecond: perSecond, now: now)
        return bucket
    }

    /// `cost` operations' worth of credit, at most what a bucket of `perSecond` holds.
    public static func credit(cost: Int64, perSecond: Int) -> Int64 { min(max(cost, 1), Int64(perSecond)) * unit }

    /// Takes `cost` operations' credit (at most a full bucket's) if it is there and nothing waits.
    public mutating func take(cost: Int64 = 1, perSecond: Int) -> Bool {
        let needed = Self.credit(cost: cost, perSecond: perSecond)
        guard waitingCount == 0, credit >= needed else { return false }
        credit -= needed
        return true
    }

    /// Whether `cost` operations' credit is there and nothing waits (takes nothing).
    public func hasCredit(cost: Int64 = 1, perSecond: Int) -> Bool {
        waitingCount == 0 && credit >= Self.credit(cost: cost, perSecond: perSecond)
    }

    /// Queues `element`, costing `cost` operations, behind what waits.
    public mutating func wait(_ element: Element, cost: Int64 = 1) { waiting.append(Waiting(element: element, cost: cost)) }

    /// The waiting ones the credit covers, at most `limit`, in order (`stillWanted` false: gone
    /// meanwhile, no credit spent), taken off the queue.
    public mutating func admit(perSecond: Int, limit: Int = .max, stillWanted: (Element) -> Bool) -> [Element] {
        var admitted: [Element] = []
        while waitingCount > 0, admitted.count < limit {
            let next = waiting[head]
            let needed = Self.credit(cost: next.cost, perSecond: perSecond)
            guard credit >= needed else { break }
            head += 1
            guard stillWanted(next.element) else { continue }
            credit -= needed
            admitted.append(next.element)
        }
        if waitingCount == 0 {
            waiting = []
            head = 0
        } else if head > 1024 && head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
        return admitted
    }

    /// Microseconds until the credit of the next waiting one (or of one operation) is there.
    public func microsUntilCredit(perSecond: Int) -> Int64 {
        let cost = waitingCount > 0 ? waiting[head].cost : 1
        let missing = max(0, Self.credit(cost: cost, perSecond: perSecond) - credit)
        return max(1, (missing + Int64(perSecond) - 1) / Int64(perSecond))
    }
}
