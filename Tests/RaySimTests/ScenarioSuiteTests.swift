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
        let killingAnActorsWorker = """
            name: actor-worker
            description: kill_worker of an actor is not supported yet
            cluster:
              nodes: [{name: head, head: true}]
            workload:
              actors: [{name: counter, calls: 3}]
            faults:
              - at: 1ms
                kill_worker: {running: "counter[0]"}
            """
        let actorScenario = try ScenarioLoader.parse(yaml: killingAnActorsWorker, file: "actor-worker.yaml")
        do {
            _ = try Simulation(scenario: actorScenario, options: SimulationOptions(seed: 1))
            Issue.record("kill_worker of an actor was accepted")
        } catch {
            #expect(error.keyPath == "faults[0].kill_worker")
            #expect(error.problem.contains("use kill_actor"))
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

extension ScenarioSuiteTests {
    private static func run(_ yaml: String) throws -> ScenarioReport {
        let scenario = try ScenarioLoader.parse(yaml: yaml, file: "inline.yaml")
        return try Simulation(scenario: scenario, options: SimulationOptions(seed: 1)).run()
    }

    @Test func aGetThatCannotFinishInTimeIsALivenessFailureWithExitCode3() throws {
        let report = try Self.run("""
            name: slow
            description: a task longer than the liveness bound
            cluster:
              nodes: [{name: head, head: true}]
            workload:
              tasks: [{name: long, duration: 5s}]
              get: ["long"]
            expect:
              max_sim_time: 1s
            """)
        guard case .livenessExceeded(let message) = report.outcome else {
            Issue.record("expected a liveness failure, got \(report.outcome)")
            return
        }
        #expect(report.outcome.exitCode == 3)
        #expect(message.contains("long[0]"))
        #expect(report.summary(wallSeconds: 0).contains("reproduce: swift run -c release raysim run inline.yaml --seed 1"))
    }

    @Test func anUnmetExpectationFailsWithExitCode1AndSaysWhich() throws {
        let report = try Self.run("""
            name: wrong-expectation
            description: the task succeeds but the file expects a failure
            cluster:
              nodes: [{name: head, head: true}]
            workload:
              tasks: [{name: fine}]
            expect:
              results:
                "fine": TaskFailed
              retries: ">= 1"
            """)
        guard case .expectationFailed(let problems) = report.outcome else {
            Issue.record("expected an expectation failure, got \(report.outcome)")
            return
        }
        #expect(report.outcome.exitCode == 1)
        #expect(problems.contains { $0.contains("fine[0]: expected TaskFailed, got a value") })
        #expect(problems.contains { $0.contains("retries: expected >= 1, got 0") })
    }
}
