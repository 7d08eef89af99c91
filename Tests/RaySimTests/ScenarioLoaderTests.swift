// Tests for ScenarioLoader: the full example from SCENARIOS.md parses into the
// expected model values, every class of bad input is reported with its key
// path and a useful message, and random mutations of a valid file either
// parse or throw a ScenarioError, never crash.

import Foundation
import Testing
@testable import RaySim
import RayCore

/// The example from SCENARIOS.md, verbatim (every name in it resolves).
let exampleScenarioYAML = #"""
name: chain-node-loss            # required, unique
description: >                   # required: what this scenario proves
  A chain of tasks runs on worker nodes; the node holding the chain's
  outputs dies; the driver's get must rebuild the chain from lineage.
seed: 7                          # optional; --seed overrides

cluster:
  gcs:
    persistent: true             # GCS log in LMDB; restart_gcs recovers from it
  nodes:
    - name: head
      head: true                 # exactly one head: it runs the GCS and the driver
      resources: {CPU: 2}
      object_store: 64MiB
    - name: worker               # with count: instances are worker-1, worker-2, ...
      count: 2
      resources: {CPU: 2, GPU: 1, ssd: 1}    # custom resources are allowed
      object_store: 32MiB
  network:                       # simulator only (the real runner ignores it)
    latency: 1ms
    jitter: 200us

workload:
  puts:                          # objects the driver creates with put
    - name: weights
      size: 8MiB
  tasks:
    - name: load
      count: 4                   # instances load[0] ... load[3]
      duration: 20ms
      output: 2MiB
      resources: {CPU: 1}        # default {CPU: 1}
      max_retries: 3             # default 3, as in Ray
      strategy: spread           # default | spread | {node: worker-1, soft: true}
    - name: step
      count: 10
      args: ["step[i-1]", "weights"]   # chain: step[i] takes step[i-1] (none for i = 0)
      duration: 5ms
      output: 1MiB
    - name: sink
      args: ["load[*]", "step[9]"]     # fan-in: all of load, and one instance
      output: 8B
      fail: {probability: 0.2, kind: exception}   # kind: exception | crash
      retry_exceptions: true
    - name: shard
      count: 2
      placement_group: {name: gang, bundle: i}   # bundle: an index, or i (the instance's own)
  actors:                        # see "Actors" below
    - name: counter
      count: 2
      resources: {CPU: 0}
      max_restarts: 2
      max_task_retries: -1
      calls: 200
  placement_groups:
    - name: gang
      strategy: STRICT_SPREAD    # PACK | SPREAD | STRICT_PACK | STRICT_SPREAD
      bundles: [{CPU: 1}, {CPU: 1}]
  get: ["sink[*]", "step[*]"]    # what the driver gets and verifies at the end

faults:
  - at: 150ms                    # a time since the workload started ...
    kill_node: worker-1
  - after: "load[*]"             # ... or once these instances have finished
    kill_node: {holding: "load[0]"}    # the node holding that object's primary copy,
                                       # or hosting that actor ("counter[0]")
  - at: 300ms
    restart_node: worker-2       # kill, then the same shape rejoins as a new node
  - at: 200ms
    add_node: {name: worker-3, resources: {CPU: 2}, object_store: 32MiB}
  - at: 50ms
    kill_worker: {running: "step[*]"}  # a worker that is running one of these
  - at: 400ms
    restart_gcs: {}              # kill the GCS; it restarts from its log
  - at: 500ms
    partition: {groups: [[head], [worker-1, worker-2]], duration: 2s}
  - at: 700ms
    kill_actor: {actor: "counter[0]", no_restart: false}
  - at: 800ms
    kill_driver: {}              # owner death

expect:
  results:                       # per reference: ok, or a Ray error kind
    "sink[*]": ok
    "step[*]": ok
  # error kinds: WorkerCrashed, TaskFailed (application exception),
  # ObjectLost, OwnerDied, ObjectReconstructionFailed, ActorDied,
  # ActorUnavailable, PlacementGroupUnschedulable, Cancelled
  reconstructions: ">= 1"        # comparisons: ==, >=, <=, >, <
  retries: "<= 8"
  max_sim_time: 60s              # liveness bound in the simulator
  max_wall_time: 120s            # bound for the real runner
  leaks: none                    # at the end: no objects, leases, pins or idle-held resources
"""#

/// A small valid scenario that the bad-input tests change one thing in.
let minimalScenarioYAML = """
name: minimal
description: one head, one task
cluster:
  nodes:
    - name: head
      head: true
workload:
  tasks:
    - name: a
