// `swiftray up`: a scenario on a real local cluster. One raylet process per
// node on loopback, real worker processes running synthetic bodies, real
// shared memory, faults as real SIGKILLs and restarts. The program, the fault
// plan, the checks and the report are the one scenario driver's (RaySim's
// `ScenarioDriver`, which `raysim` runs too); this file starts the processes
// and keeps the wall clock. Exit codes as `raysim run` (0 pass, 1 an
// expectation failed, 2 the file is invalid or needs what this runner cannot
// do, 3 max_wall_time exceeded).

import Dispatch
import Foundation
import Glibc
import RayCore
import RayRuntime
import RaySim

struct ScenarioRunner {
    let scenario: Scenario
    let seed: UInt64
    let executable: String
    let logInputs: Bool
    var verbose = true
    /// Put each node in its own network namespace (root only); partitions then cut real links.
    var netns = false

    /// How a run ended: a report (either outcome), or it could not run.
    enum Result {
        case ran(ScenarioReport)
        case invalid(String)

        var exitCode: Int32 {
            switch self {
            case .ran(let report): return report.outcome.exitCode
            case .invalid: return 2
            }
        }
    }

    /// Refuses what the real runner cannot run yet, with the reason.
    func unsupported() -> String? {
        for fault in scenario.faults {
            if case .partition = fault.action, !netns {
                return "a partition fault needs nodes in separate network namespaces (`swiftray up --netns`), which "
                    + "is not implemented yet; on loopback a partition cannot cut links. Run it in the simulator: "
                    + "raysim run \(scenario.sourcePath)"
            }
            if case .killWorker(let pattern) = fault.action, scenario.workload.actors.contains(where: { $0.name == pattern.name }) {
                return "kill_worker of an actor's worker is not supported yet: use kill_actor, or kill_node: {holding: \(pattern)}"
            }
        }
        return nil
    }

    /// Runs the scenario and prints its report.
    func run() -> Result {
        if let reason = unsupported() {
            print("scenario \(scenario.name)  seed \(seed)  (swiftray up)\n  cannot run: \(reason)\nINVALID")
            return .invalid(reason)
        }
        let started = Date()
        let cluster: LocalCluster
        do {
            // Workers read the scenario too: a parent's body submits the children its plan names.
            let file = scenario.sourcePath.hasPrefix("/") ? scenario.sourcePath
                : FileManager.default.currentDirectoryPath + "/" + scenario.sourcePath
            cluster = try LocalCluster(executable: executable,
                                       environment: ["SWIFTRAY_SCENARIO_SEED=\(seed)", "SWIFTRAY_SCENARIO_FILE=\(file)"]
                                           + scenario.cluster.quotas.environment,
                                       logInputs: logInputs, network: netns ? try NetworkNamespaces() : nil)
        } catch {
            print("scenario \(scenario.name)  seed \(seed)  (swiftray up)\n  cannot run: \(error)\nINVALID")
            return .invalid("\(error)")
        }
        defer { cluster.stop() }
        var report = ScenarioReport(scenario: scenario, seed: seed)
        report.realWorld = "real processes " + (netns ? "in network namespaces" : "on loopback")
        report.session = cluster.session.path
        do {
            try drive(cluster, &report)
        } catch {
            report.outcome = .expectationFailed(["the runner failed: \(error)"])
            report.verdicts.append(("runner", "FAILED: \(error)"))
        }
        print(report.summary(wallSeconds: Date().timeIntervalSince(started)))
        return .ran(report)
    }

    private func log(_ line: String) {
        if verbose { writeStandardError(line + "\n") }
    }

    /// The head node's name (it runs the GCS and the driver).
    var headName: String { scenario.cluster.nodes.first(where: \.head)?.name ?? "" }

    // MARK: - The run

