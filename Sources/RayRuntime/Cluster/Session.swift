// A session directory: logs and sockets of one cluster, under $SWIFTRAY_TMPDIR
// (default /tmp/swiftray), and its lifecycle.
//
// Every process of a session (the process that created it, the GCS, the
// raylets) holds a shared lock on `<session>/alive` while it runs, so a session
// whose lock nobody holds is over, however its processes ended (even SIGKILL).
// `Ray.shutdown()` removes its embedded cluster's session, or keeps its logs
// when asked or when a task failed (writing `<session>/KEPT` with the reason);
// creating a session removes the sessions that are over and not kept, and all
// but the newest `keptSessionsLimit` kept ones, with their shared memory.

import Foundation
import Glibc

/// A session directory: logs and sockets of one cluster.
public struct Session: Sendable {
    public var path: String
    public var logs: String { path + "/logs" }
    public var sockets: String { path + "/sockets" }
    /// The cluster's secret (mode 0600), written when the session is created.
    public var secretPath: String { path + "/" + ClusterSecret.fileName }
    /// Where `swiftray start` makes the cluster's TLS material when it makes it (a CA and a certificate).
    public var tlsDirectory: String { path + "/tls" }
    /// Names the TLS directory this session's processes use (absent: TLS off), for the CLI.
    public var tlsSettingPath: String { path + "/tls-dir" }
    /// The file of `role`'s credential in this session (the cluster's secret for the administrator).
    public func credentialPath(_ role: Identity.Role) -> String {
        switch role {
        case .admin: secretPath
        case .node: path + "/" + ClusterSecret.nodeFileName
        case .driver, .job: path + "/" + ClusterSecret.driverFileName
        }
    }
    /// What a process started in this session in `role` (the GCS: the administrator's; a raylet:
    /// a node's) is told to find its credential by.
    public func secretEnvironment(for role: Identity.Role) -> [String] {
        ["SWIFTRAY_CLUSTER_SECRET_FILE=\(credentialPath(role))", "SWIFTRAY_CLUSTER_SECRET="]
    }

    public init(path: String) { self.path = path }

    /// Notes that this session's processes use the TLS material in `directory` (the CLI finds it here).
    public func recordTLS(directory: String) throws(RuntimeError) {
        do {
            try directory.write(toFile: tlsSettingPath, atomically: true, encoding: .utf8)
        } catch {
            throw RuntimeError("cannot write \(tlsSettingPath): \(error.localizedDescription)")
        }
    }

