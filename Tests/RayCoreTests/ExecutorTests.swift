// Unit tests of the executor: inline and stored arguments, argument errors,
// inline and stored results, releasing fetches, queued pushes.

import Testing
@testable import RayCore

private let executorWorker = Build.worker(2, 3)
private let taskOwner = Build.worker(1, 100)
private let executorLease = LeaseID(owner: taskOwner, index: 1)
private let localRaylet = Address.raylet(NodeID(2))

private func startedExecutor() -> Executor {
    var executor = Executor()
    #expect(executor.handle(.started(RayConfig(), executorWorker), now: 0) == [])
    return executor
}

private func push(_ executor: inout Executor, _ spec: TaskSpec, attempt: Int = 1, args: [ResolvedArg],
                  now: Int64) -> [ExecutorEffect] {
    executor.handle(.messageReceived(from: .worker(taskOwner), .pushTask(spec, attempt: attempt, lease: executorLease,
                                                                          args: args)), now: now)
}

private func fromRaylet(_ executor: inout Executor, _ message: Message, now: Int64) -> [ExecutorEffect] {
    executor.handle(.messageReceived(from: localRaylet, message), now: now)
}

@Test func pushTaskWithOnlyInlineArgsExecutesAtOnce() {
    var executor = startedExecutor()
    let a = Build.data(10, digest: 1), b = Build.data(20, digest: 2)
    let spec = Build.spec(1, owner: taskOwner, args: [.value(a), .value(b)])
    #expect(push(&executor, spec, attempt: 2, args: [.inline(a), .inline(b)], now: 10)
        == [.execute(spec, attempt: 2, arguments: [.data(a), .data(b)])])
    #expect(executor.isBusy)
    #expect(executor.runningTask == spec)
    #expect(executor.runningAttempt == 2)
}

@Test func pushTaskWithStoredArgsFetchesFirstAndExecutesWhenReady() {
    var executor = startedExecutor()
    let inline = Build.data(10, digest: 1)
    let stored = Build.object(50)
    let spec = Build.spec(1, owner: taskOwner, args: [.value(inline), .reference(stored)])
    #expect(push(&executor, spec, args: [.inline(inline), .object(stored)], now: 10)
        == [.send(to: localRaylet, .fetchObjects(requestID: 1, objects: [stored], owner: taskOwner))])
    // An answer to another request is ignored.
    #expect(fromRaylet(&executor, .objectsReady(requestID: 99, values: [.data(Build.data(1))]), now: 15) == [])
    let value = Build.data(500_000, digest: 9)
    #expect(fromRaylet(&executor, .objectsReady(requestID: 1, values: [.data(value)]), now: 20)
        == [.execute(spec, attempt: 1, arguments: [.data(inline), .data(value)])])
}

@Test func errorInFetchedArgumentRepliesArgumentFailed() {
    var executor = startedExecutor()
    let stored = Build.object(50)
    let spec = Build.spec(1, owner: taskOwner, args: [.reference(stored)])
    _ = push(&executor, spec, args: [.object(stored)], now: 10)
    let error = RayError(.ownerDied, "gone")
    #expect(fromRaylet(&executor, .objectsReady(requestID: 1, values: [.error(error)]), now: 20) == [
        .send(to: localRaylet, .releaseFetch(requestID: 1)),
        .send(to: .worker(taskOwner), .taskReply(spec.taskID, attempt: 1, .argumentFailed(error), borrowed: [])),
    ])
    #expect(!executor.isBusy)
    #expect(executor.tasksRun == 1)
}

@Test func smallResultIsRepliedInline() {
    var executor = startedExecutor()
    let spec = Build.spec(1, owner: taskOwner)
    _ = push(&executor, spec, args: [], now: 10)
    let result = Build.data(100 * 1024)  // exactly the inline limit
    #expect(executor.handle(.executionFinished(spec.taskID, attempt: 1, .returned([result])), now: 20)
        == [.send(to: .worker(taskOwner), .taskReply(spec.taskID, attempt: 1, .returned([.inline(result)]), borrowed: []))])
    #expect(!executor.isBusy)
}

@Test func largeResultIsStoredThenRepliedAsStored() {
    var executor = startedExecutor()
    let spec = Build.spec(1, owner: taskOwner)
    _ = push(&executor, spec, args: [], now: 10)
    let result = Build.data(100 * 1024 + 1)
    #expect(executor.handle(.executionFinished(spec.taskID, attempt: 1, .returned([result])), now: 20)
        == [.send(to: localRaylet, .storeObjects(requestID: 1, objects: Array(spec.returnIDs), values: [result], owner: taskOwner))])
    #expect(executor.isBusy)
    #expect(fromRaylet(&executor, .objectsStored(requestID: 7), now: 25) == [])
    #expect(fromRaylet(&executor, .objectsStored(requestID: 1), now: 30) == [
        .send(to: .worker(taskOwner), .taskReply(spec.taskID, attempt: 1,
                                                 .returned([.stored(node: NodeID(2), sizeBytes: result.sizeBytes)]),
                                                 borrowed: [])),
    ])
    #expect(!executor.isBusy)
}

