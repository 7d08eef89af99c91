// Per-job CPU shares for a node's worker processes (issue 12: a job saturating the
// node's cores cannot starve another job's workers). Each job's workers on a node go
// into a cgroup of their own, all with the same weight, so under contention the kernel
// gives every job an equal share of the CPUs however many processes or threads it runs
// (leases only account for what tasks declare: a zero-CPU task or actor that spins, or a
// body running more threads than its CPUs, would otherwise take cores from every job).
//
// Host-level, like the processes themselves: the machines never see it, and the
// simulator (which has no CPUs) has nothing to model. cgroup v1's `cpu` controller
// (cpu.shares) or v2's (cpu.weight), under the raylet's own cgroup:
// `<raylet's cgroup>/swiftray-<node>-<pid>/job-<N>`. Where no writable cpu controller
// exists (a container without one, a v2 hierarchy whose parent cannot delegate it),
// it is off and says why (`swiftray status`); SWIFTRAY_JOB_CPU_SHARES=0 turns it off.
// Groups left by a raylet that was killed are removed by the next one on the machine.

import Foundation
import Glibc
import RayCore

final class JobCPUShares {
    /// The node's group (`.../swiftray-<node>-<pid>`).
    let base: String
    /// What `swiftray status` says of it.
    let description: String
    /// Worker processes placed per job, to remove a job's group once it is empty.
    private var placed: [JobID: Set<Int32>] = [:]

    private init(base: String, description: String) {
        self.base = base
        self.description = description
    }

    /// The node's per-job CPU groups, or nil and why not.
    static func make(node: NodeID) -> (shares: JobCPUShares?, status: String) {
        if environment("SWIFTRAY_JOB_CPU_SHARES") == "0" { return (nil, "off (SWIFTRAY_JOB_CPU_SHARES=0)") }
        let memberships = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        var reasons: [String] = []
        // cgroup v2 (a unified hierarchy mounted at /sys/fs/cgroup).
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
            let own = memberships.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) } ?? "/"
            let parent = "/sys/fs/cgroup" + (own == "/" ? "" : own)
            let base = parent + "/swiftray-\(node.value)-\(getpid())"
            if (try? String(contentsOfFile: parent + "/cgroup.subtree_control", encoding: .utf8))?
                .split(separator: " ").contains(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines) == "cpu" }) != true {
                _ = write("+cpu", to: parent + "/cgroup.subtree_control")
            }
            if mkdir(base, 0o755) == 0 || errno == EEXIST {
                if write("+cpu", to: base + "/cgroup.subtree_control") {
                    removeStale(in: parent, except: base)
                    return (JobCPUShares(base: base, description: "on (cgroup v2 cpu.weight, \(base))"), "")
                }
                reasons.append("cgroup v2: the cpu controller cannot be enabled under \(parent)")
                rmdir(base)
            } else {
                reasons.append("cgroup v2: cannot create \(base) (\(String(cString: strerror(errno))))")
            }
        }
        // cgroup v1 (a `cpu` hierarchy of its own).
        let own = memberships.split(separator: "\n").compactMap { line -> String? in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[1].split(separator: ",").contains("cpu") else { return nil }
            return String(parts[2])
        }.first
        if let own, let mount = ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"].first(where: {
            FileManager.default.fileExists(atPath: $0 + "/cpu.shares")
        }) {
            let parent = mount + (own == "/" ? "" : own)
            let base = parent + "/swiftray-\(node.value)-\(getpid())"
            if mkdir(base, 0o755) == 0 || errno == EEXIST {
                removeStale(in: parent, except: base)
                return (JobCPUShares(base: base, description: "on (cgroup v1 cpu.shares, \(base))"), "")
            }
            reasons.append("cgroup v1: cannot create \(base) (\(String(cString: strerror(errno))))")
        } else if reasons.isEmpty {
            reasons.append("no cgroup cpu controller is mounted")
        }
        return (nil, "off (" + reasons.joined(separator: "; ") + ")")
    }

    /// Moves a worker process of `job` into the job's group (creating it); false if it could not.
    @discardableResult
    func place(_ pid: Int32, job: JobID) -> Bool {
        let group = base + "/job-\(job.value)"
        guard mkdir(group, 0o755) == 0 || errno == EEXIST, Self.write("\(pid)", to: group + "/cgroup.procs") else {
            return false
        }
        placed[job, default: []].insert(pid)
        return true
    }

    /// A worker process exited: its job's group goes once it holds no process.
    func exited(_ pid: Int32, job: JobID) {
        guard placed[job]?.remove(pid) != nil, placed[job]?.isEmpty == true else { return }
        placed[job] = nil
        rmdir(base + "/job-\(job.value)")
    }

    /// The raylet is ending (its workers are gone or going): remove every group it made.
    func removeAll() {
        for job in placed.keys { rmdir(base + "/job-\(job.value)") }
        placed = [:]
        Self.removeTree(base)
    }

    private static func write(_ text: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return text.withCString { Glibc.write(fd, $0, strlen($0)) } == strlen(text)
    }

    /// Empty groups of raylets that died (their pid is gone), left in `parent`.
    private static func removeStale(in parent: String, except keep: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for name in names where name.hasPrefix("swiftray-") && parent + "/" + name != keep {
            guard let pid = name.split(separator: "-").last.flatMap({ Int32($0) }), kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            removeTree(parent + "/" + name)
        }
    }

    /// Removes a node group and its (empty) job groups; groups still holding a process stay.
    private static func removeTree(_ base: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix("job-") {
            rmdir(base + "/" + name)
        }
        rmdir(base)
    }
}
