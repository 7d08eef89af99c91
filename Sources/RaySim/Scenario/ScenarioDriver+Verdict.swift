// The end of a run, in either world: safety (every value the driver got is
// the one its lineage defines, and the world's machine invariants held),
// liveness (every get resolved within the scenario's bound), the
// expectations, the faults that never fired, and leaks.

import RayCore

/// What a world counted during a run.
public struct ScenarioCounts: Sendable {
    public var tasksRun = 0
    public var retries = 0
    public var reconstructions = 0
    public var objectsSpilled = 0
    public var objectsRestored = 0
    public var spillbacks = 0
    public init() {}
}

/// What a world found when the run ended, for the verdicts.
public struct ScenarioEnding {
    /// A machine invariant the world saw violated (a safety failure).
    public var violation: String?
    /// The liveness bound passed before every get returned: how the world words it
    /// ("at 30s (max_sim_time 30s)", "after max_wall_time 30 s").
    public var livenessBound: String?
    /// What a pending get waits for (the world's view), for the liveness message.
    public var describePending: (InstanceRef) -> String = { _ in "" }
    /// When the program's results were final, as the world tells time (raysim: simulated).
    public var finishedAt: String?
    /// Further failures only the world can see (a killed node never declared dead).
    public var problems: [String] = []
    /// Ends the program cleanly and returns what is still held, and whether the job's end
    /// ended its workers (called only when leaks are checked).
    public var findLeaks: () -> (leaks: [String], jobEnded: Bool) = { ([], false) }

    public init() {}
}

extension ScenarioDriver {
    /// Fills `report` with the counts, faults, results and verdicts, and decides the outcome.
    public func finish(_ report: inout ScenarioReport, counts: ScenarioCounts, ending: ScenarioEnding) {
        report.tasksRun = counts.tasksRun
        report.retries = counts.retries
        report.reconstructions = counts.reconstructions
        report.objectsSpilled = counts.objectsSpilled
        report.objectsRestored = counts.objectsRestored
        report.spillbacks = counts.spillbacks
        report.faultsFired = faultsDone.indices.filter { faultsDone[$0] }
        for index in unfiredFaults { faultLines.append(Self.unfiredFaultLine(index, scenario.faults[index])) }
        report.faultLines = faultLines
        report.results = getList.indices.map { (getList[$0], resolved[$0]) }
        for job in jobs { report.results += job.getList.indices.map { (job.getList[$0], job.resolved[$0]) } }
        if !jobs.isEmpty { report.jobLines = ([self] + jobs).enumerated().map { $1.jobLine(number: $0 + 1) } }
        let jobViolation = jobs.lazy.compactMap { job in
            (job.wrongValue ?? job.actorRuleViolation()).map { "job \(job.jobName): \($0)" }
        }.first
        if let violation = ending.violation ?? wrongValue ?? actorRuleViolation() ?? jobViolation {
            report.verdicts.append(("safety", "FAILED: \(violation)"))
            report.outcome = .invariantViolated(violation)
            return
        }
        report.verdicts.append(("safety", "ok (every step)"))
        if ending.livenessBound != nil || !allFinished {
            let pending = ([self] + jobs).flatMap { program in
                program.getList.indices.filter { program.resolved[$0] == nil }.map { program.getList[$0] }
            }
            let detail = pending.prefix(8).map { ref in "\(ref) \(ending.describePending(ref))" }.joined(separator: "; ")
            var message = "\(pending.count) get(s) unresolved \(ending.livenessBound ?? "when the run ended"): \(detail)"
            if !pendingWaits.isEmpty {
                message += "; the wait(s) of fault(s) \(pendingWaits.keys.sorted()) never returned"
            }
            report.verdicts.append(("liveness", "FAILED: \(message)"))
            report.outcome = .livenessExceeded(message)
            return
        }
        report.verdicts.append(("liveness", "ok (all \(report.results.count) gets resolved"
            + (ending.finishedAt.map { " by \($0)" } ?? "") + ")"))
        var failures = resultFailures() + countFailures(counts)
        for job in jobs { failures += job.resultFailures().map { "job \(job.jobName): \($0)" } }
        // The first few, then how many more (300 failed calls are one story, not 300 lines).
        let shown = failures.prefix(5).joined(separator: "; ")
            + (failures.count > 5 ? "; and \(failures.count - 5) more" : "")
        report.verdicts.append(("expect", failures.isEmpty ? "ok" : "FAILED: " + shown))
        var problems = failures
        if !acceptUnfiredFaults && !driverKilled {
            for index in unfiredFaults { problems.append("fault \(index) did not fire") }
        }
        problems += ending.problems
        if headKilled {
            report.verdicts.append(("leaks", "not checked (the head node died: the cluster went with it)"))
        } else if scenario.expect.checkLeaks {
            let (leaked, jobEnded) = ending.findLeaks()
            report.verdicts.append(("leaks", leaked.isEmpty ? (jobEnded ? "none (and the job's end ended its workers)" : "none")
                : "FAILED: " + leaked.joined(separator: "; ")))
            problems += leaked
        } else {
            report.verdicts.append(("leaks", "not checked (leaks: allowed)"))
        }
        report.outcome = problems.isEmpty ? .passed : .expectationFailed(problems)
    }

