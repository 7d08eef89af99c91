// Synthetic task bodies (../SCENARIOS.md "Synthetic work"): wait `duration`,
// then return `output` bytes whose content is a deterministic function of
// (task name, instance index, the digests of its arguments). A value rebuilt
// from lineage must therefore be identical to the original, and a value built
// from the wrong inputs cannot pass the checker.

public import RayCore

/// Body parameters as they travel in `TaskSpec.body`.
public enum SyntheticBody {
    public static let durationIndex = 0, outputIndex = 1, failKindIndex = 2, holdIndex = 3
    public static let failProbabilityIndex = 4, failAttemptsIndex = 5

    /// 0: never fails; 1: raises; 2: crashes its worker.
    public static func encode(_ group: TaskGroupSpec) -> [Int64] {
        let failKind: Int64
        switch group.fail?.kind {
        case nil: failKind = 0
        case .exception?: failKind = 1
        case .crash?: failKind = 2
        }
        let probability = Int64(((group.fail?.probability ?? 0) * 1_000_000).rounded())
        return [group.durationMicros, group.outputBytes, failKind, group.holdMicros, probability,
                Int64(group.fail?.attempts ?? 0)]
    }
}

/// Content digests of synthetic values.
public enum SyntheticContent {
    /// The digest of `name[instance]`'s output given its arguments' digests.
    public static func digest(name: String, instance: Int, argumentDigests: [UInt64]) -> UInt64 {
        var digest = Digest()
        digest.add(name)
        digest.add(UInt64(instance))
        for argument in argumentDigests { digest.add(argument) }
        return digest.finalized
    }

    /// The digest of the put object `name`.
    public static func putDigest(name: String, index: Int = 0) -> UInt64 {
        digest(name: "put:" + name, instance: index, argumentDigests: [])
    }
}

/// One instance of a task group, or a put (index 0, or one of a put's `count` objects).
public struct InstanceRef: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var name: String
    public var index: Int
    public var isPut: Bool
    /// A put of several objects (`count`), written with its index; not part of its identity.
    public var counted: Bool
    public init(name: String, index: Int, isPut: Bool, counted: Bool = false) {
        self.name = name
        self.index = index
        self.isPut = isPut
        self.counted = counted
    }
    public static func < (lhs: InstanceRef, rhs: InstanceRef) -> Bool { (lhs.name, lhs.index) < (rhs.name, rhs.index) }
    public static func == (lhs: InstanceRef, rhs: InstanceRef) -> Bool {
        lhs.index == rhs.index && lhs.isPut == rhs.isPut && lhs.name == rhs.name
    }

    /// Cheap to hash: the index and the name's length (equality still compares names).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(index &* 1024 &+ name.utf8.count)
    }
    public var description: String { isPut && !counted ? name : "\(name)[\(index)]" }
}

/// Resolves scenario references and computes every expected value.
public struct WorkloadPlan: Sendable {
    public let groups: [String: TaskGroupSpec]
    public let puts: [String: PutSpec]
    /// Expected output digest of every instance and put.
    public private(set) var expectedDigests: [InstanceRef: UInt64] = [:]

    public init(_ workload: WorkloadSpec) {
        var groups: [String: TaskGroupSpec] = [:]
        for group in workload.tasks { groups[group.name] = group }
        var puts: [String: PutSpec] = [:]
        for put in workload.puts { puts[put.name] = put }
        self.groups = groups
        self.puts = puts
        for put in workload.puts {
            for index in 0..<put.count {
                expectedDigests[InstanceRef(name: put.name, index: index, isPut: true)] =
                    SyntheticContent.putDigest(name: put.name, index: index)
            }
        }
        // Groups in dependency order (args first: the loader ordered them so), except that a
        // parent that gets its children's values waits for their group.
        var pending = workload.tasks
        while !pending.isEmpty {
            let before = pending.count
            var waiting: [TaskGroupSpec] = []
            for group in pending {
                guard isComputable(group) else {
                    waiting.append(group)
                    continue
                }
                addDigests(of: group)
            }
            pending = waiting
            if pending.count == before { break }  // A cycle the loader rejects; never here.
        }
    }

    /// True when every digest `group`'s instances depend on is known: its arguments' in other
    /// groups (its own earlier instances come first within it), and its children's if it gets them.
    private func isComputable(_ group: TaskGroupSpec) -> Bool {
        for index in 0..<group.count {
            for ref in arguments(of: group, instance: index) where ref.name != group.name && expectedDigests[ref] == nil {
                return false
            }
        }
        guard let children = group.children, children.get else { return true }
        return (0..<(groups[children.task]?.count ?? 0)).allSatisfy {
            expectedDigests[InstanceRef(name: children.task, index: $0, isPut: false)] != nil
        }
    }

