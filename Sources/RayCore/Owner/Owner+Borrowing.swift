// References returned by tasks (Ray's nested references in return values and
// the borrower protocol for them, reference_count.cc): a body that returns
// references to objects its worker owns makes the task's owner a borrower of
// each. The owner of an object keeps it while a borrower holds it; a borrower
// holds a returned reference while the value that holds it lives, or while the
// program keeps a handle read from that value, and then sends
// `borrowReleased`. A borrower gets a borrowed value from its owner
// (`borrowerGet`: the inline value or error, or where a stored one is, which
// it then fetches through its raylet). When the owner dies, every borrower's
// gets of its objects fail with OwnerDied (Ray: "ownership is not recovered").

/// An object this owner borrows: owned by another worker, held through a returned value.
public struct BorrowedEntry: Hashable, Sendable {
    /// The worker whose owner owns it.
    public var owner: WorkerID
    /// Handles the program holds (read from a value that holds the reference).
    public var handles = 0
    /// Objects owned here whose values hold it.
    public var containers = 0
    /// Its inline value, or the error standing for it, once known.
    public var value: ObjectValue?
    /// Tasks of this owner that take it as an argument and are still to run, and retained
    /// lineage entries of tasks that take it (a rebuild would need it again).
    public var submitted = 0
    public var lineage = 0
    /// A `borrowerGet` is out to the owner.
    public internal(set) var asked = false
    /// Workers that borrow it from this borrower (a reference it passed on to their tasks): it
    /// keeps its own borrow while they hold theirs (borrowers of borrowers, chained).
    public var subBorrowers: [WorkerID] = []
    /// The owner said it is stored: gets fetch it through the local raylet.
    public internal(set) var stored = false
    /// Where the owner last said copies are (a stored object).
    public internal(set) var locations: [NodeID] = []

    public init(owner: WorkerID) {
        self.owner = owner
    }
}

extension Owner {
    // MARK: - The owner's side

    /// A body's return values hold references to `objects` (owned here) for `borrower`: the
    /// handle the body kept for each becomes `borrower`'s borrow.
    mutating func lend(_ objects: [ObjectID], to borrower: WorkerID, into effects: inout [OwnerEffect]) {
        for object in objects {
            guard var entry = self.objects[object], entry.localRefs > 0 else { continue }
            entry.localRefs -= 1
            if !deadWorkers.contains(borrower) && !entry.borrowers.contains(borrower) {
                entry.borrowers.append(borrower)
            }
            self.objects[object] = entry
            releaseIfUnused(object, into: &effects)
        }
    }

    /// A borrower asked for an object owned here: its value or location now, or once it exists.
    /// For one borrowed here (passed on to the asker's task), what this process knows, or once
    /// its own owner answered.
    mutating func borrowerAsked(_ object: ObjectID, borrower: WorkerID, into effects: inout [OwnerEffect]) {
        if objects[object] == nil, let entry = borrowed[object] {
            if let value = entry.value {
                effects.append(.send(to: .worker(borrower), .ownedValue(object, value)))
            } else if entry.stored, !entry.locations.filter({ !deadNodes.contains($0) }).isEmpty {
                effects.append(.send(to: .worker(borrower), .objectLocation(object, .at(entry.locations))))
            } else {
                if !(borrowerWaiters[object]?.contains(borrower) ?? false) { borrowerWaiters[object, default: []].append(borrower) }
                askOwner(object, into: &effects)
            }
            return
        }
        guard let entry = objects[object], !entry.freed else {
            effects.append(.send(to: .worker(borrower), .ownedValue(object, .error(RayError(.objectLost,
                "\(object) was already released by its owner \(workerID)")))))
            return
        }
        switch entry.state {
        case .inline(let data):
            effects.append(.send(to: .worker(borrower), .ownedValue(object, .data(data))))
        case .failed(let error):
            effects.append(.send(to: .worker(borrower), .ownedValue(object, .error(error))))
        case .stored where hasLiveCopy(entry):
            effects.append(.send(to: .worker(borrower), .objectLocation(object, .at(liveLocations(entry)))))
        case .stored, .pending:
            if !(borrowerWaiters[object]?.contains(borrower) ?? false) { borrowerWaiters[object, default: []].append(borrower) }
            if case .stored = entry.state { recover(object, into: &effects) }
        }
    }

