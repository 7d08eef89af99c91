// Nested tasks in the simulator: parents' bodies submit children through their
// workers' owners, block in their gets (their raylets lend the lease's CPUs), and
// return values that cover their children's; the run replays step for step.

import Testing
import RayCore
@testable import RaySim

@Suite struct NestedScenarioTests {
    func simulate(_ file: String, seed: UInt64 = 5) throws -> (Simulation, ScenarioReport, TraceFile) {
        let scenario = try ScenarioLoader.load(path: TestPaths.root + "/Scenarios/" + file)
        var options = SimulationOptions(seed: seed)
        options.recordTrace = true
        let simulation = try Simulation(scenario: scenario, options: options)
        let report = simulation.run()
        return (simulation, report, try #require(simulation.trace()))
    }

    @Test func parentsGetTheirChildrenThroughTheirWorkersOwners() throws {
        let (simulation, report, trace) = try simulate("nested.yaml")
        #expect(report.outcome.exitCode == 0, "\(report)")
        // Two parents' children, owned by the parents' workers; each parent blocked in its get.
        #expect(simulation.nestedCounts.attemptsStarted == 8)
        let blocked = simulation.nodeOrder.reduce(0) { $0 + (simulation.nodes[$1]?.raylet.metrics.workersBlocked ?? 0) }
        #expect(blocked == 2)
        #expect(trace.steps.contains { if case .workerOwner = $0.component { true } else { false } })
        // Every step replays to the same effects (the worker owners' too).
        guard case .identical = TraceReplayer.replay(trace) else {
            Issue.record("the trace did not replay identically")
            return
        }
    }

    @Test func aNodeLossRetriesParentsAndChildrenAndTheValuesStillHold() throws {
        let (simulation, report, _) = try simulate("nested-node-loss.yaml", seed: 11)
        #expect(report.outcome.exitCode == 0, "\(report)")
        #expect(simulation.nestedCounts.retries + report.retries >= 1)
        let (_, again, _) = try simulate("nested-node-loss.yaml", seed: 11)
        #expect(again.traceDigest == report.traceDigest)
    }
}
