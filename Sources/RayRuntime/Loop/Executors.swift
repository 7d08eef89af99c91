// Where Swift concurrency runs SwiftRay's async work, so that an actor call
// costs no thread hop beyond the ones its messages need.
//
// - `LoopExecutor`: a worker's actor calls run on the worker's loop thread,
//   between iterations, as task bodies do (`EventLoop.runOutside`): the call's
//   message arrives on that thread, and its end goes out from it. Through the
//   global pool each call cost two wake-ups (loop → pool → loop), about a
//   quarter of a synchronous call's time on this machine. A default actor runs
//   its methods on its task's preferred executor (SE-0417), so the user's
//   `distributed actor` needs nothing.
// - `CallingThreadExecutor`: `Ray.blocking { … }` runs its body on the
//   calling thread, which waits for it anyway, instead of on a pool thread it
//   would then wait for.

import Glibc

/// Runs jobs on an event loop's thread, each as a body outside the loop's callbacks (so a long or
/// blocking one loses the loop to a spare thread, as a task body does).
public final class LoopExecutor: TaskExecutor, @unchecked Sendable {
    private let loop: EventLoop

    public init(loop: EventLoop) { self.loop = loop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let queue: @Sendable () -> Void = { [self] in
            loop.runOutside({ [self] in job.runSynchronously(on: asUnownedTaskExecutor()) }, then: { _ in })
        }
        // From the loop's own thread (a call resumed by a reply, a call's next job): queued directly.
        if !loop.runIfLoopThread(queue) { loop.post(queue) }
    }
}

/// Runs jobs on the one thread that calls `run()`; jobs enqueued once it returned go to the
/// global pool. (Polling before sleeping, as the loop does, was measured slower here: with two
/// cores the poller takes the CPU the loop answering it needs.)
public final class CallingThreadExecutor: TaskExecutor, @unchecked Sendable {
    /// Guarded by `mutex`.
    private var jobs: [UnownedJob] = []
    private var finished = false
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
    private let condition: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        let taken = !finished
        if taken {
            jobs.append(job)
            pthread_cond_signal(condition)
        }
        pthread_mutex_unlock(mutex)
        // The waiting thread is gone: the pool runs what is left of the task.
        if !taken { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }

    /// Runs enqueued jobs on the calling thread until `finish()` was called (by one of them, or
    /// on any thread: the task may have moved to another executor); later jobs go to the global pool.
    public func run() {
        pthread_mutex_lock(mutex)
        while true {
            while jobs.isEmpty && !finished { pthread_cond_wait(condition, mutex) }
            if jobs.isEmpty { break }
            let next = jobs.removeFirst()
            pthread_mutex_unlock(mutex)
            next.runSynchronously(on: asUnownedTaskExecutor())
            pthread_mutex_lock(mutex)
        }
        pthread_mutex_unlock(mutex)
    }

    /// The work `run()` waited for is done: it returns once the job running now ends.
    public func finish() {
        pthread_mutex_lock(mutex)
        finished = true
        let left = jobs
        jobs.removeAll()
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
        for job in left { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }
}
