// Every recorded trace in Traces/ replays through fresh machines with
// identical effects; a tampered trace is caught at the tampered step; files
// that are not traces, or are damaged, give clear errors.

import Foundation
import Testing

@testable import RaySim

@Suite struct TraceReplayTests {
    static let traceFiles = TestPaths.files(in: "Traces", ending: ".trace")

    @Test func thereAreRecordedTraces() {
        #expect(Self.traceFiles.count >= 3)
    }

    @Test(arguments: traceFiles)
    func recordedTraceReplaysIdentically(file: String) throws {
        let trace = try TraceFile.read(from: file)
        #expect(TraceReplayer.replay(trace) == .identical(steps: trace.steps.count))
    }

    @Test func freshRecordingReplaysIdentically() throws {
        let scenario = try ScenarioLoader.load(path: TestPaths.root + "/Scenarios/store-pressure-spilling.yaml")
        var options = SimulationOptions(seed: 5)
        options.recordTrace = true
        let simulation = try Simulation(scenario: scenario, options: options)
        #expect(simulation.run().outcome == .passed)
        let trace = try #require(simulation.trace())
        let path = TestPaths.temporaryDirectory() + "/run.trace"
        try trace.write(to: path)
        let reread = try TraceFile.read(from: path)
        #expect(reread.steps == trace.steps)
        #expect(TraceReplayer.replay(reread) == .identical(steps: trace.steps.count))
    }

    @Test func tamperedEffectIsReportedAtItsStep() throws {
        var trace = try TraceFile.read(from: try #require(Self.traceFiles.first))
        let index = try #require(trace.steps.indices.first { trace.steps[$0].effects.count > 8 && $0 > 10 })
        trace.steps[index].effects[trace.steps[index].effects.count - 1] ^= 0x01
        guard case .diverged(let divergedAt, _, _, _, _, _) = TraceReplayer.replay(trace) else {
            Issue.record("a tampered trace replayed without divergence")
            return
        }
        #expect(divergedAt == index)
    }

    @Test func notATraceIsAClearError() throws {
        let path = TestPaths.temporaryDirectory() + "/garbage.trace"
        try Data("hello, not a trace".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: TraceError.notATrace(path: path)) { try TraceFile.read(from: path) }
    }

    @Test func truncatedTraceIsAClearError() throws {
        let source = try #require(Self.traceFiles.first)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let path = TestPaths.temporaryDirectory() + "/truncated.trace"
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        do {
            _ = try TraceFile.read(from: path)
            Issue.record("a truncated trace was accepted")
        } catch {
            guard case .corrupt = error else {
                Issue.record("expected .corrupt, got \(error)")
                return
            }
            #expect(error.description.contains("damaged or truncated"))
        }
    }
}
