// Reading a few fields of a large entry without copying the entry.

extension Dictionary {
    /// `body` applied to the value for `key` where it is stored (nil without one). Reading
    /// `dictionary[key]?.field` copies the whole value out first (every reference it holds
    /// retained, then released; `values[index]` too): on a machine's per-call path, reading a few
    /// fields of an actor's or a task's entry that way cost more than the work done with them.
    /// The value is reached through the mutating accessors, which move it rather than copy it;
    /// `body` only reads it.
    @inlinable
    public mutating func peek<R>(_ key: Key, _ body: (inout Value) throws -> R) rethrows -> R? {
        guard let index = index(forKey: key) else { return nil }
        return try body(&values[index])
    }
}
