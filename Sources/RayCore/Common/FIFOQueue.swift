// A first-in-first-out queue on an array with a moving head: O(1) amortised
// push and pop without Foundation or external collections.

/// A FIFO queue.
public struct FIFOQueue<Element>: Sendable where Element: Sendable {
    private var storage: [Element] = []
    private var head = 0

    public init() {}

    public var isEmpty: Bool { head == storage.count }
    public var count: Int { storage.count - head }
    public var first: Element? { isEmpty ? nil : storage[head] }
    public var last: Element? { isEmpty ? nil : storage.last }

    public mutating func append(_ element: Element) { storage.append(element) }

    @discardableResult
    public mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        if head > 64 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

    /// Removes every element for which `shouldRemove` is true, keeping order.
    public mutating func removeAll(where shouldRemove: (Element) -> Bool) {
        storage = Array(storage[head...].filter { !shouldRemove($0) })
        head = 0
    }

    /// The elements in order.
    public var elements: ArraySlice<Element> { storage[head...] }
}
