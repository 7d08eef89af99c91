// Reference counting and lineage (Ray's reference_count.cc): an object is in
// scope while the program holds a handle, a pending task takes it as an
// argument, or a borrower holds it. Out of scope, its copies are freed; its
// entry and its producing task's spec stay only while lineage needs them.

extension Owner {
    /// Frees `object`'s copies if nothing references it; drops its entry if no lineage needs it.
    mutating func releaseIfUnused(_ object: ObjectID, into effects: inout [OwnerEffect]) {
        guard objects.peek(object, { !$0.inScope }) == true, var entry = objects[object] else { return }
        precondition(entry.localRefs >= 0 && entry.submittedRefs >= 0 && entry.lineageRefs >= 0,
                     "negative reference count for \(object)")
        if !entry.freed {
            entry.freed = true
            if !actors.isEmpty && object.index == 1 { actorHandleReleased(ActorID(creationTask: object.task), into: &effects) }
            for node in entry.locations where !deadNodes.contains(node) {
                effects.append(.send(to: .raylet(node), .freeObject(object)))
            }
            entry.locations = []
            if let raylets = locationWaiters.removeValue(forKey: object) {
                for node in raylets { effects.append(.send(to: .raylet(node), .objectLocation(object, .freed))) }
            }
            if let count = getWaiters.removeValue(forKey: object) {
                let error = RayError(.objectLost,
                    "\(object) was released while a get of it was waiting; keep a handle until get returns")
                answer(count, gets: object, with: .error(error), into: &effects)
            }
            if !borrowerWaiters.isEmpty { answerBorrowers(object, into: &effects) }
            // The references its value held are no longer held by it.
            let held = entry.contains
            entry.contains = []
            objects[object] = entry
            for borrowedObject in held { containerGone(borrowedObject, into: &effects) }
            guard let current = objects[object] else { return }
            entry = current
        }
        if entry.lineageRefs == 0 && isFinal(object) {
            objects[object] = nil
        } else {
            objects[object] = entry
        }
        if !object.isPut { releaseLineageIfUnused(object.task, into: &effects) }
    }

    /// True unless the object's producing task is still to run (its entry must stay to receive the result).
    private func isFinal(_ object: ObjectID) -> Bool {
        guard let task = tasks[object.task] else { return true }
        switch task.state {
        case .finished, .failed: return true
        default: return false
        }
    }

    /// Drops the spec of `task` (and, transitively, of tasks only it needed) once no return is referenced.
    mutating func releaseLineageIfUnused(_ task: TaskID, into effects: inout [OwnerEffect]) {
        // Once per released object: nothing allocated, no entry copied, unless lineage goes.
        var worklist: [TaskID] = []
        var next: TaskID? = task
        while let id = next ?? worklist.popLast() {
            next = nil
            guard let returns = tasks.peek(id, { $0.state.isEnded ? $0.spec.returnIDs : nil }) ?? nil,
                  !returns.contains(where: { objects.peek($0) { $0.inScope || $0.lineageRefs > 0 } ?? false }),
                  let entry = tasks.removeValue(forKey: id) else { continue }
            dropLineage(id, entry.spec, worklist: &worklist, into: &effects)
        }
    }

    /// Forgets task `id` (removed from `tasks` by the caller) and what only its lineage held.
    private mutating func dropLineage(_ id: TaskID, _ spec: TaskSpec, worklist: inout [TaskID], into effects: inout [OwnerEffect]) {
        lineageBytes -= Int64(spec.approximateSizeBytes)
        for object in spec.returnIDs where objects.peek(object, { $0.freed && $0.lineageRefs == 0 }) ?? false {
            objects[object] = nil
        }
        for object in spec.argumentObjects {
            guard var entry = objects[object] else {
                borrowedArgumentDone(object, lineage: true, into: &effects)
                continue
            }
            entry.lineageRefs -= 1
            precondition(entry.lineageRefs >= 0, "negative lineage count for \(object)")
            if entry.lineageRefs == 0 && !entry.inScope && entry.freed {
                objects[object] = nil
                if !object.isPut { worklist.append(object.task) }
            } else {
                objects[object] = entry
            }
        }
    }

    /// Keeps lineage under `lineageBytesMax`: beyond it, the oldest finished
    /// half is evicted and its objects can no longer be rebuilt (Ray's max_lineage_bytes).
    mutating func evictLineageIfNeeded(into effects: inout [OwnerEffect]) {
        guard lineageBytes > config.lineageBytesMax else { return }
        var worklist: [TaskID] = []
        while lineageBytes > config.lineageBytesMax / 2, let id = lineageOrder.popFirst() {
            guard tasks.peek(id, { $0.state.isEnded }) == true, let entry = tasks.removeValue(forKey: id) else { continue }
            metrics.lineageEvictions += 1
            dropLineage(id, entry.spec, worklist: &worklist, into: &effects)
        }
        // Producers whose last consumer was just evicted may now be unneeded too.
        for id in worklist { releaseLineageIfUnused(id, into: &effects) }
    }

    /// Keeps the completion-order list of finished tasks from outgrowing the task table.
    mutating func compactLineageOrderIfNeeded() {
        guard lineageOrder.count > 1024 && lineageOrder.count > 2 * tasks.count else { return }
        lineageOrder.removeAll { tasks[$0] == nil }
    }
}

// MARK: - References inside put values

extension Owner {
    /// The program put a value holding references (`Ray.put([ref1, ref2])`): the value holds a
    /// handle of each owned one, and keeps this process's borrow of each borrowed one, until it
    /// is freed (`containerGone`). A reference neither owned nor borrowed here is not held (the
    /// API layer refuses to put it).
    mutating func hold(_ held: [ObjectID], in container: ObjectID) {
        guard objects.peek(container, { !$0.freed }) == true else { return }
        for object in held {
            if borrowed[object] != nil {
                borrowed[object]!.containers += 1
            } else if objects.peek(object, { !$0.freed && $0.localRefs > 0 }) == true {
                objects[object]!.localRefs += 1
            } else {
                continue
            }
            objects[container]!.contains.append(object)
        }
    }

    /// A task's (or call's) arguments, then a reference to each object an argument's value holds
    /// (a put value holding references, a returned value holding borrowed ones), and to what
    /// those hold in turn: the task depends on them and its worker fetches them with the
    /// arguments, so the body that decodes the value can read them (Ray's nested references).
    mutating func withHeldReferences(_ args: [TaskArg]) -> [TaskArg] {
        var added: [ObjectID] = []
        var next = 0
        func visit(_ object: ObjectID, _ owner: inout Owner) {
            guard let held = owner.objects.peek(object, { $0.contains.isEmpty ? nil : $0.contains }) ?? nil else { return }
            for inner in held where !added.contains(inner) && !args.contains(.reference(inner)) { added.append(inner) }
        }
        for arg in args {
            if case .reference(let object) = arg { visit(object, &self) }
        }
        guard !added.isEmpty else { return args }
        while next < added.count {
            visit(added[next], &self)
            next += 1
        }
        return args + added.map(TaskArg.reference)
    }
}
