// The one scenario driver against a scripted world: what a user sees (the
// program's calls, which node a fault hits, each result's verdict, the faults
// that did not fire) is decided by the driver, whatever world runs it.

import Testing

@testable import RayCore
@testable import RaySim

/// A world that records what it is asked and answers as the test scripts it.
private final class ScriptedWorld: ScenarioWorld {
    var calls: [String] = []
    var nextTask: UInt64 = 1
    var made: Set<ObjectID> = []
    var primary: [ObjectID: NodeID] = [:]
    var alive: [String: NodeID] = ["head": NodeID(1), "worker-1": NodeID(2), "worker-2": NodeID(3)]
    var asked: [ObjectID] = []
    var finished = 0

    func timestamp() -> String { "t" }
    /// The scripted clock (`finish_within`).
    var elapsedMicros: Int64 = 0
    func put(_ data: ObjectData, on node: String?) throws -> ObjectID {
        calls.append("put \(data.sizeBytes) on \(node ?? "-")")
        return ObjectID.put(by: TaskID.driver(of: JobID(1)), index: UInt32(calls.count))
    }
    var resources: [String: ResourceSet] = [:]
    func submit(_ request: TaskRequest) -> ObjectID {
        calls.append("submit \(request.function)[\(request.instance)] args \(request.args.count)")
        resources["\(request.function)[\(request.instance)]"] = request.resources
        defer { nextTask += 1 }
        return ObjectID.returnValue(of: TaskID.child(of: TaskID.driver(of: JobID(1)), index: nextTask), index: 1)
    }
    func createActor(_ request: TaskRequest, _ options: ActorOptions) -> ActorID {
        calls.append("actor \(request.function)[\(request.instance)]")
        defer { nextTask += 1 }
        return ActorID(creationTask: TaskID.child(of: TaskID.driver(of: JobID(1)), index: nextTask))
    }
    func callActor(_ actor: ActorID, _ request: TaskRequest) -> ObjectID { submit(request) }
    func killActor(_ actor: ActorID, noRestart: Bool) -> String? { calls.append("kill \(actor)"); return nil }
    func actorWorker(_ actor: ActorID) -> WorkerID? { nil }
    func nodeID(named name: String) -> NodeID? { alive[name] }
    func get(_ objects: [ObjectID]) { asked = objects }
    func release(_ objects: [ObjectID]) { calls.append("release \(objects.count)") }
    func programFinished() { finished += 1 }
    func probeAsBorrower(_ objects: [ObjectID]) { calls.append("probe \(objects.count)") }
    func haveBeenMade(_ objects: [ObjectID]) -> Bool { objects.allSatisfy(made.contains) }
    func liveNode(named name: String) -> NodeID? { alive[name] }
    var headNode: NodeID { NodeID(1) }
    func nodeName(_ node: NodeID) -> String { alive.first { $0.value == node }?.key ?? "?" }
    func primaryHolder(of objects: [ObjectID]) -> NodeID? { objects.lazy.compactMap { self.primary[$0] }.first }
    func workerRunning(anyOf tasks: Set<TaskID>) -> (worker: WorkerID, task: TaskID)? { nil }
    func containedReferences(of object: ObjectID) -> [ObjectID] { [] }
    func holdBorrowed(_ objects: [ObjectID]) {}
    func owner(ofBorrowed object: ObjectID) -> WorkerID? { nil }
    func kill(node: NodeID) -> String? {
        calls.append("kill \(node)")
        alive = alive.filter { $0.value != node }
        return "scripted"
    }
    func killHeadNode() -> String? { calls.append("kill head"); return nil }
    func restart(node: NodeID, as spec: NodeSpec) throws -> String? { nil }
    func join(node spec: NodeSpec) throws -> String? { nil }
    func kill(worker: WorkerID) -> String? { nil }
    func killAndRestartGCS() throws -> String? { nil }
    func killDriver() -> String? { calls.append("kill driver"); return nil }
    func partition(_ groups: [[String]], for micros: Int64) throws -> String? { nil }
    func cancel(_ objects: [ObjectID], force: Bool, recursive: Bool) -> String? { calls.append("cancel \(objects.count)"); return nil }
    func wait(_ objects: [ObjectID], numReturns: Int, timeoutMicros: Int64?, fault: Int) {
        calls.append("wait \(numReturns) of \(objects.count)")
    }
    var groups: [PlacementGroupID: PlacementGroupInfo] = [:]
    func createPlacementGroup(_ bundles: [ResourceSet], strategy: PlacementStrategy, name: String) -> PlacementGroupID {
        calls.append("create group \(name) \(strategy) \(bundles.count)")
        let id = PlacementGroupID(creationTask: TaskID(value: UInt64(0x6000 + groups.count)))
        groups[id] = PlacementGroupInfo(id: id, state: .pending, nodes: bundles.map { _ in NodeID(0) }, cause: "", name: name)
        return id
    }
    func removePlacementGroup(_ id: PlacementGroupID) -> String? { calls.append("remove group \(id)"); return nil }
    func placementGroupInfo(_ id: PlacementGroupID) -> PlacementGroupInfo? { groups[id] }
}

