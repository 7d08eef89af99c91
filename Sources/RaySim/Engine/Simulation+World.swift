// The simulated world under the one scenario driver (`ScenarioDriver`): the
// program's calls become inputs of the driver's owner machine, faults become
// simulated kills, restarts and cut links, and what a fault looks at is read
// from the machines. After `kill_driver`, the borrower probe asks a raylet on
// a live node for the dead owner's objects (each must fail with OwnerDied).

public import RayCore

extension Simulation: ScenarioWorld {
    /// The address the borrower probe uses.
    var probeWorker: WorkerID { WorkerID(node: headNode, index: UInt32.max) }

    public func timestamp() -> String { formatTime(now) }

    // MARK: The program

    /// Starts the scenario's program (the `driverStep` event at the workload's start).
    func driverStep() {
        guard driverAlive, program.phase == .notStarted else { return }
        let count = program.instanceCount
        driver.prepare { $0.reserveCapacity(tasks: count, objects: count) }
        do {
            try program.start()
        } catch {
            violation = violation ?? "the program failed: \(error)"
        }
    }

    // The IDs of what the program makes come from the owner's rule, advanced here call by call
    // (as the driver API does): a call made while the driver handles an input (a program reading
    // a value submits tasks) is queued, and the machine's next ID has not moved yet.
    public func put(_ data: ObjectData, on node: String?) -> ObjectID {
        if programIDs == nil { programIDs = driver.machine.ids }
        let object = programIDs!.takePut()
        handleDriver(.put(data, node: node.flatMap { nodeByName[$0] }))
        return object
    }

    public func submit(_ request: TaskRequest) -> ObjectID {
        if programIDs == nil { programIDs = driver.machine.ids }
        let object = ObjectID.returnValue(of: programIDs!.takeTask(), index: 1)
        handleDriver(.submitTask(request))
        return object
    }

    public func createActor(_ request: TaskRequest, _ options: ActorOptions) -> ActorID {
        if programIDs == nil { programIDs = driver.machine.ids }
        let actor = ActorID(creationTask: programIDs!.takeTask())
        handleDriver(.createActor(request, options))
        return actor
    }

    public func callActor(_ actor: ActorID, _ request: TaskRequest) -> ObjectID {
        if programIDs == nil { programIDs = driver.machine.ids }
        let object = ObjectID.returnValue(of: programIDs!.takeTask(), index: 1)
        handleDriver(.callActor(actor, request))
        return object
    }

    public func killActor(_ actor: ActorID, noRestart: Bool) -> String? {
        handleDriver(.killActor(actor, noRestart: noRestart))
        return nil
    }

    public func actorWorker(_ actor: ActorID) -> WorkerID? {
        guard let info = driver.machine.actors[actor]?.info, info.state == .alive else { return nil }
        return info.worker
    }

    public func nodeID(named name: String) -> NodeID? { nodeByName[name] }

    public func get(_ objects: [ObjectID]) {
        for object in objects { handleDriver(.get(object)) }
    }

    public func release(_ objects: [ObjectID]) {
        for object in objects { handleDriver(.release(object)) }
    }

    public func programFinished() {
        finishedAt = now
    }

    public func probeAsBorrower(_ objects: [ObjectID]) {
        let alive = nodeOrder.first { nodes[$0]?.alive == true } ?? headNode
        var requestID: UInt64 = 0
        for object in objects {
            requestID += 1
            probeRequests[requestID] = object
            send(.fetchObjects(requestID: requestID, objects: [object], owner: driverWorker),
                 from: .worker(probeWorker), to: .raylet(alive))
        }
    }

    func probeAnswered(_ message: Message) {
        guard case .objectsReady(let requestID, let values) = message,
              let object = probeRequests.removeValue(forKey: requestID), let value = values.first else { return }
        let alive = nodeOrder.first { nodes[$0]?.alive == true } ?? headNode
        send(.releaseFetch(requestID: requestID), from: .worker(probeWorker), to: .raylet(alive))
        program.probeAnswered(object, value)
    }

    // MARK: What a fault looks at

    public func haveBeenMade(_ objects: [ObjectID]) -> Bool {
        driverAlive && objects.allSatisfy { driver.machine.hasBeenMade($0) }
    }

    public func containedReferences(of object: ObjectID) -> [ObjectID] {
        driverAlive ? driver.machine.objects[object]?.contains ?? [] : []
    }

    public func holdBorrowed(_ objects: [ObjectID]) {
        for object in objects { handleDriver(.addReference(object)) }
    }

    public func owner(ofBorrowed object: ObjectID) -> WorkerID? {
        driverAlive ? driver.machine.borrowed[object]?.owner : nil
    }

    public func liveNode(named name: String) -> NodeID? {
        guard let node = nodeByName[name], nodes[node]?.alive == true else { return nil }
        return node
    }

    public func nodeName(_ node: NodeID) -> String { nodes[node]?.spec.name ?? "?" }

    public func primaryHolder(of objects: [ObjectID]) -> NodeID? {
        for object in objects {
            let holder = nodeOrder.first { node in
                guard let simNode = nodes[node], simNode.alive, let entry = simNode.raylet.store[object] else { return false }
                return entry.primary
            }
            if let holder { return holder }
        }
        return nil
    }

