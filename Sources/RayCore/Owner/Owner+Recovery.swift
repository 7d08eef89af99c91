// Object recovery (Ray's object_recovery_manager.cc): an object with no live
// copy is rebuilt by re-running the task that made it, recursively through
// lost arguments, within the task's max_retries; `put` objects cannot be
// rebuilt (ObjectLost); evicted lineage or used-up retries give
// ObjectReconstructionFailed. Also node death and the object directory.

extension Owner {
    /// Rebuilds `object` if it is stored, referenced, and has no live copy.
    mutating func recover(_ object: ObjectID, into effects: inout [OwnerEffect]) {
        guard let entry = objects[object], case .stored = entry.state, !hasLiveCopy(entry) else { return }
        if object.isPut {
            fail(object, RayError(.objectLost, "\(object) was created with put and every copy is gone "
                + "(its node died); put objects cannot be rebuilt from lineage"), into: &effects)
            return
        }
        guard let task = tasks[object.task] else {
            fail(object, RayError(.objectReconstructionFailed, "\(object) is lost and its lineage was evicted "
                + "(max_lineage_bytes); raise the limit or keep fewer objects alive"), into: &effects)
            return
        }
        guard case .finished = task.state else { return }  // running already: it will produce the object
        let name = "\(task.spec.function)[\(task.spec.instance)]"
        if task.retriesLeft == 0 {
            fail(object, RayError(.objectReconstructionFailed, "\(object) (returned by \(name)) is lost and "
                + "\(name) has no retries left (max_retries=\(task.spec.maxRetries))"), into: &effects)
            return
        }
        if task.retriesLeft > 0 { tasks[object.task]?.retriesLeft -= 1 }
        metrics.reconstructions += 1
        for returned in task.spec.returnIDs {
            guard var returnEntry = objects[returned], case .stored = returnEntry.state,
                  !hasLiveCopy(returnEntry) else { continue }
            returnEntry.state = .pending
            returnEntry.locations = []
            objects[returned] = returnEntry
        }
        for argument in task.spec.argumentObjects where objects[argument] != nil {
            objects[argument]!.submittedRefs += 1
            objects[argument]!.freed = false
        }
        waitForArguments(object.task, into: &effects)
    }

    /// The raylet of `node` refused to keep a put's value (`objectsRefused`): the object fails with
    /// why, if it is this owner's and its copy was to be there.
    mutating func putRefused(_ object: ObjectID, at node: NodeID, _ error: RayError, into effects: inout [OwnerEffect]) {
        guard let entry = objects[object], case .stored = entry.state, entry.locations.contains(node) else { return }
        fail(object, error, into: &effects)
    }

    private mutating func fail(_ object: ObjectID, _ error: RayError, into effects: inout [OwnerEffect]) {
        objects[object]?.state = .failed(error)
        objects[object]?.locations = []
        objectAvailable(object, into: &effects)
    }

    /// The GCS says `node` died: its leases, running attempts and copies are gone.
    mutating func nodeDied(_ node: NodeID, into effects: inout [OwnerEffect]) {
        guard deadNodes.insert(node).inserted else { return }
        borrowedOwnerDied(nil, node: node, into: &effects)
        // Copies first, so that tasks re-leased below see which arguments are gone.
        var lost: [ObjectID] = []
        for (object, entry) in objects where entry.locations.contains(node) { lost.append(object) }
        lost.sort()
        for object in lost {
            objects[object]?.locations.removeAll { $0 == node }
            if let entry = objects[object], !entry.freed, entry.inScope { recover(object, into: &effects) }
        }
        for lease in leaseTasks.keys.sorted() {
            guard let id = leaseTasks[lease], case .leasing(lease, node)? = tasks[id]?.state else { continue }
            leaseTasks[lease] = nil
            leaseRequestEnded(lease, into: &effects)
            tasks[id]?.spillbacks = 0
            waitForArguments(id, into: &effects)
        }
        for worker in runningOn.keys.sorted() where worker.node == node {
            guard let id = runningOn[worker] else { continue }
            attemptFailed(id, worker: worker, reason: "its node \(node) died", into: &effects)
        }
    }

    /// A raylet asks where `object` is; answer now, or once it exists again.
    mutating func locate(_ object: ObjectID, for node: NodeID, into effects: inout [OwnerEffect]) {
        guard let entry = objects[object], !entry.freed else {
            effects.append(.send(to: .raylet(node), .objectLocation(object, .freed)))
            return
        }
        switch entry.state {
        case .failed(let error):
            effects.append(.send(to: .raylet(node), .objectLocation(object, .failed(error))))
        case .inline:
            effects.append(.send(to: .raylet(node), .objectLocation(object, .failed(RayError(.objectLost,
                "\(object) is held inline by its owner, not in any object store")))))
        case .stored where hasLiveCopy(entry):
            effects.append(.send(to: .raylet(node), .objectLocation(object, .at(liveLocations(entry)))))
        case .stored, .pending:
            locationWaiters[object, default: []].append(node)
            recover(object, into: &effects)
        }
    }

    mutating func locationAdded(_ object: ObjectID, node: NodeID, into effects: inout [OwnerEffect]) {
        if var entry = objects[object], !entry.freed, case .pending = entry.state, let size = entry.storedSizeBytes,
           !deadNodes.contains(node) {
            // A copy that survived (it was in flight when its source died) ends the wait for the
            // rebuild; the rebuild's own result merges in when it comes.
            entry.state = .stored(sizeBytes: size)
            insertSorted(node, into: &entry.locations)
            objects[object] = entry
            objectAvailable(object, into: &effects)
            return
        }
        guard var entry = objects[object], !entry.freed, case .stored = entry.state, !deadNodes.contains(node) else {
            // Nobody tracks this copy: drop it so it cannot leak.
            effects.append(.send(to: .raylet(node), .freeObject(object)))
            return
        }
        let hadLiveCopy = hasLiveCopy(entry)
        insertSorted(node, into: &entry.locations)
        objects[object] = entry
        // Every known copy was on dead nodes: tasks and gets waiting for it may go on now.
        if !hadLiveCopy { objectAvailable(object, into: &effects) }
    }

    mutating func locationRemoved(_ object: ObjectID, node: NodeID, into effects: inout [OwnerEffect]) {
        guard var entry = objects[object] else { return }
        entry.locations.removeAll { $0 == node }
        objects[object] = entry
        if !entry.freed && entry.inScope { recover(object, into: &effects) }
    }
}
