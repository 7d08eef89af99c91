// Property test: the owner's reference counts against a naive reference model.
// Random operation sequences (submit with arguments, put, release, finish,
// crash, borrow and un-borrow) drive an Owner through a fake world that grants
// every lease at once; after every operation each object's counts must equal
// the model's, out-of-scope stored objects must have been freed exactly once,
// and once everything is released and finished the owner must hold nothing.
// Failures shrink to the shortest operation list (swift-property-based).

import PropertyBased
import Testing

@testable import RayCore

/// The naive model: counts per object, kept by plain bookkeeping.
private struct ReferenceModel {
    var handles: [ObjectID: Int] = [:]
    var pendingArgumentUses: [ObjectID: Int] = [:]
    var borrowers: [ObjectID: Set<WorkerID>] = [:]
    var storedOutputs: Set<ObjectID> = []
    /// Outputs of tasks that failed for good (a task taking one fails at once, as in Ray).
    var failedObjects: Set<ObjectID> = []

    func inScope(_ object: ObjectID) -> Bool {
        (handles[object] ?? 0) > 0 || (pendingArgumentUses[object] ?? 0) > 0 || !(borrowers[object] ?? []).isEmpty
    }
}

/// Drives an owner; grants leases and records what runs where.
private struct OwnerHarness {
    var owner = Owner()
    var model = ReferenceModel()
    let storeNode = NodeID(2)
    var workerCounter: UInt32 = 0
    var running: [TaskID: (worker: WorkerID, attempt: Int)] = [:]
    var tasks: [TaskID: (args: [TaskArg], crashes: Int, final: Bool)] = [:]
    var handleOrder: [ObjectID] = []
    var freed: [ObjectID: Int] = [:]
    var borrowedHeld: [(ObjectID, WorkerID)] = []
    var now: Int64 = 0
    static let maxRetries = 1

    init() {
        let identity = OwnerIdentity(worker: WorkerID(node: NodeID(1), index: 0), job: JobID(1))
        apply(owner.handle(.started(RayConfig(), identity), now: 0))
    }

    mutating func feed(_ input: OwnerInput) {
        now += 1
        apply(owner.handle(input, now: now))
    }

    /// Interprets effects: grant every lease at once, note pushes and frees.
    mutating func apply(_ effects: [OwnerEffect]) {
        var pending = effects
        while !pending.isEmpty {
            let effect = pending.removeFirst()
            guard case .send(let to, let message) = effect else { continue }
            switch message {
            case .requestWorkerLease(let request):
                workerCounter += 1
                let worker = WorkerID(node: storeNode, index: workerCounter)
                now += 1
                pending += owner.handle(.messageReceived(from: to, .leaseGranted(request.leaseID, worker: worker)), now: now)
            case .pushTask(let spec, let attempt, _, _):
                if case .worker(let worker) = to { running[spec.taskID] = (worker, attempt) }
            case .freeObject(let object):
                freed[object, default: 0] += 1
            default:
                break
            }
        }
    }

    mutating func submit(argumentChoice: Int, nested: Bool) {
        var args: [TaskArg] = []
        if !handleOrder.isEmpty {
            let object = handleOrder[argumentChoice % handleOrder.count]
            args = [nested ? .nestedReference(object) : .reference(object)]
            model.pendingArgumentUses[object, default: 0] += 1
        }
        let id = owner.nextTaskID
        let output = ObjectID.returnValue(of: id, index: 1)
        feed(.submitTask(TaskRequest(function: "f", instance: 0, args: args, resources: .units(["CPU": 1]),
                                     strategy: .default, maxRetries: Self.maxRetries, retryExceptions: false,
                                     body: [0, 8, 0, 0, 0, 0])))
        tasks[id] = (args, 0, false)
        model.handles[output, default: 0] += 1
        handleOrder.append(output)
        if case .reference(let object)? = args.first, model.failedObjects.contains(object) {
            model.failedObjects.insert(output)
            endUses(of: id)
        }
    }

    mutating func put(large: Bool) {
        let object = owner.nextPutID
        feed(.put(ObjectData(sizeBytes: large ? 200_000 : 10, digest: 7), node: large ? storeNode : nil))
        model.handles[object, default: 0] += 1
        if large { model.storedOutputs.insert(object) }
        handleOrder.append(object)
    }

    mutating func release(_ choice: Int) {
        guard !handleOrder.isEmpty else { return }
        let object = handleOrder.remove(at: choice % handleOrder.count)
        model.handles[object]! -= 1
        feed(.release(object))
    }

    mutating func finish(_ choice: Int, stored: Bool, keepBorrow: Bool) {
        let ids = running.keys.sorted()
        guard !ids.isEmpty else { return }
        let id = ids[choice % ids.count]
        let (worker, attempt) = running.removeValue(forKey: id)!
        let value: ReturnValue = stored ? .stored(node: storeNode, sizeBytes: 200_000) : .inline(ObjectData(sizeBytes: 8, digest: 1))
        if stored { model.storedOutputs.insert(ObjectID.returnValue(of: id, index: 1)) }
        var borrowed: [ObjectID] = []
        for case .nestedReference(let object) in tasks[id]!.args where keepBorrow {
            borrowed.append(object)
            model.borrowers[object, default: []].insert(worker)
            borrowedHeld.append((object, worker))
        }
        endUses(of: id)
        feed(.messageReceived(from: .worker(worker), .taskReply(id, attempt: attempt, .returned([value]), borrowed: borrowed)))
    }

