// Unit tests of the raylet's leases and scheduling policy: local grants,
// spillback, unschedulable requests, node affinity, SPREAD, returning and
// losing workers, resource accounting, and leases that wait for arguments.

import Testing
@testable import RayCore

private let leaseOwner = Build.worker(1, 100)

private func request(_ raylet: inout Raylet, _ lease: LeaseRequest, now: Int64) -> [RayletEffect] {
    raylet.handle(.messageReceived(from: .worker(lease.leaseID.owner), .requestWorkerLease(lease)), now: now)
}

private func giveBack(_ raylet: inout Raylet, _ lease: LeaseID, kill: Bool = false, now: Int64) -> [RayletEffect] {
    raylet.handle(.messageReceived(from: .worker(lease.owner), .returnWorker(lease, killWorker: kill)), now: now)
}

/// Requests `lease`, expects a spawned worker, starts it, and returns it.
private func grantWithNewWorker(_ raylet: inout Raylet, _ lease: LeaseRequest, now: Int64) -> WorkerID? {
    let spawned = request(&raylet, lease, now: now).spawnedWorkers
    guard spawned.count == 1 else {
        Issue.record("expected one spawned worker for \(lease.leaseID), got \(spawned)")
        return nil
    }
    let started = raylet.handle(.workerStarted(spawned[0]), now: now + 1)
    #expect(started == [.send(to: .worker(lease.leaseID.owner), .leaseGranted(lease.leaseID, worker: spawned[0]))])
    return spawned[0]
}

@Test func startRegistersWithGCSAndStartsReportTimer() {
    var raylet = Raylet()
    let info = Build.node(1)
    #expect(raylet.handle(.started(RayConfig(), info), now: 0) == [
        .send(to: .gcs, .registerNode(info)),
        .startTimer(.reportResources, afterMicros: 100_000),
    ])
    #expect(raylet.running)
    #expect(raylet.available == info.resources)
}

@Test func inputsBeforeStartAreIgnored() {
    var raylet = Raylet()
    #expect(raylet.handle(.messageReceived(from: .gcs, .healthCheck(sequence: 1)), now: 0) == [])
    #expect(!raylet.running)
}

@Test func healthCheckIsAnswered() {
    var raylet = Build.raylet(Build.node(1))
    #expect(raylet.handle(.messageReceived(from: .gcs, .healthCheck(sequence: 9)), now: 5)
        == [.send(to: .gcs, .healthCheckReply(sequence: 9))])
}

@Test func leaseThatFitsLocallySpawnsWorkerAndIsGrantedWhenItStarts() {
    let info = Build.node(1, cpus: 4)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let lease = Build.lease(1, owner: leaseOwner, resources: Build.cpus(1))
    let worker = Build.worker(1, 1)
    #expect(request(&raylet, lease, now: 10) == [.spawnWorker(worker, job: JobID(1))])
    #expect(raylet.available == Build.cpus(3))
    #expect(raylet.workers[worker] == .starting(lease.leaseID))
    #expect(raylet.handle(.workerStarted(worker), now: 20)
        == [.send(to: .worker(leaseOwner), .leaseGranted(lease.leaseID, worker: worker))])
    #expect(raylet.workers[worker] == .leased(lease.leaseID))
    #expect(raylet.leases[lease.leaseID] == Raylet.Lease(worker: worker, resources: Build.cpus(1)))
    #expect(raylet.metrics.leasesGranted == 1)
    // A duplicate of the granted request is ignored.
    #expect(request(&raylet, lease, now: 30) == [])
    #expect(raylet.available == Build.cpus(3))
}

