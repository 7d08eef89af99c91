// Per-job cgroups for a node's worker processes (issue 12: a job cannot take the node's
// cores or memory from another job). Each job's workers on a node go into a group of
// their own under the raylet's cgroup, `<raylet's cgroup>/swiftray-<node>-<pid>/job-<N>`:
// - CPU shares: every job's group has the same weight, so under contention the kernel
//   gives each job an equal share of the cores however many processes or threads it runs
//   (leases only account for what tasks declare: a zero-CPU task or actor that spins, or
//   a body running more threads than its CPUs, would otherwise take cores from every job).
//   On unless SWIFTRAY_JOB_CPU_SHARES=0.
// - A memory limit (SWIFTRAY_JOB_MEMORY_BYTES; by default the machine's memory less the node's
//   object store and 1 GiB, so one job's workers are killed before they push the kernel to
//   kill the raylet or the GCS; 0 turns it off): a job's workers on the node together hold at
//   most that much; past it the kernel kills one of them, and the task's failure
//   (WorkerCrashed) says the job's memory limit was reached.
// - A process-count limit (SWIFTRAY_JOB_PIDS_MAX, off unless set; the kernel's pids
//   controller, which counts threads too): a job's workers on the node, and whatever they
//   fork, hold at most that many tasks; past it fork and thread creation fail in the job's
//   processes (EAGAIN) and nowhere else.
//
// Host-level, like the processes themselves: the machines never see it, and the
// simulator (which has no CPUs and no process memory) has nothing to model. cgroup v1
// (a hierarchy per controller: cpu.shares, memory.limit_in_bytes) or v2 (cpu.weight,
// memory.max, where the parent can delegate the controllers). Where a controller cannot be
// used (a container without one), that part is off and says why (`swiftray status`).
// Groups left by a raylet that was killed are removed by the next one on the machine.

import Foundation
import Glibc
import RayCore

public final class JobCPUShares {
    /// One cgroup hierarchy the node's groups live in.
    private struct Hierarchy {
        /// The node's group (`.../swiftray-<node>-<pid>`).
        let base: String
        /// The limits a job's group gets: the file each goes in, and its value.
        let limits: [(file: String, value: Int64)]
        /// The file that counts a group's OOM kills ("oom_kill N").
        let oomFile: String?
    }

    private let hierarchies: [Hierarchy]
    /// The memory limit per job on this node, in bytes (nil: none).
    let memoryLimit: Int64?
    /// The process (and thread) limit per job on this node (nil: none).
    let pidsLimit: Int64?
    /// What `swiftray status` says of it.
    let description: String
    /// Worker processes placed per job, to remove a job's groups once they are empty.
    private var placed: [JobID: Set<Int32>] = [:]
    /// OOM kills seen per job's group, to tell which worker exits were OOM kills.
    private var oomKillsSeen: [JobID: Int] = [:]

    private init(hierarchies: [Hierarchy], memoryLimit: Int64?, pidsLimit: Int64?, description: String) {
        self.hierarchies = hierarchies
        self.memoryLimit = memoryLimit
        self.pidsLimit = pidsLimit
        self.description = description
    }

    /// What a job's workers on a node hold at most unless SWIFTRAY_JOB_MEMORY_BYTES says otherwise:
    /// the machine's memory less the node's object store (`storeBytes`) and 1 GiB for the
    /// raylet, the GCS and the drivers; nil (off) when that leaves less than 256 MiB.
    static func defaultMemoryLimit(storeBytes: Int64) -> Int64? {
        let physical = Int64(sysconf(Int32(_SC_PHYS_PAGES))) * Int64(sysconf(Int32(_SC_PAGESIZE)))
        let limit = physical - max(0, storeBytes) - (1 << 30)
        return limit >= 256 << 20 ? limit : nil
    }

    /// SWIFTRAY_JOB_MEMORY_BYTES: bytes (a positive whole number), 0 for no limit, or unset for
    /// the default; anything else is refused by name. Nil: no limit.
    static func memoryLimitSetting(storeBytes: Int64) throws(RuntimeError) -> (limit: Int64?, source: String) {
        if environment("SWIFTRAY_JOB_MEMORY_BYTES") == "0" { return (nil, "SWIFTRAY_JOB_MEMORY_BYTES=0") }
        if let text = environment("SWIFTRAY_JOB_MEMORY_BYTES") {
            guard let set = Int64(text), set > 0 else {
                throw RuntimeError("SWIFTRAY_JOB_MEMORY_BYTES=\(text) is not a positive whole number (bytes a job's workers "
                    + "on a node may hold, or 0 for no limit)")
            }
            return (set, "SWIFTRAY_JOB_MEMORY_BYTES")
        }
        guard let limit = defaultMemoryLimit(storeBytes: storeBytes) else {
            return (nil, "the machine's memory less the object store and 1 GiB leaves less than 256 MiB; "
                + "SWIFTRAY_JOB_MEMORY_BYTES sets a limit")
        }
        return (limit, "the default: the machine's memory less the object store and 1 GiB; SWIFTRAY_JOB_MEMORY_BYTES")
    }

