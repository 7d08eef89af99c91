// Every scenario in Scenarios/ runs in the simulator, with its own seed and
// two more, and must meet every expectation it states.

import Foundation
import Testing

@testable import RaySim

@Suite struct ScenarioSuiteTests {
    static let scenarioFiles = TestPaths.files(in: "Scenarios", ending: ".yaml")

    @Test func thereAreAtLeastTenScenarios() {
        #expect(Self.scenarioFiles.count >= 10)
    }

    @Test(arguments: scenarioFiles)
    func scenarioPasses(file: String) throws {
        let scenario = try ScenarioLoader.load(path: file)
        let baseSeed = scenario.seed ?? 1
        for seed in [baseSeed, baseSeed + 100, baseSeed + 200] {
            let report = try Simulation(scenario: scenario, options: SimulationOptions(seed: seed)).run()
            #expect(report.outcome == .passed, "\(file) seed \(seed):\n\(report.summary(wallSeconds: 0))")
        }
    }

    @Test func unsupportedFeaturesAreRejectedClearly() throws {
        let yaml = """
            name: actors
            description: actors are for a later issue
            cluster:
              nodes: [{name: head, head: true}]
            workload:
              actors: [{name: counter, calls: 3}]
            """
        let scenario = try ScenarioLoader.parse(yaml: yaml, file: "actors.yaml")
        #expect(throws: ScenarioError.self) { try Simulation(scenario: scenario, options: SimulationOptions(seed: 1)) }
        do {
            _ = try Simulation(scenario: scenario, options: SimulationOptions(seed: 1))
        } catch {
            #expect(error.keyPath == "workload.actors")
            #expect(error.problem.contains("not supported yet"))
        }
    }
}

extension ScenarioSuiteTests {
    @Test func restartingAGCSWithoutALogIsRejected() throws {
        let yaml = """
            name: no-log
            description: a GCS restart needs the GCS's log
            cluster:
              gcs: {persistent: false}
              nodes: [{name: head, head: true}]
            workload:
              tasks: [{name: t}]
            faults:
              - at: 1ms
                restart_gcs: {}
            """
        let scenario = try ScenarioLoader.parse(yaml: yaml, file: "no-log.yaml")
        do {
            _ = try Simulation(scenario: scenario, options: SimulationOptions(seed: 1))
            Issue.record("a non-persistent GCS restart was accepted")
        } catch {
            #expect(error.keyPath == "faults[0].restart_gcs")
            #expect(error.problem.contains("persistent: true"))
        }
        var persistent = scenario
        persistent.cluster.gcsPersistent = true
        var options = SimulationOptions(seed: 1)
        options.inputLog = .off
        #expect(throws: ScenarioError.self) { try Simulation(scenario: persistent, options: options) }
    }
}
