// Worker output reaches the driver (issue 8, bug 3), on real processes: what a
// task prints on either node arrives prefixed with the task and node, is kept in
// the session's per-job file, survives its worker's SIGKILL, and a crash's last
// lines of stderr are part of the WorkerCrashed error.

import Foundation
import Synchronization
import Testing

import Ray
import RayCore
import RayRuntime
import RayTestbed

/// Lines a driver received from its workers.
final class ReceivedOutput: Sendable {
    let lines = Mutex<[(String, Bool)]>([])

    var handler: Ray.OutputHandler {
        { line, isError in self.lines.withLock { $0.append((String(line), isError)) } }
    }

    /// Waits (up to 10 s) until a line satisfying `match` arrived; returns it.
    func await(_ match: (String, Bool) -> Bool) -> (String, Bool)? {
        let deadline = DispatchTime.now() + .seconds(10)
        while DispatchTime.now() < deadline {
            if let found = lines.withLock({ $0.first(where: match) }) { return found }
            usleep(10_000)
        }
        return nil
    }
}

extension RuntimeTests {
@Suite struct OutputTests {
    @Test func workerOutputReachesTheDriverPrefixedWithTaskAndNode() throws {
        let received = ReceivedOutput()
        try withCluster([("head", ["CPU": 1]), ("far", ["CPU": 1, "far": 1])], workerOutput: received.handler) { cluster throws in
            #expect(try Testbed.say.remote(2).get() == 1)
            #expect(try Testbed.say.options(TaskOptions(resources: ["far": 1])).remote(1).get() == 2)
            // stdout lines, in order, named by task instance and node; stderr lines flagged as such.
            let first = received.await { line, _ in line.hasSuffix("line 1 from node 1") }
            #expect(first?.0 == "(tb.say[0], node-1) line 1 from node 1" && first?.1 == false)
            #expect(received.await { line, _ in line == "(tb.say[0], node-1) line 0 from node 1" } != nil)
            let remote = received.await { line, _ in line.hasSuffix("line 0 from node 2") }
            #expect(remote?.0 == "(tb.say[1], node-2) line 0 from node 2")
            // Written to fd 2 past stdio (FileHandle.standardError): flagged as stderr and named by its
            // node; the task is a heuristic (the newest that printed through stdio, when its marker was
            // read first: the two pipes race), so it is not asserted.
            let warning = received.await { line, _ in line.hasSuffix("warning from node 2") }
            #expect(warning?.0.hasSuffix("node-2) warning from node 2") == true && warning?.1 == true)

            // A worker SIGKILLed right after printing: its lines still arrive, and its crash says what it wrote last.
            #expect {
                _ = try Testbed.sayThenDie.options(TaskOptions(maxRetries: 0)).remote().get()
            } throws: { error in
                let text = "\(error)"
                return text.contains("tb.say-then-die[0] failed: its worker worker-1.")
                    && text.contains("died (killed by signal 9 (Killed))") && text.hasSuffix("\n    dying words")
            }
            #expect(received.await { line, _ in line.hasSuffix(") about to die") } != nil)

            // Each node keeps the job's output in the session directory.
            let logs = try FileManager.default.contentsOfDirectory(atPath: cluster.session.logs)
            let farLog = try #require(logs.first { $0.hasSuffix("-far.out") })
            let stored = try String(contentsOfFile: cluster.session.logs + "/" + farLog, encoding: .utf8)
            #expect(stored.contains("(tb.say[1], node-2) line 0 from node 2\n"))
        }
    }

    @Test func outputCanBeTurnedOff() throws {
        let received = ReceivedOutput()
        try withCluster([("head", ["CPU": 1])], logToDriver: false, workerOutput: received.handler) { cluster throws in
            #expect(try Testbed.say.remote(1).get() == 1)
            // The line is stored on the node (so it was printed and read) but never sent to this driver.
            let logs = cluster.session.logs
            var stored = ""
            let deadline = Date().addingTimeInterval(10)
            while !stored.contains("warning from node 1"), Date() < deadline {
                let files = (try? FileManager.default.contentsOfDirectory(atPath: logs)) ?? []
                stored = files.filter { $0.hasSuffix(".out") }
                    .compactMap { try? String(contentsOfFile: logs + "/" + $0, encoding: .utf8) }.joined()
                usleep(10_000)
            }
            #expect(stored.contains("line 0 from node 1"))
            #expect(received.lines.withLock { $0.isEmpty })
        }
    }
}
}