@Test func resourceReportTimerReportsOnlyChanges() {
    let info = Build.node(1, cpus: 4)
    var raylet = Build.raylet(info)
    #expect(raylet.handle(.timerFired(.reportResources), now: 100_000) == [
        .send(to: .gcs, .resourceReport(node: info.nodeID, available: Build.cpus(4))),
        .startTimer(.reportResources, afterMicros: 100_000),
    ])
    #expect(raylet.handle(.timerFired(.reportResources), now: 200_000) == [.startTimer(.reportResources, afterMicros: 100_000)])
    _ = request(&raylet, Build.lease(1, owner: leaseOwner, resources: Build.cpus(2)), now: 250_000)
    #expect(raylet.handle(.timerFired(.reportResources), now: 300_000) == [
        .send(to: .gcs, .resourceReport(node: info.nodeID, available: Build.cpus(2))),
        .startTimer(.reportResources, afterMicros: 100_000),
    ])
}

@Test func leaseIsSpilledBackWhenLocalIsFullAndViewShowsRoomElsewhere() {
    let local = Build.node(1, cpus: 1), other = Build.node(2, cpus: 4)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    #expect(request(&raylet, Build.lease(1, owner: leaseOwner), now: 10).spawnedWorkers.count == 1)
    let second = Build.lease(2, owner: leaseOwner)
    #expect(request(&raylet, second, now: 20)
        == [.send(to: .worker(leaseOwner), .leaseSpillback(second.leaseID, to: other.nodeID))])
    #expect(raylet.metrics.spillbacks == 1)
    #expect(raylet.available == ResourceSet())
    #expect(raylet.queuedLeaseCount == 0)
}

@Test func spilledBackRequestQueuesWhereItCanEverRun() {
    let local = Build.node(1, cpus: 1), other = Build.node(2, cpus: 4)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    _ = request(&raylet, Build.lease(1, owner: leaseOwner), now: 10)
    // Spilled here once already: it waits here rather than ping-ponging.
    #expect(request(&raylet, Build.lease(2, owner: leaseOwner, spillbackCount: 1), now: 20) == [])
    #expect(raylet.queuedLeaseCount == 1)
}

@Test func leaseWaitsLocallyWhenNoNodeHasRoomNow() {
    let local = Build.node(1, cpus: 1), other = Build.node(2, cpus: 4)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other, available: ResourceSet())])
    _ = request(&raylet, Build.lease(1, owner: leaseOwner), now: 10)
    #expect(request(&raylet, Build.lease(2, owner: leaseOwner), now: 20) == [])
    #expect(raylet.queuedLeaseCount == 1)
}

@Test func queuedLeaseMovesWhenANewViewShowsRoomElsewhere() {
    let local = Build.node(1, cpus: 1), other = Build.node(2, cpus: 4)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other, available: ResourceSet())])
    _ = request(&raylet, Build.lease(1, owner: leaseOwner), now: 10)
    let queued = Build.lease(2, owner: leaseOwner)
    _ = request(&raylet, queued, now: 20)
    let effects = raylet.handle(.messageReceived(from: .gcs, .clusterView(
        [Build.view(local, available: ResourceSet()), Build.view(other)])), now: 30)
    #expect(effects == [.send(to: .worker(leaseOwner), .leaseSpillback(queued.leaseID, to: other.nodeID))])
    #expect(raylet.queuedLeaseCount == 0)
}

@Test func infeasibleEverywhereIsUnschedulableWithReasonNamingResources() {
    let local = Build.node(1, cpus: 4), other = Build.node(2, cpus: 8)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    let gpu = Build.lease(1, owner: leaseOwner, resources: .units(["GPU": 1]))
    let effects = request(&raylet, gpu, now: 10)
    guard effects.count == 1, case .send(to: .worker(leaseOwner), .leaseUnschedulable(gpu.leaseID, let reason)) = effects[0] else {
        Issue.record("expected leaseUnschedulable, got \(effects)")
        return
    }
    #expect(reason.contains("GPU: 1"))
    #expect(raylet.available == local.resources)
    #expect(raylet.queuedLeaseCount == 0)

    let huge = Build.lease(2, owner: leaseOwner, resources: Build.cpus(16))
    let hugeEffects = request(&raylet, huge, now: 20)
    guard case .send(_, .leaseUnschedulable(_, let hugeReason))? = hugeEffects.first else {
        Issue.record("expected leaseUnschedulable, got \(hugeEffects)")
        return
    }
    #expect(hugeReason.contains("CPU: 16"))
}

