// Event sourcing of the GCS on LMDB: a GCS whose inputs were logged is
// rebuilt by replaying the log through a fresh machine and reaches the same
// state (digest) and the same effects; a restarted GCS keeps its node, job
// and KV tables. Replaying a raylet's and a driver's logs gives their effects again.

import Foundation
import Testing

@testable import RayCore
import RayWire
@testable import RayStorage
@testable import RaySim

@Suite struct GCSRecoveryTests {
    private func feed(_ gcs: inout GCS, _ log: LMDBEventLog, _ input: GCSInput, now: Int64) throws -> [GCSEffect] {
        try log.append(try input.recordBytes())
        let effects = gcs.handle(input, now: now)
        try log.commit()
        return effects
    }

    @Test func gcsRebuiltFromLMDBLogKeepsItsTables() throws {
        let path = TestPaths.temporaryDirectory() + "/gcs"
        var gcs = GCS()
        var effects: [[GCSEffect]] = []
        do {
            let log = try LMDBEventLog(path: path, component: "gcs")
            var inputs: [GCSInput] = [.started(RayConfig())]
            for node in UInt32(1)...3 {
                inputs.append(.messageReceived(from: .raylet(NodeID(node)), .registerNode(NodeInfo(
                    nodeID: NodeID(node), name: "n\(node)", resources: .units(["CPU": 2]), objectStoreBytes: 1 << 20))))
            }
            inputs.append(.messageReceived(from: .worker(WorkerID(node: NodeID(1), index: 0)),
                                           .registerJob(JobID(1), driver: WorkerID(node: NodeID(1), index: 0))))
            inputs.append(.messageReceived(from: .raylet(NodeID(2)), .kvPut(key: "fn:f", value: [1, 2, 3])))
            inputs.append(.peerDisconnected(.raylet(NodeID(3))))
            inputs.append(.messageReceived(from: .raylet(NodeID(1)), .resourceReport(node: NodeID(1), available: .units(["CPU": 1]))))
            for (index, input) in inputs.enumerated() { effects.append(try feed(&gcs, log, input, now: Int64(index) * 1000)) }
            log.close()
        }
        // A new process opens the same log and replays it.
        let reopened = try LMDBEventLog(path: path, component: "gcs")
        var rebuilt = GCS()
        var replayedEffects: [[GCSEffect]] = []
        var index: Int64 = 0
        for record in try reopened.allRecords() {
            replayedEffects.append(rebuilt.handle(try GCSInput(recordBytes: record), now: index * 1000))
            index += 1
        }
        #expect(rebuilt.digest == gcs.digest)
        #expect(replayedEffects == effects)
        #expect(rebuilt.nodeOrder == [NodeID(1), NodeID(2), NodeID(3)])
        #expect(rebuilt.nodes[NodeID(3)]?.state == .dead)
        #expect(rebuilt.aliveNodeIDs == [NodeID(1), NodeID(2)])
        #expect(rebuilt.jobs[JobID(1)]?.state == .running)
        #expect(rebuilt.kv["fn:f"] == [1, 2, 3])
        #expect(rebuilt.nodes[NodeID(1)]?.available == .units(["CPU": 1]))
        // After recovery the restarted GCS carries on: a node it only knows from the log dies once.
        let recovered = rebuilt.handle(.recovered, now: 10_000)
        #expect(recovered.contains(.startTimer(.broadcastView, afterMicros: RayConfig().resourceReportPeriodMicros)))
        let death = rebuilt.handle(.peerDisconnected(.raylet(NodeID(2))), now: 11_000)
        #expect(death.contains(.send(to: .raylet(NodeID(1)), .nodeDead(NodeID(2)))))
        #expect(rebuilt.deathMarks[NodeID(2)] == 1)
        #expect(rebuilt.handle(.peerDisconnected(.raylet(NodeID(2))), now: 12_000).isEmpty)
    }

    @Test func simulatedComponentsReplayFromTheirLMDBLogs() throws {
        let directory = TestPaths.temporaryDirectory()
        let scenario = try ScenarioLoader.load(path: TestPaths.root + "/Scenarios/gcs-restart.yaml")
        var options = SimulationOptions(seed: 3)
        options.inputLog = .lmdb(directory: directory)
        options.recordTrace = true
        let simulation = try Simulation(scenario: scenario, options: options)
        #expect(simulation.run().outcome == .passed)
        let trace = try #require(simulation.trace())
        // The driver's LMDB log holds exactly the driver's inputs, in order, each with its time.
        let driverSteps = trace.steps.filter { if case .driver = $0.component { return true } else { return false } }
        let records = try LMDBEventLog(path: directory + "/driver", component: "driver").allRecords()
        #expect(records.map { Array(LogRecord.inputBytes($0)) } == driverSteps.map(\.input))
        #expect(try records.map(LogRecord.time) == driverSteps.map(\.time))
    }
}

