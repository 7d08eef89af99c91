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
    /// The cluster's secret (every process authenticates with it; also in the session's file).
    public let secret: ClusterSecret
    public private(set) var gcs: LaunchedProcess?
    public private(set) var gcsPort = 0
    public private(set) var nodes: [Node] = []
    let extraEnvironment: [String]
    let logInputs: Bool
    /// Nodes in network namespaces (nil: every node on loopback).
    public let network: NetworkNamespaces?
    /// TLS on every TCP link (the GCS's, the raylets' object transfers), or nil: plain.
    public let tls: TLSContext?
    private var gcsHost = "127.0.0.1"
    private var headNamespace: NetworkNamespaces.Node?

    /// - Parameters:
    ///   - executable: the binary every process runs in its role (a program that calls `Ray.start`/`Ray.connect`, or `swiftray`).
    ///   - environment: extra "K=V" settings for every process (e.g. SWIFTRAY_HEALTH_CHECK_PERIOD_MS=500).
    ///   - tlsDirectory: TLS material (`swiftray cert`) every process uses on its TCP links.
    public init(executable: String, environment: [String] = [], logInputs: Bool = true,
                network: NetworkNamespaces? = nil, tlsDirectory: String? = nil) throws(RuntimeError) {
        self.executable = executable
        self.logInputs = logInputs
        self.network = network
        let secret = ClusterSecret.generate()
        self.secret = secret
        session = try Session.create(secret: secret)
        if let tlsDirectory {
            tls = try TLSContext(directory: tlsDirectory)
            try session.recordTLS(directory: tlsDirectory)
            extraEnvironment = environment + ["\(TLSContext.environmentVariable)=\(tlsDirectory)"]
        } else {
            tls = nil
            extraEnvironment = environment
        }
        signal(SIGPIPE, SIG_IGN)
    }

    var logging: [String] {
        (logInputs ? ["SWIFTRAY_LOG_DIR=\(session.logs)"] : ["SWIFTRAY_NO_LOG=1"])
    }

    /// The GCS address, HOST:PORT.
    public var gcsAddress: String { "\(gcsHost):\(gcsPort)" }

    /// Starts the GCS (again, after a kill: on the same port, replaying its log).
    /// With network namespaces the GCS runs in the head node's namespace (the first node added).
    public func startGCS() throws(RuntimeError) {
        var wrapper: [String] = []
        if let network {
            if headNamespace == nil { headNamespace = try network.addNode("head") }
            gcsHost = headNamespace!.address
            wrapper = network.wrapper(for: headNamespace!)
        }
        let launched = try Launcher.spawn(
            executable: executable, role: "gcs",
            environment: ["SWIFTRAY_SESSION=\(session.path)", "SWIFTRAY_GCS_PORT=\(gcsPort)",
                          "SWIFTRAY_GCS_HOST=\(gcsHost)"] + logging + session.secretEnvironment(for: .admin) + extraEnvironment,
            logPath: session.logs + "/gcs.err", exitWithParent: true, detach: false, wrapper: wrapper)
        gcs = launched
        gcsPort = launched.port
        if let tls { TLSContext.remember(tls, forGCS: gcsAddress) }
    }

    /// Starts a raylet named `name` offering `resources`.
    @discardableResult
    public func addNode(name: String, resources: ResourceSet, objectStoreBytes: Int64 = 1 << 30) throws(RuntimeError) -> Node {
        guard gcs != nil else { throw RuntimeError("start the GCS before adding nodes") }
        let socket = session.sockets + "/raylet-\(name).sock"
        var wrapper: [String] = []
        var listenHost = "127.0.0.1"
        if let network {
            // The first node shares the GCS's (head) namespace; every other node gets its own.
            let place: NetworkNamespaces.Node
            if nodes.isEmpty, let head = headNamespace {
                place = head
                network.rename(address: head.address, to: name)
            } else {
                place = try network.addNode(name)
            }
            wrapper = network.wrapper(for: place)
            listenHost = place.address
        }
        let launched = try Launcher.spawn(
            executable: executable, role: "raylet",
            environment: [
                "SWIFTRAY_SESSION=\(session.path)", "SWIFTRAY_GCS_ADDRESS=\(gcsAddress)",
                "SWIFTRAY_NODE_NAME=\(name)", "SWIFTRAY_RESOURCES=\(resourceText(resources))",
                "SWIFTRAY_OBJECT_STORE_BYTES=\(objectStoreBytes)", "SWIFTRAY_RAYLET_SOCKET=\(socket)",
                "SWIFTRAY_WORKER_EXECUTABLE=\(executable)", "SWIFTRAY_LISTEN_HOST=\(listenHost)",
            ] + logging + session.secretEnvironment(for: .node) + extraEnvironment,
            logPath: session.logs + "/raylet-\(name).err", exitWithParent: true, detach: false, wrapper: wrapper)
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
            let memberships = JobCPUShares.memberships(ofProcess: nodes[index].pid)
            reap(nodes[index].pid)
            nodes[index].alive = false
            // The per-job groups it made (its workers die with it: best effort).
            if let memberships { JobCPUShares.removeGroups(ofRaylet: nodes[index].pid, memberships: memberships) }
        }
        killGCS()
        SharedObjects.removeAll(session: session.path)
        network?.teardown()
    }

    private func reap(_ pid: Int32) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    deinit { stop() }
}
