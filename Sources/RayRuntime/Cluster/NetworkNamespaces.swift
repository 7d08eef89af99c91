// Nodes in their own network namespaces (`swiftray up --netns`, root only):
// each node's raylet (with its workers) and the head's GCS run in a namespace
// with one veth link to a bridge in the host namespace, so nodes talk over
// real separate interfaces. A partition really cuts links: blackhole routes
// in each namespace drop the other side's packets without a reset, so TCP
// holds the data and delivers it when the partition heals — as the simulator's
// partitions hold traffic. Unix sockets and shared memory are not network
// resources: a driver on the head still reaches its raylet.

import Foundation
import Glibc

/// The namespaces, links and addresses of one cluster.
public final class NetworkNamespaces: @unchecked Sendable {
    public struct Node: Sendable {
        public var name: String
        public var namespace: String
        public var address: String
    }

    let tag: String
    let subnet: String
    let bridge: String
    public private(set) var nodes: [Node] = []
    private var cuts: Set<[String]> = []

    /// Why network namespaces cannot be used here, or nil if they can.
    public static func unavailableReason() -> String? {
        if geteuid() != 0 { return "network namespaces need root (run as root, or without --netns on loopback)" }
        if !FileManager.default.isExecutableFile(atPath: ipTool) {
            return "network namespaces need the `ip` tool (apt-get install iproute2)"
        }
        // Root in a container may still lack the capability: try one.
        let probe = "swiftray-probe-\(getpid())"
        do {
            try runIP(["netns", "add", probe])
            try runIP(["netns", "del", probe])
        } catch {
            return "cannot create a network namespace here (\(error.description)); a container needs CAP_SYS_ADMIN and CAP_NET_ADMIN"
        }
        return nil
    }

    static var ipTool: String { ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip" }

    /// Creates the bridge for a new cluster (addresses 10.213.N.0/24, N from the process ID).
    public init() throws(RuntimeError) {
        if let reason = Self.unavailableReason() { throw RuntimeError(reason) }
        let id = Int(getpid()) % 200 + 20
        tag = String(format: "%05d", Int(getpid()) % 100_000)
        subnet = "10.213.\(id)"
        bridge = "srb\(tag)"
        try run(["link", "add", bridge, "type", "bridge"])
        try run(["link", "set", bridge, "up"])
        try run(["addr", "add", "\(subnet).254/24", "dev", bridge])
    }

    /// A namespace for node `name`, linked to the bridge; returns its address.
    public func addNode(_ name: String) throws(RuntimeError) -> Node {
        let index = nodes.count + 1
        guard index < 250 else { throw RuntimeError("at most 249 nodes in network namespaces") }
        let namespace = "swiftray-\(tag)-\(index)"
        let outer = "srv\(tag)\(String(format: "%02d", index % 100))", inner = "srp\(tag)\(String(format: "%02d", index % 100))"
        let address = "\(subnet).\(index)"
        try run(["netns", "add", namespace])
        try run(["link", "add", outer, "type", "veth", "peer", "name", inner])
        try run(["link", "set", inner, "netns", namespace])
        try run(["link", "set", outer, "master", bridge])
        try run(["link", "set", outer, "up"])
        try run(["netns", "exec", namespace, Self.ipTool, "addr", "add", "\(address)/24", "dev", inner])
        try run(["netns", "exec", namespace, Self.ipTool, "link", "set", inner, "up"])
        try run(["netns", "exec", namespace, Self.ipTool, "link", "set", "lo", "up"])
        let node = Node(name: name, namespace: namespace, address: address)
        nodes.append(node)
        return node
    }

    /// The command prefix that runs a program in `node`'s namespace.
    public func wrapper(for node: Node) -> [String] {
        [Self.ipTool, "netns", "exec", node.namespace]
    }

    /// Cuts every link between a node of one group and a node of another (both directions).
    public func partition(_ groups: [[String]]) throws(RuntimeError) {
        for (index, group) in groups.enumerated() {
            for other in groups.indices where other != index {
                for a in group {
                    for b in groups[other] {
                        guard let from = latest(a), let to = latest(b) else { continue }
                        guard cuts.insert([from.namespace, to.address]).inserted else { continue }
                        try run(["netns", "exec", from.namespace, Self.ipTool, "route", "add", "blackhole", "\(to.address)/32"])
                    }
                }
            }
        }
    }

    /// Heals every cut.
    public func heal() {
        for cut in cuts {
            try? run(["netns", "exec", cut[0], Self.ipTool, "route", "del", "blackhole", "\(cut[1])/32"])
        }
        cuts = []
    }

    private func latest(_ name: String) -> Node? { nodes.last { $0.name == name } }

    /// Names the node at `address` (the head's namespace is made before its node is named).
    public func rename(address: String, to name: String) {
        if let index = nodes.firstIndex(where: { $0.address == address }) { nodes[index].name = name }
    }

    /// Removes the namespaces and the bridge.
    public func teardown() {
        for node in nodes { try? run(["netns", "del", node.namespace]) }
        try? run(["link", "del", bridge])
        nodes = []
    }

    deinit { teardown() }

    private func run(_ arguments: [String]) throws(RuntimeError) {
        try Self.runIP(arguments)
    }

    static func runIP(_ arguments: [String]) throws(RuntimeError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.ipTool)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw RuntimeError("cannot run ip \(arguments.joined(separator: " ")): \(error.localizedDescription)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw RuntimeError("ip \(arguments.joined(separator: " ")) failed: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