"""

/// Parses `yaml` as `test.yaml` and returns the error, or nil when it parses.
func parseError(_ yaml: String) -> ScenarioError? {
    do {
        _ = try ScenarioLoader.parse(yaml: yaml, file: "test.yaml")
        return nil
    } catch {
        return error
    }
}

/// Asserts that `yaml` is rejected at `keyPath` with a problem containing `fragment`.
func expectRejected(_ yaml: String, keyPath: String, _ fragment: String,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error = parseError(yaml) else {
        Issue.record("expected an error at '\(keyPath)' containing '\(fragment)', but it parsed",
                     sourceLocation: sourceLocation)
        return
    }
    #expect(error.file == "test.yaml", sourceLocation: sourceLocation)
    #expect(error.keyPath == keyPath, "\(error)", sourceLocation: sourceLocation)
    #expect(error.problem.contains(fragment), "\(error)", sourceLocation: sourceLocation)
}

/// The minimal scenario with `workload:` replaced by `workload`, and `rest` appended.
func withWorkload(_ workload: String, nodes: String? = nil, rest: String = "") -> String {
    let nodeLines = nodes ?? """
        - name: head
          head: true
    """
    return """
    name: t
    description: d
    cluster:
      nodes:
    \(nodeLines)
    workload:
    \(workload)
    \(rest)
    """
}

@Suite("ScenarioLoader: the example")
struct ScenarioLoaderExampleTests {
    let scenario: Scenario

    init() throws {
        scenario = try ScenarioLoader.parse(yaml: exampleScenarioYAML, file: "Scenarios/chain-node-loss.yaml")
    }

    @Test func topLevel() {
        #expect(scenario.name == "chain-node-loss")
        #expect(scenario.description.hasPrefix("A chain of tasks runs on worker nodes;"))
        #expect(scenario.seed == 7)
        #expect(scenario.sourcePath == "Scenarios/chain-node-loss.yaml")
    }

    @Test func clusterExpandsCountAndParsesSizes() {
        let cluster = scenario.cluster
        #expect(cluster.gcsPersistent)
        #expect(cluster.nodes.map(\.name) == ["head", "worker-1", "worker-2"])
        #expect(cluster.nodes.map(\.head) == [true, false, false])
        #expect(cluster.nodes[0].resources == ResourceSet(["CPU": 2000]))
        #expect(cluster.nodes[0].objectStoreBytes == 64 << 20)
        #expect(cluster.nodes[1].resources == ResourceSet(["CPU": 2000, "GPU": 1000, "ssd": 1000]))
        #expect(cluster.nodes[2].objectStoreBytes == 32 << 20)
        #expect(cluster.network == NetworkSpec(latencyMicros: 1_000, jitterMicros: 200))
    }

    @Test func workloadTaskGroups() {
        let workload = scenario.workload
        #expect(workload.puts == [PutSpec(name: "weights", sizeBytes: 8 << 20)])
        #expect(workload.tasks.map(\.name) == ["load", "step", "sink", "shard"])
        #expect(workload.tasks[0] == TaskGroupSpec(name: "load", count: 4, durationMicros: 20_000, outputBytes: 2 << 20,
                                                   resources: ResourceSet(["CPU": 1000]), maxRetries: 3, strategy: .spread))
        #expect(workload.tasks[1] == TaskGroupSpec(name: "step", count: 10, durationMicros: 5_000, outputBytes: 1 << 20,
                                                   args: [.relative(name: "step", offset: -1), .bare(name: "weights")]))
        #expect(workload.tasks[2] == TaskGroupSpec(name: "sink", outputBytes: 8,
                                                   args: [.all(name: "load"), .instance(name: "step", index: 9)],
                                                   fail: FailSpec(probability: 0.2, attempts: nil, kind: .exception),
                                                   retryExceptions: true))
        #expect(workload.tasks[3] == TaskGroupSpec(name: "shard", count: 2,
                                                   placementGroup: PlacementGroupRef(name: "gang", bundle: .instance)))
        #expect(workload.get == [.all(name: "sink"), .all(name: "step")])
    }

    @Test func workloadActorsAndPlacementGroups() {
        let workload = scenario.workload
        #expect(workload.actors == [ActorSpec(name: "counter", count: 2, resources: ResourceSet(), maxRestarts: 2,
                                              maxTaskRetries: -1, calls: 200)])
        #expect(workload.placementGroups == [PlacementGroupEntry(
            name: "gang", strategy: .strictSpread, bundles: [ResourceSet(["CPU": 1000]), ResourceSet(["CPU": 1000])])])
    }

    @Test func faults() {
        let worker3 = NodeSpec(name: "worker-3", head: false, resources: ResourceSet(["CPU": 2000]),
                               objectStoreBytes: 32 << 20)
        #expect(scenario.faults == [
            FaultSpec(trigger: .at(micros: 150_000), action: .killNode(.named("worker-1"))),
            FaultSpec(trigger: .after(.all(name: "load")), action: .killNode(.holding(.instance(name: "load", index: 0)))),
            FaultSpec(trigger: .at(micros: 300_000), action: .restartNode("worker-2")),
            FaultSpec(trigger: .at(micros: 200_000), action: .addNode(worker3)),
            FaultSpec(trigger: .at(micros: 50_000), action: .killWorker(running: .all(name: "step"))),
            FaultSpec(trigger: .at(micros: 400_000), action: .restartGCS),
            FaultSpec(trigger: .at(micros: 500_000),
                      action: .partition(groups: [["head"], ["worker-1", "worker-2"]], durationMicros: 2_000_000)),
            FaultSpec(trigger: .at(micros: 700_000),
                      action: .killActor(actor: .instance(name: "counter", index: 0), noRestart: false)),
            FaultSpec(trigger: .at(micros: 800_000), action: .killDriver),
        ])
    }

    @Test func expectations() {
        let expect = scenario.expect
        #expect(expect == ExpectSpec(results: [(.all(name: "sink"), .ok), (.all(name: "step"), .ok)],
                                     reconstructions: Comparison(op: .atLeast, value: 1),
                                     retries: Comparison(op: .atMost, value: 8),
                                     maxSimTimeMicros: 60_000_000, maxWallTimeMicros: 120_000_000, checkLeaks: true))
    }
}

@Suite("ScenarioLoader: defaults and forms")
struct ScenarioLoaderFormTests {
    @Test func defaults() throws {
        let scenario = try ScenarioLoader.parse(yaml: minimalScenarioYAML, file: "m.yaml")
        #expect(scenario.seed == nil)
        #expect(scenario.cluster.gcsPersistent)
        #expect(scenario.cluster.nodes == [NodeSpec(name: "head", head: true, resources: ResourceSet(["CPU": 1000]),
                                                    objectStoreBytes: 128 << 20)])
        #expect(scenario.cluster.network == .default)
        #expect(scenario.workload.tasks == [TaskGroupSpec(name: "a")])
        #expect(scenario.workload.tasks[0].outputBytes == 8)
        #expect(scenario.faults.isEmpty)
        #expect(scenario.expect.maxSimTimeMicros == 60_000_000)
        #expect(scenario.expect.maxWallTimeMicros == 120_000_000)
        #expect(scenario.expect.checkLeaks)
    }

    @Test func valueForms() throws {
        let yaml = withWorkload("""
          puts:
            - {name: raw, size: 1024}
            - {name: small, size: 100KiB}
          tasks:
            - name: x
              count: 3
              duration: 1.5s
              output: 8B
              resources: {CPU: 0.5, GPU: 0.125}
              max_retries: -1
              strategy: {node: head}
              args: ["x[i-2]", "y[i+1]", "y[i]", raw]
              fail: {attempts: 2, kind: crash}
            - name: y
              count: 2
              duration: 200us
              strategy: {node: extra, soft: true}
        """, rest: """
        faults:
          - at: 0
            add_node: {name: extra}
          - at: 1ms
            kill_node: extra
        expect:
          retries: 3
          reconstructions: "== 0"
          results: {"x[1]": TaskUnschedulable, raw: ObjectLost}
          leaks: allowed
        """)
        let scenario = try ScenarioLoader.parse(yaml: yaml, file: "forms.yaml")
        let workload = scenario.workload
        #expect(workload.puts.map(\.sizeBytes) == [1024, 100 * 1024])
        // y comes first: x's args name it.
        #expect(workload.tasks.map(\.name) == ["y", "x"])
        let x = workload.tasks[1]
        #expect(x.durationMicros == 1_500_000)
        #expect(x.resources == ResourceSet(["CPU": 500, "GPU": 125]))
        #expect(x.maxRetries == -1)
        #expect(x.strategy == .nodeAffinity(node: "head", soft: false))
        #expect(x.args == [.relative(name: "x", offset: -2), .relative(name: "y", offset: 1),
                           .relative(name: "y", offset: 0), .bare(name: "raw")])
        #expect(x.fail == FailSpec(probability: nil, attempts: 2, kind: .crash))
        #expect(workload.tasks[0].durationMicros == 200)
        #expect(workload.tasks[0].strategy == .nodeAffinity(node: "extra", soft: true))
        #expect(scenario.faults[0].action == .addNode(NodeSpec(name: "extra", head: false,
                                                               resources: ResourceSet(["CPU": 1000]),
                                                               objectStoreBytes: 128 << 20)))
        #expect(scenario.expect.retries == Comparison(op: .equal, value: 3))
        #expect(scenario.expect.reconstructions == Comparison(op: .equal, value: 0))
        #expect(scenario.expect.results.map(\.0) == [.instance(name: "x", index: 1), .bare(name: "raw")])
        #expect(scenario.expect.results.map(\.1) == [.error(.taskUnschedulable), .error(.objectLost)])
        #expect(!scenario.expect.checkLeaks)
    }

    @Test func loadReadsAFile() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("scenario-loader-\(ProcessInfo.processInfo.processIdentifier).yaml").path
        try minimalScenarioYAML.write(toFile: path, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let scenario = try ScenarioLoader.load(path: path)
        #expect(scenario.sourcePath == path)
        #expect(scenario.name == "minimal")
        do {
            _ = try ScenarioLoader.load(path: path + ".missing")
            Issue.record("a missing file must be an error")
        } catch {
            #expect(error.file == path + ".missing")
            #expect(error.problem.contains("cannot read the file"))
        }
    }

    @Test func topologicalOrderIsStable() throws {
        let yaml = withWorkload("""
          tasks:
            - {name: c, args: [b]}
            - {name: free1}
            - {name: b, args: [a]}
            - {name: free2}
            - {name: a}
        """)
        let scenario = try ScenarioLoader.parse(yaml: yaml, file: "order.yaml")
        #expect(scenario.workload.tasks.map(\.name) == ["free1", "free2", "a", "b", "c"])
    }

    @Test func referenceForms() throws {
        let value = { (text: String) throws(ScenarioError) -> ScenarioValue in
            try ScenarioLoader.compose(yaml: "'\(text)'", file: "f")
        }
        #expect(try value("load[3]").reference() == .instance(name: "load", index: 3))
        #expect(try value("load[*]").reference() == .all(name: "load"))
        #expect(try value("step[i-1]").reference() == .relative(name: "step", offset: -1))
        #expect(try value("x[i+2]").reference() == .relative(name: "x", offset: 2))
        #expect(try value("load[i]").reference() == .relative(name: "load", offset: 0))
        #expect(try value("weights").reference() == .bare(name: "weights"))
        for bad in ["load[", "load[-1]", "load[j]", "[3]", "load[i*2]", "load[99999999999999999999]", "a b"] {
            #expect(throws: ScenarioError.self) { try value(bad).reference() }
        }
    }
}

@Suite("ScenarioLoader: bad input")
struct ScenarioLoaderBadInputTests {
    @Test func unknownKeyAtTopLevel() {
        expectRejected(minimalScenarioYAML + "\nfautls: []", keyPath: "fautls",
                       "unknown key 'fautls'; expected one of: name, description, seed, cluster, workload, faults, expect")
    }

    @Test func unknownKeyNested() {
        expectRejected(withWorkload("""
          tasks:
            - name: a
            - name: b
              durattion: 5ms
        """), keyPath: "workload.tasks[1].durattion", "unknown key 'durattion'; expected one of: name, count, duration")
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, restart_gcs: {now: true}}"),
                       keyPath: "faults[0].restart_gcs.now", "unknown key 'now'")
    }

    @Test func wrongType() {
        expectRejected(withWorkload("  tasks: {name: a}"), keyPath: "workload.tasks", "expected a sequence, got a mapping")
        expectRejected(withWorkload("  tasks:\n    - [a]"), keyPath: "workload.tasks[0]", "expected a mapping, got a sequence")
        expectRejected(withWorkload("  tasks: [{name: a, count: many}]"), keyPath: "workload.tasks[0].count",
                       "expected an integer, got 'many'")
        expectRejected(withWorkload("  tasks: [{name: a, retry_exceptions: maybe}]"),
                       keyPath: "workload.tasks[0].retry_exceptions", "expected true or false")
        expectRejected("- just\n- a list", keyPath: "", "expected a mapping, got a sequence")
    }

    @Test func missingRequiredKeys() {
        let full = minimalScenarioYAML
        expectRejected(full.replacingOccurrences(of: "name: minimal\n", with: ""), keyPath: "",
                       "missing required key 'name'")
        expectRejected(full.replacingOccurrences(of: "description: one head, one task\n", with: ""), keyPath: "",
                       "missing required key 'description'")
        expectRejected("name: t\ndescription: d\nworkload: {}", keyPath: "", "missing required key 'cluster'")
        expectRejected("name: t\ndescription: d\ncluster: {nodes: [{name: h, head: true}]}", keyPath: "",
                       "missing required key 'workload'")
        expectRejected(withWorkload("  tasks: [{count: 2}]"), keyPath: "workload.tasks[0]",
                       "missing required key 'name'")
    }

    @Test func referenceToMissingTask() {
        expectRejected(withWorkload("  tasks: [{name: load}, {name: b, args: [lod]}]"), keyPath: "workload.tasks[1].args[0]",
                       "reference to missing task or put 'lod' (did you mean 'load'?)")
        expectRejected(withWorkload("  tasks: [{name: a}]\n  get: [\"b[*]\"]"), keyPath: "workload.get[0]",
                       "reference to missing task or put 'b'")
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, kill_actor: {actor: a}}"),
                       keyPath: "faults[0].kill_actor.actor", "'a' is a task; expected an actor")
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "expect:\n  results: {zz: ok}"),
                       keyPath: "expect.results[\"zz\"]", "reference to missing")
        expectRejected(withWorkload("  tasks: [{name: a}]\n  puts: [{name: p, size: 1KiB}]", rest: "faults:\n  - {at: 1ms, cancel: {refs: p}}"),
                       keyPath: "faults[0].cancel.refs", "'p' is a put; expected a task")
        expectRejected(withWorkload("  tasks: [{name: a, count: 2}]", rest: "faults:\n  - {at: 1ms, wait: {refs: \"a[*]\", num_returns: 3}}"),
                       keyPath: "faults[0].wait.num_returns", "num_returns 3 is more than the 2 reference(s)")
        expectRejected(withWorkload("  tasks: [{name: a, count: 2}]", rest: "faults:\n  - {at: 1ms, wait: {refs: \"a[*]\", timeout: soon}}"),
                       keyPath: "faults[0].wait.timeout", "expected a duration like 5ms")
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, cancel: {force: true}}"),
                       keyPath: "faults[0].cancel", "missing required key 'refs'")
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, kill_node: worker-9}"),
                       keyPath: "faults[0].kill_node", "reference to missing node 'worker-9'")
        expectRejected(withWorkload("  tasks: [{name: a, strategy: {node: nowhere}}]"),
                       keyPath: "workload.tasks[0].strategy.node", "reference to missing node 'nowhere'")
        expectRejected(withWorkload("  tasks: [{name: a, placement_group: {name: gang, bundle: 0}}]"),
                       keyPath: "workload.tasks[0].placement_group.name", "reference to missing placement group 'gang'")
        expectRejected(withWorkload("  tasks: [{name: a}]\n  get: [\"a[i]\"]"), keyPath: "workload.get[0]",
                       "only allowed in a task group's args")
    }

    @Test func bareReferenceToGroupWithManyInstances() {
        expectRejected(withWorkload("  tasks: [{name: load, count: 4}, {name: b, args: [load]}]"),
                       keyPath: "workload.tasks[1].args[0]", "use load[*] or load[N]")
    }

    @Test func negativeSize() {
        expectRejected(withWorkload("  puts: [{name: p, size: -1B}]"), keyPath: "workload.puts[0].size", "negative size -1B")
        expectRejected(withWorkload("  tasks: [{name: a, resources: {CPU: -1}}]"), keyPath: "workload.tasks[0].resources.CPU",
                       "negative resource quantity")
    }

    @Test func cycleAcrossTwoGroups() {
        expectRejected(withWorkload("  tasks: [{name: a, args: [\"b[*]\"]}, {name: b, count: 2, args: [a]}]"),
                       keyPath: "workload.tasks[0].args[0]", "cycle in args: a -> b -> a")
        expectRejected(withWorkload("""
          tasks:
            - {name: free}
            - {name: b, args: [c]}
            - {name: c, args: [d]}
            - {name: d, args: [free, b]}
        """), keyPath: "workload.tasks[1].args[0]", "cycle in args: b -> c -> d -> b")
    }

    @Test func selfReferenceThatIsNotAChain() {
        for reference in ["s[i]", "s[i+1]", "s[*]", "s[0]"] {
            expectRejected(withWorkload("  tasks: [{name: s, count: 3, args: [\"\(reference)\"]}]"),
                           keyPath: "workload.tasks[0].args[0]", "cycle in args: s -> s")
        }
    }

    @Test func badSizeAndDurationStrings() {
        expectRejected(withWorkload("  puts: [{name: p, size: big}]"), keyPath: "workload.puts[0].size",
                       "expected a size like 8MiB")
        expectRejected(withWorkload("  puts: [{name: p, size: 8MB}]"), keyPath: "workload.puts[0].size",
                       "expected a size like 8MiB")
        expectRejected(withWorkload("  tasks: [{name: a, duration: 5 minutes}]"), keyPath: "workload.tasks[0].duration",
                       "expected a duration like 5ms")
        expectRejected(withWorkload("  tasks: [{name: a, duration: 5}]"), keyPath: "workload.tasks[0].duration",
                       "expected a duration like 5ms")
        expectRejected(withWorkload("  tasks: [{name: a, duration: 0.5us}]"), keyPath: "workload.tasks[0].duration",
                       "not a whole number of microseconds")
        expectRejected(withWorkload("  tasks: [{name: a, resources: {CPU: 0.0001}}]"),
                       keyPath: "workload.tasks[0].resources.CPU", "more than 3 decimals")
    }

    @Test func outOfRangeInstance() {
        expectRejected(withWorkload("  tasks: [{name: load, count: 4}]\n  get: [\"load[7]\"]"), keyPath: "workload.get[0]",
                       "instance index 7 out of range: 'load' has 4 instances (0...3)")
        expectRejected(withWorkload("""
          tasks: [{name: a, count: 3, placement_group: {name: g, bundle: i}}]
          placement_groups: [{name: g, bundles: [{CPU: 1}, {CPU: 1}]}]
        """), keyPath: "workload.tasks[0].placement_group.bundle", "'a' has 3 instances but 'g' has 2 bundles")
    }

    @Test func placementGroupMisuse() {
        let group = "  placement_groups: [{name: g, strategy: STRICT_SPREAD, bundles: [{CPU: 1}, {CPU: 2}]}]\n"
        expectRejected(withWorkload(group + "  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, kill_node: {bundle: \"g[2]\"}}"),
                       keyPath: "faults[0].kill_node.bundle", "instance index 2 out of range: 'g' has 2 instances")
        expectRejected(withWorkload(group + "  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, kill_node: {bundle: g}}"),
                       keyPath: "faults[0].kill_node.bundle", "expected one bundle of a placement group, as gang[1]")
        expectRejected(withWorkload(group + "  tasks: [{name: a}]",
                                    rest: "faults:\n  - {at: 1ms, kill_node: {bundle: \"g[0]\", running: a}}"),
                       keyPath: "faults[0].kill_node", "exactly one of holding, running or bundle, got bundle, running")
        expectRejected(withWorkload(group + "  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, remove_placement_group: {name: a}}"),
                       keyPath: "faults[0].remove_placement_group.name", "'a' is a task; expected a placement group")
        expectRejected(withWorkload(group + "  tasks: [{name: a, resources: {CPU: 2}, placement_group: {name: g, bundle: 0}}]"),
                       keyPath: "workload.tasks[0].resources", "asks for {CPU: 2}, more than bundle 0 of 'g' holds ({CPU: 1})")
        expectRejected(withWorkload(group + "  tasks: [{name: a, resources: {CPU: 4}, placement_group: {name: g}}]"),
                       keyPath: "workload.tasks[0].resources", "more than any bundle of 'g' holds")
        expectRejected(withWorkload(group + "  actors: [{name: c, resources: {CPU: 0}, placement_group: {name: g, bundle: 1}}]"),
                       keyPath: "workload.actors[0].resources", "asks for no resource")
        expectRejected(withWorkload(group + "  actors: [{name: c, count: 3, placement_group: {name: g, bundle: i}}]"),
                       keyPath: "workload.actors[0].placement_group.bundle", "'c' has 3 instances but 'g' has 2 bundles")
        expectRejected(withWorkload("  placement_groups: [{name: g, strategy: TIGHT, bundles: [{CPU: 1}]}]\n  tasks: [{name: a}]"),
                       keyPath: "workload.placement_groups[0].strategy", "expected PACK, SPREAD, STRICT_PACK or STRICT_SPREAD")
        expectRejected(withWorkload("  placement_groups: [{name: g, bundles: []}]\n  tasks: [{name: a}]"),
                       keyPath: "workload.placement_groups[0].bundles", "at least one bundle")

        // A counted group (`count`): instance i runs in g[i], so a group per instance; a bundle
        // fault names one group, not a counted entry; the count is in range.
        let counted = "  placement_groups: [{name: g, count: 3, bundles: [{CPU: 1}]}]\n"
        expectRejected(withWorkload(counted + "  tasks: [{name: a, count: 4, placement_group: {name: g}}]"),
                       keyPath: "workload.tasks[0].placement_group.name", "'a' has 4 instances but 'g' makes 3 groups")
        expectRejected(withWorkload(counted + "  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, kill_node: {bundle: \"g[0]\"}}"),
                       keyPath: "faults[0].kill_node.bundle", "'g' makes 3 groups, so a bundle of it names none")
        expectRejected(withWorkload("  placement_groups: [{name: g, count: 0, bundles: [{CPU: 1}]}]\n  tasks: [{name: a}]"),
                       keyPath: "workload.placement_groups[0].count", "1...10000")
    }

    @Test func headCount() {
        expectRejected(withWorkload("  tasks: [{name: a}]", nodes: "    - {name: h1, head: true}\n    - {name: h2, head: true}"),
                       keyPath: "cluster.nodes[1]", "a second head node")
        expectRejected(withWorkload("  tasks: [{name: a}]", nodes: "    - {name: w, count: 2}"),
                       keyPath: "cluster.nodes", "no head node")
    }

    @Test func duplicateNames() {
        expectRejected(withWorkload("  tasks: [{name: a}]", nodes: "    - {name: head, head: true}\n    - {name: w, count: 2}\n    - {name: w-2}"),
                       keyPath: "cluster.nodes[2]", "duplicate node name 'w-2'")
        expectRejected(withWorkload("  puts: [{name: a, size: 1B}]\n  tasks: [{name: a}]"), keyPath: "workload.tasks[0].name",
                       "duplicate name 'a': already used by the put at workload.puts[0]")
        expectRejected(withWorkload("  tasks: [{name: a, name: b}]"), keyPath: "", "duplicate key 'name' in the mapping at line 8")
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, add_node: {name: head}}"),
                       keyPath: "faults[0].add_node.name", "duplicate node name 'head'")
    }

    @Test func badComparison() {
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "expect:\n  retries: \"about 3\""),
                       keyPath: "expect.retries", "expected a comparison like \">= 1\"")
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "expect:\n  reconstructions: \"=> 1\""),
                       keyPath: "expect.reconstructions", "expected a comparison")
    }

    @Test func badErrorKind() {
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "expect:\n  results: {a: Lost}"),
                       keyPath: "expect.results[\"a\"]", "expected ok or an error kind (WorkerCrashed, TaskFailed")
    }

    @Test func badFaults() {
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, after: a, kill_driver: {}}"),
                       keyPath: "faults[0]", "expected exactly one trigger")
        expectRejected(withWorkload("  tasks: [{name: a}]", rest: "faults:\n  - {at: 1ms, kill_driver: {}, restart_gcs: {}}"),
                       keyPath: "faults[0]", "expected exactly one action")
        expectRejected(withWorkload("  tasks: [{name: a}]",
                                    rest: "faults:\n  - {at: 1ms, partition: {groups: [[head], [head]], duration: 1s}}"),
                       keyPath: "faults[0].partition.groups[1][0]", "more than one partition group")
        expectRejected(withWorkload("  tasks: [{name: a, fail: {kind: crash}}]"), keyPath: "workload.tasks[0].fail",
                       "expected probability and/or attempts")
        expectRejected(withWorkload("  tasks: [{name: a, fail: {probability: 1.5}}]"),
                       keyPath: "workload.tasks[0].fail.probability", "expected a probability in 0...1")
    }

    @Test func hugeSizeIsAnErrorNotATrap() {
        expectRejected(withWorkload("  puts: [{name: p, size: 99999999999GiB}]"), keyPath: "workload.puts[0].size",
                       "too large")
        expectRejected(withWorkload("  puts: [{name: p, size: 999999999999999999999999B}]"), keyPath: "workload.puts[0].size",
                       "expected a size like 8MiB")
        expectRejected(withWorkload("  tasks: [{name: a, count: 99999999999999999999}]"), keyPath: "workload.tasks[0].count",
                       "expected an integer")
        expectRejected(withWorkload("  tasks: [{name: a, count: 9999999999}]"), keyPath: "workload.tasks[0].count",
                       "expected an integer in 1...")
    }

    /// Deep nesting must be an error, not a stack overflow in the parser or the walk.
    @Test func deepNestingIsAnErrorNotACrash() {
        #expect(parseError(String(repeating: "[", count: 100_000)) != nil)
        #expect(parseError("name: " + String(repeating: "{a: ", count: 100_000)) != nil)
        #expect(parseError(String(repeating: "- ", count: 20_000) + "x") != nil)
    }

    @Test func invalidYAML() {
        expectRejected("name: [unclosed\ndescription: d", keyPath: "", "invalid YAML")
        expectRejected("", keyPath: "", "the file is empty")
    }
}

@Suite("ScenarioLoader: mutations")
struct ScenarioLoaderMutationTests {
    /// A tiny linear congruential generator (Knuth's MMIX constants), so the test is reproducible.
    struct Generator {
        var state: UInt64
        mutating func next(below bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(max(bound, 1)))
        }
    }

    /// Deleting a character or a line, or inserting a YAML-significant character, anywhere in
    /// the example gives a file that either parses or is rejected with a located message.
    @Test func mutatedExampleParsesOrThrows() {
        var generator = Generator(state: 42)
        var parsedCount = 0
        var rejectedCount = 0
        for _ in 0..<1500 {
            var characters = Array(exampleScenarioYAML)
            for _ in 0...generator.next(below: 3) {
                guard !characters.isEmpty else { break }
                let position = generator.next(below: characters.count)
                switch generator.next(below: 3) {
                case 0:
                    characters.remove(at: position)
                case 1:
                    let inserted: [Character] = [":", "[", "]", "-", " ", "\n", "*", "{", "9", "\"", "&", "#"]
                    characters.insert(inserted[generator.next(below: inserted.count)], at: position)
                default:
                    let lines = String(characters).split(separator: "\n", omittingEmptySubsequences: false)
                    var kept = lines
                    kept.remove(at: generator.next(below: lines.count))
                    characters = Array(kept.joined(separator: "\n"))
                }
            }
            do {
                _ = try ScenarioLoader.parse(yaml: String(characters), file: "mutant.yaml")
                parsedCount += 1
            } catch {
                #expect(error.file == "mutant.yaml")
                #expect(!error.problem.isEmpty)
                rejectedCount += 1
            }
        }
        #expect(parsedCount + rejectedCount == 1500)
        #expect(rejectedCount > 0)
    }
}

@Suite("ScenarioLoader: nested tasks")
struct ScenarioLoaderNestedTests {
    @Test func aNestedGroupsCountIsItsParentsTimesItsChildren() throws {
        let scenario = try ScenarioLoader.parse(yaml: withWorkload("""
          tasks:
            - name: parent
              count: 3
              children: {task: mid, count: 2, get: true}
            - name: mid
              nested: true
              children: {task: leaf, count: 4}
            - name: leaf
              nested: true
        """), file: "test.yaml")
        let counts = Dictionary(uniqueKeysWithValues: scenario.workload.tasks.map { ($0.name, $0.count) })
        #expect(counts == ["parent": 3, "mid": 6, "leaf": 24])
        let plan = WorkloadPlan(scenario.workload)
        #expect(plan.childRequests(function: "mid", instance: 1).map(\.instance) == [4, 5, 6, 7])
        #expect(plan.childRequests(function: "leaf", instance: 0).isEmpty)
        // A parent that gets its children: its value covers theirs.
        let parent = InstanceRef(name: "parent", index: 0, isPut: false)
        let children = [0, 1].map { plan.expectedDigests[InstanceRef(name: "mid", index: $0, isPut: false)]! }
        #expect(plan.expectedDigests[parent] == SyntheticContent.digest(name: "parent", instance: 0, argumentDigests: children))
    }

    @Test func badNestingIsNamed() {
        expectRejected(withWorkload("""
          tasks:
            - name: p
              children: {task: nope, count: 2}
        """), keyPath: "workload.tasks[0].children.task", "'nope' names no task group")
        expectRejected(withWorkload("""
          tasks:
            - name: p
              children: {task: q, count: 2}
            - name: q
        """), keyPath: "workload.tasks[0].children.task", "must be a group with nested: true")
        expectRejected(withWorkload("""
          tasks:
            - name: p
            - name: q
              nested: true
        """), keyPath: "workload.tasks[1].nested", "no group submits it")
        expectRejected(withWorkload("""
          tasks:
            - name: p
              children: {task: q, count: 2}
            - name: r
              children: {task: q, count: 1}
            - name: q
              nested: true
        """), keyPath: "workload.tasks[1].children.task", "already the children of p")
        expectRejected(withWorkload("""
          tasks:
            - name: a
              nested: true
              children: {task: b, count: 2}
            - name: b
              nested: true
              children: {task: a, count: 2}
        """), keyPath: "workload.tasks[0].nested", "cycle in children")
        expectRejected(withWorkload("""
          tasks:
            - name: p
              children: {task: q, count: 2}
            - name: q
              nested: true
              count: 5
        """), keyPath: "workload.tasks[1].count", "a nested group has no count")
        expectRejected(withWorkload("""
          tasks:
            - name: p
              children: {task: q, count: 0}
            - name: q
              nested: true
        """), keyPath: "workload.tasks[0].children.count", "expected an integer in 1...100000, got 0")
        expectRejected(withWorkload("""
          tasks:
            - name: p
              children: {task: q, count: 2}
            - name: q
              nested: true
          get: ["q[1]"]
        """), keyPath: "workload.get[0]", "does not return their references (add return_refs: true")
        // Returned references: the driver may get them or kill their owner, nothing else.
        expectRejected(withWorkload("""
          tasks:
            - name: p
              children: {task: q, count: 2, return_refs: true}
            - name: q
              nested: true
            - name: r
              nested_args: ["q[0]"]
        """), keyPath: "workload.tasks[2].nested_args[0]", "pass them to its tasks (args) or kill their owner")
        expectRejected(withWorkload("""
          tasks:
            - name: p
              children: {task: m, count: 2}
            - name: m
              nested: true
              children: {task: q, count: 2, return_refs: true}
            - name: q
              nested: true
          get: ["q[*]"]
        """), keyPath: "workload.get[0]", "references returned one level down only")
    }

    @Test func returnedReferencesMayBeGottenAndTheirOwnerKilled() throws {
        let scenario = try ScenarioLoader.parse(yaml: withWorkload("""
          tasks:
            - name: p
              count: 2
              children: {task: q, count: 3, return_refs: true}
            - name: q
              nested: true
          get: ["q[*]"]
        """, rest: """
        faults:
          - after: "p[0]"
            kill_worker: {owner_of: "q[1]"}
        expect:
          results: {"q[*]": OwnerDied}
        """), file: "test.yaml")
        guard case .killWorkerOwning(let pattern)? = scenario.faults.first?.action else {
            Issue.record("expected kill_worker owner_of, got \(String(describing: scenario.faults.first?.action))")
            return
        }
        #expect(pattern == .instance(name: "q", index: 1))
        let plan = WorkloadPlan(scenario.workload)
        let parent = plan.parent(of: InstanceRef(name: "q", index: 4, isPut: false))
        #expect(parent?.parent == InstanceRef(name: "p", index: 1, isPut: false) && parent?.position == 1)
        #expect(plan.returnsChildren("p") && !plan.returnsChildren("q"))
        expectRejected(withWorkload("""
          tasks:
            - name: p
              children: {task: q, count: 3, return_refs: true}
            - name: q
              nested: true
        """, rest: """
        faults:
          - at: 1s
            kill_worker: {owner_of: "q[1]", running: "p"}
        """), keyPath: "faults[0].kill_worker", "exactly one of running or owner_of")
    }
}
