// Appending, group-committing and reading records of an `LMDBEventLog`.
// Invariants: a commit writes the whole batch in one transaction or nothing
// (an aborted transaction leaves the batch pending for a retry); a read checks
// every record's key sequence and checksum before handing out its bytes.

internal import CLMDB

extension LMDBEventLog {
    /// Appends one record to the pending batch; returns its sequence number.
    @discardableResult
    public func append(_ record: [UInt8]) throws(EventLogError) -> UInt64 {
        guard environment != nil else { throw .closed(path: path) }
        batch.append(record)
        return committedCount + UInt64(batch.count)
    }

    /// Writes the pending batch in one transaction, synced unless the log is not durable.
    ///
    /// When the LMDB map is full it is doubled (up to `mapGrowthCountMax` times) and the batch retried.
    public func commit() throws(EventLogError) {
        guard let environment else { throw .closed(path: path) }
        guard !batch.isEmpty else { return }
        var growthCount = 0
        while true {
            let code = writeBatch(environment: environment)
            if code == MDB_SUCCESS { break }
            guard code == MDB_MAP_FULL, growthCount < LMDBEventLog.mapGrowthCountMax else {
                throw .writeFailed(path: path, reason: LMDBEventLog.message(code))
            }
            let grownCode = mdb_env_set_mapsize(environment, mapSizeBytes * 2)
            guard grownCode == MDB_SUCCESS else {
                throw .writeFailed(path: path, reason: "cannot grow the map: \(LMDBEventLog.message(grownCode))")
            }
            mapSizeBytes *= 2
            growthCount += 1
        }
        committedCount += UInt64(batch.count)
        batch.removeAll(keepingCapacity: true)
    }

    /// One write transaction holding the whole batch; returns an LMDB status code.
    private func writeBatch(environment: OpaquePointer) -> Int32 {
        var transaction: OpaquePointer?
        let beginCode = mdb_txn_begin(environment, nil, 0, &transaction)
        guard beginCode == MDB_SUCCESS, let transaction else { return beginCode }
        var sequence = committedCount
        for record in batch {
            sequence += 1
            let code = LMDBEventLog.putRecord(record, sequence: sequence, transaction: transaction, database: database)
            guard code == MDB_SUCCESS else {
                mdb_txn_abort(transaction)
                return code
            }
        }
        return mdb_txn_commit(transaction)
    }

    /// Reserves the value in place (MDB_RESERVE) and writes checksum and payload straight into the map.
    private static func putRecord(
        _ record: [UInt8], sequence: UInt64, transaction: OpaquePointer, database: MDB_dbi
    ) -> Int32 {
        var keyBytes = sequence.bigEndian
        return withUnsafeMutableBytes(of: &keyBytes) { keyBuffer in
            var key = MDB_val(mv_size: keyBuffer.count, mv_data: keyBuffer.baseAddress)
            var value = MDB_val(mv_size: 4 + record.count, mv_data: nil)
            let code = mdb_put(transaction, database, &key, &value, UInt32(MDB_APPEND) | UInt32(MDB_RESERVE))
            guard code == MDB_SUCCESS, let destination = value.mv_data else { return code == MDB_SUCCESS ? MDB_PANIC : code }
            record.withUnsafeBytes { payload in
                let checksum = CRC32C.record(sequence: sequence, payload: payload)
                destination.storeBytes(of: checksum.littleEndian, as: UInt32.self)
                if let payloadStart = payload.baseAddress, !payload.isEmpty {
                    (destination + 4).copyMemory(from: payloadStart, byteCount: payload.count)
                }
            }
            return MDB_SUCCESS
        }
    }

    /// Calls `body` for every committed record from `firstSequence` on, after checking its checksum.
    ///
    /// - Throws: `corruptRecord(seq:)` for a record whose checksum fails, `corruptLog` for a missing record.
    public func forEach(from firstSequence: UInt64, _ body: (UInt64, [UInt8]) -> Bool) throws(EventLogError) {
        guard let environment else { throw .closed(path: path) }
        var expected = max(firstSequence, 1)
        guard expected <= committedCount else { return }
        var transaction: OpaquePointer?
        var code = mdb_txn_begin(environment, nil, UInt32(MDB_RDONLY), &transaction)
        guard code == MDB_SUCCESS, let transaction else { throw .readFailed(path: path, reason: LMDBEventLog.message(code)) }
        defer { mdb_txn_abort(transaction) }
        var cursorOrNil: OpaquePointer?
        code = mdb_cursor_open(transaction, database, &cursorOrNil)
        guard code == MDB_SUCCESS, let cursor = cursorOrNil else {
            throw .readFailed(path: path, reason: LMDBEventLog.message(code))
        }
        defer { mdb_cursor_close(cursor) }

        var key = MDB_val()
        var value = MDB_val()
        var startKeyBytes = expected.bigEndian
        code = withUnsafeMutableBytes(of: &startKeyBytes) { keyBuffer in
            key = MDB_val(mv_size: keyBuffer.count, mv_data: keyBuffer.baseAddress)
            return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
        }
        while expected <= committedCount {
            if code == MDB_NOTFOUND {
                throw .corruptLog(path: path, reason: "record \(expected) is missing")
            }
            guard code == MDB_SUCCESS else { throw .readFailed(path: path, reason: LMDBEventLog.message(code)) }
            let payload = try checkedPayload(key: key, value: value, expected: expected)
            guard body(expected, Array(payload)) else { return }
            expected += 1
            code = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
    }

    /// The payload of the record at the cursor, which must be record `expected` with a valid checksum.
    private func checkedPayload(key: MDB_val, value: MDB_val, expected: UInt64) throws(EventLogError) -> UnsafeRawBufferPointer {
        guard key.mv_size == 8, let keyData = key.mv_data else {
            throw .corruptLog(path: path, reason: "a key of \(key.mv_size) bytes where record \(expected) should be")
        }
        let sequence = UInt64(bigEndian: keyData.loadUnaligned(as: UInt64.self))
        guard sequence == expected else {
            throw .corruptLog(path: path, reason: "record \(sequence) found where record \(expected) should be")
        }
        guard value.mv_size >= 4, let valueData = value.mv_data else { throw .corruptRecord(seq: sequence) }
        let storedChecksum = UInt32(littleEndian: valueData.loadUnaligned(as: UInt32.self))
        let payload = UnsafeRawBufferPointer(start: valueData + 4, count: value.mv_size - 4)
        guard CRC32C.record(sequence: sequence, payload: payload) == storedChecksum else {
            throw .corruptRecord(seq: sequence)
        }
        return payload
    }
}