@Test func hardAffinityToDeadOrUnknownNodeIsUnschedulable() {
    let local = Build.node(1), other = Build.node(2)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    _ = raylet.handle(.messageReceived(from: .gcs, .nodeDead(other.nodeID)), now: 5)
    for (index, target) in [(UInt64(1), other.nodeID), (2, NodeID(77))] {
        let lease = Build.lease(index, owner: leaseOwner, strategy: .nodeAffinity(node: target, soft: false))
        let effects = request(&raylet, lease, now: 10)
        guard effects.count == 1, case .send(to: .worker(leaseOwner), .leaseUnschedulable(lease.leaseID, let reason)) = effects[0]
        else {
            Issue.record("expected leaseUnschedulable for affinity to \(target), got \(effects)")
            continue
        }
        #expect(reason.contains("\(target)"))
    }
    #expect(raylet.available == local.resources)
}

@Test func softAffinityToDeadNodeIsPlacedByPolicy() {
    let local = Build.node(1), other = Build.node(2)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    _ = raylet.handle(.messageReceived(from: .gcs, .nodeDead(other.nodeID)), now: 5)
    let lease = Build.lease(1, owner: leaseOwner, strategy: .nodeAffinity(node: other.nodeID, soft: true))
    #expect(request(&raylet, lease, now: 10) == [.spawnWorker(Build.worker(1, 1), job: JobID(1))])
}

@Test func affinityToAliveNodeSpillsThereEvenWithLocalRoom() {
    let local = Build.node(1), other = Build.node(2)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    let lease = Build.lease(1, owner: leaseOwner, strategy: .nodeAffinity(node: other.nodeID, soft: false))
    #expect(request(&raylet, lease, now: 10) == [.send(to: .worker(leaseOwner), .leaseSpillback(lease.leaseID, to: other.nodeID))])
}

@Test func hardAffinityToSelfThatCannotFitIsUnschedulable() {
    let local = Build.node(1, cpus: 2)
    var raylet = Build.raylet(local, view: [Build.view(local)])
    let lease = Build.lease(1, owner: leaseOwner, resources: Build.cpus(3), strategy: .nodeAffinity(node: local.nodeID, soft: false))
    let effects = request(&raylet, lease, now: 10)
    guard case .send(_, .leaseUnschedulable(lease.leaseID, _))? = effects.first else {
        Issue.record("expected leaseUnschedulable, got \(effects)")
        return
    }
}

@Test func spreadDistributesAcrossNodes() {
    let nodes = [Build.node(1), Build.node(2), Build.node(3)]
    var raylet = Build.raylet(nodes[0], view: nodes.map { Build.view($0) })
    var placed: [NodeID] = []
    for index in 1...3 {
        let lease = Build.lease(UInt64(index), owner: leaseOwner, strategy: .spread)
        let effects = request(&raylet, lease, now: Int64(index) * 10)
        if !effects.spawnedWorkers.isEmpty {
            placed.append(nodes[0].nodeID)
        } else if case .send(_, .leaseSpillback(_, let target))? = effects.first {
            placed.append(target)
        } else {
            Issue.record("spread request \(index) was neither granted nor spilled: \(effects)")
        }
    }
    #expect(Set(placed) == Set(nodes.map(\.nodeID)))
}

@Test func spreadTakesTurnsEvenWhenTheViewIsStale() {
    // A head with 2 CPUs and a worker with 1 (its view never refreshed): 40 spread requests
    // alternate between them, as Ray's round robin does, instead of piling onto the "free" one.
    let head = Build.node(1, cpus: 2), worker = Build.node(2, cpus: 1)
    var raylet = Build.raylet(head, view: [Build.view(head), Build.view(worker)])
    var local = 0, spilled = 0
    for index in 1...40 {
        let effects = request(&raylet, Build.lease(UInt64(index), owner: leaseOwner, strategy: .spread), now: Int64(index))
        if case .send(_, .leaseSpillback(_, NodeID(2)))? = effects.first { spilled += 1 } else { local += 1 }
    }
    #expect(local == 20 && spilled == 20, "local \(local), spilled \(spilled)")
}

