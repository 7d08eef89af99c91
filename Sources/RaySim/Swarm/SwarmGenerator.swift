// Random scenarios for `raysim swarm` (FoundationDB-style swarm testing):
// each seed picks a cluster shape, a workload DAG and a fault plan (and the
// program's waits and cancels, and borrowers: references inside arguments). Random
// workloads cannot state their exact results, so a swarm run accepts any Ray
// error as a result when the scenario has faults or failure plans — but every
// value must be correct, every invariant hold, every get resolve and nothing
// leak. A seed fully determines its scenario and its run.

public import RayCore

/// Generates a scenario from a seed.
public enum SwarmGenerator {
    public static func scenario(seed: UInt64) -> Scenario {
        var random = SeededGenerator(seed: mix(seed ^ 0x5357_4152_4d00_0000))
        func pick(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(random.below(UInt64(range.count))) }
        func chance(_ permille: UInt64) -> Bool { random.below(1000) < permille }

        let workerCount = pick(1...5)
        var nodes = [NodeSpec(name: "head", head: true, resources: .units(["CPU": Int64(pick(1...4))]),
                              objectStoreBytes: Int64(pick(16...128)) << 20)]
        for index in 1...workerCount {
            var units: [String: Int64] = ["CPU": Int64(pick(1...4))]
            if chance(300) { units["GPU"] = 1 }
            nodes.append(NodeSpec(name: "worker-\(index)", head: false, resources: .units(units),
                                  objectStoreBytes: Int64(pick(8...64)) << 20))
        }

        var puts: [PutSpec] = []
        for index in 0..<pick(0...2) {
            puts.append(PutSpec(name: "p\(index)", sizeBytes: chance(500) ? Int64(pick(1...64)) << 10 : Int64(pick(1...4)) << 20))
        }
        var groups: [TaskGroupSpec] = []
        let maxCPU = nodes.map { $0.resources["CPU"] }.max() ?? 1000
        let anyGPU = nodes.contains { $0.resources["GPU"] > 0 }
        for index in 0..<pick(1...5) {
            var group = TaskGroupSpec(name: "t\(index)", count: pick(1...20))
            group.durationMicros = Int64(pick(0...20_000))
            group.outputBytes = chance(400) ? Int64(pick(1...3)) << 20 : Int64(pick(8...4096))
            if chance(200) { group.resources = ResourceSet(["CPU": min(maxCPU, 2000)]) }
            if anyGPU && chance(100) { group.resources = ResourceSet(["CPU": 1000, "GPU": 1000]) }
            if chance(200) { group.maxRetries = pick(0...5) }
            if chance(150) { group.strategy = .spread }
            var args: [RefPattern] = []
            if chance(400) { args.append(.relative(name: group.name, offset: -1)) }
            if index > 0 && chance(700) {
                let earlier = groups[pick(0...(index - 1))]
                switch pick(0...2) {
                case 0: args.append(.all(name: earlier.name))
                case 1: args.append(.instance(name: earlier.name, index: pick(0...(earlier.count - 1))))
                default: args.append(.relative(name: earlier.name, offset: 0))
                }
            }
            if !puts.isEmpty && chance(300) { args.append(.bare(name: puts[pick(0...(puts.count - 1))].name)) }
            group.args = args
            if index > 0 && chance(200) {
                // References inside arguments: the workers borrow them, some for a while.
                group.nestedArgs = [.all(name: groups[pick(0...(index - 1))].name)]
                group.holdMicros = chance(500) ? Int64(pick(1...500)) * 1_000 : 0
            }
            if chance(150) {
                group.fail = FailSpec(probability: Double(pick(5...40)) / 100, attempts: nil,
                                      kind: chance(500) ? .crash : .exception)
                group.retryExceptions = chance(500)
            }
            groups.append(group)
        }

        var faults: [FaultSpec] = []
        for _ in 0..<pick(0...3) {
            let millis = pick(0...300)
            let at = FaultSpec.Trigger.at(micros: Int64(millis) * 1_000)
            let worker = "worker-\(pick(1...workerCount))"
            // Rarer faults: the head node dies (the GCS and the driver with it, as in Ray), or the
            // GCS restarts while a node dies (within a few milliseconds, either order).
            if chance(40) {
                faults.append(FaultSpec(trigger: at, action: .killNode(.named("head"))))
                continue
            }
            if chance(80) {
                let other = FaultSpec.Trigger.at(micros: Int64(millis) * 1_000 + Int64(pick(-5...5)) * 1_000)
                faults.append(FaultSpec(trigger: at, action: .restartGCS))
                faults.append(FaultSpec(trigger: other, action: .killNode(.named(worker))))
                continue
            }
            let action: FaultAction
            switch pick(0...5) {
            case 0: action = .killNode(.named(worker))
            case 1: action = .restartNode(worker)
            case 2: action = .addNode(NodeSpec(name: "extra-\(faults.count)", head: false,
                                               resources: .units(["CPU": Int64(pick(1...4))]), objectStoreBytes: 32 << 20))
            case 3: action = .killWorker(running: .all(name: groups[pick(0...(groups.count - 1))].name))
            case 4:
                // Mostly short cuts; sometimes long enough for the health checks to declare the node dead.
                let millis = chance(100) ? pick(20_000...90_000) : pick(10...2000)
                action = .partition(groups: [["head"], [worker]], durationMicros: Int64(millis) * 1_000)
            default: action = .restartGCS
            }
            faults.append(FaultSpec(trigger: at, action: action))
        }
        // The program cancels some tasks (ray.cancel), forcefully or not, at a random moment.
        if chance(200) {
            let target = groups[pick(0...(groups.count - 1))]
            let refs: RefPattern = chance(500) ? .all(name: target.name) : .instance(name: target.name, index: pick(0...(target.count - 1)))
            faults.append(FaultSpec(trigger: .at(micros: Int64(pick(0...300)) * 1_000), action: .cancel(refs, force: chance(400), recursive: chance(700))))
        }
        // The program waits (ray.wait) for some of a group, with or without a timeout.
        if chance(250) {
            let target = groups[pick(0...(groups.count - 1))]
            let timeout = chance(500) ? Int64(pick(0...300)) * 1_000 : nil
            faults.append(FaultSpec(trigger: .at(micros: Int64(pick(0...300)) * 1_000),
                                    action: .wait(.all(name: target.name), numReturns: pick(0...target.count),
                                                  timeoutMicros: timeout)))
        }
        // Keep the named targets meaningful: a node is killed or restarted at most once.
        var touched: Set<String> = []
        faults = faults.filter { fault in
            switch fault.action {
            case .killNode(.named(let name)), .restartNode(let name): return touched.insert(name).inserted
            default: return true
            }
        }

        // Nested tasks: some seeds give one group children (owned by the workers that run it), which
        // it gets or leaves. Drawn from a generator of their own, so the rest of a seed's scenario
        // is what it was before nested tasks existed.
        var nesting = SeededGenerator(seed: mix(seed ^ 0x4E45_5354_4544_0000))
        if nesting.below(1000) < 150 {
            let parent = Int(nesting.below(UInt64(groups.count)))
            let count = 1 + Int(nesting.below(4))
            let returnRefs = nesting.below(1000) < 400
            groups[parent].children = ChildrenSpec(task: "n0", count: count, get: nesting.below(1000) < 700,
                                                   returnRefs: returnRefs)
            // Returned references: the driver gets them too, and sometimes their owner is killed.
            if returnRefs && nesting.below(1000) < 300 {
                faults.append(FaultSpec(trigger: .after(.instance(name: groups[parent].name, index: 0)),
                                        action: .killWorkerOwning(.instance(name: "n0", index: 0))))
            }
            var leaf = TaskGroupSpec(name: "n0", count: groups[parent].count * count)
            leaf.nested = true
            leaf.durationMicros = Int64(nesting.below(10_000))
            leaf.outputBytes = nesting.below(1000) < 300 ? Int64(1 + nesting.below(2)) << 20 : Int64(8 + nesting.below(4096))
            if nesting.below(1000) < 200 { leaf.strategy = .spread }
            if nesting.below(1000) < 150 {
                leaf.fail = FailSpec(probability: Double(5 + nesting.below(30)) / 100, attempts: nil,
                                     kind: nesting.below(2) == 0 ? .crash : .exception)
            }
            groups.append(leaf)
            // Borrowed references passed on: a driver group takes the children's references as args.
            if returnRefs && nesting.below(1000) < 500 {
                var user = TaskGroupSpec(name: "b0", count: leaf.count)
                user.args = [.relative(name: "n0", offset: 0)]
                user.durationMicros = Int64(nesting.below(5_000))
                user.outputBytes = Int64(8 + nesting.below(512))
                groups.append(user)
            }
        }

        // Actors: some seeds add actor groups (calls from the driver), kills of actors and of the
        // nodes hosting them. Drawn from a generator of their own, as nested tasks are.
        var acting = SeededGenerator(seed: mix(seed ^ 0x4143_544F_5253_0000))
        var actors: [ActorSpec] = []
        if acting.below(1000) < 250 {
            for index in 0..<(1 + Int(acting.below(2))) {
                let restarts = [0, 1, 2, -1][Int(acting.below(4))]
                let retries = [0, 0, 1, -1][Int(acting.below(4))]
                actors.append(ActorSpec(name: "a\(index)", count: 1 + Int(acting.below(3)),
                                        // No CPU held (Ray's default while an actor runs): actors that
                                        // hold every CPU starve the tasks, in Ray as here.
                                        resources: ResourceSet(),
                                        maxRestarts: restarts, maxTaskRetries: retries, calls: 1 + Int(acting.below(60)),
                                        callMicros: Int64(acting.below(3_000))))
                // Some are called by tasks too (handles passed as arguments), some are concurrent.
                if acting.below(1000) < 300 { actors[actors.count - 1].callers = 2 + Int(acting.below(2)) }
                if acting.below(1000) < 200 { actors[actors.count - 1].maxConcurrency = 2 + Int(acting.below(3)) }
            }
            for _ in 0..<Int(acting.below(3)) {
                let target = actors[Int(acting.below(UInt64(actors.count)))]
                let instance = RefPattern.instance(name: target.name, index: Int(acting.below(UInt64(target.count))))
                let at = FaultSpec.Trigger.at(micros: Int64(acting.below(200)) * 1_000)
                let trigger = acting.below(2) == 0 ? at : .after(instance)
                let action: FaultAction = acting.below(3) == 0 ? .killNode(.holding(instance))
                    : .killActor(actor: instance, noRestart: acting.below(2) == 0)
                faults.append(FaultSpec(trigger: trigger, action: action))
            }
        }

        // Placement groups: some seeds add one or two, a task group in each (one task per bundle,
        // or any bundle, and sometimes actors: a bundle of 2 slots holds a task of 1 and its actors'
        // tenths), and kills of the nodes holding bundles and removals. Bundles ask for `slot`s every
        // node has as many of as all groups' bundles together, so a group never waits behind
        // another or starves the other tasks: only STRICT_SPREAD's node count (with nodes killed)
        // can make one infeasible, and its tasks then fail with PlacementGroupUnschedulable.
        var grouping = SeededGenerator(seed: mix(seed ^ 0x504C_4143_4547_0000))
        var placementGroups: [PlacementGroupEntry] = []
        if grouping.below(1000) < 200 {
            let strategies: [PlacementStrategy] = [.pack, .spread, .strictPack, .strictSpread]
            for index in 0..<(1 + Int(grouping.below(2))) {
                let strategy = strategies[Int(grouping.below(4))]
                // STRICT_SPREAD within the node count: without faults every group is placed (and a
                // seed without faults must end with every result ok).
                let count = min(1 + Int(grouping.below(4)), strategy == .strictSpread ? nodes.count : 4)
                placementGroups.append(PlacementGroupEntry(
                    name: "g\(index)", strategy: strategy,
                    bundles: Array(repeating: ResourceSet(["slot": 2000]), count: count)))
                var user = TaskGroupSpec(name: "u\(index)", count: count, durationMicros: Int64(grouping.below(30_000)),
                                         outputBytes: Int64(8 + grouping.below(4096)))
                user.resources = ResourceSet(["slot": 1000])
                user.placementGroup = PlacementGroupRef(name: "g\(index)", bundle: grouping.below(2) == 0 ? .instance : .any)
                if grouping.below(2) == 0 { user.maxRetries = Int(grouping.below(4)) }
                groups.append(user)
                // Sometimes a gang of actors in the group too (a bundle each, or any).
                if grouping.below(1000) < 300 {
                    var gang = ActorSpec(name: "ga\(index)", count: 1 + Int(grouping.below(UInt64(count))),
                                         resources: ResourceSet(["slot": 100]),
                                         maxRestarts: [0, 1, -1][Int(grouping.below(3))],
                                         maxTaskRetries: [0, -1][Int(grouping.below(2))],
                                         calls: 1 + Int(grouping.below(20)), callMicros: Int64(grouping.below(2_000)))
                    gang.placementGroup = PlacementGroupRef(name: "g\(index)", bundle: grouping.below(2) == 0 ? .instance : .any)
                    actors.append(gang)
                }
                if grouping.below(1000) < 400 {
                    let at = FaultSpec.Trigger.at(micros: Int64(grouping.below(200)) * 1_000)
                    faults.append(FaultSpec(trigger: at, action: .killNode(.bundle(group: "g\(index)",
                                                                                    index: Int(grouping.below(UInt64(count)))))))
                }
                if grouping.below(1000) < 200 {
                    let at = FaultSpec.Trigger.at(micros: Int64(grouping.below(100)) * 1_000)
                    faults.append(FaultSpec(trigger: at, action: .removePlacementGroup("g\(index)")))
                }
            }
            let slots = Int64(placementGroups.reduce(0) { $0 + $1.bundles.count }) * 2000
            for index in nodes.indices {
                nodes[index].resources = nodes[index].resources + ResourceSet(["slot": slots])
            }
        }

        func returnsRefs(of nested: String) -> Bool {
            groups.contains { $0.children?.task == nested && $0.children?.returnRefs == true }
        }
        let workload = WorkloadSpec(puts: puts, tasks: groups, actors: actors, placementGroups: placementGroups,
                                    get: groups.filter { !$0.nested || returnsRefs(of: $0.name) }.map { .all(name: $0.name) })
        let expect = ExpectSpec(results: [], reconstructions: nil, retries: nil, maxSimTimeMicros: 300_000_000,
                                maxWallTimeMicros: 120_000_000, checkLeaks: true)
        let network = NetworkSpec(latencyMicros: Int64(pick(50...2000)), jitterMicros: Int64(pick(0...500)))
        return Scenario(name: "swarm-\(seed)", description: "random cluster, workload and fault plan from seed \(seed)",
                        seed: seed, cluster: ClusterSpec(gcsPersistent: true, nodes: nodes, network: network),
                        workload: workload, faults: faults, expect: expect, sourcePath: "swarm:\(seed)")
    }

