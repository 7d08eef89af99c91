// Property test of the borrower protocol for returned references: a driver's
// owner and the owners of the workers that run its tasks, driven by random
// sequences of operations — a task's body puts objects and returns their
// references, the program reads references out of values, drops values and
// handles, gets borrowed objects, workers die, and messages to workers arrive
// late, in any order. After every step, against a model of what the program
// can still reach: no object is freed while reachable (and a get of it
// returns its value, or OwnerDied once its owner died), and none is kept once
// unreachable and its release delivered. Failures shrink to the shortest
// sequence (swift-property-based).

import PropertyBased
import Testing

@testable import RayCore

private struct BorrowHarness {
    let driverID = WorkerID(node: NodeID(1), index: 0)
    var driver = Owner()
    /// The owners of live workers.
    var workers: [WorkerID: Owner] = [:]
    var pool: [WorkerID] = (1...3).map { WorkerID(node: NodeID(2), index: UInt32($0)) }
    var nextWorkerIndex: UInt32 = 4
    var dead: Set<WorkerID> = []
    var now: Int64 = 0
    /// Driver → worker messages not delivered yet.
    var inFlight: [(to: WorkerID, message: Message)] = []

    // The model: what the program holds.
    /// Return values the program holds, and the references each holds.
    var values: [ObjectID: [ObjectID]] = [:]
    var valueOrder: [ObjectID] = []
    /// Handles the program read out of values.
    var handleOrder: [ObjectID] = []
    var ownerOf: [ObjectID: WorkerID] = [:]
    /// Tasks taking a borrowed object as an argument, not run yet (granted and run at once
    /// when their turn comes, on workers of their own).
    var pending: [TaskID: ObjectID] = [:]
    var executorIndex: UInt32 = 0
    var problem: String?

    init() {
        _ = driver.handle(.started(RayConfig(), OwnerIdentity(worker: driverID, job: JobID(1))), now: 0)
    }

    func reachable(_ object: ObjectID) -> Bool {
        handleOrder.contains(object) || values.values.contains { $0.contains(object) } || pending.values.contains(object)
    }

    mutating func toDriver(_ input: OwnerInput) {
        now += 1
        for effect in driver.handle(input, now: now) {
            switch effect {
            case .send(.raylet, .requestWorkerLease(let request)) where pending[request.taskID] != nil:
                executorIndex += 1
                toDriver(.messageReceived(from: .raylet(NodeID(3)), .leaseGranted(request.leaseID,
                    worker: WorkerID(node: NodeID(3), index: executorIndex))))
            case .send(.worker(let worker), .pushTask(let spec, let attempt, _, _)) where pending[spec.taskID] != nil:
                toDriver(.messageReceived(from: .worker(worker), .taskReply(spec.taskID, attempt: attempt,
                    .returned([.inline(ObjectData(sizeBytes: 8, digest: 5))]), borrowed: [])))
            case .send(.worker(let worker), let message):
                switch message {
                case .borrowReleased, .borrowerGet: inFlight.append((worker, message))
                default: break  // Pushes and other task traffic: not this test's.
                }
            case .getResolved(let object, let value):
                checkAnswer(object, value)
            default:
                break
            }
        }
    }

    mutating func checkAnswer(_ object: ObjectID, _ value: ObjectValue) {
        guard let owner = ownerOf[object] else { return }
        switch value {
        case .data:
            break
        case .error(let error) where dead.contains(owner) && error.kind == .ownerDied:
            break
        case .error(let error) where error.kind == .objectLost && !reachable(object):
            break  // The program dropped the handle while its get waited (the API's gets hold theirs).
        case .error(let error):
            problem = problem ?? "a get of \(object) (owner \(owner), \(dead.contains(owner) ? "dead" : "alive")) "
                + "answered \(error.kind): \(error.message)"
        }
    }

    /// A task runs on a worker of the pool; its body puts one or two objects and returns them.
    mutating func runParent(_ choice: Int) {
        let worker = pool[choice % pool.count]
        let task = driver.nextTaskID
        now += 1
        let submitted = driver.handle(.submitTask(TaskRequest(function: "f", instance: 0, args: [], resources: .units(["CPU": 1]),
                                                              strategy: .default, maxRetries: 0, retryExceptions: false, body: [])), now: now)
        guard case .send(_, .requestWorkerLease(let request))? = submitted.first else { return }
        toDriver(.messageReceived(from: .raylet(NodeID(1)), .leaseGranted(request.leaseID, worker: worker)))
        var owner = workers[worker] ?? {
            var made = Owner()
            _ = made.handle(.startedInWorker(RayConfig(), OwnerIdentity(worker: worker, job: JobID(1))), now: now)
            return made
        }()
        _ = owner.handle(.taskStarted(task, attempt: 1), now: now)
        var made: [ObjectID] = []
        for index in 0..<(1 + choice % 2) {
            made.append(owner.nextPutID)
            _ = owner.handle(.put(ObjectData(sizeBytes: 8, digest: UInt64(index)), node: nil), now: now)
        }
        _ = owner.handle(.lend(made, to: driverID), now: now)
        workers[worker] = owner
        for object in made { ownerOf[object] = worker }
        toDriver(.messageReceived(from: .worker(worker), .returnedReferences(task, attempt: 1, objects: made,
                                                                             returnIndices: made.map { _ in 1 })))
        toDriver(.messageReceived(from: .worker(worker), .taskReply(task, attempt: 1, .returned([.inline(ObjectData(sizeBytes: 8, digest: 9))]),
                                                                    borrowed: [])))
        let value = ObjectID.returnValue(of: task, index: 1)
        values[value] = made
        valueOrder.append(value)
    }

