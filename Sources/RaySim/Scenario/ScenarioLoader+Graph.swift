// The task-group dependency graph from `args`: group A depends on group B when
// one of A's args names B. A group may name itself only as `name[i-K]` with
// K >= 1 (a chain over its own instances); any other cycle is an error that
// names it. The result is a stable topological order: among groups that are
// ready together, file order wins. Iterative throughout, so a long chain of
// groups cannot overflow the stack.

import HeapModule

extension ScenarioLoader {
    /// Task groups in submission order (dependencies first, otherwise file order).
    static func orderTaskGroups(workload: WorkloadSpec, file: String) throws(ScenarioError) -> [TaskGroupSpec] {
        let tasks = workload.tasks
        var indexByName: [String: Int] = [:]
        for (index, task) in tasks.enumerated() { indexByName[task.name] = index }

        // dependencies[k]: groups k's args name, in arg order, without repeats.
        var dependencies = Array(repeating: [Int](), count: tasks.count)
        for (index, task) in tasks.enumerated() {
            // Nested references must exist at submission too: they order groups like args.
            let named = task.args.enumerated().map { ("args", $0.offset, $0.element) }
                + task.nestedArgs.enumerated().map { ("nested_args", $0.offset, $0.element) }
            for (key, argumentIndex, argument) in named {
                guard let target = indexByName[argument.name] else { continue }
                if target == index {
                    if case .relative(_, let offset) = argument, offset <= -1 { continue }
                    throw ScenarioError(
                        file: file, keyPath: "workload.tasks[\(index)].\(key)[\(argumentIndex)]",
                        problem: "cycle in args: \(task.name) -> \(task.name) ('\(argument)' names its own group; only earlier instances such as \(task.name)[i-1] may be used)")
                }
                if !dependencies[index].contains(target) { dependencies[index].append(target) }
            }
        }

        var dependents = Array(repeating: [Int](), count: tasks.count)
        var unmetCounts = Array(repeating: 0, count: tasks.count)
        for (index, targets) in dependencies.enumerated() {
            unmetCounts[index] = targets.count
            for target in targets { dependents[target].append(index) }
        }
        var ready = Heap<Int>()
        for index in tasks.indices where unmetCounts[index] == 0 { ready.insert(index) }
        var order: [Int] = []
        order.reserveCapacity(tasks.count)
        while let next = ready.popMin() {
            order.append(next)
            for dependent in dependents[next] {
                unmetCounts[dependent] -= 1
                if unmetCounts[dependent] == 0 { ready.insert(dependent) }
            }
        }
        guard order.count == tasks.count else {
            throw cycleError(tasks: tasks, dependencies: dependencies, unmetCounts: unmetCounts, file: file)
        }
        return order.map { tasks[$0] }
    }

    /// Names one cycle among the groups left unordered. Each of them still has an unmet
    /// dependency that is itself left, so walking those edges must come back to a group.
    private static func cycleError(tasks: [TaskGroupSpec], dependencies: [[Int]], unmetCounts: [Int],
                                   file: String) -> ScenarioError {
        let remaining = tasks.indices.filter { unmetCounts[$0] > 0 }
        var path: [Int] = []
        var positionInPath: [Int: Int] = [:]
        var current = remaining.first ?? 0
        while positionInPath[current] == nil {
            positionInPath[current] = path.count
            path.append(current)
            guard let next = dependencies[current].first(where: { unmetCounts[$0] > 0 }) else { break }
            current = next
        }
        var cycle = Array(path[(positionInPath[current] ?? 0)...])
        // Start at the earliest group in the file, so the message does not depend on the walk.
        if let start = cycle.indices.min(by: { cycle[$0] < cycle[$1] }) {
            cycle = Array(cycle[start...] + cycle[..<start])
        }
        let first = cycle.first ?? 0
        let second = cycle.count > 1 ? cycle[1] : first
        let argumentIndex = tasks[first].args.firstIndex { $0.name == tasks[second].name } ?? 0
        let names = (cycle + [first]).map { tasks[$0].name }.joined(separator: " -> ")
        return ScenarioError(file: file, keyPath: "workload.tasks[\(first)].args[\(argumentIndex)]",
                             problem: "cycle in args: \(names)")
    }
}
