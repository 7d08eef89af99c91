// The fault plan: each `faults:` entry fires at a time since the workload
// started, or once some instances finished. A fault whose target does not
// exist yet (no worker runs `step[*]`, no node holds `load[0]`) waits and
// retries every millisecond of simulated time.

import RayCore

extension Simulation {
    static let faultRetryMicros: Int64 = 1_000

    func applyFault(_ index: Int) {
        guard !faultsDone[index] else { return }
        let fault = scenario.faults[index]
        let done: Bool
        switch fault.action {
        case .killNode(let target):
            done = killNodeFault(target, index: index)
        case .restartNode(let name):
            done = restartNodeFault(name)
        case .addNode(let spec):
            addNode(spec)
            faultLines.append("  \(formatTime(now)) fault \(index): node \(spec.name) added")
            done = true
        case .killWorker(let running):
            done = killWorkerFault(running, index: index)
        case .restartGCS:
            commitLogs()
            gcsAlive = false
            faultLines.append("  \(formatTime(now)) fault \(index): GCS killed; restarting from its log")
            for node in nodeOrder where nodes[node]?.alive == true {
                scheduleDisconnect(observer: .raylet(node), peer: .gcs, after: latency(from: headNode, to: node))
            }
            schedule(.gcsRestarted, after: options.gcsRestartMicros)
            done = true
        case .partition(let groups, let duration):
            var groupOfNode: [String: Int] = [:]
            for (group, names) in groups.enumerated() { for name in names { groupOfNode[name] = group } }
            partitions.append(Partition(groupOfNode: groupOfNode, until: now + duration))
            lastPartitionEnd = max(lastPartitionEnd, now + duration)
            schedule(.partitionHealed(index), after: duration)
            faultLines.append("  \(formatTime(now)) fault \(index): partition \(groups) for \(formatTime(duration))")
            done = true
        case .killDriver:
            commitLogs()
            driverAlive = false
            driverPhase = .dead
            faultLines.append("  \(formatTime(now)) fault \(index): driver (owner) killed")
            scheduleDisconnect(observer: .gcs, peer: .worker(driverWorker), after: options.localLatencyMicros)
            // Give the GCS time to tell every raylet, then probe as a borrower would.
            schedule(.ownerDeathProbe, after: 1_000_000)
            done = true
        case .killActor:
            done = true  // rejected before the run starts
        }
        if done {
            faultsDone[index] = true
        } else {
            schedule(.fault(index), after: Self.faultRetryMicros)
        }
    }

    private func killNodeFault(_ target: FaultAction.NodeTarget, index: Int) -> Bool {
        let node: NodeID?
        switch target {
        case .named(let name):
            node = nodeByName[name]
        case .holding(let pattern):
            node = plan.resolve(pattern).lazy.compactMap { self.primaryHolder(of: $0) }.first
        }
        guard let node, nodes[node]?.alive == true else { return false }
        if node == headNode {
            killHead(index: index)
            return true
        }
        faultLines.append("  \(formatTime(now)) fault \(index): node \(nodes[node]?.spec.name ?? "?") (\(node)) killed")
        killNode(node)
        return true
    }

    /// How a fault that never fired is reported, in both worlds (no `fault N:` prefix: it is not
    /// counted as fired).
    public static func unfiredFaultLine(_ index: Int, _ fault: FaultSpec) -> String {
        let target: String
        switch fault.action {
        case .killNode(.named(let name)): target = "node \(name) alive"
        case .killNode(.holding(let pattern)): target = "a live node holding \(pattern)"
        case .killWorker(let pattern): target = "a worker running \(pattern)"
        case .restartNode(let name): target = "node \(name) alive"
        default: target = "its moment"
        }
        let when: String
        switch fault.trigger {
        case .at(let micros): when = "at \(formatTime(micros))"
        case .after(let pattern): when = "after \(pattern)"
        }
        return "  fault \(index) did not fire (\(when), needing \(target)): the run ended first"
    }