    /// Answers borrowers waiting for `object`, now that it exists (or failed).
    mutating func answerBorrowers(_ object: ObjectID, into effects: inout [OwnerEffect]) {
        guard let borrowers = borrowerWaiters.removeValue(forKey: object) else { return }
        for borrower in borrowers { borrowerAsked(object, borrower: borrower, into: &effects) }
    }

    // MARK: - The borrower's side

    /// A worker announced that the return values of `attempt` of `task` hold references it owns.
    mutating func referencesReturned(_ task: TaskID, attempt: Int, objects: [ObjectID], indices: [Int],
                                     by worker: WorkerID, into effects: inout [OwnerEffect]) {
        // From the worker running that attempt: a task's, or the actor's for a call in flight.
        let fromRunner: Bool
        switch tasks[task]?.state {
        case .running(_, let runner)?: fromRunner = runner == worker
        case .actorCall(let actor)?:
            fromRunner = actors[actor]?.info?.worker == worker && actors[actor]?.inFlight.contains(task) == true
        default: fromRunner = false
        }
        guard fromRunner, let entry = tasks[task], entry.attempts == attempt, objects.count == indices.count else {
            // Not the attempt waited for: nothing will hold them.
            for object in objects { sendBorrowReleased(object, owner: worker, into: &effects) }
            return
        }
        if let earlier = pendingReturned.removeValue(forKey: task) {
            for object in earlier.objects { sendBorrowReleased(object, owner: earlier.owner, into: &effects) }
        }
        pendingReturned[task] = (attempt, objects, indices, worker)
    }

    /// The reply of `attempt` of `task` was handled (`completed`: its values were stored here):
    /// the references they hold are now held by them, or released.
    mutating func settleReturned(_ task: TaskID, attempt: Int, completed: Bool, into effects: inout [OwnerEffect]) {
        guard let pending = pendingReturned[task], pending.attempt == attempt else { return }
        pendingReturned[task] = nil
        guard completed else {
            for object in pending.objects { sendBorrowReleased(object, owner: pending.owner, into: &effects) }
            return
        }
        // A value made again (a rebuild) holds the new attempt's references, not the earlier ones.
        for index in Set(pending.indices).sorted() {
            let container = ObjectID.returnValue(of: task, index: UInt32(max(1, index)))
            guard let earlier = objects[container]?.contains, !earlier.isEmpty else { continue }
            objects[container]!.contains = []
            for held in earlier { containerGone(held, into: &effects) }
        }
        for (object, index) in zip(pending.objects, pending.indices) {
            let container = ObjectID.returnValue(of: task, index: UInt32(max(1, index)))
            guard let entry = objects[container], !entry.freed else {
                sendBorrowReleased(object, owner: pending.owner, into: &effects)
                continue
            }
            objects[container]!.contains.append(object)
            if objects[object] != nil {
                // A reference this process owns, passed to the task and returned: the value holds it
                // as a handle (the task's worker lent nothing).
                objects[object]!.localRefs += 1
                continue
            }
            // Borrowed here already (passed to the task and returned), or lent by the task's worker.
            if borrowed[object] == nil { borrowed[object] = BorrowedEntry(owner: pending.owner) }
            borrowed[object]!.containers += 1
        }
    }

    /// A task failed for good: references its last attempt announced are released.
    mutating func dropReturned(_ task: TaskID, into effects: inout [OwnerEffect]) {
        guard let pending = pendingReturned.removeValue(forKey: task) else { return }
        for object in pending.objects { sendBorrowReleased(object, owner: pending.owner, into: &effects) }
    }

    /// An owned value that held `object` was freed.
    mutating func containerGone(_ object: ObjectID, into effects: inout [OwnerEffect]) {
        if borrowed[object] == nil, let entry = objects[object], entry.localRefs > 0 {
            objects[object]!.localRefs -= 1  // Owned here: the value held it as a handle.
            releaseIfUnused(object, into: &effects)
            return
        }
        guard borrowed[object] != nil else { return }
        borrowed[object]!.containers -= 1
        releaseBorrowedIfUnused(object, into: &effects)
    }

