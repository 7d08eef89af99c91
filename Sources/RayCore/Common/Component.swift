// One loop for every component, in both worlds. Each Ray component (GCS,
// raylet, owner, executor) is a deterministic state machine conforming to
// `Component`; one `ComponentDriver` runs it, in the simulator and in a real
// process alike:
//
//   input → log (input, now) → handle(input, now) → check invariants → effects to the world, in order
//
// A world (simulated network and processes, or libuv sockets and child
// processes) only turns effects into I/O and I/O into inputs. The rules below
// hold in both worlds because only the driver implements them:
//
// - Inputs are handled one at a time. An input raised while another is being
//   handled (by the world, while it performs an effect) waits until every
//   effect of the current one was performed: effects are performed in the
//   order their inputs were handled, and within an input in the order returned.
// - Time is an input: the log records, with each input, the time the machine
//   was handed; replay hands that time back (`replay`).
// - Timers: a timer-starting effect arms the timer; starting a timer that is
//   armed replaces it (only the latest start fires). A timer fires at most once
//   per start, as the input `Component.input(firing:)`, and only if no newer
//   start replaced it (`fire(_:token:)` drops stale tokens).
// - Invariants are checked after every step when enabled; a violation is
//   reported with the input that caused it, after that input was logged.

/// A Ray component's deterministic state machine.
public protocol Component {
    associatedtype Input
    associatedtype Effect
    /// Names of the timers the machine starts (`Never` when it starts none).
    associatedtype Timer: Hashable

    init()
    /// Handles one input at time `now` (microseconds on the world's monotonic clock).
    mutating func handle(_ input: Input, now: Int64) -> [Effect]
    /// The timer an effect starts and after how long; nil for every other effect.
    static func timerStarted(by effect: Effect) -> (timer: Timer, afterMicros: Int64)?
    /// The input a fired timer becomes.
    static func input(firing timer: Timer) -> Input
    /// A digest of the whole state (equal states, equal digests; order-independent of hashing).
    var stateDigest: UInt64 { get }
    /// What is wrong with the state, or nil. Cheap (O(1) or O(small tables)): it runs after
    /// every step where checks are on.
    func invariantViolation() -> String?
    /// The O(state) scan (every reference count, every lease), run every `fullCheckPeriod`
    /// steps where checks are on. Default: nothing more to check.
    func fullInvariantViolation() -> String?
}

extension Component {
    public func fullInvariantViolation() -> String? { nil }
}

/// A token the world hands back when a timer fires (which start it belongs to).
public struct TimerToken: Hashable, Sendable {
    public let generation: UInt64

    @inlinable
    public init(generation: UInt64) { self.generation = generation }
}

/// Drives one component: the one implementation of the loop above. The machine's state
/// reads through it (`driver.objects` is `driver.machine.objects`).
@dynamicMemberLookup
public final class ComponentDriver<C: Component> {
    /// The machine (read it for inspection; only inputs change it). The hot paths are
    /// `@inlinable`: specialized where a world calls them, the machine's `handle` is a direct call.
    @inlinable
    public var machine: C { _read { yield state } }
    @usableFromInline var state: C

    @inlinable
    public subscript<T>(dynamicMember keyPath: KeyPath<C, T>) -> T { _read { yield state[keyPath: keyPath] } }
    /// The world's clock, in microseconds.
    public var clock: () -> Int64 = { 0 }
    /// Appends an input, with its time, to the event log before the machine sees it.
    public var log: ((C.Input, Int64) -> Void)?
    /// Appends an input the world encoded already (`submit(_:encoded:)`: bytes opaque here, as
    /// a received message's record spliced from the frame it came in) with its time, instead of `log`.
    public var logEncoded: ((inout [UInt8], Int64) -> Void)?
    /// Sees each step after it ran (traces, effects journals, digests).
    public var observe: ((C.Input, Int64, [C.Effect]) -> Void)?
    /// Performs one effect (never a timer start: see `schedule`).
    public var perform: (C.Effect) -> Void = { _ in }
    /// Arms a world timer that calls `fire(timer, token:)` after `afterMicros`. The world may
    /// cancel the timer an earlier token of the same name armed, or let it fire (it is dropped).
    public var schedule: (C.Timer, TimerToken, Int64) -> Void = { _, _, _ in }
    /// Checks invariants after every step.
    public var checksInvariants = false
    /// With `checksInvariants`: also runs the O(state) scan every this many steps (0: never).
    public var fullCheckPeriod = 0
    @usableFromInline var stepsUntilFullCheck = 0
    /// Called with the violation and the input that caused it (the input is logged already).
    public var violated: (String, C.Input) -> Void = { problem, input in
        preconditionFailure("invariant violated after \(input): \(problem)")
    }

