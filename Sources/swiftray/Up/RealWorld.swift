// Real processes under the one scenario driver (`ScenarioDriver`, in RaySim):
// the program's calls go through a `DriverClient` on the head node, faults are
// SIGKILLs, restarts and blackhole routes, and what a fault looks at is asked
// of the driver's owner machine and of the raylets (typed control requests).
// It decides nothing a user sees: that is the scenario driver's.

import Dispatch
import Foundation
import Glibc
import RayCore
import RayRuntime
import RaySim

final class RealWorld: ScenarioWorld {
    let cluster: LocalCluster
    let client: DriverClient
    let executable: String
    let headName: String
    let maxWallSeconds: Double
    /// When the workload started (fault times, and every job's `start`, count from here).
    var workloadStart = Date()
    /// The worlds of the scenario's other jobs (`jobs:`), each with its own driver (the main world's only).
    var jobWorlds: [RealWorld] = []
    /// The driver's client is connected (not crashed by a fault).
    var clientAlive = true
    /// The scenario driver (set right after it is made).
    unowned(unsafe) var program: ScenarioDriver!

    /// The answers of batches of gets, from the threads that wait for them (each signals
    /// `getsDone`), not delivered yet: the objects asked and what came.
    let results = LockedBox<[(objects: [ObjectID], values: [FetchedValue?])]>([])
    /// Shared by the main world and its jobs' (one loop waits for any of them).
    let getsDone: DispatchSemaphore
    /// Batches of gets asked and not delivered yet.
    private(set) var batchesOut = 0
    /// When each running task was first seen running (kill_worker picks one that just started).
    var runningSince: [TaskID: Date] = [:]
    /// Worker process IDs found for `workerRunning`, for the kill that follows.
    var workerPIDs: [WorkerID: Int32] = [:]
    /// When each partition ends.
    var healAt: [Date] = []
    /// The program's `ray.wait` calls, each on a thread of its own: how many are out, and the
    /// answers not handed to the scenario driver yet (fault, ready indices, timed out).
    var waitsOut = 0
    let waitAnswers = LockedBox<[(fault: Int, ready: [Int], timedOut: Bool)]>([])

    init(cluster: LocalCluster, client: DriverClient, executable: String, headName: String, maxWallSeconds: Double,
         getsDone: DispatchSemaphore = DispatchSemaphore(value: 0)) {
        self.getsDone = getsDone
        self.cluster = cluster
        self.client = client
        self.executable = executable
        self.headName = headName
        self.maxWallSeconds = maxWallSeconds
    }

    var elapsedMicros: Int64 { Int64(Date().timeIntervalSince(workloadStart) * 1e6) }

    func timestamp() -> String { Self.stamp(elapsedMicros) }

    static func stamp(_ micros: Int64) -> String { formatTime(micros / 100 * 100) }

    // MARK: The program

    func put(_ data: ObjectData, on name: String?) throws -> ObjectID {
        // Refused before the synthetic bytes are made (the driver would refuse them before allocating).
        if let refusal = ObjectSizeRule.refusal(data.sizeBytes, limit: client.config.objectSizeLimit,
                                                what: "the value put") { throw refusal }
        do {
            return try put(data, onNode: name)
        } catch let error as RuntimeError {
            // A typed refusal (over the object size limit) is the put's result, as the simulator's.
            guard let kind = error.kind else { throw error }
            throw RayError(kind, error.description)
        }
    }

    private func put(_ data: ObjectData, onNode name: String?) throws -> ObjectID {
        let bytes = SyntheticWorker.syntheticBytes(digest: data.digest, size: data.sizeBytes)
        guard let name, let node = cluster.node(named: name), node.id != headNode else {
            return try client.put(bytes, digest: data.digest)
        }
        // Created by a process on that node: written straight into its shared memory.
        let store = SharedObjects(session: cluster.session.path, node: node.id)
        let large = data.sizeBytes > client.config.inlineObjectSizeBytesMax
        return try client.put(ObjectData(sizeBytes: data.sizeBytes, digest: data.digest, bytes: large ? nil : bytes),
                              on: node.id) { id throws(RuntimeError) in
            if large { try store.write(id, bytes: bytes) }
        }
    }

