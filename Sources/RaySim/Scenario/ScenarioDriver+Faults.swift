// The fault plan, in either world: each `faults:` entry fires at a time since
// the workload started, or once some instances have been made. Its target is
// resolved here (a node by name, the node holding an object's primary copy, a
// worker running an instance); a fault whose target does not exist yet waits,
// and the world tries it again shortly. A fault that never fired is reported
// as such, and fails a scenario file's run unless the driver died.

public import RayCore

extension ScenarioDriver {
    /// The `at:` faults: index and microseconds since the workload started.
    public var timedFaults: [(index: Int, micros: Int64)] {
        scenario.faults.enumerated().compactMap { index, fault in
            if case .at(let micros) = fault.trigger { return (index, micros) }
            return nil
        }
    }

    /// The `after:` faults not found due yet, with the objects each waits for (for a world that
    /// watches them where its driver runs).
    public var pendingAfterFaults: [(index: Int, objects: [ObjectID])] {
        scenario.faults.enumerated().compactMap { index, fault in
            guard case .after(let pattern) = fault.trigger, !faultsDone[index], !afterFaultsDue.contains(index) else {
                return nil
            }
            return (index, afterRefs(pattern).compactMap { refs[$0] })
        }
    }

    /// The `after:` faults whose instances have all been made since the last call: each is
    /// reported once; the world fires it (and retries it while its target is missing).
    public func newlyDueAfterFaults() -> [Int] {
        var due: [Int] = []
        for (index, fault) in scenario.faults.enumerated() where !faultsDone[index] && !afterFaultsDue.contains(index) {
            guard case .after(let pattern) = fault.trigger else { continue }
            let refs = afterRefs(pattern)
            let objects = refs.compactMap { self.refs[$0] }
            guard objects.count == refs.count, world.haveBeenMade(objects) else { continue }
            afterFaultsDue.insert(index)
            due.append(index)
        }
        return due
    }

    /// The faults that have not fired.
    public var unfiredFaults: [Int] { faultsDone.indices.filter { !faultsDone[$0] } }

    /// Fires fault `index`: resolves its target and has the world do it. False when the target
    /// does not exist yet (no node holds the object, no worker runs the instance, the node is
    /// not alive): the world tries again shortly. `stamp`: when the world did it already.
    @discardableResult
    public func fire(_ index: Int, stamp: String? = nil) throws -> Bool {
        guard !faultsDone[index] else { return true }
        let line: String
        switch scenario.faults[index].action {
        case .killNode(let target):
            let node: NodeID?
            var holding = ""
            switch target {
            case .named(let name):
                node = world.liveNode(named: name)
            case .holding(let pattern):
                if let actor = actorInstances(pattern).first.flatMap({ actorIDs[$0] }) {
                    node = world.actorWorker(actor)?.node
                    holding = " hosting actor \(pattern)"
                } else {
                    node = world.primaryHolder(of: objects(pattern))
                    holding = " holding \(pattern)"
                }
            case .running(let pattern):
                node = world.workerRunning(anyOf: Set(objects(pattern).map(\.task)))?.worker.node
                holding = " running \(pattern)"
            case .bundle(let group, let index):
                node = bundleNode(group, index)
                holding = " holding bundle \(index) of \(group)"
            }
            guard let node else { return false }
            let name = world.nodeName(node)
            if node == world.headNode {
                let how = world.killHeadNode()
                line = "head node \(name) (\(node))\(holding) killed, and the GCS and the driver with it" + detail(how)
                driverDied(withHead: true)
            } else {
                line = "node \(name) (\(node))\(holding) killed" + detail(world.kill(node: node))
            }
        case .restartNode(let name):
            guard let node = world.liveNode(named: name), let spec = nodeSpecs[name] else { return false }
            line = "node \(name) (\(node)) killed and restarted as a new node" + detail(try world.restart(node: node, as: spec))
        case .addNode(let spec):
            nodeSpecs[spec.name] = spec
            line = "node \(spec.name) added" + detail(try world.join(node: spec))
        case .killWorker(let pattern):
            guard let (worker, task) = world.workerRunning(anyOf: Set(objects(pattern).map(\.task))) else { return false }
            let running = refByObject[.returnValue(of: task, index: 1)].map { "\($0)" } ?? "\(task)"
            line = "worker \(worker) running \(running) killed" + detail(world.kill(worker: worker))
        case .restartGCS:
            line = "GCS killed and restarted from its log" + detail(try world.killAndRestartGCS())
        case .partition(let groups, let duration):
            let cut = groups.map { "[" + $0.joined(separator: ", ") + "]" }.joined(separator: " | ")
            line = "partition \(cut) for \(formatTime(duration))" + detail(try world.partition(groups, for: duration))
        case .killDriver:
            line = "driver (owner) killed" + detail(world.killDriver())
            driverDied(withHead: false)
        case .cancel(let pattern, let force, let recursive):
            guard !driverKilled else { return false }  // A dead program calls nothing.
            line = "the driver cancels \(pattern)\(force ? " (force)" : "")\(recursive ? "" : " (not recursive)")"
                + detail(world.cancel(objects(pattern), force: force, recursive: recursive))
        case .wait(let pattern, let numReturns, let timeout):
            guard !driverKilled else { return false }  // A dead program calls nothing.
            let objects = objects(pattern)
            pendingWaits[index] = (objects.count, numReturns, timeout)
            line = "the driver waits for \(numReturns) of \(pattern)" + (timeout.map { " (timeout \(formatTime($0)))" } ?? "")
            // Recorded before the call: a world may answer at once, and its answer's line follows.
            faultsDone[index] = true
            faultLines.append("  \(stamp ?? world.timestamp()) fault \(index): \(line)")
            world.wait(objects, numReturns: numReturns, timeoutMicros: timeout, fault: index)
            return true
        case .killWorkerOwning(let pattern):
            guard let object = objects(pattern).first, let worker = world.owner(ofBorrowed: object) else { return false }
            let named = refByObject[object].map { "\($0)" } ?? "\(object)"
            line = "worker \(worker) owning \(named) killed" + detail(world.kill(worker: worker))
        case .removePlacementGroup(let name):
            guard !driverKilled else { return false }  // A dead program calls nothing.
            line = "the driver removes placement group \(name)" + detail(removePlacementGroup(name))
        case .killActor(let pattern, let noRestart):
            guard !driverKilled, let ref = actorInstances(pattern).first, let actor = actorIDs[ref] else { return false }
            line = "the driver kills actor \(ref)\(noRestart ? " (no restart)" : "")"
                + detail(world.killActor(actor, noRestart: noRestart))
        }
        faultsDone[index] = true
        faultLines.append("  \(stamp ?? world.timestamp()) fault \(index): \(line)")
        getBorrowedIfDue()
        return true
    }

