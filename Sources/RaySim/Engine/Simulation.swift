// The discrete-event simulator: the same GCS, raylet, owner and executor
// machines the runtime drives, here driven by a priority queue of events in
// virtual time with a seeded generator. Every input is logged (encoded) to
// its component's event log before the machine handles it; effects are
// interpreted in order: messages cross a simulated network, timers become
// events, spawned workers become simulated processes, task bodies become
// synthetic work. Faults kill processes, cut links and restart the GCS.
//
// The simulator sits beside the machines, not inside them (TigerBeetle's
// VOPR): it owns time, randomness, the network and the processes; the
// machines own every Ray decision.

public import RayCore
import RayStorage

/// Nodes by ID. Node IDs are handed out densely from 1, so an array does:
/// the lookup happens on every delivered message.
struct NodeTable {
    private var storage: [Simulation.SimNode?] = []

    subscript(id: NodeID) -> Simulation.SimNode? {
        get {
            let index = Int(id.value) - 1
            return index >= 0 && index < storage.count ? storage[index] : nil
        }
        set {
            let index = Int(id.value) - 1
            precondition(index >= 0, "node IDs start at 1")
            while storage.count <= index { storage.append(nil) }
            storage[index] = newValue
        }
    }
}

/// One deterministic simulation of a scenario.
public final class Simulation {
    let scenario: Scenario
    let options: SimulationOptions
    var config: RayConfig

    // Time and randomness
    public internal(set) var now: Int64 = 0
    var queue = EventQueue<SimEvent>()
    var random: SeededGenerator
    public internal(set) var eventsProcessed = 0
    var nextFullCheck = 0
    var stepDigest = Digest()

    // The GCS
    var gcs: ComponentDriver<GCS>!
    var gcsIncarnation = 1
    var gcsAlive = true
    var gcsLog: (any EventLog)?

    // Nodes and their raylets
    /// A simulated node. A class: reading a node must not copy (and retain every table of) its raylet.
    final class SimNode {
        var spec: NodeSpec
        let raylet: ComponentDriver<Raylet>
        var alive = true
        var log: (any EventLog)?

        init(spec: NodeSpec, log: (any EventLog)?, raylet: ComponentDriver<Raylet>) {
            self.spec = spec
            self.log = log
            self.raylet = raylet
        }

    }
    var nodes = NodeTable()
    var nodeOrder: [NodeID] = []
    var nodeByName: [String: NodeID] = [:]
    /// The GCS's answer to the last `nodeJoining`.
    var admittedNode: NodeID?
    public internal(set) var headNode = NodeID(0)
    /// The program ended and told the GCS its job finished (`endJob`).
    var jobEnded: Bool { jobs.contains { $0.ended } }
    var killedNodes: [NodeID] = []

    // Worker processes
    var executors: [WorkerID: ComponentDriver<Executor>] = [:]
    var workerLogs: [WorkerID: any EventLog] = [:]
    /// Owners in workers (nested tasks), made when a worker first runs a parent's body.
    var workerOwners: [WorkerID: ComponentDriver<Owner>] = [:]
    var workerOwnerLogs: [WorkerID: any EventLog] = [:]
    /// Parent bodies running (one per worker: a worker runs one task at a time).
    var parentBodies: [WorkerID: ParentBody] = [:]
    /// How many times each actor call ran (the at-most-once check).
    var actorCallRuns: [TaskID: Int] = [:]
    /// Told each placement group update the program hears (benchmarks time creation with it).
    public var onPlacementGroupUpdate: ((PlacementGroupInfo) -> Void)?
    /// The program's STRICT_SPREAD and STRICT_PACK groups: checked on every raylet step.
    var strictGroups: [PlacementGroupID: PlacementStrategy] = [:]
    /// The metrics of worker owners whose process is gone (counted in the report).
    var goneOwnerMetrics = Owner.Metrics()

