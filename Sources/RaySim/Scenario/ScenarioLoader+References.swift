// Cross-section checks once every section is read: workload names are unique
// (puts, task groups, actors and placement groups share one namespace), every
// reference names something of an allowed kind with a valid instance, node
// affinity names a node, and placement group references are in range.

import RayCore

/// Every name declared in `workload:`, with its kind and instance count.
struct NameTable {
    /// What a workload name denotes.
    enum Kind: String {
        case put
        case task
        case actor
        case placementGroup = "placement group"
    }

    /// One declared name.
    struct Entry {
        var kind: Kind
        /// Instances (`count`); a put is one object; a placement group counts its bundles.
        var count: Int
        /// Where it was declared, for duplicate-name messages.
        var keyPath: String
    }

    /// Declared names; looked up only, never iterated, so dictionary order never matters.
    private(set) var entries: [String: Entry] = [:]

    /// Collects the workload's names; a name used twice is an error.
    init(workload: WorkloadSpec, file: String) throws(ScenarioError) {
        for (index, put) in workload.puts.enumerated() {
            try add(put.name, Entry(kind: .put, count: put.count, keyPath: "workload.puts[\(index)]"), file: file)
        }
        for (index, task) in workload.tasks.enumerated() {
            try add(task.name, Entry(kind: .task, count: task.count, keyPath: "workload.tasks[\(index)]"), file: file)
        }
        for (index, actor) in workload.actors.enumerated() {
            try add(actor.name, Entry(kind: .actor, count: actor.count, keyPath: "workload.actors[\(index)]"), file: file)
        }
        for (index, group) in workload.placementGroups.enumerated() {
            try add(group.name, Entry(kind: .placementGroup, count: group.bundles.count,
                                      keyPath: "workload.placement_groups[\(index)]"), file: file)
        }
    }

    private mutating func add(_ name: String, _ entry: Entry, file: String) throws(ScenarioError) {
        if let existing = entries[name] {
            throw ScenarioError(file: file, keyPath: "\(entry.keyPath).name",
                                problem: "duplicate name '\(name)': already used by the \(existing.kind.rawValue) at \(existing.keyPath)")
        }
        entries[name] = entry
    }

    /// The entry for `name`, if declared.
    subscript(name: String) -> Entry? { entries[name] }

    /// Declared names of the given kinds, sorted, for suggestions.
    func names(of kinds: [Kind]) -> [String] {
        entries.filter { kinds.contains($0.value.kind) }.map(\.key).sorted()
    }
}

/// References recorded while parsing, checked once all names are known.
struct ReferenceUses {
    /// One reference as written.
    struct Use {
        var reference: RefPattern
        var value: ScenarioValue
        /// Kinds of thing it may name.
        var targets: [NameTable.Kind]
        /// The task group whose `args` hold it; only there may a reference be relative.
        var owner: String?
        /// What the reference is for (nested instances may be named only where the driver
        /// borrows them).
        var purpose: Purpose = .other
    }

    /// Where a reference is used.
    enum Purpose {
        /// What the program gets (`get`, `expect.results`).
        case get
        /// `kill_worker: {owner_of:}`.
        case ownerOf
        /// A task group's `args` (top-level arguments).
        case argument
        case other
    }

    /// In file order.
    private(set) var uses: [Use] = []

    /// Parses the reference at `value` and records it for `check`.
    mutating func record(_ value: ScenarioValue, targets: [NameTable.Kind],
                         owner: String? = nil, purpose: Purpose = .other) throws(ScenarioError) -> RefPattern {
        let reference = try value.reference()
        if case .relative = reference, owner == nil {
            throw value.error("relative reference '\(reference)' is only allowed in a task group's args")
        }
        uses.append(Use(reference: reference, value: value, targets: targets, owner: owner, purpose: purpose))
        return reference
    }

    /// Every reference names a declared thing of an allowed kind, with a valid instance.
    func check(against names: NameTable) throws(ScenarioError) {
        for use in uses {
            let name = use.reference.name
            let wanted = use.targets.map(\.rawValue).joined(separator: " or ")
            let article = wanted.first == "a" ? "an" : "a"
            guard let entry = names[name] else {
                var problem = "reference to missing \(wanted) '\(name)'"
                if let suggestion = ScenarioValue.closest(to: name, among: names.names(of: use.targets)) {
                    problem += " (did you mean '\(suggestion)'?)"
                }
                throw use.value.error(problem)
            }
            guard use.targets.contains(entry.kind) else {
                throw use.value.error("'\(name)' is a \(entry.kind.rawValue); expected \(article) \(wanted)")
            }
            switch use.reference {
            case .relative where entry.kind != .task:
                throw use.value.error("'\(name)' is a \(entry.kind.rawValue), not a task group; refer to it as '\(name)'")
            case .bare where entry.count > 1 && entry.kind != .placementGroup:  // A group is named whole.
                throw use.value.error("'\(name)' has \(entry.count) instances; use \(name)[*] or \(name)[N]")
            case .instance(_, let index) where index < 0 || index >= entry.count:
                throw use.value.error("instance index \(index) out of range: '\(name)' has \(entry.count) instance\(entry.count == 1 ? "" : "s") (0...\(entry.count - 1))")
            default:
                break
            }
        }
    }
}

