// The object size limit as the simulator applies it (issue 12: an object flood of huge
// objects): one rule (RayCore's ObjectSizeRule) for a put and a body's return values, with
// the limit a node hands its drivers and workers; the real runtime applies the same rule
// (RayRuntimeTests' anObjectOverTheSizeLimitIsRefusedBeforeAllocation, and
// `swiftray up Scenarios/abuse-object-huge.yaml --compare`).

import RayCore
@testable import RaySim
import Testing

@Suite struct ObjectSizeTests {
    @Test func theLimitIsTheNodesStoreUnlessConfigured() {
        #expect(RayConfig().objectSizeLimit == nil)
        #expect(RayConfig().forNode(storeBytes: 8 << 20).objectSizeLimit == 8 << 20)
        var configured = RayConfig()
        configured.objectSizeBytesMax = 1 << 20
        #expect(configured.forNode(storeBytes: 8 << 20).objectSizeLimit == 1 << 20)
        #expect(ObjectSizeRule.refusal(1 << 20, limit: 1 << 20, what: "v") == nil)
        let refusal = ObjectSizeRule.refusal(returns: [ObjectData(sizeBytes: 1, digest: 0),
                                                       ObjectData(sizeBytes: 3, digest: 0)], of: "f", limit: 2)
        #expect(refusal?.kind == .objectTooLarge)
        #expect(refusal?.message.hasPrefix("return value 2 of f is 3 bytes, over the object size limit of 2 bytes") == true,
                "\(String(describing: refusal))")
    }

    @Test func aPutOrAReturnOverTheLimitIsRefusedAndWhatTakesItIsNeverSubmitted() throws {
        let yaml = """
            name: huge
            description: puts and returns over the limit
            cluster:
              quotas: {max_object_bytes: 1MiB}
              nodes: [{name: head, head: true, object_store: 8MiB}, {name: w, object_store: 4MiB}]
            workload:
              puts: [{name: whale, size: 2MiB}, {name: minnow, size: 1MiB}]
              tasks:
                - {name: swallow, args: [whale]}
                - {name: chain, args: [swallow]}
                - {name: bloat, output: 1025KiB}
                - {name: fine, args: [minnow], output: 1MiB}
            expect:
              results: {whale: ObjectTooLarge, swallow: ObjectTooLarge, chain: ObjectTooLarge, bloat: TaskFailed, fine: ok}
              leaks: none
            """
        let scenario = try ScenarioLoader.parse(yaml: yaml, file: "huge.yaml")
        let report = try Simulation(scenario: scenario, options: SimulationOptions(seed: 1)).run()
        #expect(report.outcome == .passed, "\(report.summary(wallSeconds: 0))")
        #expect(report.tasksRun == 2, "swallow and chain were never submitted")
        func error(_ name: String) -> String {
            guard case .error(let error)? = report.results.first(where: { $0.0.name == name })?.1 else { return "" }
            return error.message
        }
        #expect(error("whale").hasPrefix("the value put is 2097152 bytes, over the object size limit of 1048576 bytes"))
        #expect(error("whale").contains("SWIFTRAY_MAX_OBJECT_BYTES"))
        #expect(error("swallow") == error("whale"))
        #expect(error("bloat").contains("raised: ObjectTooLarge: the value bloat returned is 1049600 bytes, over the object size limit of 1048576"),
                "\(error("bloat"))")
        // Without the setting the limit is the store's: 2 MiB is over the 1 MiB store.
        let small = try ScenarioLoader.parse(yaml: yaml.replacingOccurrences(of: "quotas: {max_object_bytes: 1MiB}", with: "")
            .replacingOccurrences(of: "object_store: 8MiB}, {name: w, object_store: 4MiB}", with: "object_store: 1MiB}"),
            file: "small.yaml")
        let smallReport = try Simulation(scenario: small, options: SimulationOptions(seed: 1)).run()
        #expect(smallReport.outcome == .passed, "\(smallReport.summary(wallSeconds: 0))")
    }

    @Test func anOutputWhoseFateDependsOnTheNodeIsRefusedAtLoad() throws {
        let template = """
            name: t
            description: d
            cluster:
              QUOTAS
              nodes: [{name: head, head: true, object_store: 8MiB}, {name: w, object_store: 4MiB}]
            workload:
              tasks: [{name: a, output: OUTPUT}]
              puts: [{name: p, size: 1GiB}]
            """
        func load(_ output: String, quotas: String = "") throws -> Scenario {
            try ScenarioLoader.parse(yaml: template.replacingOccurrences(of: "OUTPUT", with: output)
                .replacingOccurrences(of: "QUOTAS", with: quotas), file: "test.yaml")
        }
        #expect { try load("6MiB") } throws: { error in
            guard let error = error as? ScenarioError else { return false }
            return error.keyPath == "workload.tasks[0].output"
                && error.problem.contains("fits the object size limit of some nodes but not of others (4194304 to 8388608 bytes")
        }
        // Fitting every node, or none, is decided alike wherever the task runs; any put size is.
        _ = try load("4MiB")
        _ = try load("9MiB")
        _ = try load("6MiB", quotas: "quotas: {max_object_bytes: 2MiB}")
        #expect { try load("1MiB", quotas: "quotas: {max_object_bytes: 0B}") } throws: { error in
            (error as? ScenarioError)?.problem.contains("at least 1B") == true
        }
    }
}