    /// The job's name in `jobs:` (the part after the scenario's name; the program's: the scenario's name).
    var jobName: String { scenario.name.split(separator: "/").last.map(String.init) ?? scenario.name }

    /// "polite (job 2): started at 100ms, its 20 gets returned in 101.280ms (finish_within 1s)".
    func jobLine(number: Int) -> String {
        let name = number == 1 ? "the workload" : jobName
        var line = "\(name) (job \(number)): "
        guard let started = startedMicros else { return line + "never started" }
        line += "started at \(formatTime(started)), "
        if let ended = finishedMicros {
            line += "its \(getList.count) gets returned in \(formatTime(ended - started))"
        } else {
            line += "\(resolved.filter { $0 == nil }.count) of its \(getList.count) gets did not return"
        }
        return line + (scenario.expect.finishWithinMicros.map { " (finish_within \(formatTime($0)))" } ?? "")
    }

    /// Each get's outcome against `expect.results`, and `finish_within`.
    private func resultFailures() -> [String] {
        var failures: [String] = []
        var expected: [InstanceRef: ExpectSpec.Outcome] = [:]
        for (pattern, outcome) in scenario.expect.results {
            for ref in plan.resolve(pattern) + actorCallRefs(pattern) { expected[ref] = outcome }
        }
        for (index, ref) in getList.enumerated() {
            guard let value = resolved[index] else { continue }
            if isActorCaller(ref) {
                // A caller task: ok when its calls kept Ray's rules (a broken rule is a safety
                // failure already); it may fail otherwise (its worker died) unless `expect` says ok.
                if case .error(let error) = value, expected[ref] == .ok {
                    failures.append("\(ref): expected ok, got \(error)")
                }
                continue
            }
            if isActorCall(ref) {
                // A call may fail only with an actor error (`expect` may name the one kind allowed).
                guard case .error(let error) = value else { continue }
                switch expected[ref] {
                case .error(let kind)?:
                    if error.kind != kind { failures.append("\(ref): expected a value or \(kind.rawValue), got \(error)") }
                case .ok?:
                    failures.append("\(ref): expected ok, got \(error)")
                case nil:
                    if error.kind != .actorDied && error.kind != .actorUnavailable && !acceptErrorResults {
                        failures.append("\(ref): an actor call failed with \(error), not an actor error")
                    }
                }
                continue
            }
            switch (expected[ref] ?? .ok, value) {
            case (.ok, .data):
                continue
            case (.ok, .error(let error)):
                if expected[ref] == nil && acceptErrorResults { continue }
                failures.append("\(ref): expected ok, got \(error)")
            case (.error(let kind), .data):
                failures.append("\(ref): expected \(kind.rawValue), got a value")
            case (.error(let kind), .error(let error)):
                if error.kind != kind { failures.append("\(ref): expected \(kind.rawValue), got \(error)") }
            }
        }
        if let bound = scenario.expect.finishWithinMicros, let started = startedMicros, let ended = finishedMicros,
           ended - started > bound {
            failures.append("its gets returned \(formatTime(ended - started)) after it started, over finish_within "
                + formatTime(bound))
        }
        return failures
    }

    /// The counters `expect` bounds.
    private func countFailures(_ counts: ScenarioCounts) -> [String] {
        var failures: [String] = []
        let counted: [(String, Comparison?, Int)] = [
            ("reconstructions", scenario.expect.reconstructions, counts.reconstructions),
            ("retries", scenario.expect.retries, counts.retries),
            ("spilled", scenario.expect.spilled, counts.objectsSpilled),
            ("spillbacks", scenario.expect.spillbacks, counts.spillbacks),
        ]
        for (name, comparison, actual) in counted {
            if let comparison, !comparison.holds(for: Int64(actual)) {
                failures.append("\(name): expected \(comparison), got \(actual)")
            }
        }
        return failures
    }
}
