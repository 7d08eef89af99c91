// Jobs own their workers (issue 8): two programs as two jobs on one cluster,
// a program rebuilt while its job runs, workers that exit with their job.
// Programs are copies of the testbed that differ only in a trailer of bytes
// appended to the file (still a valid executable); `tb.whoami` reports the
// trailer of the program a worker runs, and its process ID.

import Foundation
import Glibc
import Testing

import Ray
import RayCore
import RayRuntime
import RayTestbed

/// A copy of the testbed with `trailer` (8 bytes, big-endian) appended: another program.
private func program(_ path: String, trailer: UInt64) throws {
    var bytes = try Data(contentsOf: URL(fileURLWithPath: testbedPath))
    bytes.append(contentsOf: (0..<8).map { UInt8(truncatingIfNeeded: trailer >> (56 - 8 * $0)) })
    let partial = path + ".partial"
    try bytes.write(to: URL(fileURLWithPath: partial))
    chmod(partial, 0o755)
    try #require(rename(partial, path) == 0)
}

/// A second driver: `program drive SOCKET COUNT` in its own process (its own job).
private final class OtherDriver {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    var lines: [String] = []

    init(_ executable: String, socket: String, tasks: Int, then: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["drive", socket, "\(tasks)"] + (then.map { [$0] } ?? [])
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var buffer = ""
        while !lines.contains("ready") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            buffer += String(decoding: chunk, as: UTF8.self)
            let parts = buffer.split(separator: "\n", omittingEmptySubsequences: false)
            lines += parts.dropLast().map(String.init)
            buffer = String(parts.last ?? "")
        }
    }

    /// (pid, trailer) of each task's worker.
    var workers: [(pid: Int32, trailer: UInt64)] {
        lines.compactMap { line in
            let words = line.split(separator: " ")
            guard words.count == 2, let pid = Int32(words[0]), let trailer = UInt64(words[1]) else { return nil }
            return (pid, trailer)
        }
    }

    func finish() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

private func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

/// Waits (5 s at most) until none of `pids` is alive.
private func waitForExit(_ pids: [Int32]) -> Bool {
    let deadline = Date().addingTimeInterval(5)
    while Date() < deadline {
        if !pids.contains(where: alive) { return true }
        usleep(20_000)
    }
    return false
}

extension RuntimeTests {
@Suite struct JobTests {
    /// A process's socket for direct links goes with it (one a job would otherwise leave behind in
    /// a long-lived session): the driver's and its workers' once the job ends (its workers exit).
    @Test func aProcesssSocketGoesWithIt() throws {
        try withCluster([("head", ["CPU": 1])]) { cluster in
            let sockets = cluster.session.path + "/sockets"
            func present() -> Set<String> {
                Set(((try? FileManager.default.contentsOfDirectory(atPath: sockets)) ?? []).filter {
                    $0.hasPrefix("w-") && $0.hasSuffix(".sock")
                })
            }
            #expect(try Testbed.square.remote(3).get(timeout: .seconds(30)) == 9)
            let first = present()
            #expect(first.count >= 2, "the driver's and a worker's: \(first)")
            try startAnotherJob(cluster)
            let deadline = Date() + 20
            while !present().isDisjoint(with: first) && Date() < deadline { usleep(10_000) }
            #expect(present().isDisjoint(with: first), "the first job's processes' sockets are gone: \(present())")
        }
    }

    @Test func aGlobalSetAfterStartIsNamedWhenItCrashesAWorker() throws {
        try withCluster([("head", ["CPU": 1])]) { cluster in
            let process = Process()
            let output = Pipe()
            process.executableURL = URL(fileURLWithPath: testbedPath)
            process.arguments = ["late", cluster.nodes[0].socketPath]
            process.standardOutput = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(text.contains("error: worker crashed: tb.late-read[0] failed") && text.contains("killed by signal 11"), "\(text)")
            #expect(text.contains("a global of main.swift that is declared or set after Ray.start()"), "\(text)")
        }
    }

    @Test func aJobsStatusSaysHowItsDriverEnded() throws {
        try withCluster([("head", ["CPU": 1])]) { cluster in
            let socket = cluster.nodes[0].socketPath
            let shutDown = try OtherDriver(testbedPath, socket: socket, tasks: 1)
            shutDown.finish()
            let failing = try OtherDriver(testbedPath, socket: socket, tasks: 1, then: "exit:3")
            failing.finish()
            #expect(failing.process.terminationStatus == 3)
            let returning = try OtherDriver(testbedPath, socket: socket, tasks: 1, then: "exit:0")
            returning.finish()
            let terminated = try OtherDriver(testbedPath, socket: socket, tasks: 1)
            kill(terminated.process.processIdentifier, SIGTERM)
            terminated.process.waitUntilExit()
            // The driver's handler reported, then let the signal kill it as it would have.
            #expect(terminated.process.terminationReason == .uncaughtSignal && terminated.process.terminationStatus == SIGTERM)
            let killed = try OtherDriver(testbedPath, socket: socket, tasks: 1)
            kill(killed.process.processIdentifier, SIGKILL)
            killed.process.waitUntilExit()

            let expected = ["succeeded (Ray.shutdown())", "failed (exit code 3)", "succeeded (exit code 0)",
                            "failed (killed by signal 15 (Terminated))",
                            "failed (its driver disconnected without a word (killed by SIGKILL, or crashed))"]
            var jobs: [String] = []
            let deadline = Date().addingTimeInterval(10)
            repeat {
                guard case .cluster(_, let entries, _, _) = try ControlClient.ask(gcs: cluster.gcsAddress, .clusterStatus, secret: cluster.secret) else {
                    break
                }
                jobs = entries.filter { $0.state != "running" }.map { "\($0.state) (\($0.end ?? "?"))" }
                if jobs.count == expected.count { break }
                usleep(20_000)
            } while Date() < deadline
            #expect(jobs == expected)
        }
    }

