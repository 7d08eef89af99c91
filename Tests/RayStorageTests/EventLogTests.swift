// Behaviour shared by every EventLog, run against both backends, and the
// in-memory log's crash helper.

import Foundation
import RayStorage
import Testing

func record(_ index: Int) -> [UInt8] { Array("record-\(index)".utf8) }

/// Appends, commits and reads back in order, checking sequence numbers and pending visibility.
func checkAppendCommitRead(_ log: any EventLog) throws {
    #expect(log.committedCount == 0)
    #expect(try log.append(record(1)) == 1)
    #expect(try log.append(record(2)) == 2)
    #expect(log.pendingCount == 2)
    #expect(try log.allRecords().isEmpty)
    try log.commit()
    #expect(log.committedCount == 2 && log.pendingCount == 0)
    #expect(try log.append(record(3)) == 3)
    try log.commit()
    try log.commit()
    var seen: [(UInt64, [UInt8])] = []
    try log.forEach { sequence, bytes in
        seen.append((sequence, bytes))
        return true
    }
    #expect(seen.map(\.0) == [1, 2, 3])
    #expect(seen.map(\.1) == [record(1), record(2), record(3)])
    var fromTwo: [UInt64] = []
    try log.forEach(from: 2) { sequence, _ in
        fromTwo.append(sequence)
        return false
    }
    #expect(fromTwo == [2])
    var none = 0
    try log.forEach(from: 4) { _, _ in none += 1; return true }
    #expect(none == 0)
}

@Test func inMemoryLogAppendsCommitsAndReadsInOrder() throws {
    try checkAppendCommitRead(InMemoryEventLog())
}

@Test func lmdbLogAppendsCommitsAndReadsInOrder() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    try checkAppendCommitRead(LMDBEventLog(path: directory.logPath, component: "gcs"))
}

@Test func inMemoryLogDropsPendingRecordsOnDiscard() throws {
    let log = InMemoryEventLog()
    try log.append(record(1))
    try log.commit()
    try log.append(record(2))
    log.discardPending()
    #expect(try log.allRecords() == [record(1)])
    #expect(try log.append(record(3)) == 2)
}

@Test func emptyRecordsRoundTrip() throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    let log = try LMDBEventLog(path: directory.logPath, component: "gcs")
    try log.append([])
    try log.append([0])
    try log.commit()
    #expect(try log.allRecords() == [[], [0]])
}
