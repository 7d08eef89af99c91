// The differential comparison: what a user sees must agree, counts and
// timing are printed but not compared.

import Testing
import RayCore
@testable import RaySim

@Suite struct RunComparisonTests {
    private func summary(_ results: [(String, String)], faults: [Int] = [0], retries: Int = 0,
                         leaks: String = "none") -> RunSummary {
        var summary = RunSummary()
        summary.results = results.map { (ref: $0.0, outcome: $0.1) }
        summary.faultsFired = faults
        summary.retries = retries
        summary.leaks = leaks
        return summary
    }

    @Test func agreeingRunsDifferOnlyInCountsWhichAreNotCompared() {
        let comparison = RunComparison(simulated: summary([("a[0]", "ok"), ("b[0]", "OwnerDied")], retries: 1),
                                       real: summary([("a[0]", "ok"), ("b[0]", "OwnerDied")], retries: 3))
        #expect(comparison.differences.isEmpty)
        #expect(comparison.table.contains { $0.hasPrefix("≠ retries") })
    }

    @Test func aDifferentResultFaultOrLeakIsADifference() {
        let comparison = RunComparison(
            simulated: summary([("a[0]", "ok"), ("b[0]", "ok")], faults: [0, 1]),
            real: summary([("a[0]", "TaskUnschedulable"), ("c[0]", "ok")], faults: [0], leaks: "found: 1 lease"))
        #expect(comparison.differences == [
            "a[0]: raysim ok, real TaskUnschedulable",
            "b[0]: raysim ok, real (not got)",
            "c[0]: raysim (not got), real ok",
            "faults fired: raysim [0, 1], real [0]",
            "leaks: raysim none, real found: 1 lease",
        ])
    }

    @Test func aSimulatedRunSummarizesAsAUserSeesIt() throws {
        let scenario = try ScenarioLoader.load(path: TestPaths.root + "/Scenarios/head-node-loss.yaml")
        let summary = RunSummary(try Simulation(scenario: scenario, options: SimulationOptions(seed: 11)).run())
        #expect(summary.results.map(\.outcome) == ["OwnerDied", "OwnerDied"])
        #expect(summary.faultsFired == [0])
        #expect(summary.leaks.hasPrefix("not checked (the head node died"))
        #expect(summary.verdict == "PASS")
    }

    /// An actor's calls summarize to one row of outcome kinds, wherever they stand among the
    /// tasks' results (a scenario with tasks and actors).
    @Test func anActorsCallsAreOneRowOfOutcomeKindsBesideTheTasks() throws {
        let scenario = try ScenarioLoader.load(path: TestPaths.root + "/Scenarios/actor-restart.yaml")
        var report = ScenarioReport(scenario: scenario, seed: 1)
        let died = ObjectValue.error(RayError(.actorDied, "killed"))
        let value = ObjectValue.data(ObjectData(sizeBytes: 8, digest: 1))
        report.results = [
            (InstanceRef(name: "load", index: 0, isPut: false), value),
            (InstanceRef(name: "counter[0]", index: 0, isPut: false), value),
            (InstanceRef(name: "load", index: 1, isPut: false), died),
            (InstanceRef(name: "counter[0]", index: 1, isPut: false), died),
            (InstanceRef(name: "counter[1]", index: 0, isPut: false), value),
            (InstanceRef(name: "counter[0]", index: 2, isPut: false), value),
        ]
        let summary = RunSummary(report)
        #expect(summary.results.map(\.ref) == ["load[0]", "calls to counter[0]", "load[1]", "calls to counter[1]"])
        #expect(summary.results.map(\.outcome) == ["ok", "ok + ActorDied", "ActorDied", "ok"])
    }
}
