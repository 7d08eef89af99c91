// A program's placement groups, as its owner sees them (issue 11): created and
// removed through the GCS, their state as the GCS publishes it. A task asking
// for the resources of a group this owner knows cannot hold it — removed, or
// infeasible (no set of live nodes satisfies it) — fails with
// PlacementGroupUnschedulable rather than waiting forever, as a task no node
// can fit fails with TaskUnschedulable: when it is submitted or retried, when it
// waits for a lease as the news comes, and when the removal killed its worker.

extension Owner {
    mutating func createPlacementGroup(_ bundles: [ResourceSet], strategy: PlacementStrategy, name: String,
                                       detached: Bool, into effects: inout [OwnerEffect]) {
        let id = PlacementGroupID(creationTask: ids.takeTask())
        placementGroups[id] = PlacementGroupInfo(id: id, state: .pending, nodes: bundles.map { _ in NodeID(0) },
                                                 cause: "", name: name)
        effects.append(.send(to: .gcs, .createPlacementGroup(PlacementGroupSpec(
            id: id, bundles: bundles, strategy: strategy, owner: workerID, name: name, detached: detached,
            job: identity.job))))
    }

    mutating func removePlacementGroup(_ id: PlacementGroupID, into effects: inout [OwnerEffect]) {
        guard let info = placementGroups[id], info.state != .removed else { return }
        effects.append(.send(to: .gcs, .removePlacementGroup(id)))
        // Removed as far as this program goes, now (the GCS's update confirms it).
        placementGroups[id]!.state = .removed
        placementGroups[id]!.cause = "removed by this program"
        placementGroups[id]!.nodes = info.nodes.map { _ in NodeID(0) }
        effects.append(.placementGroupUpdated(placementGroups[id]!))
        failTasksWaiting(in: id, into: &effects)
        resolveReadyObjects(of: id, into: &effects)
        // Its actors are killed for good (the GCS kills them): calls made from now on fail at once,
        // as after Ray.kill, rather than reach a worker that has not heard yet.
        let inGroup = actors.compactMap { $0.value.placementGroup == id ? $0.key : nil }.sorted()
        for actor in inGroup where actors[actor]!.info?.state != .dead && actors[actor]!.killedHere == nil {
            let reason = "its placement group \(id) was removed"
            actors[actor]!.killedHere = reason
            failPendingCalls(actor, cause: reason, into: &effects)
        }
    }

    /// An object that becomes `value` once group `id` is CREATED (at once if it is), or fails if it
    /// is removed first or is not one of this program's groups.
    mutating func placementGroupReady(_ id: PlacementGroupID, value: ObjectData, into effects: inout [OwnerEffect]) {
        let object = ids.takePut()
        var entry = ObjectEntry()
        entry.localRefs = 1
        objects[object] = entry
        groupReadyObjects[id, default: []].append((object, value))
        resolveReadyObjects(of: id, into: &effects)
    }

    /// The group's ready objects resolve once it is CREATED, or fail once it is removed (or unknown).
    mutating func resolveReadyObjects(of id: PlacementGroupID, into effects: inout [OwnerEffect]) {
        guard let waiting = groupReadyObjects[id] else { return }
        let info = placementGroups[id]
        let error: RayError?
        switch info?.state {
        case .created?: error = nil
        case .removed?: error = RayError(info!.removalKind, "\(id) was removed (\(info!.cause)) before it was ready")
        case nil: error = RayError(.placementGroupUnschedulable, "\(id) is not a placement group this process created")
        default: return
        }
        groupReadyObjects[id] = nil
        for (object, value) in waiting {
            guard let entry = objects[object], !entry.freed, case .pending = entry.state else { continue }
            objects[object]!.state = error.map { .failed($0) } ?? .inline(value)
            objectAvailable(object, into: &effects)
        }
    }

    /// The GCS published a group's state.
    mutating func placementGroupUpdated(_ info: PlacementGroupInfo, into effects: inout [OwnerEffect]) {
        // A removed group stays removed (an update sent before the removal arrives late).
        guard let known = placementGroups[info.id], known.state != .removed else { return }
        placementGroups[info.id] = info
        effects.append(.placementGroupUpdated(info))
        resolveReadyObjects(of: info.id, into: &effects)
        if info.state == .removed || info.cause.hasPrefix("infeasible") { failTasksWaiting(in: info.id, into: &effects) }
    }