private func scenario(_ faults: String, expect: String = "") throws -> Scenario {
    try ScenarioLoader.parse(yaml: """
        name: scripted
        description: a diamond on three nodes
        cluster:
          nodes: [{name: head, head: true}, {name: worker-1}, {name: worker-2}]
        workload:
          puts: [{name: input, size: 1KiB}]
          tasks:
            - {name: mid, count: 2, args: ["input"]}
            - {name: sink, args: ["mid[*]"]}
          get: ["sink"]
        \(faults)
        \(expect)
        """, file: "scripted.yaml")
}

/// The value `ref`'s lineage defines.
private func value(_ driver: ScenarioDriver, _ ref: InstanceRef) -> ObjectValue {
    .data(ObjectData(sizeBytes: driver.plan.expectedSize(ref), digest: driver.plan.expectedDigests[ref]!))
}

@Suite struct ScenarioDriverTests {
    /// `jobs:`: each job's program runs in its own world; its results are the run's, its
    /// expectations (results, `finish_within`) are checked, and a job that did not finish
    /// keeps the run from passing.
    @Test func eachJobsResultsAndBoundsAreTheRunsVerdict() throws {
        let yaml = """
            name: two-jobs
            description: a program and a job beside it
            cluster:
              nodes: [{name: head, head: true}]
            workload:
              tasks: [{name: mine, count: 2}]
              get: ["mine[*]"]
            jobs:
              - name: other
                start: 100ms
                workload:
                  tasks: [{name: theirs, count: 3}]
                  get: ["theirs[*]"]
                expect:
                  results: {"theirs[*]": ok}
                  finish_within: 50ms
            """
        let scenario = try ScenarioLoader.parse(yaml: yaml, file: "two.yaml")
        #expect(scenario.jobs.map(\.name) == ["other"] && scenario.jobs[0].startMicros == 100_000)
        #expect(scenario.jobScenario(0).workload.tasks.map(\.name) == ["theirs"])
        func run(jobTakes micros: Int64, jobFinishes: Bool = true) throws -> ScenarioReport {
            let world = ScriptedWorld(), jobWorld = ScriptedWorld()
            let driver = ScenarioDriver(scenario: scenario, world: world)
            let job = ScenarioDriver(scenario: scenario.jobScenario(0), world: jobWorld)
            driver.addJob(job)
            try driver.start()
            for (object, ref) in zip(world.asked, driver.getList) { driver.resolve(object, value(driver, ref)) }
            #expect(driver.finished && !driver.allFinished)
            jobWorld.elapsedMicros = 100_000
            try job.start()
            jobWorld.elapsedMicros = 100_000 + micros
            for (object, ref) in zip(jobWorld.asked, job.getList).dropLast(jobFinishes ? 0 : 1) {
                job.resolve(object, value(job, ref))
            }
            var report = ScenarioReport(scenario: scenario, seed: 1)
            driver.finish(&report, counts: ScenarioCounts(), ending: ScenarioEnding())
            return report
        }
        let quick = try run(jobTakes: 40_000)
        #expect(quick.outcome == .passed, "\(quick.summary(wallSeconds: 0))")
        #expect(quick.results.map { "\($0.0)" } == ["mine[0]", "mine[1]", "theirs[0]", "theirs[1]", "theirs[2]"])
        #expect(quick.jobLines.last == "other (job 2): started at 100ms, its 3 gets returned in 40ms (finish_within 50ms)")
        let slow = try run(jobTakes: 60_000)
        #expect(slow.outcome == .expectationFailed(["job other: its gets returned 60ms after it started, over finish_within 50ms"]))
        let unfinished = try run(jobTakes: 10_000, jobFinishes: false)
        guard case .livenessExceeded(let message) = unfinished.outcome else {
            Issue.record("expected a liveness failure, got \(unfinished.outcome)")
            return
        }
        #expect(message.contains("theirs[2]"))
    }

