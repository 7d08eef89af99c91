// The bound on an owner's unfinished tasks (issue 12: every queue bounded, the
// producer waits): with SWIFTRAY_MAX_PENDING_TASKS=3, a driver submitting 12
// slow tasks never holds more than 3 unfinished, its submissions wait instead
// of failing, and every result arrives; a task body on a one-CPU node that
// fans out past the bound lends its CPU while it waits, so it does not deadlock.

import Foundation
import Glibc
import Testing

@testable import Ray
import RayCore
import RayRuntime
import RayTestbed

private struct NoStatus: Error, CustomStringConvertible {
    var description: String
}

/// The status of `node`'s raylet.
private func nodeStatus(_ node: LocalCluster.Node) throws -> ControlNodeStatus {
    let reply = try ControlClient.ask(rayletSocket: node.socketPath, .nodeStatus)
    guard case .nodeStatus(let status) = reply else { throw NoStatus(description: "the raylet answered \(reply), not its status") }
    return status
}

extension RuntimeTests {
@Suite struct BackpressureTests {
    @Test func submissionsPastTheBoundWaitAndNothingIsLost() throws {
        // Read when the driver (and each worker's owner) starts: the cluster's processes and
        // this driver get it; unset at once after.
        setenv("SWIFTRAY_MAX_PENDING_TASKS", "3", 1)
        defer { unsetenv("SWIFTRAY_MAX_PENDING_TASKS") }
        try withCluster([("head", ["CPU": 1])]) { _ throws in
            unsetenv("SWIFTRAY_MAX_PENDING_TASKS")
            let client = try #require(Ray.currentClient)
            #expect(client.pendingTaskLimit == 3)
            var refs: [ObjectRef<UInt32>] = []
            var most = 0
            for _ in 0..<12 {
                refs.append(try Testbed.sleepThenWhere.remote(20))
                most = max(most, client.inspect { owner in owner.tasks.values.filter { !$0.state.isEnded }.count })
            }
            #expect(most <= 3, "the owner held \(most) unfinished tasks")
            #expect(client.submissionsThatWaited > 0)
            #expect(try Ray.get(refs, timeout: .seconds(60)).count == 12)
            // A body fanning out 8 children past its worker's bound of 3, on the only CPU.
            #expect(try Testbed.fanOut.remote(8).get(timeout: .seconds(60)) == (0..<8).map { $0 * $0 }.reduce(0, +))
        }
    }

    /// The per-owner object quota (issue 12: a flood of tiny objects): past 20 objects each put
    /// slows the program down (the soft quota), at 40 the driver's next put is refused before an ID is taken, with a typed error naming the quota and how to
    /// raise it; what was made stays intact, and letting go of references makes room again. A
    /// task body's puts are its worker's owner's, counted apart.
    @Test func anOwnerPastItsObjectQuotaHasItsPutsRefused() throws {
        try withCluster([("head", ["CPU": 1])],
                        environment: ["SWIFTRAY_OWNED_OBJECTS_HARD=40", "SWIFTRAY_OWNED_OBJECTS_SOFT=20"]) { _ throws in
            var refs = try (0..<20).map { try Ray.put($0) }
            let client = try #require(Ray.currentClient)
            #expect(client.putsSlowedDown == 0)
            // Past the soft quota of 20, each put holds the program: 20 of them, at least 2 ms.
            let start = DispatchTime.now().uptimeNanoseconds
            refs += try (20..<40).map { try Ray.put($0) }
            let took = Int64(DispatchTime.now().uptimeNanoseconds - start) / 1000
            #expect(client.putsSlowedDown == 20)
            #expect(took >= 20 * OwnedObjectsRule.slowdownMicros, "\(took) µs")
            #expect {
                _ = try Ray.put(40)
            } throws: { error in
                guard case .quotaExceeded(let message)? = error as? Ray.Error else { return false }
                return message.contains("this owner already holds 40 objects")
                    && message.contains("SWIFTRAY_OWNED_OBJECTS_HARD")
            }
            #expect(try refs[39].get(timeout: .seconds(10)) == 39)
            refs.removeLast(10)  // Released: the owner frees them (on its loop, soon).
            let deadline = Date().addingTimeInterval(10)
            var made: ObjectRef<Int>?
            while made == nil && Date() < deadline {
                made = try? Ray.put(41)
                if made == nil { usleep(10_000) }
            }
            #expect(try made?.get(timeout: .seconds(10)) == 41)
            // A body's 30 puts are its worker's owner's: under its own quota of 40.
            #expect(try Testbed.putMany.remote(30).get(timeout: .seconds(60)) == (0..<30).reduce(0, +))
            withExtendedLifetime(refs) {}
        }
    }