    // The drivers: the program's (job 1), then each of `jobs:`.
    var jobs: [SimJob] = []
    var jobByWorker: [WorkerID: SimJob] = [:]
    /// The program's driver (`jobs[0]`).
    var driver: ComponentDriver<Owner> { jobs[0].owner }
    var driverWorker: WorkerID { jobs[0].worker }
    var driverAlive: Bool {
        get { jobs[0].alive }
        set { jobs[0].alive = newValue }
    }
    /// The scenario's program, fault plan and checks (the one scenario driver, shared with `swiftray up`).
    var program: ScenarioDriver { jobs[0].program }
    var probeRequests: [UInt64: ObjectID] = [:]
    /// The program's `ray.wait` calls not answered yet, by fault index.
    var waits: [Int: (objects: [ObjectID], numReturns: Int)] = [:]
    var finishedAt: Int64?
    var workloadStart: Int64 = 0

    // Network
    /// A directed link, hashed as one word (it is looked up on every message).
    struct Link: Hashable {
        var from: Address
        var to: Address

        func hash(into hasher: inout Hasher) {
            hasher.combine(Link.code(from) &* 0x9E37_79B9_7F4A_7C15 ^ Link.code(to))
        }

        static func code(_ address: Address) -> UInt64 {
            switch address {
            case .gcs: return 0
            case .raylet(let node): return 1 << 62 | UInt64(node.value)
            case .worker(let worker): return 2 << 62 | UInt64(worker.node.value) << 32 | UInt64(worker.index)
            }
        }
    }
    var linkClock: [Link: Int64] = [:]
    /// Messages sent to the GCS while it was down, in order, by the node that holds them: as a
    /// real raylet queues what it and its processes send the GCS until it reconnects (and loses
    /// them if it dies first).
    var heldForGCS: [NodeID: [(from: Address, message: Message)]] = [:]
    /// Links on which a send to a dead process already produced a reset.
    var resetLinks: Set<Link> = []
    struct Partition {
        var groupOfNode: [String: Int]
        var until: Int64
    }
    var partitions: [Partition] = []
    /// When the last partition ends (the run goes on until what it held is delivered).
    var lastPartitionEnd: Int64 = 0

    // Checking
    public internal(set) var violation: String?
    var deadWorkersCount = 0

    // Tracing
    var traceRecorder: TraceRecorder?
    /// The log record of the input being handled (for the trace).
    var lastLogged: [UInt8]?
    /// Logs with appended, uncommitted records (committed together at the next instant).
    var dirtyLogs: [any EventLog] = []

    /// Builds a simulation; throws for scenario features not supported yet.
    public init(scenario: Scenario, options: SimulationOptions) throws(ScenarioError) {
        try Simulation.checkSupported(scenario)
        if options.inputLog == .off,
           let index = scenario.faults.firstIndex(where: { $0.action == .restartGCS }) {
            throw ScenarioError(file: scenario.sourcePath, keyPath: "faults[\(index)].restart_gcs",
                                problem: "the GCS recovers from its input log, and logging is off (drop --no-log)")
        }
        self.scenario = scenario
        self.options = options
        self.random = SeededGenerator(seed: mix(options.seed))
        var config = options.config
        config.seed = options.seed
        scenario.cluster.quotas.apply(to: &config)
        self.config = config
        if options.recordTrace { traceRecorder = TraceRecorder() }
    }

