// What an owner does with the tasks and actors of its placement groups (issue 11):
// a task in a group that cannot hold it (infeasible, removed) fails with
// PlacementGroupUnschedulable instead of waiting forever, and an actor of a removed
// group refuses calls at once.

import Testing
@testable import RayCore

private let owner = Build.worker(1, 100)

/// An owner with a group of two one-CPU bundles it created (PENDING), and the group's ID.
private func ownerWithGroup() -> (Owner, PlacementGroupID) {
    var machine = Owner()
    _ = machine.handle(.started(RayConfig(), OwnerIdentity(worker: owner, job: JobID(1))), now: 0)
    let id = PlacementGroupID(creationTask: machine.nextTaskID)
    _ = machine.handle(.createPlacementGroup(bundles: [Build.cpus(1), Build.cpus(1)], strategy: .strictSpread,
                                             name: "g", detached: false), now: 1)
    return (machine, id)
}

private func failure(_ machine: Owner, _ object: ObjectID) -> RayError? {
    guard case .failed(let error)? = machine.objects[object]?.state else { return nil }
    return error
}

@Test func aTaskOfAnInfeasibleGroupFailsAndItsLeaseRequestIsWithdrawn() {
    var (machine, id) = ownerWithGroup()
    let object = ObjectID.returnValue(of: machine.nextTaskID, index: 1)
    let submitted = machine.handle(.submitTask(Build.task(resources: Build.cpus(1).inGroup(id, bundle: 0))), now: 2)
    guard case .send(let raylet, .requestWorkerLease(let request))? = submitted.last else {
        Issue.record("no lease request: \(submitted)")
        return
    }
    // The GCS finds no set of live nodes that satisfies the group.
    let infeasible = PlacementGroupInfo(id: id, state: .pending, nodes: [NodeID(0), NodeID(0)],
                                        cause: "infeasible: 2 bundles need 2 distinct nodes; 1 alive", name: "g")
    let heard = machine.handle(.messageReceived(from: .gcs, .placementGroupUpdate(infeasible)), now: 3)
    #expect(heard.contains(.send(to: raylet, .cancelWorkerLease(request.leaseID))))
    #expect(failure(machine, object)?.kind == .placementGroupUnschedulable)
    #expect(failure(machine, object)?.message.contains("infeasible: 2 bundles") == true)
    // Submitted while it stays infeasible: fails at once, without asking any raylet.
    let later = ObjectID.returnValue(of: machine.nextTaskID, index: 1)
    let again = machine.handle(.submitTask(Build.task(resources: Build.cpus(1).inGroup(id, bundle: nil))), now: 4)
    #expect(!again.contains { if case .send(_, .requestWorkerLease) = $0 { return true } else { return false } })
    #expect(failure(machine, later)?.kind == .placementGroupUnschedulable)
    // A task outside the group is not touched.
    let free = ObjectID.returnValue(of: machine.nextTaskID, index: 1)
    _ = machine.handle(.submitTask(Build.task()), now: 5)
    #expect(failure(machine, free) == nil)
}

@Test func removingAGroupFailsItsWaitingTasksItsKilledTasksAndCallsToItsActors() {
    var (machine, id) = ownerWithGroup()
    let created = PlacementGroupInfo(id: id, state: .created, nodes: [NodeID(1), NodeID(2)], cause: "", name: "g")
    _ = machine.handle(.messageReceived(from: .gcs, .placementGroupUpdate(created)), now: 2)
    let waiting = ObjectID.returnValue(of: machine.nextTaskID, index: 1)
    _ = machine.handle(.submitTask(Build.task(resources: Build.cpus(1).inGroup(id, bundle: 1))), now: 3)
    // An actor in bundle 0, alive.
    let actor = ActorID(creationTask: machine.nextTaskID)
    _ = machine.handle(.createActor(Build.task("A", resources: Build.cpus(1).inGroup(id, bundle: 0)), ActorOptions()), now: 4)
    let worker = Build.worker(1, 7)
    _ = machine.handle(.messageReceived(from: .gcs, .actorUpdate(ActorInfo(actorID: actor, state: .alive, worker: worker,
        incarnation: 0, cause: "", maxTaskRetries: 0, name: "A[0]"))), now: 5)
    _ = machine.handle(.removePlacementGroup(id), now: 6)
    #expect(failure(machine, waiting)?.kind == .placementGroupUnschedulable)
    #expect(failure(machine, waiting)?.message.contains("was removed") == true)
    // A call made after the removal fails at once; it never reaches the actor's worker.
    let call = ObjectID.returnValue(of: machine.nextTaskID, index: 1)
    let calling = machine.handle(.callActor(actor, Build.task("m", resources: ResourceSet())), now: 7)
    #expect(!calling.contains { if case .send(.worker(worker), _) = $0 { return true } else { return false } })
    #expect(failure(machine, call)?.kind == .actorDied)
    #expect(failure(machine, call)?.message.contains("placement group \(id) was removed") == true)
}

@Test func aReadyObjectResolvesWhenItsGroupIsCreatedAndFailsWhenRemovedFirst() {
    var (machine, id) = ownerWithGroup()
    let value = Build.data(1)
    let ready = machine.ids.nextPut
    _ = machine.handle(.placementGroupReady(id, value: value), now: 2)
    let asked = machine.handle(.get(ready), now: 3)
    #expect(!asked.contains { if case .getResolved = $0 { return true } else { return false } })  // PENDING: it waits.
    let created = PlacementGroupInfo(id: id, state: .created, nodes: [NodeID(1), NodeID(2)], cause: "", name: "g")
    let heard = machine.handle(.messageReceived(from: .gcs, .placementGroupUpdate(created)), now: 4)
    #expect(heard.contains(.getResolved(ready, .data(value))))
    // Asked once it is created: a value at once. Removed before it is created: an error.
    let again = machine.ids.nextPut
    _ = machine.handle(.placementGroupReady(id, value: value), now: 5)
    #expect(machine.handle(.get(again), now: 6).contains(.getResolved(again, .data(value))))
    var (other, otherID) = ownerWithGroup()
    let never = other.ids.nextPut
    _ = other.handle(.placementGroupReady(otherID, value: value), now: 2)
    _ = other.handle(.removePlacementGroup(otherID), now: 3)
    #expect(failure(other, never)?.kind == .placementGroupUnschedulable)
}
