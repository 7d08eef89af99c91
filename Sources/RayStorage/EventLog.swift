// The event log every component appends its inputs to (DESIGN.md: "inputs
// logged first"). Invariants: sequence numbers start at 1 and are contiguous
// for the life of a log; a record is visible to readers and survives a restart
// only after the `commit()` that follows its `append`; `commit()` is one
// durable write for the whole batch (group commit, once per loop turn).

/// An append-only, group-committed log of opaque records numbered 1, 2, 3, ...
///
/// Not thread-safe: one owner (a loop) appends, commits and reads.
public protocol EventLog: AnyObject {
    /// Appends one record to the current batch; returns its sequence number (1, 2, 3, ... across the log's life).
    ///
    /// The record is not visible to `forEach` and not durable until `commit()`.
    @discardableResult func append(_ record: [UInt8]) throws(EventLogError) -> UInt64

    /// Makes every appended record durable in one write transaction (group commit: call once per loop turn).
    ///
    /// On failure the batch stays pending, so a later `commit()` can retry it.
    func commit() throws(EventLogError)

    /// Number of committed records; also the sequence number of the last one (0 when empty).
    var committedCount: UInt64 { get }

    /// Number of records appended since the last successful `commit()`.
    var pendingCount: UInt64 { get }

    /// Calls `body` for every committed record with a sequence number of at least `firstSequence`,
    /// in order, with its sequence number and bytes; stops early when `body` returns false.
    ///
    /// `body` does not throw: to stop on an error of your own, store it and return false.
    func forEach(from firstSequence: UInt64, _ body: (UInt64, [UInt8]) -> Bool) throws(EventLogError)
}

extension EventLog {
    /// Calls `body` for every committed record in order (sequence number, bytes); stops early when `body` returns false.
    public func forEach(_ body: (UInt64, [UInt8]) -> Bool) throws(EventLogError) {
        try forEach(from: 1, body)
    }

    /// Every committed record in order; meant for tests and small logs.
    public func allRecords() throws(EventLogError) -> [[UInt8]] {
        var records: [[UInt8]] = []
        try forEach(from: 1) { _, record in
            records.append(record)
            return true
        }
        return records
    }
}
