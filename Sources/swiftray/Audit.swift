// `swiftray audit`: the administrative actions the GCS handled, read from its
// LMDB log — every input there is logged before the GCS acts on it, with the
// time it was handed over and, for a message, the process that sent it (an
// authenticated peer). Nodes joining and leaving, jobs starting and ending,
// KV writes, actors created and killed, placement groups created and removed.

import ArgumentParser
import Foundation
import RayCore
import RayRuntime
import RayStorage
import RayWire

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the administrative actions the GCS handled (who, when, what), from its log.")

    @Option(help: "The head node's session directory (default: the session of the local head node).")
    var session: String?

    func run() throws {
        try reporting(show)
    }

    private func show() throws(RuntimeError) {
        let directory: String
        if let session {
            directory = session
        } else {
            guard let head = LocalNodeRecord.all().first(where: { $0.gcsPID != nil }) else {
                throw RuntimeError("no head node runs on this machine; pass --session DIR (a session kept after its cluster ended)")
            }
            directory = head.session
        }
        let lines = try AuditLog.lines(session: directory)
        print(lines.isEmpty ? "(no administrative actions in \(directory)/logs/gcs)" : lines.joined(separator: "\n"))
    }
}

enum AuditLog {
    /// The audit lines of a session's GCS log, oldest first: "+SECONDS  WHO  WHAT".
    static func lines(session: String) throws(RuntimeError) -> [String] {
        let directory = session + "/logs/gcs"
        guard FileManager.default.fileExists(atPath: directory + "/data.mdb") else {
            throw RuntimeError("\(directory) holds no GCS log (was the cluster started with logging off, or is this "
                + "a joining node's session? The head node's session has it)")
        }
        // LMDB opens its files to write (its reader table): the GCS's user's only, not a driver's.
        guard access(directory, W_OK) == 0, access(directory + "/data.mdb", R_OK | W_OK) == 0 else {
            let owner = ownerName(of: directory)
            throw RuntimeError("the GCS log \(directory) is \(owner)'s: the audit is the administrator's to read; "
                + "run `swiftray audit` as \(owner)")
        }
        let records: [[UInt8]]
        do {
            records = try LMDBEventLog(path: directory, component: "gcs", durable: false).allRecords()
        } catch {
            throw RuntimeError("cannot read the GCS log \(directory): \(error)")
        }
        var lines: [String] = []
        var start: Int64?
        for record in records {
            guard let (input, time) = try? LogRecord.decode(GCSInput.self, record) else { continue }
            if start == nil { start = time }
            let when = String(format: "+%.3fs", Double(time - start!) / 1e6)
            switch input {
            case .started: lines.append("\(when)  gcs  started")
            case .recovered: lines.append("\(when)  gcs  restarted from its log")
            case .peerDisconnected(let peer):
                if case .raylet = peer { lines.append("\(when)  \(peer)  disconnected") }
            case .messageReceived(let from, let message):
                if let action = action(message) { lines.append("\(when)  \(from)  \(action)") }
            default: break
            }
        }
        return lines
    }

    /// What an administrative message does, nil for the rest (leases, objects, health checks).
    static func action(_ message: Message) -> String? {
        switch message {
        case .registerNode(let info):
            return "registered node \(info.name) offering \(info.resources)"
        case .registerJob(let job, let driver):
            return "started \(job) (driver \(driver))"
        case .jobFinished(let job):
            return "finished \(job)"
        case .driverExited(let job, let exitCode, let signal):
            return "reported the driver of \(job) exited (" + (signal != 0 ? "signal \(signal))" : "code \(exitCode))")
        case .kvPut(let key, let value):
            return "wrote KV \(key) (\(value.count) bytes)"
        case .registerActor(let spec):
            let namespace = spec.options.namespace.isEmpty ? "" : spec.options.namespace + "/"
            let name = spec.options.name.isEmpty ? "" : " named \(namespace)\(spec.options.name)"
            return "created actor \(spec.actorID) (\(spec.displayName))\(name)\(spec.options.detached ? ", detached" : "")"
        case .killActor(let actor, let noRestart, let reason):
            return "killed actor \(actor)\(noRestart ? " for good" : " (restartable)"): \(reason)"
        case .createPlacementGroup(let spec):
            return "created placement group \(spec.id) (\(spec.strategy), \(spec.bundles.count) bundles)"
                + (spec.name.isEmpty ? "" : " named \(spec.name)") + (spec.job == JobID(0) ? "" : " for \(spec.job)")
        case .removePlacementGroup(let group):
            return "removed placement group \(group)"
        case .nodeDead(let node):
            return "declared \(node) dead"
        default:
            return nil
        }
    }
}