@Test func spillbackCountsTheResourcesSentUntilTheNextView() {
    // Node 2 shows 2 free CPUs; after two spillbacks there, the third request goes to node 3.
    let here = Build.node(1, cpus: 1), two = Build.node(2, cpus: 2), three = Build.node(3, cpus: 2)
    var raylet = Build.raylet(here, view: [Build.view(here), Build.view(two), Build.view(three)])
    _ = request(&raylet, Build.lease(1, owner: leaseOwner), now: 1)  // takes the local CPU
    var targets: [NodeID] = []
    for index in 2...5 {
        if case .send(_, .leaseSpillback(_, let node))? = request(&raylet, Build.lease(UInt64(index), owner: leaseOwner),
                                                                  now: Int64(index)).first {
            targets.append(node)
        }
    }
    #expect(targets.count == 4 && targets.filter { $0 == NodeID(2) }.count == 2
            && targets.filter { $0 == NodeID(3) }.count == 2, "\(targets)")
}

@Test func returnWorkerFreesResourcesAndDispatchesNextQueuedRequest() {
    let info = Build.node(1, cpus: 1)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let first = Build.lease(1, owner: leaseOwner)
    guard let worker = grantWithNewWorker(&raylet, first, now: 10) else { return }
    let second = Build.lease(2, owner: leaseOwner)
    #expect(request(&raylet, second, now: 20) == [])
    #expect(raylet.queuedLeaseCount == 1)

    // The idle worker is reused for the queued request at once.
    #expect(giveBack(&raylet, first.leaseID, now: 30)
        == [.send(to: .worker(leaseOwner), .leaseGranted(second.leaseID, worker: worker))])
    #expect(raylet.queuedLeaseCount == 0)
    #expect(raylet.leases[first.leaseID] == nil)
    #expect(raylet.available == ResourceSet())

    #expect(giveBack(&raylet, second.leaseID, now: 40) == [])
    #expect(raylet.available == info.resources)
    #expect(raylet.workers[worker] == .idle)
    // Returning it again changes nothing.
    #expect(giveBack(&raylet, second.leaseID, now: 50) == [])
    #expect(raylet.available == info.resources)
}

@Test func returnWorkerWithKillKillsItAndSpawnsAnotherForTheQueue() {
    let info = Build.node(1, cpus: 1)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let first = Build.lease(1, owner: leaseOwner)
    guard let worker = grantWithNewWorker(&raylet, first, now: 10) else { return }
    _ = request(&raylet, Build.lease(2, owner: leaseOwner), now: 20)
    #expect(giveBack(&raylet, first.leaseID, kill: true, now: 30) == [.killWorker(worker), .spawnWorker(Build.worker(1, 2), job: JobID(1))])
    #expect(raylet.workers[worker] == nil)
}

@Test func workerExitOfLeasedWorkerFreesItsResources() {
    let info = Build.node(1, cpus: 2)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let lease = Build.lease(1, owner: leaseOwner, resources: Build.cpus(2))
    guard let worker = grantWithNewWorker(&raylet, lease, now: 10) else { return }
    #expect(raylet.available == ResourceSet())
    let queued = Build.lease(2, owner: leaseOwner)
    _ = request(&raylet, queued, now: 15)
    #expect(raylet.handle(.workerExited(worker), now: 20) == [.spawnWorker(Build.worker(1, 2), job: JobID(1))])
    #expect(raylet.leases[lease.leaseID] == nil)
    #expect(raylet.available == Build.cpus(1))
    // A late return of the dead worker's lease frees nothing twice.
    #expect(giveBack(&raylet, lease.leaseID, now: 30) == [])
    #expect(raylet.available == Build.cpus(1))
}