    /// The sessions' directory the machine's users share, unless SWIFTRAY_TMPDIR names another.
    public static let sharedRoot = "/tmp/swiftray"
    /// Where this user's sessions live: $SWIFTRAY_TMPDIR; else /tmp/swiftray, or — when another user
    /// (root, whose nodes serve the machine) made that one and this user may not write there —
    /// /tmp/swiftray-<uid>, this user's own (so `Ray.start()` works for every user).
    public static var root: String {
        if let chosen = environment("SWIFTRAY_TMPDIR") { return chosen }
        var info = stat()
        if stat(sharedRoot, &info) == 0, info.st_uid != geteuid(), access(sharedRoot, W_OK) != 0 {
            return sharedRoot + "-\(geteuid())"
        }
        return sharedRoot
    }
    /// Where this user looks for the machine's nodes: its own sessions' directory and, when that is
    /// not the shared one, the shared one too (a node root started, which its drivers join).
    public static var roots: [String] {
        let own = root
        return own == sharedRoot || environment("SWIFTRAY_TMPDIR") != nil ? [own] : [own, sharedRoot]
    }
    /// Other users' own sessions' directories (`/tmp/swiftray-<uid>`: nodes a user started who may
    /// not write the shared one), each with its owner: looked in only for a cluster named by its
    /// address (root's `sudo ./program` joining a user's cluster), never for "auto" — what is in
    /// them is that user's to write. Only such a directory its user owns, a real directory no one
    /// else may write (someone else could have made it to be looked in).
    public static var otherUsersRoots: [(path: String, owner: UInt32)] {
        guard environment("SWIFTRAY_TMPDIR") == nil else { return [] }
        let mine = roots
        let parent = (sharedRoot as NSString).deletingLastPathComponent
        let prefix = (sharedRoot as NSString).lastPathComponent + "-"
        return ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).sorted().compactMap { name in
            let path = parent + "/" + name
            var info = stat()
            guard name.hasPrefix(prefix), let uid = UInt32(name.dropFirst(prefix.count)), !mine.contains(path),
                  lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == uid,
                  info.st_mode & 0o022 == 0 else { return nil }
            return (path, uid)
        }
    }
    /// Sessions kept for their logs that stay; older ones go when a session is created.
    public static let keptSessionsLimit = 10
    /// A session younger than this is never pruned (its processes may not hold the lock yet).
    static let graceSeconds = 60

    /// Creates a fresh session directory holding the cluster's `secret` (a new cluster's, or the
    /// one a joining node was given) and holds it alive for this process's lifetime.
    public static func create(secret: ClusterSecret) throws(RuntimeError) -> Session {
        pruneFinished()
        var stamp = timespec()
        clock_gettime(CLOCK_REALTIME, &stamp)
        let path = "\(root)/session-\(stamp.tv_sec)-\(stamp.tv_nsec / 1000)-\(getpid())"
        try checkRoot()
        let session = Session(path: path)
        do {
            for directory in [session.logs, session.sockets] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            // Not the group's, whatever the umask (a worker user is granted what it needs).
            for directory in [path, session.logs, session.sockets] { chmod(directory, 0o755) }
        } catch {
            throw RuntimeError("cannot create the session directory \(path): \(error.localizedDescription)")
        }
        // Each role's credential that this one derives (a node joining with a node's credential
        // has no administrator's secret to write).
        for role in [Identity.admin, .node, .driver] {
            if let credential = secret.derive(role) { try credential.write(to: session.credentialPath(role.role)) }
        }
        session.holdAlive()
        return session
    }

    /// Makes the sessions' directory if it is missing (0755, whatever the umask), and checks it is
    /// where no one else could put or swap sessions (its name is known): this user's or root's, and
    /// not writable by others unless sticky. One of this user's that the umask left group- or
    /// other-writable is made 0755.
    static func checkRoot(_ root: String = Session.root) throws(RuntimeError) {
        var info = stat()
        if stat(root, &info) != 0 {
            try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            chmod(root, 0o755)
        }
        guard stat(root, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw RuntimeError("cannot make the sessions' directory \(root): \(String(cString: strerror(errno))); "
                + "set SWIFTRAY_TMPDIR to a directory of your own")
        }
        if info.st_uid == geteuid(), info.st_mode & 0o022 != 0, info.st_mode & S_ISVTX == 0 {
            chmod(root, mode_t(info.st_mode & 0o7755))
            info.st_mode &= ~0o022
        }
        guard info.st_uid == geteuid() || info.st_uid == 0, info.st_mode & 0o022 == 0 || info.st_mode & S_ISVTX != 0 else {
            throw RuntimeError("the sessions' directory \(root) is not this user's or root's, or others may write in it "
                + "(owner uid \(info.st_uid), mode \(String(info.st_mode & 0o7777, radix: 8))): remove it, or set "
                + "SWIFTRAY_TMPDIR to a directory of your own")
        }
    }

    /// Takes a shared lock on `<session>/alive`, held until this process exits.
    public func holdAlive() {
        let fd = open(path + "/alive", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        if flock(fd, LOCK_SH) != 0 { close(fd) }
        // The descriptor stays open on purpose: the lock lives as long as the process.
    }

    /// True while some process of the session runs (or it is too young to tell).
    public var isAlive: Bool {
        if let started = startedAt, Int(time(nil)) - started < Self.graceSeconds { return true }
        let fd = open(path + "/alive", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }  // No lock file: a session of an older build, or half made.
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0
    }

    /// The creation time in the directory's name (session-<seconds>-<micros>-<pid>).
    var startedAt: Int? {
        let name = path.split(separator: "/").last ?? ""
        let parts = name.split(separator: "-")
        guard parts.count >= 2, parts[0] == "session" else { return nil }
        return Int(parts[1])
    }

    /// Why the session's logs were kept, if they were.
    public var keptReason: String? {
        (try? String(contentsOfFile: path + "/KEPT", encoding: .utf8))?.trimmingCharacters(in: "\n")
    }

    /// Keeps the logs (saying why), drops the sockets and the shared memory.
    public func keepLogs(reason: String) {
        _ = writeNewFile(path + "/KEPT", Array((reason + "\n").utf8))
        try? FileManager.default.removeItem(atPath: sockets)
        SharedObjects.removeAll(session: path)
    }

    /// Removes the session directory and its shared memory.
    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
        SharedObjects.removeAll(session: path)
    }

    /// Removes sessions that are over: entirely unless kept, and kept ones beyond the newest
    /// `keptSessionsLimit`. Returns what it removed (for tests and `swiftray` to report).
    @discardableResult
    public static func pruneFinished(root: String = Session.root) -> [String] {
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .filter { $0.hasPrefix("session-") }
        var removed: [String] = []
        var kept: [(Int, Session)] = []
        for entry in entries {
            let session = Session(path: root + "/" + entry)
            guard !session.isAlive else { continue }
            if session.keptReason != nil {
                kept.append((session.startedAt ?? 0, session))
            } else {
                session.remove()
                removed.append(session.path)
            }
        }
        kept.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1.path > $1.1.path) }
        for (_, session) in kept.dropFirst(keptSessionsLimit) {
            session.remove()
            removed.append(session.path)
        }
        return removed
    }
}
