// Loads a scenario file (../SCENARIOS.md) into the `Scenario` model. The YAML
// is composed into a node tree (Yams), walked with key paths, and every key is
// checked: unknown keys, wrong types and bad values are `ScenarioError`s that
// name the file, the key path and what was expected, never a crash.
//
// Parsing is in two phases: first each section is read on its own (this file,
// +Cluster, +Workload, +Faults, +Expect), then names, references, node names
// and the args graph are checked across sections (+References, +Graph).

import Foundation
import RayCore
import Yams

/// Reads and validates scenario files.
public enum ScenarioLoader {
    /// Top-level keys, in the order SCENARIOS.md documents them.
    static let topLevelKeys = ["name", "description", "seed", "cluster", "workload", "faults", "expect", "jobs"]

    /// Reads the scenario at `path` and validates it.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ScenarioError(file: path, keyPath: "", problem: "cannot read the file: \(error.localizedDescription)")
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            throw ScenarioError(file: path, keyPath: "", problem: "the file is not valid UTF-8")
        }
        return try parse(yaml: yaml, file: path)
    }

    /// Parses and validates scenario YAML; `file` names it in errors and becomes `sourcePath`.
    public static func parse(yaml: String, file: String) throws(ScenarioError) -> Scenario {
        let root = try compose(yaml: yaml, file: file)
        let top = try root.mapping(allowedKeys: topLevelKeys)

        let name = try top.required("name").name()
        let description = try top.required("description").string()
        let seed = try top.optional("seed").map { value throws(ScenarioError) in try value.seed() }
        var references = ReferenceUses()
        let cluster = try parseCluster(try top.required("cluster"))
        let workload = try parseWorkload(try top.required("workload"), references: &references)
        let (faults, nodeNames) = try parseFaults(top.optional("faults"), cluster: cluster, references: &references)
        let expect = try parseExpect(top.optional("expect"), references: &references)

        let ordered = try validate(workload, references: references, nodeNames: nodeNames, cluster: cluster, file: file)
        try checkWaits(faults, workload: ordered, file: file)
        try checkBundleFaults(faults, workload: ordered, file: file)
        let jobs = try parseJobs(top.optional("jobs"), main: ordered, nodeNames: nodeNames, cluster: cluster, file: file)
        return Scenario(name: name, description: description, seed: seed, cluster: cluster,
                        workload: ordered, faults: faults, expect: expect, sourcePath: file, jobs: jobs)
    }

    /// Checks a workload across its sections (names, nesting, references, strategies, placement
    /// groups, sizes) and returns it with its task groups in submission order.
    static func validate(_ parsed: WorkloadSpec, references: ReferenceUses, nodeNames: [String],
                         cluster: ClusterSpec, file: String) throws(ScenarioError) -> WorkloadSpec {
        var workload = parsed
        // Names first (duplicates), then nesting (which derives nested groups' counts and says
        // where they may be named), then the references, against the derived counts.
        _ = try NameTable(workload: workload, file: file)
        try resolveNesting(&workload, references: references, file: file)
        let names = try NameTable(workload: workload, file: file)
        try references.check(against: names)
        try checkStrategies(workload: workload, nodeNames: nodeNames, initialNodes: cluster.nodes.map(\.name),
                            file: file)
        try checkPlacementGroups(workload: workload, names: names, file: file)
        try checkObjectSizes(workload: workload, cluster: cluster, file: file)
        var ordered = workload
        ordered.tasks = try orderTaskGroups(workload: workload, file: file)
        return ordered
    }

    /// The root node of the document, or an error carrying the YAML parser's message.
    static func compose(yaml: String, file: String) throws(ScenarioError) -> ScenarioValue {
        let composed: Node?
        do {
            composed = try Yams.compose(yaml: yaml)
        } catch YamlError.duplicatedKeysInMapping(let duplicates, let context) {
            // Yams's own message quotes the whole mapping; the keys and the line are enough.
            let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            throw ScenarioError(file: file, keyPath: "",
                                problem: "invalid YAML: duplicate key \(keys) in the mapping at line \(context.mark.line)")
        } catch {
            throw ScenarioError(file: file, keyPath: "", problem: "invalid YAML: \(error)")
        }
        guard let root = composed else {
            throw ScenarioError(file: file, keyPath: "",
                                problem: "the file is empty; expected a mapping with name, description, cluster, workload")
        }
        return ScenarioValue(node: root, keyPath: "", file: file)
    }
}

extension ScenarioValue {
    /// A seed: a non-negative integer that fits in 64 bits.
    func seed() throws(ScenarioError) -> UInt64 {
        let text = try scalarText(expected: "a non-negative integer").trimmingWhitespace()
        guard let seed = UInt64(text) else { throw error("expected a non-negative integer seed, got '\(text)'") }
        return seed
    }
}
