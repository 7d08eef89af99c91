// Shared builders and effect extractors for the state-machine unit tests.
// Builders give every value a readable default so a test spells out only
// what it is about; extractors turn a machine's effects into the messages it
// sent, so tests can assert on exactly what went where.

import Testing
@testable import RayCore

/// One message a machine sent, and where.
struct SentMessage: Hashable, CustomStringConvertible {
    var to: Address
    var message: Message
    var description: String { "\(to) <- \(message)" }
}

/// An effect type with a `send` case.
protocol SendsMessages {
    var sentMessage: SentMessage? { get }
}

extension GCSEffect: SendsMessages {
    var sentMessage: SentMessage? {
        if case .send(let to, let message) = self { return SentMessage(to: to, message: message) }
        return nil
    }
}

extension RayletEffect: SendsMessages {
    var sentMessage: SentMessage? {
        if case .send(let to, let message) = self { return SentMessage(to: to, message: message) }
        return nil
    }
}

extension ExecutorEffect: SendsMessages {
    var sentMessage: SentMessage? {
        if case .send(let to, let message) = self { return SentMessage(to: to, message: message) }
        return nil
    }
}

extension OwnerEffect: SendsMessages {
    var sentMessage: SentMessage? {
        if case .send(let to, let message) = self { return SentMessage(to: to, message: message) }
        return nil
    }
}

extension Array where Element: SendsMessages {
    /// Every message sent, in order.
    var sends: [SentMessage] { compactMap(\.sentMessage) }

    /// The messages sent to `address`, in order.
    func messages(to address: Address) -> [Message] {
        sends.filter { $0.to == address }.map(\.message)
    }

    /// The addresses messages went to, in order.
    var recipients: [Address] { sends.map(\.to) }
}

extension Array where Element == RayletEffect {
    /// Workers the raylet asked to spawn.
    var spawnedWorkers: [WorkerID] {
        compactMap { if case .spawnWorker(let worker, _) = $0 { return worker } else { return nil } }
    }

    /// Workers the raylet asked to kill.
    var killedWorkers: [WorkerID] {
        compactMap { if case .killWorker(let worker) = $0 { return worker } else { return nil } }
    }

    /// Objects the raylet spilled.
    var spilledObjects: [ObjectID] {
        compactMap { if case .spillObject(let object, _) = $0 { return object } else { return nil } }
    }
}

/// Builders with readable defaults.
enum Build {
    /// Node `id` with `cpus` CPUs (plus `extra` whole units) and a store of `storeBytes`.
    static func node(_ id: UInt32, cpus: Int64 = 4, extra: [String: Int64] = [:],
                     storeBytes: Int64 = 1 << 30) -> NodeInfo {
        var units = extra
        units["CPU"] = cpus
        return NodeInfo(nodeID: NodeID(id), name: "n\(id)", resources: .units(units), objectStoreBytes: storeBytes)
    }

    /// The view entry of `info`, fully available unless told otherwise.
    static func view(_ info: NodeInfo, available: ResourceSet? = nil) -> NodeView {
        NodeView(nodeID: info.nodeID, total: info.resources, available: available ?? info.resources)
    }

    static func worker(_ node: UInt32, _ index: UInt32) -> WorkerID {
        WorkerID(node: NodeID(node), index: index)
    }

    static func cpus(_ count: Int64) -> ResourceSet { .units(["CPU": count]) }

    /// A lease request from `owner` with index `index`.
    static func lease(_ index: UInt64, owner: WorkerID, resources: ResourceSet = cpus(1),
                      strategy: SchedulingStrategy = .default, spillbackCount: Int = 0,
                      dependencies: [ObjectID] = [], job: JobID = JobID(1)) -> LeaseRequest {
        LeaseRequest(leaseID: LeaseID(owner: owner, index: index), taskID: TaskID(value: 1000 + index),
                     resources: resources, strategy: strategy, spillbackCount: spillbackCount,
                     dependencies: dependencies, jobID: job)
    }

    /// Has `raylet` start and register its prestarted workers for `job` (its program published).
    @discardableResult
    static func startWorkers(_ raylet: inout Raylet, job: JobID, now: Int64) -> [WorkerID] {
        let workers = raylet.handle(.programPublished(job, program: "p"), now: now).compactMap { effect -> WorkerID? in
            if case .spawnWorker(let worker, _) = effect { return worker } else { return nil }
        }
        for worker in workers { _ = raylet.handle(.workerStarted(worker), now: now) }
        return workers
    }

    /// Asks `raylet` for lease `index` of `owner` (one CPU, `job`); the worker it granted, if any.
    static func grantedWorker(_ raylet: inout Raylet, _ index: UInt64, owner: WorkerID, job: JobID = JobID(1),
                              now: Int64) -> WorkerID? {
        let effects = raylet.handle(.messageReceived(from: .worker(owner), .requestWorkerLease(
            lease(index, owner: owner, job: job))), now: now)
        for case .send(_, .leaseGranted(LeaseID(owner: owner, index: index), let worker)) in effects { return worker }
        Issue.record("no lease granted: \(effects)")
        return nil
    }

    /// A task request as a program submits it.
    static func task(_ function: String = "f", args: [TaskArg] = [], resources: ResourceSet = cpus(1),
                     strategy: SchedulingStrategy = .default, maxRetries: Int = 3,
                     retryExceptions: Bool = false) -> TaskRequest {
        TaskRequest(function: function, instance: 0, args: args, resources: resources, strategy: strategy,
                    maxRetries: maxRetries, retryExceptions: retryExceptions, body: [])
    }

    /// A task spec as an owner pushes it.
    static func spec(_ id: UInt64, owner: WorkerID, args: [TaskArg] = [], returnCount: Int = 1) -> TaskSpec {
        TaskSpec(taskID: TaskID(value: id), jobID: JobID(1), function: "f", instance: 0, args: args,
                 returnCount: returnCount, resources: cpus(1), strategy: .default, maxRetries: 3,
                 retryExceptions: false, body: [], owner: owner)
    }

    /// Synthetic object data of `size` bytes.
    static func data(_ size: Int64, digest: UInt64 = 7) -> ObjectData {
        ObjectData(sizeBytes: size, digest: digest)
    }

    /// The first return value of synthetic task `task`.
    static func object(_ task: UInt64, index: UInt32 = 1) -> ObjectID {
        ObjectID.returnValue(of: TaskID(value: task), index: index)
    }

    /// A started raylet on `info`, with the cluster view `view` if given (effects discarded).
    static func raylet(_ info: NodeInfo, view: [NodeView] = [], config: RayConfig = RayConfig()) -> Raylet {
        var raylet = Raylet()
        _ = raylet.handle(.started(config, info), now: 0)
        // Job 1's program is known here (as if its driver had connected, without the prestart).
        raylet.programs[JobID(1)] = "1 /bin/test-program"
        if !view.isEmpty { _ = raylet.handle(.messageReceived(from: .gcs, .clusterView(view)), now: 1) }
        return raylet
    }
}
