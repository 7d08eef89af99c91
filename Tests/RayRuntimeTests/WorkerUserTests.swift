// Workers running as another user (SWIFTRAY_WORKER_USER; issue 12: a job's code must not hold
// the node's rights). Real processes; the raylet must run as root to switch users, so these
// tests run only as root (as CI does), with the machine's `nobody`.

import Foundation
import Glibc
import Synchronization
import Testing

@testable import Ray
import RayCore
@testable import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct WorkerUserTests {
    static let isRoot = geteuid() == 0

    /// A task runs as `nobody`, cannot read the session's credentials, and still reads the
    /// driver's object from shared memory, writes its own result there, and submits and gets
    /// nested tasks (direct links over the session's sockets).
    @Test(.enabled(if: isRoot, "the raylet must run as root to start workers as another user"))
    func workersRunAsTheConfiguredUserAndCannotReadTheClustersCredentials() throws {
        let nobody = try #require(getpwnam("nobody")).pointee
        try withCluster([("head", ["CPU": 2])], environment: ["SWIFTRAY_WORKER_USER=nobody"]) { cluster throws in
            let session = cluster.session
            let seen = try Testbed.identity.remote(session.secretPath).get(timeout: .seconds(30))
            #expect(seen == [Int(nobody.pw_uid), Int(nobody.pw_gid), Int(EACCES)], "\(seen)")
            let node = try Testbed.identity.remote(session.credentialPath(.node)).get(timeout: .seconds(30))
            #expect(node[2] == Int(EACCES), "\(node)")
            // The driver (root) reads what it refuses to its workers.
            #expect(access(session.secretPath, R_OK) == 0)

            let big = try Ray.put(Testbed.blobBytes(seed: 7, size: 300_000))
            #expect(try Testbed.checksum.remote(big).get(timeout: .seconds(30))
                    == Testbed.checksum(Testbed.blobBytes(seed: 7, size: 300_000)))
            let blob = try Testbed.blob.remote(3, 8 << 20)
            #expect(try blob.get(timeout: .seconds(30)) == Testbed.blobBytes(seed: 3, size: 8 << 20))
            #expect(try Testbed.fanOut.remote(4).get(timeout: .seconds(30)) == 14)

            // Workers log in a directory of their own; the node's logs stay the node's.
            var logs = stat()
            #expect(stat(session.logs, &logs) == 0 && logs.st_mode & 0o022 == 0)
            let workerLogs = (try? FileManager.default.contentsOfDirectory(atPath: session.logs + "/workers")) ?? []
            #expect(workerLogs.contains { $0.hasPrefix("worker-") }, "\(workerLogs)")

            // What the workers run is a copy of the program that their group may run, not the
            // build directory's file.
            let bin = try FileManager.default.contentsOfDirectory(atPath: session.path + "/bin")
            #expect(bin.contains { $0.hasPrefix("worker-") && !$0.contains(".partial") }, "\(bin)")
        }
    }

    /// With SWIFTRAY_WORKER_UIDS each job's workers run as a user ID of its own (the group the
    /// worker user's), and work as before; one job's task cannot read another job's worker's
    /// environment (which holds that job's credential).
    @Test(.enabled(if: isRoot, "the raylet must run as root to start workers as another user"))
    func eachJobsWorkersRunAsAUserIDOfItsOwn() throws {
        let nobody = try #require(getpwnam("nobody")).pointee
        try withCluster([("head", ["CPU": 2])],
                        environment: ["SWIFTRAY_WORKER_USER=nobody", "SWIFTRAY_WORKER_UIDS=61000-61999"]) { cluster throws in
            let job = try Ray.runtimeContext.job.value
            let seen = try Testbed.identity.remote(cluster.session.secretPath).get(timeout: .seconds(30))
            #expect((61000...61999).contains(seen[0]) && seen[1...] == [Int(nobody.pw_gid), Int(EACCES)], "job \(job): \(seen)")
            let blob = try Testbed.blob.remote(4, 2 << 20)
            #expect(try Testbed.checksum.remote(blob).get(timeout: .seconds(30))
                    == Testbed.checksum(Testbed.blobBytes(seed: 4, size: 2 << 20)))
            #expect(try Testbed.fanOut.remote(3).get(timeout: .seconds(30)) == 5)

            // Another job's worker (a second driver, its own job) runs as another user ID, so a
            // task of this job cannot read its environment, where its job's credential is.
            let other = Process(), input = Pipe(), output = Pipe()
            other.executableURL = URL(fileURLWithPath: testbedPath)
            other.arguments = ["drive", try #require(cluster.nodes.first).socketPath, "1"]
            (other.standardInput, other.standardOutput) = (input, output)
            try other.run()
            defer {
                try? input.fileHandleForWriting.close()
                other.waitUntilExit()
            }
            var printed = ""
            while !printed.contains("ready") {
                let chunk = output.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                printed += String(decoding: chunk, as: UTF8.self)
            }
            let pid = try #require(printed.split(separator: "\n").first.flatMap { $0.split(separator: " ").first }
                .flatMap { Int32($0) }, "\(printed)")
            var info = stat()
            #expect(stat("/proc/\(pid)", &info) == 0 && info.st_uid != UInt32(seen[0]) && (61000...61999).contains(info.st_uid),
                    "the other job's worker runs as \(info.st_uid), this job's as \(seen[0])")
            let snooped = try Testbed.identity.remote("/proc/\(pid)/environ").get(timeout: .seconds(30))
            #expect(snooped[2] == Int(EACCES), "\(snooped)")
        }
    }

    /// Jobs take the range's user IDs one each, none twice, until it is used up; a range that is
    /// malformed, includes root or an account's ID, or is too large is refused, saying why.
    @Test func aRangeOfUserIDsGivesEachJobItsOwnAndABadRangeIsRefused() throws {
        var user = WorkerUser(name: "w", uid: 500, gid: 600)
        #expect(user.assigning(start: 1, taken: [])?.uid == 500)
        user.uidRange = 70000...70003
        var taken: Set<UInt32> = []
        for _ in 0..<4 {
            let next = try #require(user.assigning(start: 1, taken: taken))
            #expect((70000...70003).contains(next.uid) && !taken.contains(next.uid) && next.gid == 600)
            taken.insert(next.uid)
        }
        #expect(user.assigning(start: 1, taken: taken) == nil, "every ID taken")
        #expect(user.assigning(start: 1, taken: []) != user.assigning(start: 2, taken: []), "nodes start apart")
        for (text, says) in [("5", "is not a range"), ("10-5", "is not a range"), ("0-10", "0 (root)"),
                             ("1-2000000", "more than"), ("a-b", "is not a range")] {
            #expect { try WorkerUser.parseUIDs(text) } throws: { "\($0)".contains(says) }
        }
        if let nobody = getpwnam("nobody")?.pointee.pw_uid {
            #expect { try WorkerUser.parseUIDs("\(nobody - 1)-\(nobody)") } throws: { "\($0)".contains("which is nobody's") }
        }
        #expect(try WorkerUser.parseUIDs("61000-61999") == 61000...61999)
    }

    /// With TLS, workers use a copy of the node's TLS material that their user owns: a task on
    /// one node owns a child on another, whose result comes back over a TLS link between the
    /// two workers; an object crosses too.
    @Test(.enabled(if: isRoot, "the raylet must run as root to start workers as another user"))
    func workersOfAnotherUserMakeTLSLinksOfTheirOwn() throws {
        let material = NSTemporaryDirectory() + "swiftray-worker-user-tls-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: material) }
        try FileManager.default.createDirectory(atPath: material, withIntermediateDirectories: true)
        try TLSContext.makeCertificates(caDirectory: material, outDirectory: material, name: "cluster", makeCA: true)
        try withCluster([("head", ["CPU": 1]), ("n2", ["CPU": 1])], environment: ["SWIFTRAY_WORKER_USER=nobody"],
                        tlsDirectory: material) { cluster throws in
            let head = try #require(cluster.node(named: "head")), n2 = try #require(cluster.node(named: "n2"))
            let onHead = TaskOptions(scheduling: .nodeAffinity(node: head.id.value, soft: false))
            #expect(try Testbed.squareOn.options(onHead).remote(n2.id.value, 12).get(timeout: .seconds(30)) == 144)
            let there = TaskOptions(scheduling: .nodeAffinity(node: n2.id.value, soft: false))
            let made = try Testbed.blob.options(there).remote(5, 3 << 20)
            #expect(try Testbed.checksum.options(onHead).remote(made).get(timeout: .seconds(30))
                    == Testbed.checksum(Testbed.blobBytes(seed: 5, size: 3 << 20)))
            let nobody = try #require(getpwnam("nobody")).pointee.pw_uid
            let copy = cluster.session.path + "/tls-workers-\(nobody)/" + TLSContext.keyFile
            var info = stat()
            #expect(stat(copy, &info) == 0 && info.st_uid == nobody && info.st_mode & 0o777 == 0o600, "\(copy)")
        }
    }

    /// Each way the setting can be wrong is refused with what to do (any user may run this).
    @Test func aWorkerUserThatIsRootOrNeedsPrivilegesTheRayletLacksIsRefused() throws {
        #expect {
            try WorkerUser.named("root", euid: 0)
        } throws: { "\($0)".contains("SWIFTRAY_WORKER_USER=root is root") && "\($0)".contains("useradd") }
        #expect {
            try WorkerUser.named("nobody", euid: 1000)
        } throws: { "\($0)".contains("needs the raylet to run as root (it runs as uid 1000)") }
        #expect {
            try WorkerUser.named("no-such-user-12", euid: 0)
        } throws: { "\($0)".contains("names no user on this machine") }
        let nobody = try WorkerUser.named("nobody", euid: 0)
        #expect(nobody.uid != 0 && nobody.name == "nobody")
    }

    /// A raylet told to run workers as a user that does not exist refuses to start, naming the
    /// setting.
    @Test(.enabled(if: isRoot, "as root, the user's existence is what is checked"))
    func aWorkerUserThatDoesNotExistStopsTheRayletWithTheSettingNamed() throws {
        Testbed.register()
        let cluster = try LocalCluster(executable: testbedPath, environment: ["SWIFTRAY_WORKER_USER=no-such-user-12"])
        defer { cluster.stop() }
        try cluster.startGCS()
        #expect {
            try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1000]))
        } throws: { error in
            "\(error)".contains("SWIFTRAY_WORKER_USER=no-such-user-12 names no user")
        }
    }

    /// With a user ID per job each job keeps its objects in a store of its own: a job's code can
    /// open neither another job's region nor the node's, and objects still cross jobs as in Ray —
    /// an actor's large result read by another job's driver, and that driver's put read by the
    /// actor — each copied by the raylet into the reader's job's store.
    @Test(.enabled(if: isRoot, "the raylet must run as root to start workers as another user"))
    func eachJobKeepsItsObjectsInAStoreOfItsOwn() throws {
        try withCluster([("head", ["CPU": 2]), ("n2", ["CPU": 1])],
                        environment: ["SWIFTRAY_WORKER_USER=nobody", "SWIFTRAY_WORKER_UIDS=61000-61999"],
                        objectStoreBytes: 16 << 20) { cluster throws in
            let node = SharedObjects(session: cluster.session.path, node: cluster.nodes[0].id)
            let first = try Ray.runtimeContext.job
            let own = node.forJob(first)
            // The job's processes use its store: a put read by its task, a task's result read here.
            let put = try Ray.put(Testbed.blobBytes(seed: 7, size: 300_000))
            #expect(try Testbed.checksum.remote(put).get(timeout: .seconds(30))
                    == Testbed.checksum(Testbed.blobBytes(seed: 7, size: 300_000)))
            #expect(try Testbed.blob.remote(3, 2 << 20).get(timeout: .seconds(30)) == Testbed.blobBytes(seed: 3, size: 2 << 20))
            // A result made on the other node comes into the node's own store, and is copied into
            // the job's for its reader.
            let n2 = try #require(cluster.node(named: "n2"))
            let there = TaskOptions(scheduling: .nodeAffinity(node: n2.id.value, soft: false))
            #expect(try Testbed.blob.options(there).remote(4, 3 << 20).get(timeout: .seconds(30))
                    == Testbed.blobBytes(seed: 4, size: 3 << 20))
            // More than the store holds: the job's objects spill to its own spill directory and come back.
            let many = try (0..<6).map { try Ray.put(Testbed.blobBytes(seed: 20 + $0, size: 4 << 20)) }
            for (index, object) in many.enumerated() {
                #expect(try Testbed.checksum.remote(object).get(timeout: .seconds(30))
                        == Testbed.checksum(Testbed.blobBytes(seed: 20 + index, size: 4 << 20)))
            }
            let spilled = (try? FileManager.default.contentsOfDirectory(atPath: own.spillDirectory)) ?? []
            #expect(!spilled.isEmpty, "the job's objects spilled in its own spill directory")
            #expect(try Testbed.identity.remote(own.spillDirectory + "/" + (spilled.first ?? "")).get(timeout: .seconds(30))[2] == 0)
            let seen = try Testbed.identity.remote(own.regionPath).get(timeout: .seconds(30))
            #expect(seen[2] == 0, "its own job's region: \(seen)")
            #expect(try Testbed.identity.remote(node.regionPath).get(timeout: .seconds(30))[2] == Int(EACCES),
                    "the node's region is the raylet's")
            let actor = try Testbed.counters.options(ActorClassOptions(name: "keeper", namespace: "team", detached: true))
                .remote(0, "k")
            #expect(try Ray.blocking { try await actor.increment(by: 1) } == 1)

            // Another program: a second job on the same node.
            try startAnotherJob(cluster)
            let second = try Ray.runtimeContext.job
            #expect(second != first)
            let theirs = try Testbed.identity.remote(own.regionPath).get(timeout: .seconds(30))
            #expect(theirs[2] == Int(EACCES), "another job's region: \(theirs)")
            let spill = own.spillDirectory + "/" + (spilled.first ?? "")
            #expect(try Testbed.identity.remote(spill).get(timeout: .seconds(30))[2] == Int(EACCES), "another job's spill file")
            let keeper: TestCounter = try Ray.getActor("keeper", namespace: "team")
            #expect(try Ray.blocking { try await keeper.identity(own.regionPath) }[2] == 0)
            #expect(try Ray.blocking { try await keeper.identity(node.forJob(second).regionPath) }[2] == Int(EACCES))
            // The actor's 4 MiB result, stored in its job's store, read by this job.
            #expect(try Ray.blocking { try await keeper.blob(5, 4 << 20) } == Testbed.blobBytes(seed: 5, size: 4 << 20))
            // This job's 1 MiB put, read by the actor (copied into the actor's job's store, freed
            // from both when this job drops it).
            // Both copies are larger than the raylet copies on its loop: made on its copy thread,
            // the answers held until then.
            let copied: ObjectID
            do {
                let mine = try Ray.put(Testbed.blobBytes(seed: 9, size: 1 << 20))
                copied = mine.id
                #expect(try Ray.blocking { try await keeper.checksum(of: [mine]) }
                        == Testbed.checksum(Testbed.blobBytes(seed: 9, size: 1 << 20)))
                #expect(own.region?.contains(copied) == true || FileManager.default.fileExists(atPath: own.path(copied)),
                        "the actor's job's store holds its copy")
            }
            let freedBy = Date() + 20
            while (own.region?.contains(copied) == true || FileManager.default.fileExists(atPath: own.path(copied)))
                    && Date() < freedBy { usleep(20_000) }
            #expect(own.region?.contains(copied) != true && !FileManager.default.fileExists(atPath: own.path(copied)),
                    "the copy is freed with the object")
            #expect(FileManager.default.fileExists(atPath: own.directory), "an ended job's detached actor still uses its store")
            try Ray.kill(keeper)
            // The first job ended and its last process here (the actor) is gone: its store goes with
            // its pages (waited for: the actor's process exits on its own time).
            let deadline = Date() + 20
            while FileManager.default.fileExists(atPath: own.directory) && Date() < deadline { usleep(20_000) }
            #expect(!FileManager.default.fileExists(atPath: own.directory), "an ended job's store is removed")
            #expect(!FileManager.default.fileExists(atPath: own.spillDirectory))
            #expect(FileManager.default.fileExists(atPath: node.forJob(second).directory), "a running job's store stays")
        }
    }

    /// A job's code may write over its store's region (the header every process of the job writes)
    /// or keep its lock. The raylet gives that store up instead of stopping or waiting for ever:
    /// the job's processes on the node are stopped naming the cause (its driver refused), what
    /// only that store held is lost, the node's status counts it, and the next job is served.
    @Test(.enabled(if: isRoot, "the raylet must run as root to start workers as another user"))
    func aJobThatWritesOverOrHoldsItsStoreLosesItAndTheNodeServesOn() throws {
        try withStorePerJob(uids: "62000-62999") { cluster, node throws in
            var given: [String] = []
            for attack in ["scribble", "keep-lock"] {
                let store = node.forJob(try Ray.runtimeContext.job)
                given.append(store.directory)
                do {
                    let put = try Ray.put(Testbed.blobBytes(seed: 1, size: 300_000))
                    #expect(try Testbed.checksum.remote(put).get(timeout: .seconds(30))
                            == Testbed.checksum(Testbed.blobBytes(seed: 1, size: 300_000)))
                    let done = attack == "scribble"
                        ? try Testbed.scribble.remote(store.regionPath, 32).get(timeout: .seconds(30))  // Its free list's count.
                        : try Testbed.keepLock.remote(store.regionPath + ".lock").get(timeout: .seconds(30))
                    #expect(done == 0, "\(attack): errno \(done)")
                }  // The put is dropped: the raylet frees it from the job's region.
                // This driver is refused once the raylet finds out (its calls fail from then on).
                var said = ""
                let deadline = Date() + 30
                while said.isEmpty && Date() < deadline {
                    do { _ = try Testbed.square.remote(3).get(timeout: .seconds(10)) } catch {
                        said = "\(error)"
                        guard case .systemError? = error as? Ray.Error else {
                            Issue.record("\(attack): a refused driver's call fails with RaySystemError, not \(error)")
                            continue
                        }
                    }
                }
                #expect(said.contains("was given up") && said.contains(store.regionPath)
                        && (attack == "scribble" ? said.contains("free list claims")
                            // Found idle holding it (or, on a loaded machine, waited out for its patience).
                            : said.contains("which sleeps holding it") || said.contains("held by another process for more than")),
                        "\(attack): \(said)")
                try startAnotherJob(cluster)
            }
            // The next job is served, in a store of its own.
            let put = try Ray.put(Testbed.blobBytes(seed: 2, size: 300_000))
            #expect(try Testbed.checksum.remote(put).get(timeout: .seconds(30))
                    == Testbed.checksum(Testbed.blobBytes(seed: 2, size: 300_000)))
            #expect(try Testbed.blob.remote(3, 2 << 20).get(timeout: .seconds(30)) == Testbed.blobBytes(seed: 3, size: 2 << 20))
            #expect(FileManager.default.fileExists(atPath: node.forJob(try Ray.runtimeContext.job).regionPath))
            guard case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: cluster.nodes[0].socketPath, .nodeStatus)
            else {
                Issue.record("the raylet did not answer with its status")
                return
            }
            #expect(status.storesGivenUp == 2, "\(status)")
            for directory in given { #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) is gone") }
        }
    }

    /// Each reading job's copy of another job's object is in memory only up to the node's store
    /// capacity of such copies: past it a copy is kept on disk, in the reader's spill directory,
    /// where the reader reads it, counted in the node's status, and removed with the object.
    @Test(.enabled(if: isRoot, "the raylet must run as root to start workers as another user"))
    func copiesOfOtherJobsObjectsPastTheStoresCapacityAreKeptOnDisk() throws {
        try withStorePerJob(uids: "59000-59999") { cluster, node throws in
            // Two readers, each a detached actor of a job of its own.
            var jobs: [JobID] = []
            for name in ["a", "b"] {
                if !jobs.isEmpty {
                    try startAnotherJob(cluster)
                }
                jobs.append(try Ray.runtimeContext.job)
                let actor = try Testbed.counters.options(ActorClassOptions(name: name, namespace: "copies", detached: true))
                    .remote(0, name)
                #expect(try Ray.blocking { try await actor.increment(by: 1) } == 1)
            }
            try startAnotherJob(cluster)
            let readers: [TestCounter] = try ["a", "b"].map { try Ray.getActor($0, namespace: "copies") }
            let second: ObjectID
            do {
                // Two 5 MiB puts (no spill: 10 of 16 MiB), each read by both: 15 MiB of copies in
                // memory, then the fourth, past 16 MiB of them, on disk.
                let blobs = (0..<2).map { Testbed.blobBytes(seed: 40 + $0, size: 5 << 20) }
                let refs = try blobs.map { try Ray.put($0) }
                second = refs[1].id
                for reader in readers {
                    for (blob, ref) in zip(blobs, refs) {
                        #expect(try Ray.blocking { try await reader.checksum(of: [ref]) } == Testbed.checksum(blob))
                    }
                }
                let b = node.forJob(jobs[1])
                #expect(FileManager.default.fileExists(atPath: b.spillPath(second)), "the fourth copy is on disk")
                #expect(b.region?.contains(second) != true)
                #expect(node.forJob(jobs[0]).region?.contains(second) == true, "the first reader's copies are in memory")
                guard case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: cluster.nodes[0].socketPath,
                                                                            .nodeStatus) else {
                    Issue.record("the raylet did not answer with its status")
                    return
                }
                #expect(status.copiesOnDisk == 1, "\(status)")
                // Read again, from disk: the same bytes.
                #expect(try Ray.blocking { try await readers[1].checksum(of: [refs[1]]) } == Testbed.checksum(blobs[1]))
            }
            // The object dropped: its copy on disk goes.
            let b = node.forJob(jobs[1])
            let deadline = Date() + 20
            while FileManager.default.fileExists(atPath: b.spillPath(second)) && Date() < deadline { usleep(20_000) }
            #expect(!FileManager.default.fileExists(atPath: b.spillPath(second)), "the copy on disk is removed")
            #expect(!FileManager.default.fileExists(atPath: b.spillChecksumPath(second)))
            for reader in readers { try Ray.kill(reader) }
        }
    }

    /// A user who may not write the machine's sessions' directory (root's) keeps its sessions in one
    /// of its own, so its `Ray.start()` works, and still looks for nodes in the shared one too.
    @Test(.enabled(if: isRoot, "another user than the sessions' directory's owner"))
    func anotherUsersSessionsGoUnderADirectoryOfItsOwn() throws {
        try Session.checkRoot(Session.sharedRoot)  // root's, as a node started by root makes it
        try withProgramForNobody { _, asNobody throws in
            try withCluster([("head", ["CPU": 1])]) { cluster throws in
                let nobody = try #require(getpwnam("nobody")).pointee.pw_uid
                let said = try asNobody(cluster, "sessions-root")
                #expect(said.contains("root /tmp/swiftray-\(nobody); roots /tmp/swiftray-\(nobody),/tmp/swiftray"), "\(said)")
            }
        }
    }

    /// Root finds a node a user started (in `/tmp/swiftray-<uid>`) when it names the cluster's
    /// address — never for "auto", never in a directory of that name its user does not own or others
    /// may write — and only a record that holds up: its raylet runs as that user and its session and
    /// socket lie in that user's directory (the record is that user's to write: one naming any other
    /// process — pid -1 is every process — could have root's `swiftray stop` signal it).
    @Test(.enabled(if: isRoot, "directories of other users"))
    func aUsersNodesAreFoundByAddressOnlyAndOnlyWhenTheirRecordsHoldUp() throws {
        let nobody = try #require(getpwnam("nobody")).pointee
        let daemon = try #require(getpwnam("daemon")).pointee
        let own = Session.sharedRoot + "-\(nobody.pw_uid)", squatted = Session.sharedRoot + "-\(daemon.pw_uid)"
        if !FileManager.default.fileExists(atPath: own) {
            #expect(mkdir(own, 0o755) == 0 && chown(own, nobody.pw_uid, nobody.pw_gid) == 0)
        }
        if !FileManager.default.fileExists(atPath: squatted) {
            #expect(mkdir(squatted, 0o755) == 0)  // root's, named as daemon's
        }
        defer {
            var info = stat()
            if stat(squatted, &info) == 0 && info.st_uid == 0 { try? FileManager.default.removeItem(atPath: squatted) }
        }
        #expect(Session.otherUsersRoots.map(\.path).contains(own))
        #expect(!Session.otherUsersRoots.map(\.path).contains(squatted) || daemonOwns(squatted))
        #expect(!Session.roots.contains(own), "looked in only for an address")

        // A process of nobody's, a session of nobody's, and records naming them (or not).
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        sleeper.arguments = ["--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "sleep", "60"]
        try sleeper.run()
        defer {
            kill(sleeper.processIdentifier, SIGKILL)
            sleeper.waitUntilExit()
        }
        let session = own + "/session-records-\(getpid())", nodes = own + "/nodes"
        try FileManager.default.createDirectory(atPath: session + "/sockets", withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: nodes) { try FileManager.default.createDirectory(atPath: nodes, withIntermediateDirectories: true) }
        for path in [session, session + "/sockets", nodes] { chown(path, nobody.pw_uid, nobody.pw_gid) }
        var files: [String] = []
        defer {
            for file in files { unlink(file) }
            try? FileManager.default.removeItem(atPath: session)
        }
        // Wait until the sleeper runs as nobody (setpriv has switched).
        var info = stat()
        for _ in 0..<500 where !(stat("/proc/\(sleeper.processIdentifier)", &info) == 0 && info.st_uid == nobody.pw_uid) {
            usleep(2_000)
        }
        let cases: [(port: Int, pid: Int32, session: String)] = [
            (40001, sleeper.processIdentifier, session),  // holds up
            (40002, -1, session),  // every process
            (40003, getpid(), session),  // root's
            (40004, sleeper.processIdentifier, Session.sharedRoot + "/session-x"),  // a session elsewhere
        ]
        for (index, entry) in cases.enumerated() {
            let record = LocalNodeRecord(gcsAddress: "127.0.0.1:\(entry.port)", node: 1, name: "head",
                                         socketPath: entry.session + "/sockets/raylet-head.sock", session: entry.session,
                                         rayletPID: entry.pid, gcsPID: nil)
            let file = nodes + "/records-\(getpid())-\(index).json"
            #expect(writeNewFile(file, Array(try JSONEncoder().encode(record))))
            files.append(file)
        }
        let found = LocalNodeRecord.ofOtherUsers().filter { files.contains($0.file ?? "") }
        #expect(found.map(\.gcsAddress) == ["127.0.0.1:40001"], "\(found)")
        #expect(try LocalNodeRecord.find(gcsAddress: "127.0.0.1:40001").rayletPID == sleeper.processIdentifier)
        for port in [40002, 40003, 40004] {
            #expect(throws: RuntimeError.self) { try LocalNodeRecord.find(gcsAddress: "127.0.0.1:\(port)") }
        }
        #expect(!LocalNodeRecord.all().contains { files.contains($0.file ?? "") }, "not for \"auto\" nor the CLI")
    }

    private func daemonOwns(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_uid == getpwnam("daemon")!.pointee.pw_uid
    }

    /// A socket's mode (and, as root, its directory's group) is set through a descriptor of the name
    /// that follows no link: in a directory another user owns, the name could be swapped for a link
    /// to a file of the process's own between the bind and the chmod.
    @Test func aSocketsPermissionsAreSetThroughNoLink() throws {
        let directory = NSTemporaryDirectory() + "swiftray-socket-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let victim = directory + "/victim", swapped = directory + "/swapped.sock", real = directory + "/real.sock"
        #expect(writeNewFile(victim, [1, 2, 3], mode: 0o600))
        #expect(symlink(victim, swapped) == 0)
        setSocketPermissions(swapped)
        var info = stat()
        #expect(stat(victim, &info) == 0 && info.st_mode & 0o777 == 0o600, "the file linked to is untouched")
        #expect(mknod(real, S_IFSOCK | 0o600, 0) == 0)
        setSocketPermissions(real)
        #expect(lstat(real, &info) == 0 && info.st_mode & 0o777 == 0o660)
    }

    /// A job's code owns its store's directory, so it may put a link where the region was; when
    /// the raylet grants the store (again) to a user ID it goes through no link: the file linked
    /// to stays as it was, and the grant fails naming the entry.
    @Test(.enabled(if: isRoot, "granting a store changes its owner"))
    func aJobStoreIsGrantedThroughNoLinkTheJobPutThere() throws {
        let base = NSTemporaryDirectory() + "swiftray-grant-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let store = SharedObjects(directory: base + "/store", spillDirectory: base + "/spill").forJob(JobID(3))
        try store.create(capacity: 1 << 20)
        let user = try WorkerUser.named("nobody", euid: 0)
        try user.grantJobStore(store)
        var info = stat()
        #expect(stat(store.regionPath, &info) == 0 && info.st_uid == user.uid && info.st_mode & 0o777 == 0o660)
        let victim = base + "/victim"
        #expect(writeNewFile(victim, [1, 2, 3], mode: 0o600))
        unlink(store.regionPath)
        symlink(victim, store.regionPath)
        #expect { try user.grantJobStore(store) } throws: { "\($0)".contains("is not the file the raylet made") }
        #expect(lstat(victim, &info) == 0 && info.st_uid == 0 && info.st_mode & 0o777 == 0o600, "the file linked to is untouched")
        // A hard link to it: a file of two names is not the one the raylet made either.
        unlink(store.regionPath)
        link(victim, store.regionPath)
        #expect { try user.grantJobStore(store) } throws: { "\($0)".contains("is not the file the raylet made") }
        #expect(lstat(victim, &info) == 0 && info.st_uid == 0 && info.st_mode & 0o777 == 0o600, "the file linked to is untouched")
    }

    /// A driver running as another user than the raylet may name only its own program as its
    /// workers' (the raylet reads the file with its rights): naming the session's secret is
    /// refused, saying why, and counted; naming its own program works.
    @Test(.enabled(if: isRoot, "the driver must run as another user than the (root) raylet"))
    func aDriverOfAnotherUserMayNameOnlyItsOwnProgram() throws {
        try withProgramForNobody { program, asNobody throws in
            try withCluster([("head", ["CPU": 1])], environment: ["SWIFTRAY_WORKER_USER=nobody"]) { cluster throws in
                let stolen = try asNobody(cluster, cluster.session.secretPath)
                #expect(stolen.contains("error:") && stolen.contains("not allowed")
                        && stolen.contains("may name only its own program"), "\(stolen)")
                // Nothing of the secret was copied where the workers' group reads.
                let secret = FileManager.default.contents(atPath: cluster.session.secretPath)
                let bin = cluster.session.path + "/bin"
                for name in (try? FileManager.default.contentsOfDirectory(atPath: bin)) ?? [] {
                    #expect(FileManager.default.contents(atPath: bin + "/" + name) != secret, "\(name)")
                }
                let own = try asNobody(cluster, program)
                #expect(own.contains("value 49"), "\(own)")
            }
        }
    }

    /// With a user ID per job, a driver that runs as another user than the raylet (not root) has
    /// its job's workers run as that user: its store is then that user's, so the driver writes its
    /// puts there and reads its tasks' results, and other jobs' code still cannot open it.
    @Test(.enabled(if: isRoot, "the driver must run as another user than the (root) raylet"))
    func aDriverOfAnotherUsersJobRunsAsThatUserWithAStoreItReads() throws {
        try withProgramForNobody { program, asNobody throws in
            try withCluster([("head", ["CPU": 2])],
                            environment: ["SWIFTRAY_WORKER_USER=nobody", "SWIFTRAY_WORKER_UIDS=60000-60999"],
                            objectStoreBytes: 16 << 20) { cluster throws in
                let said = try asNobody(cluster, "store")
                let nobody = try #require(getpwnam("nobody")).pointee.pw_uid
                #expect(said.contains("put read by a task ok") && said.contains("result read ok")
                        && said.contains("workers run as uid \(nobody); driver uid \(nobody)"), "\(said)")
                // Its store is that user's alone: this (root) driver's job's code, an ID of the
                // range, cannot open it while it is in use.
                let held = try asNobody(cluster, "store-hold")
                defer { held.close() }
                let job = try #require(held.lines.first { $0.hasPrefix("job ") }.flatMap { UInt32($0.dropFirst(4)) })
                let store = SharedObjects(session: cluster.session.path, node: cluster.nodes[0].id).forJob(JobID(job))
                var info = stat()
                #expect(stat(store.regionPath, &info) == 0 && info.st_uid == nobody, "\(store.regionPath)")
                let seen = try Testbed.identity.remote(store.regionPath).get(timeout: .seconds(30))
                #expect(seen[0] != Int(nobody) && seen[2] == Int(EACCES), "another job's code: \(seen)")
            }
        }
    }

    /// A node's sockets are its user's (and its workers' group's): a driver of another user is
    /// told so, and what to do, not asked whether a raylet runs (one does).
    @Test(.enabled(if: isRoot, "the driver must run as another user than the (root) raylet"))
    func aDriverOfAnotherUserIsToldTheNodesSocketsAreNotItsOwn() throws {
        try withProgramForNobody { program, asNobody throws in
            try withCluster([("head", ["CPU": 1])]) { cluster throws in
                let refused = try asNobody(cluster, program)
                #expect(refused.contains("permission denied") && refused.contains("the node runs as root")
                        && refused.contains("run the driver as root") && !refused.contains("is a raylet running")
                        && !refused.contains("usermod"), "\(refused)")
            }
            // A node running workers as nobody: its sockets are nogroup's too, and a user outside that
            // group is told how to join it.
            try withCluster([("head", ["CPU": 1])], environment: ["SWIFTRAY_WORKER_USER=nobody"]) { cluster throws in
                let daemon = try #require(getpwnam("daemon")).pointee
                let nobodyGID = try #require(getpwnam("nobody")).pointee.pw_gid
                let group = String(cString: try #require(getgrgid(nobodyGID)).pointee.gr_name)
                let credential = try String(contentsOfFile: cluster.session.credentialPath(.driver), encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                let refused = try NobodyDriver(["--reuid=\(daemon.pw_uid)", "--regid=\(daemon.pw_gid)", "--clear-groups",
                                                program, "name", cluster.nodes[0].socketPath, program], credential: credential)
                #expect(refused.contains("permission denied") && refused.contains("run the driver as root, have this user "
                        + "added to the node's workers' group (`usermod -aG \(group) daemon`"), "\(refused)")
                // A user in that group, without a credential of its own, is told which to ask for.
                let nobody = try #require(getpwnam("nobody")).pointee
                let without = try NobodyDriver(["--reuid=\(nobody.pw_uid)", "--regid=\(nobody.pw_gid)", "--clear-groups",
                                                program, "name", cluster.nodes[0].socketPath, program], credential: nil)
                #expect(without.contains("this user cannot read the session's credentials")
                        && without.contains("SWIFTRAY_CLUSTER_SECRET_FILE to a copy of \(cluster.session.path)/driver.credential"),
                        "\(without)")
            }
        }
    }

    /// Gives `body` a copy of the testbed that nobody may run (the build directory may be
    /// private), and a function running it as nobody with a driver's credential against a
    /// cluster's first node, naming a path as its workers' program (or, given "store", storing
    /// and reading objects); it returns what it printed.
    private func withProgramForNobody(
        _ body: (String, (LocalCluster, String) throws -> NobodyDriver) throws -> Void
    ) throws {
        let nobody = try #require(getpwnam("nobody")).pointee
        let directory = NSTemporaryDirectory() + "swiftray-name-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o755)
        let program = directory + "/testbed"
        try FileManager.default.copyItem(atPath: testbedPath, toPath: program)
        chmod(program, 0o755)
        try body(program) { cluster, path in
            let socket = try #require(cluster.nodes.first).socketPath
            let credential = try String(contentsOfFile: cluster.session.credentialPath(.driver), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let arguments = switch path {
            case "sessions-root": ["sessions-root"]
            case "store": ["store", socket]
            case "store-hold": ["store", socket, "hold"]
            default: ["name", socket, path]
            }
            // A driver of another user logs where `Ray.connect(address)` does: the session's logs are
            // root's, so it logs under its home (nobody's cannot be made: it keeps no log).
            return try NobodyDriver(["--reuid=\(nobody.pw_uid)", "--regid=\(nobody.pw_gid)", "--clear-groups", program]
                                    + arguments, credential: credential,
                                    logRoot: path.hasPrefix("store") ? cluster.session.logs : nil)
        }
    }
}
}

