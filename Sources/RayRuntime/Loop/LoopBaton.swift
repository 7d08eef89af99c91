// Which thread runs an event loop. A worker runs its task bodies on the loop's
// own thread, between iterations (`EventLoop.runOutside`): no hand-off per task,
// which cost ≈ 30 % of task throughput when every body went to another thread.
// The loop must go on while a body waits (a `get` in the body needs the loop to
// bring the value) or computes for long (the worker's owner answers borrowers
// meanwhile), so the thread running a body can lose the loop to a spare thread:
//
// - a body about to block gives the loop away (`willBlock`);
// - a body that has run for `takeoverMicros` has its loop taken by the spare
//   that watches (it wakes every `takeoverMicros` while bodies ran recently).
//
// The thread that lost the loop finishes its body, hands the result to the
// loop (`post`) and parks as a spare. Holding the loop is what entitles a
// thread to touch the hosts' state; changes of holder happen under one mutex,
// so each holder sees what the previous one did.

import Glibc

final class LoopBaton: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
    private let condition: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)
    /// The thread running the loop (nil while a hand-off waits for a spare).
    private var holder: pthread_t?
    /// The holder is doing the loop's work from inside a body (`runIfHeld`): no takeover until it is done.
    private var pinned = 0
    /// Spares parked, and hand-offs offered to them not taken yet.
    private var parked = 0
    private var offered = 0
    /// The body running outside the loop's callbacks (0: none), numbered so the watcher can tell
    /// one long body from a stream of short ones; and when a body last ran (for the watcher's hysteresis).
    private var body: UInt64 = 0
    private var bodies: UInt64 = 0
    /// The thread running that body.
    private var bodyThread: pthread_t?
    private var lastBodyNanos: UInt64 = 0
    private var watcherIdle = false
    /// Whether a spare was made to watch bodies, and the parked spare that watches.
    private var watched = false
    private var watcher: pthread_t?
    private(set) var stopped = false
    /// How long a body may hold the loop before a spare takes it (0: never taken, only given).
    let takeoverNanos: UInt64
    /// How long after the last body the watcher keeps waking (then it sleeps until a body starts).
    private let watchWindowNanos: UInt64 = 200_000_000
    /// What a thread given the loop runs (the loop's iterations, until it loses the loop or stops).
    var serve: (() -> Void)?

    init(takeoverMicros: UInt64) {
        takeoverNanos = takeoverMicros * 1000
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// The calling thread takes the loop (the first `run`).
    func enter() {
        locked { holder = pthread_self() }
    }

    /// True when the calling thread runs the loop (it may lose it the next moment, from inside a
    /// body: to act on that, use `runIfHeld`).
    var isHeld: Bool {
        locked { holder.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    /// Runs `work` now if the calling thread holds the loop, and keeps it held until `work` is done
    /// (the watcher takes no loop meanwhile): true; false, without running it, otherwise. Checking
    /// `isHeld` and then acting raced with a takeover (a body preempted for `takeoverMicros` lost
    /// the loop while it went on touching the hosts' state: two threads in a worker's log at once).
    func runIfHeld(_ work: () -> Void) -> Bool {
        let held = locked { () -> Bool in
            guard let holder, pthread_equal(holder, pthread_self()) != 0 else { return false }
            pinned += 1
            return true
        }
        guard held else { return false }
        work()
        locked { pinned -= 1 }
        return true
    }

    /// A body starts on the holding thread; the watcher learns of it if it slept.
    func bodyStarts() {
        locked {
            bodies &+= 1
            body = bodies
            bodyThread = pthread_self()
            if !watched && takeoverNanos > 0 {
                watched = true  // The first body: a spare to watch it (and the ones after).
                spawn(holding: false)
            }
            if watcherIdle && takeoverNanos > 0 {
                watcherIdle = false
                pthread_cond_broadcast(condition)
            }
        }
    }

    /// The body on the calling thread ended: true when this thread still runs the loop (it goes
    /// on), false when another thread took it meanwhile.
    func bodyEnds() -> Bool {
        locked {
            body = 0
            bodyThread = nil
            lastBodyNanos = monotonicNanos()
            return holder.map { pthread_equal($0, pthread_self()) != 0 } ?? false
        }
    }

    /// The calling thread is about to block (a get or wait in a body): if it runs the loop,
    /// a spare runs it from now on. Returns whether it gave the loop away.
    @discardableResult
    func willBlock() -> Bool {
        locked {
            guard let holder, pthread_equal(holder, pthread_self()) != 0 else { return false }
            giveAway()
            return true
        }
    }

    /// With the mutex held: the loop goes to a parked spare, or to a new thread.
    private func giveAway() {
        holder = nil
        if parked > offered {
            offered += 1
            pthread_cond_broadcast(condition)
        } else {
            spawn(holding: true)
        }
    }

    /// With the mutex held: starts a thread that runs the loop (`holding`: the loop is given
    /// to it now) or parks as a spare.
    private func spawn(holding: Bool) {
        if holding { offered += 1 }
        parked += 1  // Counted from now, so a hand-off meanwhile waits for it rather than making another.
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { raw in
            let baton = Unmanaged<LoopBaton>.fromOpaque(raw!).takeRetainedValue()
            if baton.park(counted: true) { baton.serveAndPark() }
            return nil
        }, box)
        if created != 0 {
            Unmanaged<LoopBaton>.fromOpaque(box).release()
            fatalError("swiftray: cannot start a thread to run the event loop while a task body waits (error \(created))")
        }
        pthread_detach(thread)
    }

    /// Runs the loop while holding it; when it is lost, parks until given it again. Returns once stopped.
    func serveAndPark() {
        while true {
            serve?()
            guard park() else { return }
        }
    }

    /// Parks the calling thread (which does not hold the loop) until it is given the loop (true)
    /// or the loop stops (false). One parked spare watches the running body.
    private func park(counted: Bool = false) -> Bool {
        locked {
            if !counted { parked += 1 }
            defer { parked -= 1 }
            var seen: UInt64 = 0, seenAt: UInt64 = 0
            while !stopped {
                if offered > 0 {
                    offered -= 1
                    leaveWatch()
                    holder = pthread_self()
                    return true
                }
                guard takeoverNanos > 0, watcher.map({ pthread_equal($0, pthread_self()) != 0 }) ?? true else {
                    pthread_cond_wait(condition, mutex)
                    continue
                }
                watcher = pthread_self()
                let now = monotonicNanos()
                // Watch: a body seen running for a takeover's time has its loop taken.
                if body != 0, body == seen, now &- seenAt >= takeoverNanos, pinned == 0,
                   let running = holder, let bodyThread, pthread_equal(running, bodyThread) != 0 {
                    leaveWatch()
                    holder = pthread_self()
                    return true
                }
                if body != seen {
                    seen = body
                    seenAt = now
                }
                if body == 0 && now &- lastBodyNanos > watchWindowNanos {
                    watcherIdle = true
                    pthread_cond_wait(condition, mutex)
                } else {
                    var deadline = timespec()
                    clock_gettime(CLOCK_MONOTONIC, &deadline)
                    let nanos = UInt64(deadline.tv_nsec) + takeoverNanos
                    deadline.tv_sec += Int(nanos / 1_000_000_000)
                    deadline.tv_nsec = Int(nanos % 1_000_000_000)
                    pthread_cond_timedwait(condition, mutex, &deadline)
                }
            }
            leaveWatch()
            return false
        }
    }

    /// With the mutex held: the calling thread stops watching (another parked spare takes over).
    private func leaveWatch() {
        guard let watcher, pthread_equal(watcher, pthread_self()) != 0 else { return }
        self.watcher = nil
        pthread_cond_broadcast(condition)
    }

    /// The loop stops: every parked spare returns.
    func stop() {
        locked {
            stopped = true
            pthread_cond_broadcast(condition)
        }
    }
}

func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
