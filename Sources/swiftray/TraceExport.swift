// `swiftray trace export`: a real cluster's LMDB logs as a trace that
// `raysim replay` and `raysim show` accept. Every process logged its inputs;
// with SWIFTRAY_RECORD_EFFECTS=1 it also journaled the effects and the time of
// each, and the trace carries those, so the replay compares fresh machines
// against what the real processes did. Without the journal the exporter
// computes the effects by running the inputs through fresh machines (the
// trace can then be stepped through, but the replay compares the code with itself).
//
// Components: logs/gcs (a `recovered` input starts a new incarnation, which
// replays the inputs before it, as the simulator's GCS restart does),
// logs/raylet-NAME (a `started` input starts a new node), logs/worker-N.I (and
// logs/worker-N.I/owner: the owner of its tasks' children), logs/driver-N.I.

import ArgumentParser
import Foundation
import RayCore
import RayWire
import RayRuntime
import RaySim
import RayStorage

struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with traces of real runs.", subcommands: [Export.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export a cluster session's logs as a trace for `raysim replay` / `raysim show`.")
        @Option(help: "The session directory (default: the newest under /tmp/swiftray).")
        var session: String?
        @Option(name: .shortAndLong, help: "Where to write the trace.")
        var output: String

        func run() throws {
            let directory: String
            if let session {
                directory = session
            } else {
                let root = Session.root
                let sessions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
                    .filter { $0.hasPrefix("session-") }.map { root + "/" + $0 }
                guard let newest = sessions.max(by: { modified($0) < modified($1) }) else {
                    throw fail("no session under \(root); pass --session DIR")
                }
                directory = newest
            }
            do {
                let (trace, unrecorded) = try TraceExporter.export(session: directory)
                try trace.write(to: output)
                print("\(trace.steps.count) steps from \(directory)/logs written to \(output) "
                    + (unrecorded.isEmpty ? "(effects as the processes recorded them)"
                        : "(effects recomputed for \(unrecorded.joined(separator: ", ")), whose journals are missing "
                            + "or short: run with SWIFTRAY_RECORD_EFFECTS=1 to record them)"))
                print("Replay: raysim replay \(output)    Step through: raysim show \(output)")
            } catch {
                throw fail("\(error)")
            }
        }

        private func modified(_ path: String) -> Date {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
        }
    }
}

enum TraceExporter {
    struct ExportError: Error, CustomStringConvertible {
        var description: String
    }

    /// One component's log: its input records and, if journaled, (time, effects) per record.
    struct Log {
        var inputs: [[UInt8]]
        var effects: [(Int64, [UInt8])]?
    }

    static func read(_ directory: String, component: String) throws -> Log {
        let inputs: [[UInt8]]
        do {
            inputs = try LMDBEventLog(path: directory, component: component, durable: false).allRecords()
        } catch {
            throw ExportError(description: "cannot read the log \(directory): \(error)")
        }
        let effectsDirectory = HostLog.effectsDirectory(directory)
        guard FileManager.default.fileExists(atPath: effectsDirectory + "/data.mdb") else {
            return Log(inputs: inputs, effects: nil)
        }
        let records: [[UInt8]]
        do {
            records = try LMDBEventLog(path: effectsDirectory, component: component + " effects", durable: false).allRecords()
        } catch {
            throw ExportError(description: "cannot read the effects journal \(effectsDirectory): \(error)")
        }
        let effects = records.map { record -> (Int64, [UInt8]) in
            var time: UInt64 = 0
            for index in 0..<min(8, record.count) { time |= UInt64(record[index]) << UInt64(index * 8) }
            return (Int64(bitPattern: time), Array(record.dropFirst(8)))
        }
        // Effects are committed first: a process killed between the two commits leaves effects
        // beyond its inputs (ignored). Journals of older builds could lack the last input's.
        return Log(inputs: inputs, effects: effects.count >= inputs.count - 1 ? effects : nil)
    }

    /// Steps of one machine: time and effects from the journal, or computed by `handle`.
    static func steps<Machine, Input: ProtoRecord, Effect: Codable>(
        _ log: Log, range: Range<Int>, component: ComponentID, machine: inout Machine, _ input: Input.Type,
        _ handle: (inout Machine, Input, Int64) -> [Effect]
    ) throws -> [TraceStep] {
        var steps: [TraceStep] = []
        for index in range {
            // Each record holds the time the machine was handed the input, then the input.
            let (decoded, time) = try LogRecord.decode(Input.self, log.inputs[index])
            let bytes = Array(LogRecord.inputBytes(log.inputs[index]))
            let computed = handle(&machine, decoded, time)
            if let effects = log.effects, index < effects.count {
                steps.append(TraceStep(time: time, component: component, input: bytes, effects: effects[index].1))
            } else {
                steps.append(TraceStep(time: time, component: component, input: bytes,
                                       effects: try BinaryCoder.encode(computed)))
            }
        }
        return steps
    }

