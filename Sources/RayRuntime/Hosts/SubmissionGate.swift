// The bound on what one owner has submitted and not yet seen end (issue 12:
// every queue bounded, the producer waits). A program submitting past it
// waits in `.remote` / an actor call until tasks end — backpressure, never
// unbounded growth of the owner's task table, never a dropped submission.
//
// Counted on both sides without a lock on the hot path: the program's threads
// count what they submit, the loop publishes the owner's count of tasks ended
// (`Owner.Metrics.tasksEnded`) after each step; a submitter waits only when the
// difference is past the limit.

import Foundation
import Synchronization

final class SubmissionGate: @unchecked Sendable {
    /// Unfinished tasks (and actor calls) one owner may hold; SWIFTRAY_MAX_PENDING_TASKS.
    static let defaultLimit = 1_000_000

    let limit: Int
    private let submitted = Atomic<Int>(0)
    private let ended = Atomic<Int>(0)
    private let waiters = Atomic<Int>(0)
    private let condition = NSCondition()
    /// The loop thread's last published count (read only there).
    private var lastEnded = 0
    /// Submissions that had to wait (diagnostics, tests).
    let waited = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// The limit from SWIFTRAY_MAX_PENDING_TASKS, or the default; a value that is not a positive
    /// whole number is refused by name.
    static func limitFromEnvironment() throws(RuntimeError) -> Int {
        try positiveSetting("SWIFTRAY_MAX_PENDING_TASKS") ?? defaultLimit
    }

    /// A program's thread, before it hands the loop a submission: returns at once while the
    /// owner holds fewer than `limit` unfinished ones, else once enough have ended. `blocking`
    /// is told before and after a wait (a task body lends its CPUs and its worker's loop).
    func admit(blocking: ((Bool) -> Void)?) {
        let count = submitted.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
        guard count - ended.load(ordering: .sequentiallyConsistent) > limit else { return }
        waited.wrappingAdd(1, ordering: .relaxed)
        blocking?(true)
        condition.lock()
        waiters.wrappingAdd(1, ordering: .sequentiallyConsistent)
        while submitted.load(ordering: .sequentiallyConsistent) - ended.load(ordering: .sequentiallyConsistent) > limit {
            condition.wait()
        }
        waiters.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        condition.unlock()
        blocking?(false)
    }

    /// The loop thread, after each step: the owner's count of tasks ended so far.
    func noteEnded(_ total: Int) {
        guard total != lastEnded else { return }
        lastEnded = total
        ended.store(total, ordering: .sequentiallyConsistent)
        guard waiters.load(ordering: .sequentiallyConsistent) > 0 else { return }
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }
}
