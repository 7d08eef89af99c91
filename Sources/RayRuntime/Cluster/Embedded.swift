// Starting clusters: an embedded local cluster (what `Ray.start()` runs: a
// GCS and one raylet, children of the driver that die with it) and the
// records `swiftray start` leaves so drivers and the CLI find local nodes.

import Foundation
import Glibc
public import RayCore

/// How to start one node.
public struct NodeLaunchOptions: Sendable {
    public var name = "head"
    public var resources: ResourceSet
    public var objectStoreBytes: Int64
    public var logInputs = true
    public var port = 0
    /// The binary the GCS, raylet and workers run (default: this program).
    public var executable: String?
    public init(resources: ResourceSet, objectStoreBytes: Int64) {
        self.resources = resources
        self.objectStoreBytes = objectStoreBytes
    }
}

/// A GCS and a raylet started as children of this process.
public final class EmbeddedCluster: @unchecked Sendable {
    public let session: Session
    public let gcs: LaunchedProcess
    public let raylet: LaunchedProcess
    public let socketPath: String

    init(session: Session, gcs: LaunchedProcess, raylet: LaunchedProcess, socketPath: String) {
        self.session = session
        self.gcs = gcs
        self.raylet = raylet
        self.socketPath = socketPath
    }

    /// Starts the GCS and the raylet from this executable, each in its role.
    public static func start(_ options: NodeLaunchOptions) throws(RuntimeError) -> EmbeddedCluster {
        signal(SIGPIPE, SIG_IGN)
        let session = try Session.create(secret: .generate())
        let executable = options.executable ?? currentExecutablePath()
        let logging = (options.logInputs ? ["SWIFTRAY_LOG_DIR=\(session.logs)"] : ["SWIFTRAY_NO_LOG=1"])
        let gcs = try Launcher.spawn(
            executable: executable, role: "gcs",
            environment: ["SWIFTRAY_SESSION=\(session.path)", "SWIFTRAY_GCS_PORT=0"] + logging + session.secretEnvironment(for: .admin),
            logPath: session.logs + "/gcs.err", exitWithParent: true, detach: false)
        let socket = session.sockets + "/raylet-\(options.name).sock"
        let raylet: LaunchedProcess
        do {
            raylet = try Launcher.spawn(
                executable: executable, role: "raylet",
                environment: [
                    "SWIFTRAY_SESSION=\(session.path)", "SWIFTRAY_GCS_ADDRESS=127.0.0.1:\(gcs.port)",
                    "SWIFTRAY_NODE_NAME=\(options.name)", "SWIFTRAY_RESOURCES=\(resourceText(options.resources))",
                    "SWIFTRAY_OBJECT_STORE_BYTES=\(options.objectStoreBytes)", "SWIFTRAY_RAYLET_SOCKET=\(socket)",
                    "SWIFTRAY_WORKER_EXECUTABLE=\(executable)", "SWIFTRAY_PORT=\(options.port)",
                ] + logging + session.secretEnvironment(for: .node),
                logPath: session.logs + "/raylet-\(options.name).err", exitWithParent: true, detach: false)
        } catch {
            kill(gcs.pid, SIGKILL)
            throw error
        }
        return EmbeddedCluster(session: session, gcs: gcs, raylet: raylet, socketPath: socket)
    }

    /// Stops the raylet (its workers follow) and the GCS, and reaps them; removes the session,
    /// or keeps its logs when `keepLogs` says why.
    public func stop(keepLogs reason: String? = nil) {
        for pid in [raylet.pid, gcs.pid] {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        if let reason { session.keepLogs(reason: reason) } else { session.remove() }
    }
}

/// "CPU=2,GPU=1" from a resource set (the form SWIFTRAY_RESOURCES takes); "CPU=0" for none
/// (an empty variable means "the machine's CPUs": a node offering nothing would get them).
public func resourceText(_ resources: ResourceSet) -> String {
    if resources.isEmpty { return "CPU=0" }
    return resources.entries.map { entry in
        let amount = Double(entry.milli) / 1000
        return "\(entry.name)=\(amount == amount.rounded() ? String(Int64(amount)) : String(amount))"
    }.joined(separator: ",")
}

/// What `swiftray start` records about a node it started on this machine.
public struct LocalNodeRecord: Codable, Sendable {
    public var gcsAddress: String
    public var node: UInt32
    public var name: String
    public var socketPath: String
    public var session: String
    public var rayletPID: Int32
    public var gcsPID: Int32?
    /// The file this record was read from (not written in it).
    public var file: String?

