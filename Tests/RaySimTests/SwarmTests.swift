// A short swarm in the default suite: random clusters, workloads and fault
// plans must keep every invariant, resolve every get and leak nothing. The
// long sweep is `raysim swarm --seeds K` (see README).

import Testing
import RayCore

@testable import RaySim

@Suite struct SwarmTests {
    @Test(arguments: Array(UInt64(1)...UInt64(40)))
    func swarmSeedPasses(seed: UInt64) throws {
        let scenario = SwarmGenerator.scenario(seed: seed)
        let report = try Simulation(scenario: scenario, options: SwarmGenerator.options(seed: seed, scenario: scenario)).run()
        #expect(report.outcome == .passed, "\(report.summary(wallSeconds: 0))")
    }

    @Test func swarmWithoutFaultsOrFailurePlansGetsOnlyValues() throws {
        var checked = 0
        for seed in UInt64(1)...UInt64(200) where !SwarmGenerator.mayFail(SwarmGenerator.scenario(seed: seed)) {
            let scenario = SwarmGenerator.scenario(seed: seed)
            var options = SwarmGenerator.options(seed: seed, scenario: scenario)
            options.acceptErrorResults = false
            options.config.lineageBytesMax = RayConfig().lineageBytesMax  // Nothing lost: no error acceptable.
            let report = try Simulation(scenario: scenario, options: options).run()
            #expect(report.outcome == .passed, "\(report.summary(wallSeconds: 0))")
            checked += 1
            if checked == 10 { break }
        }
        #expect(checked > 0)
    }

    @Test func swarmSeedsDrawTheirConfigurationWithinValidRanges() {
        var varied = 0
        for seed in UInt64(1)...UInt64(300) {
            let (config, knobs) = SwarmGenerator.config(seed: seed)
            #expect(SwarmGenerator.config(seed: seed).1 == knobs)  // A seed gives its knobs again.
            if !knobs.isEmpty { varied += 1 }
            #expect(config.healthCheckPeriodMicros >= 500_000 && config.healthCheckTimeoutMicros >= config.healthCheckPeriodMicros)
            #expect((2...5).contains(config.healthCheckFailureThreshold))
            #expect((0...1000).contains(config.schedulerSpreadThresholdPermille))
            #expect((500...950).contains(config.objectSpillingThresholdPermille))
            #expect(config.inlineObjectSizeBytesMax >= 1024 && config.spillbackCountMax >= 1)
        }
        #expect(varied > 150 && varied < 300)
        // Head-node kills and GCS restarts racing node deaths are drawn too.
        let faults = (UInt64(1)...UInt64(2000)).flatMap { SwarmGenerator.scenario(seed: $0).faults.map(\.action) }
        #expect(faults.contains { if case .killNode(.named("head")) = $0 { true } else { false } })
        #expect(faults.contains { if case .restartGCS = $0 { true } else { false } })
    }
}