    private func drive(_ cluster: LocalCluster, _ report: inout ScenarioReport) throws {
        try cluster.startGCS()
        let ordered = scenario.cluster.nodes.filter(\.head) + scenario.cluster.nodes.filter { !$0.head }
        for node in ordered {
            try cluster.addNode(name: node.name, resources: node.resources, objectStoreBytes: node.objectStoreBytes)
        }
        log("cluster up: \(ordered.count) node(s), session \(cluster.session.path)")
        let head = cluster.nodes[0]
        let client = try DriverClient(socketPath: head.socketPath, logRoot: logInputs ? cluster.session.logs : nil,
                                      workerExecutable: executable)
        // The other jobs' drivers (`jobs:`), in file order: jobs 2, 3, ... as in raysim.
        var jobClients: [DriverClient] = []
        for _ in scenario.jobs {
            jobClients.append(try DriverClient(socketPath: head.socketPath, logRoot: logInputs ? cluster.session.logs : nil,
                                               workerExecutable: executable))
        }
        try warmUp(cluster, head: head)
        let maxWall = Double(scenario.expect.maxWallTimeMicros) / 1e6
        let world = RealWorld(cluster: cluster, client: client, executable: executable, headName: headName,
                              maxWallSeconds: maxWall)
        let program = ScenarioDriver(scenario: scenario, world: world)
        world.program = program
        for (index, jobClient) in jobClients.enumerated() {
            let jobWorld = RealWorld(cluster: cluster, client: jobClient, executable: executable, headName: headName,
                                     maxWallSeconds: maxWall, getsDone: world.getsDone)
            jobWorld.workloadStart = world.workloadStart
            let jobProgram = ScenarioDriver(scenario: scenario.jobScenario(index), world: jobWorld)
            jobWorld.program = jobProgram
            program.addJob(jobProgram)
            world.jobWorlds.append(jobWorld)
        }
        let worlds = [world] + world.jobWorlds
        defer { for each in worlds where each.clientAlive { each.client.shutdown() } }
        /// Starts each job whose `start` came.
        func startDueJobs() throws {
            for (index, job) in world.jobWorlds.enumerated()
            where job.program.phase == .notStarted && world.elapsedMicros >= scenario.jobs[index].startMicros {
                try job.program.start()
            }
        }
        /// Every job started, and its gets returned.
        func jobsDone() -> Bool {
            world.jobWorlds.allSatisfy { $0.program.phase != .notStarted && !$0.getsOut && !$0.program.hasGetsToMake }
        }
        try program.start()
        try startDueJobs()
        let early = armEarlyKills(program, world)

        // Faults, in wall-clock time since the workload started, until every get returned.
        let timed = Dictionary(uniqueKeysWithValues: program.timedFaults.map { ($0.index, $0.micros) })
        let watchesWorkers = scenario.faults.contains { if case .killWorker = $0.action { true } else { false } }
        var due: Set<Int> = []
        var getsReturned = false
        defer { cluster.network?.heal() }
        /// Fires the faults whose moment came (each tried again while its target is missing).
        func fireDueFaults() throws {
            world.healPartitions()
            if watchesWorkers { world.watchRunningTasks() }
            for (index, stamp) in early.get() where !program.faultsDone[index] {
                try program.fire(index, stamp: stamp)  // The node is dead already: reaped here.
            }
            for index in program.unfiredFaults where timed[index].map({ world.elapsedMicros >= $0 }) ?? false {
                due.insert(index)
            }
            due.formUnion(program.newlyDueAfterFaults())
            for index in due.sorted() where try program.fire(index) {
                due.remove(index)
                log(program.faultLines.last ?? "")
            }
        }
        /// Goes on firing timed faults for `micros` after the program's end, as raysim runs on for
        /// its grace period (only when one could still come).
        func fireFaultsFor(_ micros: Int64) throws {
            let until = world.elapsedMicros + micros
            guard program.unfiredFaults.contains(where: { timed[$0].map { $0 <= until } ?? false }) else { return }
            while world.elapsedMicros < until {
                try fireDueFaults()
                usleep(2_000)
            }
        }
        let wallBound = scenario.expect.maxWallTimeMicros + 5_000_000
        while !program.driverKilled {
            if !worlds.contains(where: \.getsOut) {
                usleep(2_000)
            } else if world.getsDone.wait(timeout: .now() + .milliseconds(2)) == .success {
                // The program takes these results now; reading references in them (or after a
                // fault), it may get more.
                for each in worlds { each.deliverResults() }
            }
            getsReturned = !world.getsOut
            world.deliverWaitAnswers()
            // The program's waits return before it takes its results (it holds its handles).
            if getsReturned && world.waitsOut == 0 && !program.hasGetsToMake && jobsDone() { break }
            if world.elapsedMicros > wallBound { break }
            try startDueJobs()
            try fireDueFaults()
        }
        if program.driverKilled && !program.headKilled {
            // As raysim: the borrower probe asks once the GCS had time to tell every raylet.
            try fireFaultsFor(ScenarioDriver.probeDelayMicros)
        }
        // The gets time out themselves (the dead driver's are not waited for).
        while (world.getsOut && !program.driverKilled) || !jobsDone(), world.elapsedMicros <= wallBound {
            try startDueJobs()
            if world.getsDone.wait(timeout: .now() + .milliseconds(2)) == .success {
                for each in worlds { each.deliverResults() }
            }
        }
        for each in worlds { each.deliverResults() }
        program.probe()
        let finishedAt = world.timestamp()
        try fireFaultsFor(ScenarioDriver.graceMicros)
        world.healPartitions(all: true)

        var ending = ScenarioEnding()
        ending.finishedAt = finishedAt
        if !program.allFinished { ending.livenessBound = "after max_wall_time \(maxWall) s" }
        ending.findLeaks = {
            // After a partition, TCP resends what the cut held with backoff (a SYN's is 1, 3, 7 s).
            let partitioned = scenario.faults.contains { if case .partition = $0.action { true } else { false } }
            let alive = worlds.filter(\.clientAlive)
            let leaks = waitForQuiescence(cluster, clients: alive.map(\.client), seconds: partitioned ? 20 : 5)
            guard leaks.isEmpty, world.clientAlive else { return (leaks, false) }
            // The program ends cleanly (as raysim's does): the job finishes, its workers end.
            // (This check found a raylet that overflowed its stack bouncing closes between two
            // gone processes: the job's end never reached the GCS.)
            for each in alive {
                each.client.shutdown()
                each.clientAlive = false
            }
            let left = waitForJobEnd(cluster, seconds: 10)
            return (left, left.isEmpty)
        }
        program.finish(&report, counts: counts(cluster, world), ending: ending)
    }