    private enum CodingKeys: String, CodingKey {
        case gcsAddress, node, name, socketPath, session, rayletPID, gcsPID
    }

    public init(gcsAddress: String, node: UInt32, name: String, socketPath: String, session: String,
                rayletPID: Int32, gcsPID: Int32?) {
        self.gcsAddress = gcsAddress
        self.node = node
        self.name = name
        self.socketPath = socketPath
        self.session = session
        self.rayletPID = rayletPID
        self.gcsPID = gcsPID
    }

    /// Where this user's nodes are recorded (under its sessions' directory).
    public static var directory: String { Session.root + "/nodes" }

    public var path: String {
        Self.directory + "/" + gcsAddress.replacingOccurrences(of: ":", with: "_") + "-\(node).json"
    }

    public func save() throws(RuntimeError) {
        do {
            try FileManager.default.createDirectory(atPath: Self.directory, withIntermediateDirectories: true)
            try JSONEncoder().encode(self).write(to: URL(fileURLWithPath: path))
        } catch {
            throw RuntimeError("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// Every record whose raylet process still runs (stale ones are deleted), this user's and the
    /// machine's shared ones.
    public static func all() -> [LocalNodeRecord] {
        Session.roots.flatMap { root in
            records(in: root).compactMap { record -> LocalNodeRecord? in
                // EPERM: it runs, as another user (a node started by root, seen by a user's driver).
                guard record.rayletPID > 1, kill(record.rayletPID, 0) == 0 || errno == EPERM else {
                    try? FileManager.default.removeItem(atPath: record.file!)
                    return nil
                }
                return record
            }
        }
    }

    /// Records of nodes other users started, in their own sessions' directories
    /// (`Session.otherUsersRoots`): only those that hold up — their processes run as that user, and
    /// their session and socket lie in that user's directory — since the files are that user's to
    /// write (a record naming another process could have it signalled).
    public static func ofOtherUsers() -> [LocalNodeRecord] {
        Session.otherUsersRoots.flatMap { root, owner in
            records(in: root).filter { record in
                func runsAsOwner(_ pid: Int32) -> Bool {
                    var info = stat()
                    return pid > 1 && stat("/proc/\(pid)", &info) == 0 && info.st_uid == owner
                }
                var session = stat()
                return runsAsOwner(record.rayletPID) && (record.gcsPID.map(runsAsOwner) ?? true)
                    && record.session.hasPrefix(root + "/session-") && !record.session.contains("/..")
                    && lstat(record.session, &session) == 0 && session.st_mode & S_IFMT == S_IFDIR && session.st_uid == owner
                    && record.socketPath.hasPrefix(record.session + "/sockets/") && !record.socketPath.contains("/..")
            }
        }
    }

    private static func records(in root: String) -> [LocalNodeRecord] {
        let directory = root + "/nodes"
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted().compactMap { name in
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path),
                  var record = try? JSONDecoder().decode(LocalNodeRecord.self, from: data) else { return nil }
            record.file = path
            return record
        }
    }

    /// The local node of the cluster whose GCS is at `gcsAddress` ("auto": the only cluster here).
    public static func find(gcsAddress: String) throws(RuntimeError) -> LocalNodeRecord {
        let records = all()
        if gcsAddress == "auto" {
            guard let first = records.first else {
                let others = ofOtherUsers()
                throw RuntimeError("no SwiftRay node runs on this machine; start one with `swiftray start --head`"
                    + (others.isEmpty ? "" : " (other users' clusters here, joined only by address: "
                        + Set(others.map { "\($0.gcsAddress) (\(ownerName(of: $0.session)))" }).sorted().joined(separator: ", ")
                        + ")"))
            }
            return first
        }
        let (host, port) = try parseAddress(gcsAddress)
        let atAddress = { (record: LocalNodeRecord) in (try? parseAddress(record.gcsAddress)).map { $0 == (host, port) } ?? false }
        // Named by its address: another user's cluster too (after this user's and root's).
        guard let record = records.first(where: atAddress) ?? ofOtherUsers().first(where: atAddress) else {
            let known = records.map(\.gcsAddress)
            throw RuntimeError("no node of the cluster at \(gcsAddress) runs on this machine"
                + (known.isEmpty ? "" : " (clusters here: \(Set(known).sorted().joined(separator: ", ")))")
                + "; join it first with `swiftray start --address \(gcsAddress)`")
        }
        return record
    }
}
