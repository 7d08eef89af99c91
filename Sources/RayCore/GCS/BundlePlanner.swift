// Where a placement group's bundles go: a pure function of the bundles, the
// strategy, the alive nodes and the nodes the group's surviving bundles hold
// (when bundles are placed again after a node died). First against the nodes'
// totals — if even empty nodes cannot hold them the group is infeasible, and
// the reason names the constraint — then against what is free now: placed, or
// waiting (for which resources).

public enum BundlePlanner {
    /// An alive node as the GCS sees it.
    public struct Node: Sendable {
        public var id: NodeID
        public var total: ResourceSet
        public var available: ResourceSet
        public init(id: NodeID, total: ResourceSet, available: ResourceSet) {
            self.id = id
            self.total = total
            self.available = available
        }
    }

    public enum Outcome: Equatable, Sendable {
        /// BundleSpec index → node.
        case placed([Int: NodeID])
        /// No set of alive nodes can ever hold them (as they are): why.
        case infeasible(String)
        /// They fit the nodes' totals, not what is free now: for what they wait.
        case waiting(String)
    }

    /// Places `bundles` (the group's bundles not reserved yet) with `strategy`; `kept` holds the
    /// nodes of its bundles reserved already (each once per bundle).
    public static func place(_ bundles: [BundleSpec], strategy: PlacementStrategy, nodes: [Node],
                             kept: [NodeID] = []) -> Outcome {
        guard !bundles.isEmpty else { return .placed([:]) }
        let alive = nodes.sorted { $0.id < $1.id }
        if case .failure(let reason) = assign(bundles, strategy, alive.map { ($0.id, $0.total) }, kept) {
            return .infeasible(reason)
        }
        switch assign(bundles, strategy, alive.map { ($0.id, $0.available) }, kept) {
        case .success(let placement): return .placed(placement)
        case .failure(let reason): return .waiting(reason)
        }
    }

    private enum Result {
        case success([Int: NodeID])
        case failure(String)
    }

