// `expect:` — per-reference outcomes (`ok` or a Ray error kind), counter
// comparisons, liveness bounds and the leak check. All keys are optional;
// the defaults are 60 s simulated, 120 s wall time and `leaks: none`.

import RayCore
import Yams

extension ScenarioLoader {
    static let expectKeys = ["results", "reconstructions", "retries", "spilled", "spillbacks", "max_sim_time",
                             "max_wall_time", "leaks", "finish_within"]
    /// Default liveness bound in the simulator.
    static let maxSimTimeMicrosDefault: Int64 = 60_000_000
    /// Default bound for the real runner.
    static let maxWallTimeMicrosDefault: Int64 = 120_000_000

    /// Parses `expect:` (absent means all defaults).
    static func parseExpect(_ value: ScenarioValue?, references: inout ReferenceUses,
                            allowedKeys: [String] = expectKeys) throws(ScenarioError) -> ExpectSpec {
        var expect = ExpectSpec(results: [], reconstructions: nil, retries: nil,
                                maxSimTimeMicros: maxSimTimeMicrosDefault,
                                maxWallTimeMicros: maxWallTimeMicrosDefault, checkLeaks: true)
        guard let value else { return expect }
        let mapping = try value.mapping(allowedKeys: allowedKeys)
        if let resultsValue = mapping.optional("results") {
            for (key, outcomeValue) in try resultsValue.anyMapping().entries {
                let keyValue = ScenarioValue(node: Node(key), keyPath: "\(resultsValue.keyPath)[\"\(key)\"]",
                                             file: value.file)
                let reference = try references.record(keyValue, targets: [.task, .put, .actor], purpose: .get)
                // The outcome is reported under the same quoted key path as its reference.
                let outcome = ScenarioValue(node: outcomeValue.node, keyPath: keyValue.keyPath, file: value.file)
                expect.results.append((reference, try parseOutcome(outcome)))
            }
        }
        expect.reconstructions = try mapping.optional("reconstructions")?.comparison()
        expect.retries = try mapping.optional("retries")?.comparison()
        expect.spilled = try mapping.optional("spilled")?.comparison()
        expect.spillbacks = try mapping.optional("spillbacks")?.comparison()
        if let maxSimTime = mapping.optional("max_sim_time") { expect.maxSimTimeMicros = try maxSimTime.durationMicros() }
        if let maxWallTime = mapping.optional("max_wall_time") { expect.maxWallTimeMicros = try maxWallTime.durationMicros() }
        if let within = mapping.optional("finish_within") { expect.finishWithinMicros = try within.durationMicros() }
        if let leaks = mapping.optional("leaks") {
            let text = try leaks.scalarText(expected: "none or allowed").trimmingWhitespace()
            switch text {
            case "none": expect.checkLeaks = true
            case "allowed": expect.checkLeaks = false
            default: throw leaks.error("expected none or allowed, got '\(text)'")
            }
        }
        return expect
    }

    /// `ok` or a Ray error kind such as `ObjectLost`.
    static func parseOutcome(_ value: ScenarioValue) throws(ScenarioError) -> ExpectSpec.Outcome {
        let expected = "ok or an error kind (\(RayErrorKind.allCases.map(\.rawValue).joined(separator: ", ")))"
        let text = try value.scalarText(expected: expected).trimmingWhitespace()
        if text == "ok" { return .ok }
        guard let kind = RayErrorKind(rawValue: text) else { throw value.error("expected \(expected), got '\(text)'") }
        return .error(kind)
    }
}