    /// The driver's raylet prestarts a worker per CPU for the job (as Ray's does; other nodes start
    /// the job's workers on demand, as the simulator's do); the workload's clock starts when they
    /// are up and every raylet knows every node (the GCS broadcasts the view every 100 ms).
    private func warmUp(_ cluster: LocalCluster, head: LocalCluster.Node) throws {
        let warm = Date().addingTimeInterval(10)
        let headCPUs = Int(scenario.cluster.nodes.first(where: \.head)?.resources["CPU"] ?? 0) / 1000
        for node in cluster.nodes {
            func known() -> Int {
                guard case .view(let nodes)? = try? ControlClient.ask(rayletSocket: node.socketPath, .view) else { return 0 }
                return nodes.count
            }
            while Date() < warm, known() < cluster.nodes.count { usleep(5_000) }
            let cpus = node.id == head.id ? headCPUs : 0
            func idle() -> Int {
                guard case .idleWorkers(let count)? = try? ControlClient.ask(rayletSocket: node.socketPath, .idleWorkers) else {
                    return 0
                }
                return count
            }
            while Date() < warm, idle() < cpus { usleep(5_000) }
        }
    }

    /// The owner's counts, and what the surviving raylets counted.
    private func counts(_ cluster: LocalCluster, _ world: RealWorld) -> ScenarioCounts {
        var counts = ScenarioCounts()
        if world.clientAlive {
            let metrics = world.client.inspect { $0.metrics }
            counts.reconstructions = metrics.reconstructions
            counts.retries = metrics.retries
            counts.tasksRun = metrics.attemptsStarted
        }
        for node in cluster.nodes where node.alive {
            guard case .metrics(let metrics)? = try? ControlClient.ask(rayletSocket: node.socketPath, .metrics) else { continue }
            counts.objectsSpilled += metrics.spilled
            counts.objectsRestored += metrics.restored
            counts.spillbacks += metrics.spillbacks
        }
        return counts
    }

    /// Node kills due `after:` tasks fire on the driver's loop at the instant the last of them is
    /// seen finished, before that reply's effects go out (as raysim fires them): polling from here
    /// would let the next task start, and pull, first. The scenario driver then records each
    /// (`fire` with the time it happened). Returns what fired, by fault index, with its time.
    private func armEarlyKills(_ program: ScenarioDriver, _ world: RealWorld) -> LockedBox<[Int: String]> {
        let fired = LockedBox<[Int: String]>([:])
        // The nodes as they are now (kills of nodes added later wait for the polling loop); the
        // head's and `holding`'s are left to it too (it asks the raylets who holds what).
        let nodes = world.cluster.nodes.filter(\.alive).map { (name: $0.name, pid: $0.pid) }
        var targets: [(index: Int, objects: [ObjectID], pid: Int32)] = []
        for (index, objects) in program.pendingAfterFaults {
            guard case .killNode(.named(let name)) = scenario.faults[index].action, name != headName,
                  let node = nodes.first(where: { $0.name == name }) else { continue }
            targets.append((index, objects, node.pid))
        }
        guard !targets.isEmpty else { return fired }
        nonisolated(unsafe) var remaining = targets  // Loop thread only.
        let start = world.workloadStart
        world.client.onStep { owner, input in
            guard case .messageReceived(_, .taskReply) = input, !remaining.isEmpty else { return }
            remaining.removeAll { target in
                guard target.objects.allSatisfy({ owner.hasBeenMade($0) }) else { return false }
                kill(target.pid, SIGKILL)
                let stamp = RealWorld.stamp(Int64(Date().timeIntervalSince(start) * 1e6))
                fired.update { $0[target.index] = stamp }
                return true
            }
        }
        return fired
    }

