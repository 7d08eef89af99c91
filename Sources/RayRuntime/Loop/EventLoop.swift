// One libuv loop per process. Everything a host does runs on the loop's
// thread: socket callbacks, timers, child-process exits. Other threads (the
// Swift API in a driver) only `post` closures, which the loop runs in order.
//
// Group commit: once per loop iteration, just before the loop blocks for I/O
// (libuv's prepare phase), the hosts' `beforeBlocking` hooks run: they commit
// the inputs logged during the iteration in one LMDB transaction, then flush
// the frames queued for each connection, one write per connection.

import CLibUV
import Glibc
import Synchronization

/// A libuv loop and the work queued for it from other threads.
public final class EventLoop: @unchecked Sendable {
    let raw: UnsafeMutablePointer<uv_loop_t>
    private let wakeup: UnsafeMutablePointer<uv_async_t>
    private let prepare: UnsafeMutablePointer<uv_prepare_t>
    private let inbox = Mutex<[@Sendable () -> Void]>([])
    /// Hooks run before the loop blocks, in registration order.
    private var beforeBlocking: [() -> Void] = []
    /// Connections with frames queued since the last flush.
    var dirtyConnections: [Connection] = []
    /// Counts callbacks that did work (reads, posted work, timers), to tell a busy loop from an idle one.
    var activity: UInt64 = 0
    private var stopped = false
    /// How long the loop keeps polling after its last work before it sleeps in the kernel
    /// (SWIFTRAY_SPIN_MICROS, default 100; 0 turns it off). On a VM a sleeping CPU wakes slowly
    /// (an inter-processor interrupt, ~25 µs here), so a short poll catches a peer's quick
    /// answer: task round trips drop from ~300 to ~150 µs, at the price of some CPU (and of
    /// ~15% of async throughput on 2 cores) — see README, Performance.
    /// The cluster's secret: every connection on this loop authenticates with it first
    /// (nil: none do, and every SwiftRay peer refuses them).
    public var secret: ClusterSecret?
    /// TLS for this loop's TCP connections (nil: plain).
    public var tls: TLSContext?
    /// What control replies to drivers and workers may cost per second (nil: unmetered).
    public var controlReplyBudget: ControlReplyBudget?
    public var spinMicros: UInt64 = UInt64(environment("SWIFTRAY_SPIN_MICROS") ?? "") ?? 100
    /// Who runs the loop (task bodies may hand it to a spare thread: `runOutside`).
    private let baton = LoopBaton(takeoverMicros: UInt64(environment("SWIFTRAY_TAKEOVER_MICROS") ?? "") ?? 10_000)
    /// Work run on the loop's thread outside its callbacks, in order (`runOutside`).
    private var outside: [() -> Bool] = []

    public init() {
        raw = .allocate(capacity: 1)
        uv_loop_init(raw)
        wakeup = .allocate(capacity: 1)
        prepare = .allocate(capacity: 1)
        let me = Unmanaged.passUnretained(self).toOpaque()
        uv_async_init(raw, wakeup) { handle in
            guard let data = handle?.pointee.data else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().drainInbox()
        }
        wakeup.pointee.data = me
        uv_prepare_init(raw, prepare)
        prepare.pointee.data = me
        uv_prepare_start(prepare) { handle in
            guard let data = handle?.pointee.data else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().runBeforeBlocking()
        }
    }

    /// Runs `work` on the loop thread, after what was posted before it. Callable from any thread.
    public func post(_ work: @escaping @Sendable () -> Void) {
        inbox.withLock { $0.append(work) }
        uv_async_send(wakeup)
    }

    /// Registers a hook run once per iteration before the loop blocks (loop thread only).
    public func onBeforeBlocking(_ hook: @escaping () -> Void) {
        beforeBlocking.append(hook)
    }

