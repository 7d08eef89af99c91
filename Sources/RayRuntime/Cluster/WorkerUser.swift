// Workers run as another user (issue 12: a job's code must not hold the node's rights). With
// SWIFTRAY_WORKER_USER=NAME a raylet running as root starts its workers as NAME (setuid and
// setgid in uv_spawn, supplementary groups dropped), so a job's code cannot read the session's
// credentials (`cluster.secret`, `node.credential`: mode 0600, the raylet's user's), nor the
// environment or memory of the node's own processes. A worker reaches only what the raylet
// grants NAME's group: the session directory to pass through (0710), its sockets directory and
// a directory of the workers' own under its logs (setgid and sticky, 03770: what is made in them
// is the group's, and no one removes what another made), the node's object directory and region (shared memory, 03770 / 0660), its
// spill directory to read (02750), and a copy of the job's program in `<session>/bin`
// (0750), and with TLS a copy of the node's TLS material that the user owns (workers make TCP
// links of their own; what authorizes them is the job's credential, which is all they hold).
// Every job's workers on a node run as that one user, unless SWIFTRAY_WORKER_UIDS=FIRST-LAST
// gives each job a user ID of its own (the node's first free one of the range; IDs no account on
// the machine has, the group USER's): then a job's workers cannot read another job's workers'
// environment (its credential) or memory, or signal them. Either way this keeps jobs from the
// cluster's credentials, not one job from another's objects (one region per node).

import Foundation
import Glibc