    static func checkSupported(_ scenario: Scenario) throws(ScenarioError) {
        let file = scenario.sourcePath
        for (index, fault) in scenario.faults.enumerated() {
            if case .restartGCS = fault.action, !scenario.cluster.gcsPersistent {
                throw ScenarioError(file: file, keyPath: "faults[\(index)].restart_gcs",
                                    problem: "restart_gcs needs cluster.gcs.persistent: true; without a log the "
                                        + "GCS comes back empty and, as in Ray, the cluster does not survive it")
            }
            if case .killWorker(let pattern) = fault.action,
               scenario.workload.actors.contains(where: { $0.name == pattern.name }) {
                throw ScenarioError(file: file, keyPath: "faults[\(index)].kill_worker",
                                    problem: "kill_worker of an actor's worker is not supported yet: use kill_actor, "
                                        + "or kill_node: {holding: \(pattern)}")
            }
            if case .restartNode(let name) = fault.action,
               scenario.cluster.nodes.contains(where: { $0.name == name && $0.head }) {
                throw ScenarioError(file: file, keyPath: "faults[\(index)].restart_node",
                                    problem: "'\(name)' is the head node; restarting it is not supported")
            }
        }
    }

    /// Runs the scenario to its end and reports.
    public func run() -> ScenarioReport {
        boot()
        let limit = scenario.expect.maxSimTimeMicros
        var livenessExceeded = false
        while violation == nil, let (time, event) = queue.pop() {
            if time > limit && !program.allFinished {
                now = limit
                livenessExceeded = true
                break
            }
            if time != now { commitLogs() }
            now = time
            dispatch(event)
            eventsProcessed += 1
            // The full scan is O(state): its period grows with the state so it stays a small share.
            if eventsProcessed >= nextFullCheck {
                fullCheck()
                nextFullCheck = eventsProcessed + max(options.fullCheckPeriodSteps, 8 * driver.machine.objects.count)
            }
            // Done once the grace period passed, every killed node is known dead, and no partition
            // still holds traffic (a node cut off and declared dead must get to hear it and exit).
            if let finishedAt, now >= max(finishedAt, lastPartitionEnd) + options.graceMicros,
               killedNodesMarkedDead { break }
        }
        checkSenders()
        commitLogs()
        return finish(livenessExceeded: livenessExceeded)
    }

    /// How long the cluster gets to clean up a finished job before the leak check.
    static let jobEndGraceMicros: Int64 = 2_000_000

    /// The program ends cleanly, as a real driver's `Ray.shutdown()`: it tells the GCS the job
    /// finished, which tells every raylet, which end the job's workers. The leak check then
    /// also expects no worker of the job alive.
    func endJob() {
        for job in jobs where job.alive && job.program.phase == .done && !job.ended {
            job.ended = true
            send(.jobFinished(job.job), from: .worker(job.worker), to: .gcs)
        }
        let until = now + Self.jobEndGraceMicros
        while violation == nil, let time = queue.nextTime, time <= until, let (_, event) = queue.pop() {
            if time != now { commitLogs() }
            now = time
            dispatch(event)
            eventsProcessed += 1
        }
        now = max(now, until)
        commitLogs()
    }

    /// True once the GCS has marked every killed node dead (or never knew it).
    var killedNodesMarkedDead: Bool {
        program.headKilled ? true : !gcsAlive ? false : killedNodes.allSatisfy { gcs.machine.nodes[$0] == nil || gcs.machine.nodes[$0]?.state == .dead }
    }

    /// Starts the GCS, the raylets and the driver, and schedules the workload and the faults.
    private func boot() {
        gcsLog = makeLog("gcs")
        gcs = makeGCS()
        handleGCS(.started(config))
        for spec in scenario.cluster.nodes { addNode(spec) }
        headNode = nodeByName[scenario.cluster.nodes.first(where: \.head)?.name ?? ""] ?? nodeOrder[0]
        // Every driver starts before the workload (its job registered), in file order.
        for index in 0...scenario.jobs.count {
            let job = SimJob(sim: self, index: index, head: headNode)
            job.program = ScenarioDriver(scenario: index == 0 ? scenario : scenario.jobScenario(index - 1), world: job)
            job.program.acceptErrorResults = options.acceptErrorResults
            job.program.acceptUnfiredFaults = options.acceptUnfiredFaults
            job.log = makeLog(index == 0 ? "driver" : "driver-\(scenario.jobs[index - 1].name)")
            job.owner = makeOwner(job)
            jobs.append(job)
            jobByWorker[job.worker] = job
            job.handle(.started(nodeConfig(headNode), OwnerIdentity(worker: job.worker, job: job.job, idKey: idKey(job.job))))
            // The driver connects to its raylet naming its program (every simulated job runs the
            // synthetic bodies), as a real driver's hello does.
            handleRaylet(headNode, .driverConnected(job.worker, job: job.job))
            handleRaylet(headNode, .programPublished(job.job, program: "0 synthetic"))
        }
        for job in jobs.dropFirst() { program.addJob(job.program) }
        workloadStart = options.workloadStartMicros
        schedule(.driverStep(0), at: workloadStart)
        for (index, spec) in scenario.jobs.enumerated() { schedule(.driverStep(index + 1), at: workloadStart + spec.startMicros) }
        for (index, micros) in program.timedFaults { schedule(.fault(index), at: workloadStart + micros) }
    }

