// Synthetic task bodies (../SCENARIOS.md "Synthetic work"): wait `duration`,
// then return `output` bytes whose content is a deterministic function of
// (task name, instance index, the digests of its arguments). A value rebuilt
// from lineage must therefore be identical to the original, and a value built
// from the wrong inputs cannot pass the checker.

import RayCore

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
    public static func putDigest(name: String) -> UInt64 {
        digest(name: "put:" + name, instance: 0, argumentDigests: [])
    }
}

/// One instance of a task group, or a put (index 0).
public struct InstanceRef: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var name: String
    public var index: Int
    public var isPut: Bool
    public init(name: String, index: Int, isPut: Bool) {
        self.name = name
        self.index = index
        self.isPut = isPut
    }
    public static func < (lhs: InstanceRef, rhs: InstanceRef) -> Bool { (lhs.name, lhs.index) < (rhs.name, rhs.index) }

    /// Cheap to hash: the index and the name's length (equality still compares names).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(index &* 1024 &+ name.utf8.count)
    }
    public var description: String { isPut ? name : "\(name)[\(index)]" }
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
            expectedDigests[InstanceRef(name: put.name, index: 0, isPut: true)] = SyntheticContent.putDigest(name: put.name)
        }
        for group in workload.tasks {
            for index in 0..<group.count {
                let args = arguments(of: group, instance: index)
                // A nested reference is passed as a reference: it adds no content (digest 0).
                let nested = nestedArguments(of: group, instance: index).map { _ in UInt64(0) }
                let digests = args.map { expectedDigests[$0] ?? 0 } + nested
                expectedDigests[InstanceRef(name: group.name, index: index, isPut: false)] =
                    SyntheticContent.digest(name: group.name, instance: index, argumentDigests: digests)
            }
        }
    }

    /// The instances a reference names; `instance` is the one being defined (for `name[i±k]`).
    public func resolve(_ pattern: RefPattern, relativeTo instance: Int? = nil) -> [InstanceRef] {
        if puts[pattern.name] != nil { return [InstanceRef(name: pattern.name, index: 0, isPut: true)] }
        guard let group = groups[pattern.name] else { return [] }
        let make = { (index: Int) in InstanceRef(name: group.name, index: index, isPut: false) }
        switch pattern {
        case .instance(_, let index): return index < group.count ? [make(index)] : []
        case .all: return (0..<group.count).map(make)
        case .bare: return group.count >= 1 ? [make(0)] : []
        case .relative(_, let offset):
            guard let instance else { return [] }
            let index = instance + offset
            return index >= 0 && index < group.count ? [make(index)] : []
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
