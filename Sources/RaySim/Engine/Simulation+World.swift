// The simulated world under the one scenario driver (`ScenarioDriver`): the
// program's calls become inputs of the driver's owner machine, faults become
// simulated kills, restarts and cut links, and what a fault looks at is read
// from the machines. After `kill_driver`, the borrower probe asks a raylet on
// a live node for the dead owner's objects (each must fail with OwnerDied).

import RayCore

extension Simulation {
    /// The address the borrower probe uses.
    var probeWorker: WorkerID { WorkerID(node: headNode, index: UInt32.max) }

    public func timestamp() -> String { formatTime(now) }

    // MARK: The program's (each job's own calls are its `SimJob`'s)

    /// Starts the scenario's program (the `driverStep` event at the workload's start), or job `index`'s.
    func driverStep(_ index: Int) {
        jobs[index].step()
    }

    func probeAsBorrower(_ objects: [ObjectID], owner: WorkerID) {
        let alive = nodeOrder.first { nodes[$0]?.alive == true } ?? headNode
        var requestID: UInt64 = 0
        for object in objects {
            requestID += 1
            probeRequests[requestID] = object
            send(.fetchObjects(requestID: requestID, objects: [object], owner: owner),
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

    func liveNode(named name: String) -> NodeID? {
        guard let node = nodeByName[name], nodes[node]?.alive == true else { return nil }
        return node
    }

    func nodeName(_ node: NodeID) -> String { nodes[node]?.spec.name ?? "?" }

    func primaryHolder(of objects: [ObjectID]) -> NodeID? {
        for object in objects {
            let holder = nodeOrder.first { node in
                guard let simNode = nodes[node], simNode.alive, let entry = simNode.raylet.store[object] else { return false }
                return entry.primary
            }
            if let holder { return holder }
        }
        return nil
    }

    func workerRunning(anyOf tasks: Set<TaskID>) -> (worker: WorkerID, task: TaskID)? {
        for worker in executors.keys.sorted() {
            guard let task = executors[worker]?.runningTask?.taskID, tasks.contains(task) else { continue }
            return (worker, task)
        }
        return nil
    }

    // MARK: Faults

    func kill(node: NodeID) -> String? {
        killNode(node)
        return nil
    }

    /// The head node dies, and with it the GCS and the driver, as in Ray: the cluster has no
    /// GCS (it is not restarted), and the run ends.
    func killHeadNode() -> String? {
        commitLogs()
        killNode(headNode)
        gcsAlive = false
        for job in jobs { job.alive = false }  // Every driver runs on the head.
        for node in nodeOrder where nodes[node]?.alive == true {
            scheduleDisconnect(observer: .raylet(node), peer: .gcs, after: latency(from: headNode, to: node))
        }
        return nil
    }

    func restart(node: NodeID, as spec: NodeSpec) -> String? {
        killNode(node)
        schedule(.nodeRejoins(spec), after: options.nodeRestartMicros)
        return "it rejoins after \(formatTime(options.nodeRestartMicros))"
    }

    func join(node spec: NodeSpec) -> String? {
        addNode(spec)
        return nil
    }

    func kill(worker: WorkerID) -> String? {
        killWorkerProcess(worker)
        return nil
    }

    func killAndRestartGCS() -> String? {
        commitLogs()
        gcsAlive = false
        for node in nodeOrder where nodes[node]?.alive == true {
            scheduleDisconnect(observer: .raylet(node), peer: .gcs, after: latency(from: headNode, to: node))
        }
        schedule(.gcsRestarted, after: options.gcsRestartMicros)
        return "back after \(formatTime(options.gcsRestartMicros))"
    }

    func killDriver() -> String? {
        commitLogs()
        driverAlive = false
        scheduleDisconnect(observer: .gcs, peer: .worker(driverWorker), after: options.localLatencyMicros)
        // Give the GCS time to tell every raylet, then probe as a borrower would.
        schedule(.ownerDeathProbe, after: ScenarioDriver.probeDelayMicros)
        return nil
    }

    func partition(_ groups: [[String]], for micros: Int64) -> String? {
        var groupOfNode: [String: Int] = [:]
        for (group, names) in groups.enumerated() { for name in names { groupOfNode[name] = group } }
        partitions.append(Partition(groupOfNode: groupOfNode, until: now + micros))
        lastPartitionEnd = max(lastPartitionEnd, now + micros)
        schedule(.partitionHealed, after: micros)
        return nil
    }

    func wait(_ objects: [ObjectID], numReturns: Int, timeoutMicros: Int64?, fault: Int) {
        guard driverAlive else { return }
        waits[fault] = (objects, numReturns)
        if let timeoutMicros { schedule(.waitTimeout(fault), after: timeoutMicros) }
        checkWaits()
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
