// Waits, and the values a driver holds (`ResolvedValues`): both answered on the
// program's thread when the driver holds what they ask for; the loop is asked
// once per object a wait must watch.

import Dispatch
import Glibc
import Synchronization
public import RayCore

/// Small values this driver already holds (its inline puts, task returns that came back
/// inline or failed, and gets answered with inline data), and objects a wait saw become ready:
/// a get of a held value, and a wait, are answered on the caller's thread without a trip
/// through the loop, as Ray's core worker answers from its in-process memory store. Values
/// never change; an entry goes when the driver drops its last handle (removed on the loop
/// thread). Waits sleep here until something they may want arrives.
final class ResolvedValues: Sendable {
    private enum Entry {
        case value(ObjectValue)
        /// Ready, but the value is not held here (a stored copy exists, as the owner knew it).
        case ready
        /// A wait asked the loop to watch it; not ready yet.
        case watched
    }
    private struct State {
        var entries: [ObjectID: Entry] = [:]
        /// Waits sleeping until the next arrival.
        var sleepers: [DispatchSemaphore] = []

        mutating func wake() {
            guard !sleepers.isEmpty else { return }
            for sleeper in sleepers { sleeper.signal() }
            sleepers.removeAll(keepingCapacity: true)
        }
    }
    private let state = Mutex(State())
    /// Counts arrivals (stores and objects marked ready), read without the lock by a wait that
    /// polls briefly before it sleeps.
    private let arrivalCount = Atomic<UInt64>(0)

    /// How many arrivals there were so far (a wait polls it to see whether to look again).
    var arrivals: UInt64 { arrivalCount.load(ordering: .acquiring) }

    func lookup(_ object: ObjectID) -> ObjectValue? {
        state.withLock { state in
            guard case .value(let value)? = state.entries[object] else { return nil }
            return value
        }
    }

    func store(_ object: ObjectID, _ value: ObjectValue) {
        state.withLock { state in
            state.entries[object] = .value(value)
            arrivalCount.add(1, ordering: .releasing)
            state.wake()
        }
    }

    /// `objects`, which a wait asked to watch, are ready though their values are not held here.
    func markReady(_ objects: [ObjectID]) {
        guard !objects.isEmpty else { return }
        state.withLock { state in
            for object in objects {
                // Not if the program dropped it meanwhile (the entry went with its last handle).
                if case .watched? = state.entries[object] { state.entries[object] = .ready }
            }
            arrivalCount.add(1, ordering: .releasing)
            state.wake()
        }
    }

    func remove(_ object: ObjectID) { _ = state.withLock { $0.entries.removeValue(forKey: object) } }

    /// How many values are held (diagnostics).
    var count: Int {
        state.withLock { state in
            state.entries.values.reduce(0) { count, entry in
                if case .value = entry { return count + 1 }
                return count
            }
        }
    }

    /// The indices of the first `count` of `objects` known ready here, in input order (one lock
    /// and one lookup per object). When fewer are, the objects nobody asked the loop to watch
    /// yet are returned (marked as asked: the caller asks) with `watch`, and `sleeper` is
    /// signalled at the next arrival.
    func firstReady(_ objects: [ObjectID], count: Int, watch: Bool = false,
                    sleeper: DispatchSemaphore? = nil) -> (ready: [Int], toWatch: [ObjectID]) {
        state.withLock { state in
            var found: [Int] = []
            found.reserveCapacity(count)
            var unasked: [ObjectID] = []
            for index in objects.indices {
                switch state.entries[objects[index]] {
                case .value?, .ready?:
                    found.append(index)
                    if found.count == count { return (found, []) }
                case .watched?:
                    break
                case nil:
                    unasked.append(objects[index])
                }
            }
            if let sleeper { state.sleepers.append(sleeper) }
            guard watch else { return (found, []) }
            for object in unasked { state.entries[object] = .watched }
            return (found, unasked)
        }
    }

    /// Stops signalling `sleeper` (its wait is over).
    func forget(_ sleeper: DispatchSemaphore) {
        state.withLock { state in state.sleepers.removeAll { $0 === sleeper } }
    }
}

extension DriverHost {
    /// For a wait (which marked `objects` as watched in `resolved`, so each comes here once):
    /// marks what is ready now (a value, an error, a live stored copy, as the owner knows it) and
    /// watches the rest with a get each, which marks it when it resolves.
    func watchForWait(_ objects: [ObjectID]) {
        var readyNow: [ObjectID] = []
        for object in objects {
            if owner.machine.isReady(object) {  // The owner's rule, not a copy of it.
                readyNow.append(object)
                continue
            }
            let waiter = GetWaiter()
            waiter.onResolved = { [unowned self] in resolved.markReady([object]) }
            get(object, waiter)
        }
        resolved.markReady(readyNow)
    }
}

extension DriverClient {
    /// Waits until `numReturns` of `objects` are ready or the timeout passes; returns the
    /// indices of `numReturns` ready ones in input order (as Ray: never more; fewer only when
    /// the timeout passed). Readiness is read on the caller's thread (`ResolvedValues`); the
    /// loop is asked once per object to watch what is not known ready yet.
    public func wait(_ objects: [ObjectID], numReturns: Int, timeoutSeconds: Double?) -> [Int] {
        let host = self.host!
        let needed = min(numReturns, objects.count)
        guard needed > 0 else { return [] }
        let resolved = host.resolved
        let deadline = timeoutSeconds.map { DispatchTime.now() + max(0, $0) } ?? .distantFuture
        let sleeper = DispatchSemaphore(value: 0)
        let pollNanos = loop.spinMicros * 1000
        // In a worker, a wait that has to wait lends its lease's CPUs (`onBlock`) until it returns.
        var blocked = false
        defer { if blocked { onBlock?(false) } }
        while true {
            // First without a sleeper: while this wait polls, an arrival costs the loop no wake-up.
            let seen = resolved.arrivals
            let (found, toWatch) = resolved.firstReady(objects, count: needed, watch: true)
            if found.count == needed { return found }
            if !toWatch.isEmpty {
                loop.post { host.watchForWait(toWatch) }
            }
            if !blocked, let onBlock {
                blocked = true
                onBlock(true)
            }
            // Poll briefly (as the event loops do: a sleeping thread wakes slowly on a VM), then sleep.
            let pollStart = DispatchTime.now().uptimeNanoseconds
            while resolved.arrivals == seen {
                let now = DispatchTime.now()
                guard now.uptimeNanoseconds - pollStart < pollNanos && now < deadline else { break }
                sched_yield()
            }
            if resolved.arrivals != seen { continue }
            let (again, _) = resolved.firstReady(objects, count: needed, sleeper: sleeper)
            if again.count == needed {
                resolved.forget(sleeper)
                return again
            }
            if sleeper.wait(timeout: deadline) == .timedOut {
                resolved.forget(sleeper)
                // Out of time: what is ready once the loop looked at what waits asked about.
                let looked = DispatchSemaphore(value: 0)
                loop.post { looked.signal() }
                looked.wait()
                return resolved.firstReady(objects, count: needed).ready
            }
        }
    }
}
