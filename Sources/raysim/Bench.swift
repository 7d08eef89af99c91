// `raysim bench`: the figures README quotes. Benchmarks print; they never fail on time.

import ArgumentParser
import Foundation
import RayCore
import RaySim
import RayStorage

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print simulator, event-log and memory figures (build with -c release).")

    @Option(help: "Tasks in the simulator benchmarks.")
    var tasks: Int = 100_000

    @Option(help: "Which benchmarks: all, sim, actors, groups, log, memory.")
    var only: String = "all"

    @Option(help: "Simulator input-log modes to run: all, off, memory, lmdb.")
    var logModes: String = "all"

    func validate() throws {
        guard ["all", "sim", "actors", "groups", "log", "memory"].contains(only) else {
            throw ValidationError("--only must be all, sim, actors, groups, log or memory (got '\(only)')")
        }
        guard ["all", "off", "memory", "lmdb"].contains(logModes) else {
            throw ValidationError("--log-modes must be all, off, memory or lmdb (got '\(logModes)')")
        }
        guard tasks >= 2 else { throw ValidationError("--tasks must be at least 2 (got \(tasks))") }
    }

    func run() throws {
        if only == "all" || only == "sim" { try simulatorFigures() }
        if only == "all" || only == "sim" || only == "actors" { try actorFigures() }
        if only == "all" || only == "sim" || only == "groups" { try groupFigures() }
        if only == "all" || only == "log" { try logFigures() }
        if only == "memory" { memoryFigures() }
        if only == "all" { print("mem  run `raysim bench --only memory` (a fresh process) for memory figures") }
    }

    private func simulatorFigures() throws {
        let fanOut = BenchmarkScenarios.fanOutFanIn(tasks: tasks)
        let tenNodes = BenchmarkScenarios.tenNodes(tasks: tasks)
        for (label, scenario) in [("fan-out/fan-in, \(tasks) tasks, 10 nodes", fanOut),
                                  ("independent tasks, \(tasks) tasks, 10 nodes", tenNodes)] {
            for (mode, log) in [("log off", InputLogMode.off), ("log in memory", .memory)]
            where logModes == "all" || log == (logModes == "off" ? .off : .memory) && logModes != "lmdb" {
                var options = SimulationOptions(seed: 1)
                options.inputLog = log
                let (seconds, report) = try timed(scenario, options)
                print("sim  \(label), \(mode): \(format(seconds)) s wall, \(report.eventsProcessed) events, "
                      + "\(Int(Double(report.eventsProcessed) / seconds)) events/s, outcome \(report.outcome == .passed ? "pass" : "FAIL")")
            }
            guard logModes == "all" || logModes == "lmdb" else { continue }
            let directory = NSTemporaryDirectory() + "raysim-bench-\(getpid())"
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var options = SimulationOptions(seed: 1)
            options.inputLog = .lmdb(directory: directory)
            let (seconds, report) = try timed(scenario, options)
            print("sim  \(label), log in LMDB: \(format(seconds)) s wall, \(report.eventsProcessed) events, "
                  + "\(Int(Double(report.eventsProcessed) / seconds)) events/s")
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Actor creation at scale: 1,000 actors placed on a simulated 100-node cluster, each called.
    private func actorFigures() throws {
        let scenario = BenchmarkScenarios.actors(1_000, nodes: 100, calls: 3)
        var options = SimulationOptions(seed: 1)
        options.inputLog = .off
        let (seconds, report) = try timed(scenario, options)
        print("sim  1000 actors created and called 3 times each, 100 nodes, log off: \(format(seconds)) s wall, "
              + "\(report.eventsProcessed) events, sim time \(format(Double(report.simulatedMicros) / 1e6)) s, "
              + "outcome \(report.outcome == .passed ? "pass" : "FAIL")")
    }

    /// A 1,000-bundle placement group on a simulated 500-node cluster: the wall time from the GCS
    /// having the request until it is CREATED (planned, prepared and committed on every node), then
    /// the whole run (booting the nodes, a task in each bundle, the removal, the leak check).
    private func groupFigures() throws {
        for strategy in [PlacementStrategy.spread, .pack, .strictSpread] {
            let bundles = strategy == .strictSpread ? 500 : 1_000
            let scenario = BenchmarkScenarios.placementGroup(bundles: bundles, nodes: 500, strategy: strategy)
            var options = SimulationOptions(seed: 1)
            options.inputLog = .off
            let simulation = try Simulation(scenario: scenario, options: options)
            let clock = ContinuousClock()
            let start = clock.now
            // From the GCS's first word on the group (it has the request) to CREATED: booting 500
            // simulated nodes comes before and is not counted.
            var asked: ContinuousClock.Instant?
            var created: Duration?
            simulation.onPlacementGroupUpdate = { info in
                if asked == nil { asked = clock.now }
                if info.state == .created && created == nil, let asked { created = clock.now - asked }
            }
            let report = simulation.run()
            let total = clock.now - start
            let seconds = { (duration: Duration) in
                Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
            }
            print("sim  \(bundles)-bundle \(strategy) group on 500 nodes, log off: created in "
                  + (created.map { format(seconds($0)) + " s wall" } ?? "(never)")
                  + ", whole run (boot, a task per bundle, removal, leak check) \(format(seconds(total))) s, "
                  + "\(report.eventsProcessed) events, outcome \(report.outcome == .passed ? "pass" : "FAIL")")
            if report.outcome != .passed { print(report.summary(wallSeconds: seconds(total))) }
        }
    }

    private func timed(_ scenario: Scenario, _ options: SimulationOptions) throws -> (Double, ScenarioReport) {
        let simulation = try Simulation(scenario: scenario, options: options)
        let clock = ContinuousClock()
        let start = clock.now
        let report = simulation.run()
        let elapsed = clock.now - start
        return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18, report)
    }

    private func logFigures() throws {
        let directory = NSTemporaryDirectory() + "raylog-bench-\(getpid())"
        for batch in [1, 100, 1000] {
            try? FileManager.default.removeItem(atPath: directory)
            let records = batch == 1 ? 2_000 : 200_000
            let result = try EventLogBenchmark.run(path: directory, records: records, recordBytes: 100, batch: batch)
            print("log  LMDB durable appends, 100 B records, \(batch) per commit: \(Int(result.appendsPerSecond)) appends/s")
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func memoryFigures() {
        let count = 100_000
        // Lineage: a chain of pending tasks, each spec retained with its return object.
        let before = heapBytesInUse()
        var owner = Owner()
        _ = owner.handle(.started(RayConfig(), OwnerIdentity(worker: WorkerID(node: NodeID(1), index: 0), job: JobID(1))), now: 0)
        var previous: ObjectID?
        for index in 0..<count {
            let args: [TaskArg] = previous.map { [.reference($0)] } ?? []
            let object = ObjectID.returnValue(of: owner.nextTaskID, index: 1)
            _ = owner.handle(.submitTask(TaskRequest(function: "chain", instance: index, args: args,
                resources: .units(["CPU": 1]), strategy: .default, maxRetries: 3, retryExceptions: false,
                body: [0, 8, 0, 0, 0, 0])), now: 0)
            previous = object
        }
        let lineage = heapBytesInUse() - before
        print("mem  \(count) tasks of lineage (each with its tracked return object): "
              + "\(lineage / 1024 / 1024) MiB, \(lineage / Int64(count)) B per task")
        withExtendedLifetime(owner) {}

        // Objects alone: puts tracked by the owner (inline values, 8 B each).
        let beforePuts = heapBytesInUse()
        var putter = Owner()
        _ = putter.handle(.started(RayConfig(), OwnerIdentity(worker: WorkerID(node: NodeID(1), index: 0), job: JobID(2))), now: 0)
        for _ in 0..<count { _ = putter.handle(.put(ObjectData(sizeBytes: 8, digest: 1), node: nil), now: 0) }
        let objects = heapBytesInUse() - beforePuts
        print("mem  \(count) tracked objects (owner entries, small values inline): "
              + "\(objects / 1024 / 1024) MiB, \(objects / Int64(count)) B per object")
        withExtendedLifetime(putter) {}
    }

    private func format(_ seconds: Double) -> String { String(format: "%.2f", seconds) }
}

/// Resident set size of this process, from /proc (run memory figures in a fresh
/// process: `raysim bench --only memory`, so freed memory is not reused).
func heapBytesInUse() -> Int64 {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int64(fields[1]) else { return 0 }
    return pages * 4096
}
