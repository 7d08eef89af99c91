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
        Testbed.register()
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1000]))
        try cluster.addNode(name: "far", resources: ResourceSet(["CPU": 1000, "far": 1000]))
        let received = ReceivedOutput()
        try Ray.connect(rayletSocket: cluster.nodes[0].socketPath, workerExecutable: testbedPath,
                        logRoot: cluster.session.logs, workerOutput: received.handler)
        defer { Ray.shutdown() }

        #expect(try Testbed.say.remote(2).get() == 1)
        #expect(try Testbed.say.options(TaskOptions(resources: ["far": 1])).remote(1).get() == 2)
        // stdout lines, in order, named by task instance and node; stderr lines flagged as such.
        let first = received.await { line, _ in line.hasSuffix("line 1 from node 1") }
        #expect(first?.0 == "(tb.say[0], node-1) line 1 from node 1" && first?.1 == false)
        #expect(received.await { line, _ in line == "(tb.say[0], node-1) line 0 from node 1" } != nil)
        let remote = received.await { line, _ in line.hasSuffix("line 0 from node 2") }
        #expect(remote?.0 == "(tb.say[1], node-2) line 0 from node 2")
        // Written to fd 2 past stdio (FileHandle.standardError): the task that printed last owns it.
        let warning = received.await { line, _ in line.hasSuffix("warning from node 2") }
        #expect(warning?.0 == "(tb.say[1], node-2) warning from node 2" && warning?.1 == true)

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

    @Test func outputCanBeTurnedOff() throws {
        Testbed.register()
        let cluster = try LocalCluster(executable: testbedPath)
        defer { cluster.stop() }
        try cluster.startGCS()
        try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1000]))
        let received = ReceivedOutput()
        try Ray.connect(rayletSocket: cluster.nodes[0].socketPath, workerExecutable: testbedPath,
                        logRoot: cluster.session.logs, logToDriver: false, workerOutput: received.handler)
        defer { Ray.shutdown() }
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
