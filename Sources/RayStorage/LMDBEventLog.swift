// The durable `EventLog`: one LMDB environment per component log.
//
// Layout (format version 1). `path` is a directory (LMDB's default layout, not
// MDB_NOSUBDIR) holding `data.mdb` and `lock.mdb`; it is created if missing.
// The unnamed database maps 8-byte big-endian keys to values:
// - key 0: the header, "SWIFTRAY-LOG" (12 bytes), format version (UInt32 LE),
//   then the component name in UTF-8 ("gcs", "raylet:node-3");
// - key n >= 1: record n, stored as [CRC-32C of (key, payload), UInt32 LE][payload].
// Invariants: record keys are exactly 1...committedCount (written with
// MDB_APPEND); one `commit()` is one write transaction, synced unless the log
// was opened with `durable: false` (MDB_NOSYNC). Opening checks the header and
// that data.mdb is not shorter than the pages LMDB says it uses, since reading
// a page past the end of a truncated file would be a SIGBUS, not an error.
// Open one log directory at most once per process (an LMDB rule).

internal import CLMDB
import Foundation

/// An event log stored in LMDB, with group commit and per-record checksums.
public final class LMDBEventLog: EventLog {
    /// The initial LMDB map size; the map doubles whenever a commit finds it full.
    public static let mapSizeBytesDefault = 1 << 30
    /// The current on-disk format version.
    public static let formatVersion: UInt32 = 1
    static let magic: [UInt8] = Array("SWIFTRAY-LOG".utf8)
    /// How many times one commit may double the map before giving up.
    static let mapGrowthCountMax = 8

    /// The log's directory.
    public let path: String
    /// The component that owns the log, stored in its header.
    public let component: String
    /// Whether every commit is synced to disk before returning.
    public let durable: Bool
    /// Number of committed records; also the last committed sequence number.
    public internal(set) var committedCount: UInt64
    /// Number of records appended since the last successful commit.
    public var pendingCount: UInt64 { UInt64(batch.count) }

    var environment: OpaquePointer?
    var database: MDB_dbi
    var mapSizeBytes: Int
    var batch: [[UInt8]] = []

    /// Opens the log in directory `path` (creating it and a fresh log if needed) for `component`.
    ///
    /// - Parameters:
    ///   - path: a directory; LMDB keeps `data.mdb` and `lock.mdb` in it.
    ///   - component: the owner's name; reopening with a different name fails with `componentMismatch`.
    ///   - mapSizeBytes: the initial LMDB map size (address space, not disk space); grown on demand.
    ///   - durable: when false, commits are not synced (MDB_NOSYNC): faster, but a machine crash can lose them.
    /// - Throws: `foreignFile`, `unsupportedVersion`, `componentMismatch`, `corruptLog` or `cannotOpen`.
    public init(
        path: String, component: String, mapSizeBytes: Int = LMDBEventLog.mapSizeBytesDefault, durable: Bool = true
    ) throws(EventLogError) {
        self.path = path
        self.component = component
        self.durable = durable
        self.mapSizeBytes = max(mapSizeBytes, 1 << 20)
        let environment = try LMDBEventLog.openEnvironment(path: path, mapSizeBytes: self.mapSizeBytes, durable: durable)
        do {
            try LMDBEventLog.checkFileSize(environment: environment, path: path)
            let (database, lastSequence) = try LMDBEventLog.openDatabase(
                environment: environment, path: path, component: component)
            self.environment = environment
            self.database = database
            self.committedCount = lastSequence
        } catch {
            mdb_env_close(environment)
            throw error
        }
    }

    deinit {
        close()
    }

    /// Closes the LMDB environment; records appended but not committed are dropped. Idempotent.
    public func close() {
        guard let environment else { return }
        mdb_env_close(environment)
        self.environment = nil
        batch.removeAll()
    }

    // MARK: Opening

