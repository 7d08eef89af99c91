// Measures durable appends per second of the LMDB log with group commit. A
// benchmark, not a test: it reports figures and never fails on time. It uses
// the monotonic ContinuousClock, which only the storage and runtime layers may.

import Foundation

/// A throughput measurement of `LMDBEventLog`.
public enum EventLogBenchmark {
    /// Appends `records` records of `recordBytes` bytes to a fresh durable log at `path`,
    /// committing every `batch` records, and returns the rate and the elapsed time.
    ///
    /// `path` must not exist yet; it is created for the run and removed afterwards.
    public static func run(
        path: String, records: Int, recordBytes: Int, batch: Int
    ) throws -> (appendsPerSecond: Double, seconds: Double) {
        precondition(records > 0 && recordBytes >= 0 && batch > 0, "records and batch must be positive")
        guard !FileManager.default.fileExists(atPath: path) else {
            throw EventLogError.cannotOpen(path: path, reason: "the benchmark needs a path that does not exist yet")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try LMDBEventLog(path: path, component: "benchmark", durable: true)
        defer { log.close() }
        let record = (0..<recordBytes).map { UInt8(truncatingIfNeeded: $0) }
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<records {
            try log.append(record)
            if (index + 1) % batch == 0 { try log.commit() }
        }
        try log.commit()
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return (Double(records) / seconds, seconds)
    }
}
