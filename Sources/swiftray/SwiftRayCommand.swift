// The `swiftray` command line: start/stop nodes, cluster status, listings.

import ArgumentParser
import Foundation
import Glibc
import RayCore
import RayRuntime
import RaySim

struct SwiftRayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftray",
        abstract: "Start, stop and inspect SwiftRay clusters.",
        subcommands: [Start.self, Stop.self, Status.self, List.self, Up.self, Trace.self, Audit.self, Cert.self])
}

/// Runs `body`; a runtime error fails the command with its message.
func reporting(_ body: () throws(RuntimeError) -> Void) throws {
    do {
        try body()
    } catch {
        throw fail(error.description)
    }
}

/// Fails the command with a message on stderr and exit code 2.
func fail(_ message: String) -> ExitCode {
    writeStandardError("swiftray: \(message)\n")
    return ExitCode(2)
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a head node (GCS + raylet) or join a cluster with a raylet.")

    @Flag(help: "Start the head node: the GCS and a raylet.")
    var head = false
    @Option(help: "Join the cluster whose GCS listens at HOST:PORT.")
    var address: String?
    @Option(help: "The GCS port (head only).")
    var port = 6380
    @Option(help: "Resources this node offers, e.g. CPU=4,GPU=1,disk=2 (default: CPU=<cores>).")
    var resources: String?
    @Option(help: "The node's name (default: head, or node-<pid>).")
    var name: String?
    @Option(help: "Object store capacity in bytes (default: 30% of RAM).")
    var objectStoreBytes: Int64?
    @Option(help: "The address other nodes reach this node's raylet on.")
    var nodeIP = "127.0.0.1"
    @Flag(help: "Do not log inputs (only to measure the cost of logging).")
    var noLog = false
    @Option(help: ArgumentHelp("TLS material for this node's TCP links: a directory with ca.pem, node.pem, node.key "
        + "(`swiftray cert` makes them). Default: none on loopback; beyond loopback the head makes a CA and a "
        + "certificate in its session, and a joining node needs a copy.", valueName: "dir"))
    var tls: String?
    @Flag(name: .customLong("no-tls"), help: "No TLS even when this node listens beyond loopback (anyone on the network then reads the traffic).")
    var noTLS = false
    @Option(help: ArgumentHelp("Run this node's workers (the jobs' code) as this unprivileged user, so that they "
        + "cannot read the session's credentials; the node must be started as root (SWIFTRAY_WORKER_USER).",
        valueName: "user"))
    var workerUser: String?
    @Option(name: .customLong("worker-uids"), help: ArgumentHelp("With --worker-user: give each job's workers a user ID of its own from FIRST-LAST "
        + "(IDs no account has; the group the worker user's), so jobs cannot read each other's workers "
        + "(SWIFTRAY_WORKER_UIDS).", valueName: "first-last"))
    var workerUIDs: String?

    func validate() throws {
        if tls != nil && noTLS { throw ValidationError("give --tls DIR or --no-tls, not both") }
        guard head != (address != nil) else {
            throw ValidationError("give either --head (start a cluster) or --address HOST:PORT (join one)")
        }
        if let resources { _ = try parseResources(resources) }
        if let objectStoreBytes, objectStoreBytes <= 0 { throw ValidationError("--object-store-bytes must be positive") }
        if workerUIDs != nil && workerUser == nil { throw ValidationError("--worker-uids needs --worker-user (whose group the jobs share)") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        try reporting(launch)
    }

    private func launch() throws(RuntimeError) {
            let session = try Session.create(secret: head ? .generate() : try ClusterSecret.forJoining(address ?? ""))
            let executable = currentExecutable()
            let logging = (noLog ? ["SWIFTRAY_NO_LOG=1"] : ["SWIFTRAY_LOG_DIR=\(session.logs)"])
                + (try tlsDirectory(session).map { ["\(TLSContext.environmentVariable)=\($0)"] } ?? [])
            var gcsAddress = address ?? ""
            var gcsPID: Int32?
            if head {
                let gcs = try Launcher.spawn(
                    executable: executable, role: "gcs",
                    environment: ["SWIFTRAY_SESSION=\(session.path)", "SWIFTRAY_GCS_PORT=\(port)",
                                  "SWIFTRAY_GCS_HOST=\(nodeIP == "127.0.0.1" ? "127.0.0.1" : "0.0.0.0")"] + logging
                                  + session.secretEnvironment(for: .admin),
                    logPath: session.logs + "/gcs.err", exitWithParent: false, detach: true)
                gcsAddress = "\(nodeIP):\(gcs.port)"
                gcsPID = gcs.pid
            } else {
                _ = try parseAddress(gcsAddress)
            }
            let nodeName = name ?? (head ? "head" : "node-\(getpid())")
            let socket = session.sockets + "/raylet-\(nodeName).sock"
            let raylet: LaunchedProcess
            do {
                raylet = try Launcher.spawn(
                    executable: executable, role: "raylet",
                    environment: [
                        "SWIFTRAY_SESSION=\(session.path)", "SWIFTRAY_GCS_ADDRESS=\(gcsAddress)",
                        "SWIFTRAY_NODE_NAME=\(nodeName)", "SWIFTRAY_RESOURCES=\(resources ?? "CPU=\(cpuCount())")",
                        "SWIFTRAY_OBJECT_STORE_BYTES=\(objectStoreBytes ?? defaultObjectStoreBytes())",
                        "SWIFTRAY_RAYLET_SOCKET=\(socket)", "SWIFTRAY_LISTEN_HOST=\(nodeIP)",
                    ] + logging + session.secretEnvironment(for: .node)
                        + (workerUser.map { ["\(WorkerUser.environmentVariable)=\($0)"] } ?? [])
                        + (workerUIDs.map { ["\(WorkerUser.uidsVariable)=\($0)"] } ?? []),
                    logPath: session.logs + "/raylet-\(nodeName).err", exitWithParent: false, detach: true)
            } catch {
                // A head whose raylet did not start is no cluster: its GCS goes too (it would hold the port).
                if let gcsPID { kill(gcsPID, SIGKILL) }
                throw error
            }
            let record = LocalNodeRecord(gcsAddress: gcsAddress, node: raylet.node, name: nodeName, socketPath: socket,
                                         session: session.path, rayletPID: raylet.pid, gcsPID: gcsPID)
            try record.save()
            let tlsLine = (try? String(contentsOfFile: session.tlsSettingPath, encoding: .utf8)).map {
                "TLS 1.3 on every TCP link, with \($0)" + (head && $0 == session.tlsDirectory
                    ? " (a joining machine needs a certificate of its CA, which stays here: swiftray cert --ca \($0) "
                        + "--out DIR --name NAME, then on that machine swiftray start --address \(gcsAddress) "
                        + "--tls <copy of DIR>)" : "")
            } ?? "no TLS (loopback only; `--tls DIR` turns it on)"
            let workersLine = workerUser.map { "as \($0)" + (workerUIDs.map { ", each job with a user ID of \($0)" } ?? "")
                + " (the session's credentials are not theirs to read)" }
                ?? "as \(userName(geteuid())), "
                + "like the node (`--worker-user NAME` as root runs them as another user)"
            // The group a node's sockets are shared with (its workers' user's): other users' drivers join it.
            let workerGroup = workerUser.flatMap { getpwnam($0) }.flatMap { getgrgid($0.pointee.pw_gid) }
                .map { String(cString: $0.pointee.gr_name) }
            if head {
                print("""
                    SwiftRay head node started: GCS at \(gcsAddress), raylet node-\(raylet.node) (\(nodeName)).
                      Session: \(session.path)
                      TLS:             \(tlsLine)
                      Workers run:     \(workersLine)
                      Secret:          \(session.secretPath) (mode 0600: the administrator's; keep it here)
                      Add a node:      swiftray start --address \(gcsAddress)
                                       (another machine's node needs a copy of \(session.credentialPath(.node)):
                                       SWIFTRAY_CLUSTER_SECRET_FILE=<copy> swiftray start --address \(gcsAddress))
                      Connect drivers: Ray.connect("\(gcsAddress)")
                                       (another user's driver needs a copy of \(session.credentialPath(.driver)),
                                       mode 0600, in SWIFTRAY_CLUSTER_SECRET_FILE\(workerGroup.map { ", and to be in group \($0)" } ?? ""))
                      Status:          swiftray status
                      Stop:            swiftray stop
                    """)
            } else {
                print("Raylet node-\(raylet.node) (\(nodeName)) joined the cluster at \(gcsAddress). Session: \(session.path)")
                print("  TLS: \(tlsLine)")
                print("  Workers run: \(workersLine)")
            }
    }

    /// The TLS material this node's processes use (nil: none), recorded in the session for the CLI:
    /// `--tls`; else beyond loopback a head makes its own and a joining node uses its local
    /// head's; on loopback a joining node follows a local head that has TLS.
    private func tlsDirectory(_ session: Session) throws(RuntimeError) -> String? {
        guard !noTLS else { return nil }
        var directory: String?
        if let tls {
            let path = tls.hasPrefix("/") ? tls : FileManager.default.currentDirectoryPath + "/" + tls
            _ = try TLSContext(directory: path)
            directory = path
        } else if !head, let record = try? LocalNodeRecord.find(gcsAddress: address ?? ""),
                  let local = try? String(contentsOfFile: Session(path: record.session).tlsSettingPath, encoding: .utf8) {
            directory = local
        } else if !Self.isLoopback(nodeIP) {
            guard head else {
                throw RuntimeError("this node listens on \(nodeIP), beyond loopback, so its links use TLS: copy the head "
                    + "node's <session>/tls directory here and pass --tls DIR (or make a certificate with `swiftray cert "
                    + "--ca <copy of the CA> --out DIR`); --no-tls turns TLS off")
            }
            try TLSContext.makeCertificates(caDirectory: session.tlsDirectory, outDirectory: session.tlsDirectory,
                                            name: "SwiftRay cluster", makeCA: true)
            directory = session.tlsDirectory
        }
        if let directory { try session.recordTLS(directory: directory) }
        return directory
    }

    static func isLoopback(_ ip: String) -> Bool { ip.hasPrefix("127.") || ip == "localhost" || ip == "::1" }
}

struct Cert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make TLS material for a cluster: a CA and a certificate it signs (ca.pem, node.pem, node.key).",
        discussion: """
            `swiftray cert --out DIR` makes a new cluster CA (ca.pem, ca.key) and a certificate in DIR; \
            `swiftray cert --ca CADIR --out DIR` makes another node's certificate signed by the CA in CADIR \
            (DIR gets a copy of ca.pem, never ca.key). Start each node with `swiftray start --tls DIR`. \
            Keys are written with mode 0600.
            """)

    @Option(help: ArgumentHelp("Where to write the certificate (and, without --ca, the new CA).", valueName: "dir"))
    var out: String
    @Option(help: ArgumentHelp("The directory of an existing CA (ca.pem, ca.key) to sign with.", valueName: "dir"))
    var ca: String?
    @Option(help: "The certificate's common name.")
    var name = "SwiftRay node"
    @Option(help: "Days the certificates are valid.")
    var days = 3650

    func validate() throws {
        guard days > 0 && days <= 36_500 else { throw ValidationError("--days must be between 1 and 36500, got \(days)") }
        guard !name.isEmpty && name.utf8.count <= 64 else { throw ValidationError("--name must be 1 to 64 bytes") }
    }

    func run() throws {
        try reporting { () throws(RuntimeError) in
            try TLSContext.makeCertificates(caDirectory: ca ?? out, outDirectory: out, name: name, makeCA: ca == nil)
            _ = try TLSContext(directory: out)
            print(ca == nil
                ? "Made a cluster CA and a certificate in \(out) (ca.key signs more: swiftray cert --ca \(out) --out DIR; "
                    + "keep it off the nodes). Start nodes with: swiftray start ... --tls \(out)"
                : "Made a certificate signed by the CA in \(ca!) in \(out). Start the node with: swiftray start ... --tls \(out)")
        }
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop every SwiftRay node started on this machine.")

    func run() throws {
        let found = LocalNodeRecord.all()
        guard !found.isEmpty else {
            print("No SwiftRay nodes run on this machine.")
            return
        }
        func processes(_ record: LocalNodeRecord) -> [Int32] { [record.rayletPID] + (record.gcsPID.map { [$0] } ?? []) }
        // Another user's nodes (root's, seen by a user) are theirs to stop: said, and nothing of
        // theirs touched.
        let theirs = found.filter { processes($0).contains { kill($0, 0) != 0 && errno == EPERM } }
        let records = found.filter { record in !theirs.contains { $0.file == record.file } }
        if let other = theirs.first {
            let owner = ownerName(of: other.session)
            let pid = processes(other).first { kill($0, 0) != 0 && errno == EPERM } ?? other.rayletPID
            guard !records.isEmpty else {
                throw fail("this machine's SwiftRay nodes run as \(owner), and this user may not stop them "
                    + "(no permission to signal process \(pid)): run `swiftray stop` as \(owner)")
            }
            FileHandle.standardError.write(Data(("swiftray: left \(theirs.count) node(s) of other users running "
                + "(\(Set(theirs.map { ownerName(of: $0.session) }).sorted().joined(separator: ", ")): "
                + "theirs to stop)\n").utf8))
        }
        let pids = records.flatMap(processes)
        let memberships = records.map { JobCPUShares.memberships(ofProcess: $0.rayletPID) }
        for pid in pids { kill(pid, SIGTERM) }
        // Give them a moment, then make sure.
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline && pids.contains(where: { kill($0, 0) == 0 }) { usleep(20_000) }
        for pid in pids where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        // Gone before this returns (so that a `swiftray start` right after finds the port free).
        let killed = Date().addingTimeInterval(2)
        while Date() < killed && pids.contains(where: { kill($0, 0) == 0 }) { usleep(10_000) }
        for (record, groups) in zip(records, memberships) {
            try? FileManager.default.removeItem(atPath: record.file ?? record.path)
            SharedObjects.removeAll(session: record.session)
            // The per-job cgroups its raylet made (its workers die with it: best effort).
            if let groups { JobCPUShares.removeGroups(ofRaylet: record.rayletPID, memberships: groups) }
        }
        print("Stopped \(records.count) node(s): \(records.map { "node-\($0.node) (\($0.name))" }.joined(separator: ", ")).")
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the cluster's nodes, their resources and usage, and object store use.")
    @Option(help: "The GCS at HOST:PORT (default: the cluster whose node runs here).")
    var address: String?

    func run() throws {
        try reporting(show)
    }

    private func show() throws(RuntimeError) {
            let gcsAddress: String
            if let address { gcsAddress = address } else { gcsAddress = try localCluster() }
            let tls = try TLSContext.forGCS(gcsAddress)
            let cluster = try ControlClient.ask(gcs: gcsAddress, .clusterStatus, tls: tls)
            print("cluster at \(gcsAddress)" + (tls.map { " (TLS 1.3 on its TCP links, material in \($0.directory))" } ?? ""))
            print(cluster)
            if let refusals = try? ControlClient.ask(gcs: gcsAddress, .refusals, tls: tls) { print("GCS: \(refusals)") }
            let local = LocalNodeRecord.all().filter { $0.gcsAddress == gcsAddress }
            if !local.isEmpty { print("raylets on this machine:") }
            for record in local {
                print("  " + ((try? ControlClient.ask(rayletSocket: record.socketPath, .nodeStatus)).map { "\($0)" }
                    ?? "node-\(record.node): no answer"))
            }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List nodes, actors, placement groups, objects or tasks from the state the machines hold (every node's, on any host).")
    @Argument(help: "nodes | actors | placement-groups | objects | tasks")
    var what: String
    @Option(help: "The GCS at HOST:PORT (default: the cluster whose node runs here).")
    var address: String?

    func validate() throws {
        guard ["nodes", "actors", "placement-groups", "objects", "tasks"].contains(what) else {
            throw ValidationError("unknown listing '\(what)': choose nodes, actors, placement-groups, objects or tasks")
        }
    }

    func run() throws {
        try reporting(show)
    }

    private func show() throws(RuntimeError) {
            let gcsAddress: String
            if let address { gcsAddress = address } else { gcsAddress = try localCluster() }
            switch what {
            case "nodes":
                print(try ControlClient.ask(gcs: gcsAddress, .clusterStatus))
            case "actors":
                guard case .cluster(_, _, let actors, _) = try ControlClient.ask(gcs: gcsAddress, .clusterStatus) else {
                    throw RuntimeError("the GCS at \(gcsAddress) did not answer with its actor table")
                }
                print(actors.isEmpty ? "(no actors)" : actors.map(\.line).joined(separator: "\n"))
            case "placement-groups":
                guard case .cluster(_, _, _, let groups) = try ControlClient.ask(gcs: gcsAddress, .clusterStatus) else {
                    throw RuntimeError("the GCS at \(gcsAddress) did not answer with its placement group table")
                }
                print(groups.isEmpty ? "(no placement groups)" : groups.map(\.line).joined(separator: "\n"))
            default:
                // Objects live in raylets and tasks in their owners (each raylet asks its
                // drivers): ask every raylet the GCS knows, on whatever host it runs.
                guard case .raylets(let raylets) = try ControlClient.ask(gcs: gcsAddress, .raylets) else {
                    throw RuntimeError("the GCS at \(gcsAddress) did not list its raylets")
                }
                if raylets.isEmpty { print("(no raylet is connected to the GCS at \(gcsAddress))") }
                let secret = try ClusterSecret.forGCS(gcsAddress)
                for raylet in raylets {
                    let address = "\(raylet.host):\(raylet.port)"
                    do {
                        let answer = try ControlClient.ask(raylet: address, what == "objects" ? .listObjects : .listTasks,
                                                           secret: secret)
                        print(what == "objects" ? "\(raylet.node) (\(address)):\n\(answer)" : "\(answer)")
                    } catch {
                        print("\(raylet.node) (\(address)): \(error)")
                    }
                }
            }
    }
}

func currentExecutable() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    return count > 0 ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
}

/// The GCS address of the cluster whose node runs on this machine.
func localCluster() throws(RuntimeError) -> String {
    try LocalNodeRecord.find(gcsAddress: "auto").gcsAddress
}

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario on a real local cluster: a raylet process per node, real workers and real kills.",
        discussion: """
            Exit codes as raysim: 0 every expectation held, 1 one failed, 2 the file is invalid or needs \
            what this runner cannot do yet (placement groups), 3 max_wall_time exceeded.
            """)
    @Argument(help: "The scenario file (Scenarios/NAME.yaml).")
    var file: String
    @Option(help: "The seed of the failure draws (default: the file's seed, else 1).")
    var seed: UInt64?
    @Flag(help: "Do not log inputs.")
    var noLog = false
    @Flag(help: "Only print the report.")
    var quiet = false
    @Flag(help: "Put each node in its own network namespace joined by veth links (root), so partitions cut real links.")
    var netns = false
    @Flag(help: """
        Also run the scenario in the simulator (same seed) and print both side by side; exit 1 when what a \
        user would see differs (a get's result, the faults fired, leaks).
        """)
    var compare = false

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let scenario: Scenario
        do {
            scenario = try ScenarioLoader.load(path: file)
        } catch {
            writeStandardError("swiftray up: \(error)\n")
            throw ExitCode(2)
        }
        var runner = ScenarioRunner(scenario: scenario, seed: seed ?? scenario.seed ?? 1, executable: currentExecutable(),
                                    logInputs: !noLog)
        runner.verbose = !quiet
        if netns {
            if let reason = NetworkNamespaces.unavailableReason() {
                writeStandardError("swiftray up: \(reason); running on loopback instead (partitions are refused there)\n")
            } else {
                runner.netns = true
            }
        }
        guard compare else {
            let result = runner.run()
            if result.exitCode != 0 { throw ExitCode(result.exitCode) }
            return
        }
        let simulated: RunSummary
        do {
            let simulation = try Simulation(scenario: scenario, options: SimulationOptions(seed: seed ?? scenario.seed ?? 1))
            simulated = RunSummary(simulation.run())
        } catch {
            writeStandardError("swiftray up --compare: the simulator cannot run \(file): \(error)\n")
            throw ExitCode(2)
        }
        guard case .ran(let report) = runner.run() else { throw ExitCode(2) }
        let real = RunSummary(report)
        let comparison = RunComparison(simulated: simulated, real: real)
        var lines = ["compare \(scenario.name): raysim and real processes, seed \(seed ?? scenario.seed ?? 1)"]
        lines += comparison.table
        let differences = comparison.differences
        lines.append(differences.isEmpty ? "SAME (what a user sees agrees; counts are not compared)"
            : "DIFFERENT:\n" + differences.map { "  " + $0 }.joined(separator: "\n"))
        print(lines.joined(separator: "\n"))
        if !differences.isEmpty { throw ExitCode(1) }
    }
}