    func submit(_ request: TaskRequest) -> ObjectID { client.submit(request) }

    func createActor(_ request: TaskRequest, _ options: ActorOptions) -> ActorID { client.createActor(request, options) }

    func callActor(_ actor: ActorID, _ request: TaskRequest) -> ObjectID { client.callActor(actor, request)[0] }

    func killActor(_ actor: ActorID, noRestart: Bool) -> String? {
        guard clientAlive else { return "the driver is dead" }
        client.killActor(actor, noRestart: noRestart)
        return nil
    }

    func actorWorker(_ actor: ActorID) -> WorkerID? {
        guard clientAlive else { return nil }
        return client.inspect { owner in
            guard let info = owner.actors[actor]?.info, info.state == .alive else { return nil }
            return info.worker
        }
    }

    func nodeID(named name: String) -> NodeID? { cluster.node(named: name)?.id }

    /// Gets are out (their results not delivered yet).
    var getsOut: Bool { batchesOut > 0 }

    func get(_ objects: [ObjectID]) {
        batchesOut += 1
        let client = client, results = results, done = getsDone, seconds = maxWallSeconds
        Thread.detachNewThread {
            let values = client.get(objects, timeoutSeconds: seconds)
            results.update { $0.append((objects, values)) }
            done.signal()
        }
    }

    /// Hands the gets' answers to the scenario driver (after checking each value's bytes, which
    /// only this world has).
    func deliverResults() {
        var batches: [(objects: [ObjectID], values: [FetchedValue?])] = []
        results.update { taken in
            batches = taken
            taken = []
        }
        batchesOut -= batches.count
        guard program.phase == .waitingForGets else { return }
        var values: [(ObjectID, ObjectValue)] = []
        for index in batches.indices {
            for (object, answer) in zip(batches[index].objects, batches[index].values) {
                guard let answer else { continue }
                if let ref = program.refByObject[object], let problem = wrongBytes(ref, answer) { program.noteWrongValue(problem) }
                values.append((object, answer.value))
            }
        }
        batches.removeAll()  // Unmap before the handles go (the leak check expects every copy freed).
        // The program may get more as it reads these (references inside values).
        for (object, value) in values { program.resolve(object, value) }
    }

    /// Safety: a value must be exactly what its lineage defines, byte for byte.
    private func wrongBytes(_ ref: InstanceRef, _ fetched: FetchedValue) -> String? {
        guard case .data(let data) = fetched.value, let digest = program.plan.expectedDigests[ref],
              data.digest == digest, data.sizeBytes == program.plan.expectedSize(ref) else { return nil }
        let expected = SyntheticWorker.syntheticBytes(digest: digest, size: data.sizeBytes)
        let matches = fetched.mapping.map { $0.bytes.elementsEqual(expected) } ?? (data.bytes == expected)
        return matches ? nil : "wrong bytes for \(ref): the digest matches but the content does not"
    }

    func release(_ objects: [ObjectID]) {
        guard clientAlive else { return }
        for object in objects { client.release(object) }
    }

    func programFinished() {}

    func probeAsBorrower(_ objects: [ObjectID]) {
        guard let alive = cluster.nodes.first(where: \.alive),
              let probe = try? DriverClient(socketPath: alive.socketPath, logRoot: nil, workerExecutable: executable)
        else { return }
        defer { probe.shutdown() }
        let answers = probe.fetchAsBorrower(objects, owner: client.worker, timeoutSeconds: maxWallSeconds)
        for (object, answer) in zip(objects, answers) {
            if let answer { program.probeAnswered(object, answer) }
        }
    }

    // MARK: What a fault looks at

