// The raylet's loop never waits for a store's lock, which a job's code (mapping the store) may
// keep while it runs: what the loop needs the lock for waits off the loop, and the node serves on.

import Foundation
import Glibc
import Synchronization
import Testing

@testable import Ray
import RayCore
@testable import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct StoreLockTests {
    static let isRoot = geteuid() == 0

    /// A job's code keeping the store's lock while it runs (a spinning holder is never found idle)
    /// does not hold up the raylet: what its loop would do under the lock waits off the loop, so the
    /// node answers and serves meanwhile, and does it once the lock is let go — the store kept.
    /// (With a patience of a minute, a loop that waited would not answer for that long.)
    @Test func aJobKeepingTheStoresLockWhileItRunsDoesNotHoldUpTheRaylet() throws {
        try withCluster([("head", ["CPU": 2])], environment: ["SWIFTRAY_STORE_LOCK_PATIENCE_MS=60000"],
                        objectStoreBytes: 16 << 20) { cluster throws in
            let node = SharedObjects(session: cluster.session.path, node: cluster.nodes[0].id)
            let region = try #require(node.region)
            let letGo = cluster.session.path + "/let-go-\(getpid())"
            defer { _ = writeNewFile(letGo, []) }
            let dropped: ObjectID
            do {
                let put = try Ray.put(Testbed.blobBytes(seed: 5, size: 300_000))
                dropped = put.id
                #expect(try Testbed.checksum.remote(put).get(timeout: .seconds(30))
                        == Testbed.checksum(Testbed.blobBytes(seed: 5, size: 300_000)))
                #expect(region.contains(dropped))
                #expect(try Testbed.spinLock.remote(node.regionPath + ".lock", letGo).get(timeout: .seconds(30)) == 0)
            }  // The put is dropped: the raylet releases it, with the lock taken.
            try expectServedWhileLocked(cluster, tasks: TaskOptions())
            #expect(writeNewFile(letGo, []))
            // Released once the spinner lets go (this process waits for the lock as a job's would).
            let deadline = Date() + 30
            while region.contains(dropped) && Date() < deadline { usleep(10_000) }
            #expect(!region.contains(dropped), "released once the lock was let go")
            let put = try Ray.put(Testbed.blobBytes(seed: 6, size: 300_000))
            #expect(try Testbed.checksum.remote(put).get(timeout: .seconds(30))
                    == Testbed.checksum(Testbed.blobBytes(seed: 6, size: 300_000)))
            guard case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: cluster.nodes[0].socketPath, .nodeStatus)
            else {
                Issue.record("the raylet did not answer with its status")
                return
            }
            #expect(status.storesGivenUp == 0, "the store was kept: \(status)")
        }
    }

    /// A transfer to another node from a store whose lock a job's code keeps while it runs is sent
    /// off the loop once the lock is let go; the node answers and serves meanwhile.
    @Test func aTransferFromAStoreWhoseLockIsKeptWaitsOffTheLoop() throws {
        try withCluster([("head", ["CPU": 2]), ("far", ["CPU": 1, "far": 1])],
                        environment: ["SWIFTRAY_STORE_LOCK_PATIENCE_MS=60000"], objectStoreBytes: 16 << 20) { cluster throws in
            let node = SharedObjects(session: cluster.session.path, node: cluster.nodes[0].id)
            let letGo = cluster.session.path + "/let-go-\(getpid())"
            defer { _ = writeNewFile(letGo, []) }
            let blob = Testbed.blobBytes(seed: 8, size: 300_000)
            let put = try Ray.put(blob)
            #expect(node.region?.contains(put.id) == true)
            let here = TaskOptions(scheduling: .nodeAffinity(node: cluster.nodes[0].id.value, soft: false))
            #expect(try Testbed.spinLock.options(here).remote(node.regionPath + ".lock", letGo).get(timeout: .seconds(30)) == 0)
            let far = try Testbed.checksum.options(TaskOptions(resources: ["far": 1])).remote(put)
            try expectServedWhileLocked(cluster, tasks: here)
            #expect(writeNewFile(letGo, []))
            #expect(try far.get(timeout: .seconds(60)) == Testbed.checksum(blob), "sent once the lock was let go")
        }
    }

    /// With a store per job, a copy crossing jobs whose source store's lock is kept by a job's code
    /// that runs is made off the loop once the lock is let go; the node answers meanwhile (with a
    /// patience of a minute: a loop that waited would not answer for that long).
    @Test(.enabled(if: isRoot, "the raylet must run as root to start workers as another user"))
    func aCopyFromAStoreWhoseLockIsKeptWaitsOffTheLoop() throws {
        try withStorePerJob(uids: "58000-58999", environment: ["SWIFTRAY_STORE_LOCK_PATIENCE_MS=60000"]) { cluster, node throws in
            let reader = try Testbed.counters.options(ActorClassOptions(name: "reader", namespace: "locked", detached: true))
                .remote(0, "reader")
            #expect(try Ray.blocking { try await reader.increment(by: 1) } == 1)
            try startAnotherJob(cluster)
            let store = node.forJob(try Ray.runtimeContext.job)
            let letGo = cluster.session.path + "/let-go-\(getpid())"
            defer { _ = writeNewFile(letGo, []) }
            let blob = Testbed.blobBytes(seed: 7, size: 300_000)
            let put = try Ray.put(blob)
            #expect(store.region?.contains(put.id) == true, "in this job's store")
            #expect(try Testbed.spinLock.remote(store.regionPath + ".lock", letGo).get(timeout: .seconds(30)) == 0)
            let read = Mutex<UInt64?>(nil)
            let done = DispatchSemaphore(value: 0)
            let handle: TestCounter = try Ray.getActor("reader", namespace: "locked")
            DispatchQueue.global().async {
                let sum = try? Ray.blocking { try await handle.checksum(of: [put]) }
                read.withLock { $0 = sum }
                done.signal()
            }
            try expectServedWhileLocked(cluster, tasks: nil)
            #expect(read.withLock { $0 } == nil, "the copy waits for the lock")
            #expect(writeNewFile(letGo, []))
            #expect(done.wait(timeout: .now() + 60) == .success)
            #expect(read.withLock { $0 } == Testbed.checksum(blob), "copied once the lock was let go")
            try Ray.kill(handle)
        }
    }

    /// While a store's lock is kept, the first node answers its status (within 10 s, the store kept)
    /// and, given `tasks`, runs a task there, three times: its loop waits for no lock.
    private func expectServedWhileLocked(_ cluster: LocalCluster, tasks: TaskOptions?) throws {
        for round in 0..<3 {
            guard case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: cluster.nodes[0].socketPath,
                                                                       .nodeStatus, timeoutSeconds: 10) else {
                Issue.record("the raylet did not answer with its status")
                return
            }
            #expect(status.storesGivenUp == 0, "\(status)")
            if let tasks { #expect(try Testbed.square.options(tasks).remote(round).get(timeout: .seconds(10)) == round * round) }
        }
    }
}
}
