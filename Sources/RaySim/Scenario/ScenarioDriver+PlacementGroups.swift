// Placement groups in a scenario (../SCENARIOS.md `placement_groups:`), in
// either world: the program creates every group first (as a Ray program calls
// `placement_group(...)` before it submits into it), its tasks and actors ask
// for their bundle's resources, `remove_placement_group` removes one, and the
// program's end removes the rest (as the job's end does). A task of a group that
// cannot hold it fails with PlacementGroupUnschedulable (the owner decides).

public import RayCore

extension ScenarioDriver {
    /// Creates the scenario's groups, in file order.
    func createPlacementGroups() {
        for group in scenario.workload.placementGroups {
            for name in group.instanceNames {
                groupIDs[name] = world.createPlacementGroup(group.bundles, strategy: group.strategy, name: name)
            }
        }
    }

    /// What instance `instance` asks for: `resources`, as its bundle's when it runs in a group
    /// (in a counted group's `name[instance]`).
    func resources(_ resources: ResourceSet, in reference: PlacementGroupRef?, instance: Int) -> ResourceSet {
        guard let reference else { return resources }
        let counted = scenario.workload.placementGroups.first { $0.name == reference.name }.map { $0.count > 1 } ?? false
        guard let id = groupIDs[counted ? "\(reference.name)[\(instance)]" : reference.name] else { return resources }
        return resources.inGroup(id, bundle: reference.bundle.index(forInstance: instance))
    }

    /// The program removes group `name` (a fault, or its end): every group a counted entry made.
    func removePlacementGroup(_ name: String) -> String? {
        let names = scenario.workload.placementGroups.first { $0.name == name }?.instanceNames ?? [name]
        let details = names.compactMap { name -> String? in
            guard let id = groupIDs[name], groupsRemoved.insert(name).inserted else { return nil }
            return world.removePlacementGroup(id)
        }
        return details.isEmpty ? nil : details.joined(separator: "; ")
    }

    /// The program's end removes the groups it did not remove, in file order.
    func removePlacementGroups() {
        for group in scenario.workload.placementGroups { _ = removePlacementGroup(group.name) }
    }

    /// The live node holding bundle `index` of group `name`, as the program last heard.
    func bundleNode(_ name: String, _ index: Int) -> NodeID? {
        guard let id = groupIDs[name], let info = world.placementGroupInfo(id), info.state == .created,
              index < info.nodes.count else { return nil }
        return world.liveNode(named: world.nodeName(info.nodes[index])) == nil ? nil : info.nodes[index]
    }

    /// The program's groups by name with their ID and strategy (for a world's own checks).
    public var placementGroupStrategies: [(name: String, id: PlacementGroupID, strategy: PlacementStrategy)] {
        scenario.workload.placementGroups.flatMap { group in
            group.instanceNames.compactMap { name in groupIDs[name].map { (name, $0, group.strategy) } }
        }
    }

    /// A created STRICT_SPREAD group never has two bundles on one node, nor a STRICT_PACK group
    /// bundles on two, as the program hears the GCS (a safety failure otherwise). A world calls
    /// it whenever it looks; the simulator also checks every raylet after every step.
    public func checkPlacementGroups() {
        for (name, id, strategy) in placementGroupStrategies where strategy == .strictSpread || strategy == .strictPack {
            guard let info = world.placementGroupInfo(id), info.state == .created else { continue }
            let nodes = Set(info.nodes)
            if strategy == .strictSpread && nodes.count < info.nodes.count {
                noteWrongValue("STRICT_SPREAD group \(name) (\(id)) has two bundles on one node: \(info.nodes)")
            } else if strategy == .strictPack && nodes.count > 1 {
                noteWrongValue("STRICT_PACK group \(name) (\(id)) has bundles on several nodes: \(info.nodes)")
            }
        }
    }
}
