// What a new user hits (issue 8), on real processes: repeated and duplicate
// gets and waits, values of every kind, messages that say which task failed.

import Dispatch
import Foundation
import Glibc
import Synchronization
import Testing

@testable import Ray
import RayCore
import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct NewUserTests {
    @Test func heldSmallValuesAreGotWithoutTheLoopAndForgottenWithTheirLastHandle() throws {
        try startEmbeddedTestbed()
        defer { Ray.shutdown() }
        let client = try #require(Ray.currentClient)
        var puts = try (0..<50).map { try Ray.put($0) }
        var squares = try (0..<50).map { try Testbed.square.remote($0) }
        #expect(try Ray.get(puts) == Array(0..<50))
        #expect(try Ray.get(squares) == (0..<50).map { $0 * $0 })
        #expect(try Ray.get(squares) == (0..<50).map { $0 * $0 })  // answered from the held values
        _ = client.inspect { _ in 0 }
        #expect(client.resolvedValueCount == 100)
        let copy = puts[0]  // a second handle keeps the value
        puts = []
        squares = []
        _ = client.inspect { _ in 0 }
        #expect(client.resolvedValueCount <= 1)
        #expect(try copy.get() == 0)
    }

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

            // As Ray: never more than numReturns ready (a wait loop takes one per call), whether
            // the driver holds the values (inline) or only knows where they are (stored).
            let done = try (0..<5).map { _ in try Testbed.sleepThenWhere.remote(0) }
            _ = try Ray.get(done, timeout: .seconds(10))
            let (two, three) = try Ray.wait(done, numReturns: 2)
            #expect(two.count == 2 && three.count == 3 && Set(two + three) == Set(done))
            var left = done
            while !left.isEmpty { left = try Ray.wait(left).notReady }
            let big2 = try Testbed.blob.remote(6, 300_000)
            _ = try big2.get(timeout: .seconds(10))
            let (oneBig, otherBig) = try Ray.wait([big, big2], numReturns: 1)
            #expect(oneBig.count == 1 && otherBig.count == 1)
            #expect(throws: Ray.Error.self) { _ = try Ray.wait([b, b], numReturns: 1) }

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

            // Ready ones taken out from between pending ones: both lists keep input order, and
            // the caller's own array (still held here, so copied, not consumed) stays as it was.
            let pending = try (0..<2).map { _ in try Testbed.sleepThenWhere.remote(30_000) }
            let mixed = [pending[0], done[0], pending[1], done[3]]
            let (readyMixed, notReadyMixed) = try Ray.wait(mixed, numReturns: 2, timeout: .seconds(10))
            #expect(readyMixed == [done[0], done[3]] && notReadyMixed == pending)
            #expect(mixed == [pending[0], done[0], pending[1], done[3]])
            var shrinking = mixed
            shrinking = try Ray.wait(shrinking, numReturns: 2, timeout: .seconds(10)).notReady
            #expect(shrinking == pending)
            for ref in pending { try Ray.cancel(ref, force: true) }
        }
    }

    @Test func valuesOfEveryKindRoundTrip() throws {
        try withCluster([("head", ["CPU": 2])]) { cluster throws in
            #expect(try Testbed.mergeCounts.remote(["a": 1, "b": 2], ["b": 3, "c": 4]).get() == ["a": 1, "b": 5, "c": 4])
            let counts = try Ray.put(["x": 10])
            #expect(try Testbed.mergeCounts.remote(counts, ["x": 1]).get() == ["x": 11])
            #expect(try Testbed.union.remote(Set([1, 2]), Set([2, 3])).get() == [1, 2, 3])
            #expect(try Testbed.orZero.remote(Optional(4)).get() == 8)
            #expect(try Testbed.orZero.remote(Int?.none).get() == nil)
            #expect(try Testbed.mirrorPoint.remote(Point(x: 1, y: 2, label: "p")).get() == Point(x: 2, y: 1, label: "p"))
            #expect(try Testbed.mirrorPoint.remote(Point(x: 1, y: 2, label: nil)).get() == Point(x: 2, y: 1, label: nil))

            // An array of refs: a reduce in one task, over values still being computed and a large put.
            let parts = try (1...20).map { try Testbed.square.remote($0) }
            #expect(try Testbed.sumRefs.remote(parts).get() == (1...20).reduce(0) { $0 + $1 * $1 })
            #expect(try Testbed.sumRefs.remote([parts[0], parts[0], parts[1]]).get() == 1 + 1 + 4)
            #expect(try Testbed.sumRefs.remote([ObjectRef<Int>]()).get() == 0)
            // A failed ref inside the array fails the task with its error, as a top-level one would.
            let failed = try Testbed.fail.remote("inner")
            #expect {
                _ = try Testbed.sumRefs.remote([parts[0], failed]).get()
            } throws: { error in
                guard case .taskFailed(let message)? = error as? Ray.Error else { return false }
                return message.contains("inner")
            }

            // Void: the ref's get waits for the body, which ran.
            let marker = cluster.session.path + "/touched"
            let done: ObjectRef<RayVoid> = try Testbed.touch.remote(marker)
            try done.get()
            #expect(FileManager.default.fileExists(atPath: marker))

            // Where a task runs.
            let context = try Testbed.context.remote().get().split(separator: " ")
            let driver = try Ray.runtimeContext
            #expect(context.count == 4 && context[0].hasPrefix("tb.context[") && context[1] == "\(cluster.nodes[0].id.value)")
            #expect(context[3] == "\(driver.job.value)" && !driver.inTask && driver.node == cluster.nodes[0].id)

            // References inside a put value: read back, they work (PutReferencesSwiftTests has more).
            let holding = try Ray.put([parts[0]])
            #expect(try Ray.get(try holding.get(), timeout: .seconds(30)) == [try parts[0].get()])
        }
    }

    @Test func asyncGetsMatchTheBlockingOnes() async throws {
        try startEmbeddedTestbed()
        defer { Ray.shutdown() }
        let refs = try (0..<50).map { try Testbed.square.remote($0) }
        #expect(try await Ray.get(refs) == (0..<50).map { $0 * $0 })
        #expect(try await refs[7].value == 49)
        let slow = try Testbed.sleepThenWhere.remote(2000)
        await #expect(throws: Ray.Error.self) { _ = try await Ray.get(slow, timeout: .milliseconds(50)) }
        let failed = try Testbed.fail.remote("async")
        await #expect(throws: Ray.Error.self) { _ = try await failed.value }
        #expect(try await Ray.get([ObjectRef<Int>]()).isEmpty)
    }

    @Test func messagesNameTheTaskAndSayThingsOnce() throws {
        try withCluster([("head", ["CPU": 2])]) { cluster throws in
            // Each call has its own name: function[n], n counting calls of that function.
            let failures = try (0..<3).map { try Testbed.fail.remote("no \($0)") }
            var messages: [String] = []
            for ref in failures {
                do { _ = try ref.get() } catch let error as Ray.Error { messages.append("\(error)") }
            }
            let names = messages.compactMap { message in
                message.range(of: "tb.fail[").map { String(message[$0.upperBound...].prefix(2)) }
            }
            #expect(names.count == 3 && Set(names).count == 3, "\(messages)")
            // A remote error's type is named once; an enum case is qualified by its type.
            #expect {
                _ = try Testbed.failTyped.remote(false).get()
            } throws: { error in
                let text = "\(error)"
                return text.contains("raised: ParseError(line: 3)") && !text.contains("ParseError: ParseError")
            }
            #expect {
                _ = try Testbed.failTyped.remote(true).get()
            } throws: { error in "\(error)".contains("raised: ParseFailure.badNumber(\"x7\")") }
            // A crash's advice is given once, in the API's own words.
            let marker = cluster.session.path + "/crash-advice"
            #expect {
                _ = try Testbed.crashOnce.options(TaskOptions(maxRetries: 0)).remote(marker, 1).get()
            } throws: { error in
                let text = "\(error)"
                return text.components(separatedBy: "raise ").count == 2 && text.contains("raise maxRetries")
                    && !text.contains("max_retries")
            }
            // A function created after the driver joined is reported at .remote, not when its task runs.
            let late = RemoteFunction("tb.created-late") { () -> Int in 1 }
            #expect {
                _ = try late.remote()
            } throws: { error in
                guard case .invalidArgument(let message)? = error as? Ray.Error else { return false }
                return message.contains("'tb.created-late' was created after Ray.connect()")
            }
        }
    }
}
}