    func schedule(_ event: SimEvent, at time: Int64) {
        queue.push(event, at: max(time, now))
    }

    func schedule(_ event: SimEvent, after micros: Int64) {
        queue.push(event, at: now + max(0, micros))
    }

    private func dispatch(_ event: SimEvent) {
        switch event {
        case .deliver(let from, let to, let message):
            deliver(message, from: from, to: to)
        case .gcsTimer(let timer, let token):
            if gcsAlive { gcs.fire(timer, token: token) }
        case .rayletTimer(let node, let timer, let token):
            if let simNode = nodes[node], simNode.alive { simNode.raylet.fire(timer, token: token) }
        case .executorTimer(let worker, let timer, let token):
            executors[worker]?.fire(timer, token: token)
        case .workerStarted(let worker):
            if executors[worker] != nil, nodes[worker.node]?.alive == true { handleRaylet(worker.node, .workerStarted(worker)) }
        case .executionFinished(let worker, let task, let attempt, let result):
            if executors[worker] != nil { handleExecutor(worker, .executionFinished(task, attempt: attempt, result)) }
        case .crashWorker(let worker, let task, let attempt):
            if let executor = executors[worker]?.machine, executor.runningTask?.taskID == task,
               executor.runningAttempt == attempt {
                killWorkerProcess(worker)
            }
        case .restoreFinished(let node, let object):
            if nodes[node]?.alive == true { handleRaylet(node, .objectRestored(object)) }
        case .disconnected(let observer, let peer):
            disconnected(observer: observer, peer: peer)
        case .gcsReconnected(let node):
            guard nodes[node]?.alive == true, gcsAlive else {
                heldForGCS[node] = nil
                return
            }
            handleRaylet(node, .peerConnected(.gcs))
            // What waited for the GCS goes now, in order, behind the raylet's own re-registration.
            for (from, message) in heldForGCS.removeValue(forKey: node) ?? [] { send(message, from: from, to: .gcs) }
        case .driverStep(let index):
            driverStep(index)
        case .programResumes(let index):
            jobs[index].resume()
        case .fault(let index):
            applyFault(index)
        case .partitionHealed:
            partitions.removeAll { $0.until <= now }
            if partitions.isEmpty { program.note("partition healed") }
        case .gcsRestarted:
            restartGCS()
        case .nodeRejoins(let spec):
            addNode(spec)
        case .ownerDeathProbe:
            program.probe()
        case .waitTimeout(let fault):
            answerWait(fault, timedOut: true)
        case .bodyResumes(let worker, let task, let attempt):
            parentBodyResumes(worker, task, attempt: attempt)
        }
    }

    /// Appends encoded inputs to the logs; one commit per virtual instant (group commit).
    func commitLogs() {
        guard !dirtyLogs.isEmpty else { return }
        do {
            for log in dirtyLogs { try log.commit() }
            dirtyLogs.removeAll(keepingCapacity: true)
        } catch {
            violation = violation ?? "event log commit failed: \(error)"
        }
    }
}