    /// Waits (5 s at most) until the owner and every live raylet hold nothing; returns what is left.
    private func waitForQuiescence(_ cluster: LocalCluster, clients: [DriverClient], seconds: Double) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var left: [String] = []
        repeat {
            left = []
            for client in clients where !client.inspect({ $0.isQuiescent }) {
                let who = client.job == JobID(1) ? "the driver" : "the driver of \(client.job)"
                left.append("\(who) still tracks \(client.inspect { "\($0.tasks.count) tasks and \($0.objects.count) objects" })")
            }
            let dead = declaredDead(cluster)
            for node in cluster.nodes where node.alive && !dead.contains(node.id) {
                switch try? ControlClient.ask(rayletSocket: node.socketPath, .quiescence) {
                case .quiescence(nil)?: continue
                case .quiescence(let held?)?: left.append("\(node.name) (\(node.id)) still holds \(held)")
                case let other: left.append("\(node.name) (\(node.id)) answered \(other.map { "\($0)" } ?? "nothing")")
                }
            }
            if left.isEmpty { return [] }
            usleep(20_000)
        } while Date() < deadline
        return left
    }

    /// After the program's clean end: the GCS lists the job as ended and no raylet keeps a
    /// worker of it (as in Ray, a job's workers end with it).
    private func waitForJobEnd(_ cluster: LocalCluster, seconds: Double) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var left: [String] = []
        repeat {
            left = []
            var detachedOn: [NodeID: Int] = [:]
            if case .cluster(_, let jobs, let actors, _)? = try? ControlClient.ask(gcs: cluster.gcsAddress, .clusterStatus, secret: cluster.secret) {
                if jobs.contains(where: { $0.state == "running" }) {
                    left.append("the GCS still lists the finished job as running")
                }
                // Its actors died with it (detached ones outlive it, as in Ray).
                for actor in actors {
                    if let problem = Simulation.actorEndProblem(name: actor.name, state: actor.state,
                                                                detached: actor.detached, cause: actor.cause) {
                        left.append(problem)
                    }
                    if actor.detached && actor.state == "ALIVE", let node = actor.node { detachedOn[node, default: 0] += 1 }
                }
            }
            let dead = declaredDead(cluster)
            for node in cluster.nodes where node.alive && !dead.contains(node.id) {
                if case .nodeStatus(let status)? = try? ControlClient.ask(rayletSocket: node.socketPath, .nodeStatus),
                   status.workers > detachedOn[node.id, default: 0] {
                    let workers = status.workers - detachedOn[node.id, default: 0]
                    left.append("\(workers) worker(s) of the finished job still alive on \(node.name) (\(node.id))")
                }
            }
            if left.isEmpty { return [] }
            usleep(20_000)
        } while Date() < deadline
        return left
    }

    /// The nodes the GCS declared dead (cut off by a partition, say): out of the cluster, each
    /// frees its objects and ends its workers when it learns of its death, and exits; after a
    /// long partition TCP's backoff may delay that past the leak check's patience.
    private func declaredDead(_ cluster: LocalCluster) -> Set<NodeID> {
        guard case .cluster(let nodes, _, _, _)? = try? ControlClient.ask(gcs: cluster.gcsAddress, .clusterStatus, secret: cluster.secret) else { return [] }
        return Set(nodes.filter { !$0.alive }.map(\.node))
    }
}

/// A value handed between threads under a lock.
final class LockedBox<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ newValue: T) { lock.lock(); value = newValue; lock.unlock() }
    func update(_ change: (inout T) -> Void) { lock.lock(); change(&value); lock.unlock() }
}
