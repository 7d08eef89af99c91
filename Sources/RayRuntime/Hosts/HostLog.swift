// A host's event log: every input is appended before its machine sees it;
// the loop commits what an iteration appended in one LMDB transaction just
// before it blocks (group commit), and only then flushes outgoing frames.

import Glibc
import RayCore
import RayWire
public import RayStorage

/// The event log of one host process.
public final class HostLog {
    public let log: LMDBEventLog?
    /// With SWIFTRAY_RECORD_EFFECTS=1: record n holds the time (UInt64 LE, microseconds on the
    /// machine's monotonic clock) and the encoded effects of input n, so `swiftray trace export`
    /// can hand raysim what the real processes did, to compare against a replay.
    public let effectsLog: LMDBEventLog?
    let component: String
    private var failed = false

    /// The directory of a log's effects journal.
    public static func effectsDirectory(_ logDirectory: String) -> String { logDirectory + "/effects" }

    /// Opens (or creates) the log in `directory`; nil `directory` disables logging.
    init(directory: String?, component: String, loop: EventLoop) throws(RuntimeError) {
        self.component = component
        if let directory {
            do {
                log = try LMDBEventLog(path: directory, component: component, durable: false)
            } catch {
                throw RuntimeError("cannot open the event log of \(component) at \(directory): \(error)")
            }
        } else {
            log = nil
        }
        if let directory, environment("SWIFTRAY_RECORD_EFFECTS") == "1" {
            do {
                effectsLog = try LMDBEventLog(path: Self.effectsDirectory(directory), component: component + " effects",
                                              durable: false)
            } catch {
                throw RuntimeError("cannot open the effects journal of \(component): \(error)")
            }
        } else {
            effectsLog = nil
        }
        // The loop keeps its log (the hook runs every iteration: a weak reference there would cost
        // a side-table retain each time, and slow every other retain of the log; see Lifeline).
        loop.onBeforeBlocking { [self] in commit() }
    }

    /// Appends one input with the time its machine is handed it (`LogRecord`).
    @inline(__always)
    func append<Input: ProtoRecord>(_ input: Input, at now: Int64) {
        guard let log else { return }
        do {
            try log.append(try LogRecord.encode(input, at: now))
        } catch {
            fail("cannot log an input: \(error)")
        }
    }

    /// Appends one input the host encoded already (`record`, from `received`), stamped with its time.
    @inline(__always)
    func append(encoded record: inout [UInt8], at now: Int64) {
        guard let log else { return }
        LogRecord.stamp(&record, at: now)
        do {
            try log.append(record)
        } catch {
            fail("cannot log an input: \(error)")
        }
    }

    /// The record of the input `messageReceived(from:, the message of frame)`, spliced from the
    /// frame's bytes (nil without a log, or when the splice fails: the input is then encoded).
    func received<Input: ReceivedRecord>(_ type: Input.Type, from: Address, frame: Frame) -> [UInt8]? {
        guard log != nil else { return nil }
        return try? LogRecord.received(type, from: from, messageBytes: frame.messageBytes)
    }

    /// Records the effects of the input appended last (only with an effects journal).
    @inline(__always)
    func appendEffects<Effect: Encodable>(_ effects: [Effect], now: Int64) {
        guard let effectsLog else { return }
        do {
            var record: [UInt8] = []
            for shift in stride(from: 0, to: 64, by: 8) { record.append(UInt8(truncatingIfNeeded: UInt64(now) >> UInt64(shift))) }
            record.append(contentsOf: try BinaryCoder.encode(effects))
            try effectsLog.append(record)
        } catch {
            fail("cannot record effects: \(error)")
        }
    }

    func commit() {
        guard let log, log.pendingCount > 0 else { return }
        do {
            // The effects first: a process killed between the two commits leaves effects of inputs
            // its log lacks (ignored), never logged inputs without their effects (an iteration can
            // append many inputs).
            try effectsLog?.commit()
            try log.commit()
        } catch {
            fail("cannot commit the event log: \(error)")
        }
    }

    /// A process that cannot log its inputs must not act on them: it stops.
    private func fail(_ message: String) {
        guard !failed else { return }
        failed = true
        writeStandardError("swiftray \(component): \(message); stopping (the log is the source of truth)\n")
        exit(70)
    }
}

/// Writes a line to stderr, prefixed with the process's role.
func note(_ role: String, _ text: String) {
    writeStandardError("swiftray \(role): \(text)\n")
}

/// Writes `text` to file descriptor 2 in one call.
public func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

/// True when machines check their invariants after every step in this process: debug
/// builds, or SWIFTRAY_CHECK_INVARIANTS=1 (=0 turns it off in debug builds).
let checkingInvariants: Bool = {
    if let value = environment("SWIFTRAY_CHECK_INVARIANTS") { return value == "1" }
    #if DEBUG
    return true
    #else
    return false
    #endif
}()

/// World timers of one component: a newer start of a timer cancels the older one's loop timer
/// (the driver would drop its firing anyway).
final class HostTimers<Timer: Hashable> {
    private var pending: [Timer: LoopTimer] = [:]
    private lazy var lifeline = Lifeline(self)

    func start(_ timer: Timer, after micros: Int64, on loop: EventLoop, fire: @escaping () -> Void) {
        pending[timer]?.cancel()
        pending[timer] = loop.timer(afterMicros: micros) { [weak lifeline] in
            lifeline?.target.pending[timer] = nil
            fire()
        }
    }
}

extension ComponentDriver where C.Input: ProtoRecord, C.Effect: Encodable {
    /// Puts the driver into a real process: the loop's clock and timers, the host's log (each
    /// input with its time, and the effects journal), invariant checks where on. A violation
    /// commits the log (the input that caused it is its last record) and stops the process, so
    /// `swiftray trace export` + `raysim replay` reproduce it.
    func attach(loop: EventLoop, log: @escaping () -> HostLog?, role: String) {
        clock = { loop.nowMicros }
        self.log = { input, now in log()?.append(input, at: now) }
        logEncoded = { record, now in log()?.append(encoded: &record, at: now) }
        observe = { _, now, effects in log()?.appendEffects(effects, now: now) }
        let timers = HostTimers<C.Timer>()
        // The timers hold the driver's lifeline, not the driver (see Lifeline); `schedule`, which the
        // driver keeps, holds the lifeline.
        let lifeline = Lifeline(self)
        schedule = { timer, token, after in
            timers.start(timer, after: after, on: loop) { [weak lifeline] in lifeline?.target.fire(timer, token: token) }
        }
        checksInvariants = checkingInvariants
        fullCheckPeriod = 2_000  // The O(state) scan, every 2000 steps where checks are on.
        violated = { problem, input in
            log()?.commit()
            writeStandardError("swiftray \(role): invariant violated after \(input): \(problem); stopping "
                + "(the input is the last record of this process's log)\n")
            exit(71)
        }
    }
}