    private static func openEnvironment(path: String, mapSizeBytes: Int, durable: Bool) throws(EventLogError) -> OpaquePointer {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw .foreignFile(path: path, reason: "it is a file, but an event log is a directory")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .cannotOpen(path: path, reason: "cannot create the directory: \(error)")
        }
        var environment: OpaquePointer?
        var code = mdb_env_create(&environment)
        guard code == MDB_SUCCESS, let environment else {
            throw .cannotOpen(path: path, reason: LMDBEventLog.message(code))
        }
        code = mdb_env_set_mapsize(environment, mapSizeBytes)
        if code == MDB_SUCCESS {
            // Non-durable logs write through the map (MDB_WRITEMAP): a commit is memory writes and
            // no syscalls; the kernel's page cache keeps them if the process dies.
            let flags = UInt32(MDB_NOTLS) | (durable ? 0 : UInt32(MDB_NOSYNC) | UInt32(MDB_WRITEMAP))
            code = mdb_env_open(environment, path, flags, 0o644)
        }
        guard code == MDB_SUCCESS else {
            mdb_env_close(environment)
            if code == MDB_INVALID {
                throw .foreignFile(path: path, reason: "data.mdb is not an LMDB file")
            }
            if code == MDB_VERSION_MISMATCH {
                throw .foreignFile(path: path, reason: "data.mdb was written by an incompatible LMDB version")
            }
            throw .cannotOpen(path: path, reason: LMDBEventLog.message(code))
        }
        return environment
    }

    /// Rejects a data file shorter than the pages its meta page claims, before any page is read.
    private static func checkFileSize(environment: OpaquePointer, path: String) throws(EventLogError) {
        var info = MDB_envinfo()
        var statistics = MDB_stat()
        guard mdb_env_info(environment, &info) == MDB_SUCCESS, mdb_env_stat(environment, &statistics) == MDB_SUCCESS else {
            throw .cannotOpen(path: path, reason: "cannot read the LMDB environment's size")
        }
        let neededBytes = (info.me_last_pgno + 1) * Int(statistics.ms_psize)
        let dataPath = (path as NSString).appendingPathComponent("data.mdb")
        let attributes = try? FileManager.default.attributesOfItem(atPath: dataPath)
        let sizeBytes = (attributes?[.size] as? NSNumber)?.intValue ?? (attributes?[.size] as? Int)
        guard let sizeBytes else {
            throw .cannotOpen(path: path, reason: "cannot read the size of \(dataPath)")
        }
        guard sizeBytes >= neededBytes else {
            throw .corruptLog(
                path: path, reason: "data.mdb is truncated: \(sizeBytes) bytes, but its pages need \(neededBytes)")
        }
    }

    /// Opens the unnamed database, checks or writes the header, and returns the last sequence number.
    private static func openDatabase(
        environment: OpaquePointer, path: String, component: String
    ) throws(EventLogError) -> (MDB_dbi, UInt64) {
        var transaction: OpaquePointer?
        var code = mdb_txn_begin(environment, nil, 0, &transaction)
        guard code == MDB_SUCCESS, let transaction else {
            throw .cannotOpen(path: path, reason: LMDBEventLog.message(code))
        }
        var database: MDB_dbi = 0
        var lastSequence: UInt64 = 0
        do throws(EventLogError) {
            code = mdb_dbi_open(transaction, nil, 0, &database)
            guard code == MDB_SUCCESS else { throw .cannotOpen(path: path, reason: LMDBEventLog.message(code)) }
            if let header = try readValue(transaction: transaction, database: database, key: 0, path: path) {
                try checkHeader(header, path: path, component: component)
                lastSequence = try readLastSequence(transaction: transaction, database: database, path: path)
            } else {
                try writeHeader(transaction: transaction, database: database, path: path, component: component)
            }
        } catch {
            mdb_txn_abort(transaction)
            throw error
        }
        code = mdb_txn_commit(transaction)
        guard code == MDB_SUCCESS else { throw .cannotOpen(path: path, reason: LMDBEventLog.message(code)) }
        return (database, lastSequence)
    }

    private static func checkHeader(_ header: [UInt8], path: String, component: String) throws(EventLogError) {
        let magicCount = magic.count
        guard header.count >= magicCount, header[0..<magicCount].elementsEqual(magic) else {
            throw .foreignFile(path: path, reason: "its header does not start with \"SWIFTRAY-LOG\"")
        }
        guard header.count >= magicCount + 4 else {
            throw .corruptLog(path: path, reason: "the header is \(header.count) bytes, too short for a version")
        }
        var version: UInt32 = 0
        for index in 0..<4 { version |= UInt32(header[magicCount + index]) << UInt32(8 * index) }
        guard version == formatVersion else { throw .unsupportedVersion(path: path, found: version) }
        guard let found = String(validating: header[(magicCount + 4)...], as: UTF8.self) else {
            throw .corruptLog(path: path, reason: "the header's component name is not valid UTF-8")
        }
        guard found == component else { throw .componentMismatch(path: path, expected: component, found: found) }
    }

    private static func writeHeader(
        transaction: OpaquePointer, database: MDB_dbi, path: String, component: String
    ) throws(EventLogError) {
        var statistics = MDB_stat()
        guard mdb_stat(transaction, database, &statistics) == MDB_SUCCESS else {
            throw .cannotOpen(path: path, reason: "cannot read the database statistics")
        }
        guard statistics.ms_entries == 0 else {
            throw .foreignFile(path: path, reason: "an LMDB database without a SwiftRay header")
        }
        var header = magic
        for index in 0..<4 { header.append(UInt8(truncatingIfNeeded: formatVersion >> UInt32(8 * index))) }
        header.append(contentsOf: component.utf8)
        var keyBytes = UInt64(0).bigEndian
        let code = withUnsafeMutableBytes(of: &keyBytes) { keyBuffer in
            header.withUnsafeMutableBytes { headerBuffer in
                var key = MDB_val(mv_size: keyBuffer.count, mv_data: keyBuffer.baseAddress)
                var value = MDB_val(mv_size: headerBuffer.count, mv_data: headerBuffer.baseAddress)
                return mdb_put(transaction, database, &key, &value, 0)
            }
        }
        guard code == MDB_SUCCESS else { throw .cannotOpen(path: path, reason: LMDBEventLog.message(code)) }
    }

    /// The value stored under sequence-number key `key`, or nil if there is none.
    private static func readValue(
        transaction: OpaquePointer, database: MDB_dbi, key keyNumber: UInt64, path: String
    ) throws(EventLogError) -> [UInt8]? {
        var keyBytes = keyNumber.bigEndian
        var value = MDB_val()
        let code = withUnsafeMutableBytes(of: &keyBytes) { keyBuffer in
            var key = MDB_val(mv_size: keyBuffer.count, mv_data: keyBuffer.baseAddress)
            return mdb_get(transaction, database, &key, &value)
        }
        if code == MDB_NOTFOUND { return nil }
        guard code == MDB_SUCCESS else { throw .readFailed(path: path, reason: LMDBEventLog.message(code)) }
        guard let data = value.mv_data else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: value.mv_size))
    }

    /// The last record's sequence number, after checking that keys 0...last are all present.
    private static func readLastSequence(
        transaction: OpaquePointer, database: MDB_dbi, path: String
    ) throws(EventLogError) -> UInt64 {
        var cursor: OpaquePointer?
        guard mdb_cursor_open(transaction, database, &cursor) == MDB_SUCCESS, let cursor else {
            throw .readFailed(path: path, reason: "cannot open a cursor")
        }
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var value = MDB_val()
        let code = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
        guard code == MDB_SUCCESS else { throw .readFailed(path: path, reason: LMDBEventLog.message(code)) }
        guard key.mv_size == 8, let keyData = key.mv_data else {
            throw .corruptLog(path: path, reason: "a key of \(key.mv_size) bytes, not 8")
        }
        let lastSequence = UInt64(bigEndian: keyData.loadUnaligned(as: UInt64.self))
        var statistics = MDB_stat()
        guard mdb_stat(transaction, database, &statistics) == MDB_SUCCESS else {
            throw .readFailed(path: path, reason: "cannot read the database statistics")
        }
        guard lastSequence < UInt64.max, UInt64(statistics.ms_entries) == lastSequence + 1 else {
            throw .corruptLog(
                path: path, reason: "\(statistics.ms_entries) entries, but the last record is number \(lastSequence)")
        }
        return lastSequence
    }

    static func message(_ code: Int32) -> String {
        guard let text = mdb_strerror(code) else { return "LMDB error \(code)" }
        return String(cString: text)
    }
}
