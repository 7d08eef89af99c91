// Differential runs: one scenario in the simulator and on real processes,
// side by side. What a user would see must agree: each get's result (a value,
// or the kind of its error), which faults fired, and whether anything leaked.
// Counts (retries, reconstructions, spills) are printed side by side but not
// compared: real timing legitimately moves them (a task finishing before or
// after a kill). Timing is never compared.

public import RayCore

/// What one run showed a user, in either world.
public struct RunSummary: Sendable {
    /// Each get, in order: "ok", an error kind ("OwnerDied"), or "unresolved".
    public var results: [(ref: String, outcome: String)] = []
    /// The faults that fired, by index in the scenario.
    public var faultsFired: [Int] = []
    public var retries = 0
    public var reconstructions = 0
    public var spilled = 0
    /// "none", "found: ...", or "not checked (why)".
    public var leaks = "none"
    /// "PASS", or the failure.
    public var verdict = "PASS"

    public init() {}

    /// The outcome of a value as a user reads it.
    public static func outcome(_ value: ObjectValue?) -> String {
        switch value {
        case .data?: return "ok"
        case .error(let error)?: return error.kind.rawValue
        case nil: return "unresolved"
        }
    }

    /// A run, summarized (either world's: both make a `ScenarioReport`).
    public init(_ report: ScenarioReport) {
        // An actor's calls (`counter[0][k]`: their name is the actor's) are one row: which of
        // them a kill catches in flight is timing, in Ray as here; what kinds of outcome its
        // calls had (values, then ActorDied, say) is what a user sees.
        var actorRows: [String: Int] = [:]  // The row of each actor's calls, in `results`.
        var actorKinds: [String: [String]] = [:]
        for (ref, value) in report.results {
            let outcome = Self.outcome(value)
            guard ref.name.contains("[") else {
                results.append(("\(ref)", outcome))
                continue
            }
            if actorRows[ref.name] == nil {
                actorRows[ref.name] = results.count
                results.append(("calls to \(ref.name)", ""))
            }
            if !actorKinds[ref.name, default: []].contains(outcome) { actorKinds[ref.name, default: []].append(outcome) }
        }
        for (name, row) in actorRows {
            let kinds = actorKinds[name, default: []].sorted { ($0 == "ok" ? 0 : 1, $0) < ($1 == "ok" ? 0 : 1, $1) }
            results[row].outcome = kinds.joined(separator: " + ")
        }
        faultsFired = report.faultsFired
        retries = report.retries
        reconstructions = report.reconstructions
        spilled = report.objectsSpilled
        let leakVerdict = report.verdicts.first { $0.0 == "leaks" }?.1 ?? "none"
        leaks = leakVerdict.hasPrefix("FAILED: ") ? "found: " + leakVerdict.dropFirst(8) : leakVerdict
        switch report.outcome {
        case .passed: verdict = "PASS"
        case .expectationFailed(let problems): verdict = "FAIL: " + problems.joined(separator: "; ")
        case .invariantViolated(let problem): verdict = "FAIL: invariant violated: \(problem)"
        case .livenessExceeded(let message): verdict = "FAIL: liveness: \(message)"
        }
    }
}

/// Two runs of one scenario, side by side.
public struct RunComparison {
    public let simulated: RunSummary
    public let real: RunSummary

    /// Every get of either run, in order, with its outcome in each ("(not got)" when a run lacks it).
    let gets: [(ref: String, simulated: String, real: String)]

    public init(simulated: RunSummary, real: RunSummary) {
        self.simulated = simulated
        self.real = real
        let simResults = Dictionary(simulated.results.map { ($0.ref, $0.outcome) }, uniquingKeysWith: { first, _ in first })
        let realResults = Dictionary(real.results.map { ($0.ref, $0.outcome) }, uniquingKeysWith: { first, _ in first })
        gets = (simulated.results.map(\.ref) + real.results.map(\.ref)).uniqued().map { ref in
            (ref, simResults[ref] ?? "(not got)", realResults[ref] ?? "(not got)")
        }
    }

    /// What a user would see differently: empty when the worlds agree.
    public var differences: [String] {
        var found: [String] = []
        for (ref, simulatedOutcome, realOutcome) in gets {
            if simulatedOutcome != realOutcome {
                found.append("\(ref): raysim \(simulatedOutcome), real \(realOutcome)")
            }
        }
        if simulated.faultsFired != real.faultsFired {
            found.append("faults fired: raysim \(simulated.faultsFired), real \(real.faultsFired)")
        }
        if simulated.leaks.hasPrefix("found") != real.leaks.hasPrefix("found") {
            found.append("leaks: raysim \(simulated.leaks), real \(real.leaks)")
        }
        return found
    }

    /// The side-by-side table.
    public var table: [String] {
        func cell(_ text: String) -> String {
            let short = text.count > 34 ? String(text.prefix(33)) + "…" : text
            return short.padding(toLength: 36, withPad: " ", startingAt: 0)
        }
        func row(_ name: String, _ left: String, _ right: String) -> String {
            let mark = left == right ? " " : "≠"
            return "\(mark) " + name.padding(toLength: 26, withPad: " ", startingAt: 0) + cell(left) + right
        }
        var lines = ["  " + "".padding(toLength: 26, withPad: " ", startingAt: 0) + cell("raysim") + "real processes"]
        for (ref, simulatedOutcome, realOutcome) in gets { lines.append(row("get " + ref, simulatedOutcome, realOutcome)) }
        lines.append(row("faults fired", "\(simulated.faultsFired)", "\(real.faultsFired)"))
        lines.append(row("retries (not compared)", "\(simulated.retries)", "\(real.retries)"))
        lines.append(row("reconstructions (n.c.)", "\(simulated.reconstructions)", "\(real.reconstructions)"))
        lines.append(row("spilled (not compared)", "\(simulated.spilled)", "\(real.spilled)"))
        lines.append(row("leaks", simulated.leaks, real.leaks))
        lines.append(row("verdict", simulated.verdict, real.verdict))
        return lines
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
