// `faults:` — each entry has exactly one trigger (`at` or `after`) and
// exactly one action. Node names are checked in file order: a node added by
// an earlier `add_node` fault may be named by later faults.

import RayCore

extension ScenarioLoader {
    static let triggerKeys = ["at", "after"]
    static let actionKeys = ["kill_node", "restart_node", "add_node", "kill_worker", "restart_gcs",
                             "partition", "kill_actor", "kill_driver", "cancel", "wait", "remove_placement_group"]
    static let nodeTargetKeys = ["holding", "running", "bundle"]
    static let removeGroupKeys = ["name"]
    static let addNodeKeys = ["name", "resources", "object_store"]
    static let killWorkerKeys = ["running", "owner_of"]
    static let partitionKeys = ["groups", "duration"]
    static let killActorKeys = ["actor", "no_restart"]
    static let cancelKeys = ["refs", "force", "recursive"]
    static let waitKeys = ["refs", "num_returns", "timeout"]

    /// Parses `faults:`; returns the faults and every node name (the cluster's and added ones).
    static func parseFaults(_ value: ScenarioValue?, cluster: ClusterSpec,
                            references: inout ReferenceUses) throws(ScenarioError) -> (faults: [FaultSpec], nodeNames: [String]) {
        var nodeNames = cluster.nodes.map(\.name)
        var faults: [FaultSpec] = []
        for entry in try value?.sequence() ?? [] {
            let fault = try entry.mapping(allowedKeys: triggerKeys + actionKeys)
            let triggers = fault.present(among: triggerKeys)
            guard triggers.count == 1 else {
                throw entry.error("expected exactly one trigger (at or after), got \(triggers.isEmpty ? "none" : triggers.joined(separator: ", "))")
            }
            let actions = fault.present(among: actionKeys)
            guard actions.count == 1, let actionKey = actions.first else {
                throw entry.error("expected exactly one action (\(actionKeys.joined(separator: ", "))), got \(actions.isEmpty ? "none" : actions.joined(separator: ", "))")
            }
            let trigger: FaultSpec.Trigger
            if let at = fault.optional("at") {
                trigger = .at(micros: try at.durationMicros())
            } else {
                trigger = .after(try references.record(try fault.required("after"), targets: [.task, .put, .actor]))
            }
            let action = try parseAction(try fault.required(actionKey), key: actionKey,
                                         nodeNames: &nodeNames, references: &references)
            faults.append(FaultSpec(trigger: trigger, action: action))
        }
        return (faults, nodeNames)
    }

    /// One fault action; `nodeNames` grows with `add_node`.
    static func parseAction(_ value: ScenarioValue, key: String, nodeNames: inout [String],
                            references: inout ReferenceUses) throws(ScenarioError) -> FaultAction {
        switch key {
        case "kill_node":
            if case .mapping = value.node {
                let target = try exactlyOne(of: nodeTargetKeys, in: value,
                                            needs: "kill_node needs a node name or exactly one of holding, running or bundle")
                if let running = target.optional("running") {
                    return .killNode(.running(try references.record(running, targets: [.task])))
                }
                if let bundle = target.optional("bundle") {
                    // "gang[1]": one bundle of a declared group (its range checked with the names).
                    let reference = try references.record(bundle, targets: [.placementGroup])
                    switch reference {
                    case .instance(let group, let index): return .killNode(.bundle(group: group, index: index))
                    default: throw bundle.error("expected one bundle of a placement group, as gang[1]; got '\(reference)'")
                    }
                }
                return .killNode(.holding(try references.record(try target.required("holding"),
                                                                targets: [.task, .put, .actor])))
            }
            return .killNode(.named(try existingNode(value, nodeNames: nodeNames)))
        case "restart_node":
            return .restartNode(try existingNode(value, nodeNames: nodeNames))
        case "add_node":
            let shape = try value.mapping(allowedKeys: addNodeKeys)
            let nameValue = try shape.required("name")
            let name = try nameValue.name()
            guard !nodeNames.contains(name) else { throw nameValue.error("duplicate node name '\(name)'") }
            nodeNames.append(name)
            return .addNode(try parseNodeShape(shape, name: name, head: false))
        case "kill_worker":
            let target = try exactlyOne(of: killWorkerKeys, in: value, needs: "kill_worker needs exactly one of running or owner_of")
            if let owned = target.optional("owner_of") {
                return .killWorkerOwning(try references.record(owned, targets: [.task], purpose: .ownerOf))
            }
            return .killWorker(running: try references.record(try target.required("running"), targets: [.task, .actor]))
        case "restart_gcs":
            _ = try value.mapping(allowedKeys: [])
            return .restartGCS
        case "partition":
            return try parsePartition(value, nodeNames: nodeNames)
        case "kill_actor":
            let killActor = try value.mapping(allowedKeys: killActorKeys)
            let actor = try references.record(try killActor.required("actor"), targets: [.actor])
            let noRestart = try killActor.optional("no_restart")?.bool() ?? true  // Ray's ray.kill default
            return .killActor(actor: actor, noRestart: noRestart)
        case "cancel":
            let cancel = try value.mapping(allowedKeys: cancelKeys)
            let refs = try references.record(try cancel.required("refs"), targets: [.task])
            return .cancel(refs, force: try cancel.optional("force")?.bool() ?? false,
                           recursive: try cancel.optional("recursive")?.bool() ?? true)
        case "wait":
            let wait = try value.mapping(allowedKeys: waitKeys)
            let refs = try references.record(try wait.required("refs"), targets: [.task, .put])
            let numReturns = try wait.optional("num_returns")?.int(in: 0...1_000_000) ?? 1
            let timeout = try wait.optional("timeout").map { value throws(ScenarioError) in try value.durationMicros() }
            return .wait(refs, numReturns: numReturns, timeoutMicros: timeout)
        case "remove_placement_group":
            let remove = try value.mapping(allowedKeys: removeGroupKeys)
            let name = try references.record(try remove.required("name"), targets: [.placementGroup])
            guard case .bare(let group) = name else {
                throw value.error("expected a placement group's name, as gang; got '\(name)'")
            }
            return .removePlacementGroup(group)
        default:
            precondition(key == "kill_driver", "action keys and cases disagree")
            _ = try value.mapping(allowedKeys: [])
            return .killDriver
        }
    }