    /// The expected digests of every instance of `group` (its arguments' and, when it gets
    /// them, its children's digests known).
    private mutating func addDigests(of group: TaskGroupSpec) {
        for index in 0..<group.count {
            let args = arguments(of: group, instance: index)
            // A nested reference is passed as a reference: it adds no content (digest 0).
            let nested = nestedArguments(of: group, instance: index).map { _ in UInt64(0) }
            var digests = args.map { expectedDigests[$0] ?? 0 } + nested
            if let children = group.children, children.get {
                digests += childInstances(of: group, instance: index).map { expectedDigests[$0] ?? 0 }
            }
            expectedDigests[InstanceRef(name: group.name, index: index, isPut: false)] =
                SyntheticContent.digest(name: group.name, instance: index, argumentDigests: digests)
        }
    }

    /// The children `group[instance]`'s body submits, in order: numbered across parents
    /// (`parent[0]` submits `leaf[0]`..`leaf[n-1]`, `parent[1]` the next n).
    public func childInstances(of group: TaskGroupSpec, instance: Int) -> [InstanceRef] {
        guard let children = group.children else { return [] }
        return (0..<children.count).map {
            InstanceRef(name: children.task, index: instance * children.count + $0, isPut: false)
        }
    }

    /// What the body of `function[instance]` submits, in order (empty unless it has children):
    /// the same requests in both worlds.
    public func childRequests(function: String, instance: Int) -> [TaskRequest] {
        guard let group = groups[function], let children = group.children, let child = groups[children.task] else {
            return []
        }
        let body = SyntheticBody.encode(child)
        let strategy: SchedulingStrategy = child.strategy == .spread ? .spread : .default
        return childInstances(of: group, instance: instance).map { ref in
            TaskRequest(function: child.name, instance: ref.index, args: [], resources: child.resources,
                        strategy: strategy, maxRetries: child.maxRetries, retryExceptions: child.retryExceptions,
                        body: body)
        }
    }

    /// True when `function`'s body gets its children's values before it returns.
    public func getsChildren(_ function: String) -> Bool { groups[function]?.children?.get ?? false }

    /// True when `function`'s body returns its children's references (`return_refs: true`).
    public func returnsChildren(_ function: String) -> Bool { groups[function]?.children?.returnRefs ?? false }

    /// The parent instance whose body submits the nested instance `ref`, and `ref`'s position
    /// among its children (nil for an instance the driver submits).
    public func parent(of ref: InstanceRef) -> (parent: InstanceRef, position: Int)? {
        guard !ref.isPut, groups[ref.name]?.nested == true,
              let parent = groups.values.first(where: { $0.children?.task == ref.name }),
              let count = parent.children?.count, count > 0 else { return nil }
        return (InstanceRef(name: parent.name, index: ref.index / count, isPut: false), ref.index % count)
    }

    /// The instances a reference names; `instance` is the one being defined (for `name[i±k]`).
    public func resolve(_ pattern: RefPattern, relativeTo instance: Int? = nil) -> [InstanceRef] {
        let count: Int, make: (Int) -> InstanceRef
        if let put = puts[pattern.name] {
            count = put.count
            make = { InstanceRef(name: put.name, index: $0, isPut: true, counted: put.count > 1) }
        } else if let group = groups[pattern.name] {
            count = group.count
            make = { InstanceRef(name: group.name, index: $0, isPut: false) }
        } else {
            return []
        }
        switch pattern {
        case .instance(_, let index): return index < count ? [make(index)] : []
        case .all: return (0..<count).map(make)
        case .bare: return count >= 1 ? [make(0)] : []
        case .relative(_, let offset):
            guard let instance else { return [] }
            let index = instance + offset
            return index >= 0 && index < count ? [make(index)] : []
        }
    }

    /// The argument instances of `group[instance]`, in order.
    public func arguments(of group: TaskGroupSpec, instance: Int) -> [InstanceRef] {
        group.args.flatMap { resolve($0, relativeTo: instance) }
    }

    /// The instances `group[instance]` receives inside an argument (borrowed), in order.
    public func nestedArguments(of group: TaskGroupSpec, instance: Int) -> [InstanceRef] {
        group.nestedArgs.flatMap { resolve($0, relativeTo: instance) }
    }

    /// Expected size of an instance's value.
    public func expectedSize(_ ref: InstanceRef) -> Int64 {
        ref.isPut ? (puts[ref.name]?.sizeBytes ?? 0) : (groups[ref.name]?.outputBytes ?? 0)
    }
}