    /// One assignment against `capacity` (per node, in ID order).
    private static func assign(_ bundles: [BundleSpec], _ strategy: PlacementStrategy, _ nodes: [(NodeID, ResourceSet)],
                               _ kept: [NodeID]) -> Result {
        var capacity = nodes.map(\.1)
        let index = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($0.element.0, $0.offset) })
        // Bundles in placement order: the largest first (ties by index), so small ones fill gaps.
        let ordered = bundles.sorted { ($1.resources["CPU"], $0.index) < ($0.resources["CPU"], $1.index) }
        var placement: [Int: NodeID] = [:]
        /// The node with the most free CPU among those `allowed` that fit `needs` (ties: lowest ID).
        func roomiest(_ needs: ResourceSet, _ allowed: (Int) -> Bool) -> Int? {
            var best: Int?
            for position in capacity.indices where allowed(position) && needs.fits(in: capacity[position]) {
                if best == nil || capacity[position]["CPU"] > capacity[best!]["CPU"] { best = position }
            }
            return best
        }
        switch strategy {
        case .strictPack:
            let sum = bundles.reduce(ResourceSet()) { $0 + $1.resources }
            let target: Int?
            if let first = kept.first {
                target = index[first].flatMap { sum.fits(in: capacity[$0]) ? $0 : nil }
            } else {
                target = roomiest(sum) { _ in true }
            }
            guard let target else {
                return .failure(kept.isEmpty
                    ? "STRICT_PACK needs one node with \(sum) for all its bundles; no alive node has that much"
                    : "STRICT_PACK needs \(sum) more on \(kept[0]), where its other bundles are")
            }
            for bundle in bundles { placement[bundle.index] = nodes[target].0 }
        case .strictSpread:
            let taken = Set(kept.compactMap { index[$0] })
            let candidates = capacity.indices.filter { !taken.contains($0) }
            guard let matched = matchDistinct(ordered, candidates, capacity) else {
                let fitting = candidates.filter { position in ordered.contains { $0.resources.fits(in: capacity[position]) } }
                return .failure("STRICT_SPREAD needs \(bundles.count) distinct node(s)"
                    + (kept.isEmpty ? "" : " besides the \(kept.count) its other bundles hold")
                    + ", each holding its bundle; \(fitting.count) alive node(s) can hold one")
            }
            for (bundle, position) in matched { placement[bundle] = nodes[position].0 }
        case .pack:
            // All on one node if one holds them (a node holding other bundles of the group first).
            let sum = bundles.reduce(ResourceSet()) { $0 + $1.resources }
            let keptPositions = kept.compactMap { index[$0] }
            if let home = keptPositions.first(where: { sum.fits(in: capacity[$0]) }) ?? roomiest(sum, { _ in true }) {
                for bundle in bundles { placement[bundle.index] = nodes[home].0 }
                break
            }
            // Else as few nodes as it can: a node used already if it fits, else the roomiest.
            var used = Set(keptPositions)
            for bundle in ordered {
                guard let position = roomiest(bundle.resources, { used.contains($0) })
                        ?? roomiest(bundle.resources, { _ in true }) else {
                    return .failure(noRoom(bundle, placedBefore: !placement.isEmpty || !kept.isEmpty))
                }
                capacity[position] = capacity[position] - bundle.resources
                used.insert(position)
                placement[bundle.index] = nodes[position].0
            }
        case .spread:
            // Each on the node holding the fewest of the group's bundles (then the roomiest).
            var count = [Int](repeating: 0, count: capacity.count)
            for node in kept { if let position = index[node] { count[position] += 1 } }
            for bundle in ordered {
                var best: Int?
                for position in capacity.indices where bundle.resources.fits(in: capacity[position]) {
                    guard let current = best else { best = position; continue }
                    if (count[position], -capacity[position]["CPU"]) < (count[current], -capacity[current]["CPU"]) {
                        best = position
                    }
                }
                guard let position = best else {
                    return .failure(noRoom(bundle, placedBefore: !placement.isEmpty || !kept.isEmpty))
                }
                capacity[position] = capacity[position] - bundle.resources
                count[position] += 1
                placement[bundle.index] = nodes[position].0
            }
        }
        return .success(placement)
    }

    /// Why `bundle` found no node.
    private static func noRoom(_ bundle: BundleSpec, placedBefore: Bool) -> String {
        "bundle \(bundle.index) (\(bundle.resources)) fits on no alive node"
            + (placedBefore ? " beside the group's bundles placed before it" : "")
    }

    /// Bundles onto distinct nodes (a bipartite matching: greedy, then augmenting paths for what
    /// the greedy pass left); nil when no matching places them all.
    private static func matchDistinct(_ bundles: [BundleSpec], _ candidates: [Int], _ capacity: [ResourceSet]) -> [Int: Int]? {
        guard bundles.count <= candidates.count else { return nil }
        var nodeOf: [Int: Int] = [:]  // bundle index → node position
        var bundleAt: [Int: Int] = [:]  // node position → bundle index
        let byIndex = Dictionary(uniqueKeysWithValues: bundles.map { ($0.index, $0) })
        func fits(_ bundle: Int, _ position: Int) -> Bool { byIndex[bundle]!.resources.fits(in: capacity[position]) }
        for bundle in bundles {
            var best: Int?
            for position in candidates where bundleAt[position] == nil && fits(bundle.index, position) {
                if best == nil || capacity[position]["CPU"] > capacity[best!]["CPU"] { best = position }
            }
            if let best {
                nodeOf[bundle.index] = best
                bundleAt[best] = bundle.index
            }
        }
        func augment(_ bundle: Int, _ visited: inout Set<Int>) -> Bool {
            for position in candidates where fits(bundle, position) && visited.insert(position).inserted {
                if let holder = bundleAt[position] {
                    guard augment(holder, &visited) else { continue }
                }
                nodeOf[bundle] = position
                bundleAt[position] = bundle
                return true
            }
            return false
        }
        for bundle in bundles where nodeOf[bundle.index] == nil {
            var visited = Set<Int>()
            guard augment(bundle.index, &visited) else { return nil }
        }
        return nodeOf
    }
}