/// Sessions (issue 8, bug 8): what a run leaves behind.
@Suite struct SessionTests {
    /// A session directory as `Session.create` names it, `age` seconds before `now` (one instant for
    /// the whole test: a second ticking between two sessions must not give them the same age).
    private func makeSession(_ root: String, now: Int, age: Int, pid: Int, kept: Bool) throws -> Session {
        let session = Session(path: "\(root)/session-\(now - age)-0-\(pid)")
        try FileManager.default.createDirectory(atPath: session.logs, withIntermediateDirectories: true)
        _ = writeNewFile(session.path + "/alive", [])
        if kept { session.keepLogs(reason: "a task failed") }
        return session
    }

    @Test func finishedSessionsArePrunedAndKeptOnesBounded() throws {
        let root = NSTemporaryDirectory() + "swiftray-prune-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let now = Int(time(nil))
        let over = try makeSession(root, now: now, age: 3600, pid: 1, kept: false)
        let young = try makeSession(root, now: now, age: 0, pid: 2, kept: false)
        let running = try makeSession(root, now: now, age: 3600, pid: 3, kept: false)
        running.holdAlive()  // This process holds it: its lock makes it alive.
        let kept = try (0..<(Session.keptSessionsLimit + 2)).map {
            try makeSession(root, now: now, age: 7200 + $0, pid: 10 + $0, kept: true)
        }

        let removed = Set(Session.pruneFinished(root: root))
        // Over and not kept: gone. Too young to tell, or held by a live process: left alone.
        #expect(removed.contains(over.path) && !FileManager.default.fileExists(atPath: over.path))
        #expect(FileManager.default.fileExists(atPath: young.path) && FileManager.default.fileExists(atPath: running.path))
        // Kept: the newest ten stay (the two oldest go), with their reason.
        #expect(removed == Set([over.path] + kept.suffix(2).map(\.path)))
        #expect(kept.prefix(Session.keptSessionsLimit).allSatisfy { $0.keptReason == "a task failed" })
    }
}

extension RuntimeTests {
@Suite struct EmbeddedSessionTests {
    @Test func shutdownRemovesTheSessionUnlessTheClusterFailed() throws {
        try startEmbeddedTestbed()
        let clean = try #require(Ray.sessionDirectory)
        #expect(try Testbed.square.remote(4).get() == 16)
        let big = try Ray.put(Testbed.blobBytes(seed: 1, size: 300_000))  // In the node's shared memory.
        _ = big
        let name = clean.split(separator: "/").last.map(String.init) ?? ""
        let memory = { (try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm"))?.filter { $0.contains(name) } ?? [] }
        #expect(!memory().isEmpty)
        Ray.shutdown()
        #expect(!FileManager.default.fileExists(atPath: clean))
        #expect(memory().isEmpty)

        // A task body's own error is the program's business: nothing kept.
        try startEmbeddedTestbed()
        let thrown = try #require(Ray.sessionDirectory)
        #expect(throws: Ray.Error.self) { _ = try Testbed.fail.remote("on purpose").get() }
        Ray.shutdown()
        #expect(!FileManager.default.fileExists(atPath: thrown))

        // A crashed worker is the cluster's: the logs are kept, saying why; the sockets go.
        try startEmbeddedTestbed()
        let failed = try #require(Ray.sessionDirectory)
        let marker = failed + "/crash-marker"
        #expect(throws: Ray.Error.self) { _ = try Testbed.crashOnce.options(TaskOptions(maxRetries: 0)).remote(marker, 1).get() }
        Ray.shutdown()
        #expect(Session(path: failed).keptReason == "1 WorkerCrashed")
        #expect(FileManager.default.fileExists(atPath: failed + "/logs"))
        #expect(!FileManager.default.fileExists(atPath: failed + "/sockets"))
        Session(path: failed).remove()
    }
}
}
