// Large scenarios built in code for `raysim bench`: a fan-out/fan-in of many
// small tasks, and many independent tasks on ten nodes.

public import RayCore

/// Scenarios for benchmarks.
public enum BenchmarkScenarios {
    static func cluster(nodes: Int) -> ClusterSpec {
        var specs = [NodeSpec(name: "head", head: true, resources: .units(["CPU": 8]), objectStoreBytes: 1 << 30)]
        for index in 1..<nodes {
            specs.append(NodeSpec(name: "worker-\(index)", head: false, resources: .units(["CPU": 8]),
                                  objectStoreBytes: 1 << 30))
        }
        return ClusterSpec(gcsPersistent: true, nodes: specs, network: .default)
    }

    static func expect() -> ExpectSpec {
        ExpectSpec(results: [], reconstructions: nil, retries: nil, maxSimTimeMicros: 3_600_000_000,
                   maxWallTimeMicros: 3_600_000_000, checkLeaks: true)
    }

    /// `tasks` - 1 map tasks, then one reduce over all of them; 10 nodes.
    public static func fanOutFanIn(tasks: Int) -> Scenario {
        let map = TaskGroupSpec(name: "map", count: max(1, tasks - 1), durationMicros: 1_000, outputBytes: 8)
        let reduce = TaskGroupSpec(name: "reduce", count: 1, durationMicros: 1_000, outputBytes: 8,
                                   args: [.all(name: "map")])
        let workload = WorkloadSpec(puts: [], tasks: [map, reduce], actors: [], placementGroups: [],
                                    get: [.all(name: "reduce")])
        return Scenario(name: "bench-fan-out-fan-in", description: "benchmark", seed: 1, cluster: cluster(nodes: 10),
                        workload: workload, faults: [], expect: expect(), sourcePath: "bench:fan-out-fan-in")
    }

    /// `tasks` independent tasks, all fetched; 10 nodes.
    public static func tenNodes(tasks: Int) -> Scenario {
        let work = TaskGroupSpec(name: "work", count: tasks, durationMicros: 1_000, outputBytes: 8)
        let workload = WorkloadSpec(puts: [], tasks: [work], actors: [], placementGroups: [],
                                    get: [.all(name: "work")])
        return Scenario(name: "bench-ten-nodes", description: "benchmark", seed: 1, cluster: cluster(nodes: 10),
                        workload: workload, faults: [], expect: expect(), sourcePath: "bench:ten-nodes")
    }

    /// `actors` actors of half a CPU each on `nodes` 8-CPU nodes, each called `calls` times by the driver.
    public static func actors(_ actors: Int, nodes: Int, calls: Int) -> Scenario {
        let group = ActorSpec(name: "actor", count: actors, resources: ResourceSet(["CPU": 500]), maxRestarts: 0,
                              maxTaskRetries: 0, calls: calls)
        let workload = WorkloadSpec(puts: [], tasks: [], actors: [group], placementGroups: [], get: [])
        return Scenario(name: "bench-actors", description: "benchmark", seed: 1, cluster: cluster(nodes: nodes),
                        workload: workload, faults: [], expect: expect(), sourcePath: "bench:actors")
    }

    /// One placement group of `bundles` one-CPU bundles on `nodes` 8-CPU nodes (`strategy`), a task
    /// in each bundle; the program removes it at its end.
    public static func placementGroup(bundles: Int, nodes: Int, strategy: PlacementStrategy) -> Scenario {
        let group = PlacementGroupEntry(name: "gang", strategy: strategy,
                                        bundles: Array(repeating: ResourceSet(["CPU": 1000]), count: bundles))
        var work = TaskGroupSpec(name: "member", count: bundles, durationMicros: 1_000, outputBytes: 8)
        work.placementGroup = PlacementGroupRef(name: "gang", bundle: .instance)
        let workload = WorkloadSpec(puts: [], tasks: [work], actors: [], placementGroups: [group],
                                    get: [.all(name: "member")])
        return Scenario(name: "bench-placement-group", description: "benchmark", seed: 1, cluster: cluster(nodes: nodes),
                        workload: workload, faults: [], expect: expect(), sourcePath: "bench:placement-group")
    }
}
