// A short swarm in the default suite: random clusters, workloads and fault
// plans must keep every invariant, resolve every get and leak nothing. The
// long sweep is `raysim swarm --seeds K` (see README).

import Testing

@testable import RaySim

@Suite struct SwarmTests {
    @Test(arguments: Array(UInt64(1)...UInt64(40)))
    func swarmSeedPasses(seed: UInt64) throws {
        let scenario = SwarmGenerator.scenario(seed: seed)
        var options = SimulationOptions(seed: seed)
        options.acceptErrorResults = SwarmGenerator.mayFail(scenario)
        let report = try Simulation(scenario: scenario, options: options).run()
        #expect(report.outcome == .passed, "\(report.summary(wallSeconds: 0))")
    }

    @Test func swarmWithoutFaultsOrFailurePlansGetsOnlyValues() throws {
        var checked = 0
        for seed in UInt64(1)...UInt64(200) where !SwarmGenerator.mayFail(SwarmGenerator.scenario(seed: seed)) {
            let scenario = SwarmGenerator.scenario(seed: seed)
            let report = try Simulation(scenario: scenario, options: SimulationOptions(seed: seed)).run()
            #expect(report.outcome == .passed, "\(report.summary(wallSeconds: 0))")
            checked += 1
            if checked == 10 { break }
        }
        #expect(checked > 0)
    }
}