    /// Fair share (issue 12): job A keeps the node's only CPU busy with a long backlog (its owner
    /// runs task after task on the worker it leased); job B's few tasks still run long before
    /// A's backlog ends — the raylet asks A for its lease back, and gives the freed CPU to B.
    @Test func aJobWithABacklogDoesNotStarveAnotherJob() throws {
        Testbed.register()
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: .units(["CPU": 1]))
        try Ray.connect(rayletSocket: head.socketPath, workerExecutable: testbedPath, logRoot: cluster.session.logs)
        defer { Ray.shutdown() }
        // Job A: 80 tasks of 40 ms each on one CPU (about 3 s of work).
        let backlog = try (0..<80).map { _ in try Testbed.whoAmI.remote(40) }
        _ = try backlog[0].get()  // A's owner holds the node's worker now
        // Job B: three tasks from a driver process of its own; returns once they are done.
        let other = try OtherDriver(testbedPath, socket: head.socketPath, tasks: 3)
        let (done, _) = try Ray.wait(backlog, numReturns: backlog.count, timeout: .zero)
        #expect(other.workers.count == 3, "\(other.lines)")
        // Without fair share B waits for all 80 (A's owner never hands its worker back).
        #expect(done.count < 40, "job B's tasks finished only after \(done.count) of job A's 80")
        // The node counts what it asked back (`swiftray status` prints it).
        if case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus) {
            #expect(status.leasesAskedBack >= 1)
            #expect("\(ControlReply.nodeStatus(status))".contains("asked \(status.leasesAskedBack) lease(s) back"))
        } else {
            Issue.record("no node status")
        }
        other.finish()
        #expect(try Ray.get(backlog).count == 80)
    }

    @Test func jobsRunTheirOwnProgramsOnTheirOwnWorkers() throws {
        let directory = NSTemporaryDirectory() + "swiftray-programs-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (programA, programB) = (directory + "/program-a", directory + "/program-b")
        try program(programA, trailer: 0xA1)
        try program(programB, trailer: 0xB1)

        Testbed.register()
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        let head = try cluster.addNode(name: "head", resources: .units(["CPU": 2]))
        try Ray.connect(rayletSocket: head.socketPath, workerExecutable: programA, logRoot: cluster.session.logs)
        defer { Ray.shutdown() }

        // Job A runs program A.
        let first = try Ray.get(try (0..<6).map { _ in try Testbed.whoAmI.remote(0) })
        #expect(first.allSatisfy { $0[1] == 0xA1 }, "\(first)")

        // Job B, another program on the same cluster at the same time, runs program B on workers of its own.
        let other = try OtherDriver(programB, socket: head.socketPath, tasks: 6)
        let bWorkers = other.workers
        #expect(bWorkers.count == 6 && bWorkers.allSatisfy { $0.trailer == 0xB1 }, "\(other.lines)")
        let second = try Ray.get(try (0..<6).map { _ in try Testbed.whoAmI.remote(0) })
        #expect(second.allSatisfy { $0[1] == 0xA1 }, "\(second)")
        #expect(Set(second.map { Int32($0[0]) }).isDisjoint(with: bWorkers.map(\.pid)))

        // B ends: its workers exit; A carries on.
        other.finish()
        #expect(other.process.terminationStatus == 0)
        #expect(waitForExit(bWorkers.map(\.pid)), "job B's workers outlived it")
        #expect(try Testbed.square.remote(9).get() == 81)

        // Program A is rebuilt while job A runs: a new worker of job A still runs the job's
        // program (the raylet checks the digest and fetches the job's bytes from the GCS) ...
        try program(programA, trailer: 0xA2)
        let marker = cluster.session.path + "/crash-marker"
        #expect(try Testbed.crashOnce.remote(marker, 5).get() == 5)  // one worker died; the retry ran on a new one
        // Every worker started before the rebuild goes (two die at once on the two CPUs), so what
        // runs next runs on workers started after it, however fast or slow they start.
        let dying = try (0..<2).map { _ in try Testbed.sayThenDie.options(TaskOptions(maxRetries: 0)).remote() }
        for ref in dying { #expect(throws: Ray.Error.self) { _ = try ref.get() } }
        let third = try Ray.get(try (0..<4).map { _ in try Testbed.whoAmI.remote(300) })
        #expect(third.allSatisfy { $0[1] == 0xA1 }, "\(third)")
        let earlier = Set((first + second).map { $0[0] })
        #expect(!Set(third.map { $0[0] }).isSubset(of: earlier), "no worker started after the rebuild: \(third)")
        // ... and a new job of the rebuilt program runs the new one.
        let rebuilt = try OtherDriver(programA, socket: head.socketPath, tasks: 3)
        #expect(rebuilt.workers.count == 3 && rebuilt.workers.allSatisfy { $0.trailer == 0xA2 }, "\(rebuilt.lines)")
        rebuilt.finish()
    }
}
}