    /// The program dropped a handle to a borrowed object.
    mutating func releaseBorrowedHandle(_ object: ObjectID, into effects: inout [OwnerEffect]) {
        guard let entry = borrowed[object], entry.handles > 0 else { return }
        borrowed[object]!.handles -= 1
        releaseBorrowedIfUnused(object, into: &effects)
    }

    /// A task that took a borrowed object as an argument ran (or its lineage went).
    mutating func borrowedArgumentDone(_ object: ObjectID, lineage: Bool, into effects: inout [OwnerEffect]) {
        guard borrowed[object] != nil else { return }
        if lineage { borrowed[object]!.lineage -= 1 } else { borrowed[object]!.submitted -= 1 }
        releaseBorrowedIfUnused(object, into: &effects)
    }

    /// True when a borrowed object can be used as an argument now: its value (or error) is
    /// known, or where its copies are.
    func borrowedExists(_ object: ObjectID) -> Bool {
        guard let entry = borrowed[object] else { return true }
        return entry.value != nil || !entry.locations.filter { !deadNodes.contains($0) }.isEmpty
    }

    /// Asks a borrowed object's owner for its value or where it is (once at a time).
    mutating func askOwner(_ object: ObjectID, into effects: inout [OwnerEffect]) {
        guard let entry = borrowed[object], !entry.asked, entry.value == nil else { return }
        borrowed[object]!.asked = true
        effects.append(.send(to: .worker(entry.owner), .borrowerGet(object)))
    }

    /// A raylet asks where a borrowed object is (to fetch it for a task of this owner): asked of
    /// its owner, answered when the owner answers.
    mutating func locateBorrowed(_ object: ObjectID, for node: NodeID, into effects: inout [OwnerEffect]) {
        guard let entry = borrowed[object] else { return }
        if case .error(let error)? = entry.value {
            effects.append(.send(to: .raylet(node), .objectLocation(object, .failed(error))))
            return
        }
        if !(locationWaiters[object]?.contains(node) ?? false) { locationWaiters[object, default: []].append(node) }
        borrowed[object]!.locations = []  // The raylet found none of them: ask again.
        askOwner(object, into: &effects)
    }

    /// Answers what waits on a borrowed object once its owner answered: tasks taking it, and
    /// raylets asking where it is.
    private mutating func borrowedKnown(_ object: ObjectID, into effects: inout [OwnerEffect]) {
        if !dependents.isEmpty, let waiting = dependents.removeValue(forKey: object) {
            for task in waiting { argumentAvailable(task, into: &effects) }
        }
        if !pendingConstructors.isEmpty { constructorArgumentsChanged(into: &effects) }
        guard let raylets = locationWaiters.removeValue(forKey: object), let entry = borrowed[object] else { return }
        let answer: LocationAnswer
        switch entry.value {
        case .error(let error)?: answer = .failed(error)
        case .data?: answer = .failed(RayError(.objectLost, "\(object) is held inline by its owner, not in any object store"))
        case nil: answer = .at(entry.locations)
        }
        for node in raylets { effects.append(.send(to: .raylet(node), .objectLocation(object, answer))) }
    }

    /// A worker this process passed a borrowed reference on to holds it (its task's reply said so).
    mutating func subBorrowerHolds(_ object: ObjectID, _ worker: WorkerID) {
        guard objects[object] == nil, borrowed[object] != nil, !deadWorkers.contains(worker),
              !borrowed[object]!.subBorrowers.contains(worker) else { return }
        borrowed[object]!.subBorrowers.append(worker)
    }

    /// That worker let go of it: this process may let go of its own borrow.
    mutating func subBorrowerReleased(_ object: ObjectID, _ worker: WorkerID, into effects: inout [OwnerEffect]) {
        guard objects[object] == nil, borrowed[object] != nil else { return }
        borrowed[object]!.subBorrowers.removeAll { $0 == worker }
        releaseBorrowedIfUnused(object, into: &effects)
    }