    @usableFromInline var busy = false
    /// Inputs raised while one was being handled, from `waitingHead` on (a burst of them, as a
    /// driver submitting thousands of tasks in one step, costs O(1) each).
    @usableFromInline var waiting: [(C.Input, [UInt8]?)] = []
    @usableFromInline var waitingHead = 0
    @usableFromInline var armed: [C.Timer: UInt64] = [:]
    @usableFromInline var generation: UInt64 = 0

    public init(_ machine: C = C()) {
        state = machine
    }

    /// Handles `input` now, or after the input being handled (and those queued before it).
    @inlinable
    public func submit(_ input: C.Input) {
        submit(input, encoded: nil)
    }

    /// `submit`, with the input's log record already made by the world (`logEncoded` logs it).
    @inlinable
    public func submit(_ input: C.Input, encoded: [UInt8]?) {
        if busy {
            waiting.append((input, encoded))
            return
        }
        busy = true
        step(input, encoded: encoded)
        while waitingHead < waiting.count {
            let (next, record) = waiting[waitingHead]
            waiting[waitingHead].1 = nil
            waitingHead += 1
            step(next, encoded: record)
        }
        if waitingHead > 0 {
            waiting.removeAll(keepingCapacity: waiting.count < 1024)
            waitingHead = 0
        }
        busy = false
    }

    /// A world timer fired: handles the timer's input unless a newer start replaced it.
    @inlinable
    public func fire(_ timer: C.Timer, token: TimerToken) {
        guard armed[timer] == token.generation else { return }
        armed[timer] = nil
        submit(C.input(firing: timer))
    }

    /// True when `timer` is armed (started and not yet fired or replaced).
    public func isArmed(_ timer: C.Timer) -> Bool { armed[timer] != nil }

    /// Changes the machine outside any input: only to prepare a fresh one (capacity
    /// reservations and the like), never to make a Ray decision.
    public func prepare(_ body: (inout C) -> Void) {
        body(&state)
    }

    /// Replaces the machine by a fresh one that replays `inputs` with their logged times. The
    /// replayed effects happened before: they are observed, not performed; timers are disarmed.
    public func replay<Inputs: Sequence>(_ inputs: Inputs) where Inputs.Element == (C.Input, Int64) {
        state = C()
        armed = [:]
        for (input, now) in inputs {
            let effects = state.handle(input, now: now)
            observe?(input, now, effects)
        }
    }

    /// The machine's violation, read in place (a plain call on the stored property copied the
    /// whole machine, retaining every table, on every step).
    @inlinable
    static func violation(in machine: inout C) -> String? { machine.invariantViolation() }

    @inlinable
    static func fullViolation(in machine: inout C) -> String? { machine.fullInvariantViolation() }

    @inlinable
    func step(_ input: C.Input, encoded: [UInt8]? = nil) {
        let now = clock()
        if var record = encoded, let logEncoded {
            logEncoded(&record, now)
        } else {
            log?(input, now)
        }
        let effects = state.handle(input, now: now)
        observe?(input, now, effects)
        if checksInvariants {
            if let problem = Self.violation(in: &state) {
                violated(problem, input)
            } else if fullCheckPeriod > 0 {
                stepsUntilFullCheck -= 1
                if stepsUntilFullCheck <= 0 {
                    stepsUntilFullCheck = fullCheckPeriod
                    if let problem = Self.fullViolation(in: &state) { violated(problem, input) }
                }
            }
        }
        for effect in effects {
            if let (timer, after) = C.timerStarted(by: effect) {
                generation &+= 1
                armed[timer] = generation
                schedule(timer, TimerToken(generation: generation), after)
            } else {
                perform(effect)
            }
        }
    }
}