    /// What the program's gets end with when the head node dies (an OwnerDied error, in both worlds).
    public static let headDeathMessage = "the driver died with the head node (the driver and the GCS run there, as in "
        + "Ray): its gets have no results, a borrower would get OwnerDied"
    static let headDeathError = RayError(.ownerDied, headDeathMessage)

    /// The head node dies, and with it the GCS and the driver, as in Ray. What a Ray user sees:
    /// the driver is gone (every get it made ends with OwnerDied: what it had received died with
    /// it, as after kill_driver), the cluster has no GCS (it is not restarted), and the run ends.
    func killHead(index: Int) {
        commitLogs()
        faultLines.append("  \(formatTime(now)) fault \(index): head node \(nodes[headNode]?.spec.name ?? "?") (\(headNode)) "
            + "killed, and the GCS and the driver with it")
        killNode(headNode)
        headKilled = true
        gcsAlive = false
        driverAlive = false
        for node in nodeOrder where nodes[node]?.alive == true {
            scheduleDisconnect(observer: .raylet(node), peer: .gcs, after: latency(from: headNode, to: node))
        }
        for index in resolved.indices { resolved[index] = .error(Self.headDeathError) }
        unresolvedGets = 0
        driverPhase = .probed
        finishedAt = now
    }

    private func restartNodeFault(_ name: String) -> Bool {
        guard let node = nodeByName[name], let spec = nodes[node]?.spec, nodes[node]?.alive == true else { return false }
        faultLines.append("  \(formatTime(now)) node \(name) (\(node)) killed; rejoins as a new node")
        killNode(node)
        schedule(.nodeRejoins(spec), after: options.nodeRestartMicros)
        return true
    }

    private func killWorkerFault(_ pattern: RefPattern, index: Int) -> Bool {
        let wanted = Set(plan.resolve(pattern).compactMap { refs[$0]?.task })
        guard let worker = executors.keys.sorted().first(where: { worker in
            guard let task = executors[worker]?.runningTask?.taskID else { return false }
            return wanted.contains(task)
        }) else { return false }
        let name = executors[worker]?.runningTask.map { "\($0.function)[\($0.instance)]" } ?? "?"
        faultLines.append("  \(formatTime(now)) fault \(index): worker \(worker) running \(name) killed")
        killWorkerProcess(worker)
        return true
    }

    /// The alive node whose store holds the primary copy of `ref`'s object.
    func primaryHolder(of ref: InstanceRef) -> NodeID? {
        guard let object = refs[ref] else { return nil }
        return nodeOrder.first { node in
            guard let simNode = nodes[node], simNode.alive, let entry = simNode.raylet.store[object] else { return false }
            return entry.primary
        }
    }

    /// Fires `after:` faults whose instances have all finished.
    func checkAfterFaults() {
        for (index, fault) in scenario.faults.enumerated() where !faultsDone[index] {
            guard case .after(let pattern) = fault.trigger, !afterFaultsScheduled.contains(index) else { continue }
            let finished = plan.resolve(pattern).allSatisfy { ref in
                guard let object = refs[ref], let entry = driver.objects[object] else { return false }
                if case .pending = entry.state { return false }
                return true
            }
            if finished {
                afterFaultsScheduled.insert(index)
                schedule(.fault(index), after: 0)
            }
        }
    }
}

/// `1.5s`, `20ms`, `150us`.
func formatTime(_ micros: Int64) -> String {
    if micros >= 1_000_000 && micros % 1_000 == 0 {
        let millis = micros / 1_000
        return millis % 1_000 == 0 ? "\(millis / 1_000)s" : "\(millis / 1_000).\(String(format3(millis % 1_000)))s"
    }
    if micros >= 1_000 && micros % 1_000 == 0 { return "\(micros / 1_000)ms" }
    if micros >= 1_000 { return "\(micros / 1_000).\(format3(micros % 1_000))ms" }
    return "\(micros)us"
}

private func format3(_ value: Int64) -> String {
    let text = String(value)
    return String(repeating: "0", count: max(0, 3 - text.count)) + text
}
