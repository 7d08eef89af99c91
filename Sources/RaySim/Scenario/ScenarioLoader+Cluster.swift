// `cluster:` — GCS options, nodes (with `count` expanded to NAME-1..NAME-N)
// and the simulated network. Enforces unique node names and exactly one head.

import RayCore

extension ScenarioLoader {
    static let clusterKeys = ["gcs", "nodes", "network", "quotas"]
    static let quotaKeys = ["actors_per_job", "actors_per_job_soft", "actor_creations_per_second", "actor_creations_delayed",
                            "max_object_bytes", "owned_objects", "owned_objects_soft",
                            "lease_requests_per_owner", "placement_groups_per_job", "placement_groups_per_job_soft",
                            "workers_per_job", "store_bytes_per_job", "store_bytes_per_job_soft",
                            "placement_group_creations_per_second", "placement_group_creations_delayed",
                            "lease_requests_per_second", "lease_requests_delayed", "lease_requests_queued",
                            "object_requests_per_second", "object_requests_delayed"]
    static let gcsKeys = ["persistent"]
    static let nodeKeys = ["name", "head", "count", "resources", "object_store"]
    static let networkKeys = ["latency", "jitter"]
    /// Most instances one `nodes:` entry may expand to.
    static let nodeCountMax = 1_000
    /// Most nodes a cluster may have after expansion.
    static let clusterNodeCountMax = 10_000

