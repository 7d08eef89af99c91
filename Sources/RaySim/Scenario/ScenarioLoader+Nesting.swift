// `children:` and `nested: true` (SCENARIOS.md, "Nested tasks"): each nested group is the
// children of exactly one parent group, its count is derived from its parent's, and what
// nested tasks cannot do yet is an error that says so.

import RayCore

extension ScenarioLoader {
    /// Checks every `children:` and `nested:` entry and derives nested groups' counts.
    static func resolveNesting(_ workload: inout WorkloadSpec, references: ReferenceUses,
                               file: String) throws(ScenarioError) {
        var indexByName: [String: Int] = [:]
        for (index, group) in workload.tasks.enumerated() { indexByName[group.name] = index }
        // parentOf[nested group index] = parent group index.
        var parentOf: [Int: Int] = [:]
        for (index, group) in workload.tasks.enumerated() {
            guard let children = group.children else { continue }
            let keyPath = "workload.tasks[\(index)].children.task"
            guard let child = indexByName[children.task] else {
                let nested = workload.tasks.filter(\.nested).map(\.name)
                throw ScenarioError(file: file, keyPath: keyPath,
                                    problem: "'\(children.task)' names no task group"
                                        + (nested.isEmpty ? " (and no group is nested: true)"
                                           : "; nested groups: \(nested.joined(separator: ", "))"))
            }
            guard child != index else {
                throw ScenarioError(file: file, keyPath: keyPath,
                                    problem: "\(group.name) cannot submit itself (a nested group is a separate group)")
            }
            guard workload.tasks[child].nested else {
                throw ScenarioError(file: file, keyPath: keyPath,
                                    problem: "'\(children.task)' is submitted by the driver; a parent's children must be "
                                        + "a group with nested: true")
            }
            if let other = parentOf[child] {
                throw ScenarioError(file: file, keyPath: keyPath,
                                    problem: "'\(children.task)' is already the children of \(workload.tasks[other].name); "
                                        + "a nested group has one parent group")
            }
            parentOf[child] = index
        }
        for (index, group) in workload.tasks.enumerated() where group.nested {
            let keyPath = "workload.tasks[\(index)]"
            guard parentOf[index] != nil else {
                throw ScenarioError(file: file, keyPath: keyPath + ".nested",
                                    problem: "\(group.name) is nested but no group submits it (add children: "
                                        + "{task: \(group.name), count: N} to its parent)")
            }
            let unsupported: [(String, Bool)] = [
                ("args", !group.args.isEmpty), ("nested_args", !group.nestedArgs.isEmpty),
                ("placement_group", group.placementGroup != nil),
            ]
            for (key, present) in unsupported where present {
                throw ScenarioError(file: file, keyPath: keyPath + "." + key,
                                    problem: "a nested group's \(key) are not supported yet (its parent's body would "
                                        + "have to pass them)")
            }
            if case .nodeAffinity = group.strategy {
                throw ScenarioError(file: file, keyPath: keyPath + ".strategy",
                                    problem: "node affinity for a nested group is not supported yet (default or spread)")
            }
        }
        // Counts, parents first; a parent chain that never reaches a driver-submitted group is a cycle.
        var resolved = Set(workload.tasks.indices.filter { !workload.tasks[$0].nested })
        while resolved.count < workload.tasks.count {
            var progressed = false
            for (child, parent) in parentOf.sorted(by: { $0.key < $1.key })
            where !resolved.contains(child) && resolved.contains(parent) {
                let count = workload.tasks[parent].count * (workload.tasks[parent].children?.count ?? 0)
                guard count <= taskCountMax else {
                    throw ScenarioError(file: file, keyPath: "workload.tasks[\(parent)].children.count",
                                        problem: "\(workload.tasks[child].name) would have \(count) instances "
                                            + "(at most \(taskCountMax))")
                }
                workload.tasks[child].count = count
                resolved.insert(child)
                progressed = true
            }
            if !progressed {
                let start = workload.tasks.indices.first { !resolved.contains($0) } ?? 0
                var chain = [start]
                while let parent = parentOf[chain.last!], !chain.contains(parent) { chain.append(parent) }
                let names = (chain + [chain.last.flatMap { parentOf[$0] } ?? start]).map { workload.tasks[$0].name }
                throw ScenarioError(file: file, keyPath: "workload.tasks[\(start)].nested",
                                    problem: "cycle in children: \(names.reversed().joined(separator: " -> ")) "
                                        + "(some group up the chain must be submitted by the driver)")
            }
        }
        // An actor is created once the driver submitted its tasks: its constructor may take what the
        // driver holds by then (puts, and tasks that take no nested instance).
        for (actorIndex, actor) in workload.actors.enumerated() {
            for (argIndex, pattern) in actor.args.enumerated() {
                guard let index = indexByName[pattern.name] else { continue }
                let group = workload.tasks[index]
                let takesNested = (group.args + group.nestedArgs).contains { indexByName[$0.name].map { workload.tasks[$0].nested } ?? false }
                guard !takesNested else {
                    throw ScenarioError(file: file, keyPath: "workload.actors[\(actorIndex)].args[\(argIndex)]",
                                        problem: "\(group.name) takes nested instances, which the driver holds only once "
                                            + "their parents returned; an actor's args may name puts and tasks the driver "
                                            + "submits at once")
                }
            }
        }
        // The driver holds a reference to a nested instance only when its parent returns it
        // (`return_refs: true`: the driver borrows it), and uses it only to get it or to name its owner.
        for use in references.uses {
            guard let index = indexByName[use.reference.name], workload.tasks[index].nested,
                  let parent = parentOf[index] else { continue }
            let parentGroup = workload.tasks[parent]
            guard parentGroup.children?.returnRefs == true else {
                throw use.value.error("\(use.reference.name) is nested: its instances are made inside "
                    + "\(parentGroup.name)'s tasks and owned by their workers, and \(parentGroup.name) does not "
                    + "return their references (add return_refs: true to its children)")
            }
            guard use.purpose != .other else {
                throw use.value.error("\(use.reference.name) is nested: the driver borrows its instances from "
                    + "their owners through \(parentGroup.name)'s values, and may get them (get, expect.results), "
                    + "pass them to its tasks (args) or kill their owner (kill_worker: {owner_of:}); naming them "
                    + "here is not supported yet")
            }
            guard !parentGroup.nested else {
                throw use.value.error("\(use.reference.name)'s parent \(parentGroup.name) is nested itself: the "
                    + "driver reaches references returned one level down only (borrowers of borrowers come later)")
            }
        }
    }
}
