// References inside a put value (Ray's nested references, `ray.put([ref])`): the
// put value holds each reference (owned: a handle; borrowed: the borrow) until
// it is freed, and a task given the put value gets what it holds as arguments
// of its own, so the body that decodes the value can read them.

import Testing
@testable import RayCore

private let driver = Build.worker(1, 100)

/// A driver that put `inner` (inline) and then `outer`, a value holding `inner`.
private struct Holding {
    var owner = Owner()
    var inner = ObjectID.put(by: TaskID(value: 0), index: 1)
    var outer = ObjectID.put(by: TaskID(value: 0), index: 2)

    init() {
        _ = owner.handle(.started(RayConfig(), OwnerIdentity(worker: driver, job: JobID(1))), now: 0)
        inner = owner.nextPutID
        _ = owner.handle(.put(Build.data(8, digest: 1), node: nil), now: 1)
        outer = owner.nextPutID
        _ = owner.handle(.put(Build.data(12, digest: 2), node: nil), now: 2)
        _ = owner.handle(.holdReferences(outer, held: [inner]), now: 3)
    }

    /// Submits `args`; returns the spec the owner made.
    mutating func submit(_ args: [TaskArg], now: Int64) -> TaskSpec? {
        let id = owner.nextTaskID
        _ = owner.handle(.submitTask(Build.task(args: args)), now: now)
        return owner.tasks[id]?.spec
    }
}

@Test func aPutValueHoldsItsReferencesUntilItIsFreed() {
    var holding = Holding()
    #expect(holding.owner.objects[holding.outer]?.contains == [holding.inner])
    #expect(holding.owner.objects[holding.inner]?.localRefs == 2)
    // The program drops its own handle of the inner object: the put value still holds it.
    _ = holding.owner.handle(.release(holding.inner), now: 10)
    #expect(holding.owner.objects[holding.inner]?.freed == false)
    // A get of it (a handle read from the value) still answers.
    _ = holding.owner.handle(.addReference(holding.inner), now: 11)
    #expect(holding.owner.handle(.get(holding.inner), now: 12) == [.getResolved(holding.inner, .data(Build.data(8, digest: 1)))])
    _ = holding.owner.handle(.release(holding.inner), now: 13)
    // The put value goes: so does what it held.
    _ = holding.owner.handle(.release(holding.outer), now: 14)
    #expect(holding.owner.objects[holding.outer].map { $0.freed } ?? true)
    #expect(holding.owner.objects[holding.inner].map { $0.freed } ?? true)
}

@Test func aTaskGivenAPutValueGetsTheReferencesItHolds() {
    var holding = Holding()
    // A third put holding the second: what a task given it gets is transitive.
    let third = holding.owner.nextPutID
    _ = holding.owner.handle(.put(Build.data(4, digest: 3), node: nil), now: 4)
    _ = holding.owner.handle(.holdReferences(third, held: [holding.outer]), now: 5)
    #expect(holding.submit([.reference(third), .value(Build.data(1))], now: 6)?.args
        == [.reference(third), .value(Build.data(1)), .reference(holding.outer), .reference(holding.inner)])
    // Each is held for the task as an argument.
    #expect(holding.owner.objects[holding.inner]?.submittedRefs == 1)
    // A reference the task takes already is not added twice.
    #expect(holding.submit([.reference(holding.outer), .reference(holding.inner)], now: 7)?.args
        == [.reference(holding.outer), .reference(holding.inner)])
    // A task taking nothing that holds references is submitted as asked.
    #expect(holding.submit([.reference(holding.inner)], now: 8)?.args == [.reference(holding.inner)])
}

@Test func holdingIgnoresWhatIsNeitherOwnedNorBorrowedNorLive() {
    var owner = Owner()
    _ = owner.handle(.started(RayConfig(), OwnerIdentity(worker: driver, job: JobID(1))), now: 0)
    let outer = owner.nextPutID
    _ = owner.handle(.put(Build.data(8), node: nil), now: 1)
    let stranger = ObjectID.put(by: TaskID(value: 99), index: 7)
    // Not a crash, and not held: the API layer refuses such a put before it is made.
    #expect(owner.handle(.holdReferences(outer, held: [stranger]), now: 2).isEmpty)
    #expect(owner.objects[outer]?.contains == [])
    // A freed container holds nothing.
    _ = owner.handle(.release(outer), now: 3)
    let inner = owner.nextPutID
    _ = owner.handle(.put(Build.data(8), node: nil), now: 4)
    _ = owner.handle(.holdReferences(outer, held: [inner]), now: 5)
    #expect(owner.objects[inner]?.localRefs == 1)
}
