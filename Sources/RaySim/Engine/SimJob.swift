// A driver in the simulated world: the scenario's program (job 1) or one of its `jobs:`
// (job 2, 3, ...). Each is an owner machine on the head node with its own worker address,
// event log and ID sequence, and the world its scenario driver talks to: the program's
// calls become inputs of this owner; what faults do and look at is the simulation's
// (only the main program has faults).

import RayCore
import RayStorage

final class SimJob: ScenarioWorld {
    unowned(unsafe) let sim: Simulation
    /// 0 for the main program, k for `jobs[k-1]`.
    let index: Int
    let job: JobID
    let worker: WorkerID
    var owner: ComponentDriver<Owner>!
    var alive = true
    /// The program's ID sequence (`put`, `submit`), taken from the owner at its first call.
    var ids: OwnerIDs?
    var log: (any EventLog)?
    /// The job's program (the scenario driver for its scenario).
    var program: ScenarioDriver!
    /// Puts the program made (the owner may not have handled them all yet).
    var putsMade = 0
    /// The job told the GCS it finished (`Ray.shutdown()`).
    var ended = false
    /// Until when a put past the owner's soft quota holds the program (`OwnedObjectsRule.pace`),
    /// and the program's calls made meanwhile, each with the time the program made it: as a
    /// real program is held in its put, what it does next reaches the owner then.
    var heldUntil: Int64 = 0
    var heldCalls: FIFOQueue<(at: Int64, call: Call)> = FIFOQueue()

    /// What the program asks: of its owner, or a wait (whose timeout starts when it is made).
    enum Call {
        case owner(OwnerInput)
        case wait(_ objects: [ObjectID], numReturns: Int, timeoutMicros: Int64?, fault: Int)
    }

    init(sim: Simulation, index: Int, head: NodeID) {
        self.sim = sim
        self.index = index
        job = JobID(UInt32(index + 1))
        // The main driver is the head's worker 0; the others take addresses no worker the
        // raylet starts takes.
        worker = WorkerID(node: head, index: index == 0 ? 0 : UInt32.max - 1 - UInt32(index))
    }

    /// Hands the owner an input (dropped once the driver is dead).
    func handle(_ input: OwnerInput) {
        guard alive else { return }
        owner.submit(input)
        guard index == 0 else { return }
        if case .messageReceived(_, .taskReply) = input { sim.checkAfterFaults() }
        if !sim.waits.isEmpty { sim.checkWaits() }
    }

    /// A call of the program: handed to the owner now, or when a put past the soft quota lets
    /// the program go on (`programResumes`).
    private func call(_ input: OwnerInput) { call(.owner(input)) }

    private func call(_ call: Call) {
        let at = max(heldUntil, sim.now)
        guard at > sim.now || !heldCalls.isEmpty else { return perform(call) }
        if heldCalls.last?.at != at { sim.schedule(.programResumes(index), at: at) }
        heldCalls.append((at, call))
    }

    private func perform(_ call: Call) {
        switch call {
        case .owner(let input):
            handle(input)
        case .wait(let objects, let numReturns, let timeoutMicros, let fault):
            sim.wait(objects, numReturns: numReturns, timeoutMicros: timeoutMicros, fault: fault)
        }
    }

    /// The program goes on (`programResumes`): its calls made by now reach the owner (a wait
    /// starts, its timeout with it), in order.
    func resume() {
        while let first = heldCalls.first, first.at <= sim.now {
            heldCalls.popFirst()
            perform(first.call)
        }
    }

    /// Starts the program (at the workload's start, or the job's `start`).
    func step() {
        guard alive, program.phase == .notStarted else { return }
        let count = program.instanceCount
        owner.prepare { $0.reserveCapacity(tasks: count, objects: count) }
        do {
            try program.start()
        } catch {
            sim.violation = sim.violation ?? "the program of \(job) failed: \(error)"
        }
    }

    // MARK: The program

    public func timestamp() -> String { sim.timestamp() }
    public var elapsedMicros: Int64 { sim.now - sim.workloadStart }

    // The IDs of what the program makes come from the owner's rule, advanced here call by call
    // (as the driver API does): a call made while the driver handles an input (a program reading
    // a value submits tasks) is queued, and the machine's next ID has not moved yet.
    private func takeTask() -> TaskID {
        if ids == nil { ids = owner.machine.ids }
        return ids!.takeTask()
    }

    /// Refused before an ID is taken when over the object size limit (a thrown RayError), as
    /// the real driver refuses it before allocating.
    public func put(_ data: ObjectData, on node: String?) throws -> ObjectID {
        let machine = owner.machine
        if let refusal = ObjectSizeRule.refusal(data.sizeBytes, limit: machine.config.objectSizeLimit,
                                                what: "the value put") { throw refusal }
        // The owner's table as it will be once every put made is handled (as a real driver counts it).
        let entries = machine.objects.count - machine.metrics.puts + putsMade
        if let refusal = OwnedObjectsRule.refusal(entries: entries, config: machine.config) { throw refusal }
        putsMade += 1
        if ids == nil { ids = owner.machine.ids }
        let object = ids!.takePut()
        call(.put(data, node: node.flatMap { sim.nodeByName[$0] }))
        if OwnedObjectsRule.pastSoftLimit(entries: entries, config: machine.config) {
            heldUntil = OwnedObjectsRule.pace(after: heldUntil, now: sim.now)
        }
        return object
    }

