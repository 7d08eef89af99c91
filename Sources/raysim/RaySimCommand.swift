// raysim: run scenarios in simulated time, sweep random seeds, replay traces.
// Exit codes (../SCENARIOS.md): 0 all expectations held; 1 an expectation or
// invariant failed; 2 the input file is invalid; 3 liveness bound exceeded.

import ArgumentParser
import Foundation
import RayCore
import RaySim
import RayStorage

@main
struct RaySimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raysim",
        abstract: "SwiftRay's deterministic simulator: Ray's core under failures, in virtual time.",
        subcommands: [Run.self, Swarm.self, Replay.self, Show.self, Bench.self])
}

/// Exit with a code, after flushing output.
func terminate(_ code: Int32) -> Never {
    fflush(nil)
    exit(code)
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one scenario file in the simulator.")

    @Argument(help: "A scenario file (see Scenarios/).")
    var file: String

    @Option(help: "Seed (overrides the file's seed; default 1).")
    var seed: UInt64?

    @Option(help: "Record every step into this trace file, for `raysim replay`.")
    var record: String?

    @Option(name: .customLong("log-dir"), help: "Log every component's inputs to LMDB under this directory.")
    var logDirectory: String?

    @Flag(name: .customLong("no-log"), help: "Do not log inputs (faster; restart_gcs then loses the GCS tables).")
    var noLog = false

    func run() throws {
        let scenario: Scenario
        do {
            scenario = try ScenarioLoader.load(path: file)
        } catch {
            printError("error: \(error)")
            terminate(2)
        }
        var options = SimulationOptions(seed: seed ?? scenario.seed ?? 1)
        options.recordTrace = record != nil
        if noLog { options.inputLog = .off }
        if let logDirectory {
            try? FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
            options.inputLog = .lmdb(directory: logDirectory)
        }
        print(wrapped(scenario.description, width: 96).map { "# " + $0 }.joined(separator: "\n"))
        let (code, simulation) = simulate(scenario, options)
        if let record, let simulation { writeTrace(of: simulation, to: record) }
        terminate(code)
    }
}

/// Runs a scenario, prints its summary, returns the exit code.
func simulate(_ scenario: Scenario, _ options: SimulationOptions, quiet: Bool = false) -> (Int32, Simulation?) {
    let simulation: Simulation
    do {
        simulation = try Simulation(scenario: scenario, options: options)
    } catch {
        printError("error: \(error)")
        return (2, nil)
    }
    let clock = ContinuousClock()
    let start = clock.now
    let report = simulation.run()
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    if !quiet || report.outcome != .passed { print(report.summary(wallSeconds: seconds)) }
    return (report.outcome.exitCode, simulation)
}

/// Words of `text` in lines of at most `width` characters.
func wrapped(_ text: String, width: Int) -> [String] {
    var lines: [String] = []
    var line = ""
    for word in text.split(whereSeparator: \.isWhitespace) {
        if !line.isEmpty && line.count + 1 + word.count > width {
            lines.append(line)
            line = ""
        }
        line += line.isEmpty ? String(word) : " " + word
    }
    if !line.isEmpty { lines.append(line) }
    return lines
}

/// Reads a trace; a file that is not a readable trace ends the command with exit 2.
func readTrace(_ path: String) -> TraceFile {
    do {
        return try TraceFile.read(from: path)
    } catch {
        printError("error: \(error)")
        terminate(2)
    }
}

