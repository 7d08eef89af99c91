// `swiftray up`: a scenario on a real local cluster. One raylet process per
// node on loopback, real worker processes running synthetic bodies, real
// shared memory, faults as real SIGKILLs and restarts; the same expectations
// and exit codes as `raysim run` (0 pass, 1 an expectation failed, 2 the file
// is invalid or needs what this runner cannot do, 3 max_wall_time exceeded).

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

    enum Outcome {
        case passed
        case failed([String])
        case invalid(String)
        case timedOut(String)

        var exitCode: Int32 {
            switch self {
            case .passed: return 0
            case .failed: return 1
            case .invalid: return 2
            case .timedOut: return 3
            }
        }
    }

    /// What a run found, for the report.
    struct Findings {
        var results: [(InstanceRef, ObjectValue?)] = []
        var faultLines: [String] = []
        var reconstructions = 0
        var retries = 0
        var attempts = 0
        var spilled = 0
        var spillbacks = 0
        var leaks: [String] = []
        /// The head node died (with the GCS and the driver): leaks are not checked.
        var headKilled = false
        /// The program ended, the job finished and its workers ended with it.
        var jobEnded = false
        var wrongValues: [String] = []
    }

    /// Refuses what the real runner cannot run yet, with the reason.
    func unsupported() -> String? {
        if !scenario.workload.actors.isEmpty { return "actors are not supported yet (they come with the actor issue)" }
        if !scenario.workload.placementGroups.isEmpty { return "placement groups are not supported yet" }
        for fault in scenario.faults {
            if case .partition = fault.action, !netns {
                return "a partition fault needs nodes in separate network namespaces (`swiftray up --netns`), which "
                    + "is not implemented yet; on loopback a partition cannot cut links. Run it in the simulator: "
                    + "raysim run \(scenario.sourcePath)"
            }
            if case .killActor = fault.action { return "kill_actor needs actors, which are not supported yet" }
        }
        return nil
    }

    func run() -> Outcome { runCollecting().0 }

    /// Runs, and summarizes what a user saw (for `--compare`).
    func runSummarized() -> (Outcome, RunSummary) {
        let (outcome, findings) = runCollecting()
        var summary = RunSummary()
        summary.results = findings.results.map { ("\($0.0)", RunSummary.outcome($0.1)) }
        summary.faultsFired = RunSummary.faultIndices(findings.faultLines)
        summary.retries = findings.retries
        summary.reconstructions = findings.reconstructions
        summary.spilled = findings.spilled
        summary.leaks = findings.leaks.isEmpty ? leakVerdict(findings) : "found: " + findings.leaks.joined(separator: "; ")
        switch outcome {
        case .passed: summary.verdict = "PASS"
        case .failed(let problems): summary.verdict = "FAIL: " + problems.joined(separator: "; ")
        case .invalid(let reason): summary.verdict = "INVALID: \(reason)"
        case .timedOut(let message): summary.verdict = "FAIL: \(message)"
        }
        return (outcome, summary)
    }

    private func runCollecting() -> (Outcome, Findings) {
        if let reason = unsupported() {
            report(.invalid(reason), Findings(), wall: 0, session: "-")
            return (.invalid(reason), Findings())
        }
        let started = Date()
        let plan = WorkloadPlan(scenario.workload)
        var findings = Findings()
        let cluster: LocalCluster
        do {
            cluster = try LocalCluster(executable: executable, environment: ["SWIFTRAY_SCENARIO_SEED=\(seed)"],
                                       logInputs: logInputs, network: netns ? try NetworkNamespaces() : nil)
        } catch {
            return (.invalid("\(error)"), findings)
        }
        defer { cluster.stop() }
        let outcome: Outcome
        do {
            outcome = try drive(cluster, plan, &findings, started: started)
        } catch {
            outcome = .failed(["the runner failed: \(error)"])
        }
        report(outcome, findings, wall: Date().timeIntervalSince(started), session: cluster.session.path)
        return (outcome, findings)
    }

    private func log(_ line: String) {
        if verbose { writeStandardError(line + "\n") }
    }

    // MARK: - The run

    private func drive(_ cluster: LocalCluster, _ plan: WorkloadPlan, _ findings: inout Findings,
                       started: Date) throws -> Outcome {
        try cluster.startGCS()
        var specs: [String: NodeSpec] = [:]
        let ordered = scenario.cluster.nodes.filter(\.head) + scenario.cluster.nodes.filter { !$0.head }
        for node in ordered {
            specs[node.name] = node
            try cluster.addNode(name: node.name, resources: node.resources, objectStoreBytes: node.objectStoreBytes)
        }
        log("cluster up: \(ordered.count) node(s), session \(cluster.session.path)")
        let head = cluster.nodes[0]
        let client = try DriverClient(socketPath: head.socketPath, logRoot: logInputs ? cluster.session.logs : nil,
                                      workerExecutable: executable)
        var clientAlive = true
        defer { if clientAlive { client.shutdown() } }
        // The driver's raylet prestarts a worker per CPU for the job (as Ray's does; other nodes
        // start the job's workers on demand, as the simulator's do); the workload's clock starts
        // when they are up and every raylet knows every node.
        let warm = Date().addingTimeInterval(10)
        for node in cluster.nodes {
            // Every raylet knows every node (the GCS broadcasts the view every 100 ms).
            while Date() < warm,
                  ((try? ControlClient.ask(rayletSocket: node.socketPath, "view")) ?? "")
                    .split(separator: " ").count < cluster.nodes.count {
                usleep(5_000)
            }
            let cpus = node.id == head.id ? Int(specs[node.name]?.resources["CPU"] ?? 0) / 1000 : 0
            while Date() < warm,
                  (Int((try? ControlClient.ask(rayletSocket: node.socketPath, "idle-workers")) ?? "") ?? 0) < cpus {
                usleep(5_000)
            }
        }
        let workloadStart = Date()

        // Puts, then every task instance in order (as the simulator's driver does).
        var refs: [InstanceRef: ObjectID] = [:]
        var order: [ObjectID] = []
        for put in scenario.workload.puts {
            let digest = SyntheticContent.putDigest(name: put.name)
            let bytes = SyntheticWorker.syntheticBytes(digest: digest, size: put.sizeBytes)
            let object: ObjectID
            if let name = put.node, let node = cluster.node(named: name), node.id != head.id {
                // Created by a process on that node: written straight into its shared memory.
                let store = SharedObjects(session: cluster.session.path, node: node.id)
                let large = put.sizeBytes > client.config.inlineObjectSizeBytesMax
                object = try client.put(ObjectData(sizeBytes: put.sizeBytes, digest: digest, bytes: large ? nil : bytes),
                                        on: node.id) { id throws(RuntimeError) in
                    if large { try store.write(id, bytes: bytes) }
                }
            } else {
                object = try client.put(bytes, digest: digest)
            }
            refs[InstanceRef(name: put.name, index: 0, isPut: true)] = object
            order.append(object)
        }
        for group in scenario.workload.tasks {
            let body = SyntheticBody.encode(group)
            let strategy: SchedulingStrategy
            switch group.strategy {
            case .default: strategy = .default
            case .spread: strategy = .spread
            case .nodeAffinity(let name, let soft):
                strategy = .nodeAffinity(node: cluster.node(named: name)?.id ?? NodeID(UInt32.max), soft: soft)
            }
            for index in 0..<group.count {
                let args = plan.arguments(of: group, instance: index).compactMap { refs[$0].map(TaskArg.reference) }
                    + plan.nestedArguments(of: group, instance: index).compactMap { refs[$0].map(TaskArg.nestedReference) }
                let object = client.submit(TaskRequest(
                    function: group.name, instance: index, args: args, resources: group.resources, strategy: strategy,
                    maxRetries: group.maxRetries, retryExceptions: group.retryExceptions, body: body))
                refs[InstanceRef(name: group.name, index: index, isPut: false)] = object
                order.append(object)
            }
        }
        // What to get: `get` plus every reference `expect.results` names, each once.
        var seen: Set<InstanceRef> = []
        var getList: [InstanceRef] = []
        for pattern in scenario.workload.get + scenario.expect.results.map(\.0) {
            for ref in plan.resolve(pattern) where seen.insert(ref).inserted { getList.append(ref) }
        }
        let getObjects = getList.compactMap { refs[$0] }
        let maxWall = Double(scenario.expect.maxWallTimeMicros) / 1e6
        let results = LockedBox<[FetchedValue?]?>(nil)
        let getsDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            results.set(client.get(getObjects, timeoutSeconds: maxWall))
            getsDone.signal()
        }

        // Node kills due `after:` tasks fire on the driver's loop at the instant the last of them
        // is seen finished, before that reply's effects go out (as raysim fires them): polling
        // from here would let the next task start, and pull, first. The rest is bookkept below.
        let early = armEarlyKills(cluster, client, refs, workloadStart)

        // Faults, in wall-clock time since the workload started, until every get returned.
        var pending = Array(scenario.faults.enumerated())
        var driverKilled = false
        /// The head node died (with the GCS and the driver): the run ends as raysim ends it.
        var headKilled = false
        var runningSince: [TaskID: Date] = [:]
        var healAt: [Int64] = []
        defer { cluster.network?.heal() }
        while getsDone.wait(timeout: .now() + .milliseconds(2)) == .timedOut {
            let elapsed = Int64(Date().timeIntervalSince(workloadStart) * 1e6)
            if let due = healAt.first, elapsed >= due {
                healAt.removeFirst()
                if healAt.isEmpty {
                    cluster.network?.heal()
                    findings.faultLines.append(String(format: "  %8.1fms partition healed", Double(elapsed) / 1000))
                    log("partition healed")
                }
            }
            if clientAlive, pending.contains(where: { if case .killWorker = $0.1.action { true } else { false } }) {
                // When each task was first seen running: kill_worker picks one that just started,
                // so the kill lands while it runs (not as its reply is already on the way).
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
            if Date().timeIntervalSince(started) > maxWall + 5 { break }
            var fired: [Int] = []
            for (position, (index, fault)) in pending.enumerated() where !driverKilled {
                if let (at, line, name) = early.get()[index] {
                    cluster.killNode(named: name)  // Reaped and marked dead here.
                    fired.append(position)
                    findings.faultLines.append(String(format: "  %8.1fms fault %d: ", Double(at) / 1000, index) + line)
                    log("fault \(index): \(line)")
                    continue
                }
                let due: Bool
                switch fault.trigger {
                case .at(let micros): due = elapsed >= micros
                case .after(let pattern): due = clientAlive && finished(plan.resolve(pattern).compactMap { refs[$0] }, client)
                }
                guard due else { continue }
                guard let line = try inject(fault.action, index: index, cluster, client, refs, specs, runningSince) else {
                    continue  // Not possible yet (no worker runs the task yet): try again shortly.
                }
                fired.append(position)
                findings.faultLines.append(String(format: "  %8.1fms fault %d: ", Double(elapsed) / 1000, index) + line)
                log("fault \(index): \(line)")
                if case .killDriver = fault.action {
                    driverKilled = true
                    clientAlive = false
                }
                if case .killNode = fault.action, cluster.node(named: headName)?.alive == false {
                    headKilled = true
                    driverKilled = true
                    clientAlive = false
                }
                if case .partition(_, let duration) = fault.action {
                    healAt.append(elapsed + duration)
                    healAt.sort()
                }
            }
            for position in fired.reversed() { pending.remove(at: position) }
        }
        if !healAt.isEmpty {
            // The gets returned before the partition's end: heal it now, so what it held is
            // delivered while the leak check waits.
            cluster.network?.heal()
            let elapsed = Date().timeIntervalSince(workloadStart) * 1000
            findings.faultLines.append(String(format: "  %8.1fms partition healed (the workload ended first)", elapsed))
            healAt = []
        }
        var values: [FetchedValue?] = results.get() ?? Array(repeating: nil, count: getObjects.count)
        if values.isEmpty && !getObjects.isEmpty { values = Array(repeating: nil, count: getObjects.count) }

        if headKilled {
            // What a Ray user sees: the driver is gone, every get it made with it (as raysim).
            values = getObjects.map { _ in FetchedValue(value: .error(RayError(.ownerDied, Simulation.headDeathMessage))) }
        } else if driverKilled {
            // A borrower on a live node asks for the dead owner's objects: each must fail (OwnerDied).
            let alive = cluster.nodes.first { $0.alive }!
            let probe = try DriverClient(socketPath: alive.socketPath, logRoot: nil, workerExecutable: executable)
            defer { probe.shutdown() }
            let answers = probe.fetchAsBorrower(getObjects, owner: client.worker, timeoutSeconds: maxWall)
            values = answers.map { $0.map { FetchedValue(value: $0) } }
        }
        findings.results = zip(getList, values).map { ($0, $1?.value) }
        if values.contains(where: { $0 == nil }) {
            let missing = zip(getList, values).filter { $0.1 == nil }.map { "\($0.0)" }
            return .timedOut("\(missing.count) get(s) unresolved after max_wall_time \(maxWall) s: "
                + missing.prefix(8).joined(separator: ", "))
        }
        for (ref, value) in zip(getList, values) {
            if let problem = verify(ref, value!, plan) { findings.wrongValues.append(problem) }
        }

        // Metrics: the owner's counts, and what the surviving raylets counted.
        if clientAlive {
            let metrics = client.inspect { $0.metrics }
            findings.reconstructions = metrics.reconstructions
            findings.retries = metrics.retries
            findings.attempts = metrics.attemptsStarted
        }
        for node in cluster.nodes where node.alive {
            let text = (try? ControlClient.ask(rayletSocket: node.socketPath, "metrics")) ?? ""
            let words = text.split(separator: " ").map(String.init)
            func count(_ key: String) -> Int { words.firstIndex(of: key).flatMap { Int(words[$0 + 1]) } ?? 0 }
            findings.spilled += count("spilled")
            findings.spillbacks += count("spillbacks")
        }

        // Leaks: drop every handle; the cluster must then hold nothing.
        if clientAlive {
            values.removeAll()
            for object in order { client.release(object) }
        }
        if headKilled {
            findings.headKilled = true
        } else if scenario.expect.checkLeaks {
            let partitioned = scenario.faults.contains { fault in
                if case .partition = fault.action { return true }
                return false
            }
            // After a partition, TCP resends what the cut held with backoff (a SYN's is 1, 3, 7 s).
            findings.leaks = waitForQuiescence(cluster, client: clientAlive ? client : nil,
                                               seconds: partitioned ? 20 : 5)
            if findings.leaks.isEmpty && clientAlive {
                // The program ends cleanly (as raysim's does): the job finishes, its workers end.
                // (This check found a raylet that overflowed its stack bouncing closes between two
                // gone processes: the job's end never reached the GCS.)
                client.shutdown()
                clientAlive = false
                findings.leaks = waitForJobEnd(cluster, seconds: 10)
                findings.jobEnded = findings.leaks.isEmpty
            }
        }
        var failures = findings.wrongValues + expectationFailures(findings, plan, getList) + findings.leaks
        // As raysim: each fault that never fired is reported, and fails the run unless the driver died.
        let fired = Set(RunSummary.faultIndices(findings.faultLines))
        for (index, fault) in scenario.faults.enumerated() where !fired.contains(index) {
            findings.faultLines.append(Simulation.unfiredFaultLine(index, fault))
            if !driverKilled { failures.append("fault \(index) did not fire") }
        }
        return failures.isEmpty ? .passed : .failed(failures)
    }

    /// Arms the `after:` node kills on the driver's loop (see the call); returns what fired, by
    /// fault index: (microseconds since the workload started, the fault line, the node's name).
    private func armEarlyKills(_ cluster: LocalCluster, _ client: DriverClient, _ refs: [InstanceRef: ObjectID],
                               _ workloadStart: Date) -> LockedBox<[Int: (Int64, String, String)]> {
        let fired = LockedBox<[Int: (Int64, String, String)]>([:])
        let plan = WorkloadPlan(scenario.workload)
        // The nodes as they are now (kills of nodes added later wait for the polling loop).
        let nodes = cluster.nodes.filter(\.alive).map { (id: $0.id, name: $0.name, pid: $0.pid) }
        var targets: [(index: Int, objects: [ObjectID], name: String)] = []
        for (index, fault) in scenario.faults.enumerated() {
            // `holding` is resolved by the polling loop, which asks the raylets for the primary copy;
            // the head is killed there too (it takes the GCS and the driver with it).
            guard case .after(let pattern) = fault.trigger, case .killNode(.named(let name)) = fault.action,
                  name != headName else { continue }
            targets.append((index, plan.resolve(pattern).compactMap { refs[$0] }, name))
        }
        guard !targets.isEmpty else { return fired }
        nonisolated(unsafe) var remaining = targets  // Loop thread only.
        client.onStep { owner, input in
            guard case .messageReceived(_, .taskReply) = input, !remaining.isEmpty else { return }
            remaining.removeAll { target in
                let done = target.objects.allSatisfy { object in
                    switch owner.tasks[object.task]?.state {
                    case .finished?, .failed?: return true
                    default: return object.isPut
                    }
                }
                // Left to the polling loop when the node is not among those up at the start.
                guard done, let victim = nodes.first(where: { $0.name == target.name }) else { return false }
                kill(victim.pid, SIGKILL)
                let at = Int64(Date().timeIntervalSince(workloadStart) * 1e6)
                fired.update { $0[target.index] = (at, "node \(victim.name) (\(victim.id)) killed (SIGKILL)", victim.name) }
                return true
            }
        }
        return fired
    }

    /// True when every task of `objects` finished (returned or failed for good).
    private func finished(_ objects: [ObjectID], _ client: DriverClient) -> Bool {
        client.inspect { owner in
            objects.allSatisfy { object in
                switch owner.tasks[object.task]?.state {
                case .finished?, .failed?: return true
                default: return object.isPut
                }
            }
        }
    }

    private func inject(_ action: FaultAction, index: Int, _ cluster: LocalCluster, _ client: DriverClient,
                        _ refs: [InstanceRef: ObjectID], _ specs: [String: NodeSpec],
                        _ runningSince: [TaskID: Date] = [:]) throws -> String? {
        let plan = WorkloadPlan(scenario.workload)
        switch action {
        case .killNode(.named(let name)):
            guard let node = cluster.node(named: name), node.alive else { return "node \(name) is not alive; nothing to kill" }
            if node.name == headName { return killHead(cluster, client, node) }
            cluster.killNode(named: name)
            return "node \(name) (\(node.id)) killed (SIGKILL)"
        case .killNode(.holding(let pattern)):
            // As raysim: the live node whose store holds the primary copy (the node that made it).
            guard let node = primaryHolder(plan.resolve(pattern).compactMap { refs[$0] }, cluster) else {
                return nil  // Nobody holds it yet: try again shortly.
            }
            if node.name == headName { return killHead(cluster, client, node) + " (it held \(pattern))" }
            cluster.killNode(named: node.name)
            return "node \(node.name) (\(node.id)) holding \(pattern) killed (SIGKILL)"
        case .restartNode(let name):
            guard let spec = specs[name] else { return "no node named \(name)" }
            cluster.killNode(named: name)
            let node = try cluster.addNode(name: name, resources: spec.resources, objectStoreBytes: spec.objectStoreBytes)
            return "node \(name) killed and restarted as \(node.id)"
        case .addNode(let spec):
            let node = try cluster.addNode(name: spec.name, resources: spec.resources, objectStoreBytes: spec.objectStoreBytes)
            return "node \(spec.name) added as \(node.id)"
        case .killWorker(let pattern):
            let objects = plan.resolve(pattern).compactMap { refs[$0] }
            let fresh = Set(runningSince.filter { Date().timeIntervalSince($0.value) < 0.005 }.keys)
            let worker = client.inspect { owner -> WorkerID? in
                for object in objects where fresh.contains(object.task) {
                    if case .running(_, let worker)? = owner.tasks[object.task]?.state { return worker }
                }
                return nil
            }
            // Real workers start later than simulated ones: wait until one runs such a task.
            guard let worker, let node = cluster.nodes.first(where: { $0.id == worker.node && $0.alive }),
                  let pid = Int32((try? ControlClient.ask(rayletSocket: node.socketPath,
                                                          "worker-pid \(worker.node.value).\(worker.index)")) ?? "")
            else { return nil }
            kill(pid, SIGKILL)
            return "\(worker) (pid \(pid)) running \(pattern) killed (SIGKILL)"
        case .restartGCS:
            cluster.killGCS()
            try cluster.startGCS()
            return "GCS killed and restarted from its log"
        case .killDriver:
            client.crash()
            return "driver \(client.worker) killed (its connections closed)"
        case .partition(let groups, let duration):
            guard let network = cluster.network else { return "not supported without --netns" }
            try network.partition(groups)
            return "partition \(groups.map { "[" + $0.joined(separator: ", ") + "]" }.joined(separator: " | ")) "
                + "for \(Double(duration) / 1e6) s (blackhole routes between the namespaces)"
        case .killActor:
            return "not supported"
        }
    }

    /// The head node's name (it runs the GCS and the driver).
    var headName: String { scenario.cluster.nodes.first(where: \.head)?.name ?? "" }

    /// The head node dies, and the GCS and the driver with it, as in Ray (and as raysim does it).
    private func killHead(_ cluster: LocalCluster, _ client: DriverClient, _ node: LocalCluster.Node) -> String {
        cluster.killNode(named: node.name)
        cluster.killGCS()
        client.crash()
        return "head node \(node.name) (\(node.id)) killed, and the GCS and the driver with it"
    }

    /// The live node whose store holds the primary copy of the first of `objects` held anywhere
    /// (asked of each raylet: `list objects`).
    private func primaryHolder(_ objects: [ObjectID], _ cluster: LocalCluster) -> LocalCluster.Node? {
        let alive = cluster.nodes.filter(\.alive)
        let listings = alive.map { node in (node, (try? ControlClient.ask(rayletSocket: node.socketPath, "list objects")) ?? "") }
        for object in objects {
            let prefix = "\(object) "
            for (node, listing) in listings {
                let holds = listing.split(separator: "\n").contains { line in
                    line.hasPrefix(prefix) && line.contains(" primary")
                }
                if holds { return node }
            }
        }
        return nil
    }

    /// Safety: a value must be exactly what its lineage defines, byte for byte.
    private func verify(_ ref: InstanceRef, _ fetched: FetchedValue, _ plan: WorkloadPlan) -> String? {
        guard case .data(let data) = fetched.value else { return nil }
        let digest = plan.expectedDigests[ref] ?? 0
        let size = plan.expectedSize(ref)
        guard data.digest == digest, data.sizeBytes == size else {
            return "wrong value for \(ref): \(data.sizeBytes) B with digest \(String(data.digest, radix: 16)), "
                + "expected \(size) B with digest \(String(digest, radix: 16))"
        }
        let expected = SyntheticWorker.syntheticBytes(digest: digest, size: size)
        let matches: Bool
        if let mapping = fetched.mapping {
            matches = mapping.bytes.elementsEqual(expected)
        } else {
            matches = data.bytes == expected
        }
        return matches ? nil : "wrong bytes for \(ref): the digest matches but the content does not"
    }

    private func expectationFailures(_ findings: Findings, _ plan: WorkloadPlan, _ getList: [InstanceRef]) -> [String] {
        var failures: [String] = []
        var expected: [InstanceRef: ExpectSpec.Outcome] = [:]
        for (pattern, outcome) in scenario.expect.results {
            for ref in plan.resolve(pattern) { expected[ref] = outcome }
        }
        for (ref, value) in findings.results {
            guard let value else { continue }
            switch (expected[ref] ?? .ok, value) {
            case (.ok, .data): continue
            case (.ok, .error(let error)): failures.append("\(ref): expected ok, got \(error)")
            case (.error(let kind), .data): failures.append("\(ref): expected \(kind.rawValue), got a value")
            case (.error(let kind), .error(let error)):
                if error.kind != kind { failures.append("\(ref): expected \(kind.rawValue), got \(error)") }
            }
        }
        let counted: [(String, Comparison?, Int)] = [
            ("reconstructions", scenario.expect.reconstructions, findings.reconstructions),
            ("retries", scenario.expect.retries, findings.retries),
            ("spilled", scenario.expect.spilled, findings.spilled),
            ("spillbacks", scenario.expect.spillbacks, findings.spillbacks),
        ]
        for (name, comparison, actual) in counted {
            if let comparison, !comparison.holds(for: Int64(actual)) {
                failures.append("\(name): expected \(comparison), got \(actual)")
            }
        }
        return failures
    }

    /// Waits (5 s at most) until the owner and every live raylet hold nothing; returns what is left.
    private func waitForQuiescence(_ cluster: LocalCluster, client: DriverClient?, seconds: Double) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var left: [String] = []
        repeat {
            left = []
            if let client, !client.inspect({ $0.isQuiescent }) {
                left.append("the driver still tracks \(client.inspect { "\($0.tasks.count) tasks and \($0.objects.count) objects" })")
            }
            // A node the GCS declared dead (e.g. cut off by a partition) is out of the cluster:
            // it frees its objects when it learns of its death and exits.
            let status = (try? ControlClient.ask(gcs: cluster.gcsAddress, "nodes")) ?? ""
            let dead = Set(status.split(separator: "\n").filter { $0.contains(" dead") }
                .compactMap { $0.split(separator: " ").first.map(String.init) })
            for node in cluster.nodes where node.alive && !dead.contains("\(node.id)") {
                let answer = (try? ControlClient.ask(rayletSocket: node.socketPath, "quiescent")) ?? "no answer"
                if answer != "yes" { left.append("\(node.name) (\(node.id)) still holds \(answer)") }
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
            let status = (try? ControlClient.ask(gcs: cluster.gcsAddress, "status")) ?? ""
            if status.split(separator: "\n").contains(where: { $0.contains(" driver ") && $0.hasSuffix(" running") }) {
                left.append("the GCS still lists the finished job as running")
            }
            for node in cluster.nodes where node.alive {
                let answer = (try? ControlClient.ask(rayletSocket: node.socketPath, "status")) ?? ""
                let words = answer.split(separator: " ")
                if let index = words.firstIndex(of: "workers"), index + 1 < words.count,
                   let count = Int(words[index + 1].trimmingCharacters(in: .punctuationCharacters)), count > 0 {
                    left.append("\(count) worker(s) of the finished job still alive on \(node.name) (\(node.id))")
                }
            }
            if left.isEmpty { return [] }
            usleep(20_000)
        } while Date() < deadline
        return left
    }

    // MARK: - Report

    /// The leak line of a run that found no leak, worded as raysim's.
    private func leakVerdict(_ findings: Findings) -> String {
        findings.headKilled ? "not checked (the head node died: the cluster went with it)"
            : !scenario.expect.checkLeaks ? "not checked (leaks: allowed)"
            : findings.jobEnded ? "none (and the job's end ended its workers)" : "none"
    }

    private func report(_ outcome: Outcome, _ findings: Findings, wall: Double, session: String) {
        var lines = ["scenario \(scenario.name)  seed \(seed)  (swiftray up: real processes "
            + (netns ? "in network namespaces)" : "on loopback)")]
        lines.append(String(format: "  wall time %.3f s", wall))
        if session != "-" { lines.append("  session: \(session) (swiftray trace export --session \(session) -o FILE)") }
        lines.append("  task attempts \(findings.attempts), retries \(findings.retries), reconstructions "
            + "\(findings.reconstructions), objects spilled \(findings.spilled), spillbacks \(findings.spillbacks)")
        if !findings.faultLines.isEmpty {
            lines.append("  faults:")
            lines += findings.faultLines
        }
        let ok = findings.results.filter { if case .data? = $0.1 { return true } else { return false } }.count
        let errors = findings.results.count - ok
        lines.append("  results: \(ok) ok" + (errors > 0 ? ", \(errors) error(s)" : ""))
        switch outcome {
        case .passed:
            lines.append("  expect: ok")
            lines.append("  leaks: " + leakVerdict(findings))
            lines.append("PASS")
        case .failed(let problems):
            lines.append("  FAILED:")
            lines += problems.map { "    " + $0 }
            lines.append("  logs: \(session)/logs")
            lines.append("FAIL")
        case .invalid(let reason):
            lines.append("  cannot run: \(reason)")
            lines.append("INVALID")
        case .timedOut(let detail):
            lines.append("  liveness FAILED: \(detail)")
            lines.append("  logs: \(session)/logs")
            lines.append("TIMEOUT")
        }
        print(lines.joined(separator: "\n"))
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