    /// The session's trace, and the components whose effects were recomputed (none: recorded).
    static func export(session: String) throws -> (TraceFile, [String]) {
        let logs = session + "/logs"
        // Workers running as another user log under logs/workers (WorkerUser).
        let entries = [logs, logs + "/workers"].flatMap { root in
            ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).map { (name: $0, directory: root + "/" + $0) }
        }
        var steps: [TraceStep] = []
        var recorded = true
        var sawAny = false
        /// Components whose effects journal was missing or short (said in the export's line).
        var unrecorded: [String] = []
        for (name, directory) in entries.sorted(by: { $0.name < $1.name }) {
            guard FileManager.default.fileExists(atPath: directory + "/data.mdb") else { continue }
            sawAny = true
            if name == "gcs" {
                let log = try read(directory, component: "gcs")
                if log.effects == nil { unrecorded.append(name) }
                recorded = recorded && log.effects != nil
                // Each `recovered` input starts an incarnation that first replays everything before it.
                var boundaries: [Int] = [0]
                for (index, bytes) in log.inputs.enumerated() {
                    if case .recovered? = try? LogRecord.decode(GCSInput.self, bytes).0 { boundaries.append(index) }
                }
                boundaries.append(log.inputs.count)
                for incarnation in 1..<boundaries.count {
                    var machine = GCS()
                    steps += try Self.steps(log, range: 0..<boundaries[incarnation], component: .gcs(incarnation: incarnation),
                                            machine: &machine, GCSInput.self) { $0.handle($1, now: $2) }
                }
            } else if name.hasPrefix("raylet-") {
                let log = try read(directory, component: "raylet")
                if log.effects == nil { unrecorded.append(name) }
                recorded = recorded && log.effects != nil
                // A restarted node (same name) logs a new `started`: a new node ID, a new machine.
                var starts: [(Int, NodeID)] = []
                for (index, bytes) in log.inputs.enumerated() {
                    if case .started(_, let info)? = try? LogRecord.decode(RayletInput.self, bytes).0 {
                        starts.append((index, info.nodeID))
                    }
                }
                for (position, (start, node)) in starts.enumerated() {
                    let end = position + 1 < starts.count ? starts[position + 1].0 : log.inputs.count
                    var machine = Raylet()
                    steps += try Self.steps(log, range: start..<end, component: .raylet(node), machine: &machine,
                                            RayletInput.self) { $0.handle($1, now: $2) }
                }
            } else if let worker = workerID(name, prefix: "worker-") {
                let log = try read(directory, component: "worker")
                if log.effects == nil { unrecorded.append(name) }
                recorded = recorded && log.effects != nil
                var machine = Executor()
                steps += try Self.steps(log, range: 0..<log.inputs.count, component: .worker(worker), machine: &machine,
                                        ExecutorInput.self) { $0.handle($1, now: $2) }
                // The worker's owner (nested tasks), when its tasks submitted any.
                let ownerDirectory = directory + "/owner"
                if FileManager.default.fileExists(atPath: ownerDirectory + "/data.mdb") {
                    let ownerLog = try read(ownerDirectory, component: "worker owner")
                    if ownerLog.effects == nil { unrecorded.append(name + "/owner") }
                    recorded = recorded && ownerLog.effects != nil
                    var owner = Owner()
                    steps += try Self.steps(ownerLog, range: 0..<ownerLog.inputs.count, component: .workerOwner(worker),
                                            machine: &owner, OwnerInput.self) { $0.handle($1, now: $2) }
                }
            } else if let worker = workerID(name, prefix: "driver-") {
                let log = try read(directory, component: "driver")
                if log.effects == nil { unrecorded.append(name) }
                recorded = recorded && log.effects != nil
                var machine = Owner()
                steps += try Self.steps(log, range: 0..<log.inputs.count, component: .driver(worker), machine: &machine,
                                        OwnerInput.self) { $0.handle($1, now: $2) }
            }
        }
        guard sawAny else {
            throw ExportError(description: "\(logs) holds no event logs (was the cluster started with logging off?)")
        }
        // One clock for every process (the monotonic clock, logged with every input): order by
        // time, then as logged.
        do {
            let start = steps.map(\.time).min() ?? 0
            steps = steps.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map {
                var step = $0.element
                step.time -= start
                return step
            }
        }
        let file = TraceFile(formatVersion: TraceFile.formatVersion, scenarioName: "real run",
                             scenarioPath: session, seed: 0, steps: steps)
        return (file, recorded ? [] : unrecorded)
    }

    static func workerID(_ name: String, prefix: String) -> WorkerID? {
        guard name.hasPrefix(prefix) else { return nil }
        let parts = name.dropFirst(prefix.count).split(separator: ".")
        guard parts.count == 2, let node = UInt32(parts[0]), let index = UInt32(parts[1]) else { return nil }
        return WorkerID(node: NodeID(node), index: index)
    }
}