/// A testbed driver run as nobody (`setpriv`): what it printed, read until it exits or, when it
/// holds, until it says "ready"; `close()` closes its stdin and waits for it.
private final class NobodyDriver: CustomStringConvertible {
    let process = Process()
    let input = Pipe()
    private(set) var text = ""
    var lines: [String] { text.split(separator: "\n").map(String.init) }

    init(_ arguments: [String], credential: String?, logRoot: String? = nil) throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin"].merging(credential.map { ["SWIFTRAY_CLUSTER_SECRET": $0] } ?? [:]) { $1 }
            .merging(logRoot.map { ["TB_LOG_ROOT": $0] } ?? [:]) { $1 }
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let holds = arguments.last == "hold"
        while true {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if holds && (lines.contains("ready") || text.contains("error:")) { break }
        }
        if !holds { close() }
    }

    func close() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    func contains(_ part: String) -> Bool { text.contains(part) }
    var description: String { text }
}

/// Where sessions live must be where no one else could put or swap them: a directory of this
/// user's that the umask left group-writable is made 0755 (an umask of 002 is common), one
/// missing is made 0755, and one of another user, or writable by others without the sticky bit,
/// is refused, saying what to do.
@Suite struct SessionRootTests {
    @Test func theSessionsDirectoryIsMadeOrFixedOrRefused() throws {
        let base = NSTemporaryDirectory() + "swiftray-session-root-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        func mode(_ path: String) -> mode_t {
            var info = stat()
            _ = stat(path, &info)
            return info.st_mode & 0o7777
        }
        let loose = base + "/loose"
        mkdir(loose, 0o775)
        chmod(loose, 0o775)
        try Session.checkRoot(loose)
        #expect(mode(loose) == 0o755)
        let missing = base + "/missing/deeper"
        try Session.checkRoot(missing)
        #expect(mode(missing) == 0o755)
        if geteuid() == 0, let nobody = getpwnam("nobody")?.pointee {
            let theirs = base + "/theirs"
            mkdir(theirs, 0o755)
            chown(theirs, nobody.pw_uid, nobody.pw_gid)
            #expect { try Session.checkRoot(theirs) } throws: { "\($0)".contains("is not this user's or root's") }
            let shared = base + "/shared"
            mkdir(shared, 0o777)
            chmod(shared, 0o777)
            chown(shared, 0, 0)
            try Session.checkRoot(shared)  // Root's own: made 0755.
            chown(shared, nobody.pw_uid, nobody.pw_gid)
            chmod(shared, 0o1777)
            #expect { try Session.checkRoot(shared) } throws: { "\($0)".contains("SWIFTRAY_TMPDIR") }
        }
    }
}

/// Ends this program's job and connects again to the first node: another job.
func startAnotherJob(_ cluster: LocalCluster) throws {
    Ray.shutdown()
    try Ray.connect(rayletSocket: cluster.nodes[0].socketPath, workerExecutable: testbedPath, logRoot: cluster.session.logs)
}

/// Runs `body` on a one-node cluster (2 CPUs, a 16 MiB store) whose jobs each run as a user ID of
/// `uids` with a store of their own, given the node's store.
func withStorePerJob(uids: String, environment: [String] = [],
                     _ body: (LocalCluster, SharedObjects) throws -> Void) throws {
    try withCluster([("head", ["CPU": 2])],
                    environment: ["SWIFTRAY_WORKER_USER=nobody", "SWIFTRAY_WORKER_UIDS=\(uids)"] + environment,
                    objectStoreBytes: 16 << 20) { cluster throws in
        try body(cluster, SharedObjects(session: cluster.session.path, node: cluster.nodes[0].id))
    }
}