/// The per-owner object quota in the simulator, and puts of several objects (`count`).
@Suite struct OwnedObjectsTests {
    @Test func putsPastAnOwnersQuotaAreRefusedAndEachJobHasItsOwn() throws {
        let yaml = """
            name: tiny
            description: a flood of tiny puts
            cluster:
              quotas: {owned_objects: 5}
              nodes: [{name: head, head: true}]
            workload:
              puts: [{name: crumbs, count: 3, size: 8B}, {name: more, count: 4, size: 8B}]
              tasks: [{name: t, args: ["more[3]"]}, {name: u, args: ["crumbs[2]"]}]
              get: ["crumbs[*]"]
            expect:
              results: {"more[0]": ok, "more[1]": ok, "more[2]": QuotaExceeded, "more[3]": QuotaExceeded, t: QuotaExceeded, u: ok}
            jobs:
              - name: other
                workload: {puts: [{name: mine, count: 5, size: 8B}]}
                expect: {results: {"mine[*]": ok}}
            """
        let scenario = try ScenarioLoader.parse(yaml: yaml, file: "tiny.yaml")
        #expect(scenario.workload.puts.map(\.count) == [3, 4])
        let report = try Simulation(scenario: scenario, options: SimulationOptions(seed: 1)).run()
        #expect(report.outcome == .passed, "\(report.summary(wallSeconds: 0))")
        let names = report.results.map { "\($0.0)" }
        #expect(names.prefix(3) == ["crumbs[0]", "crumbs[1]", "crumbs[2]"], "\(names)")
        guard case .error(let error)? = report.results.first(where: { "\($0.0)" == "more[2]" })?.1 else {
            Issue.record("more[2] was not refused")
            return
        }
        #expect(error.message.hasPrefix("the put is refused: this owner already holds 5 objects"), "\(error)")
        #expect(error.message.contains("owned_objects"))
        // A bare reference to a put of several objects is ambiguous, as one to a task group.
        #expect(throws: ScenarioError.self) {
            try ScenarioLoader.parse(yaml: yaml.replacingOccurrences(of: "args: [\"crumbs[2]\"]", with: "args: [crumbs]"),
                                     file: "tiny.yaml")
        }
    }

    /// Past the soft quota a put is made and holds its program (`OwnedObjectsRule.pace`): the
    /// program's next calls reach the owner that much later, as a real program's do after its
    /// put returns. Another job's program, under the quota of its own owner, is not held; a run is the same for the same seed.
    @Test func putsPastTheSoftQuotaSlowTheirProgramDown() throws {
        func run(soft: Int) throws -> (main: Int64, other: Int64, digest: UInt64) {
            let yaml = """
                name: slowed
                description: puts past the soft quota
                cluster:
                  quotas: {owned_objects: 100, owned_objects_soft: \(soft)}
                  nodes: [{name: head, head: true}]
                workload:
                  puts: [{name: crumbs, count: 30, size: 8B}]
                  tasks: [{name: after, duration: 1ms, output: 8B}]
                  get: ["crumbs[*]", after]
                expect:
                  results: {"crumbs[*]": ok, after: ok}
                jobs:
                  - name: other
                    workload: {puts: [{name: mine, count: 10, size: 8B}], get: ["mine[*]"]}
                    expect: {results: {"mine[*]": ok}}
                """
            let scenario = try ScenarioLoader.parse(yaml: yaml, file: "slowed.yaml")
            let simulation = try Simulation(scenario: scenario, options: SimulationOptions(seed: 7))
            let report = simulation.run()
            #expect(report.outcome == .passed, "\(report.summary(wallSeconds: 0))")
            func took(_ job: Int) throws -> Int64 {
                let program = simulation.jobs[job].program!
                return try #require(program.finishedMicros) - #require(program.startedMicros)
            }
            return (try took(0), try took(1), report.traceDigest)
        }
        let free = try run(soft: 100)
        let slowed = try run(soft: 10)
        // Puts 11 to 30 were past the soft quota of 10: the task and the gets went 20 × 100 µs later.
        #expect(slowed.main - free.main == 20 * OwnedObjectsRule.slowdownMicros, "\(free) \(slowed)")
        #expect(slowed.other == free.other)
        #expect(try run(soft: 10).digest == slowed.digest)
    }

    /// A wait the program makes while its puts hold it starts when the hold ends, after the
    /// task it made after those puts (as a real program's wait comes after its put returns):
    /// the task, pending, is not ready within the wait's 100 µs. Started at once, the wait
    /// found a task its owner did not know yet, which an owner takes for ready.
    @Test func aWaitMadeWhilePutsHoldTheProgramStartsAfterThem() throws {
        let yaml = """
            name: held-wait
            description: a wait during the puts' slowdown
            cluster:
              quotas: {owned_objects: 100, owned_objects_soft: 10}
              nodes: [{name: head, head: true}]
            workload:
              puts: [{name: crumbs, count: 30, size: 8B}]
              tasks: [{name: after, duration: 1ms, output: 8B}]
              get: ["crumbs[*]", after]
            faults:
              - at: 500us
                wait: {refs: after, num_returns: 1, timeout: 100us}
            """
        let scenario = try ScenarioLoader.parse(yaml: yaml, file: "held-wait.yaml")
        let simulation = try Simulation(scenario: scenario, options: SimulationOptions(seed: 3))
        let report = simulation.run()
        #expect(report.outcome == .passed, "\(report.summary(wallSeconds: 0))")
        #expect(report.faultLines.contains { $0.contains("wait (fault 0) returned 0 of 1 ready at its timeout") },
                "\(report.faultLines)")
    }
}

