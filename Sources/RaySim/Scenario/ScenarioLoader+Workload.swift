// `workload:` — puts, task groups, actors, placement groups and the driver's
// final `get`. Each entry is read on its own here; references are recorded in
// `ReferenceUses` and resolved once every name is known (+References).

import RayCore

extension ScenarioLoader {
    static let workloadKeys = ["puts", "tasks", "actors", "placement_groups", "get"]
    static let putKeys = ["name", "size", "node", "count"]
    static let taskKeys = ["name", "count", "duration", "output", "resources", "max_retries", "strategy",
                           "args", "nested_args", "hold", "fail", "retry_exceptions",
                           "placement_group", "children", "nested"]
    static let childrenKeys = ["task", "count", "get", "return_refs"]
    /// Most children one parent instance submits.
    static let childCountMax = 100_000
    static let failKeys = ["probability", "attempts", "kind"]
    static let affinityKeys = ["node", "soft"]
    static let placementGroupReferenceKeys = ["name", "bundle"]
    static let actorKeys = ["name", "count", "resources", "max_restarts", "max_task_retries", "calls", "duration",
                            "detached", "callers", "max_concurrency", "placement_group", "args"]
    static let placementGroupKeys = ["name", "strategy", "bundles", "count"]
    /// Most groups one `placement_groups:` entry may make.
    static let placementGroupCountMax = 10_000

    /// Most instances of one task group.
    static let taskCountMax = 1_000_000
    /// Most objects one `puts:` entry may make.
    static let putCountMax = 1_000_000
    /// Most actors in one actor entry.
    static let actorCountMax = 10_000
    /// Most method calls the driver makes to one actor.
    static let actorCallCountMax = 10_000_000
    static let actorCallersMax = 1_000
    /// Largest `max_retries`, `max_restarts` or `max_task_retries` (-1 means infinite).
    static let retryCountMax = 1_000_000
    /// Most bundles in one placement group.
    static let bundleCountMax = 10_000

    /// Parses `workload:`; task groups stay in file order (ordered later by `orderTaskGroups`).
    static func parseWorkload(_ value: ScenarioValue,
                              references: inout ReferenceUses) throws(ScenarioError) -> WorkloadSpec {
        let workload = try value.mapping(allowedKeys: workloadKeys)
        var puts: [PutSpec] = []
        for entry in try workload.optional("puts")?.sequence() ?? [] {
            let put = try entry.mapping(allowedKeys: putKeys)
            var spec = PutSpec(name: try put.required("name").name(), sizeBytes: try put.required("size").sizeBytes())
            spec.node = try put.optional("node")?.name()
            spec.count = try put.optional("count")?.int(in: 1...putCountMax) ?? 1
            puts.append(spec)
        }
        var tasks: [TaskGroupSpec] = []
        for entry in try workload.optional("tasks")?.sequence() ?? [] {
            tasks.append(try parseTaskGroup(entry, references: &references))
        }
        var actors: [ActorSpec] = []
        for entry in try workload.optional("actors")?.sequence() ?? [] {
            actors.append(try parseActor(entry, references: &references))
        }
        var placementGroups: [PlacementGroupEntry] = []
        for entry in try workload.optional("placement_groups")?.sequence() ?? [] {
            placementGroups.append(try parsePlacementGroup(entry))
        }
        var get: [RefPattern] = []
        for entry in try workload.optional("get")?.sequence() ?? [] {
            get.append(try references.record(entry, targets: [.task, .put], purpose: .get))
        }
        return WorkloadSpec(puts: puts, tasks: tasks, actors: actors, placementGroups: placementGroups, get: get)
    }

