// Reading one field of a large entry without copying the entry.

extension Dictionary {
    /// `body` applied to the value for `key` where it is stored (nil without one). The
    /// subscript's getter copies the whole value out (every reference it holds retained, then
    /// released): on a machine's per-call path, reading a few fields of an actor's or a task's
    /// entry that way cost more than the work done with them.
    @inlinable
    public func peek<R>(_ key: Key, _ body: (Value) throws -> R) rethrows -> R? {
        guard let index = index(forKey: key) else { return nil }
        return try body(values[index])
    }
}
