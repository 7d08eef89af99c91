// `swiftray up` from the test suite: scenarios on real local clusters (a
// raylet process per node, real workers, real SIGKILLs), judged by the same
// expectations and exit codes as raysim. The full sweep over Scenarios/ is
// tools/up-scenarios.sh (release build).

import Foundation
import Testing

import RaySim
import RayRuntime

/// The swiftray binary next to the test bundle.
let swiftrayPath = URL(fileURLWithPath: testbedPath).deletingLastPathComponent().appendingPathComponent("swiftray").path

/// The package root (Scenarios/ lives there).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// Writes `yaml` to a temporary scenario file and runs it in both worlds side by side.
private func compareInline(_ yaml: String) throws -> (Int32, String) {
    let path = NSTemporaryDirectory() + "inline-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).yaml"
    try yaml.write(toFile: path, atomically: false, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try runSwiftray(["up", path, "--compare", "--quiet"])
}

/// Runs swiftray with `arguments` (or `launcher` with them: e.g. setpriv, the binary among them); returns
/// its exit code and output.
func runSwiftray(_ arguments: [String], environment: [String: String] = [:], through launcher: String? = nil) throws
    -> (Int32, String) {
    let process = Process()
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.executableURL = URL(fileURLWithPath: launcher ?? swiftrayPath)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

extension RuntimeTests {
@Suite struct UpTests {
    @Test(arguments: ["chain-node-loss", "worker-killed-retry", "gcs-restart", "retries-exhausted"])
    func scenarioPassesOnARealCluster(_ name: String) throws {
        let (code, output) = try runSwiftray(["up", "Scenarios/\(name).yaml", "--quiet"])
        #expect(code == 0, "\(output)")
        #expect(output.contains("PASS"))
    }

    /// Differential runs: raysim and real processes show a user the same thing (all of
    /// Scenarios/ with tools/compare.sh).
    @Test(arguments: ["head-node-loss", "owner-death", "node-affinity", "wait", "cancel", "nested", "nested-node-loss", "nested-cancel",
                            "nested-return-refs", "nested-owner-death", "nested-borrowed-args", "actor-restart", "actor-detached", "actor-concurrent",
                            "actor-callers",
                            "actor-at-most-once"])
    func theSimulatorAndRealProcessesAgree(_ name: String) throws {
        let (code, output) = try runSwiftray(["up", "Scenarios/\(name).yaml", "--compare", "--quiet"])
        #expect(code == 0, "\(output)")
        #expect(output.contains("SAME"))
        // Both runs also met the scenario's expectations.
        let verdicts = output.split(separator: "\n").filter { $0.contains(" verdict ") }
        #expect(verdicts.count == 1 && !verdicts[0].contains("FAIL"), "\(output)")
    }

    /// A fault whose target never exists (no node ever holds an inline value) is reported as
    /// not fired, and fails the run, identically in both worlds.
    @Test func aFaultThatCannotBeResolvedDidNotFireInBothWorlds() throws {
        let (code, output) = try compareInline("""
            name: unfired
            description: a node kill whose target never exists (inline values are held by no node)
            seed: 5
            cluster:
              nodes:
                - {name: head, head: true, resources: {CPU: 2}}
                - {name: worker, count: 1, resources: {CPU: 2}}
            workload:
              tasks:
                - {name: tiny, count: 2, duration: 5ms, output: 8B}
              get: ["tiny[*]"]
            faults:
              - after: "tiny[*]"
                kill_node: {holding: "tiny[0]"}
            expect:
              max_sim_time: 10s
            """)
        #expect(code == 0, "\(output)")  // The two worlds agree...
        #expect(output.contains("SAME"))
        let verdict = output.split(separator: "\n").first { $0.contains(" verdict ") }.map(String.init) ?? ""
        #expect(verdict.components(separatedBy: "FAIL: fault 0 did not fire").count == 3, "\(output)")  // ...both fail.
        #expect(output.contains("faults fired") && !output.contains("≠ faults fired"))
    }

    /// A fault due shortly after the program's gets returned still fires in both worlds (each
    /// runs on for the same grace period).
    @Test func aFaultDueAfterTheProgramEndedFiresInBothWorlds() throws {
        let (code, output) = try compareInline("""
            name: late-fault
            description: a node dies a second after the program's gets returned
            seed: 3
            cluster:
              nodes:
                - {name: head, head: true, resources: {CPU: 2}}
                - {name: worker, count: 1, resources: {CPU: 2}}
            workload:
              tasks:
                - {name: quick, count: 4, duration: 10ms, output: 8B}
              get: ["quick[*]"]
            faults:
              - at: 1s
                kill_node: worker-1
            expect:
              max_sim_time: 10s
            """)
        #expect(code == 0 && output.contains("SAME"), "\(output)")
        let fired = output.split(separator: "\n").first { $0.contains("faults fired") }.map(String.init) ?? ""
        #expect(fired.components(separatedBy: "[0]").count == 3, "\(output)")
    }

    @Test func aRealRunExportedAsATraceReplaysWithIdenticalEffects() throws {
        // A run with a GCS restart: every process journals its effects.
        let (code, output) = try runSwiftray(["up", "Scenarios/gcs-restart.yaml", "--quiet"],
                                             environment: ["SWIFTRAY_RECORD_EFFECTS": "1"])
        #expect(code == 0, "\(output)")
        guard let line = output.split(separator: "\n").first(where: { $0.contains("session: ") }),
              let session = line.split(separator: " ").dropFirst().first(where: { $0.hasPrefix("/") }) else {
            Issue.record("no session in \(output)")
            return
        }
        let tracePath = String(session) + "/run.trace"
        let (exported, text) = try runSwiftray(["trace", "export", "--session", String(session), "-o", tracePath])
        #expect(exported == 0 && text.contains("as the processes recorded them"), "\(text)")
        var trace = try TraceFile.read(from: tracePath)
        let components = Set(trace.steps.map(\.component.description))
        #expect(components.contains("gcs#1") && components.contains("gcs#2"), "\(components.sorted())")
        #expect(components.contains { $0.hasPrefix("raylet(") } && components.contains { $0.hasPrefix("driver(") })
        #expect(components.contains { $0.hasPrefix("worker-") })
        guard case .identical(let steps) = TraceReplayer.replay(trace) else {
            Issue.record("replay diverged: \(TraceReplayer.replay(trace))")
            return
        }
        #expect(steps == trace.steps.count && steps > 100)
        // The comparison is real: a changed effect is caught at its step.
        let victim = trace.steps.firstIndex { $0.effects.count > 2 }!
        trace.steps[victim].effects[trace.steps[victim].effects.count - 1] ^= 0x01
        guard case .diverged(let index, _, _, _, _, _) = TraceReplayer.replay(trace) else {
            Issue.record("a tampered trace replayed as identical")
            return
        }
        #expect(index == victim)
    }

    @Test func whatTheRealRunnerCannotDoIsRefusedWithTheReason() throws {
        let (code, output) = try runSwiftray(["up", "Scenarios/partition-heals.yaml", "--quiet"])
        #expect(code == 2)
        #expect(output.contains("network namespaces") && output.contains("raysim run"), "\(output)")
        let (missing, text) = try runSwiftray(["up", "Scenarios/no-such-file.yaml"])
        #expect(missing == 2 && text.contains("no-such-file.yaml"), "\(text)")
    }
}
}

/// Why `--netns` cannot run here (nil when it can): not root, no `ip`, or a container without the capability.
let netnsUnavailable: String? = NetworkNamespaces.unavailableReason()

extension RuntimeTests {
@Suite struct NetnsTests {
    @Test(.enabled(if: netnsUnavailable == nil, "network namespaces are not available here"))
    func aPartitionInNetworkNamespacesHoldsTrafficUntilItHeals() throws {
        let (code, output) = try runSwiftray(["up", "Scenarios/partition-heals.yaml", "--netns", "--quiet"])
        #expect(code == 0, "\(output)")
        #expect(output.contains("network namespaces") && output.contains("partition healed"), "\(output)")
    }
}
}

extension RuntimeTests {
@Suite struct CLITests {
    /// A head whose raylet refuses its settings is no cluster: `swiftray start` fails naming the
    /// setting, and the GCS it had started goes too (it held the port: a second start failed).
    @Test func aHeadWhoseRayletCannotStartLeavesNoGCSBehind() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("swiftray-cli-bad-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["SWIFTRAY_TMPDIR": root]
        defer { _ = try? runSwiftray(["stop"], environment: env) }
        // A free port: bound by a socket of this process, then released.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1 }
        }
        close(fd)
        let port = Int(UInt16(bigEndian: address.sin_port))
        #expect(port > 0)
        let (failed, text) = try runSwiftray(["start", "--head", "--port", "\(port)", "--resources", "CPU=1"],
                                             environment: env.merging(["SWIFTRAY_JOB_MEMORY_BYTES": "lots"]) { $1 })
        #expect(failed != 0 && text.contains("SWIFTRAY_JOB_MEMORY_BYTES=lots is not a positive whole number"), "\(text)")
        let (started, again) = try runSwiftray(["start", "--head", "--port", "\(port)", "--resources", "CPU=1"], environment: env)
        #expect(started == 0, "\(again)")
    }

    @Test func startJoinStatusListAndStop() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("swiftray-cli-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["SWIFTRAY_TMPDIR": root]
        defer { _ = try? runSwiftray(["stop"], environment: env) }
        let (started, text) = try runSwiftray(["start", "--head", "--port", "0", "--resources", "CPU=1"], environment: env)
        #expect(started == 0, "\(text)")
        guard let address = text.split(separator: " ").first(where: { $0.hasPrefix("127.0.0.1:") })
            .map({ String($0).trimmingCharacters(in: CharacterSet(charactersIn: ",.")) }) else {
            Issue.record("no GCS address in: \(text)")
            return
        }
        let (joined, joinText) = try runSwiftray(["start", "--address", address, "--name", "second",
                                                  "--resources", "CPU=1,disk=2"], environment: env)
        #expect(joined == 0, "\(joinText)")
        // This process does not see the CLI's node records (another SWIFTRAY_TMPDIR): the head's
        // session, which the start printed, holds the secret.
        let session = try #require(text.split(separator: "\n").first { $0.contains("Session: ") }?
            .components(separatedBy: "Session: ").last)
        let secret = try ClusterSecret.forSession(session)
        let status = try waitForStatus(address, secret: secret) { $0.components(separatedBy: "alive (connected)").count == 3 }
        #expect(status.contains("head alive") && status.contains("second alive") && status.contains("disk: 2"), "\(status)")
        let (_, cliStatus) = try runSwiftray(["status"], environment: env)
        #expect(cliStatus.contains("raylets on this machine") && cliStatus.contains("second"), "\(cliStatus)")
        let (_, nodes) = try runSwiftray(["list", "nodes"], environment: env)
        #expect(nodes.contains("head") && nodes.contains("second"))
        let (_, tasks) = try runSwiftray(["list", "tasks"], environment: env)
        #expect(tasks.contains("(head): no driver connected") && tasks.contains("(second): no driver connected"), "\(tasks)")
        let (_, objects) = try runSwiftray(["list", "objects"], environment: env)
        #expect(objects.contains("node-1 (127.0.0.1:") && objects.contains("node-2 (127.0.0.1:"), "\(objects)")
        let (_, actors) = try runSwiftray(["list", "actors"], environment: env)
        #expect(actors.contains("(no actors)"), "\(actors)")
        // The GCS's log, read as an audit: who did what, when.
        let (audited, audit) = try runSwiftray(["audit"], environment: env)
        #expect(audited == 0 && audit.contains("gcs  started") && audit.contains("registered node head offering")
                && audit.contains("registered node second offering {CPU: 1, disk: 2}"), "\(audit)")
        if geteuid() == 0, let nobody = getpwnam("nobody")?.pointee {
            // Another user may neither stop root's nodes nor read its audit: told so, nothing touched.
            chmod(root, 0o755)
            let asNobody = ["--reuid=\(nobody.pw_uid)", "--regid=\(nobody.pw_gid)", "--clear-groups", swiftrayPath]
            let (refused, refusal) = try runSwiftray(asNobody + ["stop"], environment: env, through: "/usr/bin/setpriv")
            #expect(refused == 2 && refusal.contains("this user may not stop them")
                    && refusal.contains("run `swiftray stop` as root"), "\(refusal)")
            let (unread, unreadText) = try runSwiftray(asNobody + ["audit", "--session", session], environment: env,
                                                       through: "/usr/bin/setpriv")
            #expect(unread == 2 && unreadText.contains("the audit is the administrator's to read"), "\(unreadText)")
        }
        let (badList, badText) = try runSwiftray(["list", "groups"], environment: env)
        #expect(badList != 0 && badText.contains("choose nodes, actors, placement-groups, objects or tasks"), "\(badText)")
        let (stopped, stopText) = try runSwiftray(["stop"], environment: env)
        #expect(stopped == 0 && stopText.contains("Stopped 2 node(s)"), "\(stopText)")
        let (after, afterText) = try runSwiftray(["status"], environment: env)
        #expect(after != 0 && afterText.contains("swiftray start --head"), "\(afterText)")
    }
}
}