    mutating func crash(_ choice: Int) {
        let ids = running.keys.sorted()
        guard !ids.isEmpty else { return }
        let id = ids[choice % ids.count]
        let (worker, _) = running.removeValue(forKey: id)!
        // A dead process borrows nothing (with lease reuse a worker may still hold borrows
        // from an earlier task it ran).
        for object in model.borrowers.keys { model.borrowers[object]?.remove(worker) }
        borrowedHeld.removeAll { $0.1 == worker }
        tasks[id]!.crashes += 1
        if tasks[id]!.crashes > Self.maxRetries {
            model.failedObjects.insert(ObjectID.returnValue(of: id, index: 1))
            endUses(of: id)
            propagateFailures()
        }
        feed(.peerDisconnected(.worker(worker)))
    }

    mutating func unborrow(_ choice: Int) {
        guard !borrowedHeld.isEmpty else { return }
        let (object, worker) = borrowedHeld.remove(at: choice % borrowedHeld.count)
        model.borrowers[object]?.remove(worker)
        feed(.messageReceived(from: .worker(worker), .borrowReleased(object, borrower: worker)))
    }

    /// Tasks waiting on a failed top-level argument fail too, transitively.
    private mutating func propagateFailures() {
        var changed = true
        while changed {
            changed = false
            for id in tasks.keys.sorted() where !tasks[id]!.final && running[id] == nil {
                guard case .reference(let object)? = tasks[id]!.args.first, model.failedObjects.contains(object) else { continue }
                model.failedObjects.insert(ObjectID.returnValue(of: id, index: 1))
                endUses(of: id)
                changed = true
            }
        }
    }

    private mutating func endUses(of id: TaskID) {
        guard !tasks[id]!.final else { return }
        tasks[id]!.final = true
        for arg in tasks[id]!.args {
            switch arg {
            case .reference(let object), .nestedReference(let object): model.pendingArgumentUses[object]! -= 1
            case .value: break
            }
        }
    }

    /// The owner's counts equal the model's; stored objects out of scope were freed once.
    func check() -> String? {
        var objects = Set(model.handles.keys)
        objects.formUnion(model.pendingArgumentUses.keys)
        for object in objects.sorted() {
            let inScope = model.inScope(object)
            guard let entry = owner.objects[object], !entry.freed else {
                if inScope { return "\(object) is in scope in the model but freed or gone in the owner" }
                if model.storedOutputs.contains(object) && (freed[object] ?? 0) != 1 {
                    return "\(object) left scope but was freed \(freed[object] ?? 0) times"
                }
                continue
            }
            if !inScope { return "\(object) is out of scope in the model but held by the owner" }
            if entry.localRefs != model.handles[object] ?? 0 {
                return "\(object): localRefs \(entry.localRefs), model \(model.handles[object] ?? 0)"
            }
            if entry.submittedRefs != model.pendingArgumentUses[object] ?? 0 {
                return "\(object): submittedRefs \(entry.submittedRefs), model \(model.pendingArgumentUses[object] ?? 0)"
            }
            if Set(entry.borrowers) != model.borrowers[object] ?? [] {
                return "\(object): borrowers \(entry.borrowers), model \(model.borrowers[object] ?? [])"
            }
        }
        return nil
    }

    /// Finish everything, release everything.
    mutating func drain() {
        var guardCount = 0
        while !running.isEmpty && guardCount < 10_000 {
            finish(0, stored: false, keepBorrow: false)
            guardCount += 1
        }
        while !borrowedHeld.isEmpty { unborrow(0) }
        while !handleOrder.isEmpty { release(0) }
    }
}

@Suite struct ReferenceCountingPropertyTests {
    @Test func ownerCountsMatchNaiveModel() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...79).array(of: 0...60)) { operations in
            var harness = OwnerHarness()
            for (step, operation) in operations.enumerated() {
                let choice = operation / 8
                switch operation % 8 {
                case 0: harness.submit(argumentChoice: choice, nested: false)
                case 1: harness.submit(argumentChoice: choice, nested: true)
                case 2: harness.put(large: choice % 2 == 0)
                case 3: harness.release(choice)
                case 4: harness.finish(choice, stored: choice % 2 == 0, keepBorrow: choice % 3 == 0)
                case 5: harness.crash(choice)
                case 6: harness.unborrow(choice)
                default: harness.finish(choice, stored: false, keepBorrow: false)
                }
                if let problem = harness.check() {
                    Issue.record("after step \(step) (\(operations.prefix(step + 1))): \(problem)")
                    return
                }
            }
            harness.drain()
            if let problem = harness.check() { Issue.record("after draining: \(problem)") }
            #expect(harness.owner.isQuiescent, "owner still holds \(harness.owner.tasks.count) tasks, \(harness.owner.objects.count) objects")
            #expect(harness.owner.lineageBytes == 0)
        }
    }
}