    /// A mapping of `keys` with exactly one of them present (`needs`: what the error says first).
    static func exactlyOne(of keys: [String], in value: ScenarioValue, needs: String) throws(ScenarioError) -> ScenarioMapping {
        let mapping = try value.mapping(allowedKeys: keys)
        let present = mapping.present(among: keys)
        guard present.count == 1 else {
            throw value.error("\(needs), got " + (present.isEmpty ? "none" : present.joined(separator: ", ")))
        }
        return mapping
    }

    /// `partition: {groups: [[names]], duration}` — existing nodes, none in two groups.
    static func parsePartition(_ value: ScenarioValue, nodeNames: [String]) throws(ScenarioError) -> FaultAction {
        let partition = try value.mapping(allowedKeys: partitionKeys)
        let groupsValue = try partition.required("groups")
        var groups: [[String]] = []
        var seen: [String] = []
        for groupValue in try groupsValue.sequence() {
            var group: [String] = []
            for memberValue in try groupValue.sequence() {
                let member = try existingNode(memberValue, nodeNames: nodeNames)
                guard !seen.contains(member) else {
                    throw memberValue.error("node '\(member)' is in more than one partition group")
                }
                seen.append(member)
                group.append(member)
            }
            guard !group.isEmpty else { throw groupValue.error("expected a non-empty list of node names") }
            groups.append(group)
        }
        guard !groups.isEmpty else { throw groupsValue.error("expected at least one group of node names") }
        let durationMicros = try partition.required("duration").durationMicros()
        return .partition(groups: groups, durationMicros: durationMicros)
    }

    /// A wait's `num_returns` is at most the number of references it waits for (as Ray checks).
    static func checkWaits(_ faults: [FaultSpec], workload: WorkloadSpec, file: String) throws(ScenarioError) {
        let plan = WorkloadPlan(workload)
        for (index, fault) in faults.enumerated() {
            guard case .wait(let refs, let numReturns, _) = fault.action else { continue }
            let count = plan.resolve(refs).count
            guard numReturns <= count else {
                throw ScenarioError(file: file, keyPath: "faults[\(index)].wait.num_returns",
                                    problem: "num_returns \(numReturns) is more than the \(count) reference(s) "
                                        + "\(refs) names")
            }
        }
    }

    /// A node name that exists in the cluster or was added by an earlier fault.
    static func existingNode(_ value: ScenarioValue, nodeNames: [String]) throws(ScenarioError) -> String {
        let name = try value.name()
        guard nodeNames.contains(name) else {
            throw value.error("reference to missing node '\(name)'; nodes are: \(listed(nodeNames))")
        }
        return name
    }

    /// Names for a message, shortened when there are many.
    static func listed(_ names: [String]) -> String {
        let shown = names.prefix(20).joined(separator: ", ")
        return names.count > 20 ? shown + ", ..." : shown
    }
}
