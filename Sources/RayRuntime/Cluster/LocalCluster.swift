// A multi-node cluster on this machine, every node its own raylet process on
// loopback: what the loopback tests and `swiftray up` run. Faults are real:
// SIGKILL of a raylet (its workers exit with it) or of the GCS, and a GCS
// restart on the same port that replays its LMDB log.

import Foundation
import Glibc
public import RayCore

/// A GCS and raylets started from `executable`, children of this process.
public final class LocalCluster: @unchecked Sendable {
    /// A raylet process of the cluster.
    public struct Node: Sendable {
        public var name: String
        public var id: NodeID
        public var pid: Int32
        public var socketPath: String
        public var alive: Bool
    }

    public let executable: String
    public let session: Session
    public private(set) var gcs: LaunchedProcess?
    public private(set) var gcsPort = 0
    public private(set) var nodes: [Node] = []
    let extraEnvironment: [String]
    let logInputs: Bool

    /// - Parameters:
    ///   - executable: the binary every process runs in its role (a program that calls `Ray.start`/`Ray.connect`, or `swiftray`).
    ///   - environment: extra "K=V" settings for every process (e.g. SWIFTRAY_HEALTH_CHECK_PERIOD_MS=500).
    public init(executable: String, environment: [String] = [], logInputs: Bool = true) throws(RuntimeError) {
        self.executable = executable
        self.extraEnvironment = environment
        self.logInputs = logInputs
        session = try Session.create()
        signal(SIGPIPE, SIG_IGN)
    }

    var logging: [String] { logInputs ? ["SWIFTRAY_LOG_DIR=\(session.logs)"] : ["SWIFTRAY_NO_LOG=1"] }

    /// The GCS address, HOST:PORT.
    public var gcsAddress: String { "127.0.0.1:\(gcsPort)" }

    /// Starts the GCS (again, after a kill: on the same port, replaying its log).
    public func startGCS() throws(RuntimeError) {
        let launched = try Launcher.spawn(
            executable: executable, role: "gcs",
            environment: ["SWIFTRAY_SESSION=\(session.path)", "SWIFTRAY_GCS_PORT=\(gcsPort)"] + logging + extraEnvironment,
            logPath: session.logs + "/gcs.err", exitWithParent: true, detach: false)
        gcs = launched
        gcsPort = launched.port
    }

    /// Starts a raylet named `name` offering `resources`.
    @discardableResult
    public func addNode(name: String, resources: ResourceSet, objectStoreBytes: Int64 = 1 << 30) throws(RuntimeError) -> Node {
        guard gcs != nil else { throw RuntimeError("start the GCS before adding nodes") }
        let socket = session.sockets + "/raylet-\(name).sock"
        let launched = try Launcher.spawn(
            executable: executable, role: "raylet",
            environment: [
                "SWIFTRAY_SESSION=\(session.path)", "SWIFTRAY_GCS_ADDRESS=\(gcsAddress)",
                "SWIFTRAY_NODE_NAME=\(name)", "SWIFTRAY_RESOURCES=\(resourceText(resources))",
                "SWIFTRAY_OBJECT_STORE_BYTES=\(objectStoreBytes)", "SWIFTRAY_RAYLET_SOCKET=\(socket)",
                "SWIFTRAY_WORKER_EXECUTABLE=\(executable)",
            ] + logging + extraEnvironment,
            logPath: session.logs + "/raylet-\(name).err", exitWithParent: true, detach: false)
        let node = Node(name: name, id: NodeID(launched.node), pid: launched.pid, socketPath: socket, alive: true)
        nodes.append(node)
        return node
    }

    public func node(named name: String) -> Node? { nodes.last { $0.name == name } }

    /// SIGKILLs the raylet of `name` (its workers exit when their socket closes).
    public func killNode(named name: String) {
        guard let index = nodes.lastIndex(where: { $0.name == name && $0.alive }) else { return }
        reap(nodes[index].pid)
        nodes[index].alive = false
    }

    /// SIGKILLs the GCS.
    public func killGCS() {
        guard let gcs else { return }
        reap(gcs.pid)
        self.gcs = nil
    }

    /// Stops every process.
    public func stop() {
        for index in nodes.indices where nodes[index].alive {
            reap(nodes[index].pid)
            nodes[index].alive = false
        }
        killGCS()
        SharedObjects.removeAll(session: session.path)
    }

    private func reap(_ pid: Int32) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    deinit { stop() }
}
