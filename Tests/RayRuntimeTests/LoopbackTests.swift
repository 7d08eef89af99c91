// Loopback tests with real processes: a GCS, raylets and workers started from
// the `swiftray-testbed` binary, this test process as the driver. Faults are
// real SIGKILLs. Serialized: the driver API is one per process.

import Dispatch
import Foundation
import Glibc
import Testing

import Ray
import RayCore
import RayRuntime
import RayStorage
import RayTestbed

/// The worker/GCS/raylet binary, built next to the test bundle.
let testbedPath: String = {
    let directory = URL(fileURLWithPath: currentExecutablePath()).deletingLastPathComponent().path
    for candidate in [directory + "/swiftray-testbed", directory + "/../swiftray-testbed"]
    where FileManager.default.isExecutableFile(atPath: candidate) {
        return candidate
    }
    return directory + "/swiftray-testbed"
}()

/// A function the test process registers and the testbed's workers do not.
let onlyInThisDriver = RemoteFunction("tb.only-in-this-driver") { () -> Int in 1 }

/// Runs `body` as the driver of a cluster of `nodes` (name, resources), then shuts everything down.
func withCluster(_ nodes: [(String, [String: Int64])], environment: [String] = [],
                 logToDriver: Bool = true, workerOutput: Ray.OutputHandler? = nil, objectStoreBytes: Int64 = 1 << 30,
                 tlsDirectory: String? = nil, _ body: (LocalCluster) throws -> Void) throws {
    #expect(FileManager.default.isExecutableFile(atPath: testbedPath),
            "build the testbed first: swift build --product swiftray-testbed")
    Testbed.register()
    _ = onlyInThisDriver
    let cluster = try LocalCluster(executable: testbedPath, environment: environment, tlsDirectory: tlsDirectory)
    defer { cluster.stop() }
    try cluster.startGCS()
    for (name, units) in nodes {
        try cluster.addNode(name: name, resources: ResourceSet(units.mapValues { $0 * 1000 }), objectStoreBytes: objectStoreBytes)
    }
    try Ray.connect(rayletSocket: cluster.nodes[0].socketPath, workerExecutable: testbedPath,
                    logRoot: cluster.session.logs, logToDriver: logToDriver, workerOutput: workerOutput)
    defer { Ray.shutdown() }
    try body(cluster)
}

/// Runs `body` (async) on a one-node cluster (2 CPUs) of testbed processes.
func withAsyncCluster(_ body: @escaping @Sendable () async throws -> Void) async throws {
    let semaphore = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var failure: (any Error)?
    try withCluster([("head", ["CPU": 2])]) { _ throws in
        Task {
            do { try await body() } catch { failure = error }
            semaphore.signal()
        }
        semaphore.wait()
    }
    if let failure { throw failure }
}

/// Starts an embedded cluster (2 CPUs) whose processes and workers run the testbed.
func startEmbeddedTestbed() throws {
    Testbed.register()
    var options = Ray.StartOptions()
    options.executable = testbedPath
    options.numCPUs = 2
    try Ray.start(options)
}

/// Every runtime test runs one at a time: a process has one driver, and two
/// clusters at once would fight over 2 cores.
@Suite(.serialized) enum RuntimeTests {}