    mutating func read(_ choice: Int) {
        guard !valueOrder.isEmpty else { return }
        let value = valueOrder[choice % valueOrder.count]
        guard let held = values[value], !held.isEmpty else { return }
        let object = held[choice % held.count]
        toDriver(.addReference(object))
        handleOrder.append(object)
    }

    /// The program passes a borrowed reference to a task (dropping the task's own value at once).
    mutating func submitWith(_ choice: Int) {
        guard !handleOrder.isEmpty else { return }
        let object = handleOrder[choice % handleOrder.count]
        let task = driver.nextTaskID
        pending[task] = object
        toDriver(.submitTask(TaskRequest(function: "g", instance: 0, args: [.reference(object)], resources: .units(["CPU": 1]),
                                         strategy: .default, maxRetries: 0, retryExceptions: false, body: [])))
        toDriver(.release(.returnValue(of: task, index: 1)))
        settle()
    }

    /// Forgets tasks that ran or failed.
    mutating func settle() {
        for task in pending.keys.sorted() {
            switch driver.tasks[task]?.state {
            case .finished?, .failed?, nil: pending[task] = nil
            default: break
            }
        }
    }

    mutating func dropValue(_ choice: Int) {
        guard !valueOrder.isEmpty else { return }
        let value = valueOrder.remove(at: choice % valueOrder.count)
        values[value] = nil
        toDriver(.release(value))
    }

    mutating func dropHandle(_ choice: Int) {
        guard !handleOrder.isEmpty else { return }
        toDriver(.release(handleOrder.remove(at: choice % handleOrder.count)))
    }

    mutating func get(_ choice: Int) {
        guard !handleOrder.isEmpty else { return }
        toDriver(.get(handleOrder[choice % handleOrder.count]))
    }

    mutating func kill(_ choice: Int) {
        let worker = pool[choice % pool.count]
        dead.insert(worker)
        workers[worker] = nil
        inFlight.removeAll { $0.to == worker }
        pool[choice % pool.count] = WorkerID(node: NodeID(2), index: nextWorkerIndex)
        nextWorkerIndex += 1
        toDriver(.workerDied(worker, detail: "killed by signal 9 (Killed)"))
    }

    /// Delivers one driver → worker message; the worker's answers reach the driver at once.
    mutating func deliver(_ choice: Int) {
        guard !inFlight.isEmpty else { return }
        let (worker, message) = inFlight.remove(at: choice % inFlight.count)
        guard var owner = workers[worker] else { return }
        now += 1
        let answers = owner.handle(.messageReceived(from: .worker(driverID), message), now: now)
        workers[worker] = owner
        for case .send(.worker(driverID), let answer) in answers {
            toDriver(.messageReceived(from: .worker(worker), answer))
        }
    }

    /// No object freed while reachable; none kept once unreachable and its release delivered.
    func check() -> String? {
        if let problem { return problem }
        for object in ownerOf.keys.sorted() {
            let owner = ownerOf[object]!
            let reachable = reachable(object)
            if reachable != (driver.borrowed[object] != nil) {
                return "\(object) is \(reachable ? "" : "not ")reachable, but the driver \(reachable ? "does not borrow" : "still borrows") it"
            }
            guard let workerOwner = workers[owner] else { continue }  // Dead: gone with it.
            let held = workerOwner.objects[object].map { !$0.freed } ?? false
            let releasing = inFlight.contains { $0.to == owner && $0.message == .borrowReleased(object, borrower: driverID) }
            if reachable && !held { return "\(object) is reachable but its owner \(owner) freed it" }
            if !reachable && !releasing && held { return "\(object) is unreachable and released, but \(owner) keeps it" }
        }
        return nil
    }

    mutating func drain() {
        while !valueOrder.isEmpty { dropValue(0) }
        while !handleOrder.isEmpty { dropHandle(0) }
        while !inFlight.isEmpty { deliver(0) }
        settle()
    }
}

@Suite struct BorrowingPropertyTests {
    @Test func borrowedObjectsLiveExactlyWhileReachable() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...79).array(of: 0...60)) { operations in
            var harness = BorrowHarness()
            for (step, operation) in operations.enumerated() {
                let choice = operation / 8
                switch operation % 8 {
                case 0: harness.runParent(choice)
                case 1: harness.read(choice)
                case 2: harness.dropValue(choice)
                case 3: harness.dropHandle(choice)
                case 4: harness.get(choice)
                case 5: if choice % 3 == 0 { harness.kill(choice) } else { harness.deliver(choice) }
                case 6: harness.submitWith(choice)
                default: harness.deliver(choice)
                }
                harness.settle()
                if let problem = harness.check() {
                    Issue.record("after step \(step) (\(operations.prefix(step + 1))): \(problem)")
                    return
                }
            }
            harness.drain()
            if let problem = harness.check() { Issue.record("after draining: \(problem)") }
            #expect(harness.driver.borrowed.isEmpty, "the driver still borrows \(harness.driver.borrowed.keys.sorted())")
            for (worker, owner) in harness.workers.sorted(by: { $0.key < $1.key }) {
                let kept = owner.objects.filter { !$0.value.freed }.keys.sorted()
                #expect(kept.isEmpty, "\(worker) keeps \(kept) after every release was delivered")
            }
        }
    }
}