    func haveBeenMade(_ objects: [ObjectID]) -> Bool {
        clientAlive && client.inspect { owner in objects.allSatisfy { owner.hasBeenMade($0) } }
    }

    func containedReferences(of object: ObjectID) -> [ObjectID] {
        clientAlive ? client.inspect { $0.objects[object]?.contains ?? [] } : []
    }

    func holdBorrowed(_ objects: [ObjectID]) {
        for object in objects { client.addLocalReference(object) }
    }

    func owner(ofBorrowed object: ObjectID) -> WorkerID? {
        clientAlive ? client.inspect { $0.borrowed[object]?.owner } : nil
    }

    func liveNode(named name: String) -> NodeID? {
        guard let node = cluster.node(named: name), node.alive else { return nil }
        return node.id
    }

    var headNode: NodeID { cluster.node(named: headName)?.id ?? NodeID(0) }

    func nodeName(_ node: NodeID) -> String { cluster.nodes.last { $0.id == node }?.name ?? "?" }  // IDs are not reused.

    func primaryHolder(of objects: [ObjectID]) -> NodeID? {
        let listings = cluster.nodes.filter(\.alive).map { node -> (NodeID, [ControlStoredObject]) in
            guard case .objects(_, let stored)? = try? ControlClient.ask(rayletSocket: node.socketPath, .listObjects) else {
                return (node.id, [])
            }
            return (node.id, stored)
        }
        for object in objects {
            for (node, stored) in listings where stored.contains(where: { $0.object == object && $0.primary }) {
                return node
            }
        }
        return nil
    }

    /// Notes when each task was first seen running (called while a kill_worker fault waits).
    func watchRunningTasks() {
        guard clientAlive else { return }
        let running = client.inspect { owner in
            owner.tasks.compactMap { id, entry -> TaskID? in
                if case .running = entry.state { return id }
                return nil
            }
        }
        let now = Date()
        runningSince = runningSince.filter { running.contains($0.key) }
        for task in running where runningSince[task] == nil { runningSince[task] = now }
    }

    func workerRunning(anyOf tasks: Set<TaskID>) -> (worker: WorkerID, task: TaskID)? {
        guard clientAlive else { return nil }
        // One that just started, so the kill lands while it runs (not as its reply is on the way).
        let fresh = Set(runningSince.filter { Date().timeIntervalSince($0.value) < 0.005 }.keys).intersection(tasks)
        guard let (worker, task) = client.inspect({ owner -> (WorkerID, TaskID)? in
            for task in fresh.sorted() {
                if case .running(_, let worker)? = owner.tasks[task]?.state { return (worker, task) }
            }
            return nil
        }) else { return nil }
        // Real workers start later than simulated ones: wait until one runs such a task.
        guard let node = cluster.nodes.first(where: { $0.id == worker.node && $0.alive }),
              case .workerPID(let pid?)? = try? ControlClient.ask(rayletSocket: node.socketPath, .workerPID(worker))
        else { return nil }
        workerPIDs[worker] = pid
        return (worker, task)
    }

    // MARK: Faults

    func kill(node: NodeID) -> String? {
        cluster.killNode(named: nodeName(node))
        return "SIGKILL"
    }

    func killHeadNode() -> String? {
        cluster.killNode(named: headName)
        cluster.killGCS()
        // Every driver runs on the head.
        for world in [self] + jobWorlds where world.clientAlive {
            world.client.crash()
            world.clientAlive = false
        }
        return "SIGKILL"
    }

    func restart(node: NodeID, as spec: NodeSpec) throws -> String? {
        cluster.killNode(named: spec.name)
        let new = try cluster.addNode(name: spec.name, resources: spec.resources, objectStoreBytes: spec.objectStoreBytes)
        return "SIGKILL; it rejoined as \(new.id)"
    }

    func join(node spec: NodeSpec) throws -> String? {
        let node = try cluster.addNode(name: spec.name, resources: spec.resources, objectStoreBytes: spec.objectStoreBytes)
        return "as \(node.id)"
    }