    /// One `tasks:` entry.
    static func parseTaskGroup(_ value: ScenarioValue,
                               references: inout ReferenceUses) throws(ScenarioError) -> TaskGroupSpec {
        let task = try value.mapping(allowedKeys: taskKeys)
        var group = TaskGroupSpec(name: try task.required("name").name())
        if let count = task.optional("count") { group.count = try count.int(in: 1...taskCountMax) }
        if let duration = task.optional("duration") { group.durationMicros = try duration.durationMicros() }
        if let output = task.optional("output") { group.outputBytes = try output.sizeBytes() }
        if let resources = task.optional("resources") { group.resources = try resources.resources() }
        if let maxRetries = task.optional("max_retries") { group.maxRetries = try maxRetries.int(in: -1...retryCountMax) }
        if let strategy = task.optional("strategy") { group.strategy = try parseStrategy(strategy) }
        for argument in try task.optional("args")?.sequence() ?? [] {
            group.args.append(try references.record(argument, targets: [.task, .put], owner: group.name, purpose: .argument))
        }
        for argument in try task.optional("nested_args")?.sequence() ?? [] {
            group.nestedArgs.append(try references.record(argument, targets: [.task, .put], owner: group.name))
        }
        if let hold = task.optional("hold") { group.holdMicros = try hold.durationMicros() }
        if let nested = task.optional("nested") { group.nested = try nested.bool() }
        if let children = task.optional("children") {
            let spec = try children.mapping(allowedKeys: childrenKeys)
            let taskValue = try spec.required("task")
            var parsed = ChildrenSpec(task: try taskValue.name(), count: try spec.required("count").int(in: 1...childCountMax))
            parsed.get = try spec.optional("get")?.bool() ?? false
            parsed.returnRefs = try spec.optional("return_refs")?.bool() ?? false
            group.children = parsed
        }
        if group.nested, let count = task.optional("count") {
            throw count.error("a nested group has no count: it gets its parents' count × children.count")
        }
        if let fail = task.optional("fail") { group.fail = try parseFail(fail) }
        if let retry = task.optional("retry_exceptions") { group.retryExceptions = try retry.bool() }
        if let placement = task.optional("placement_group") { group.placementGroup = try parsePlacementGroupRef(placement) }
        return group
    }

    /// `placement_group: {name: gang, bundle: 1}` (`bundle: i`: the instance's own; no bundle:
    /// any bundle of the group, Ray's index -1).
    static func parsePlacementGroupRef(_ value: ScenarioValue) throws(ScenarioError) -> PlacementGroupRef {
        let reference = try value.mapping(allowedKeys: placementGroupReferenceKeys)
        let name = try reference.required("name").name()
        guard let bundleValue = reference.optional("bundle") else { return PlacementGroupRef(name: name, bundle: .any) }
        let bundleText = try bundleValue.scalarText(expected: "a bundle index or i").trimmingWhitespace()
        let bundle: PlacementGroupRef.Bundle = bundleText == "i"
            ? .instance : .index(try bundleValue.int(in: 0...bundleCountMax))
        return PlacementGroupRef(name: name, bundle: bundle)
    }

    /// `strategy:` — `default`, `spread` or `{node: NAME, soft: BOOL}`.
    static func parseStrategy(_ value: ScenarioValue) throws(ScenarioError) -> StrategySpec {
        if case .mapping = value.node {
            let affinity = try value.mapping(allowedKeys: affinityKeys)
            let node = try affinity.required("node").name()
            let soft = try affinity.optional("soft")?.bool() ?? false
            return .nodeAffinity(node: node, soft: soft)
        }
        let text = try value.scalarText(expected: "default, spread or {node: NAME, soft: BOOL}")
        switch text.trimmingWhitespace() {
        case "default": return .default
        case "spread": return .spread
        default: throw value.error("expected default, spread or {node: NAME, soft: BOOL}, got '\(text)'")
        }
    }

