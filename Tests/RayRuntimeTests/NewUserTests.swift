// What a new user hits (issue 8), on real processes: repeated and duplicate
// gets and waits, values of every kind, messages that say which task failed.

import Dispatch
import Foundation
import Glibc
import Synchronization
import Testing

import Ray
import RayCore
import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct NewUserTests {
    @Test func repeatedAndDuplicateGetsAndWaitsEachResolve() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            // A get that timed out, then a get with time enough: the second sees the value.
            let a = try Testbed.sleepThenWhere.remote(600)
            #expect(throws: Ray.Error.self) { _ = try a.get(timeout: .milliseconds(100)) }
            #expect(throws: Ray.Error.self) { _ = try a.get(timeout: .milliseconds(100)) }
            let node = try a.get(timeout: .seconds(10))  // throws .timeout if this get hangs
            #expect(try a.get() == node)  // and once more without a timeout

            // The same reference twice in one get, pending and stored (large) values.
            let b = try Testbed.sleepThenWhere.remote(200)
            #expect(try Ray.get([b, b, b], timeout: .seconds(10)).count == 3)
            let big = try Testbed.blob.remote(5, 300_000)
            let bigs = try Ray.get([big, big], timeout: .seconds(10))
            #expect(bigs[0] == bigs[1] && bigs[0] == Testbed.blobBytes(seed: 5, size: 300_000))

            // wait with a timeout, then get of the same refs.
            let slow = try (0..<3).map { _ in try Testbed.sleepThenWhere.remote(300) }
            let (ready, _) = try Ray.wait(slow, numReturns: 3, timeout: .milliseconds(50))
            #expect(ready.count < 3)
            #expect(try Ray.get(slow, timeout: .seconds(10)).count == 3)
            let (after, notReady) = try Ray.wait(slow, numReturns: 3, timeout: .seconds(1))
            #expect(after.count == 3 && notReady.isEmpty)

            // Several threads get, wait and time out on the same pending references at once.
            let shared = try (0..<4).map { try Testbed.sleepThenWhere.remote(100 * $0) }
            let failures = Mutex(0)
            DispatchQueue.concurrentPerform(iterations: 8) { thread in
                do {
                    if thread % 3 == 0 { _ = try? Ray.get(shared, timeout: .milliseconds(10)) }
                    if thread % 2 == 0 { _ = try Ray.wait(shared, numReturns: 2, timeout: .milliseconds(thread * 20)) }
                    let values = try Ray.get(shared, timeout: .seconds(20))
                    if values.count != 4 { failures.withLock { $0 += 1 } }
                } catch {
                    failures.withLock { $0 += 1 }
                }
            }
            #expect(failures.withLock { $0 } == 0)
        }
    }
}
}
