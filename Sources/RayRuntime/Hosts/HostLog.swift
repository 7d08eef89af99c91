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
        loop.onBeforeBlocking { [weak self] in self?.commit() }
    }

    /// Appends one input.
    @inline(__always)
    func append<Input: ProtoRecord>(_ input: Input) {
        guard let log else { return }
        do {
            try log.append(try input.recordBytes())
        } catch {
            fail("cannot log an input: \(error)")
        }
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

/// Inputs handed to a machine one at a time: an input raised while another is being handled
/// (by one of its effects: a restored object, a finished body) waits for its turn, so effects
/// are always interpreted in the order their inputs were handled.
final class InputQueue<Input> {
    private var busy = false
    private var waiting: [Input] = []

    /// Runs `input` now, or after the input being handled and those queued before it.
    func submit(_ input: Input, to run: (Input) -> Void) {
        if busy {
            waiting.append(input)
            return
        }
        busy = true
        run(input)
        while !waiting.isEmpty { run(waiting.removeFirst()) }
        busy = false
    }

    /// Queues `input` behind the one being handled (call from inside `run`).
    func later(_ input: Input) {
        waiting.append(input)
    }
}