    /// The machines' configuration for a seed, drawn within valid ranges (FoundationDB's
    /// BUGGIFY idea: timings and thresholds a fixed configuration never exercises), and the
    /// knobs that differ from Ray's defaults, for the report. About one seed in four keeps the
    /// defaults.
    public static func config(seed: UInt64) -> (RayConfig, [String]) {
        var random = SeededGenerator(seed: mix(seed ^ 0x4255_4747_4946_5900))
        func pick(_ range: ClosedRange<Int64>) -> Int64 { range.lowerBound + Int64(random.below(UInt64(range.count))) }
        func chance(_ permille: UInt64) -> Bool { random.below(1000) < permille }
        var config = RayConfig()
        guard !chance(250) else { return (config, []) }
        var knobs: [String] = []
        /// With this chance, `set` turns one knob and says how.
        func knob(_ permille: UInt64, _ set: () -> String) {
            if chance(permille) { knobs.append(set()) }
        }
        knob(300) {
            config.healthCheckPeriodMicros = pick(500...3_000) * 1_000
            config.healthCheckTimeoutMicros = pick(1...4) * config.healthCheckPeriodMicros
            config.healthCheckFailureThreshold = Int(pick(2...5))
            config.healthCheckInitialDelayMicros = pick(1...5) * 1_000_000
            return "health checks every \(config.healthCheckPeriodMicros / 1_000) ms, timeout "
                + "\(config.healthCheckTimeoutMicros / 1_000) ms, \(config.healthCheckFailureThreshold) misses, first after "
                + "\(config.healthCheckInitialDelayMicros / 1_000) ms"
        }
        knob(200) {
            config.resourceReportPeriodMicros = pick(20...500) * 1_000
            return "resource reports every \(config.resourceReportPeriodMicros / 1_000) ms"
        }
        knob(300) {
            config.schedulerSpreadThresholdPermille = pick(0...1000)
            return "spread threshold \(config.schedulerSpreadThresholdPermille)‰"
        }
        knob(300) {
            config.inlineObjectSizeBytesMax = pick(1...1024) * 1024
            return "inline limit \(config.inlineObjectSizeBytesMax / 1024) KiB"
        }
        knob(300) {
            config.objectSpillingThresholdPermille = pick(500...950)
            return "spilling at \(config.objectSpillingThresholdPermille)‰"
        }
        knob(200) {
            config.pullRetryDelayMicros = pick(10...500) * 1_000
            return "pull retry \(config.pullRetryDelayMicros / 1_000) ms"
        }
        knob(200) {
            config.spillbackCountMax = Int(pick(1...8))
            return "spillback at most \(config.spillbackCountMax)"
        }
        knob(200) {
            config.lineageBytesMax = pick(16...4096) << 10
            return "lineage cap \(config.lineageBytesMax >> 10) KiB"
        }
        knob(250) {
            config.leaseRequestsPerShapeMax = Int(pick(1...12))
            return "lease requests in flight per shape \(config.leaseRequestsPerShapeMax)"
        }
        knob(250) {
            config.leaseRequestsPerOwnerMax = Int(pick(1...16))
            return "lease requests out per owner \(config.leaseRequestsPerOwnerMax)"
        }
        knob(250) {
            config.workersPerJobMax = Int(pick(1...6))
            return "task workers per job and node \(config.workersPerJobMax)"
        }
        // Creation rates low enough that actors and groups wait (GCS+CreationRate), across node
        // deaths and GCS restarts; never refused (the delayed bounds stay at their defaults).
        knob(200) {
            config.actorCreationsPerSecondMax = Int(pick(1...20))
            return "actor creations per job \(config.actorCreationsPerSecondMax)/s"
        }
        knob(200) {
            config.placementGroupCreationsPerSecondMax = Int(pick(1...20))
            return "placement-group creations per job \(config.placementGroupCreationsPerSecondMax)/s"
        }
        // A lease-request rate low enough that requests wait at raylets (Raylet+RequestRate), across
        // node deaths, spillbacks and owner deaths; never refused (the delayed bound stays at its default).
        knob(200) {
            config.leaseRequestsPerSecondPerJobMax = Int(pick(5...50))
            return "lease requests per job and raylet \(config.leaseRequestsPerSecondPerJobMax)/s"
        }
        // A per-job queue bound low enough that requests wait for room (nested tasks included:
        // granted leases do not count, so a parent blocked on its children cannot deadlock them).
        knob(200) {
            config.leaseRequestsQueuedPerJobMax = Int(pick(1...16))
            return "lease requests queued per job and raylet \(config.leaseRequestsQueuedPerJobMax)"
        }
        // An object-request rate low enough that fetches and stores wait at raylets
        // (Raylet+ObjectRate), across worker kills, node deaths, owner deaths and released gets;
        // never refused (the delayed bound stays at its default).
        knob(200) {
            config.objectRequestsPerSecondPerJobMax = Int(pick(2...50))
            return "fetches and stores per job and raylet \(config.objectRequestsPerSecondPerJobMax)/s"
        }
        return (config, knobs)
    }

    /// How `raysim swarm` runs a seed: its configuration, and whether errors are acceptable.
    public static func options(seed: UInt64, scenario: Scenario) -> SimulationOptions {
        var options = SimulationOptions(seed: seed)
        options.config = config(seed: seed).0
        // A lineage cap below the default may evict what a lost object needs: errors are legitimate.
        options.acceptErrorResults = mayFail(scenario) || options.config.lineageBytesMax < RayConfig().lineageBytesMax
        options.acceptUnfiredFaults = true  // Random times and targets: some never come.
        return options
    }

    /// True when a run of this scenario may legitimately end some gets with errors.
    public static func mayFail(_ scenario: Scenario) -> Bool {
        !scenario.faults.isEmpty || scenario.workload.tasks.contains { $0.fail != nil }
    }
}