    /// `fail:` — `probability` and/or `attempts`, and `kind`.
    static func parseFail(_ value: ScenarioValue) throws(ScenarioError) -> FailSpec {
        let fail = try value.mapping(allowedKeys: failKeys)
        var probability: Double?
        if let probabilityValue = fail.optional("probability") {
            let text = try probabilityValue.scalarText(expected: "a probability in 0...1").trimmingWhitespace()
            guard let number = ScenarioDecimal(text), let parsed = Double(text), parsed.isFinite,
                  !number.isNegative || number.mantissa == 0, parsed >= 0, parsed <= 1 else {
                throw probabilityValue.error("expected a probability in 0...1, got '\(text)'")
            }
            probability = parsed
        }
        let attempts = try fail.optional("attempts")?.int(in: 0...retryCountMax)
        guard probability != nil || attempts != nil else {
            throw value.error("expected probability and/or attempts")
        }
        var kind = FailSpec.Kind.exception
        if let kindValue = fail.optional("kind") {
            let text = try kindValue.scalarText(expected: "exception or crash").trimmingWhitespace()
            guard let parsed = FailSpec.Kind(rawValue: text) else {
                throw kindValue.error("expected exception or crash, got '\(text)'")
            }
            kind = parsed
        }
        return FailSpec(probability: probability, attempts: attempts, kind: kind)
    }

    /// One `actors:` entry. Defaults follow Ray: no restarts, no task retries; one actor, one call.
    static func parseActor(_ value: ScenarioValue, references: inout ReferenceUses) throws(ScenarioError) -> ActorSpec {
        let actor = try value.mapping(allowedKeys: actorKeys)
        var spec = ActorSpec(
            name: try actor.required("name").name(),
            count: try actor.optional("count")?.int(in: 1...actorCountMax) ?? 1,
            resources: try actor.optional("resources")?.resources() ?? ResourceSet(["CPU": 1000]),
            maxRestarts: try actor.optional("max_restarts")?.int(in: -1...retryCountMax) ?? 0,
            maxTaskRetries: try actor.optional("max_task_retries")?.int(in: -1...retryCountMax) ?? 0,
            calls: try actor.optional("calls")?.int(in: 0...actorCallCountMax) ?? 1,
            callMicros: try actor.optional("duration")?.durationMicros() ?? 1_000)
        spec.detached = try actor.optional("detached")?.bool() ?? false
        spec.maxConcurrency = try actor.optional("max_concurrency")?.int(in: 1...actorCountMax) ?? 1
        spec.callers = try actor.optional("callers")?.int(in: 1...actorCallersMax) ?? 1
        spec.placementGroup = try actor.optional("placement_group").map { value throws(ScenarioError) in
            try parsePlacementGroupRef(value)
        }
        for argument in try actor.optional("args")?.sequence() ?? [] {
            spec.args.append(try references.record(argument, targets: [.task, .put]))
        }
        return spec
    }

    /// One `placement_groups:` entry; strategy defaults to PACK, as in Ray.
    static func parsePlacementGroup(_ value: ScenarioValue) throws(ScenarioError) -> PlacementGroupEntry {
        let group = try value.mapping(allowedKeys: placementGroupKeys)
        let name = try group.required("name").name()
        var strategy = PlacementStrategy.pack
        if let strategyValue = group.optional("strategy") {
            let text = try strategyValue.scalarText(expected: "PACK, SPREAD, STRICT_PACK or STRICT_SPREAD")
            guard let parsed = PlacementStrategy(rawValue: text.trimmingWhitespace()) else {
                throw strategyValue.error("expected PACK, SPREAD, STRICT_PACK or STRICT_SPREAD, got '\(text)'")
            }
            strategy = parsed
        }
        let bundlesValue = try group.required("bundles")
        var bundles: [ResourceSet] = []
        for bundle in try bundlesValue.sequence() {
            bundles.append(try bundle.resources())
        }
        guard !bundles.isEmpty else { throw bundlesValue.error("expected at least one bundle") }
        guard bundles.count <= bundleCountMax else { throw bundlesValue.error("more than \(bundleCountMax) bundles") }
        let count = try group.optional("count")?.int(in: 1...placementGroupCountMax) ?? 1
        return PlacementGroupEntry(name: name, strategy: strategy, bundles: bundles, count: count)
    }
}