extension GCSRecoveryTests {
    /// Every component of a run (a GCS restart, a node death, retries) is rebuilt from
    /// its own LMDB input log in a fresh machine and reaches the same state digest.
    @Test func everyComponentRebuiltFromItsLMDBLogReachesTheSameDigest() throws {
        let directory = TestPaths.temporaryDirectory()
        let scenario = try ScenarioLoader.load(path: TestPaths.root + "/Scenarios/gcs-restart.yaml")
        var options = SimulationOptions(seed: 4)
        options.inputLog = .lmdb(directory: directory)
        let simulation = try Simulation(scenario: scenario, options: options)
        #expect(simulation.run().outcome == .passed)

        func replay<Machine, Input: ProtoRecord, Effect>(_ name: String, _ machine: Machine, _ inputType: Input.Type,
                                                       _ handle: (inout Machine, Input, Int64) -> [Effect]) throws -> Machine {
            var rebuilt = machine
            let log = try LMDBEventLog(path: directory + "/" + name, component: name)
            for record in try log.allRecords() {
                let (input, time) = try LogRecord.decode(Input.self, record)
                _ = handle(&rebuilt, input, time)  // With the time the machine saw.
            }
            return rebuilt
        }
        let owner = try replay("driver", Owner(), OwnerInput.self) { $0.handle($1, now: $2) }
        #expect(owner.digest == simulation.driver.digest)
        #expect(owner.metrics == simulation.driver.metrics)

        var raylets = 0
        for node in simulation.nodeOrder {
            guard let simNode = simulation.nodes[node] else { continue }
            let name = "raylet-\(simNode.spec.name)-\(node.value)"
            let raylet = try replay(name, Raylet(), RayletInput.self) { $0.handle($1, now: $2) }
            #expect(raylet.digest == simNode.raylet.digest, "\(name)")
            raylets += 1
        }
        #expect(raylets == 3)
        // The GCS log spans its restart: replaying all of it gives the restarted GCS's state.
        let gcs = try replay("gcs", GCS(), GCSInput.self) { $0.handle($1, now: $2) }
        #expect(gcs.digest == simulation.gcs.digest)
    }
}

extension GCSRecoveryTests {
    /// Time is an input: the GCS's job table reads `now` (when each job started and ended), and
    /// a GCS rebuilt from its LMDB log, each record with the time it was handled, has the same
    /// times and state; handed other times, it would not.
    @Test func aMachineThatReadsNowReplaysIdenticallyFromItsLMDBLog() throws {
        let path = TestPaths.temporaryDirectory() + "/gcs-times"
        let driver = WorkerID(node: NodeID(1), index: 1 << 30)
        let inputs: [(GCSInput, Int64)] = [
            (.started(RayConfig()), 1_000),
            (.messageReceived(from: .worker(driver), .registerJob(JobID(1), driver: driver)), 2_500_000),
            (.messageReceived(from: .worker(driver), .jobFinished(JobID(1))), 7_250_000),
        ]
        let live = ComponentDriver<GCS>()
        let log = try LMDBEventLog(path: path, component: "gcs")
        var clock: Int64 = 0
        live.clock = { clock }
        live.log = { input, now in _ = try? log.append(LogRecord.encode(input, at: now)) }
        for (input, now) in inputs {
            clock = now
            live.submit(input)
        }
        try log.commit()
        log.close()
        #expect(live.jobs[JobID(1)]?.startedAt == 2_500_000 && live.jobs[JobID(1)]?.endedAt == 7_250_000)

        let reopened = try LMDBEventLog(path: path, component: "gcs")
        let records = try reopened.allRecords().map { try LogRecord.decode(GCSInput.self, $0) }
        #expect(records.map(\.1) == inputs.map(\.1))
        let rebuilt = ComponentDriver<GCS>()
        rebuilt.replay(records)
        #expect(rebuilt.jobs == live.jobs)
        #expect(rebuilt.machine.stateDigest == live.machine.stateDigest)
        // The same inputs at other times: another state (the times are part of it).
        let shifted = ComponentDriver<GCS>()
        shifted.replay(records.map { ($0.0, $0.1 + 1) })
        #expect(shifted.machine.stateDigest != live.machine.stateDigest)
    }
}
