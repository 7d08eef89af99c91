// The driver program of a scenario: put the objects, submit every task
// instance in order (references resolved to the object IDs returned so far),
// get what the scenario asks for, verify each value as it arrives, then
// release every handle so the leak check can see a clean cluster.
// After `kill_driver`, a borrower probe asks a raylet for the dead owner's
// objects, which must fail with OwnerDied.

import RayCore

/// Where the driver program is.
enum DriverPhase: Equatable {
    case notStarted
    case waitingForGets
    case done
    case dead
    case probed
}

extension Simulation {
    /// The address the borrower probe uses.
    var probeWorker: WorkerID { WorkerID(node: headNode, index: UInt32.max) }

    func driverStep() {
        guard driverAlive, driverPhase == .notStarted else { return }
        let instances = scenario.workload.tasks.reduce(0) { $0 + $1.count }
        driver.prepare { $0.reserveCapacity(tasks: instances, objects: instances + scenario.workload.puts.count) }
        refs.reserveCapacity(instances + scenario.workload.puts.count)
        refByObject.reserveCapacity(instances + scenario.workload.puts.count)
        for put in scenario.workload.puts {
            let object = driver.nextPutID
            let data = ObjectData(sizeBytes: put.sizeBytes, digest: SyntheticContent.putDigest(name: put.name))
            handleDriver(.put(data, node: put.node.flatMap { nodeByName[$0] }))
            remember(InstanceRef(name: put.name, index: 0, isPut: true), object)
        }
        for group in scenario.workload.tasks {
            let body = SyntheticBody.encode(group)
            let strategy = schedulingStrategy(group.strategy)
            for index in 0..<group.count {
                let args = plan.arguments(of: group, instance: index).compactMap { refs[$0].map(TaskArg.reference) }
                    + plan.nestedArguments(of: group, instance: index).compactMap { refs[$0].map(TaskArg.nestedReference) }
                let object = ObjectID.returnValue(of: driver.nextTaskID, index: 1)
                handleDriver(.submitTask(TaskRequest(
                    function: group.name, instance: index, args: args, resources: group.resources,
                    strategy: strategy, maxRetries: group.maxRetries, retryExceptions: group.retryExceptions,
                    body: body)))
                remember(InstanceRef(name: group.name, index: index, isPut: false), object)
            }
        }
        getList = gets()
        unresolvedGets = getList.count
        resolved = Array(repeating: nil, count: getList.count)
        for (index, ref) in getList.enumerated() { if let object = refs[ref] { getIndex[object] = index } }
        driverPhase = .waitingForGets
        for ref in getList {
            guard let object = refs[ref] else { continue }
            handleDriver(.get(object))
        }
        finishIfAllResolved()
    }

    /// What the get of `ref` returned, if it returned.
    func result(_ ref: InstanceRef) -> ObjectValue? {
        guard let object = refs[ref], let index = getIndex[object] else { return nil }
        return resolved[index]
    }

    private func remember(_ ref: InstanceRef, _ object: ObjectID) {
        refs[ref] = object
        refByObject[object] = ref
        refOrder.append(object)
    }

    /// `get` plus every reference named in `expect.results`, each instance once, in order.
    private func gets() -> [InstanceRef] {
        var seen: Set<InstanceRef> = []
        var list: [InstanceRef] = []
        let patterns = scenario.workload.get + scenario.expect.results.map(\.0)
        for pattern in patterns {
            for ref in plan.resolve(pattern) where seen.insert(ref).inserted { list.append(ref) }
        }
        return list
    }

    private func schedulingStrategy(_ spec: StrategySpec) -> SchedulingStrategy {
        switch spec {
        case .default: return .default
        case .spread: return .spread
        case .nodeAffinity(let name, let soft):
            // A node that does not exist (yet) gets an ID no node has: hard affinity then fails clearly.
            return .nodeAffinity(node: nodeByName[name] ?? NodeID(UInt32.max), soft: soft)
        }
    }

    func getResolved(_ object: ObjectID, _ value: ObjectValue) {
        guard let index = getIndex[object], resolved[index] == nil else { return }
        resolved[index] = value
        unresolvedGets -= 1
        if case .data(let data) = value { verify(getList[index], data) }
        finishIfAllResolved()
    }

    /// Safety: a value the driver gets must be exactly the value its lineage defines.
    private func verify(_ ref: InstanceRef, _ data: ObjectData) {
        let expectedDigest = plan.expectedDigests[ref] ?? 0
        let expectedSize = plan.expectedSize(ref)
        if data.digest != expectedDigest || data.sizeBytes != expectedSize {
            violation = violation ?? "wrong content for \(ref): got \(data.sizeBytes) B with digest "
                + "\(String(data.digest, radix: 16)), expected \(expectedSize) B with digest \(String(expectedDigest, radix: 16))"
        }
    }

    private func finishIfAllResolved() {
        guard driverPhase == .waitingForGets, unresolvedGets == 0 else { return }
        driverPhase = .done
        finishedAt = now
        // Drop every handle: the cluster must then free everything.
        for object in refOrder { handleDriver(.release(object)) }
    }

    /// A borrower on the head node asks for each expected object of the dead driver.
    func probeDeadOwner() {
        guard driverPhase == .dead else { return }
        let alive = nodeOrder.first { nodes[$0]?.alive == true } ?? headNode
        var requestID: UInt64 = 0
        for ref in getList {
            guard let object = refs[ref] else { continue }
            requestID += 1
            probeRequests[requestID] = ref
            send(.fetchObjects(requestID: requestID, objects: [object], owner: driverWorker),
                 from: .worker(probeWorker), to: .raylet(alive))
        }
        if probeRequests.isEmpty { probeDone() }
    }

    func probeAnswered(_ message: Message) {
        guard case .objectsReady(let requestID, let values) = message,
              let ref = probeRequests.removeValue(forKey: requestID), let value = values.first else { return }
        if let object = refs[ref], let index = getIndex[object] { resolved[index] = value }
        let alive = nodeOrder.first { nodes[$0]?.alive == true } ?? headNode
        send(.releaseFetch(requestID: requestID), from: .worker(probeWorker), to: .raylet(alive))
        if probeRequests.isEmpty { probeDone() }
    }

    private func probeDone() {
        driverPhase = .probed
        finishedAt = now
    }
}