    /// Per-job CPU shares (issue 12: a job's workers cannot take every core from another job's):
    /// where a writable cgroup cpu controller exists, each job's workers run in a group of their
    /// own under the raylet's; where none does, status says it is off and why.
    @Test func aJobsWorkersRunInACPUGroupOfTheirOwn() throws {
        try withCluster([("head", ["CPU": 1])]) { cluster throws in
            let head = try #require(cluster.nodes.first)
            let status = try nodeStatus(head)
            let memberships = try Testbed.cgroupOf.remote().get(timeout: .seconds(60))
            let job = try #require(Ray.currentClient).job
            if status.cpuShares.hasPrefix("CPU shares on (") {
                #expect(memberships.contains("/swiftray-\(head.id.value)-") && memberships.contains("/job-\(job.value)\n"),
                        "\(memberships)")
            } else {
                #expect(status.cpuShares.hasPrefix("CPU shares off (") && status.cpuShares.count > 16, "\(status.cpuShares)")
                #expect(!memberships.contains("/swiftray-"))
            }
        }
    }

    /// A job's task workers on a node are capped (SWIFTRAY_WORKERS_PER_JOB, 3 here): twelve
    /// zero-CPU tasks that sleep (which leases do not bound) never have more than three worker
    /// processes on the node at once, and every one of them returns.
    @Test func aJobsZeroCPUTasksWaitAtItsWorkerCapInsteadOfForkingAProcessEach() throws {
        try withCluster([("head", ["CPU": 1])], environment: ["SWIFTRAY_WORKERS_PER_JOB=3"]) { cluster throws in
            let head = try #require(cluster.nodes.first)
            let refs = try (0..<12).map { _ in
                try Testbed.sleepThenWhere.options(TaskOptions(numCPUs: 0)).remote(300)
            }
            var most = 0
            var pending = refs
            while !pending.isEmpty {
                if case .nodeStatus(let status)? = try? ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus) {
                    most = max(most, status.workers)
                }
                pending = try Ray.wait(pending, numReturns: pending.count, timeout: .milliseconds(50)).notReady
            }
            #expect(try Ray.get(refs, timeout: .seconds(30)).count == 12)
            #expect(most >= 1 && most <= 3, "\(most) workers at once")
        }
    }

    /// A per-job memory limit (SWIFTRAY_JOB_MEMORY_BYTES, 96 MiB here): a task touching 512 MiB
    /// has its worker killed by the kernel, and its failure says the job's memory limit was
    /// reached; a task under it works afterwards. Where the memory controller cannot be used,
    /// status says the limit is off and why.
    @Test func aJobOverItsMemoryLimitHasItsWorkerKilledAndIsToldWhy() throws {
        try withCluster([("head", ["CPU": 1])], environment: ["SWIFTRAY_JOB_MEMORY_BYTES=100663296"]) { cluster throws in
            let head = try #require(cluster.nodes.first)
            let status = try nodeStatus(head)
            guard status.cpuShares.contains("memory limit 100663296 B per job") else {
                #expect(status.cpuShares.contains("memory limit off ("), "\(status.cpuShares)")
                return
            }
            #expect {
                _ = try Testbed.hog.options(TaskOptions(maxRetries: 0)).remote(512 << 20).get(timeout: .seconds(60))
            } throws: { error in
                guard case .workerCrashed(let message)? = error as? Ray.Error else { return false }
                return message.contains("memory limit of 100663296 bytes (SWIFTRAY_JOB_MEMORY_BYTES)")
            }
            #expect(try Testbed.hog.remote(8 << 20).get(timeout: .seconds(60)) == 8 << 20)
        }
    }

    /// By default a job's workers on a node may hold the machine's memory less the node's object
    /// store and 1 GiB (so the kernel kills one of them, not the raylet or the GCS), status says
    /// so and where it comes from, and tasks run under it; SWIFTRAY_JOB_MEMORY_BYTES=0 turns it off.
    @Test func aJobsWorkersHaveADefaultMemoryLimitThatZeroTurnsOff() throws {
        try withCluster([("head", ["CPU": 1])]) { cluster throws in
            let status = try nodeStatus(try #require(cluster.nodes.first))
            let physical = Int64(sysconf(Int32(_SC_PHYS_PAGES))) * Int64(sysconf(Int32(_SC_PAGESIZE)))
            let expected = physical - status.capacityBytes - (1 << 30)
            if !status.cpuShares.contains("memory limit off (") {
                #expect(status.cpuShares.contains("memory limit \(expected) B per job (the default: the machine's memory "
                    + "less the object store and 1 GiB; SWIFTRAY_JOB_MEMORY_BYTES;"), "\(status.cpuShares)")
            }
            #expect(try Testbed.hog.remote(8 << 20).get(timeout: .seconds(60)) == 8 << 20)
        }
        try withCluster([("head", ["CPU": 1])], environment: ["SWIFTRAY_JOB_MEMORY_BYTES=0"]) { cluster throws in
            let status = try nodeStatus(try #require(cluster.nodes.first))
            #expect(status.cpuShares.contains("memory limit off (SWIFTRAY_JOB_MEMORY_BYTES=0)"), "\(status.cpuShares)")
        }
    }

    /// A per-job process limit (SWIFTRAY_JOB_PIDS_MAX, 64 here; the kernel's pids controller): a
    /// body forking 300 processes of its own gets only as many as its job's limit leaves, and the
    /// node and the job go on (a task after it works). Where the pids controller cannot be used,
    /// status says the limit is off and why.
    @Test func aJobsBodyCannotForkPastItsProcessLimit() throws {
        try withCluster([("head", ["CPU": 1])], environment: ["SWIFTRAY_JOB_PIDS_MAX=64"]) { cluster throws in
            let head = try #require(cluster.nodes.first)
            let status = try nodeStatus(head)
            guard status.cpuShares.contains("process limit 64 per job") else {
                #expect(status.cpuShares.contains("process limit off ("), "\(status.cpuShares)")
                return
            }
            let started = try Testbed.forks.remote(300).get(timeout: .seconds(60))
            #expect(started > 0 && started < 64, "\(started) processes started")
            #expect(try Testbed.hog.remote(1 << 20).get(timeout: .seconds(60)) == 1 << 20)
        }
    }

    /// The object size limit (issue 12: an object flood of huge objects): on a node whose store holds
    /// 8 MiB, a 9 MiB put and a task returning 9 MiB are refused before anything is allocated, with a
    /// typed error naming the limit and how to raise it; values under it work, and so does the node.
    @Test func anObjectOverTheSizeLimitIsRefusedBeforeAllocation() throws {
        try withCluster([("head", ["CPU": 1])], objectStoreBytes: 8 << 20) { cluster throws in
            #expect {
                _ = try Ray.put(Testbed.blobBytes(seed: 1, size: 9 << 20))
            } throws: { error in
                guard case .objectTooLarge(let message)? = error as? Ray.Error else { return false }
                return message.contains("over the object size limit of 8388608 bytes")
                    && message.contains("SWIFTRAY_MAX_OBJECT_BYTES")
            }
            #expect {
                _ = try Testbed.blob.remote(2, 9 << 20).get(timeout: .seconds(60))
            } throws: { error in
                "\(error)".contains("ObjectTooLarge") && "\(error)".contains("the value tb.blob returned is 94371")
            }
            // Nothing was left in the store; values under the limit still work.
            let head = try #require(cluster.nodes.first)
            let status = try nodeStatus(head)
            #expect(status.usedBytes == 0, "\(status)")
            let small = try Ray.put(Testbed.blobBytes(seed: 3, size: 1 << 20))
            #expect(try Testbed.checksum.remote(small).get(timeout: .seconds(60))
                == Testbed.checksum(Testbed.blobBytes(seed: 3, size: 1 << 20)))
            #expect(try Testbed.blob.remote(4, 1 << 20).get(timeout: .seconds(60)).count == 1 << 20)
        }
    }

    /// The per-job quota of bytes in a node's store (SWIFTRAY_STORE_BYTES_PER_JOB_HARD, 8 MiB
    /// here, soft 4 MiB, in a 32 MiB store): three 2 MiB puts are kept; a 4 MiB put past the quota
    /// is refused by the raylet (its get raises QuotaExceeded naming the setting, and its bytes are
    /// released), and so is a task's 4 MiB result; status counts both; dropping references makes
    /// room again.
    @Test func aJobPastItsStoreQuotaHasItsPutsAndResultsRefused() throws {
        try withCluster([("head", ["CPU": 1])],
                        environment: ["SWIFTRAY_STORE_BYTES_PER_JOB_HARD=8388608", "SWIFTRAY_STORE_BYTES_PER_JOB_SOFT=4194304"],
                        objectStoreBytes: 32 << 20) { cluster throws in
            let head = try #require(cluster.nodes.first)
            var kept = try (1...3).map { try Ray.put(Testbed.blobBytes(seed: $0, size: 2 << 20)) }
            #expect(try kept[2].get(timeout: .seconds(30)) == Testbed.blobBytes(seed: 3, size: 2 << 20))
            let over = try Ray.put(Testbed.blobBytes(seed: 4, size: 4 << 20))
            #expect {
                _ = try over.get(timeout: .seconds(30))
            } throws: { error in
                guard case .quotaExceeded(let message)? = error as? Ray.Error else { return false }
                return message.contains("holds 62914") && message.contains(" bytes of objects in node-")
                    && message.contains("SWIFTRAY_STORE_BYTES_PER_JOB_HARD")
            }
            #expect {
                _ = try Testbed.blob.remote(5, 4 << 20).get(timeout: .seconds(60))
            } throws: { error in
                guard case .quotaExceeded(let message)? = error as? Ray.Error else { return false }
                return message.contains("SWIFTRAY_STORE_BYTES_PER_JOB_HARD")
            }
            let status = try nodeStatus(head)
            #expect(status.storesRefused == 2 && status.storesOverSoftQuota >= 1, "\(status)")
            #expect(status.usedBytes >= 6 << 20 && status.usedBytes < 7 << 20, "\(status)")  // three 2 MiB values
            #expect(ControlReply.nodeStatus(status).description.contains("per-job store quotas refused 2 store(s)"))
            // Released: the owner frees them, and the job's bytes there go back under the quota.
            kept.removeAll()
            let deadline = Date().addingTimeInterval(30)
            var made: [UInt8]?
            while made == nil && Date() < deadline {
                made = try? Ray.put(Testbed.blobBytes(seed: 6, size: 4 << 20)).get(timeout: .seconds(30))
                if made == nil { usleep(20_000) }
            }
            #expect(made == Testbed.blobBytes(seed: 6, size: 4 << 20))
            withExtendedLifetime(over) {}
        }
    }

    /// A job that sends its raylet lease requests past its rate (10 a second, 10 allowed to wait)
    /// has the excess delayed, then refused: those tasks raise QuotaExceeded naming the settings, the
    /// raylet counts both, and the job's next tasks run once the rate allows.
    @Test func aJobPastItsLeaseRequestRateHasItsTasksDelayedThenRefused() throws {
        try withCluster([("head", ["CPU": 2])],
                        environment: ["SWIFTRAY_LEASE_REQUESTS_PER_SECOND=10", "SWIFTRAY_LEASE_REQUESTS_DELAYED=10"]) { cluster throws in
            let head = try #require(cluster.nodes.first)
            let bytes = Testbed.blobBytes(seed: 1, size: 200 << 10)
            let weights = try Ray.put(bytes)
            // A stored argument each: every task sends a lease request of its own, all at once.
            let sums = try (0..<60).map { _ in try Testbed.checksum.remote(weights) }
            var ran = 0, refused = 0
            for sum in sums {
                do {
                    #expect(try sum.get(timeout: .seconds(60)) == Testbed.checksum(bytes))
                    ran += 1
                } catch Ray.Error.quotaExceeded(let message) {
                    #expect(message.contains("lease requests faster than its rate limit of 10 per second")
                            && message.contains("SWIFTRAY_LEASE_REQUESTS_DELAYED"), "\(message)")
                    refused += 1
                }
            }
            // 10 at once and 10 delayed; a token or two more while the requests arrive.
            #expect(ran >= 20 && ran <= 25 && ran + refused == 60, "ran \(ran), refused \(refused)")
            let status = try nodeStatus(head)
            #expect(status.leaseRequestsRefused == refused && status.leaseRequestsDelayed >= 10, "\(status)")
            #expect(ControlReply.nodeStatus(status).description.contains("per-job lease-request rates delayed"))
            // Nothing of the job waits any more: its next tasks wait their turn, and run.
            #expect(try (0..<5).map { _ in try Testbed.checksum.remote(weights) }.map { try $0.get(timeout: .seconds(60)) }
                == Array(repeating: Testbed.checksum(bytes), count: 5))
        }
    }

    /// A job that sends its raylet puts and gets past its rate of object requests (10 a second, 10
    /// allowed to wait) has the excess delayed, then refused: a refused put's get raises
    /// QuotaExceeded naming the store and the settings, a refused get succeeds when asked again at
    /// the rate, every stored value comes back whole, and the raylet counts each refusal.
    @Test func aJobPastItsObjectRequestRateHasItsPutsAndGetsDelayedThenRefused() throws {
        try withCluster([("head", ["CPU": 1])],
                        environment: ["SWIFTRAY_OBJECT_REQUESTS_PER_SECOND=10", "SWIFTRAY_OBJECT_REQUESTS_DELAYED=10"]) { cluster throws in
            let head = try #require(cluster.nodes.first)
            // 200 KiB each: stored, one store request per put, sent at once (a put does not wait).
            let blobs = (0..<30).map { Testbed.blobBytes(seed: $0, size: 200 << 10) }
            let refs = try blobs.map { try Ray.put($0) }
            var stored = 0, putsRefused = 0, getsRefused = 0
            for (ref, blob) in zip(refs, blobs) {
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline {
                    do {
                        #expect(try ref.get(timeout: .seconds(60)) == blob)
                        stored += 1
                        break
                    } catch Ray.Error.quotaExceeded(let message) {
                        #expect(message.contains("faster than its rate limit of 10 per second")
                                && message.contains("SWIFTRAY_OBJECT_REQUESTS_DELAYED"), "\(message)")
                        if message.contains("'s store at") {
                            putsRefused += 1
                            break
                        }
                        #expect(message.contains("'s fetch at"), "\(message)")
                        getsRefused += 1  // This get's own fetch: asked again at the rate.
                        usleep(100_000)
                    }
                }
            }
            // 10 at once and 10 delayed; a token or two more while the puts arrive.
            #expect(putsRefused >= 2 && stored + putsRefused == 30, "stored \(stored), refused \(putsRefused)")
            let status = try nodeStatus(head)
            #expect(status.objectRequestsRefused == putsRefused + getsRefused && status.objectRequestsDelayed >= 10,
                    "\(status)")
            #expect(ControlReply.nodeStatus(status).description.contains("per-job object-request rates delayed"))
        }
    }

    /// A peer that stays over its rate limit (a flood, not a burst) is refused, naming the limit and
    /// the settings, and counted; the node serves everyone else meanwhile.
    @Test func aPeerThatStaysOverItsRateLimitIsRefusedWhileOthersAreServed() throws {
        let cluster = try LocalCluster(executable: testbedPath, environment: [
            "SWIFTRAY_RATE_LIMIT=200", "SWIFTRAY_RATE_BURST=20", "SWIFTRAY_RATE_LIMIT_REFUSE_AFTER_MS=500"])
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1]))
        let driver = try #require(cluster.secret.derive(.driver))
        // 2 000 requests at once: ten seconds' worth at 200 a second.
        let flood = errorText(exchangeRaw(unixPath: head.socketPath, secret: driver, ControlClient.clientFrames(.ping, count: 2_000)))
        #expect(flood.contains("rate limit: the peer sent more than 200 frames/s without a break")
                && flood.contains("SWIFTRAY_RATE_LIMIT_REFUSE_AFTER_MS=500"), "\(flood)")
        guard case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus, secret: driver) else {
            Issue.record("the raylet did not answer with its status")
            return
        }
        #expect(status.limitRefusals >= 1 && status.throttled >= 1, "\(status)")
        #expect("\(ControlReply.nodeStatus(status))".contains("over the connection and rate limits"))
    }

    /// A peer that stops reading cannot make a raylet hold its replies without bound: past the send
    /// backlog limit its connection is closed, logged and counted, and the node serves everyone else.
    @Test func aPeerThatDoesNotReadIsCutOffAtTheSendBacklogLimit() throws {
        let cluster = try LocalCluster(executable: testbedPath, environment: ["SWIFTRAY_MAX_SEND_BACKLOG_BYTES=65536"])
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1]))
        let driver = try #require(cluster.secret.derive(.driver))
        // 60 000 status requests (megabytes of answers), none of them read until the end.
        _ = exchangeRaw(unixPath: head.socketPath, secret: driver, ControlClient.clientFrames(.nodeStatus, count: 60_000))
        guard case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus, secret: driver) else {
            Issue.record("the raylet did not answer with its status")
            return
        }
        #expect(status.limitRefusals >= 1, "\(status)")
        let log = (try? String(contentsOfFile: cluster.session.logs + "/raylet-head.err", encoding: .utf8)) ?? ""
        #expect(log.contains("the peer does not read what is sent to it"), "\(log.suffix(500))")
    }

    /// Control replies (status, listings) to drivers and workers are metered per process in bytes a
    /// second (SWIFTRAY_CONTROL_REPLY_BYTES_PER_SECOND, 2 000 here): a driver asking for the node's
    /// status 20 times at once gets every answer (nothing dropped), spread out at the budget, and
    /// the raylet counts the holds; an administrator is not metered.
    @Test func controlRepliesToADriverAreMeteredAndNothingIsLost() throws {
        let budget = 2_000
        let cluster = try LocalCluster(executable: testbedPath,
                                       environment: ["SWIFTRAY_CONTROL_REPLY_BYTES_PER_SECOND=\(budget)"])
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1]))
        let driver = try #require(cluster.secret.derive(.driver))
        let start = ContinuousClock.now
        let received = exchangeRaw(unixPath: head.socketPath, secret: driver, ControlClient.clientFrames(.nodeStatus, count: 20))
        let elapsed = ContinuousClock.now - start
        var reader = FrameReader(maxBodyBytes: 1 << 24)
        received.withUnsafeBytes { reader.append($0) }
        var replies = 0, replyBytes = 0
        while let frame = try reader.next() {
            guard frame.kind == FrameKind.controlReply.rawValue else { continue }
            replies += 1
            replyBytes += frame.bytes.count
        }
        // (The hello's answer comes first; replies after it.)
        #expect(replies == 20, "\(replies) replies in \(received.count) bytes")
        // A second's worth at once, the rest at the budget (less the 5 s the exchange waits for silence).
        let metered = Double(replyBytes - budget) / Double(budget)
        #expect(replyBytes > 2 * budget && elapsed > .seconds(metered * 0.8 + 5), "\(replyBytes) B in \(elapsed)")
        let status = try nodeStatus(head)
        #expect(status.throttled > 0, "\(status)")
    }

    /// A rate limit on accepted connections (issue 12: a peer flooding a raylet): with 200 frames
    /// a second per connection (a burst of 20), a driver storing 60 large objects (a frame to its
    /// raylet each) is held back — every object is there and every task's result arrives
    /// (nothing dropped), and the raylet counts it.
    @Test func aRateLimitedPeerIsHeldBackAndNothingIsLost() throws {
        try withCluster([("head", ["CPU": 2])], environment: ["SWIFTRAY_RATE_LIMIT=200", "SWIFTRAY_RATE_BURST=20"]) { cluster throws in
            let blobs = try (0..<60).map { try Ray.put(Testbed.blobBytes(seed: $0, size: 150_000)) }
            let sums = try blobs.map { try Testbed.checksum.remote($0) }
            #expect(try Ray.get(sums, timeout: .seconds(60))
                == (0..<60).map { Testbed.checksum(Testbed.blobBytes(seed: $0, size: 150_000)) })
            let refs = try (0..<60).map { try Testbed.square.remote($0) }
            #expect(try Ray.get(refs, timeout: .seconds(60)) == (0..<60).map { $0 * $0 })
            let head = try #require(cluster.nodes.first)
            let status = try nodeStatus(head)
            #expect(status.throttled > 0, "\(status)")
            #expect("\(ControlReply.nodeStatus(status))".contains("held \(status.throttled) connection(s) back at the rate limit"))
        }
    }

    /// A driver that stays over its raylet's rate limit is refused, and its calls then fail with
    /// the typed `Ray.Error.quotaExceeded` naming the limit and the settings (not "its node died").
    @Test func aDriverRefusedOverTheRateLimitGetsQuotaExceeded() throws {
        try withCluster([("head", ["CPU": 2])], environment: ["SWIFTRAY_RATE_LIMIT=100", "SWIFTRAY_RATE_BURST=10",
                                                              "SWIFTRAY_RATE_LIMIT_REFUSE_AFTER_MS=300"]) { _ throws in
            let bytes = Testbed.blobBytes(seed: 1, size: 200_000)  // Stored (not inline): a frame to the raylet each.
            for _ in 0..<2_000 { _ = try? Ray.put(bytes) }
            #expect {
                _ = try Testbed.square.remote(3).get(timeout: .seconds(60))
            } throws: { error in
                guard case .quotaExceeded(let message)? = error as? Ray.Error else { return false }
                return message.contains("the local raylet refused this driver: rate limit:")
                    && message.contains("SWIFTRAY_RATE_LIMIT=100")
            }
        }
    }

    /// A cluster setting that is not a positive whole number stops the GCS, naming it.
    @Test(arguments: ["SWIFTRAY_RATE_LIMIT=fast", "SWIFTRAY_ACTORS_PER_JOB_HARD=lots", "SWIFTRAY_RATE_BURST=0"])
    func aMalformedSettingStopsTheGCSWithItsName(_ setting: String) throws {
        Testbed.register()
        let cluster = try LocalCluster(executable: testbedPath, environment: [setting])
        defer { cluster.stop() }
        #expect {
            try cluster.startGCS()
        } throws: { error in
            "\(error)".contains("\(setting) is not a positive whole number")
        }
    }

    @Test func aMalformedBoundIsRefusedByName() throws {
        setenv("SWIFTRAY_MAX_PENDING_TASKS", "-5", 1)
        defer { unsetenv("SWIFTRAY_MAX_PENDING_TASKS") }
        #expect {
            _ = try DriverClient(socketPath: "/nonexistent/raylet.sock", logRoot: nil)
        } throws: { error in
            "\(error)".contains("SWIFTRAY_MAX_PENDING_TASKS=-5 is not a positive whole number")
        }
    }
}
}
