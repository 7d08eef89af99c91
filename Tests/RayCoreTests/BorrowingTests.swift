// The borrower protocol for references a task returns (Ray's nested references
// in return values): the worker's owner lends what its body returns to the
// task's owner; that owner borrows each while the value holding it, or a
// handle read from that value, lives, gets it from its owner, and gets
// OwnerDied once the owner is gone.

import Testing
@testable import RayCore

private let driver = Build.worker(1, 100)
private let lender = Build.worker(2, 1)

/// A driver whose task `P` ran on `lender`, and the lender's owner holding one put object
/// `c` (inline) that P's body returns.
private struct Pair {
    var driverOwner = Owner()
    var workerOwner = Owner()
    var task = TaskID(value: 0)
    var lease = LeaseID(owner: driver, index: 0)
    var held = ObjectID.put(by: TaskID(value: 1), index: 1)
    let value = Build.data(16, digest: 42)

    init() {
        _ = driverOwner.handle(.started(RayConfig(), OwnerIdentity(worker: driver, job: JobID(1))), now: 0)
        task = driverOwner.nextTaskID
        let effects = driverOwner.handle(.submitTask(Build.task()), now: 1)
        guard case .send(_, .requestWorkerLease(let request))? = effects.first else {
            Issue.record("no lease request")
            return
        }
        lease = request.leaseID
        _ = driverOwner.handle(.messageReceived(from: .raylet(NodeID(1)), .leaseGranted(lease, worker: lender)), now: 2)
        _ = workerOwner.handle(.startedInWorker(RayConfig(), OwnerIdentity(worker: lender, job: JobID(1))), now: 3)
        _ = workerOwner.handle(.taskStarted(task, attempt: 1), now: 4)
        held = workerOwner.nextPutID
        _ = workerOwner.handle(.put(value, node: nil), now: 5)
    }

    var returned: ObjectID { .returnValue(of: task, index: 1) }

    /// P's body returns a value holding `held`: lent, announced, replied.
    mutating func returnTheReference(attempt: Int = 1) -> [OwnerEffect] {
        _ = workerOwner.handle(.lend([held], to: driver), now: 10)
        var effects = fromLender(.returnedReferences(task, attempt: attempt, objects: [held], returnIndices: [1]), now: 11)
        effects += fromLender(.taskReply(task, attempt: attempt, .returned([.inline(Build.data(8))]), borrowed: []), now: 12)
        return effects
    }

    mutating func fromLender(_ message: Message, now: Int64) -> [OwnerEffect] {
        driverOwner.handle(.messageReceived(from: .worker(lender), message), now: now)
    }

    /// Delivers what the driver sent the lender, and returns what the lender answered.
    mutating func toLender(_ effects: [OwnerEffect], now: Int64) -> [OwnerEffect] {
        var answers: [OwnerEffect] = []
        for case .send(.worker(lender), let message) in effects {
            answers += workerOwner.handle(.messageReceived(from: .worker(driver), message), now: now)
        }
        return answers
    }
}

@Test func aReturnedReferenceIsBorrowedUntilItsValueAndHandlesGo() {
    var pair = Pair()
    #expect(pair.workerOwner.objects[pair.held]?.localRefs == 1)
    _ = pair.returnTheReference()
    // The lender's handle became the driver's borrow; the driver's value holds it.
    #expect(pair.workerOwner.objects[pair.held]?.localRefs == 0)
    #expect(pair.workerOwner.objects[pair.held]?.borrowers == [driver])
    #expect(pair.driverOwner.objects[pair.returned]?.contains == [pair.held])
    #expect(pair.driverOwner.borrowed[pair.held]?.containers == 1)

    // The program reads the reference out of the value, and gets it: asked of its owner.
    _ = pair.driverOwner.handle(.addReference(pair.held), now: 20)
    let asked = pair.driverOwner.handle(.get(pair.held), now: 21)
    #expect(asked == [.send(to: .worker(lender), .borrowerGet(pair.held))])
    let answered = pair.toLender(asked, now: 22)
    #expect(answered == [.send(to: .worker(driver), .ownedValue(pair.held, .data(pair.value)))])
    #expect(pair.fromLender(.ownedValue(pair.held, .data(pair.value)), now: 23) == [.getResolved(pair.held, .data(pair.value))])
    // A later get answers at once.
    #expect(pair.driverOwner.handle(.get(pair.held), now: 24) == [.getResolved(pair.held, .data(pair.value))])

    // The value that held it goes: the handle still holds it.
    let releasedValue = pair.driverOwner.handle(.release(pair.returned), now: 30)
    #expect(!releasedValue.contains(.send(to: .worker(lender), .borrowReleased(pair.held, borrower: driver))))
    #expect(pair.driverOwner.borrowed[pair.held]?.handles == 1)
    // The handle goes: released to the owner, which frees it.
    let releasedHandle = pair.driverOwner.handle(.release(pair.held), now: 31)
    #expect(releasedHandle == [.send(to: .worker(lender), .borrowReleased(pair.held, borrower: driver))])
    #expect(pair.driverOwner.borrowed.isEmpty)
    _ = pair.toLender(releasedHandle, now: 32)
    #expect(pair.workerOwner.objects[pair.held].map { $0.freed } ?? true)
}

