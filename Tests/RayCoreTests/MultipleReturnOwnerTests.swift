// The owner with several return values per task (Ray's num_returns): one
// object per value, each held, got and released on its own.

import Testing
@testable import RayCore

@Test func aTaskWithTwoReturnValuesOwnsTwoObjectsAnsweredByOneReply() {
    let me = Build.worker(1, 100), worker = Build.worker(1, 1)
    var owner = Owner()
    _ = owner.handle(.started(RayConfig(), OwnerIdentity(worker: me, job: JobID(1))), now: 0)
    var request = Build.task()
    request.returnCount = 2
    let task = owner.nextTaskID
    let submitted = owner.handle(.submitTask(request), now: 10)
    let first = ObjectID.returnValue(of: task, index: 1), second = ObjectID.returnValue(of: task, index: 2)
    #expect(owner.objects[first]?.localRefs == 1 && owner.objects[second]?.localRefs == 1)
    guard case .send(_, .requestWorkerLease(let lease))? = submitted.first else {
        Issue.record("no lease request: \(submitted)")
        return
    }
    let pushed = owner.handle(.messageReceived(from: .raylet(NodeID(1)), .leaseGranted(lease.leaseID, worker: worker)), now: 20)
    guard case .send(_, .pushTask(let spec, _, _, _))? = pushed.first else {
        Issue.record("no push: \(pushed)")
        return
    }
    #expect(spec.returnCount == 2 && Array(spec.returnIDs) == [first, second])
    #expect(owner.handle(.get(second), now: 25) == [])
    let small = Build.data(8, digest: 1), large = Build.data(500_000, digest: 2)
    let replied = owner.handle(.messageReceived(from: .worker(worker), .taskReply(task, attempt: 1,
        .returned([.inline(small), .stored(node: NodeID(1), sizeBytes: large.sizeBytes)]), borrowed: [])), now: 30)
    #expect(replied.contains(.send(to: .raylet(NodeID(1)), .pinObject(second))))
    #expect(owner.handle(.get(first), now: 40) == [.getResolved(first, .data(small))])
    // Releasing one leaves the other.
    _ = owner.handle(.release(first), now: 50)
    #expect(owner.objects[first] == nil || owner.objects[first]!.freed)
    #expect(owner.objects[second]?.localRefs == 1)
}
