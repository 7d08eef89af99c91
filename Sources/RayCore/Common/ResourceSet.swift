// Resources in integer milli-units (`CPU: 1` is 1000), kept as a name-sorted
// array so that iteration order is deterministic in every process (Swift's
// Dictionary order is seeded per process and must never decide an effect).
// Mirrors Ray's fixed-point `ResourceSet` (ray/common/scheduling/resource_set.h).

/// A bag of named resource quantities in milli-units.
public struct ResourceSet: Sendable, Hashable, Codable, CustomStringConvertible {
    /// One resource and its quantity in milli-units; quantities are never zero.
    public struct Entry: Sendable, Hashable, Codable {
        public var name: String
        public var milli: Int64
        public init(name: String, milli: Int64) {
            self.name = name
            self.milli = milli
        }
    }

    /// Entries sorted by name, without zero quantities.
    public private(set) var entries: [Entry]

    /// The empty set.
    public init() { entries = [] }

    /// Builds a set from milli-unit quantities; zero quantities are dropped.
    public init(_ milli: [String: Int64]) {
        entries = milli.filter { $0.value != 0 }.map { Entry(name: $0.key, milli: $0.value) }
            .sorted { $0.name < $1.name }
    }

    /// Builds a set from entries already sorted by name, each name once, none zero (what a
    /// decoder reads from a peer that encoded a set); nil when they are not.
    public init?(sortedEntries: [Entry]) {
        for index in sortedEntries.indices {
            guard sortedEntries[index].milli != 0 else { return nil }
            if index > 0 && !(sortedEntries[index - 1].name < sortedEntries[index].name) { return nil }
        }
        entries = sortedEntries
    }

    /// Builds a set from whole units (`["CPU": 2]` is 2000 milli-CPU).
    public static func units(_ units: [String: Int64]) -> ResourceSet {
        ResourceSet(units.mapValues { $0 * 1000 })
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// The quantity of `name` in milli-units (0 when absent).
    public subscript(name: String) -> Int64 {
        for entry in entries where entry.name == name { return entry.milli }
        return 0
    }

    /// True when every quantity here is at most the same quantity in `other`.
    public func fits(in other: ResourceSet) -> Bool {
        // Both sorted by name: one walk (sets with a node's every group resource are long).
        var j = 0
        let b = other.entries
        for entry in entries where entry.milli > 0 {
            while j < b.count && b[j].name < entry.name { j += 1 }
            guard j < b.count, b[j].name == entry.name, b[j].milli >= entry.milli else { return false }
        }
        return true
    }

    /// True when no quantity is negative.
    public var isNonNegative: Bool { entries.allSatisfy { $0.milli >= 0 } }

    public static func + (lhs: ResourceSet, rhs: ResourceSet) -> ResourceSet {
        lhs.combined(with: rhs, sign: 1)
    }

    public static func - (lhs: ResourceSet, rhs: ResourceSet) -> ResourceSet {
        lhs.combined(with: rhs, sign: -1)
    }

    /// `self - other` with every quantity floored at zero (an estimate that must not go negative).
    public func subtractingClamped(_ other: ResourceSet) -> ResourceSet {
        var result = self - other
        result.entries.removeAll { $0.milli <= 0 }
        return result
    }

    private func combined(with other: ResourceSet, sign: Int64) -> ResourceSet {
        var result = ResourceSet()
        var i = 0, j = 0
        let a = entries, b = other.entries
        result.entries.reserveCapacity(max(a.count, b.count))
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i].name < b[j].name) {
                result.entries.append(a[i]); i += 1
            } else if i == a.count || b[j].name < a[i].name {
                result.entries.append(Entry(name: b[j].name, milli: sign * b[j].milli)); j += 1
            } else {
                let sum = a[i].milli + sign * b[j].milli
                if sum != 0 { result.entries.append(Entry(name: a[i].name, milli: sum)) }
                i += 1; j += 1
            }
        }
        return result
    }

    /// The share of `total` this set uses, as the maximum over resources, in 1/1000.
    /// Used by the hybrid scheduling policy's utilisation score.
    public func utilisationPermille(of total: ResourceSet) -> Int64 {
        var worst: Int64 = 0
        for entry in total.entries where entry.milli > 0 {
            let used = entry.milli - self[entry.name]
            worst = max(worst, used * 1000 / entry.milli)
        }
        return worst
    }

    public var description: String {
        "{" + entries.map { entry in
            let whole = entry.milli / 1000, frac = abs(entry.milli % 1000)
            return frac == 0 ? "\(entry.name): \(whole)" : "\(entry.name): \(whole).\(frac)"
        }.joined(separator: ", ") + "}"
    }
}