@Test func aBorrowersGetsFailWithOwnerDiedOnceTheOwnerDies() {
    var pair = Pair()
    _ = pair.returnTheReference()
    _ = pair.driverOwner.handle(.addReference(pair.held), now: 20)
    #expect(pair.driverOwner.handle(.get(pair.held), now: 21) == [.send(to: .worker(lender), .borrowerGet(pair.held))])
    // The lender dies before it answers: the waiting get, and any later one, fail with OwnerDied.
    let died = pair.driverOwner.handle(.workerDied(lender, detail: "killed by signal 9 (Killed)"), now: 22)
    let failed = died.compactMap { effect -> RayErrorKind? in
        guard case .getResolved(pair.held, .error(let error)) = effect else { return nil }
        return error.kind
    }
    #expect(failed == [.ownerDied])
    let later = pair.driverOwner.handle(.get(pair.held), now: 23)
    guard case .getResolved(_, .error(let error))? = later.first else {
        Issue.record("expected an error, got \(later)")
        return
    }
    #expect(error.kind == .ownerDied && error.message.contains("\(lender)"))
    // Releasing them sends nothing to the dead owner, and forgets them.
    _ = pair.driverOwner.handle(.release(pair.returned), now: 24)
    #expect(pair.driverOwner.handle(.release(pair.held), now: 25) == [])
    #expect(pair.driverOwner.borrowed.isEmpty)
}

@Test func referencesAnnouncedForAnotherAttemptOrAFailedReplyAreReleased() {
    var pair = Pair()
    _ = pair.workerOwner.handle(.lend([pair.held], to: driver), now: 10)
    // An announcement for an attempt the driver does not wait for: released at once.
    #expect(pair.fromLender(.returnedReferences(pair.task, attempt: 2, objects: [pair.held], returnIndices: [1]), now: 11)
        == [.send(to: .worker(lender), .borrowReleased(pair.held, borrower: driver))])
    // Announced by the running attempt, then its reply is an application error: released too.
    _ = pair.fromLender(.returnedReferences(pair.task, attempt: 1, objects: [pair.held], returnIndices: [1]), now: 12)
    let replied = pair.fromLender(.taskReply(pair.task, attempt: 1, .applicationError("boom"), borrowed: []), now: 13)
    #expect(replied.contains(.send(to: .worker(lender), .borrowReleased(pair.held, borrower: driver))))
    #expect(pair.driverOwner.borrowed.isEmpty)
}

@Test func aStoredBorrowedObjectIsFetchedThroughTheLocalRayletFromItsOwner() {
    var pair = Pair()
    _ = pair.returnTheReference()
    _ = pair.driverOwner.handle(.addReference(pair.held), now: 20)
    _ = pair.driverOwner.handle(.get(pair.held), now: 21)
    let fetch = pair.fromLender(.objectLocation(pair.held, .at([NodeID(2)])), now: 22)
    guard case .send(.raylet(NodeID(1)), .fetchObjects(let requestID, [pair.held], lender))? = fetch.first else {
        Issue.record("expected a fetch from the local raylet on behalf of the owner, got \(fetch)")
        return
    }
    let value = Build.data(500_000, digest: 3)
    let ready = pair.driverOwner.handle(.messageReceived(from: .raylet(NodeID(1)), .objectsReady(requestID: requestID, values: [.data(value)])), now: 23)
    #expect(ready.contains(.getResolved(pair.held, .data(value))))
}

