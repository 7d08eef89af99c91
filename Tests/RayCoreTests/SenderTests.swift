// Each role speaks only for itself (issue 12), in the machines, so both worlds run it: a
// message whose sender may not send it is dropped and counted, and changes nothing — another
// process's lease returned or cancelled, an object freed by a process that does not own it,
// the GCS's orders from a worker, a node registering or reporting as another, a job ended by a
// process that is not its driver, an actor or a group registered for another owner.

import Testing
@testable import RayCore

private let owner = Build.worker(1, 100)
private let intruder = Build.worker(1, 200)
private let job = JobID(1)

@Test func aRayletDropsWhatItsSenderMayNotSendAndCountsIt() {
    var raylet = Build.raylet(Build.node(1, cpus: 2))
    let lease = Build.lease(1, owner: owner, job: job)
    let granted = raylet.handle(.messageReceived(from: .worker(owner), .requestWorkerLease(lease)), now: 10)
    for worker in granted.spawnedWorkers { _ = raylet.handle(.workerStarted(worker), now: 20) }
    #expect(raylet.leases[lease.leaseID] != nil)
    _ = raylet.handle(.messageReceived(from: .worker(owner), .storeObjects(requestID: 1, objects: [Build.object(9)],
                                                                           values: [Build.data(100)], owner: owner)), now: 21)
    #expect(raylet.store[Build.object(9)] != nil)
    let before = raylet
    let forged: [(Address, Message)] = [
        // Another process's lease: returned (its worker killed), cancelled, or requested in its name.
        (.worker(intruder), .returnWorker(lease.leaseID, killWorker: true)),
        (.worker(intruder), .cancelWorkerLease(lease.leaseID)),
        (.worker(intruder), .requestWorkerLease(Build.lease(2, owner: owner, job: job))),
        // An object it does not own.
        (.worker(intruder), .freeObject(Build.object(9))),
        // The GCS's orders, from a worker.
        (.worker(intruder), .jobFinished(job)),
        (.worker(intruder), .workerDied(owner)),
        (.worker(intruder), .nodeDead(NodeID(1))),
        (.worker(intruder), .clusterView([])),
        (.worker(intruder), .healthCheck(sequence: 1)),
        // Transfers come from raylets.
        (.worker(intruder), .pushObject(Build.object(10), Build.data(10), owner: intruder)),
        (.worker(intruder), .pullObject(Build.object(9))),
    ]
    for (from, message) in forged {
        let effects = raylet.handle(.messageReceived(from: from, message), now: 30)
        #expect(effects.isEmpty, "\(message) from \(from) had effects: \(effects)")
    }
    #expect(raylet.metrics.forgedMessages == forged.count)
    var unchanged = raylet
    unchanged.metrics.forgedMessages = 0
    #expect(unchanged.leases == before.leases && unchanged.store[Build.object(9)] != nil && unchanged.running)
    // The owner itself may.
    _ = raylet.handle(.messageReceived(from: .worker(owner), .freeObject(Build.object(9))), now: 40)
    #expect(raylet.store[Build.object(9)] == nil)
    _ = raylet.handle(.messageReceived(from: .worker(owner), .returnWorker(lease.leaseID, killWorker: false)), now: 41)
    #expect(raylet.leases[lease.leaseID] == nil)
    #expect(raylet.metrics.forgedMessages == forged.count)
}