extension RuntimeTests {
@Suite struct LoopbackTests {
    @Test func embeddedClusterRunsTasksPutsAndGets() throws {
        try startEmbeddedTestbed()
        defer { Ray.shutdown() }

        let squares = try (0..<200).map { try Testbed.square.remote($0) }
        #expect(try Ray.get(squares) == (0..<200).map { $0 * $0 })

        let small = try Ray.put([1, 2, 3])
        #expect(try small.get() == [1, 2, 3])
        let big = try Ray.put(Testbed.blobBytes(seed: 7, size: 300_000))
        #expect(try Testbed.checksum.remote(big).get() == Testbed.checksum(Testbed.blobBytes(seed: 7, size: 300_000)))

        // Large puts live in the node's shared memory; SharedBytes reads them without a copy.
        let shared: SharedBytes = try Ray.get(try big.retyped())
        #expect(shared.isMapped && Array(shared) == Testbed.blobBytes(seed: 7, size: 300_000))
        let sharedPut = try Ray.put(SharedBytes(Testbed.blobBytes(seed: 8, size: 200_000)))
        #expect(Array(try sharedPut.get()) == Testbed.blobBytes(seed: 8, size: 200_000))
        #expect(Array(try Ray.get(try Testbed.blob.remote(9, 150_000).retyped(as: SharedBytes.self)))
                == Testbed.blobBytes(seed: 9, size: 150_000))

        // A mapped view outlives its object: the released file is not reused while mapped.
        var held: ObjectRef<[UInt8]>? = try Ray.put(Testbed.blobBytes(seed: 20, size: 400_000))
        let view: SharedBytes = try Ray.get(try held!.retyped())
        held = nil
        for seed in 21..<26 { _ = try Ray.put(Testbed.blobBytes(seed: seed, size: 400_000)) }
        _ = try Testbed.square.remote(1).get()  // let releases reach the raylet
        #expect(Array(view) == Testbed.blobBytes(seed: 20, size: 400_000))
        // Released files are reused for new objects, which read back intact.
        for seed in 30..<34 {
            let ref = try Ray.put(Testbed.blobBytes(seed: seed, size: 300_000 + seed))
            #expect(try ref.get() == Testbed.blobBytes(seed: seed, size: 300_000 + seed))
        }

        // A stored (large) return value comes back byte for byte.
        let blob = try Testbed.blob.remote(3, 500_000)
        #expect(try blob.get() == Testbed.blobBytes(seed: 3, size: 500_000))

        // A DAG: refs as arguments.
        let a = try Testbed.add.remote(1, 2)
        let b = try Testbed.square.remote(a)
        let c = try Testbed.add.remote(a, b)
        #expect(try c.get() == 12)

        // wait: the quick one is ready, the slow one is not, within the timeout.
        let quick = try Testbed.sleepThenWhere.remote(0)
        _ = try quick.get()
        let slow = try Testbed.sleepThenWhere.remote(3000)
        let (ready, notReady) = try Ray.wait([quick, slow], numReturns: 1, timeout: .seconds(2))
        #expect(ready == [quick] && notReady == [slow])
        let (ready2, notReady2) = try Ray.wait([slow], numReturns: 1, timeout: .milliseconds(200))
        #expect(ready2.isEmpty && notReady2 == [slow])
        #expect(throws: Ray.Error.self) { _ = try Ray.wait([slow], numReturns: 2) }
        // As Ray: references in a wait are distinct, a repeated one anywhere in the list is an error.
        let many = [quick] + (0..<40).map { _ in try! Testbed.sleepThenWhere.remote(0) }
        #expect { _ = try Ray.wait(many + [many[17]], numReturns: 1) } throws: { error in
            guard case .invalidArgument(let message)? = error as? Ray.Error else { return false }
            return message.contains("distinct") && message.contains("\(many[17].id)")
        }
        #expect(try Ray.wait(many, numReturns: 1).ready == [quick])