@Test func anExecutorAnnouncesReturnedReferencesJustBeforeItsReply() {
    var executor = Executor()
    let worker = Build.worker(2, 3), owner = Build.worker(1, 100)
    _ = executor.handle(.started(RayConfig(), worker), now: 0)
    let spec = Build.spec(1, owner: owner)
    _ = executor.handle(.messageReceived(from: .worker(owner), .pushTask(spec, attempt: 1, lease: LeaseID(owner: owner, index: 1), args: [])), now: 1)
    let held = ObjectID.put(by: TaskID(value: 9), index: 1)
    #expect(executor.handle(.returnsHold(spec.taskID, attempt: 1, objects: [held], returnIndices: [1]), now: 2) == [])
    let effects = executor.handle(.executionFinished(spec.taskID, attempt: 1, .returned([Build.data(8)])), now: 3)
    #expect(effects == [
        .send(to: .worker(owner), .returnedReferences(spec.taskID, attempt: 1, objects: [held], returnIndices: [1])),
        .send(to: .worker(owner), .taskReply(spec.taskID, attempt: 1, .returned([.inline(Build.data(8))]), borrowed: [])),
    ])
}

@Test func aTaskTakingAReferenceItCannotPassFailsAtOnceWithoutACrash() {
    var pair = Pair()
    _ = pair.returnTheReference()
    var request = Build.task()
    request.args = [.nestedReference(pair.held)]  // Inside a value: a borrower of a borrower.
    let task = pair.driverOwner.nextTaskID
    _ = pair.driverOwner.handle(.submitTask(request), now: 40)
    #expect(pair.driverOwner.tasks[task]?.state == .failed)
    let answer = pair.driverOwner.handle(.get(.returnValue(of: task, index: 1)), now: 41)
    guard case .getResolved(_, .error(let error))? = answer.first else {
        Issue.record("expected an error, got \(answer)")
        return
    }
    #expect(error.kind == .objectLost && error.message.contains("passing a borrowed reference inside a value"))
    // And one it never heard of.
    var other = Build.task()
    other.args = [.reference(ObjectID.put(by: TaskID(value: 4242), index: 1))]
    let unknown = pair.driverOwner.nextTaskID
    _ = pair.driverOwner.handle(.submitTask(other), now: 42)
    #expect(pair.driverOwner.tasks[unknown]?.state == .failed)
}

@Test func aBorrowedArgumentIsResolvedThroughItsOwner() {
    var pair = Pair()
    _ = pair.returnTheReference()
    _ = pair.driverOwner.handle(.addReference(pair.held), now: 20)
    // A task taking the borrowed object waits for its owner's answer, then pushes its value inline.
    var request = Build.task()
    request.args = [.reference(pair.held)]
    let task = pair.driverOwner.nextTaskID
    let asked = pair.driverOwner.handle(.submitTask(request), now: 21)
    #expect(asked == [.send(to: .worker(lender), .borrowerGet(pair.held))])
    #expect(pair.driverOwner.borrowed[pair.held]?.submitted == 1)
    let answered = pair.toLender(asked, now: 22)
    var effects: [OwnerEffect] = []
    for case .send(_, let message) in answered { effects += pair.fromLender(message, now: 23) }
    guard case .send(_, .requestWorkerLease(let lease))? = effects.first else {
        Issue.record("expected a lease request once the owner answered, got \(effects)")
        return
    }
    let worker = Build.worker(1, 5)
    let pushed = pair.driverOwner.handle(.messageReceived(from: .raylet(NodeID(1)), .leaseGranted(lease.leaseID, worker: worker)), now: 24)
    guard case .send(_, .pushTask(_, _, _, let args))? = pushed.first else {
        Issue.record("expected a push, got \(pushed)")
        return
    }
    #expect(args == [.inline(pair.value)])
    // Its run done and its handle dropped, the borrow is released (lineage aside: the task's value holds it).
    _ = pair.driverOwner.handle(.messageReceived(from: .worker(worker), .taskReply(task, attempt: 1, .returned([.inline(Build.data(8))]), borrowed: [])), now: 25)
    #expect(pair.driverOwner.borrowed[pair.held]?.submitted == 0)
    _ = pair.driverOwner.handle(.release(.returnValue(of: task, index: 1)), now: 26)
    _ = pair.driverOwner.handle(.release(pair.returned), now: 27)
    let released = pair.driverOwner.handle(.release(pair.held), now: 28)
    #expect(released.contains(.send(to: .worker(lender), .borrowReleased(pair.held, borrower: driver))))
}