/// The user a raylet's workers run as (nil: the raylet's own).
public struct WorkerUser: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    /// The user's home directory (a worker's HOME).
    public var home = "/"
    /// User IDs given to jobs, one each (SWIFTRAY_WORKER_UIDS; nil: all jobs run as `uid`).
    public var uidRange: ClosedRange<UInt32>?

    public static let environmentVariable = "SWIFTRAY_WORKER_USER"
    public static let uidsVariable = "SWIFTRAY_WORKER_UIDS"
    /// The most user IDs a range may hold (each is checked against the machine's accounts).
    static let uidsMax: UInt32 = 1 << 20

    /// The user a new job's workers run as on a node whose jobs took `taken`: the one user, or
    /// the first ID of the range none of them has, looking from `start` on (each node starts
    /// elsewhere, so that nodes sharing a machine rarely give out one ID); nil when every ID of
    /// the range is taken.
    func assigning(start: UInt32, taken: Set<UInt32>) -> WorkerUser? {
        guard let range = uidRange else { return self }
        let size = UInt64(range.upperBound - range.lowerBound) + 1
        guard UInt64(taken.count) < size else { return nil }
        var offset = UInt64(start) &* 2_654_435_761 % size
        while taken.contains(range.lowerBound + UInt32(offset)) { offset = (offset + 1) % size }
        var user = self
        user.uid = range.lowerBound + UInt32(offset)
        return user
    }

    /// The user SWIFTRAY_WORKER_USER names, checked: it exists, is not root, and this process
    /// (the raylet) may switch to it.
    public static func fromEnvironment() throws(RuntimeError) -> WorkerUser? {
        let uids = environment(uidsVariable).flatMap { $0.isEmpty ? nil : $0 }
        guard let name = environment(environmentVariable), !name.isEmpty else {
            if let uids {
                throw RuntimeError("\(uidsVariable)=\(uids) needs \(environmentVariable) too (whose group the jobs' "
                    + "user IDs share); set both, or unset \(uidsVariable)")
            }
            return nil
        }
        var user = try named(name, euid: geteuid())
        if let uids { user.uidRange = try parseUIDs(uids) }
        return user
    }

    /// A range FIRST-LAST of user IDs no account on this machine has, none of them root.
    static func parseUIDs(_ text: String) throws(RuntimeError) -> ClosedRange<UInt32> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let first = UInt32(parts[0]), let last = UInt32(parts[1]), first <= last else {
            throw RuntimeError("\(uidsVariable)=\(text) is not a range of user IDs FIRST-LAST (e.g. 200000-209999)")
        }
        guard first > 0, last < UInt32.max else {
            throw RuntimeError("\(uidsVariable)=\(text) includes user ID \(first == 0 ? "0 (root)" : "\(UInt32.max)")")
        }
        guard last - first < uidsMax else {
            throw RuntimeError("\(uidsVariable)=\(text) holds \(UInt64(last - first) + 1) user IDs, more than "
                + "\(uidsMax); give a smaller range")
        }
        setpwent()
        defer { endpwent() }
        while let entry = getpwent() {
            let uid = entry.pointee.pw_uid
            if uid >= first, uid <= last {
                let owner = String(cString: entry.pointee.pw_name)
                throw RuntimeError("\(uidsVariable)=\(text) includes user ID \(uid), which is \(owner)'s: jobs' code "
                    + "would run as that account; give a range no account has")
            }
        }
        return first...last
    }

    static func named(_ name: String, euid: uid_t) throws(RuntimeError) -> WorkerUser {
        let how = "set \(environmentVariable) to an existing unprivileged user (e.g. one made with "
            + "`useradd --system swiftray-worker`), or unset it to run workers as the raylet's user"
        guard let entry = getpwnam(name) else {
            throw RuntimeError("\(environmentVariable)=\(name) names no user on this machine; \(how)")
        }
        let user = WorkerUser(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid,
                              home: String(cString: entry.pointee.pw_dir))
        guard user.uid != 0 else {
            throw RuntimeError("\(environmentVariable)=\(name) is root: workers would keep every right the "
                + "setting is there to take away; \(how)")
        }
        guard euid == 0 else {
            throw RuntimeError("\(environmentVariable)=\(name) needs the raylet to run as root (it runs as uid "
                + "\(euid)), to start workers as another user; run `swiftray start` as root, or unset it")
        }
        return user
    }

    /// Gives this user's group `mode` on `path` (the raylet keeps it as owner).
    func grant(_ path: String, mode: mode_t) throws(RuntimeError) {
        guard chown(path, uid_t.max, gid) == 0, chmod(path, mode) == 0 else {
            throw RuntimeError("cannot give \(name)'s workers access to \(path): \(errnoText())")
        }
    }

    /// A worker's own variables (HOME, USER, LOGNAME) as this user's, in place of the raylet's.
    func workerEnvironment(_ environment: [String]) -> [String] {
        let own = ["HOME=", "USER=", "LOGNAME="]
        return environment.filter { entry in !own.contains { entry.hasPrefix($0) } }
            + ["HOME=\(home)", "USER=\(name)", "LOGNAME=\(name)"]
    }

    /// What workers need of a session: to pass through it, and to use its sockets (their logs go
    /// to a directory of their own, `grantLogs`: the node's own logs stay the node's).
    func grantSession(_ session: String) throws(RuntimeError) {
        let paths = Session(path: session)
        try grant(session, mode: 0o710)
        // Sticky too: a worker may not remove or rename what it did not make there.
        try grant(paths.sockets, mode: 0o3770)
    }

    /// A copy of the node's TLS material in `<session>/tls-workers-<uid>` that this user owns (a TLS key
    /// must be its reader's alone), for workers' own TCP links; returns its directory.
    func copyTLS(from directory: String, session: String) throws(RuntimeError) -> String {
        let copy = session + "/tls-workers-\(uid)"
        mkdir(copy, 0o750)
        try grant(copy, mode: 0o2750)
        for file in [TLSContext.caFile, TLSContext.certificateFile, TLSContext.keyFile] {
            let target = copy + "/" + file, temporary = target + ".partial-\(getpid())"
            guard let data = FileManager.default.contents(atPath: directory + "/" + file) else {
                throw RuntimeError("cannot read \(directory)/\(file) to copy it for \(name)'s workers")
            }
            unlink(temporary)
            guard writeNewFile(temporary, Array(data), mode: 0o600), chown(temporary, uid, gid) == 0,
                  rename(temporary, target) == 0 else {
                let reason = errnoText()
                unlink(temporary)
                throw RuntimeError("cannot give \(name)'s workers a copy of \(directory)/\(file): \(reason)")
            }
        }
        return copy
    }

    /// A job's store (a user ID per job), this user ID's alone: its directories 02700 (what the
    /// raylet or a root driver writes there takes the workers' group, readable through them only),
    /// its region and lock 0660.
    func grantJobStore(_ store: SharedObjects) throws(RuntimeError) {
        // Through descriptors opened without following links: the region sits in a directory the
        // job's code may have written (when a store is granted again), and a link there must not
        // have root give it some other file.
        for (path, mode, directory) in [(store.directory, 0o2700, true), (store.regionPath, 0o660, false),
                                        (store.regionPath + ".lock", 0o660, false), (store.spillDirectory, 0o2700, true)] {
            let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (directory ? O_DIRECTORY : 0))
            defer { if fd >= 0 { close(fd) } }
            var info = stat()
            // One name only: a hard link the job made to a file elsewhere would be that file.
            guard fd >= 0, fstat(fd, &info) == 0, info.st_mode & S_IFMT == (directory ? S_IFDIR : S_IFREG),
                  directory || info.st_nlink == 1 else {
                throw RuntimeError("cannot give uid \(uid) its job's object store: \(path) is not the "
                    + (directory ? "directory" : "file") + " the raylet made (\(errnoText()))")
            }
            guard fchown(fd, uid, gid) == 0, fchmod(fd, mode_t(mode)) == 0 else {
                throw RuntimeError("cannot give uid \(uid) its job's object store \(path): \(errnoText())")
            }
        }
    }

    /// The directory workers log under, `<logs>/workers`, made theirs (setgid and sticky).
    func grantLogs(under logs: String) throws(RuntimeError) -> String {
        let workers = logs + "/workers"
        mkdir(workers, 0o770)
        var info = stat()
        guard lstat(workers, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid() else {
            throw RuntimeError("\(workers) is not a directory this raylet made")
        }
        try grant(workers, mode: 0o3770)
        return workers
    }

    /// What workers need of a node's store: its directories and its region — or, with a user ID
    /// per job (each job a store of its own: `grantJobStore`), only to pass through to their
    /// job's (the node's region, its files and spill files become the raylet's alone).
    func grantStore(_ store: SharedObjects) throws(RuntimeError) {
        if uidRange != nil {
            for (path, mode) in [(store.directory, 0o711), (store.poolDirectory, 0o700),
                                 (parentDirectory(store.spillDirectory), 0o711), (store.spillDirectory, 0o711)] {
                guard chmod(path, mode_t(mode)) == 0 else {
                    throw RuntimeError("cannot make \(path) the raylet's: \(errnoText())")
                }
            }
            return
        }
        try grant(store.directory, mode: 0o3770)
        try grant(store.poolDirectory, mode: 0o3770)
        try grant(store.regionPath, mode: 0o660)
        try grant(store.regionPath + ".lock", mode: 0o660)
        // Spilled objects are read in place when memory is full: readable, not writable.
        let spill = store.spillDirectory
        try grant(parentDirectory(spill), mode: 0o750)
        try grant(spill, mode: 0o2750)
    }
}