    @Test func jobsAreCheckedAtLoad() throws {
        func problem(_ jobs: String) -> String {
            do {
                _ = try ScenarioLoader.parse(yaml: """
                    name: bad-jobs
                    description: d
                    cluster:
                      nodes: [{name: head, head: true}]
                    workload:
                      tasks: [{name: mine}]
                    \(jobs)
                    """, file: "bad.yaml")
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(problem("jobs: [{name: a, workload: {tasks: [{name: mine}]}}]")
            == "bad.yaml: jobs[0].workload: 'mine' is declared in workload too; names are unique across the workload and every job, so each result names one thing")
        #expect(problem("jobs: [{name: a, workload: {tasks: [{name: x, args: [\"mine\"]}]}}]")
            .contains("jobs[0].workload.tasks[0].args[0]"))
        #expect(problem("jobs: [{name: a, workload: {tasks: [{name: x}]}, expect: {retries: 1}}]")
            .contains("jobs[0].expect.retries: unknown key 'retries'; expected one of: results, finish_within"))
        #expect(problem("jobs: [{name: a, workload: {}}, {name: a, workload: {}}]") == "bad.yaml: jobs[1].name: duplicate job name 'a'")
        #expect(problem("jobs: [{name: a, start: soon, workload: {}}]").contains("jobs[0].start"))
        #expect(problem("jobs: [{name: a, workload: {tasks: [{name: x, output: -1B}]}}]")
            .contains("jobs[0].workload.tasks[0].output"))
    }

    @Test func theProgramPutsSubmitsInOrderAndReleasesOnceEveryGetReturned() throws {
        let world = ScriptedWorld()
        let driver = ScenarioDriver(scenario: try scenario(""), world: world)
        try driver.start()
        #expect(world.calls == ["put 1024 on -", "submit mid[0] args 1", "submit mid[1] args 1", "submit sink[0] args 2"])
        #expect(world.asked == driver.getObjects && driver.getList.map(\.description) == ["sink[0]"])
        let sink = InstanceRef(name: "sink", index: 0, isPut: false)
        driver.resolve(world.asked[0], value(driver, sink))
        #expect(driver.phase == .done && world.finished == 1)
        #expect(world.calls.last == "release 4")
        var report = ScenarioReport(scenario: driver.scenario, seed: 1)
        driver.finish(&report, counts: ScenarioCounts(), ending: ScenarioEnding())
        #expect(report.outcome == .passed, "\(report.summary(wallSeconds: 0))")
    }

    @Test func aValueThatIsNotWhatItsLineageDefinesIsASafetyFailure() throws {
        let world = ScriptedWorld()
        let driver = ScenarioDriver(scenario: try scenario(""), world: world)
        try driver.start()
        driver.resolve(world.asked[0], .data(ObjectData(sizeBytes: 8, digest: 42)))
        var report = ScenarioReport(scenario: driver.scenario, seed: 1)
        driver.finish(&report, counts: ScenarioCounts(), ending: ScenarioEnding())
        guard case .invariantViolated(let problem) = report.outcome else {
            Issue.record("expected a safety failure, got \(report.outcome)")
            return
        }
        #expect(problem.contains("wrong content for sink[0]"))
    }

    @Test func holdingWaitsForAPrimaryCopyAndTheHeadTakesTheDriverWithIt() throws {
        let world = ScriptedWorld()
        let driver = ScenarioDriver(scenario: try scenario("""
            faults:
              - after: "mid[0]"
                kill_node: {holding: "mid[0]"}
            """, expect: """
            expect:
              results: {"sink": OwnerDied}
            """), world: world)
        try driver.start()
        let mid = driver.refs[InstanceRef(name: "mid", index: 0, isPut: false)]!
        #expect(driver.newlyDueAfterFaults().isEmpty)  // Not made yet.
        world.made.insert(mid)
        #expect(driver.newlyDueAfterFaults() == [0])
        #expect(driver.newlyDueAfterFaults().isEmpty)  // Reported once.
        #expect(try driver.fire(0) == false)  // Nobody holds a primary copy yet: tried again later.
        world.primary[mid] = NodeID(1)  // The head holds it.
        #expect(try driver.fire(0))
        #expect(world.calls.last == "kill head")
        #expect(driver.headKilled && driver.phase == .probed)
        #expect(driver.faultLines.last?.contains("head node head (node-1) holding mid[0] killed") == true)
        var report = ScenarioReport(scenario: driver.scenario, seed: 1)
        var ending = ScenarioEnding()
        ending.findLeaks = { Issue.record("leaks are not checked after the head died"); return ([], false) }
        driver.finish(&report, counts: ScenarioCounts(), ending: ending)
        #expect(report.outcome == .passed, "\(report.summary(wallSeconds: 0))")
        #expect(report.results.map { RunSummary.outcome($0.1) } == ["OwnerDied"])
        #expect(report.faultsFired == [0])
    }

    @Test func aFaultThatNeverFiredFailsTheRunAndIsSaidSo() throws {
        let world = ScriptedWorld()
        let driver = ScenarioDriver(scenario: try scenario("""
            faults:
              - at: 1s
                kill_node: worker-2
            """), world: world)
        try driver.start()
        world.alive["worker-2"] = nil
        #expect(try driver.fire(0) == false)  // No node of that name is alive.
        let sink = InstanceRef(name: "sink", index: 0, isPut: false)
        driver.resolve(world.asked[0], value(driver, sink))
        var report = ScenarioReport(scenario: driver.scenario, seed: 1)
        driver.finish(&report, counts: ScenarioCounts(), ending: ScenarioEnding())
        #expect(report.outcome == .expectationFailed(["fault 0 did not fire"]))
        #expect(report.faultLines == ["  fault 0 did not fire (at 1s, needing node worker-2 alive): the run ended first"])
        #expect(report.faultsFired.isEmpty)
    }

    @Test func afterKillDriverTheBorrowerProbeDecidesTheResults() throws {
        let world = ScriptedWorld()
        let driver = ScenarioDriver(scenario: try scenario("""
            faults:
              - at: 1ms
                kill_driver: {}
            """, expect: """
            expect:
              results: {"sink": OwnerDied}
            """), world: world)
        try driver.start()
        #expect(try driver.fire(0))
        #expect(driver.phase == .dead)
        driver.probe()
        #expect(world.calls.last == "probe 1")
        driver.probeAnswered(world.asked[0], .error(RayError(.ownerDied, "owner gone")))
        #expect(driver.phase == .probed)
        var report = ScenarioReport(scenario: driver.scenario, seed: 1)
        var ending = ScenarioEnding()
        ending.findLeaks = { (["node-2 still holds 1 object(s)"], false) }
        driver.finish(&report, counts: ScenarioCounts(), ending: ending)
        #expect(report.outcome == .expectationFailed(["node-2 still holds 1 object(s)"]))
    }

    @Test func aWaitsAnswerIsCheckedAgainstRaysContractAndHoldsTheProgramsHandles() throws {
        let world = ScriptedWorld()
        let driver = ScenarioDriver(scenario: try scenario("""
            faults:
              - at: 1ms
                wait: {refs: "mid[*]", num_returns: 1}
              - at: 2ms
                wait: {refs: "mid[*]", num_returns: 2, timeout: 5ms}
            """), world: world)
        try driver.start()
        #expect(try driver.fire(0) && driver.fire(1))
        #expect(world.calls.suffix(2) == ["wait 1 of 2", "wait 2 of 2"])
        // Every get returned, but a wait is out: the program keeps its handles.
        driver.resolve(world.asked[0], value(driver, InstanceRef(name: "sink", index: 0, isPut: false)))
        #expect(driver.phase == .waitingForGets && !world.calls.contains { $0.hasPrefix("release") })
        driver.waitAnswered(fault: 1, ready: [1], timedOut: true)  // Fewer, at its timeout: fine.
        #expect(driver.wrongValue == nil)
        driver.waitAnswered(fault: 0, ready: [0, 1], timedOut: false)  // More than num_returns.
        #expect(driver.wrongValue?.contains("returned 2 ready references, more than num_returns 1") == true)
        #expect(driver.phase == .done && world.calls.last == "release 4")
    }

    @Test func aWaitWithoutTimeoutThatReturnsFewerBreaksTheContract() throws {
        let world = ScriptedWorld()
        let driver = ScenarioDriver(scenario: try scenario("""
            faults:
              - at: 1ms
                wait: {refs: "mid[*]", num_returns: 2}
            """), world: world)
        try driver.start()
        #expect(try driver.fire(0))
        driver.waitAnswered(fault: 0, ready: [1], timedOut: false)
        #expect(driver.wrongValue?.contains("returned 1 of num_returns 2 without its timeout passing") == true)
    }

    @Test func groupsComeFirstTheirTasksAskForTheirBundleAndAKillFindsTheBundlesNode() throws {
        let world = ScriptedWorld()
        let driver = ScenarioDriver(scenario: try ScenarioLoader.parse(yaml: """
            name: scripted-groups
            description: groups, their tasks, a bundle kill
            cluster:
              nodes: [{name: head, head: true}, {name: worker-1}, {name: worker-2}]
            workload:
              placement_groups: [{name: gang, strategy: STRICT_SPREAD, bundles: [{CPU: 1}, {CPU: 1}]}]
              tasks:
                - {name: shard, count: 2, placement_group: {name: gang, bundle: i}}
                - {name: loose, placement_group: {name: gang}}
              get: ["shard[*]", "loose"]
            faults:
              - {at: 10ms, kill_node: {bundle: "gang[1]"}}
            """, file: "scripted-groups.yaml"), world: world)
        try driver.start()
        #expect(world.calls.prefix(2) == ["create group gang STRICT_SPREAD 2", "submit shard[0] args 0"])
        let id = try #require(world.groups.keys.first)
        #expect(world.resources["shard[1]"] == ResourceSet(["CPU": 1000]).inGroup(id, bundle: 1))
        #expect(world.resources["loose[0]"] == ResourceSet(["CPU": 1000]).inGroup(id, bundle: nil))
        // Not created yet: the kill waits; created, it hits the node holding bundle 1.
        #expect(try driver.fire(0) == false)
        world.groups[id] = PlacementGroupInfo(id: id, state: .created, nodes: [NodeID(2), NodeID(3)], cause: "", name: "gang")
        #expect(try driver.fire(0) == true)
        #expect(world.calls.last == "kill node-3")
        // Two bundles of a STRICT_SPREAD group on one node, as the program hears it: a safety failure.
        world.groups[id]!.nodes = [NodeID(2), NodeID(2)]
        driver.checkPlacementGroups()
        #expect(driver.wrongValue?.contains("STRICT_SPREAD group gang") == true)
        // The program's end removes the group before it drops its handles.
        for object in world.asked { driver.resolve(object, .error(RayError(.placementGroupUnschedulable, "x"))) }
        #expect(world.calls.suffix(2) == ["remove group \(id)", "release 3"])
    }
}