    private func detail(_ how: String?) -> String { how.map { " (\($0))" } ?? "" }

    /// A `ray.wait` returned: checks Ray's contract on its answer (a safety failure if broken):
    /// the ready indices are distinct, in input order and within range; never more than
    /// `num_returns`; fewer only when the timeout passed (a wait returns as soon as enough are
    /// ready, and with no timeout it returns only then).
    public func waitAnswered(fault index: Int, ready: [Int], timedOut: Bool) {
        guard let wait = pendingWaits.removeValue(forKey: index) else { return }
        let inOrder = zip(ready, ready.dropFirst()).allSatisfy { $0 < $1 }
        if !inOrder || ready.contains(where: { !(0..<wait.count).contains($0) }) {
            noteWrongValue("wait (fault \(index)) answered indices \(ready) for \(wait.count) references: "
                + "not distinct, in order and in range")
        } else if ready.count > wait.numReturns {
            noteWrongValue("wait (fault \(index)) returned \(ready.count) ready references, more than num_returns "
                + "\(wait.numReturns)")
        } else if ready.count < wait.numReturns && !timedOut {
            noteWrongValue("wait (fault \(index)) returned \(ready.count) of num_returns \(wait.numReturns) without "
                + "its timeout passing")
        } else if ready.count < wait.numReturns && wait.timeoutMicros == nil {
            noteWrongValue("wait (fault \(index)) has no timeout but returned \(ready.count) of num_returns "
                + "\(wait.numReturns)")
        }
        note("wait (fault \(index)) returned \(ready.count) of \(wait.count) ready"
            + (ready.count < wait.numReturns ? " at its timeout" : ""))
        getBorrowedIfDue()
        finishIfAllResolved()
    }

    /// How a fault that never fired is reported, in both worlds (no `fault N:` prefix: it is not
    /// counted as fired).
    public static func unfiredFaultLine(_ index: Int, _ fault: FaultSpec) -> String {
        let target: String
        switch fault.action {
        case .killNode(.named(let name)): target = "node \(name) alive"
        case .killNode(.holding(let pattern)): target = "a live node holding \(pattern)"
        case .killNode(.running(let pattern)): target = "a node running \(pattern)"
        case .killNode(.bundle(let group, let index)): target = "a live node holding bundle \(index) of \(group) (created)"
        case .killWorker(let pattern): target = "a worker running \(pattern)"
        case .killWorkerOwning(let pattern): target = "the owner of \(pattern) (known once its parent's value is)"
        case .restartNode(let name): target = "node \(name) alive"
        case .cancel, .wait, .removePlacementGroup: target = "a live driver"
        default: target = "its moment"
        }
        let when: String
        switch fault.trigger {
        case .at(let micros): when = "at \(formatTime(micros))"
        case .after(let pattern): when = "after \(pattern)"
        }
        return "  fault \(index) did not fire (\(when), needing \(target)): the run ended first"
    }
}

/// `1.5s`, `20ms`, `150us`.
public func formatTime(_ micros: Int64) -> String {
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