extension ScenarioLoader {
    /// Node affinity names a node of the cluster or one added by a fault.
    static func checkStrategies(workload: WorkloadSpec, nodeNames: [String], initialNodes: [String],
                                file: String) throws(ScenarioError) {
        for (index, put) in workload.puts.enumerated() {
            guard let node = put.node, !initialNodes.contains(node) else { continue }
            throw ScenarioError(file: file, keyPath: "workload.puts[\(index)].node",
                                problem: "reference to missing node '\(node)'; a put is made on a node of the "
                                    + "initial cluster: \(listed(initialNodes))")
        }
        for (index, task) in workload.tasks.enumerated() {
            guard case .nodeAffinity(let node, _) = task.strategy, !nodeNames.contains(node) else { continue }
            throw ScenarioError(file: file, keyPath: "workload.tasks[\(index)].strategy.node",
                                problem: "reference to missing node '\(node)'; nodes are: \(listed(nodeNames))")
        }
    }

    /// A task output over the object size limit is refused in both worlds alike (ObjectSizeRule),
    /// but only where the limit is the same on every node may a scenario rely on it: an output that
    /// fits some nodes and not others would succeed or fail by where the task ran, which the two
    /// worlds need not decide alike. Puts are made on a named node (the head by default), so any
    /// size is fine for them.
    static func checkObjectSizes(workload: WorkloadSpec, cluster: ClusterSpec, file: String) throws(ScenarioError) {
        let limits = cluster.nodes.map { cluster.quotas.objectSizeLimit(storeBytes: $0.objectStoreBytes) }
        guard let smallest = limits.min(), let largest = limits.max(), smallest < largest else { return }
        for (index, task) in workload.tasks.enumerated() where task.outputBytes > smallest && task.outputBytes <= largest {
            throw ScenarioError(file: file, keyPath: "workload.tasks[\(index)].output",
                                problem: "\(task.outputBytes) bytes fits the object size limit of some nodes but not "
                                    + "of others (\(smallest) to \(largest) bytes: each node's object_store, or "
                                    + "cluster.quotas.max_object_bytes), so whether it is refused would depend on where "
                                    + "the task runs; make it fit every node, or none (set max_object_bytes)")
        }
    }

    /// A bundle fault names one group: not one of a counted entry.
    static func checkBundleFaults(_ faults: [FaultSpec], workload: WorkloadSpec, file: String) throws(ScenarioError) {
        for (index, fault) in faults.enumerated() {
            let named: String?
            switch fault.action {
            case .killNode(.bundle(let group, _)): named = group
            default: named = nil
            }
            guard let named, let group = workload.placementGroups.first(where: { $0.name == named }), group.count > 1 else {
                continue
            }
            throw ScenarioError(file: file, keyPath: "faults[\(index)].kill_node.bundle",
                                problem: "'\(named)' makes \(group.count) groups, so a bundle of it names none; "
                                    + "kill_node: {bundle: ...} needs a group without count")
        }
    }

    /// `placement_group:` names a declared group and a bundle in range for every instance.
    static func checkPlacementGroups(workload: WorkloadSpec, names: NameTable, file: String) throws(ScenarioError) {
        let users = workload.tasks.enumerated().map { ("workload.tasks[\($0)]", $1.name, $1.count, $1.resources, $1.placementGroup) }
            + workload.actors.enumerated().map { ("workload.actors[\($0)]", $1.name, $1.count, $1.resources, $1.placementGroup) }
        for (path, userName, count, resources, reference) in users {
            guard let reference else { continue }
            let keyPath = "\(path).placement_group"
            guard let group = workload.placementGroups.first(where: { $0.name == reference.name }) else {
                let kind = names[reference.name].map { " ('\(reference.name)' is a \($0.kind.rawValue))" } ?? ""
                throw ScenarioError(file: file, keyPath: "\(keyPath).name",
                                    problem: "reference to missing placement group '\(reference.name)'\(kind)")
            }
            switch reference.bundle {
            case .index(let bundle) where bundle >= group.bundles.count:
                throw ScenarioError(file: file, keyPath: "\(keyPath).bundle",
                                    problem: "bundle index \(bundle) out of range: '\(group.name)' has \(group.bundles.count) bundles")
            case .instance where count > group.bundles.count:
                throw ScenarioError(file: file, keyPath: "\(keyPath).bundle",
                                    problem: "bundle i needs a bundle per instance: '\(userName)' has \(count) instances but '\(group.name)' has \(group.bundles.count) bundles")
            default:
                break
            }
            if group.count > 1 && count > group.count {
                throw ScenarioError(file: file, keyPath: "\(keyPath).name",
                                    problem: "instance i runs in '\(group.name)[i]': '\(userName)' has \(count) instances "
                                        + "but '\(group.name)' makes \(group.count) groups")
            }
            // What it asks for must fit in its bundle (any bundle: in one of them), and be something.
            guard !resources.isEmpty else {
                throw ScenarioError(file: file, keyPath: "\(path).resources",
                                    problem: "'\(userName)' runs in placement group '\(group.name)' but asks for no "
                                        + "resource: it must ask for some of its bundle's")
            }
            let bundles = (0..<count).map { reference.bundle.index(forInstance: $0) }
            for bundle in Set(bundles) {
                let fits = bundle.map { resources.fits(in: group.bundles[$0]) }
                    ?? group.bundles.contains { resources.fits(in: $0) }
                guard fits else {
                    throw ScenarioError(file: file, keyPath: "\(path).resources",
                                        problem: "'\(userName)' asks for \(resources), more than "
                                            + (bundle.map { "bundle \($0) of '\(group.name)' holds (\(group.bundles[$0]))" }
                                                ?? "any bundle of '\(group.name)' holds"))
                }
            }
        }
    }
}
