// The closed set of failures of an event log. Each case names what happened
// and what the operator can do; `description` is meant to be shown as is.

/// A failure to open, write or read an event log.
public enum EventLogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The log at `path` could not be opened; `reason` is the system's or LMDB's explanation.
    case cannotOpen(path: String, reason: String)
    /// `path` holds something that is not a SwiftRay event log.
    case foreignFile(path: String, reason: String)
    /// The log at `path` was written in format version `found`, which this build does not read.
    case unsupportedVersion(path: String, found: UInt32)
    /// The log at `path` belongs to component `found`, not to `expected`.
    case componentMismatch(path: String, expected: String, found: String)
    /// The record with sequence number `seq` fails its checksum or is malformed.
    case corruptRecord(seq: UInt64)
    /// The log's structure is damaged (a missing header, a gap in sequence numbers, a truncated file).
    case corruptLog(path: String, reason: String)
    /// Writing the batch failed; the batch is still pending.
    case writeFailed(path: String, reason: String)
    /// Reading committed records failed.
    case readFailed(path: String, reason: String)
    /// The log was used after `close()`.
    case closed(path: String)

    /// A sentence saying what happened and what the user can do.
    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "cannot open the event log at \(path): \(reason); check that the directory is writable "
                + "and not used by another build, or delete the directory to start a fresh log"
        case let .foreignFile(path, reason):
            return "\(path) is not a SwiftRay event log (\(reason)); point to the right directory, "
                + "or move the file away to start a fresh log"
        case let .unsupportedVersion(path, found):
            return "the event log at \(path) uses format version \(found), which this build cannot read; "
                + "use a matching SwiftRay build, or delete the directory to start a fresh log"
        case let .componentMismatch(path, expected, found):
            return "the event log at \(path) belongs to \"\(found)\", not \"\(expected)\"; "
                + "give each component its own directory"
        case let .corruptRecord(seq):
            return "event log record \(seq) is corrupt (checksum mismatch); records before it are intact: "
                + "restore the log from a copy, or delete the directory to start a fresh log"
        case let .corruptLog(path, reason):
            return "the event log at \(path) is damaged: \(reason); restore it from a copy, "
                + "or delete the directory to start a fresh log"
        case let .writeFailed(path, reason):
            return "writing to the event log at \(path) failed: \(reason); the batch is kept and can be "
                + "committed again once the cause (e.g. a full disk) is fixed"
        case let .readFailed(path, reason):
            return "reading the event log at \(path) failed: \(reason)"
        case let .closed(path):
            return "the event log at \(path) was used after close(); open it again"
        }
    }
}
