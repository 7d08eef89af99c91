// Nested tasks from Swift code (issue 10), on real processes: a task body
// submits, puts, gets and waits through its worker's owner; a body that waits
// lends its CPU (else a one-CPU node would deadlock) and lets another thread run
// its worker's loop.

import Dispatch
import Foundation
import Synchronization
import Testing

@testable import Ray
import RayCore
import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct NestedSwiftTests {
    @Test func aBodySubmitsGetsPutsAndWaitsOnAOneCPUNode() throws {
        try withCluster([("head", ["CPU": 1])]) { _ throws in
            // The parent holds the only CPU while it waits: its children run on the CPU it lends.
            #expect(try Testbed.submitsInside.remote().get(timeout: .seconds(30)) == 3)
            #expect(try Testbed.fanOut.remote(8).get(timeout: .seconds(30)) == (0..<8).map { $0 * $0 }.reduce(0, +))
            #expect(try Testbed.putAndPass.remote(41).get(timeout: .seconds(30)) == 42)
            // The first child is ready at once, the others sleep 100 ms and more.
            #expect(try Testbed.waitsInside.remote(4).get(timeout: .seconds(30)) == [1, 3])
        }
    }

    @Test func recursiveTasksWaitAtEveryLevel() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            // fib(6): 25 tasks, five levels of parents waiting for their children.
            #expect(try Testbed.fib.remote(6).get(timeout: .seconds(60)) == 8)
        }
    }

    @Test func whatABodyCannotDoYetIsAClearError() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            #expect {
                _ = try Testbed.returnsBorrowed.remote().get(timeout: .seconds(30))
            } throws: { error in
                guard case .taskFailed(let message)? = error as? Ray.Error else { return false }
                return message.contains("tb.returns-borrowed") && message.contains("neither made nor received as an argument")
            }
        }
    }

    /// A body returns a reference it received: the caller's own object comes back as its own, a
    /// borrowed one as the caller's borrow; the returned value holds it after the caller dropped
    /// its handle, and once every handle goes nothing stays held.
    @Test func aBodyReturnsAReferenceItReceived() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            var given: ObjectRef<Int>? = try Ray.put(41)
            var back: ObjectRef<ObjectRef<Int>>? = try Testbed.returnsReceived.remote([given!])
            given = nil
            var mine: ObjectRef<Int>? = try back!.get(timeout: .seconds(30))
            #expect(try mine!.get(timeout: .seconds(30)) == 41)
            // A worker's object the driver borrows, relayed back through another task.
            var theirs: ObjectRef<Int>? = try Testbed.returnsRef.remote().get(timeout: .seconds(30))
            var relayed: ObjectRef<ObjectRef<Int>>? = try Testbed.returnsReceived.remote([theirs!])
            theirs = nil
            var again: ObjectRef<Int>? = try relayed!.get(timeout: .seconds(30))
            #expect(try again!.get(timeout: .seconds(30)) == 7)
            back = nil
            relayed = nil
            mine = nil
            again = nil
            let client = try Ray.client()
            let deadline = Date().addingTimeInterval(10)
            var held = (objects: -1, borrowed: -1)
            repeat {
                held = client.inspect { ($0.objects.values.filter { !$0.freed }.count, $0.borrowed.count) }
                if held == (0, 0) { break }
                usleep(20_000)
            } while Date() < deadline
            #expect(held == (0, 0), "the driver still holds \(held.objects) object(s), \(held.borrowed) borrow(s)")
        }
    }

    /// Borrowers of borrowers: a body passes on a reference it received (inside a value) to tasks
    /// of its own; its worker borrows it from the caller while they need it, and the caller keeps
    /// it for that worker after the body returned.
    @Test func aBodyPassesOnAReferenceItReceived() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            let given = try Ray.put(41)
            #expect(try Testbed.passesOn.remote([given]).get(timeout: .seconds(30)) == 42)
            // Twice removed: a task passes it to a task that passes it on (a chain of borrowers).
            #expect(try Testbed.passesOnTwice.remote([given]).get(timeout: .seconds(30)) == 42)
            // A large value in shared memory, which the driver drops at once: fetched for the
            // grandchild through the worker that borrows it.
            let bytes = Testbed.blobBytes(seed: 3, size: 1 << 20)
            var blob: ObjectRef<[UInt8]>? = try Ray.put(bytes)
            let sum = try Testbed.checksumVia.remote([blob!])
            blob = nil
            #expect(try sum.get(timeout: .seconds(30)) == Testbed.checksum(bytes))
        }
    }
}
}

