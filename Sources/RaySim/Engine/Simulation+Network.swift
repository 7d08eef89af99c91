// The simulated network: per-link FIFO delivery (as TCP gives), latency with
// jitter, a bandwidth term for large payloads, local (same-node) messages on
// a fast path, and partitions that hold traffic on a cut link until the
// partition heals (a connection survives a short cut; what it carried is
// delivered late, in order). Messages to a dead process are dropped.

import RayCore

extension Simulation {
    /// The node an address lives on (the GCS and the driver live on the head).
    @inline(__always)
    func nodeOf(_ address: Address) -> NodeID {
        switch address {
        case .gcs: return headNode
        case .raylet(let node): return node
        case .worker(let worker): return worker.node
        }
    }

    func latency(from: NodeID, to: NodeID) -> Int64 {
        if from == to { return options.localLatencyMicros }
        let network = scenario.cluster.network
        let jitter = network.jitterMicros > 0 ? Int64(random.below(UInt64(network.jitterMicros) + 1)) : 0
        return network.latencyMicros + jitter
    }

    func send(_ message: Message, from: Address, to: Address) {
        let fromNode = nodeOf(from), toNode = nodeOf(to)
        var delay = latency(from: fromNode, to: toNode)
        if fromNode != toNode {
            let bytes = message.payloadBytes
            if bytes > 4096 { delay += bytes * 1_000_000 / max(1, options.networkBytesPerSecond) }
        }
        var time = now + delay
        if let healed = cutUntil(fromNode, toNode) { time = max(time, healed + delay) }
        let link = Link(from: from, to: to)
        if let last = linkClock[link], last > time { time = last }
        linkClock[link] = time
        queue.push(.deliver(from: from, to: to, message), at: time)
    }

    /// True while a partition separates the two nodes.
    func isCut(_ a: NodeID, _ b: NodeID) -> Bool { cutUntil(a, b) != nil }

    /// When the latest partition separating the two nodes heals, if one does now.
    func cutUntil(_ a: NodeID, _ b: NodeID) -> Int64? {
        guard !partitions.isEmpty, a != b, let nameA = nodes[a]?.spec.name, let nameB = nodes[b]?.spec.name else {
            return nil
        }
        var until: Int64?
        for partition in partitions where partition.until > now {
            if let groupA = partition.groupOfNode[nameA], let groupB = partition.groupOfNode[nameB], groupA != groupB {
                until = max(until ?? 0, partition.until)
            }
        }
        return until
    }
}
