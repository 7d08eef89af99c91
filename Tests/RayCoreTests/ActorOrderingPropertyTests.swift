// Property test of actor calls under restarts: a caller's owner and the
// executors of an actor's successive incarnations, driven by random sequences
// of operations — calls made, pushes and replies delivered late and in any
// order, calls run and finished, the actor's worker killed (the GCS then
// publishes RESTARTING and ALIVE on a new worker, or DEAD once max_restarts is
// used up) — for random max_restarts and max_task_retries. Checked after every
// step: within an incarnation calls run in the caller's order; a call never
// runs more than 1 + max_task_retries times (so at-most-once calls never run
// twice); a call's result is its own call's value, or an actor error, and an
// actor error under infinite retries only once the actor is dead for good.
// After draining, every call has its one answer. Failures shrink to the
// shortest sequence (swift-property-based).

import PropertyBased
import Testing

@testable import RayCore

private struct ActorHarness {
    let caller = WorkerID(node: NodeID(1), index: 0)
    let job = JobID(1)
    let maxRestarts: Int
    let maxTaskRetries: Int
    var owner = Owner()
    var actor: ActorID
    var spec: ActorSpec?
    var now: Int64 = 0

    // The actor's side.
    var executor = Executor()
    var worker = WorkerID(node: NodeID(2), index: 1)
    var incarnation = 0
    var restarts = 0
    var state = ActorState.pendingCreation
    /// The call the executor runs now (it runs one at a time).
    var running: (spec: TaskSpec, attempt: Int)?
    /// Caller → actor pushes not delivered yet, and actor → caller replies (with their sender).
    var pushes: [Message] = []
    var replies: [(from: WorkerID, message: Message)] = []

    // The model.
    /// Calls made (by index), their return objects, and which got their answer.
    var returns: [ObjectID] = []
    var answers: [ObjectID: ObjectValue] = [:]
    /// Executions of each call: (incarnation, call index).
    var executions: [(incarnation: Int, call: Int)] = []
    var problem: String?

    init(maxRestarts: Int, maxTaskRetries: Int) {
        self.maxRestarts = maxRestarts
        self.maxTaskRetries = maxTaskRetries
        _ = owner.handle(.started(RayConfig(), OwnerIdentity(worker: caller, job: job)), now: 0)
        actor = ActorID(creationTask: owner.nextTaskID)
        let effects = owner.handle(.createActor(
            TaskRequest(function: "Counter", instance: 0, args: [], resources: ResourceSet(), strategy: .default,
                        maxRetries: 0, retryExceptions: false, body: []),
            ActorOptions(maxRestarts: maxRestarts, maxTaskRetries: maxTaskRetries)), now: 1)
        for case .send(.gcs, .registerActor(let registered)) in effects { spec = registered }
        startIncarnation()
    }

    /// The GCS places the current incarnation on `worker`: its executor runs the constructor, and
    /// the caller learns it is alive.
    mutating func startIncarnation() {
        guard let spec else { problem = "the caller never registered its actor"; return }
        executor = Executor()
        running = nil
        _ = executor.handle(.started(RayConfig(), worker), now: now)
        let constructing = executor.handle(.messageReceived(from: .raylet(worker.node),
                                                            .createActor(spec, incarnation: incarnation)), now: tick())
        for case .executeActor(let task, let attempt, _, _) in constructing {
            toExecutor(.executionFinished(task.taskID, attempt: attempt, .returned([])))
        }
        state = .alive
        toOwner(.messageReceived(from: .gcs, update(.alive)))
    }

    func update(_ state: ActorState) -> Message {
        .actorUpdate(ActorInfo(actorID: actor, state: state, worker: worker, incarnation: incarnation,
                               cause: "its worker was killed", maxTaskRetries: maxTaskRetries, name: "Counter[0]"))
    }

    mutating func tick() -> Int64 {
        now += 1
        return now
    }

    mutating func toOwner(_ input: OwnerInput) {
        for effect in owner.handle(input, now: tick()) {
            switch effect {
            case .send(.worker, let message):
                if case .pushActorTask = message { pushes.append(message) }
            case .getResolved(let object, let value):
                if answers[object] != nil { problem = "\(object) was answered twice" }
                answers[object] = value
                check(object, value)
            default:
                break
            }
        }
    }

    mutating func toExecutor(_ input: ExecutorInput) {
        for effect in executor.handle(input, now: tick()) {
            switch effect {
            case .executeActor(let spec, let attempt, _, let task) where task.call > 0:
                if running != nil { problem = "call \(spec.instance) started while another ran" }
                running = (spec, attempt)
                let earlier = executions.last { $0.incarnation == incarnation }
                if let earlier, earlier.call >= spec.instance {
                    problem = "incarnation \(incarnation) ran call \(spec.instance) after call \(earlier.call)"
                }
                executions.append((incarnation, spec.instance))
                let runs = executions.filter { $0.call == spec.instance }.count
                if maxTaskRetries >= 0 && runs > 1 + maxTaskRetries {
                    problem = "call \(spec.instance) ran \(runs) times (max_task_retries=\(maxTaskRetries))"
                }
            case .send(.worker(let to), let message) where to == caller:
                replies.append((worker, message))
            default:
                break
            }
        }
    }