        // get with a timeout throws .timeout.
        #expect {
            _ = try slow.get(timeout: .milliseconds(100))
        } throws: { error in
            guard case .timeout(let message)? = error as? Ray.Error else { return false }
            return message.contains("not ready")
        }
    }

    @Test func errorsAreTypedAndExplained() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            #expect {
                _ = try Testbed.fail.remote("the ledger is closed").get()
            } throws: { error in
                guard case .taskFailed(let message)? = error as? Ray.Error else { return false }
                return message.contains("the ledger is closed")
            }
            // A function the workers' program does not register (this driver registers it before joining).
            #expect {
                _ = try onlyInThisDriver.remote().get()
            } throws: { error in
                guard case .taskFailed(let message)? = error as? Ray.Error else { return false }
                return message.contains("unknown function 'tb.only-in-this-driver'")
            }
            // Invalid options.
            #expect(throws: Ray.Error.self) {
                _ = try Testbed.noop.options(TaskOptions(numCPUs: -1)).remote()
            }
        }
    }

    @Test func taskDAGAcrossThreeRaylets() throws {
        try withCluster([("head", ["CPU": 1, "n1": 1]), ("n2", ["CPU": 1, "n2": 1]), ("n3", ["CPU": 1, "n3": 1])]) { cluster throws in
            let on = { (name: String) in TaskOptions(resources: [name: 1]) }
            let ids = cluster.nodes.map(\.id.value)
            #expect(try Testbed.whereAmI.options(on("n1")).remote().get() == ids[0])
            #expect(try Testbed.whereAmI.options(on("n2")).remote().get() == ids[1])
            #expect(try Testbed.whereAmI.options(on("n3")).remote().get() == ids[2])
            // a (n2, large) → b (n3, reads a) and c (head, reads a) → d (n2, b + c)
            let a = try Testbed.blob.options(on("n2")).remote(11, 400_000)
            let b = try Testbed.checksum.options(on("n3")).remote(a)
            let c = try Testbed.checksum.options(on("n1")).remote(a)
            let expected = Testbed.checksum(Testbed.blobBytes(seed: 11, size: 400_000))
            #expect(try b.get() == expected)
            #expect(try c.get() == expected)
            #expect(try a.get() == Testbed.blobBytes(seed: 11, size: 400_000))
            // A 10 MB object crosses nodes in several chunks.
            let e = try Testbed.blob.options(on("n2")).remote(12, 10_000_000)
            #expect(try Testbed.checksum.options(on("n3")).remote(e).get()
                    == Testbed.checksum(Testbed.blobBytes(seed: 12, size: 10_000_000)))
            // A 24 MB one streams as the socket drains (several rounds of the 8 MiB backlog),
            // to two nodes at once.
            let f = try Testbed.blob.options(on("n2")).remote(13, 24_000_000)
            let sum = Testbed.checksum(Testbed.blobBytes(seed: 13, size: 24_000_000))
            let (g, h) = (try Testbed.checksum.options(on("n3")).remote(f), try Testbed.checksum.options(on("n1")).remote(f))
            #expect(try g.get() == sum && h.get() == sum)
        }
    }

    @Test func cancelStopsQueuedTasksAndForceKillsRunningOnes() throws {
        try withCluster([("head", ["CPU": 1])]) { _ throws in
            let running = try Testbed.sleepThenWhere.remote(3000)
            let queued = try Testbed.sleepThenWhere.remote(3000)
            // The queued one fails at once; the running one only with force.
            try Ray.cancel(queued)
            #expect {
                _ = try queued.get(timeout: .seconds(2))
            } throws: { error in
                guard case .cancelled? = error as? Ray.Error else { return false }
                return true
            }
            try Ray.cancel(running, force: true)
            #expect {
                _ = try running.get(timeout: .seconds(2))
            } throws: { error in
                guard case .cancelled(let message)? = error as? Ray.Error else { return false }
                return message.contains("worker was killed")
            }
            // The cluster carries on.
            #expect(try Testbed.square.remote(7).get(timeout: .seconds(10)) == 49)
        }
    }

    @Test func aDriverListsItsTasksToTheCLI() throws {
        try withCluster([("head", ["CPU": 1])]) { cluster throws in
            let slow = try Testbed.sleepThenWhere.remote(500)
            let waiting = try Testbed.square.remote(3)
            // The driver answers on its own socket (`swiftray list tasks` asks every driver).
            let sockets = cluster.session.sockets
            let driver = try #require(try FileManager.default.contentsOfDirectory(atPath: sockets)
                .first { $0.hasPrefix("w-") && (UInt32($0.dropFirst(2).dropLast(5).split(separator: "-").last ?? "") ?? 0) >= 1 << 30 })
            let listing = try ControlClient.ask(rayletSocket: sockets + "/" + driver, .listTasks)
            guard case .driverTasks(let tasks) = listing else {
                Issue.record("the driver answered \(listing)")
                return
            }
            #expect(tasks.tasks.map(\.function).sorted() == ["tb.sleep-where", "tb.square"], "\(listing)")
            #expect("\(listing)".contains("2 tasks held"))
            let refused = try ControlClient.ask(rayletSocket: sockets + "/" + driver, .listObjects)
            #expect("\(refused)".contains("a driver does not answer this request"), "\(refused)")
            // From anywhere: the GCS names the raylets, each asks the drivers connected to it.
            guard case .raylets(let raylets) = try ControlClient.ask(gcs: cluster.gcsAddress, .raylets, secret: cluster.secret) else {
                Issue.record("the GCS did not list its raylets")
                return
            }
            try #require(raylets.count == 1, "\(raylets)")
            let relayed = try ControlClient.ask(raylet: "\(raylets[0].host):\(raylets[0].port)", .listTasks, secret: cluster.secret)
            guard case .tasks(let node, let name, let drivers) = relayed else {
                Issue.record("the raylet answered \(relayed)")
                return
            }
            #expect(node == raylets[0].node && name == "head" && drivers.count == 1 && drivers[0].answered, "\(relayed)")
            #expect(drivers.first?.tasks.contains { $0.function == "tb.sleep-where" } == true, "\(relayed)")
            _ = try slow.get()
            _ = try waiting.get()
        }
    }

    @Test func killedWorkerTaskIsRetried() throws {
        try withCluster([("head", ["CPU": 2])]) { cluster throws in
            let marker = cluster.session.path + "/crash-marker"
            #expect(try Testbed.crashOnce.remote(marker, 42).get() == 42)
            #expect(FileManager.default.fileExists(atPath: marker), "the first attempt ran and died")
            // With no retries the crash surfaces as a typed error.
            let marker2 = cluster.session.path + "/crash-marker-2"
            #expect {
                _ = try Testbed.crashOnce.options(TaskOptions(maxRetries: 0)).remote(marker2, 1).get()
            } throws: { error in
                guard case .workerCrashed? = error as? Ray.Error else { return false }
                return true
            }
        }
    }

    @Test func killedRayletObjectsAreRebuiltFromLineage() throws {
        try withCluster([("head", ["CPU": 1]), ("n2", ["CPU": 1]), ("n3", ["CPU": 1])]) { cluster throws in
            let n3 = cluster.node(named: "n3")!
            let there = TaskOptions(scheduling: .nodeAffinity(node: n3.id.value, soft: true))
            let blobs = try (0..<4).map { try Testbed.blob.options(there).remote($0, 200_000) }
            // Consume them where they are, so the only copies stay on n3.
            let sums = try blobs.map { try Testbed.checksum.options(there).remote($0) }
            let expected = (0..<4).map { Testbed.checksum(Testbed.blobBytes(seed: $0, size: 200_000)) }
            #expect(try Ray.get(sums) == expected)
            cluster.killNode(named: "n3")
            let values = try Ray.get(blobs, timeout: .seconds(30))
            #expect(values.map(Testbed.checksum) == expected)
        }
    }

    @Test func gcsRestartsFromItsLogWhileTasksComplete() throws {
        try withCluster([("head", ["CPU": 1]), ("n2", ["CPU": 1, "n2": 1])]) { cluster throws in
            #expect(try Testbed.square.remote(3).get() == 9)
            cluster.killGCS()
            // Leases on the local raylet need no GCS.
            #expect(try Ray.get(try (0..<20).map { try Testbed.square.remote($0) }) == (0..<20).map { $0 * $0 })
            try cluster.startGCS()
            let status = try waitForStatus(cluster.gcsAddress, secret: cluster.secret) { $0.components(separatedBy: "alive (connected)").count == 3 }
            #expect(status.contains("head alive") && status.contains("n2 alive"), "\(status)")
            #expect(status.contains("job-") && status.contains("running"), "the job table survived: \(status)")
            let gcsLog = (try? String(contentsOfFile: cluster.session.logs + "/gcs.err", encoding: .utf8)) ?? ""
            #expect(gcsLog.contains("recovered from its log"), "\(gcsLog)")
            #expect(try Testbed.whereAmI.options(TaskOptions(resources: ["n2": 1])).remote().get()
                    == cluster.node(named: "n2")!.id.value)
            // The raylets re-registered with the new GCS: it sees n2's connection close when n2 dies.
            cluster.killNode(named: "n2")
            let after = try waitForStatus(cluster.gcsAddress, secret: cluster.secret) { $0.contains("n2 dead") }
            #expect(after.contains("n2 dead") && after.contains("head alive"), "\(after)")
        }
    }

    @Test func aNodeFetchesTheJobsExecutableFromARestartedGCS() throws {
        // The driver's workers run a copy that only the head node has (then nobody: it is deleted).
        let copy = NSTemporaryDirectory() + "swiftray-testbed-copy-\(getpid())"
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: testbedPath, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        Testbed.register()
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        try cluster.addNode(name: "head", resources: .units(["CPU": 1]))
        try Ray.connect(rayletSocket: cluster.nodes[0].socketPath, workerExecutable: copy, logRoot: cluster.session.logs)
        defer { Ray.shutdown() }
        #expect(try Testbed.square.remote(4).get() == 16)

        // The binary went beside the GCS log, not into it.
        let gcsLog = cluster.session.logs + "/gcs"
        let blobs = (try? FileManager.default.contentsOfDirectory(atPath: gcsLog + "/blobs")) ?? []
        #expect(blobs.count == 1, "\(blobs)")
        let size = (try? FileManager.default.attributesOfItem(atPath: copy)[.size] as? Int) ?? 0
        #expect(size > 1 << 20)
        let records = try LMDBEventLog(path: gcsLog, component: "gcs").allRecords()
        #expect(records.reduce(0) { $0 + $1.count } < 1 << 20, "the GCS log holds the executable")

        try FileManager.default.removeItem(atPath: copy)
        cluster.killGCS()
        try cluster.startGCS()
        let n2 = try cluster.addNode(name: "n2", resources: .units(["CPU": 1, "n2": 1]))
        // The head raylet schedules by the view the new GCS broadcasts: wait until it includes n2.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if case .view(let nodes)? = try? ControlClient.ask(rayletSocket: cluster.nodes[0].socketPath, .view),
               nodes.contains(n2.id) { break }
            usleep(20_000)
        }
        #expect(try Testbed.whereAmI.options(TaskOptions(resources: ["n2": 1])).remote().get() == n2.id.value)
        let fetched = (try? FileManager.default.contentsOfDirectory(atPath: cluster.session.path + "/bin")) ?? []
        #expect(fetched.count == 1, "n2 fetched the executable from the GCS: \(fetched)")
        let raylet = (try? String(contentsOfFile: cluster.session.logs + "/raylet-n2.err", encoding: .utf8)) ?? ""
        #expect(raylet.contains("fetching the executable of job-"), "\(raylet)")
    }
}

}

/// Asks the GCS for its status until `done` holds (10 s at most).
func waitForStatus(_ address: String, secret: ClusterSecret? = nil, _ done: (String) -> Bool) throws -> String {
    let deadline = Date().addingTimeInterval(10)
    var last = ""
    while Date() < deadline {
        if let status = (try? ControlClient.ask(gcs: address, .clusterStatus, secret: secret)).map({ "\($0)" }) {
            last = status
            if done(status) { return status }
        }
        usleep(50_000)
    }
    return last
}
