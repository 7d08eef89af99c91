// An `EventLog` held in memory: the deterministic backend for the simulator
// and tests (as NIOEmbedded is to NIOPosix). Invariant: `records` holds exactly
// the committed records, record i (0-based) having sequence number i + 1.

/// An event log kept in an array; `commit()` moves the pending batch into it.
public final class InMemoryEventLog: EventLog {
    private var records: [[UInt8]] = []
    private var batch: [[UInt8]] = []

    /// Creates an empty log.
    public init() {}

    /// Number of committed records.
    public var committedCount: UInt64 { UInt64(records.count) }

    /// Number of records appended since the last commit.
    public var pendingCount: UInt64 { UInt64(batch.count) }

    /// Appends one record to the pending batch; returns its sequence number.
    @discardableResult
    public func append(_ record: [UInt8]) throws(EventLogError) -> UInt64 {
        batch.append(record)
        return UInt64(records.count + batch.count)
    }

    /// Moves the pending batch into the committed records.
    public func commit() throws(EventLogError) {
        records.append(contentsOf: batch)
        batch.removeAll(keepingCapacity: true)
    }

    /// Drops the pending batch, as a crash before `commit()` would.
    public func discardPending() {
        batch.removeAll(keepingCapacity: true)
    }

    /// Calls `body` for every committed record from `firstSequence` on, in order.
    public func forEach(from firstSequence: UInt64, _ body: (UInt64, [UInt8]) -> Bool) throws(EventLogError) {
        let startIndex = Int(clamping: max(firstSequence, 1) - 1)
        guard startIndex < records.count else { return }
        for index in startIndex..<records.count where !body(UInt64(index + 1), records[index]) {
            return
        }
    }
}
