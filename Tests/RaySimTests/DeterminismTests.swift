// Determinism: the same seed gives the same run, step for step; another seed
// gives another run. The trace digest covers every step's encoded input and
// effects.

import Testing

@testable import RaySim

@Suite struct DeterminismTests {
    func run(_ scenario: Scenario, seed: UInt64) throws -> (ScenarioReport, TraceFile) {
        var options = SimulationOptions(seed: seed)
        options.recordTrace = true
        let simulation = try Simulation(scenario: scenario, options: options)
        let report = simulation.run()
        return (report, try #require(simulation.trace()))
    }

    @Test func sameSeedTwiceGivesIdenticalTraces() throws {
        let scenario = try ScenarioLoader.load(path: TestPaths.root + "/Scenarios/chain-node-loss.yaml")
        let (first, firstTrace) = try run(scenario, seed: 42)
        let (second, secondTrace) = try run(scenario, seed: 42)
        #expect(first.traceDigest == second.traceDigest)
        #expect(firstTrace.steps == secondTrace.steps)
        #expect(first.eventsProcessed == second.eventsProcessed)
        #expect(first.simulatedMicros == second.simulatedMicros)
    }

    @Test func differentSeedsGiveDifferentRuns() throws {
        let scenario = try ScenarioLoader.load(path: TestPaths.root + "/Scenarios/partition-heals.yaml")
        let (first, _) = try run(scenario, seed: 1)
        let (second, _) = try run(scenario, seed: 2)
        #expect(first.traceDigest != second.traceDigest)
    }

    @Test func swarmSeedIsReproducible() throws {
        for seed: UInt64 in [7, 21, 1141] {
            #expect(SwarmGenerator.scenario(seed: seed) == SwarmGenerator.scenario(seed: seed))
            let scenario = SwarmGenerator.scenario(seed: seed)
            let (first, _) = try run(scenario, seed: seed)
            let (second, _) = try run(scenario, seed: seed)
            #expect(first.traceDigest == second.traceDigest)
        }
    }
}

extension DeterminismTests {
    /// Across processes: the traces in Traces/ were recorded by another process (with
    /// another hash seed); running their scenario and seed again gives the same steps.
    @Test(arguments: TestPaths.files(in: "Traces", ending: ".trace"))
    func recordedRunIsReproducedStepForStep(file: String) throws {
        let recorded = try TraceFile.read(from: file)
        let scenario = try ScenarioLoader.load(path: TestPaths.root + "/" + recorded.scenarioPath)
        let (_, trace) = try run(scenario, seed: recorded.seed)
        #expect(trace.steps.count == recorded.steps.count)
        let firstDifference = zip(trace.steps, recorded.steps).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDifference == nil, "first differing step: \(firstDifference ?? -1)")
    }
}