@Test func aRayletLocatingABorrowedStoredArgumentIsAnsweredFromItsOwner() {
    var pair = Pair()
    _ = pair.returnTheReference()
    _ = pair.driverOwner.handle(.addReference(pair.held), now: 20)
    // The owner said it is stored on node 2.
    _ = pair.driverOwner.handle(.get(pair.held), now: 21)
    _ = pair.fromLender(.objectLocation(pair.held, .at([NodeID(2)])), now: 22)
    // A raylet fetching it for this owner's task asks where it is: the owner is asked again.
    let asked = pair.driverOwner.handle(.messageReceived(from: .raylet(NodeID(3)), .locateObject(pair.held)), now: 23)
    #expect(asked == [.send(to: .worker(lender), .borrowerGet(pair.held))])
    let answered = pair.fromLender(.objectLocation(pair.held, .at([NodeID(2), NodeID(4)])), now: 24)
    #expect(answered.contains(.send(to: .raylet(NodeID(3)), .objectLocation(pair.held, .at([NodeID(2), NodeID(4)])))))
    // A raylet that found no copy where it was told corrects the owner's directory, through the borrower.
    let removed = pair.driverOwner.handle(.messageReceived(from: .raylet(NodeID(3)), .locationRemoved(pair.held, node: NodeID(4))), now: 25)
    #expect(removed == [.send(to: .worker(lender), .locationRemoved(pair.held, node: NodeID(4)))])
}

// MARK: - Borrowers of borrowers: a body passes on a reference it received

/// The driver puts `o` (stored on node 1) and runs T on `lender` with `o` as an argument; T's
/// body passes `o` on to a child C of its own. The lender borrows `o` from the driver while C (and
/// C's lineage) needs it; T's reply says so, and the driver keeps `o` for the lender after T ends.
@Test func aReferencePassedOnIsKeptForTheWorkerThatPassedItOnUntilItLetsGo() {
    var driverOwner = Owner()
    _ = driverOwner.handle(.started(RayConfig(), OwnerIdentity(worker: driver, job: JobID(1))), now: 0)
    let o = driverOwner.nextPutID
    _ = driverOwner.handle(.put(Build.data(1 << 20), node: nil), now: 1)
    _ = driverOwner.handle(.messageReceived(from: .raylet(NodeID(1)), .objectsStored(requestID: 1)), now: 1)
    let task = driverOwner.nextTaskID
    let submitted = driverOwner.handle(.submitTask(Build.task(args: [.reference(o)])), now: 2)
    guard case .send(_, .requestWorkerLease(let request))? = submitted.last else {
        Issue.record("no lease request: \(submitted)")
        return
    }
    _ = driverOwner.handle(.messageReceived(from: .raylet(NodeID(1)), .leaseGranted(request.leaseID, worker: lender)), now: 3)

    // T's body passes `o` on: the lender borrows it from the driver and submits C with it.
    var workerOwner = Owner()
    _ = workerOwner.handle(.startedInWorker(RayConfig(), OwnerIdentity(worker: lender, job: JobID(1))), now: 4)
    _ = workerOwner.handle(.taskStarted(task, attempt: 1), now: 4)
    _ = workerOwner.handle(.borrowArgument(o, owner: driver), now: 5)
    let child = workerOwner.nextTaskID
    let asked = workerOwner.handle(.submitTask(Build.task(args: [.reference(o)])), now: 5)
    #expect(asked.contains(.send(to: .worker(driver), .borrowerGet(o))))
    #expect(workerOwner.borrowed[o]?.submitted == 1)

    // T ends while C still needs `o`: the reply lists it; the driver keeps it for the lender.
    _ = driverOwner.handle(.messageReceived(from: .worker(lender), .taskReply(
        task, attempt: 1, .returned([.inline(Build.data(8))]), borrowed: [o])), now: 6)
    #expect(driverOwner.objects[o]?.borrowers == [lender])
    let dropped = driverOwner.handle(.release(o), now: 7)
    #expect(!dropped.contains(.send(to: .raylet(NodeID(1)), .freeObject(o))))
    #expect(driverOwner.objects[o]?.freed == false)

    // C ran; its result is dropped (its lineage goes): the lender lets go, and the driver frees `o`.
    let located = workerOwner.handle(.messageReceived(from: .worker(driver), .objectLocation(o, .at([NodeID(1)]))), now: 8)
    guard case .send(_, .requestWorkerLease(let childRequest))? = located.last else {
        Issue.record("C was not leased once `o` was located: \(located)")
        return
    }
    _ = workerOwner.handle(.messageReceived(from: .raylet(NodeID(1)), .leaseGranted(
        childRequest.leaseID, worker: Build.worker(2, 9))), now: 9)
    _ = workerOwner.handle(.messageReceived(from: .worker(Build.worker(2, 9)), .taskReply(
        child, attempt: 1, .returned([.inline(Build.data(8))]), borrowed: [])), now: 10)
    let released = workerOwner.handle(.release(.returnValue(of: child, index: 1)), now: 11)
    #expect(released.contains(.send(to: .worker(driver), .borrowReleased(o, borrower: lender))))
    #expect(workerOwner.borrowed[o] == nil)
    let freed = driverOwner.handle(.messageReceived(from: .worker(lender), .borrowReleased(o, borrower: lender)), now: 12)
    #expect(freed.contains(.send(to: .raylet(NodeID(1)), .freeObject(o))))
}