    private mutating func releaseBorrowedIfUnused(_ object: ObjectID, into effects: inout [OwnerEffect]) {
        guard let entry = borrowed[object], entry.handles <= 0, entry.containers <= 0, entry.submitted <= 0,
              entry.lineage <= 0, entry.subBorrowers.isEmpty else { return }
        borrowed[object] = nil
        if let count = getWaiters.removeValue(forKey: object) {
            answer(count, gets: object, with: .error(RayError(.objectLost,
                "\(object) was released while a get of it was waiting; keep a handle until get returns")), into: &effects)
        }
        sendBorrowReleased(object, owner: entry.owner, into: &effects)
    }

    private func sendBorrowReleased(_ object: ObjectID, owner: WorkerID, into effects: inout [OwnerEffect]) {
        guard !deadWorkers.contains(owner), !deadNodes.contains(owner.node) else { return }
        effects.append(.send(to: .worker(owner), .borrowReleased(object, borrower: workerID)))
    }

    /// Answers `count` gets of a borrowed object: from what is known, or by asking its owner.
    mutating func getBorrowed(_ object: ObjectID, count: Int, into effects: inout [OwnerEffect]) {
        guard let entry = borrowed[object] else { return }
        if let value = entry.value {
            answer(count, gets: object, with: value, into: &effects)
            return
        }
        if entry.stored {
            fetchBorrowed(object, count: count, into: &effects)
            return
        }
        getWaiters[object, default: 0] += count
        askOwner(object, into: &effects)
    }

    /// The owner sent a borrowed object's inline value (or its error).
    mutating func borrowedValueArrived(_ object: ObjectID, _ value: ObjectValue, into effects: inout [OwnerEffect]) {
        guard borrowed[object] != nil else { return }
        borrowed[object]!.value = value
        borrowed[object]!.asked = false
        if let count = getWaiters.removeValue(forKey: object) { answer(count, gets: object, with: value, into: &effects) }
        borrowedKnown(object, into: &effects)
        if !borrowerWaiters.isEmpty { answerBorrowers(object, into: &effects) }  // Its sub-borrowers asked.
    }

    /// The owner said a borrowed object is stored: waiting gets fetch it through the local raylet
    /// (which asks the owner where it is).
    mutating func borrowedIsStored(_ object: ObjectID, at nodes: [NodeID], into effects: inout [OwnerEffect]) {
        guard borrowed[object] != nil else { return }
        borrowed[object]!.stored = true
        borrowed[object]!.asked = false
        borrowed[object]!.locations = nodes
        if let count = getWaiters.removeValue(forKey: object) { fetchBorrowed(object, count: count, into: &effects) }
        borrowedKnown(object, into: &effects)
        if !borrowerWaiters.isEmpty { answerBorrowers(object, into: &effects) }  // Its sub-borrowers asked.
    }

    private mutating func fetchBorrowed(_ object: ObjectID, count: Int, into effects: inout [OwnerEffect]) {
        guard let entry = borrowed[object] else { return }
        fetchForGets(object, count: count, owner: entry.owner, into: &effects)
    }

    /// `worker` died (or its node did): what it owned and this owner borrows is lost for good.
    mutating func borrowedOwnerDied(_ worker: WorkerID?, node: NodeID? = nil, into effects: inout [OwnerEffect]) {
        for object in borrowed.keys.sorted() {
            guard let entry = borrowed[object], entry.owner == worker || entry.owner.node == node else { continue }
            if case .data? = entry.value { continue }  // Already here: a get needs nothing from the owner.
            let error = RayError(.ownerDied, "\(object) was owned by \(entry.owner), which died; "
                + "an object's owner is the process that made it (here a task's worker), and its objects "
                + "cannot outlive it")
            borrowed[object]!.value = .error(error)
            borrowed[object]!.stored = false
            borrowed[object]!.asked = false
            borrowed[object]!.locations = []
            if let count = getWaiters.removeValue(forKey: object) { answer(count, gets: object, with: .error(error), into: &effects) }
            borrowedKnown(object, into: &effects)
        }
    }
}