    /// Runs the loop until `stop()`. Returns on the thread that called it, even when other
    /// threads ran the loop meanwhile (while a body waited: `runOutside`).
    public func run() {
        baton.serve = { [unowned self] in iterate() }
        baton.enter()
        baton.serveAndPark()
    }

    /// The loop's iterations on the thread that holds it, until the loop stops or the thread
    /// loses it (in a body run outside the callbacks).
    private func iterate() {
        guard spinMicros > 0 else {
            while !stopped {
                uv_run(raw, UV_RUN_ONCE)
                if !runOutsideWork() { return }
            }
            return
        }
        let window = spinMicros * 1000
        var lastActive = uv_hrtime()
        while !stopped {
            let before = activity
            uv_run(raw, UV_RUN_NOWAIT)
            if stopped { break }
            if !runOutsideWork() { return }
            if activity != before {
                lastActive = uv_hrtime()
            } else if uv_hrtime() - lastActive < window {
                sched_yield()
            } else {
                uv_run(raw, UV_RUN_ONCE)
                if !runOutsideWork() { return }
                lastActive = uv_hrtime()
            }
        }
    }

    /// Runs `body` on the loop's thread after this iteration's callbacks, outside them (a task
    /// body: it may wait for the loop), then `then` with its result on the loop. Loop thread only.
    ///
    /// While `body` runs the thread may lose the loop to a spare thread: when the body blocks
    /// (`willBlock`, before a get or wait) or runs longer than `SWIFTRAY_TAKEOVER_MICROS`
    /// (default 10 000; 0: only when it blocks). Then `then` is posted to the loop, and this thread
    /// parks as a spare once `body` returns.
    public func runOutside<R>(_ body: @escaping () -> R, then: @escaping (R) -> Void) {
        outside.append { [unowned(unsafe) self] in  // The loop owns `outside`: never outlives it.
            baton.bodyStarts()
            let result = body()
            if baton.bodyEnds() {
                then(result)
                return true
            }
            nonisolated(unsafe) let finished = (result, then)
            post { finished.1(finished.0) }
            return false
        }
    }

    /// Runs the work queued outside the callbacks; false when this thread lost the loop meanwhile.
    private func runOutsideWork() -> Bool {
        while !outside.isEmpty {
            activity &+= 1
            // What the last body's end sent (an actor's reply) goes before the next body runs:
            // an actor runs its queued calls back to back, and its callers wait for each reply.
            flushConnections()
            let work = outside.removeFirst()
            if !work() { return false }
        }
        return true
    }

    /// Called by a thread about to block waiting for the loop: if it runs the loop (a body run
    /// outside the callbacks), another thread runs it from now on. Any thread.
    public func willBlock() {
        baton.willBlock()
    }

    /// True on the thread that runs the loop now.
    public var isLoopThread: Bool { baton.isHeld }

    /// Runs `work` now if the calling thread runs the loop (a body on the loop's thread), keeping
    /// the loop meanwhile: true; false (nothing run) on any other thread, or once the body lost
    /// the loop. Code in a body acts on the loop's state only this way (or by `post`).
    public func runIfLoopThread(_ work: () -> Void) -> Bool { baton.runIfHeld(work) }

    /// Makes `run()` return after this iteration (loop thread only).
    public func stop() {
        runBeforeBlocking()
        stopped = true
        baton.stop()
        uv_stop(raw)
    }

    /// Microseconds on the loop's monotonic clock (one clock read: every machine step reads it).
    public var nowMicros: Int64 {
        Int64(uv_hrtime() / 1000)
    }

    /// Starts a one-shot timer; the returned handle can cancel it.
    @discardableResult
    public func timer(afterMicros: Int64, _ fire: @escaping () -> Void) -> LoopTimer {
        // libuv counts a timer from the time it cached for this iteration: refreshed, so a timer
        // started late in a long iteration does not fire early.
        uv_update_time(raw)
        return LoopTimer(loop: self, afterMicros: afterMicros, fire: fire)
    }