/// A constructor taking a borrowed object: the actor waits for its owner's answer, gets its value
/// inline, and the creator keeps its borrow while the actor lives (a restart reads it again).
@Test func aBorrowedConstructorArgumentIsHeldWhileTheActorLives() {
    var pair = Pair()
    _ = pair.returnTheReference()
    _ = pair.driverOwner.handle(.addReference(pair.held), now: 20)
    var request = Build.task()
    request.args = [.reference(pair.held)]
    let actor = ActorID(creationTask: pair.driverOwner.nextTaskID)
    let created = pair.driverOwner.handle(.createActor(request, ActorOptions()), now: 21)
    #expect(created.contains(.send(to: .worker(lender), .borrowerGet(pair.held))))
    #expect(!created.contains { if case .send(_, .killActor) = $0 { return true } else { return false } })
    #expect(pair.driverOwner.borrowed[pair.held]?.submitted == 1)
    var ready: [OwnerEffect] = []
    for case .send(_, let message) in pair.toLender(created, now: 22) { ready += pair.fromLender(message, now: 23) }
    guard case .send(.gcs, .actorDependenciesReady(let spec))? = ready.first(where: {
        if case .send(_, .actorDependenciesReady) = $0 { return true } else { return false }
    }) else {
        Issue.record("expected the constructor's dependencies ready once the owner answered, got \(ready)")
        return
    }
    #expect(spec.creation.args == [.value(pair.value)])
    // The program's own handle goes: the borrow stays, for the actor.
    _ = pair.driverOwner.handle(.release(pair.returned), now: 24)
    #expect(!pair.driverOwner.handle(.release(pair.held), now: 25).contains(.send(to: .worker(lender),
        .borrowReleased(pair.held, borrower: driver))))
    // The actor dies: the borrow is released.
    let dead = ActorInfo(actorID: actor, state: .dead, worker: Build.worker(1, 9), incarnation: 0, cause: "killed",
                         maxTaskRetries: 0, name: "a[0]")
    let died = pair.driverOwner.handle(.messageReceived(from: .gcs, .actorUpdate(dead)), now: 26)
    #expect(died.contains(.send(to: .worker(lender), .borrowReleased(pair.held, borrower: driver))))
}
