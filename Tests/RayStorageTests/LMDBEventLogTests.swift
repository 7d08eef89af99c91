// LMDB log: durability across reopen, group commit, map growth, and clear
// errors (never crashes) for foreign, mismatched, corrupt and truncated files.

import Foundation
import RayStorage
import Testing

@Test func uncommittedRecordsAreNotVisibleAfterReopen() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    do {
        let log = try LMDBEventLog(path: directory.logPath, component: "gcs")
        try log.append(record(1))
        try log.commit()
        try log.append(record(2))
        log.close()
        #expect(throws: EventLogError.closed(path: directory.logPath)) { try log.append(record(3)) }
    }
    let reopened = try LMDBEventLog(path: directory.logPath, component: "gcs")
    #expect(reopened.committedCount == 1)
    #expect(try reopened.allRecords() == [record(1)])
}

@Test func reopenPreservesRecordsAndContinuesSequenceNumbers() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    do {
        let log = try LMDBEventLog(path: directory.logPath, component: "raylet:node-3")
        for index in 1...5 { try log.append(record(index)) }
        try log.commit()
    }
    let log = try LMDBEventLog(path: directory.logPath, component: "raylet:node-3")
    #expect(log.committedCount == 5)
    #expect(try log.append(record(6)) == 6)
    try log.commit()
    #expect(try log.allRecords() == (1...6).map(record))
}

@Test(arguments: [true, false])
func groupCommitOfTenThousandRecords(durable: Bool) throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    let log = try LMDBEventLog(path: directory.logPath, component: "gcs", durable: durable)
    for index in 1...10_000 { #expect(try log.append(record(index)) == UInt64(index)) }
    try log.commit()
    log.close()
    let reopened = try LMDBEventLog(path: directory.logPath, component: "gcs")
    #expect(reopened.committedCount == 10_000)
    var expected: UInt64 = 1
    try reopened.forEach { sequence, bytes in
        #expect(sequence == expected && bytes == record(Int(expected)))
        expected += 1
        return true
    }
    #expect(expected == 10_001)
}

@Test func fullMapGrowsAndCommitSucceeds() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    let log = try LMDBEventLog(path: directory.logPath, component: "gcs", mapSizeBytes: 1 << 20, durable: false)
    let payload = [UInt8](repeating: 7, count: 1000)
    for _ in 0..<3000 { try log.append(payload) }
    try log.commit()
    #expect(log.committedCount == 3000)
    #expect(try log.allRecords().count == 3000)
}

@Test func componentMismatchIsReported() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    _ = try LMDBEventLog(path: directory.logPath, component: "gcs")
    #expect(throws: EventLogError.componentMismatch(path: directory.logPath, expected: "raylet:node-1", found: "gcs")) {
        try LMDBEventLog(path: directory.logPath, component: "raylet:node-1")
    }
}

@Test func otherMagicIsAForeignFile() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    _ = try LMDBEventLog(path: directory.logPath, component: "gcs")
    #expect(try directory.patchDataFile(replacing: Array("SWIFTRAY-LOG".utf8), with: Array("OTHERAPP-LOG".utf8)) > 0)
    let error = eventLogError { _ = try LMDBEventLog(path: directory.logPath, component: "gcs") }
    guard case .foreignFile = error else { Issue.record("expected foreignFile, got \(String(describing: error))"); return }
}

@Test func otherVersionIsUnsupported() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    _ = try LMDBEventLog(path: directory.logPath, component: "gcs")
    let header = Array("SWIFTRAY-LOG".utf8)
    try directory.patchDataFile(replacing: header + [1, 0, 0, 0], with: header + [2, 0, 0, 0])
    #expect(throws: EventLogError.unsupportedVersion(path: directory.logPath, found: 2)) {
        try LMDBEventLog(path: directory.logPath, component: "gcs")
    }
}

@Test func randomGarbageDataFileIsAForeignFile() throws {
    for sizeBytes in [0, 100, 4096, 65536] {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try directory.createLogDirectory()
        try Data(pseudoRandomBytes(count: sizeBytes, seed: UInt64(sizeBytes))).write(to: URL(fileURLWithPath: directory.dataFilePath))
        let error = eventLogError { _ = try LMDBEventLog(path: directory.logPath, component: "gcs") }
        if sizeBytes == 0 {
            // An empty data file is what LMDB itself leaves when creation is interrupted: a fresh log.
            #expect(error == nil)
        } else {
            guard case .foreignFile = error else { Issue.record("\(sizeBytes) bytes: got \(String(describing: error))"); continue }
        }
    }
}

@Test func pathThatIsAFileIsAForeignFile() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
    try Data(pseudoRandomBytes(count: 1000, seed: 1)).write(to: URL(fileURLWithPath: directory.logPath))
    let error = eventLogError { _ = try LMDBEventLog(path: directory.logPath, component: "gcs") }
    guard case .foreignFile = error else { Issue.record("got \(String(describing: error))"); return }
    #expect(error?.description.contains("not a SwiftRay event log") == true)
}

@Test func corruptedRecordBytesAreReported() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    do {
        let log = try LMDBEventLog(path: directory.logPath, component: "gcs")
        for index in 1...100 { try log.append(record(index)) }
        try log.commit()
    }
    #expect(try directory.patchDataFile(replacing: record(42), with: Array("record-4X".utf8)) == 1)
    let log = try LMDBEventLog(path: directory.logPath, component: "gcs")
    var readCount = 0
    #expect(throws: EventLogError.corruptRecord(seq: 42)) {
        try log.forEach { _, _ in readCount += 1; return true }
    }
    #expect(readCount == 41)
    var fromFifty = 0
    try log.forEach(from: 50) { _, _ in fromFifty += 1; return true }
    #expect(fromFifty == 51)
}

@Test func truncatedDataFileIsAClearError() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    do {
        let log = try LMDBEventLog(path: directory.logPath, component: "gcs")
        for index in 1...10_000 { try log.append(record(index)) }
        try log.commit()
    }
    let sizeBytes = try Data(contentsOf: URL(fileURLWithPath: directory.dataFilePath)).count
    for keptBytes in [sizeBytes / 2, 8192, 5000, 100] {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.dataFilePath))
        try handle.truncate(atOffset: UInt64(keptBytes))
        try handle.close()
        let error = eventLogError { _ = try LMDBEventLog(path: directory.logPath, component: "gcs") }
        switch error {
        case .corruptLog?, .cannotOpen?, .foreignFile?: break
        default: Issue.record("\(keptBytes) bytes kept: got \(String(describing: error))")
        }
    }
}

@Test(.enabled(if: ProcessInfo.processInfo.environment["SWIFTRAY_BENCHMARK"] != nil))
func benchmarkDurableAppends() throws {
    let path = "/tmp/swiftray-storage-tests/benchmark-\(UUID().uuidString)"
    for batch in [1, 10, 100, 1000] {
        let records = batch == 1 ? 2000 : 200_000
        let result = try EventLogBenchmark.run(path: path, records: records, recordBytes: 100, batch: batch)
        print("durable appends, 100-byte records, batch \(batch): \(Int(result.appendsPerSecond))/s (\(result.seconds) s)")
    }
}