/// The name of the account with user ID `uid` ("uid N" when no account has it).
public func userName(_ uid: UInt32) -> String { getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(uid)" }

/// The name of the user who owns `path` ("another user" when it cannot be looked at).
public func ownerName(of path: String) -> String {
    var info = stat()
    return stat(path, &info) == 0 ? userName(info.st_uid) : "another user"
}

/// As root, the group of the directory `path` is in, if it is not `group` (a directory of another
/// group: a session or store whose node another user started, or whose workers run as another
/// user): what root makes there takes it, as a set-group-ID directory would give it, so the
/// directory's users reach it. Nil for any other process, or when the group is already that.
private func directoryGroupForRoot(of path: String, unless group: gid_t) -> gid_t? {
    var directory = stat()
    guard geteuid() == 0, stat((path as NSString).deletingLastPathComponent, &directory) == 0,
          directory.st_gid != group else { return nil }
    return directory.st_gid
}

/// Gives the file this process just made at `path`, open as `fd`, its directory's group when root
/// (`directoryGroupForRoot`): a root driver's objects in a store whose node another user started.
func takeDirectoryGroup(_ path: String, fd: Int32) {
    if let group = directoryGroupForRoot(of: path, unless: getegid()) { _ = fchown(fd, uid_t.max, group) }
}

/// Makes the socket this process just bound at `path` mode 0660 and, as root, its directory's group
/// (`directoryGroupForRoot`: a root driver's socket in a session whose node another user started,
/// reached by its workers). Through a descriptor of the name that follows no link, checked to be
/// this process's socket: the directory may be another user's, who could swap the name for a link
/// to a file of root's between the bind and the chmod.
func setSocketPermissions(_ path: String) {
    let fd = open(path, 0o10000000 /* O_PATH */ | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, info.st_uid == geteuid() else { return }
    let byDescriptor = "/proc/self/fd/\(fd)"
    _ = chmod(byDescriptor, 0o660)
    if let group = directoryGroupForRoot(of: path, unless: info.st_gid) { _ = chown(byDescriptor, uid_t.max, group) }
}