@Test func theGCSDropsWhatItsSenderMayNotSendAndCountsIt() {
    var gcs = GCS()
    _ = gcs.handle(.started(RayConfig()), now: 0)
    _ = gcs.handle(.messageReceived(from: .raylet(NodeID(1)), .registerNode(Build.node(1, cpus: 4))), now: 1)
    _ = gcs.handle(.messageReceived(from: .worker(owner), .registerJob(job, driver: owner)), now: 1)
    let actor = ActorSpec(creation: TaskSpec(taskID: TaskID.child(of: .driver(of: job), index: 1), jobID: job,
                                             function: "Counter", instance: 0, args: [], returnCount: 1,
                                             resources: Build.cpus(0), strategy: .default, maxRetries: 0,
                                             retryExceptions: false, body: [], owner: owner), options: ActorOptions())
    let group = PlacementGroupSpec(id: PlacementGroupID(creationTask: TaskID.child(of: .driver(of: job), index: 2)),
                                   bundles: [Build.cpus(1)], strategy: .pack, owner: owner, job: job)
    let forged: [(Address, Message)] = [
        // A node registering or reporting as another (a worker, or another raylet).
        (.worker(intruder), .registerNode(Build.node(2, cpus: 64))),
        (.raylet(NodeID(3)), .registerNode(Build.node(2, cpus: 64))),
        (.raylet(NodeID(2)), .resourceReport(node: NodeID(1), available: Build.cpus(0))),
        // A job registered again or ended by a process that is not its driver.
        (.worker(intruder), .registerJob(job, driver: intruder)),
        (.worker(intruder), .registerJob(JobID(2), driver: owner)),
        (.worker(intruder), .jobFinished(job)),
        (.worker(intruder), .driverExited(job, exitCode: 1, signal: 0)),
        // What raylets report, from a worker; the KV from a worker.
        (.worker(intruder), .workerDied(owner)),
        (.worker(intruder), .kvPut(key: "swiftray/job/1/executable", value: [1])),
        // An actor or a group registered for another owner.
        (.worker(intruder), .registerActor(actor)),
        (.worker(intruder), .createPlacementGroup(group)),
    ]
    for (from, message) in forged {
        let effects = gcs.handle(.messageReceived(from: from, message), now: 2)
        #expect(effects.isEmpty, "\(message) from \(from) had effects: \(effects)")
    }
    #expect(gcs.quota.forgedMessages == forged.count)
    #expect(gcs.nodes.count == 1 && gcs.nodes[NodeID(1)]?.available == Build.cpus(4))
    #expect(gcs.jobs[job]?.driver == owner && gcs.jobs[job]?.state == .running && gcs.jobs[JobID(2)] == nil)
    #expect(gcs.kv.isEmpty && gcs.actors.isEmpty && gcs.placementGroups.isEmpty)
    // Their own senders may.
    _ = gcs.handle(.messageReceived(from: .worker(owner), .registerActor(actor)), now: 3)
    _ = gcs.handle(.messageReceived(from: .worker(owner), .createPlacementGroup(group)), now: 3)
    _ = gcs.handle(.messageReceived(from: .worker(owner), .jobFinished(job)), now: 4)
    #expect(gcs.actors.count == 1 && gcs.placementGroups.count == 1 && gcs.jobs[job]?.state == .succeeded)
    #expect(gcs.quota.forgedMessages == forged.count)
}

@Test func anOwnerDropsWhatItsSenderMayNotSendAndCountsIt() {
    var machine = Owner()
    _ = machine.handle(.started(RayConfig(), OwnerIdentity(worker: owner, job: job)), now: 0)
    let task = machine.nextTaskID
    _ = machine.handle(.submitTask(Build.task("f")), now: 1)
    let lease = LeaseID(owner: owner, index: 1)
    let forged: [(Address, Message)] = [
        // A raylet's answers, from a process.
        (.worker(intruder), .leaseGranted(lease, worker: intruder)),
        (.worker(intruder), .leaseUnschedulable(lease, reason: "forged")),
        (.worker(intruder), .leaseSpillback(lease, to: NodeID(9))),
        // The GCS's news, from a process or a raylet.
        (.worker(intruder), .nodeDead(NodeID(1))),
        (.raylet(NodeID(1)), .actorNotFound(name: "a", namespace: "b")),
        // A borrow released in another's name.
        (.worker(intruder), .borrowReleased(Build.object(1), borrower: Build.worker(2, 5))),
    ]
    for (from, message) in forged {
        let effects = machine.handle(.messageReceived(from: from, message), now: 2)
        #expect(effects.isEmpty, "\(message) from \(from) had effects: \(effects)")
    }
    #expect(machine.metrics.forgedMessages == forged.count)
    // The task still waits for its lease from its raylet, which may grant it.
    guard case .leasing? = machine.tasks[task]?.state else {
        Issue.record("the task is \(String(describing: machine.tasks[task]?.state))")
        return
    }
    let worker = Build.worker(1, 7)
    let effects = machine.handle(.messageReceived(from: .raylet(NodeID(1)), .leaseGranted(lease, worker: worker)), now: 3)
    #expect(effects.contains { if case .send(.worker(worker), .pushTask) = $0 { return true } else { return false } })
    #expect(machine.metrics.forgedMessages == forged.count)
}
