// The simulator's agenda: events ordered by (virtual time, sequence number).
// The heap holds small keys; payloads sit in a slot array so sifting moves
// 24 bytes, not whole messages. Equal times pop in scheduling order, which
// makes a run a pure function of its seed.

/// A priority queue of payloads keyed by (time, sequence).
struct EventQueue<Payload> {
    private struct Key {
        var time: Int64
        var sequence: UInt64
        var slot: Int32
        @inline(__always) static func < (lhs: Key, rhs: Key) -> Bool {
            lhs.time < rhs.time || (lhs.time == rhs.time && lhs.sequence < rhs.sequence)
        }
    }

    private var heap: [Key] = []
    private var payloads: [Payload?] = []
    private var freeSlots: [Int32] = []
    private var sequence: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    var nextTime: Int64? { heap.first?.time }

    mutating func push(_ payload: Payload, at time: Int64) {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            payloads[Int(free)] = payload
        } else {
            slot = Int32(payloads.count)
            payloads.append(payload)
        }
        sequence += 1
        heap.append(Key(time: time, sequence: sequence, slot: slot))
        siftUp(heap.count - 1)
    }

    mutating func pop() -> (time: Int64, payload: Payload)? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
        let payload = payloads[Int(top.slot)].take()!
        freeSlots.append(top.slot)
        return (top.time, payload)
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        let key = heap[child]
        while child > 0 {
            let parent = (child - 1) / 2
            guard key < heap[parent] else { break }
            heap[child] = heap[parent]
            child = parent
        }
        heap[child] = key
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        let key = heap[parent]
        let count = heap.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { break }
            let right = left + 1
            let child = right < count && heap[right] < heap[left] ? right : left
            guard heap[child] < key else { break }
            heap[parent] = heap[child]
            parent = child
        }
        heap[parent] = key
    }
}