    /// Why a task asking for `bundle` (nil: any) of `info`'s group cannot run now (nil: it can, or
    /// may yet): the group was removed, or cannot be placed (PENDING) — or, RESCHEDULING, the
    /// bundle lost with its node cannot be placed again (a surviving one still serves its tasks).
    func unschedulableGroup(_ info: PlacementGroupInfo, bundle: Int?) -> String? {
        if info.state == .removed { return "its placement group \(info.id) was removed (\(info.cause))" }
        guard info.cause.hasPrefix("infeasible") else { return nil }
        if info.state == .pending {
            return "its placement group \(info.id) cannot be placed: \(info.cause)"
        }
        if info.state == .rescheduling {
            let lost = bundle.map { $0 >= info.nodes.count || info.nodes[$0] == NodeID(0) }
                ?? !info.nodes.contains { $0 != NodeID(0) }
            if lost {
                return "its bundle of placement group \(info.id) was lost with its node and cannot be placed again: "
                    + info.cause
            }
        }
        return nil
    }

    /// The group of this owner's whose resources `resources` names, if any.
    func placementGroup(of resources: ResourceSet) -> PlacementGroupInfo? {
        guard !placementGroups.isEmpty else { return nil }
        for entry in resources.entries {
            guard let tag = entry.name.placementGroupTag else { continue }
            return placementGroups[PlacementGroupID(creationTask: TaskID(value: tag))]
        }
        return nil
    }

    /// The live node holding the bundle `spec` asks for, when it runs in a CREATED group of this
    /// owner's (nil: ask as for any task).
    func bundleNode(for spec: TaskSpec) -> NodeID? {
        guard !placementGroups.isEmpty, let group = placementGroup(of: spec.resources), group.state == .created else {
            return nil
        }
        let index = spec.resources.groupBundle(group.id).bundle
        let nodes = group.nodes
        guard !nodes.isEmpty else { return nil }
        let node = nodes[index.map { min($0, nodes.count - 1) } ?? Int(spec.taskID.value % UInt64(nodes.count))]
        return node == NodeID(0) || deadNodes.contains(node) ? nil : node
    }

    /// The error a task of `spec` fails with instead of asking for a lease (nil: it may ask).
    func placementGroupError(_ spec: TaskSpec) -> RayError? {
        guard let group = placementGroup(of: spec.resources),
              let reason = unschedulableGroup(group, bundle: spec.resources.groupBundle(group.id).bundle) else { return nil }
        return RayError(group.state == .removed ? group.removalKind : .placementGroupUnschedulable,
                        "\(spec.function)[\(spec.instance)] cannot be scheduled: \(reason)")
    }

    /// Tasks of `group` waiting for a lease fail: their requests are withdrawn.
    private mutating func failTasksWaiting(in group: PlacementGroupID, into effects: inout [OwnerEffect]) {
        let waiting = tasks.compactMap { id, entry -> TaskID? in
            guard case .leasing = entry.state, placementGroup(of: entry.spec.resources)?.id == group else { return nil }
            return id
        }.sorted()
        for id in waiting {
            guard let entry = tasks[id], case .leasing(let lease, let node) = entry.state,
                  let error = placementGroupError(entry.spec) else { continue }
            leaseTasks[lease] = nil
            if !isParked(lease) { effects.append(.send(to: .raylet(node), .cancelWorkerLease(lease))) }
            leaseRequestEnded(lease, into: &effects)
            finish(id, withError: error, into: &effects)
        }
    }
}

extension PlacementGroupInfo {
    /// What a removed group's tasks and ready objects fail with: QuotaExceeded for a group the GCS
    /// refused over its job's quota, PlacementGroupUnschedulable for any other removal.
    public var removalKind: RayErrorKind {
        RayErrorKind(rawValue: causeKind) ?? .placementGroupUnschedulable
    }
}