    func kill(worker: WorkerID) -> String? {
        guard let pid = workerPIDs.removeValue(forKey: worker) ?? pid(of: worker) else {
            return "its process was not found: it is gone already"
        }
        Glibc.kill(pid, SIGKILL)
        // Dead before the program goes on (as a simulated worker is): until its raylet reaped it.
        let deadline = Date().addingTimeInterval(2)
        while Glibc.kill(pid, 0) == 0 && Date() < deadline { usleep(500) }
        return "pid \(pid), SIGKILL"
    }

    /// The process ID of a worker, from its raylet.
    private func pid(of worker: WorkerID) -> Int32? {
        guard let node = cluster.nodes.first(where: { $0.id == worker.node && $0.alive }),
              case .workerPID(let pid?)? = try? ControlClient.ask(rayletSocket: node.socketPath, .workerPID(worker))
        else { return nil }
        return pid
    }

    func killAndRestartGCS() throws -> String? {
        cluster.killGCS()
        try cluster.startGCS()
        return nil
    }

    func killDriver() -> String? {
        client.crash()
        clientAlive = false
        return "its connections closed"
    }

    func partition(_ groups: [[String]], for micros: Int64) throws -> String? {
        guard let network = cluster.network else { throw RunnerError("a partition needs --netns") }
        try network.partition(groups)
        healAt.append(Date().addingTimeInterval(Double(micros) / 1e6))
        healAt.sort()
        return "blackhole routes between the namespaces"
    }

    func cancel(_ objects: [ObjectID], force: Bool, recursive: Bool) -> String? {
        guard clientAlive else { return nil }
        for object in objects { client.cancel(object, force: force, recursive: recursive) }
        return nil
    }

    func wait(_ objects: [ObjectID], numReturns: Int, timeoutMicros: Int64?, fault: Int) {
        guard clientAlive else { return }
        waitsOut += 1
        let client = client, answers = waitAnswers
        Thread.detachNewThread {
            let started = Date()
            let ready = client.wait(objects, numReturns: numReturns, timeoutSeconds: timeoutMicros.map { Double($0) / 1e6 })
            // Fewer than asked is only right once the timeout passed: say whether it did.
            let waited = Date().timeIntervalSince(started) * 1e6
            let timedOut = timeoutMicros.map { waited >= Double($0) - 1_000 } ?? false
            answers.update { $0.append((fault, ready, timedOut)) }
        }
    }

    func createPlacementGroup(_ bundles: [ResourceSet], strategy: PlacementStrategy, name: String) -> PlacementGroupID {
        client.createPlacementGroup(bundles: bundles, strategy: strategy, name: name, detached: false)
    }

    func removePlacementGroup(_ id: PlacementGroupID) -> String? {
        guard clientAlive else { return "the driver is dead" }
        client.removePlacementGroup(id)
        return nil
    }

    func placementGroupInfo(_ id: PlacementGroupID) -> PlacementGroupInfo? {
        clientAlive ? client.placementGroupInfo(id) : nil
    }

    /// Hands the waits' answers to the scenario driver.
    func deliverWaitAnswers() {
        var answers: [(fault: Int, ready: [Int], timedOut: Bool)] = []
        waitAnswers.update { answers = $0; $0.removeAll() }
        for answer in answers {
            waitsOut -= 1
            program.waitAnswered(fault: answer.fault, ready: answer.ready, timedOut: answer.timedOut)
        }
    }

    /// Ends the partitions whose time is up (all of them when `all`).
    func healPartitions(all: Bool = false) {
        guard let first = healAt.first, all || Date() >= first else { return }
        healAt.removeFirst(all ? healAt.count : 1)
        if healAt.isEmpty {
            cluster.network?.heal()
            program.note("partition healed" + (all ? " (the workload ended first)" : ""))
        }
    }
}

/// A failure of the runner itself (not of the cluster).
struct RunnerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