/// Writes the run's recorded trace; a trace that cannot be written ends the command with exit 2.
func writeTrace(of simulation: Simulation, to path: String) {
    guard let trace = simulation.trace() else { return }
    do {
        try trace.write(to: path)
        print("  trace: \(trace.steps.count) steps written to \(path)")
    } catch {
        printError("error: \(error)")
        terminate(2)
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

struct Swarm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run random clusters, workloads and fault plans, one per seed; stop at the first failure.")

    @Option(help: "How many seeds to run.")
    var seeds: Int = 100

    @Option(help: "The first seed.")
    var start: UInt64 = 1

    @Option(help: "Run only this seed and print its full report.")
    var seed: UInt64?

    @Option(help: "With --seed: record every step into this trace file.")
    var record: String?

    func validate() throws {
        guard seeds >= 1 else { throw ValidationError("--seeds must be at least 1 (got \(seeds))") }
        guard start <= UInt64.max - UInt64(seeds) else { throw ValidationError("--start \(start) + --seeds overflows") }
        if record != nil && seed == nil { throw ValidationError("--record needs --seed N (one run to record)") }
    }

    func run() throws {
        if let seed {
            let scenario = SwarmGenerator.scenario(seed: seed)
            print(describe(scenario))
            var options = SwarmGenerator.options(seed: seed, scenario: scenario)
            options.recordTrace = record != nil
            let (code, simulation) = simulate(scenario, options)
            if let record, let simulation { writeTrace(of: simulation, to: record) }
            terminate(code)
        }
        let clock = ContinuousClock()
        let began = clock.now
        var events = 0
        for offset in 0..<UInt64(max(0, seeds)) {
            let seed = start + offset
            let scenario = SwarmGenerator.scenario(seed: seed)
            let options = SwarmGenerator.options(seed: seed, scenario: scenario)
            guard let simulation = try? Simulation(scenario: scenario, options: options) else { continue }
            let report = simulation.run()
            events += report.eventsProcessed
            if report.outcome != .passed {
                print(describe(scenario))
                print(report.summary(wallSeconds: 0))
                print("swarm: seed \(seed) FAILED after \(offset) passing seed(s)")
                print("reproduce: swift run -c release raysim swarm --seed \(seed)")
                terminate(report.outcome.exitCode)
            }
            if (offset + 1) % 25 == 0 { print("swarm: \(offset + 1)/\(seeds) seeds passed") }
        }
        let elapsed = clock.now - began
        print("swarm: all \(seeds) seeds passed (seeds \(start)...\(start + UInt64(max(0, seeds)) - 1), "
              + "\(events) events, \(elapsed))")
    }

    private func describe(_ scenario: Scenario) -> String {
        let nodes = scenario.cluster.nodes.map { "\($0.name)\($0.resources)" }.joined(separator: " ")
        let tasks = scenario.workload.tasks.map { "\($0.name)x\($0.count)(args \($0.args.map(\.description)))" }
            .joined(separator: " ")
        let faults = scenario.faults.map { "\($0.trigger) \($0.action)" }.joined(separator: "; ")
        let knobs = SwarmGenerator.config(seed: scenario.seed ?? 0).1
        let actors = scenario.workload.actors.map { actor in
            "\(actor.name)x\(actor.count)(\(actor.resources), max_restarts \(actor.maxRestarts), max_task_retries "
                + "\(actor.maxTaskRetries), \(actor.calls) calls)"
        }.joined(separator: " ")
        return "# swarm seed \(scenario.seed ?? 0)\n# nodes: \(nodes)\n# tasks: \(tasks)"
            + (actors.isEmpty ? "" : "\n# actors: \(actors)")
            + "\n# faults: \(faults.isEmpty ? "none" : faults)"
            + "\n# knobs: \(knobs.isEmpty ? "Ray's defaults" : knobs.joined(separator: "; "))"
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a recorded trace through fresh machines; fail on the first effect that differs.")

    @Argument(help: "A trace file (record one with `raysim run FILE --record TRACE`).")
    var trace: String

    func run() throws {
        let file = readTrace(trace)
        print("trace \(trace): scenario \(file.scenarioName), seed \(file.seed), \(file.steps.count) steps")
        switch TraceReplayer.replay(file) {
        case .identical(let steps):
            print("replay: all \(steps) steps gave identical effects")
            print("PASS")
            terminate(0)
        case .diverged(let index, let component, let time, let input, let expected, let actual):
            print("replay: step \(index) (\(component) at \(time) us) diverged")
            print("  input:    \(input)")
            print("  recorded: \(expected)")
            print("  replayed: \(actual)")
            print("FAIL (exit 1)")
            terminate(1)
        case .undecodable(let index, let reason):
            printError("error: step \(index) of \(trace) cannot be decoded: \(reason)")
            terminate(2)
        }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a trace step by step: time, component, input and effects.")

    @Argument(help: "A trace file.")
    var trace: String

    @Option(help: "Only steps whose text contains this string (e.g. an object or task ID).")
    var grep: String?

    @Option(help: "Only steps of this component (e.g. gcs#1, raylet(node-2), driver(worker-1.0)).")
    var component: String?

    func run() throws {
        let file = readTrace(trace)
        for (index, step) in file.steps.enumerated() {
            if let component, step.component.description != component { continue }
            let text = TraceReplayer.describe(step)
            if let grep, !text.contains(grep) { continue }
            print("#\(index) \(step.time)us \(step.component): \(text)")
        }
    }
}
