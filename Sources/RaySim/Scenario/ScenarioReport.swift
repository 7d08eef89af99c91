// What a run prints (../SCENARIOS.md "What every run prints") and how it ends,
// in either world: the scenario driver fills the counts, faults, results and
// verdicts; the world adds what only it knows (simulated time and events and
// the trace digest, or the wall time and the session directory).

public import RayCore

/// The result of one run of a scenario, simulated or on real processes.
public struct ScenarioReport {
    /// How the run ended; maps to the exit code.
    public enum Outcome: Equatable {
        case passed
        case expectationFailed([String])
        case invariantViolated(String)
        case livenessExceeded(String)

        /// 0 all held; 1 an expectation or invariant failed; 3 liveness bound exceeded.
        public var exitCode: Int32 {
            switch self {
            case .passed: return 0
            case .expectationFailed, .invariantViolated: return 1
            case .livenessExceeded: return 3
            }
        }
    }

    public let scenario: Scenario
    public let seed: UInt64
    public var outcome = Outcome.passed
    public var simulatedMicros: Int64 = 0
    public var eventsProcessed = 0
    public var tasksRun = 0
    public var retries = 0
    public var reconstructions = 0
    public var objectsSpilled = 0
    public var objectsRestored = 0
    public var spillbacks = 0
    public var traceDigest: UInt64 = 0
    public var verdicts: [(String, String)] = []
    public var faultLines: [String] = []
    public var results: [(InstanceRef, ObjectValue?)] = []
    /// With `jobs:`: one line per job (the program's first), when it started and how long its gets took.
    public var jobLines: [String] = []
    /// The faults that fired, by index.
    public var faultsFired: [Int] = []
    /// Where it ran, for a real run ("real processes on loopback"); nil: the simulator.
    public var realWorld: String?
    /// A real run's session directory (its logs, for `swiftray trace export`).
    public var session: String?

    public init(scenario: Scenario, seed: UInt64) {
        self.scenario = scenario
        self.seed = seed
    }

    /// The command that reproduces this run.
    public var reproduceCommand: String {
        if realWorld != nil { return "swiftray up \(scenario.sourcePath) --seed \(seed)" }
        if scenario.sourcePath.hasPrefix("swarm:") { return "swift run -c release raysim swarm --seed \(seed)" }
        return "swift run -c release raysim run \(scenario.sourcePath) --seed \(seed)"
    }

    /// The printed summary; `wallSeconds` is measured by the caller.
    public func summary(wallSeconds: Double) -> String {
        let rate = wallSeconds > 0 ? Int(Double(eventsProcessed) / wallSeconds) : 0
        var lines = ["scenario \(scenario.name)  seed \(seed)" + (realWorld.map { "  (swiftray up: \($0))" } ?? "")]
        if realWorld != nil {
            lines.append("  wall time \(format2(wallSeconds)) s")
            if let session { lines.append("  session: \(session) (swiftray trace export --session \(session) -o FILE)") }
        } else {
            lines.append("  simulated \(formatTime(simulatedMicros)) in \(String(format2(wallSeconds))) s wall; "
                + "\(eventsProcessed) events (\(rate) events/s)")
        }
        lines += [
            "  tasks run \(tasksRun), retries \(retries), reconstructions \(reconstructions), "
                + "objects spilled \(objectsSpilled) (restored \(objectsRestored)), spillbacks \(spillbacks)",
        ]
        if !faultLines.isEmpty {
            lines.append("  faults:")
            lines += faultLines
        }
        let failed = results.filter { if case .error? = $0.1 { return true } else { return false } }
        let okCount = results.count - failed.count
        lines.append("  results: \(okCount) ok" + (failed.isEmpty ? "" : ", \(failed.count) error(s): "
            + failed.prefix(6).map { ref, value in "\(ref) \(value?.error?.kind.rawValue ?? "?")" }.joined(separator: ", ")
            + (failed.count > 6 ? ", ..." : "")))
        if !jobLines.isEmpty {
            lines.append("  jobs:")
            lines += jobLines.map { "    " + $0 }
        }
        for (checker, verdict) in verdicts { lines.append("  \(checker): \(verdict)") }
        if realWorld == nil { lines.append("  trace digest \(String(traceDigest, radix: 16))") }
        if outcome != .passed, let session { lines.append("  logs: \(session)/logs") }
        switch outcome {
        case .passed:
            lines.append("PASS")
        case .expectationFailed(let problems):
            lines.append("FAIL (exit 1): \(problems.first ?? "")")
            lines.append("reproduce: \(reproduceCommand)")
        case .invariantViolated(let violation):
            lines.append("FAIL (exit 1): invariant violated: \(violation)")
            lines.append("reproduce: \(reproduceCommand)")
        case .livenessExceeded(let message):
            lines.append("FAIL (exit 3): liveness bound exceeded: \(message)")
            lines.append("reproduce: \(reproduceCommand)")
        }
        return lines.joined(separator: "\n")
    }
}

func format2(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