    public func workerRunning(anyOf tasks: Set<TaskID>) -> (worker: WorkerID, task: TaskID)? {
        for worker in executors.keys.sorted() {
            guard let task = executors[worker]?.runningTask?.taskID, tasks.contains(task) else { continue }
            return (worker, task)
        }
        return nil
    }

    // MARK: Faults

    public func kill(node: NodeID) -> String? {
        killNode(node)
        return nil
    }

    /// The head node dies, and with it the GCS and the driver, as in Ray: the cluster has no
    /// GCS (it is not restarted), and the run ends.
    public func killHeadNode() -> String? {
        commitLogs()
        killNode(headNode)
        gcsAlive = false
        driverAlive = false
        for node in nodeOrder where nodes[node]?.alive == true {
            scheduleDisconnect(observer: .raylet(node), peer: .gcs, after: latency(from: headNode, to: node))
        }
        return nil
    }

    public func restart(node: NodeID, as spec: NodeSpec) -> String? {
        killNode(node)
        schedule(.nodeRejoins(spec), after: options.nodeRestartMicros)
        return "it rejoins after \(formatTime(options.nodeRestartMicros))"
    }

    public func join(node spec: NodeSpec) -> String? {
        addNode(spec)
        return nil
    }

    public func kill(worker: WorkerID) -> String? {
        killWorkerProcess(worker)
        return nil
    }

    public func killAndRestartGCS() -> String? {
        commitLogs()
        gcsAlive = false
        for node in nodeOrder where nodes[node]?.alive == true {
            scheduleDisconnect(observer: .raylet(node), peer: .gcs, after: latency(from: headNode, to: node))
        }
        schedule(.gcsRestarted, after: options.gcsRestartMicros)
        return "back after \(formatTime(options.gcsRestartMicros))"
    }

    public func killDriver() -> String? {
        commitLogs()
        driverAlive = false
        scheduleDisconnect(observer: .gcs, peer: .worker(driverWorker), after: options.localLatencyMicros)
        // Give the GCS time to tell every raylet, then probe as a borrower would.
        schedule(.ownerDeathProbe, after: ScenarioDriver.probeDelayMicros)
        return nil
    }

    public func partition(_ groups: [[String]], for micros: Int64) -> String? {
        var groupOfNode: [String: Int] = [:]
        for (group, names) in groups.enumerated() { for name in names { groupOfNode[name] = group } }
        partitions.append(Partition(groupOfNode: groupOfNode, until: now + micros))
        lastPartitionEnd = max(lastPartitionEnd, now + micros)
        schedule(.partitionHealed, after: micros)
        return nil
    }

    public func cancel(_ objects: [ObjectID], force: Bool, recursive: Bool) -> String? {
        for object in objects { handleDriver(.cancel(object, force: force, recursive: recursive)) }
        return nil
    }

    public func wait(_ objects: [ObjectID], numReturns: Int, timeoutMicros: Int64?, fault: Int) {
        guard driverAlive else { return }
        waits[fault] = (objects, numReturns)
        if let timeoutMicros { schedule(.waitTimeout(fault), after: timeoutMicros) }
        checkWaits()
    }

    public func createPlacementGroup(_ bundles: [ResourceSet], strategy: PlacementStrategy,
                                     name: String) -> PlacementGroupID {
        if programIDs == nil { programIDs = driver.machine.ids }
        let id = PlacementGroupID(creationTask: programIDs!.takeTask())
        strictGroups[id] = strategy == .strictSpread || strategy == .strictPack ? strategy : nil
        handleDriver(.createPlacementGroup(bundles: bundles, strategy: strategy, name: name, detached: false))
        return id
    }

    public func removePlacementGroup(_ id: PlacementGroupID) -> String? {
        handleDriver(.removePlacementGroup(id))
        return nil
    }

    public func placementGroupInfo(_ id: PlacementGroupID) -> PlacementGroupInfo? {
        driverAlive ? driver.machine.placementGroups[id] : nil
    }

    /// Answers the waits with enough ready references (readiness is the owner's rule, and it
    /// changes only with the owner's inputs: checked after each).
    func checkWaits() {
        for fault in waits.keys.sorted() { answerWait(fault, timedOut: false) }
    }

    /// Answers wait `fault` if enough are ready, or (at its timeout) with what is ready.
    func answerWait(_ fault: Int, timedOut: Bool) {
        guard driverAlive, let wait = waits[fault] else { return }
        let ready = wait.objects.indices.filter { driver.machine.isReady(wait.objects[$0]) }
        guard timedOut || ready.count >= wait.numReturns else { return }
        waits[fault] = nil
        program.waitAnswered(fault: fault, ready: Array(ready.prefix(wait.numReturns)), timedOut: timedOut)
    }

    /// A fault's moment came: fire it, or try again shortly when its target does not exist yet.
    func applyFault(_ index: Int) {
        guard !program.faultsDone[index] else { return }
        let fired = (try? program.fire(index)) ?? true  // The simulated world never throws.
        if !fired { schedule(.fault(index), after: Self.faultRetryMicros) }
    }

    static let faultRetryMicros: Int64 = 1_000

    /// Fires `after:` faults whose instances have all been made.
    func checkAfterFaults() {
        for index in program.newlyDueAfterFaults() { schedule(.fault(index), after: 0) }
    }
}
