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
        let bin = session + "/bin"
        mkdir(bin, 0o750)
        try user.grant(bin, mode: 0o2750)
        if let tls = environment(TLSContext.environmentVariable), !tls.isEmpty { workerTLS = (tls, [:]) }
        let uids = user.jobUIDs.map { "each job its own uid of \($0.lowerBound)-\($0.upperBound) (\(WorkerUser.uidsVariable)), " }
        note("raylet", "workers run as \(user.name) (\(uids ?? "uid \(user.uid), ")gid \(user.gid); "
            + "\(WorkerUser.environmentVariable))")
    }

    /// A worker's environment as `user`'s (nil, reported, if it cannot be made): its TLS material
    /// is that user's own copy, made at its first worker.
    func forWorkerUser(_ environment: [String], _ user: WorkerUser?, _ worker: WorkerID) -> [String]? {
        guard let user, let (source, copies) = workerTLS, let session = options.session else { return environment }
        var copy = copies[user.uid]
        if copy == nil {
            do {
                copy = try user.copyTLS(from: source, session: session)
            } catch {
                note("raylet", "\(error); \(worker) cannot start")
                return nil
            }
            workerTLS?.copies[user.uid] = copy
        }
        let key = TLSContext.environmentVariable + "="
        return environment.filter { !$0.hasPrefix(key) } + [key + (copy ?? source)]
    }

    /// The program `worker` runs: `path` itself, or with a worker user a copy of it in the
    /// session's bin/ that the user's group may run (nil, reported, if it cannot be made).
    func runnable(_ path: String, by worker: WorkerID) -> String? {
        guard let user = options.workerUser else { return path }
        guard let session = options.session, let digest = fileDigest(path) else {
            note("raylet", "cannot read \(path) to copy it for \(user.name)'s workers; \(worker) cannot start")
            return nil
        }
        let copy = session + "/bin/worker-\(digest)"
        if copy != path, fileDigest(copy) != digest {
            let temporary = copy + ".partial-\(getpid())"
            guard let data = FileManager.default.contents(atPath: path), writeNewFile(temporary, Array(data), mode: 0o750),
                  rename(temporary, copy) == 0 else {
                unlink(temporary)
                note("raylet", "cannot copy \(path) to \(copy) for \(user.name)'s workers: \(errnoText()); "
                    + "\(worker) cannot start")
                return nil
            }
        }
        do {
            try user.grant(copy, mode: 0o750)
        } catch {
            note("raylet", "\(error); \(worker) cannot start")
            return nil
        }
        return copy
    }
}
