// `jobs:` — other drivers beside the scenario's program, each its own job (job 2, 3, ... in
// file order), each with a workload of the same keys as `workload:` and its own `expect:`
// (`results`, `finish_within`). Names are unique across the whole scenario, so a result
// line names one thing; a job's references name its own workload only. Faults belong to
// the main program (they may not name a job's instances).

import RayCore

extension ScenarioLoader {
    static let jobKeys = ["name", "start", "workload", "expect"]
    static let jobExpectKeys = ["results", "finish_within"]
    /// Most jobs beside the program.
    static let jobCountMax = 64

    /// Parses and validates `jobs:` (absent: none).
    static func parseJobs(_ value: ScenarioValue?, main: WorkloadSpec, nodeNames: [String], cluster: ClusterSpec,
                          file: String) throws(ScenarioError) -> [JobSpec] {
        guard let value else { return [] }
        let entries = try value.sequence()
        guard entries.count <= jobCountMax else {
            throw value.error("at most \(jobCountMax) jobs, got \(entries.count)")
        }
        var jobs: [JobSpec] = []
        // Where each name was declared, across the program and every job.
        var declared: [String: String] = [:]
        for name in workloadNames(main) { declared[name] = "workload" }
        for (index, entry) in entries.enumerated() {
            let mapping = try entry.mapping(allowedKeys: jobKeys)
            let nameValue = try mapping.required("name")
            let name = try nameValue.name()
            if jobs.contains(where: { $0.name == name }) { throw nameValue.error("duplicate job name '\(name)'") }
            let start = try mapping.optional("start")?.durationMicros() ?? 0
            var references = ReferenceUses()
            let parsed = try parseWorkload(try mapping.required("workload"), references: &references)
            let expect = try parseExpect(mapping.optional("expect"), references: &references, allowedKeys: jobExpectKeys)
            let prefix = "jobs[\(index)]."
            let workload: WorkloadSpec
            do {
                workload = try validate(parsed, references: references, nodeNames: nodeNames, cluster: cluster, file: file)
            } catch {
                // The checks across sections name `workload.`: here it is this job's.
                var moved = error
                if moved.keyPath.hasPrefix("workload") { moved.keyPath = prefix + moved.keyPath }
                throw moved
            }
            for name in workloadNames(workload) {
                if let other = declared[name] {
                    throw ScenarioError(file: file, keyPath: "\(prefix)workload",
                                        problem: "'\(name)' is declared in \(other) too; names are unique across "
                                            + "the workload and every job, so each result names one thing")
                }
                declared[name] = "jobs[\(index)]"
            }
            jobs.append(JobSpec(name: name, startMicros: start, workload: workload, expect: expect))
        }
        return jobs
    }

    /// Every name a workload declares (puts, task groups, actors, placement groups).
    static func workloadNames(_ workload: WorkloadSpec) -> [String] {
        workload.puts.map(\.name) + workload.tasks.map(\.name) + workload.actors.map(\.name)
            + workload.placementGroups.map(\.name)
    }
}