    /// Frames at least this large (executables, object chunks) leave freed heap pages behind.
    static let largeBufferBytes = 1 << 20
    private var trimScheduled = false
    /// When the last large buffer passed through.
    private var largeBufferAt: Int64 = 0
    /// How long no large buffer must pass before the heap is trimmed.
    static let trimQuietMicros: Int64 = 200_000

    /// Large buffers passed through: once they stop, hand the heap's free pages back to the
    /// system (glibc keeps them otherwise: a shipped executable left tens of MB resident).
    /// Not while they keep coming: an object streamed in chunks would fault in fresh pages
    /// for every chunk (≈ 1 s of page faults per GiB on this VM).
    func trimSoon() {
        largeBufferAt = nowMicros
        guard !trimScheduled else { return }
        trimScheduled = true
        trimWhenQuiet(afterMicros: Self.trimQuietMicros)
    }

    private func trimWhenQuiet(afterMicros delay: Int64) {
        // The loop fires its timers only while it runs (no `weak`: see Lifeline).
        timer(afterMicros: delay) { [unowned self] in
            let quiet = nowMicros - largeBufferAt
            if quiet < Self.trimQuietMicros {
                trimWhenQuiet(afterMicros: Self.trimQuietMicros - quiet)
                return
            }
            trimScheduled = false
            malloc_trim(0)
        }
    }

    private func drainInbox() {
        let work = inbox.withLock { pending -> [@Sendable () -> Void] in
            let taken = pending
            pending.removeAll(keepingCapacity: true)
            return taken
        }
        if !work.isEmpty { activity &+= 1 }
        for item in work { item() }
    }

    private func runBeforeBlocking() {
        for hook in beforeBlocking { hook() }
        flushConnections()
    }

    private func flushConnections() {
        if !dirtyConnections.isEmpty {
            let connections = dirtyConnections
            dirtyConnections.removeAll(keepingCapacity: true)
            for connection in connections { connection.flush() }
        }
    }
}

/// A one-shot libuv timer. Keeps itself alive until it fires or is cancelled.
public final class LoopTimer {
    private let handle: UnsafeMutablePointer<uv_timer_t>
    private var fire: (() -> Void)?
    /// Its loop (unowned: a timer fires only while its loop runs; `weak` would slow every
    /// retain of the loop, see Lifeline).
    private unowned let loop: EventLoop
    private var retained: Unmanaged<LoopTimer>?

    init(loop: EventLoop, afterMicros: Int64, fire: @escaping () -> Void) {
        handle = .allocate(capacity: 1)
        self.fire = fire
        self.loop = loop
        uv_timer_init(loop.raw, handle)
        let retained = Unmanaged.passRetained(self)
        self.retained = retained
        handle.pointee.data = retained.toOpaque()
        // libuv timers have millisecond resolution: round up so a timer never fires early.
        let millis = UInt64(max(0, (afterMicros + 999) / 1000))
        uv_timer_start(handle, { timer in
            guard let data = timer?.pointee.data else { return }
            Unmanaged<LoopTimer>.fromOpaque(data).takeUnretainedValue().fired()
        }, millis, 0)
    }

    private func fired() {
        loop.activity &+= 1
        let body = fire
        finish()
        body?()
    }

    /// Cancels the timer if it has not fired yet.
    public func cancel() {
        finish()
    }

    private func finish() {
        guard fire != nil else { return }
        fire = nil
        uv_timer_stop(handle)
        handle.withMemoryRebound(to: uv_handle_t.self, capacity: 1) { raw in
            uv_close(raw) { closed in
                guard let closed, let data = closed.pointee.data else { return }
                let timer = Unmanaged<LoopTimer>.fromOpaque(data)
                closed.withMemoryRebound(to: uv_timer_t.self, capacity: 1) { $0.deallocate() }
                timer.release()
            }
        }
    }
}