    mutating func check(_ object: ObjectID, _ value: ObjectValue) {
        guard let index = returns.firstIndex(of: object) else { return }
        switch value {
        case .data(let data) where data.digest == UInt64(index) + 1:
            break
        case .data(let data):
            problem = "call \(index) returned call \(Int(data.digest) - 1)'s value"
        case .error(let error) where error.kind == .actorDied || error.kind == .actorUnavailable:
            if maxTaskRetries == -1 && state != .dead {
                problem = "call \(index) failed (\(error.kind)) although it may be retried forever and the actor lives"
            }
        case .error(let error):
            problem = "call \(index) failed with \(error.kind): \(error.message)"
        }
    }

    // Operations.

    mutating func call() {
        let object = ObjectID.returnValue(of: owner.nextTaskID, index: 1)
        let index = returns.count
        returns.append(object)
        toOwner(.callActor(actor, TaskRequest(function: "incr", instance: index, args: [], resources: ResourceSet(),
                                              strategy: .default, maxRetries: 0, retryExceptions: false, body: [])))
        toOwner(.get(object))
    }

    mutating func deliverPush(_ choice: Int) {
        guard !pushes.isEmpty else { return }
        let message = pushes.remove(at: choice % pushes.count)
        guard state != .dead else { return }  // Nobody listens at a dead actor's address.
        toExecutor(.messageReceived(from: .worker(caller), message))
    }

    mutating func deliverReply(_ choice: Int) {
        guard !replies.isEmpty else { return }
        let (from, message) = replies.remove(at: choice % replies.count)
        toOwner(.messageReceived(from: .worker(from), message))
    }

    mutating func finish() {
        guard let (spec, attempt) = running else { return }
        running = nil
        toExecutor(.executionFinished(spec.taskID, attempt: attempt,
                                      .returned([ObjectData(sizeBytes: 8, digest: UInt64(spec.instance) + 1)])))
    }

    /// The actor's worker is killed: what it had not received is lost; the GCS restarts it while
    /// max_restarts allows (RESTARTING now, ALIVE at `revive`), else it is dead.
    mutating func kill() {
        guard state == .alive else { return }
        pushes.removeAll()
        running = nil
        if maxRestarts == -1 || restarts < maxRestarts {
            restarts += 1
            incarnation += 1
            state = .restarting
            toOwner(.messageReceived(from: .gcs, update(.restarting)))
        } else {
            state = .dead
            toOwner(.messageReceived(from: .gcs, update(.dead)))
        }
    }

    mutating func revive() {
        guard state == .restarting else { return }
        worker = WorkerID(node: NodeID(2), index: UInt32(incarnation + 1))
        startIncarnation()
    }

    /// Everything delivered and run, the actor brought back if restarting.
    mutating func drain() {
        var rounds = 0
        while problem == nil && rounds < 10_000 && (!pushes.isEmpty || !replies.isEmpty || running != nil
                                                    || state == .restarting) {
            rounds += 1
            revive()
            if !pushes.isEmpty { deliverPush(0) }
            finish()
            if !replies.isEmpty { deliverReply(0) }
        }
    }
}

@Suite struct ActorOrderingPropertyTests {
    @Test func callsRunInOrderWithinRetryLimitsAndEachGetsItsOneAnswer() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...59).array(of: 1...60)) { operations in
            // The first operation picks the options: max_restarts in {0, 1, 3, -1}, max_task_retries in {0, 2, -1}.
            let maxRestarts = [0, 1, 3, -1][operations[0] % 4]
            let maxTaskRetries = [0, 2, -1][(operations[0] / 4) % 3]
            var harness = ActorHarness(maxRestarts: maxRestarts, maxTaskRetries: maxTaskRetries)
            let options = "max_restarts=\(maxRestarts) max_task_retries=\(maxTaskRetries)"
            for (step, operation) in operations.dropFirst().enumerated() {
                let choice = operation / 6
                switch operation % 6 {
                case 0: harness.call()
                case 1: harness.deliverPush(choice)
                case 2: harness.finish()
                case 3: harness.deliverReply(choice)
                case 4: if choice % 4 == 0 { harness.kill() } else { harness.deliverPush(choice) }
                default: harness.revive()
                }
                if let problem = harness.problem {
                    Issue.record("\(options), after step \(step) (\(Array(operations.prefix(step + 2)))): \(problem)")
                    return
                }
            }
            harness.drain()
            if let problem = harness.problem {
                Issue.record("\(options), draining: \(problem)")
                return
            }
            let unanswered = harness.returns.indices.filter { harness.answers[harness.returns[$0]] == nil }
            #expect(unanswered.isEmpty, "calls \(unanswered) never got an answer (\(options), \(operations))")
            if maxTaskRetries == -1 && harness.state != .dead {
                let failed = harness.returns.indices.filter {
                    if case .error = harness.answers[harness.returns[$0]] { return true } else { return false }
                }
                #expect(failed.isEmpty, "calls \(failed) failed although retried forever on a live actor (\(operations))")
            }
        }
    }
}