    /// The node's per-job groups (nil when every part is off), and what status says of them.
    /// A malformed SWIFTRAY_JOB_MEMORY_BYTES or SWIFTRAY_JOB_PIDS_MAX is refused by name.
    static func make(node: NodeID, storeBytes: Int64) throws(RuntimeError) -> (groups: JobCPUShares?, status: String) {
        let (memoryLimit, memorySource) = try memoryLimitSetting(storeBytes: storeBytes)
        let pidsLimit = try positiveSetting("SWIFTRAY_JOB_PIDS_MAX").map(Int64.init)
        let wantCPU = environment("SWIFTRAY_JOB_CPU_SHARES") != "0"
        let memberships = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        let name = "swiftray-\(node.value)-\(getpid())"
        var hierarchies: [Hierarchy] = []
        var cpu = wantCPU ? "" : "CPU shares off (SWIFTRAY_JOB_CPU_SHARES=0)"
        var memory = memoryLimit == nil ? "memory limit off (\(memorySource))" : "", pids = ""
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
            // cgroup v2: one group holds both controllers.
            let own = memberships.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) } ?? "/"
            let parent = "/sys/fs/cgroup" + (own == "/" ? "" : own)
            let wanted = (wantCPU ? ["cpu"] : []) + (memoryLimit != nil ? ["memory"] : []) + (pidsLimit != nil ? ["pids"] : [])
            if !wanted.isEmpty {
                let base = parent + "/" + name
                for controller in wanted { _ = write("+\(controller)", to: parent + "/cgroup.subtree_control") }
                if mkdir(base, 0o755) == 0 || errno == EEXIST {
                    let enabled = wanted.filter { write("+\($0)", to: base + "/cgroup.subtree_control") }
                    if enabled.isEmpty { rmdir(base) } else {
                        removeStale(in: parent, except: base)
                        var limits: [(file: String, value: Int64)] = []
                        if let memoryLimit, enabled.contains("memory") { limits.append(("memory.max", memoryLimit)) }
                        if let pidsLimit, enabled.contains("pids") { limits.append(("pids.max", pidsLimit)) }
                        hierarchies.append(Hierarchy(base: base, limits: limits,
                                                     oomFile: enabled.contains("memory") ? "memory.events" : nil))
                    }
                    if wantCPU { cpu = enabled.contains("cpu") ? "CPU shares on (cgroup v2 cpu.weight, \(base))"
                        : "CPU shares off (cgroup v2: the cpu controller cannot be enabled under \(parent))" }
                    if let memoryLimit { memory = enabled.contains("memory")
                        ? "memory limit \(memoryLimit) B per job (\(memorySource); cgroup v2 memory.max, \(base))"
                        : "memory limit off (cgroup v2: the memory controller cannot be enabled under \(parent))" }
                    if let pidsLimit { pids = enabled.contains("pids")
                        ? "process limit \(pidsLimit) per job (cgroup v2 pids.max, \(base))"
                        : "process limit off (cgroup v2: the pids controller cannot be enabled under \(parent))" }
                } else {
                    let why = "cgroup v2: cannot create \(base) (\(String(cString: strerror(errno))))"
                    if wantCPU { cpu = "CPU shares off (\(why))" }
                    if memoryLimit != nil { memory = "memory limit off (\(why))" }
                    if pidsLimit != nil { pids = "process limit off (\(why))" }
                }
            }
        } else {
            // cgroup v1: a hierarchy per controller.
            func v1(_ controller: String, mounts: [String], probe: String) -> (base: String?, why: String) {
                let own = memberships.split(separator: "\n").compactMap { line -> String? in
                    let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                    guard parts.count == 3, parts[1].split(separator: ",").contains(Substring(controller)) else { return nil }
                    return String(parts[2])
                }.first
                guard let own, let mount = mounts.first(where: { FileManager.default.fileExists(atPath: $0 + "/" + probe) })
                else { return (nil, "no cgroup \(controller) controller is mounted") }
                let parent = mount + (own == "/" ? "" : own)
                let base = parent + "/" + name
                guard mkdir(base, 0o755) == 0 || errno == EEXIST else {
                    return (nil, "cgroup v1: cannot create \(base) (\(String(cString: strerror(errno))))")
                }
                removeStale(in: parent, except: base)
                return (base, "")
            }
            if wantCPU {
                let (base, why) = v1("cpu", mounts: ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"], probe: "cpu.shares")
                if let base { hierarchies.append(Hierarchy(base: base, limits: [], oomFile: nil)) }
                cpu = base.map { "CPU shares on (cgroup v1 cpu.shares, \($0))" } ?? "CPU shares off (\(why))"
            }
            if let memoryLimit {
                let (base, why) = v1("memory", mounts: ["/sys/fs/cgroup/memory"], probe: "memory.limit_in_bytes")
                if let base {
                    hierarchies.append(Hierarchy(base: base, limits: [("memory.limit_in_bytes", memoryLimit)],
                                                 oomFile: "memory.oom_control"))
                }
                memory = base.map { "memory limit \(memoryLimit) B per job (\(memorySource); cgroup v1 memory.limit_in_bytes, \($0))" }
                    ?? "memory limit off (\(why))"
            }
            if let pidsLimit {
                let (base, why) = v1("pids", mounts: ["/sys/fs/cgroup/pids"], probe: "pids.max")
                if let base { hierarchies.append(Hierarchy(base: base, limits: [("pids.max", pidsLimit)], oomFile: nil)) }
                pids = base.map { "process limit \(pidsLimit) per job (cgroup v1 pids.max, \($0))" }
                    ?? "process limit off (\(why))"
            }
        }
        let status = [cpu, memory, pids].filter { !$0.isEmpty }.joined(separator: "; ")
        guard !hierarchies.isEmpty else { return (nil, status) }
        return (JobCPUShares(hierarchies: hierarchies, memoryLimit: memoryLimit, pidsLimit: pidsLimit,
                             description: status), status)
    }

    /// Moves a worker process of `job` into the job's groups (creating them); false if it could not.
    @discardableResult
    func place(_ pid: Int32, job: JobID) -> Bool {
        var placedAll = true
        for hierarchy in hierarchies {
            let group = hierarchy.base + "/job-\(job.value)"
            let made = mkdir(group, 0o755) == 0
            guard made || errno == EEXIST else {
                placedAll = false
                continue
            }
            if made { for limit in hierarchy.limits { _ = Self.write("\(limit.value)", to: group + "/" + limit.file) } }
            placedAll = Self.write("\(pid)", to: group + "/cgroup.procs") && placedAll
        }
        placed[job, default: []].insert(pid)
        return placedAll
    }

    /// A worker of `job` exited: true when the kernel killed one of the job's processes for its
    /// memory limit since the last exit (read before `exited`).
    func killedForMemory(job: JobID) -> Bool {
        var total = 0
        for hierarchy in hierarchies {
            guard let file = hierarchy.oomFile,
                  let text = try? String(contentsOfFile: hierarchy.base + "/job-\(job.value)/" + file, encoding: .utf8)
            else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("oom_kill ") {
                total += Int(line.dropFirst("oom_kill ".count)) ?? 0
            }
        }
        defer { oomKillsSeen[job] = total }
        return total > (oomKillsSeen[job] ?? 0)
    }

    /// A worker process exited: its job's groups go once they hold no process.
    func exited(_ pid: Int32, job: JobID) {
        guard placed[job]?.remove(pid) != nil, placed[job]?.isEmpty == true else { return }
        placed[job] = nil
        oomKillsSeen[job] = nil
        for hierarchy in hierarchies { rmdir(hierarchy.base + "/job-\(job.value)") }
    }

    /// The raylet is ending (its workers are gone or going): remove every group it made.
    func removeAll() {
        placed = [:]
        for hierarchy in hierarchies { Self.removeTree(hierarchy.base) }
    }

    /// A raylet's cgroup memberships (/proc/PID/cgroup), read before it is stopped, so that
    /// `removeGroups(ofRaylet:memberships:)` can find the groups it made once it is gone.
    public static func memberships(ofProcess pid: Int32) -> String? {
        try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
    }

    /// Removes the groups a stopped (or killed) raylet made, best effort: `swiftray stop` and a
    /// local cluster's stop call it, so no empty group is left until the next raylet starts.
    public static func removeGroups(ofRaylet pid: Int32, memberships: String) {
        for line in memberships.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = parts[2] == "/" ? "" : String(parts[2])
            let controllers = parts[1].split(separator: ",")
            var mounts: [String] = []
            if parts[1].isEmpty { mounts = ["/sys/fs/cgroup"] }
            if controllers.contains("cpu") { mounts += ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"] }
            if controllers.contains("memory") { mounts.append("/sys/fs/cgroup/memory") }
            if controllers.contains("pids") { mounts.append("/sys/fs/cgroup/pids") }
            for parent in mounts.map({ $0 + path }) {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
                where name.hasPrefix("swiftray-") && name.hasSuffix("-\(pid)") {
                    removeTree(parent + "/" + name)
                }
            }
        }
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