@Test func workerThatDiesBeforeStartingRequeuesItsRequest() {
    let info = Build.node(1, cpus: 1)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let lease = Build.lease(1, owner: leaseOwner)
    #expect(request(&raylet, lease, now: 10) == [.spawnWorker(Build.worker(1, 1), job: JobID(1))])
    // The request is granted again with a fresh worker.
    #expect(raylet.handle(.workerExited(Build.worker(1, 1)), now: 20) == [.spawnWorker(Build.worker(1, 2), job: JobID(1))])
    #expect(raylet.available == ResourceSet())
    #expect(raylet.handle(.workerStarted(Build.worker(1, 2)), now: 30)
        == [.send(to: .worker(leaseOwner), .leaseGranted(lease.leaseID, worker: Build.worker(1, 2)))])
}

@Test func resourcesNeverGoNegativeAndAreConservedUnderRandomLeaseTraffic() {
    let info = Build.node(1, cpus: 4, extra: ["GPU": 1])
    var raylet = Build.raylet(info, view: [Build.view(info)])
    var generator = SeededGenerator(seed: 42)
    var nextLease: UInt64 = 0
    let shapes: [ResourceSet] = [Build.cpus(1), Build.cpus(2), .units(["CPU": 1, "GPU": 1]), Build.cpus(4)]
    for step in 0..<2_000 {
        let now = Int64(step) * 10
        switch generator.below(5) {
        case 0, 1:
            nextLease += 1
            let shape = shapes[Int(generator.below(UInt64(shapes.count)))]
            _ = request(&raylet, Build.lease(nextLease, owner: leaseOwner, resources: shape), now: now)
        case 2:
            let starting = raylet.workers.filter { if case .starting = $0.value { return true } else { return false } }
                .keys.sorted()
            if let worker = starting.first { _ = raylet.handle(.workerStarted(worker), now: now) }
        case 3:
            let granted = raylet.leases.keys.sorted()
            if !granted.isEmpty {
                let lease = granted[Int(generator.below(UInt64(granted.count)))]
                _ = giveBack(&raylet, lease, kill: generator.below(4) == 0, now: now)
            }
        default:
            let workers = raylet.workers.keys.sorted()
            if !workers.isEmpty && generator.below(3) == 0 {
                _ = raylet.handle(.workerExited(workers[Int(generator.below(UInt64(workers.count)))]), now: now)
            }
        }
        #expect(raylet.available.isNonNegative, "step \(step): \(raylet.available)")
        #expect(raylet.available.fits(in: info.resources), "step \(step): \(raylet.available)")
        let held = raylet.leases.values.reduce(ResourceSet()) { $0 + $1.resources }
        #expect(raylet.available + held == info.resources, "step \(step)")
        if !raylet.available.isNonNegative { break }
    }
    // Drain: hand everything back; every request is eventually granted and returned.
    var rounds = 0
    while (!raylet.leases.isEmpty || raylet.queuedLeaseCount > 0) && rounds < 10_000 {
        rounds += 1
        for (worker, state) in raylet.workers.sorted(by: { $0.key < $1.key }) {
            if case .starting = state { _ = raylet.handle(.workerStarted(worker), now: 1_000_000) }
        }
        for lease in raylet.leases.keys.sorted() { _ = giveBack(&raylet, lease, now: 1_000_000) }
    }
    #expect(raylet.leases.isEmpty)
    #expect(raylet.queuedLeaseCount == 0)
    #expect(raylet.available == info.resources)
}

