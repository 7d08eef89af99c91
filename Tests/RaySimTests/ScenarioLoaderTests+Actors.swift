// The scenario loader's actor keys (../SCENARIOS.md "Actors", and the added `args`).

import Testing
@testable import RaySim
import RayCore

@Test func actorKeysAreReadOrRefusedByKey() throws {
    expectRejected(withWorkload("  actors: [{name: counter, callers: 0}]"), keyPath: "workload.actors[0].callers",
                   "expected an integer in 1...")
    expectRejected(withWorkload("  actors: [{name: counter, max_concurrency: 0}]"),
                   keyPath: "workload.actors[0].max_concurrency", "expected an integer in 1...")
    expectRejected(withWorkload("  actors: [{name: counter, duration: -1ms}]"), keyPath: "workload.actors[0].duration", "negative duration")
    // The values Ray's defaults give are accepted; detached is read.
    let scenario = try ScenarioLoader.parse(yaml: withWorkload(
        "  actors: [{name: counter, callers: 1, max_concurrency: 1, detached: true, duration: 2ms}]"), file: "test.yaml")
    #expect(scenario.workload.actors.first?.detached == true)
    #expect(scenario.workload.actors.first?.callMicros == 2_000)
    let callers = try ScenarioLoader.parse(yaml: withWorkload("  actors: [{name: counter, callers: 3}]"), file: "test.yaml")
    #expect(callers.workload.actors.first?.callers == 3)
}

@Test func anActorsArgsNameWhatTheDriverHoldsAtCreation() throws {
    let scenario = try ScenarioLoader.parse(yaml: withWorkload("""
      puts: [{name: table, size: 1KiB}]
      tasks: [{name: data, count: 2}]
      actors: [{name: counter, args: ["data[1]", table]}]
    """), file: "test.yaml")
    #expect(scenario.workload.actors.first?.args == [.instance(name: "data", index: 1), .bare(name: "table")])
    expectRejected(withWorkload("  actors: [{name: counter, args: [nothing]}]"), keyPath: "workload.actors[0].args[0]",
                   "nothing")
    expectRejected(withWorkload("""
      tasks: [{name: data, count: 2}]
      actors: [{name: counter, args: ["data[i]"]}]
    """), keyPath: "workload.actors[0].args[0]", "only allowed in a task group's args")
    // A task that takes a nested instance is submitted only once its parent returned it.
    expectRejected(withWorkload("""
      tasks:
        - name: p
          children: {task: q, count: 1, return_refs: true}
        - name: q
          nested: true
        - name: r
          args: ["q[0]"]
      actors: [{name: counter, args: [r]}]
    """), keyPath: "workload.actors[0].args[0]", "takes nested instances")
}
