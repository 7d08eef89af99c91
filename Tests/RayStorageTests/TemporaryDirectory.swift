// Test helpers: unique temporary directories under /tmp and raw edits of a
// log's data file, used to simulate corruption without touching LMDB's API.

import Foundation
import RayStorage

/// A fresh directory path under /tmp (not created), removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() {
        path = "/tmp/swiftray-storage-tests/\(UUID().uuidString)"
    }

    var logPath: String { path + "/log" }
    var dataFilePath: String { logPath + "/data.mdb" }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    func createLogDirectory() throws {
        try FileManager.default.createDirectory(atPath: logPath, withIntermediateDirectories: true)
    }

    /// Replaces every occurrence of `pattern` in the data file; returns how many were replaced.
    @discardableResult
    func patchDataFile(replacing pattern: [UInt8], with replacement: [UInt8]) throws -> Int {
        precondition(pattern.count == replacement.count)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dataFilePath)))
        var count = 0
        var index = 0
        while index + pattern.count <= bytes.count {
            if bytes[index..<(index + pattern.count)].elementsEqual(pattern) {
                bytes.replaceSubrange(index..<(index + pattern.count), with: replacement)
                count += 1
                index += pattern.count
            } else {
                index += 1
            }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: dataFilePath))
        return count
    }
}

/// Deterministic pseudo-random bytes (SplitMix64).
func pseudoRandomBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt8(truncatingIfNeeded: mixed ^ (mixed >> 31))
    }
}

/// The error a throwing expression raised, if it was an `EventLogError`.
func eventLogError(_ body: () throws -> Void) -> EventLogError? {
    do {
        try body()
        return nil
    } catch let error as EventLogError {
        return error
    } catch {
        return nil
    }
}