@Test func leaseWithDependenciesTakesNoResourcesUntilArgumentsAreLocal() {
    let local = Build.node(1, cpus: 2), other = Build.node(2)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    let argument = Build.object(500)
    let lease = Build.lease(1, owner: leaseOwner, dependencies: [argument])

    #expect(request(&raylet, lease, now: 10) == [.send(to: .worker(leaseOwner), .locateObject(argument))])
    #expect(raylet.available == local.resources)
    #expect(raylet.leases.isEmpty)

    #expect(raylet.handle(.messageReceived(from: .worker(leaseOwner), .objectLocation(argument, .at([other.nodeID]))),
                          now: 20) == [.send(to: .raylet(other.nodeID), .pullObject(argument))])
    #expect(raylet.available == local.resources)
    #expect(raylet.leases.isEmpty)

    let value = Build.data(1_000_000)
    let pushed = raylet.handle(.messageReceived(from: .raylet(other.nodeID), .pushObject(argument, value, owner: leaseOwner)),
                               now: 30)
    #expect(pushed == [
        .send(to: .worker(leaseOwner), .locationAdded(argument, node: local.nodeID)),
        .spawnWorker(Build.worker(1, 1), job: JobID(1)),
    ])
    #expect(raylet.available == Build.cpus(1))
    // The argument stays pinned while the lease holds it, and is unpinned when it ends.
    #expect(raylet.store[argument]?.pins == 1)
    _ = raylet.handle(.workerStarted(Build.worker(1, 1)), now: 40)
    _ = giveBack(&raylet, lease.leaseID, now: 50)
    #expect(raylet.store[argument]?.pins == 0)
    #expect(raylet.available == local.resources)
}

@Test func leaseWithLocalDependenciesIsGrantedAtOnce() {
    let local = Build.node(1, cpus: 2)
    var raylet = Build.raylet(local, view: [Build.view(local)])
    let argument = Build.object(500)
    _ = raylet.handle(.messageReceived(from: .worker(Build.worker(1, 9)), .storeObjects(
        requestID: 1, objects: [argument], values: [Build.data(200_000)], owner: leaseOwner)), now: 5)
    let lease = Build.lease(1, owner: leaseOwner, dependencies: [argument])
    #expect(request(&raylet, lease, now: 10) == [.spawnWorker(Build.worker(1, 1), job: JobID(1))])
    #expect(raylet.store[argument]?.pins == 1)
}


// Lease requests are deduplicated by lease ID, and a dead owner's requests are ignored
// (these once exposed raylet bugs; kept as regression tests).

@Test func duplicateRequestWhileQueuedIsGrantedOnce() {
    let info = Build.node(1, cpus: 1)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    let first = Build.lease(1, owner: leaseOwner)
    _ = grantWithNewWorker(&raylet, first, now: 10)
    let queued = Build.lease(2, owner: leaseOwner)
    _ = request(&raylet, queued, now: 20)
    _ = request(&raylet, queued, now: 21)  // the same request again (an RPC retry)
    #expect(raylet.queuedLeaseCount == 1)
}

@Test func duplicateRequestWhileWaitingForArgumentsTakesResourcesOnce() {
    let local = Build.node(1, cpus: 2), other = Build.node(2)
    var raylet = Build.raylet(local, view: [Build.view(local), Build.view(other)])
    let argument = Build.object(500)
    let lease = Build.lease(1, owner: leaseOwner, dependencies: [argument])
    _ = request(&raylet, lease, now: 10)
    let duplicate = request(&raylet, lease, now: 11)
    #expect(duplicate.spawnedWorkers.isEmpty)
    #expect(raylet.available == local.resources)
    _ = raylet.handle(.messageReceived(from: .worker(leaseOwner), .objectLocation(argument, .at([other.nodeID]))), now: 20)
    _ = raylet.handle(.messageReceived(from: .raylet(other.nodeID), .pushObject(argument, Build.data(1_000_000), owner: leaseOwner)),
                      now: 30)
    for worker in raylet.workers.keys.sorted() { _ = raylet.handle(.workerStarted(worker), now: 40) }
    _ = giveBack(&raylet, lease.leaseID, now: 50)
    #expect(raylet.leases.isEmpty)
    #expect(raylet.available == local.resources)
}

@Test func leaseRequestFromDeadOwnerIsNotGranted() {
    let info = Build.node(1, cpus: 1)
    var raylet = Build.raylet(info, view: [Build.view(info)])
    _ = raylet.handle(.messageReceived(from: .gcs, .workerDied(leaseOwner)), now: 10)
    let effects = request(&raylet, Build.lease(1, owner: leaseOwner), now: 20)
    #expect(effects.spawnedWorkers.isEmpty)
    #expect(raylet.available == info.resources)
}