    /// Parses `cluster:`.
    static func parseCluster(_ value: ScenarioValue) throws(ScenarioError) -> ClusterSpec {
        let cluster = try value.mapping(allowedKeys: clusterKeys)
        var gcsPersistent = true
        if let gcsValue = cluster.optional("gcs") {
            let gcs = try gcsValue.mapping(allowedKeys: gcsKeys)
            if let persistent = gcs.optional("persistent") { gcsPersistent = try persistent.bool() }
        }
        let nodesValue = try cluster.required("nodes")
        var nodes: [NodeSpec] = []
        var headPath: String?
        for entry in try nodesValue.sequence() {
            let expanded = try parseNodes(entry)
            for node in expanded {
                if let existing = nodes.first(where: { $0.name == node.name }) {
                    throw entry.error("duplicate node name '\(existing.name)'")
                }
                if node.head {
                    if let headPath {
                        throw entry.error("a second head node; exactly one node has head: true (the first is at \(headPath))")
                    }
                    headPath = entry.keyPath
                }
            }
            nodes.append(contentsOf: expanded)
            guard nodes.count <= clusterNodeCountMax else {
                throw entry.error("more than \(clusterNodeCountMax) nodes in the cluster")
            }
        }
        guard !nodes.isEmpty else { throw nodesValue.error("expected at least one node") }
        guard headPath != nil else { throw nodesValue.error("no head node; exactly one node must have head: true") }
        var network = NetworkSpec.default
        if let networkValue = cluster.optional("network") {
            let networkMapping = try networkValue.mapping(allowedKeys: networkKeys)
            if let latency = networkMapping.optional("latency") { network.latencyMicros = try latency.durationMicros() }
            if let jitter = networkMapping.optional("jitter") { network.jitterMicros = try jitter.durationMicros() }
        }
        var spec = ClusterSpec(gcsPersistent: gcsPersistent, nodes: nodes, network: network)
        if let quotasValue = cluster.optional("quotas") {
            let quotas = try quotasValue.mapping(allowedKeys: quotaKeys)
            spec.quotas.actorsPerJob = try quotas.optional("actors_per_job")?.int(in: 1...1_000_000)
            spec.quotas.actorsPerJobSoft = try quotas.optional("actors_per_job_soft")?.int(in: 1...1_000_000)
            spec.quotas.actorCreationsPerSecond = try quotas.optional("actor_creations_per_second")?.int(in: 1...1_000_000)
            spec.quotas.actorCreationsDelayed = try quotas.optional("actor_creations_delayed")?.int(in: 1...1_000_000)
            spec.quotas.ownedObjects = try quotas.optional("owned_objects")?.int(in: 1...100_000_000)
            spec.quotas.ownedObjectsSoft = try quotas.optional("owned_objects_soft")?.int(in: 1...100_000_000)
            spec.quotas.leaseRequestsPerOwner = try quotas.optional("lease_requests_per_owner")?.int(in: 1...1_000_000)
            spec.quotas.placementGroupsPerJob = try quotas.optional("placement_groups_per_job")?.int(in: 1...1_000_000)
            spec.quotas.placementGroupsPerJobSoft = try quotas.optional("placement_groups_per_job_soft")?.int(in: 1...1_000_000)
            spec.quotas.workersPerJob = try quotas.optional("workers_per_job")?.int(in: 1...100_000)
            spec.quotas.placementGroupCreationsPerSecond = try quotas.optional("placement_group_creations_per_second")?
                .int(in: 1...1_000_000)
            spec.quotas.placementGroupCreationsDelayed = try quotas.optional("placement_group_creations_delayed")?
                .int(in: 1...1_000_000)
            spec.quotas.leaseRequestsPerSecond = try quotas.optional("lease_requests_per_second")?.int(in: 1...10_000_000)
            spec.quotas.leaseRequestsDelayed = try quotas.optional("lease_requests_delayed")?.int(in: 1...1_000_000)
            spec.quotas.leaseRequestsQueued = try quotas.optional("lease_requests_queued")?.int(in: 1...1_000_000)
            spec.quotas.objectRequestsPerSecond = try quotas.optional("object_requests_per_second")?.int(in: 1...10_000_000)
            spec.quotas.objectRequestsDelayed = try quotas.optional("object_requests_delayed")?.int(in: 1...1_000_000)
            for (key, soft) in [("store_bytes_per_job", false), ("store_bytes_per_job_soft", true)] {
                guard let value = quotas.optional(key) else { continue }
                let bytes = try value.sizeBytes()
                guard bytes > 0 else { throw value.error("\(key) must be at least 1B") }
                if soft { spec.quotas.storeBytesPerJobSoft = bytes } else { spec.quotas.storeBytesPerJob = bytes }
            }
            if let value = quotas.optional("max_object_bytes") {
                let bytes = try value.sizeBytes()
                guard bytes > 0 else { throw value.error("the object size limit must be at least 1B") }
                spec.quotas.maxObjectBytes = bytes
            }
        }
        return spec
    }

    /// One `nodes:` entry, expanded by `count`.
    static func parseNodes(_ value: ScenarioValue) throws(ScenarioError) -> [NodeSpec] {
        let node = try value.mapping(allowedKeys: nodeKeys)
        let name = try node.required("name").name()
        let head = try node.optional("head")?.bool() ?? false
        let template = try parseNodeShape(node, name: name, head: head)
        guard let countValue = node.optional("count") else { return [template] }
        let count = try countValue.int(in: 1...nodeCountMax)
        if head && count > 1 {
            throw countValue.error("a head node cannot have count > 1; exactly one node is the head")
        }
        var nodes: [NodeSpec] = []
        for instance in 1...count {
            var copy = template
            copy.name = "\(name)-\(instance)"
            nodes.append(copy)
        }
        return nodes
    }

    /// `resources` and `object_store` of a node (shared with `add_node`).
    static func parseNodeShape(_ node: ScenarioMapping, name: String, head: Bool) throws(ScenarioError) -> NodeSpec {
        let resources = try node.optional("resources")?.resources() ?? ResourceSet(["CPU": 1000])
        let objectStoreBytes = try node.optional("object_store")?.sizeBytes() ?? NodeSpec.objectStoreBytesDefault
        return NodeSpec(name: name, head: head, resources: resources, objectStoreBytes: objectStoreBytes)
    }
}
