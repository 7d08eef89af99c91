// Recursive cancellation (Ray's `ray.cancel(recursive=True)`): the owner of a
// running task asks its worker to cancel what that attempt submitted; the
// worker's owner cancels exactly that attempt's children, and theirs in turn.

import Testing
@testable import RayCore

@Test func cancellingARunningTaskRecursivelyAsksItsWorkerToCancelItsChildren() {
    let driver = Build.worker(1, 100), worker = Build.worker(1, 1)
    var owner = Owner()
    _ = owner.handle(.started(RayConfig(), OwnerIdentity(worker: driver, job: JobID(1))), now: 0)
    let task = owner.nextTaskID
    let submitted = owner.handle(.submitTask(Build.task()), now: 10)
    guard case .send(_, .requestWorkerLease(let lease))? = submitted.first else {
        Issue.record("no lease request: \(submitted)")
        return
    }
    _ = owner.handle(.messageReceived(from: .raylet(NodeID(1)), .leaseGranted(lease.leaseID, worker: worker)), now: 20)
    let object = ObjectID.returnValue(of: task, index: 1)
    // Not recursive: a running task is left to run.
    #expect(owner.handle(.cancel(object, force: false, recursive: false), now: 30) == [])
    #expect(owner.handle(.cancel(object, force: false, recursive: true), now: 31)
        == [.send(to: .worker(worker), .cancelChildren(task, attempt: 1, force: false))])
    #expect(owner.tasks[task]?.state == .running(lease.leaseID, worker: worker))
}

@Test func aWorkersOwnerCancelsExactlyTheChildrenOfTheCancelledAttempt() {
    let worker = Build.worker(1, 7)
    var owner = Owner()
    _ = owner.handle(.startedInWorker(RayConfig(), OwnerIdentity(worker: worker, job: JobID(1))), now: 0)
    let parent = TaskID(value: 99), other = TaskID(value: 98)
    // Attempt 1 of `other` submits one child; attempt 2 of `parent` submits two.
    _ = owner.handle(.taskStarted(other, attempt: 1), now: 1)
    let unrelated = owner.nextTaskID
    _ = owner.handle(.submitTask(Build.task()), now: 2)
    _ = owner.handle(.taskStarted(parent, attempt: 2), now: 3)
    let first = owner.nextTaskID
    _ = owner.handle(.submitTask(Build.task()), now: 4)
    let second = owner.nextTaskID
    _ = owner.handle(.submitTask(Build.task()), now: 5)
    #expect(owner.handle(.get(.returnValue(of: first, index: 1)), now: 6) == [])

    // A cancel of another attempt of the parent reaches none of them.
    _ = owner.handle(.messageReceived(from: .worker(Build.worker(1, 100)), .cancelChildren(parent, attempt: 1, force: false)), now: 7)
    #expect(owner.tasks[first]?.state != .failed && owner.tasks[second]?.state != .failed)

    let effects = owner.handle(.messageReceived(from: .worker(Build.worker(1, 100)),
                                                .cancelChildren(parent, attempt: 2, force: false)), now: 8)
    #expect(owner.tasks[first]?.state == .failed && owner.tasks[second]?.state == .failed)
    #expect(owner.tasks[unrelated]?.state != .failed)
    // Their lease requests are withdrawn, and a get of one answers Cancelled.
    #expect(effects.contains { if case .send(_, .cancelWorkerLease) = $0 { return true } else { return false } })
    #expect(effects.contains { effect in
        guard case .getResolved(let object, .error(let error)) = effect else { return false }
        return object == .returnValue(of: first, index: 1) && error.kind == .cancelled
    })
    #expect(Message.cancelChildren(parent, attempt: 2, force: false).workerPart == .owner)
}

/// Only the task's owner cancels what a running attempt submitted (issue 12: a job's workers
/// cannot cancel another job's tasks): a `cancelChildren` from another process — one that learned
/// the task's ID — is dropped and counted as forged; one for a task this worker has not begun
/// (it overtook the task's push) finds nothing to cancel; the owner's own is obeyed.
@Test func onlyTheTasksOwnerMayCancelWhatItsAttemptSubmitted() {
    let worker = Build.worker(1, 7), taskOwner = Build.worker(1, 100), intruder = Build.worker(2, 300)
    var owner = Owner()
    _ = owner.handle(.startedInWorker(RayConfig(), OwnerIdentity(worker: worker, job: JobID(1))), now: 0)
    let parent = TaskID(value: 99)
    _ = owner.handle(.taskStartedFor(parent, attempt: 1, owner: taskOwner), now: 1)
    let child = owner.nextTaskID
    _ = owner.handle(.submitTask(Build.task()), now: 2)
    #expect(owner.handle(.messageReceived(from: .worker(intruder), .cancelChildren(parent, attempt: 1, force: false)),
                         now: 3) == [])
    #expect(owner.handle(.messageReceived(from: .worker(taskOwner), .cancelChildren(TaskID(value: 55), attempt: 1,
                                                                                   force: false)), now: 4) == [])
    #expect(owner.tasks[child]?.state != .failed)
    #expect(owner.metrics.forgedMessages == 1)
    _ = owner.handle(.messageReceived(from: .worker(taskOwner), .cancelChildren(parent, attempt: 1, force: false)), now: 5)
    #expect(owner.tasks[child]?.state == .failed)
    #expect(owner.metrics.forgedMessages == 1)
}
