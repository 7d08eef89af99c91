// A raylet whose workers run as another user (SWIFTRAY_WORKER_USER; see WorkerUser): what it
// grants that user's group before its first worker starts, and the copy of a job's program the
// workers run (a program under a 0700 home, or a build directory, is not theirs to read).

import Foundation
import Glibc
import RayCore

extension RayletHost {
    /// Grants the session's directories and the program cache to the workers' group (before the
    /// node's socket is made, so that it is the group's).
    func grantSessionToWorkerUser() throws(RuntimeError) {
        guard let user = options.workerUser else { return }
        guard let session = options.session else {
            throw RuntimeError("\(WorkerUser.environmentVariable) needs a session directory (SWIFTRAY_SESSION)")
        }
        try user.grantSession(session)
        if let logs = options.logDirectory { workerLogRoot = try user.grantLogs(under: parentDirectory(logs)) }
        let bin = session + "/bin"
        mkdir(bin, 0o750)
        try user.grant(bin, mode: 0o2750)
        if let tls = environment(TLSContext.environmentVariable), !tls.isEmpty { workerTLS = (tls, [:]) }
        let uids = user.uidRange.map { "each job its own uid of \($0.lowerBound)-\($0.upperBound) (\(WorkerUser.uidsVariable)), " }
        note("raylet", "workers run as \(user.name) (\(uids ?? "uid \(user.uid), ")gid \(user.gid); "
            + "\(WorkerUser.environmentVariable))")
    }

    /// The user `job`'s workers run as (nil: the raylet's own): with a range of user IDs, the one
    /// this node gave the job, a free one at its first worker. Kept while the range has others
    /// (files the job's workers made may outlive them); once it is used up, the IDs of jobs with no
    /// worker left here are given again, and when every ID is a running job's the job's workers
    /// do not start (thrown: the caller notes it).
    func workerUser(for job: JobID) throws(RuntimeError) -> WorkerUser? {
        guard let user = options.workerUser, user.uidRange != nil else { return options.workerUser }
        if let own = perJob.driverUsers[job] { return own }
        var assigned = user
        if let uid = jobUIDs[job] {
            assigned.uid = uid
        } else {
            if user.assigning(start: nodeID.value, taken: Set(jobUIDs.values)) == nil {
                // Used up: the IDs of jobs with no worker left on this node go back to the range.
                let live = Set(workerJobs.values)
                revokeJobStores(of: jobUIDs.keys.filter { !live.contains($0) })
                jobUIDs = jobUIDs.filter { live.contains($0.key) }
            }
            guard let free = user.assigning(start: nodeID.value, taken: Set(jobUIDs.values)) else {
                throw RuntimeError("every user ID of \(WorkerUser.uidsVariable) is taken by this node's jobs; "
                    + "\(job)'s workers cannot start: give a larger range")
            }
            assigned = free
            jobUIDs[job] = free.uid
        }
        return assigned
    }

    /// Notes the user a driver connecting through `connection` runs as, for its job `job`: with a
    /// user ID per job, a driver of another user than the raylet (not root) has its job's workers
    /// here run as that user (in the workers' group, as every worker), and so its job's store is
    /// that user's, which its driver then writes to and reads from. Its code is that user's
    /// anyway, and gains nothing: one user's jobs are not kept from each other, every other
    /// job's still are. A root driver's job gets an ID of the range, as a job without a driver here.
    func noteDriverUser(of connection: Connection, job: JobID) {
        // A user of the machine (an account), not an ID of the range: a job's code running as one
        // (given a driver's credential) would otherwise keep it past its job, when it goes to another.
        guard let user = options.workerUser, let range = user.uidRange, let peer = connection.peerProcess,
              peer.uid != 0, peer.uid != geteuid(), !range.contains(peer.uid), let entry = getpwuid(peer.uid) else { return }
        var own = user
        own.uid = peer.uid
        own.name = String(cString: entry.pointee.pw_name)
        own.home = String(cString: entry.pointee.pw_dir)
        perJob.driverUsers[job] = own
    }

    /// A worker's environment as `user`'s: its HOME and USER, and its TLS material that user's
    /// own copy, made at its first worker.
    func forWorkerUser(_ environment: [String], _ user: WorkerUser?) throws(RuntimeError) -> [String] {
        guard let user else { return environment }
        let environment = user.workerEnvironment(environment)
        guard let (source, copies) = workerTLS, let session = options.session else { return environment }
        let copy: String
        if let made = copies[user.uid] {
            copy = made
        } else {
            copy = try user.copyTLS(from: source, session: session)
            workerTLS?.copies[user.uid] = copy
        }
        let key = TLSContext.environmentVariable + "="
        return environment.filter { !$0.hasPrefix(key) } + [key + copy]
    }

    /// The program a worker runs: `path` itself, or with a worker user a copy of it in the
    /// session's bin/ that the user's group may run, named by the digest of the bytes copied.
    func runnable(_ path: String) throws(RuntimeError) -> String {
        guard let user = options.workerUser else { return path }
        guard let session = options.session, let data = FileManager.default.contents(atPath: path) else {
            throw RuntimeError("cannot read \(path) to copy it for \(user.name)'s workers")
        }
        let digest = Self.digest(data)
        let copy = session + "/bin/worker-\(digest)"
        if copy != path, fileDigest(copy) != digest {
            let temporary = copy + ".partial-\(getpid())"
            unlink(temporary)
            guard writeNewFile(temporary, Array(data), mode: 0o750), rename(temporary, copy) == 0 else {
                let reason = errnoText()
                unlink(temporary)
                throw RuntimeError("cannot copy \(path) to \(copy) for \(user.name)'s workers: \(reason)")
            }
        }
        try user.grant(copy, mode: 0o750)
        return copy
    }
}

/// The process environment as "K=V" strings.
func currentEnvironment() -> [String] {
    var result: [String] = []
    var pointer = environ
    while let entry = pointer.pointee {
        result.append(String(cString: entry))
        pointer += 1
    }
    return result
}

func parentDirectory(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return String(path[..<slash])
}