@Test func mixedResultsStoreOnlyTheLargeOnes() {
    var executor = startedExecutor()
    let spec = Build.spec(1, owner: taskOwner, returnCount: 2)
    _ = push(&executor, spec, args: [], now: 10)
    let small = Build.data(10), large = Build.data(1_000_000)
    #expect(executor.handle(.executionFinished(spec.taskID, attempt: 1, .returned([small, large])), now: 20)
        == [.send(to: localRaylet, .storeObjects(requestID: 1, objects: [Array(spec.returnIDs)[1]], values: [large], owner: taskOwner))])
    #expect(fromRaylet(&executor, .objectsStored(requestID: 1), now: 30) == [
        .send(to: .worker(taskOwner), .taskReply(spec.taskID, attempt: 1,
                                                 .returned([.inline(small), .stored(node: NodeID(2), sizeBytes: 1_000_000)]),
                                                 borrowed: [])),
    ])
}

@Test func replyReleasesTheArgumentFetch() {
    var executor = startedExecutor()
    let stored = Build.object(50)
    let spec = Build.spec(1, owner: taskOwner, args: [.reference(stored)])
    _ = push(&executor, spec, args: [.object(stored)], now: 10)
    _ = fromRaylet(&executor, .objectsReady(requestID: 1, values: [.data(Build.data(200_000))]), now: 20)
    let result = Build.data(5)
    #expect(executor.handle(.executionFinished(spec.taskID, attempt: 1, .returned([result])), now: 30) == [
        .send(to: localRaylet, .releaseFetch(requestID: 1)),
        .send(to: .worker(taskOwner), .taskReply(spec.taskID, attempt: 1, .returned([.inline(result)]), borrowed: [])),
    ])
}

@Test func applicationErrorIsReplied() {
    var executor = startedExecutor()
    let spec = Build.spec(1, owner: taskOwner)
    _ = push(&executor, spec, args: [], now: 10)
    #expect(executor.handle(.executionFinished(spec.taskID, attempt: 1, .applicationError("ValueError")), now: 20)
        == [.send(to: .worker(taskOwner), .taskReply(spec.taskID, attempt: 1, .applicationError("ValueError"), borrowed: []))])
}

@Test func finishOfAnotherAttemptIsIgnored() {
    var executor = startedExecutor()
    let spec = Build.spec(1, owner: taskOwner)
    _ = push(&executor, spec, attempt: 2, args: [], now: 10)
    #expect(executor.handle(.executionFinished(spec.taskID, attempt: 1, .returned([Build.data(1)])), now: 20) == [])
    #expect(executor.handle(.executionFinished(TaskID(value: 999), attempt: 2, .returned([Build.data(1)])), now: 21) == [])
    #expect(executor.isBusy)
}

@Test func taskPushedWhileBusyRunsAfterTheReply() {
    var executor = startedExecutor()
    let first = Build.spec(1, owner: taskOwner), second = Build.spec(2, owner: taskOwner)
    _ = push(&executor, first, args: [], now: 10)
    #expect(push(&executor, second, args: [], now: 11) == [])
    let result = Build.data(1)
    #expect(executor.handle(.executionFinished(first.taskID, attempt: 1, .returned([result])), now: 20) == [
        .send(to: .worker(taskOwner), .taskReply(first.taskID, attempt: 1, .returned([.inline(result)]), borrowed: [])),
        .execute(second, attempt: 1, arguments: []),
    ])
    #expect(executor.runningTask == second)
}

@Test func borrowedArgumentsPassAsReferencesAndAreNotFetched() {
    var executor = startedExecutor()
    let nested = Build.object(60)
    let spec = Build.spec(1, owner: taskOwner, args: [.nestedReference(nested)])
    let effects = push(&executor, spec, args: [.borrowed(nested)], now: 10)
    guard effects.count == 1, case .execute(spec, attempt: 1, let arguments) = effects[0] else {
        Issue.record("expected execute at once, got \(effects)")
        return
    }
    #expect(arguments.count == 1)
    #expect(arguments[0].sizeBytes == 0)
}

@Test func repeatedPushOfTheRunningAttemptIsIgnored() {
    var executor = startedExecutor()
    let spec = Build.spec(1, owner: taskOwner)
    #expect(push(&executor, spec, attempt: 1, args: [], now: 10) == [.execute(spec, attempt: 1, arguments: [])])
    #expect(push(&executor, spec, attempt: 1, args: [], now: 11).isEmpty)
    let reply = executor.handle(.executionFinished(spec.taskID, attempt: 1, .returned([Build.data(8)])), now: 20)
    // One reply, and nothing queued to run the same attempt again.
    #expect(reply.count == 1)
    #expect(!executor.isBusy)
}

@Test func aBodyReturningAnotherNumberOfValuesThanDeclaredFailsTheTask() {
    var executor = startedExecutor()
    let spec = Build.spec(1, owner: taskOwner, returnCount: 2)
    _ = push(&executor, spec, args: [], now: 10)
    let effects = executor.handle(.executionFinished(spec.taskID, attempt: 1, .returned([Build.data(10)])), now: 20)
    guard case .send(.worker(taskOwner), .taskReply(_, 1, .applicationError(let message), _))? = effects.first else {
        Issue.record("expected an application error, got \(effects)")
        return
    }
    #expect(message.contains("returned 1 value, but is declared with 2 return values"))
    #expect(!executor.isBusy)
}