extension RuntimeTests.NestedSwiftTests {
    @Test func referencesATaskReturnsAreBorrowedFromItsWorker() throws {
        try withCluster([("head", ["CPU": 2])]) { cluster throws in
            let inner = try Testbed.returnsRef.remote().get(timeout: .seconds(30))
            #expect(try inner.get(timeout: .seconds(30)) == 7)
            let squares = try Testbed.returnsChildren.remote(5).get(timeout: .seconds(30))
            #expect(try Ray.get(squares, timeout: .seconds(30)) == [0, 1, 4, 9, 16])
            var blob: ObjectRef<[UInt8]>? = try Testbed.returnsBlobRef.remote(4).get(timeout: .seconds(30))
            #expect(try blob!.get(timeout: .seconds(30)) == Testbed.blobBytes(seed: 4, size: 300_000))
            // Borrowed references passed on as arguments: resolved through their owner, small
            // ones inline, large ones fetched by the task's node from where the owner says.
            #expect(try Testbed.add.remote(inner, 1).get(timeout: .seconds(30)) == 8)
            #expect(try Testbed.add.remote(squares[2], squares[3]).get(timeout: .seconds(30)) == 13)
            #expect(try Testbed.checksum.remote(blob!).get(timeout: .seconds(30))
                == Testbed.checksum(Testbed.blobBytes(seed: 4, size: 300_000)))
            // Inside a value too: the task reads them as references it was given.
            #expect(try Testbed.sumRefs.remote([inner, squares[4]]).get(timeout: .seconds(30)) == 23)
            // The driver borrows all seven while it holds them.
            let client = try #require(Ray.currentClient)
            _ = client.inspect { _ in 0 }
            #expect(client.inspect { $0.borrowed.count } == 7)
            // Let go of the large one: its owner frees it, and the node's store drops every copy.
            let stored = blob!.id
            let head = try #require(cluster.nodes.first)
            func held() throws -> Bool {
                guard case .objects(_, let objects) = try ControlClient.ask(rayletSocket: head.socketPath, .listObjects) else { return true }
                return objects.contains { $0.object == stored }
            }
            #expect(try held(), "\(stored) is stored on the head node while borrowed")
            blob = nil
            let deadline = DispatchTime.now() + .seconds(10)
            while try held() && DispatchTime.now() < deadline { usleep(2000) }
            #expect(try !held(), "\(stored) is still in the object store after the driver let go")
            #expect(client.inspect { $0.borrowed.count } == 6)
        }
    }

    @Test func anObjectWhoseOwnerDiedFailsWithOwnerDied() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            let (refs, pid) = try Testbed.returnsRefAndPID.remote(5)
            let inner = try refs.get(timeout: .seconds(30))
            let worker = Int32(try pid.get(timeout: .seconds(30)))
            kill(worker, SIGKILL)
            let deadline = DispatchTime.now() + .seconds(10)
            while kill(worker, 0) == 0 && DispatchTime.now() < deadline { usleep(1000) }
            #expect {
                _ = try inner[0].get(timeout: .seconds(30))
            } throws: { error in
                guard case .ownerDied(let message)? = error as? Ray.Error else { return false }
                return message.contains("which died")
            }
        }
    }

    @Test func aRecursiveCancelReachesWhatARunningTaskSubmitted() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            let marker = NSTemporaryDirectory() + "swiftray-cancel-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            defer { unlink(marker) }
            // The slow child runs 2 s; its three dependents wait for it until cancelled.
            let parent = try Testbed.cancellableParent.remote(marker, 2000)
            let deadline = DispatchTime.now() + .seconds(30)
            while access(marker, F_OK) != 0 && DispatchTime.now() < deadline { usleep(2000) }  // the body says it submitted
            try Ray.cancel(parent)  // recursive by default; the parent itself runs on (not forced)
            #expect {
                _ = try parent.get(timeout: .seconds(30))
            } throws: { error in
                guard case .taskFailed(let message)? = error as? Ray.Error else { return false }
                // The chain of tasks that raised it, without Swift type names in between.
                return message.contains("tb.cancellable-parent[") && message.contains("raised: cancelled: tb.increment[")
                    && message.contains("was cancelled") && !message.contains("Ray.Error")
            }

            // Not recursive: the children run on, and so does the parent, to its value (3 × 2).
            let again = marker + "-again"
            defer { unlink(again) }
            let second = try Testbed.cancellableParent.remote(again, 500)
            while access(again, F_OK) != 0 && DispatchTime.now() < deadline { usleep(2000) }
            try Ray.cancel(second, recursive: false)
            #expect(try second.get(timeout: .seconds(30)) == 6)
        }
    }
}