    public func submit(_ request: TaskRequest) -> ObjectID {
        let object = ObjectID.returnValue(of: takeTask(), index: 1)
        call(.submitTask(request))
        return object
    }

    public func createActor(_ request: TaskRequest, _ options: ActorOptions) -> ActorID {
        let actor = ActorID(creationTask: takeTask())
        call(.createActor(request, options))
        return actor
    }

    public func callActor(_ actor: ActorID, _ request: TaskRequest) -> ObjectID {
        let object = ObjectID.returnValue(of: takeTask(), index: 1)
        call(.callActor(actor, request))
        return object
    }

    public func killActor(_ actor: ActorID, noRestart: Bool) -> String? {
        call(.killActor(actor, noRestart: noRestart))
        return nil
    }

    public func actorWorker(_ actor: ActorID) -> WorkerID? {
        guard let info = owner.machine.actors[actor]?.info, info.state == .alive else { return nil }
        return info.worker
    }

    public func nodeID(named name: String) -> NodeID? { sim.nodeByName[name] }

    public func get(_ objects: [ObjectID]) {
        for object in objects { call(.get(object)) }
    }

    public func release(_ objects: [ObjectID]) {
        for object in objects { call(.release(object)) }
    }

    /// The run ends (after its grace) once every job's program finished.
    public func programFinished() {
        if sim.program.allFinished { sim.finishedAt = sim.now }
    }

    public func probeAsBorrower(_ objects: [ObjectID]) { sim.probeAsBorrower(objects, owner: worker) }

    public func cancel(_ objects: [ObjectID], force: Bool, recursive: Bool) -> String? {
        for object in objects { call(.cancel(object, force: force, recursive: recursive)) }
        return nil
    }

    public func wait(_ objects: [ObjectID], numReturns: Int, timeoutMicros: Int64?, fault: Int) {
        call(.wait(objects, numReturns: numReturns, timeoutMicros: timeoutMicros, fault: fault))
    }

    public func createPlacementGroup(_ bundles: [ResourceSet], strategy: PlacementStrategy,
                                     name: String) -> PlacementGroupID {
        let id = PlacementGroupID(creationTask: takeTask())
        sim.strictGroups[id] = strategy == .strictSpread || strategy == .strictPack ? strategy : nil
        call(.createPlacementGroup(bundles: bundles, strategy: strategy, name: name, detached: false))
        return id
    }

    public func removePlacementGroup(_ id: PlacementGroupID) -> String? {
        call(.removePlacementGroup(id))
        return nil
    }

    public func placementGroupInfo(_ id: PlacementGroupID) -> PlacementGroupInfo? {
        alive ? owner.machine.placementGroups[id] : nil
    }

    public func haveBeenMade(_ objects: [ObjectID]) -> Bool {
        alive && objects.allSatisfy { owner.machine.hasBeenMade($0) }
    }

    public func containedReferences(of object: ObjectID) -> [ObjectID] {
        alive ? owner.machine.objects[object]?.contains ?? [] : []
    }

    public func holdBorrowed(_ objects: [ObjectID]) {
        for object in objects { call(.addReference(object)) }
    }

    public func owner(ofBorrowed object: ObjectID) -> WorkerID? {
        alive ? owner.machine.borrowed[object]?.owner : nil
    }

    // MARK: What faults do and look at: the simulation's

    public var headNode: NodeID { sim.headNode }
    public func liveNode(named name: String) -> NodeID? { sim.liveNode(named: name) }
    public func nodeName(_ node: NodeID) -> String { sim.nodeName(node) }
    public func primaryHolder(of objects: [ObjectID]) -> NodeID? { sim.primaryHolder(of: objects) }
    public func workerRunning(anyOf tasks: Set<TaskID>) -> (worker: WorkerID, task: TaskID)? {
        sim.workerRunning(anyOf: tasks)
    }
    public func kill(node: NodeID) -> String? { sim.kill(node: node) }
    public func killHeadNode() -> String? { sim.killHeadNode() }
    public func restart(node: NodeID, as spec: NodeSpec) -> String? { sim.restart(node: node, as: spec) }
    public func join(node spec: NodeSpec) -> String? { sim.join(node: spec) }
    public func kill(worker: WorkerID) -> String? { sim.kill(worker: worker) }
    public func killAndRestartGCS() -> String? { sim.killAndRestartGCS() }
    public func killDriver() -> String? { sim.killDriver() }
    public func partition(_ groups: [[String]], for micros: Int64) -> String? { sim.partition(groups, for: micros) }
}
