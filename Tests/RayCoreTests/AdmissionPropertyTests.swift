// Property test of a raylet's per-job admission of lease requests (Raylet+RequestRate): two
// jobs send requests, cancel some, return or lose their workers, while time advances and the
// admission timers fire, under a small rate (4 a second), queue bound (3) and delayed bound (5).
// After every step: each request is granted, refused, cancelled or still held — never lost,
// never two of these; a job's queue at the raylet stays within its bound and its delayed
// requests within theirs; a job's requests reach the scheduler in the order it sent them. After draining,
// every request has its one answer and the raylet holds nothing. Failures shrink to the
// shortest sequence (swift-property-based).

import PropertyBased
import Testing

@testable import RayCore

private struct AdmissionHarness {
    static let queuedBound = 3, delayedBound = 5
    let drivers = [Build.worker(1, 900), Build.worker(1, 901)]  // jobs 1 and 2
    var raylet: Raylet
    var now: Int64 = 10
    var next: UInt64 = 0
    /// Every request sent, by job, in order.
    var sent: [[LeaseID]] = [[], []]
    var granted: [LeaseID: WorkerID] = [:]
    var returned: Set<LeaseID> = []
    var refused: Set<LeaseID> = []
    var cancelled: Set<LeaseID> = []
    var starting: [WorkerID] = []
    var timers: [(due: Int64, timer: RayletTimer)] = []
    var problem: String?

    init() {
        var config = RayConfig()
        config.leaseRequestsPerSecondPerJobMax = 4
        config.leaseRequestsQueuedPerJobMax = Self.queuedBound
        config.leaseRequestsDelayedPerJobMax = Self.delayedBound
        raylet = Build.raylet(Build.node(1, cpus: 2), config: config)
        raylet.programs[JobID(2)] = "2 /bin/test-program"
        for (index, driver) in drivers.enumerated() {
            apply(raylet.handle(.driverConnected(driver, job: JobID(UInt32(index + 1))), now: 1))
        }
    }

    func job(of lease: LeaseID) -> Int { drivers.firstIndex(of: lease.owner)! }

    mutating func apply(_ effects: [RayletEffect]) {
        for effect in effects {
            switch effect {
            case .spawnWorker(let worker, _): starting.append(worker)
            case .startTimer(let timer, let after): timers.append((now + after, timer))
            case .send(_, .leaseGranted(let lease, let worker)):
                if granted[lease] != nil || refused.contains(lease) { problem = "\(lease) answered twice" }
                if cancelled.contains(lease) { continue }  // Granted before the cancel reached it: returned below.
                granted[lease] = worker
            case .send(_, .leaseRefused(let lease, let error)):
                if granted[lease] != nil || refused.contains(lease) { problem = "\(lease) answered twice" }
                if error.kind != .quotaExceeded { problem = "\(lease) refused with \(error.kind)" }
                refused.insert(lease)
            case .send(_, .leaseUnschedulable(let lease, let reason)): problem = "\(lease) unschedulable: \(reason)"
            case .send(_, .leaseSpillback(let lease, _)): problem = "\(lease) spilled back from a one-node cluster"
            default: break
            }
        }
    }

    mutating func request(job: Int) {
        next += 1
        let lease = LeaseID(owner: drivers[job], index: next)
        sent[job].append(lease)
        apply(raylet.handle(.messageReceived(from: .worker(drivers[job]), .requestWorkerLease(
            Build.lease(next, owner: drivers[job], job: JobID(UInt32(job + 1))))), now: now))
    }

    /// Cancels an outstanding request of `job` (neither answered nor cancelled yet).
    mutating func cancel(job: Int, choice: Int) {
        let open = sent[job].filter { granted[$0] == nil && !refused.contains($0) && !cancelled.contains($0) }
        guard !open.isEmpty else { return }
        let lease = open[choice % open.count]
        cancelled.insert(lease)
        apply(raylet.handle(.messageReceived(from: .worker(lease.owner), .cancelWorkerLease(lease)), now: now))
    }

    /// Ends a granted lease: returned, or its worker dies.
    mutating func finish(choice: Int, kill: Bool) {
        let open = granted.keys.filter { !returned.contains($0) }.sorted()
        guard !open.isEmpty else { return }
        let lease = open[choice % open.count]
        returned.insert(lease)
        if kill {
            apply(raylet.handle(.workerExited(granted[lease]!), now: now))
        } else {
            apply(raylet.handle(.messageReceived(from: .worker(lease.owner), .returnWorker(lease, killWorker: false)), now: now))
        }
    }

    mutating func startWorkers() {
        // In the order they were spawned (so grants show the order requests were admitted in).
        while !starting.isEmpty { apply(raylet.handle(.workerStarted(starting.removeFirst()), now: now)) }
    }

    /// Moves time on by `micros`, firing the timers due meanwhile in order.
    mutating func advance(_ micros: Int64) {
        let until = now + micros
        while let index = timers.indices.filter({ timers[$0].due <= until }).min(by: { timers[$0].due < timers[$1].due }) {
            let (due, timer) = timers.remove(at: index)
            now = max(now, due)
            apply(raylet.handle(.timerFired(timer), now: now))
        }
        now = until
    }

    /// Returns what a cancel reached too late (a grant of a cancelled request), as an owner does.
    mutating func returnCancelledGrants() {
        for (lease, _) in raylet.leases where cancelled.contains(lease) && granted[lease] == nil {
            granted[lease] = raylet.leases[lease]!.worker
            returned.insert(lease)
            apply(raylet.handle(.messageReceived(from: .worker(lease.owner), .returnWorker(lease, killWorker: false)), now: now))
        }
    }

    func check() -> String? {
        if let problem { return problem }
        if let message = raylet.invariantViolation() ?? raylet.fullInvariantViolation() { return message }
        for job in 0..<2 {
            let queued = raylet.queuedLeases(of: JobID(UInt32(job + 1)))
            if queued > Self.queuedBound { return "job \(job + 1) has \(queued) requests queued, over \(Self.queuedBound)" }
            let delayed = raylet.delayedLeases.filter { $0.owner == drivers[job] }.count
            if delayed > Self.delayedBound { return "job \(job + 1) has \(delayed) requests delayed, over \(Self.delayedBound)" }
            // Admitted in order: every request that reached the scheduler is older than every one
            // still delayed (a new request waits behind the delayed ones).
            let waiting = sent[job].filter { raylet.delayedLeases.contains($0) }
            if let oldestWaiting = waiting.first,
               let admitted = sent[job].last(where: { !raylet.delayedLeases.contains($0) && (granted[$0] != nil
                   || (raylet.heldLeaseIDs.contains($0) && !cancelled.contains($0))) }),
               admitted.index > oldestWaiting.index {
                return "job \(job + 1) admitted \(admitted) while the older \(oldestWaiting) still waits"
            }
            for lease in sent[job] where granted[lease] == nil && !refused.contains(lease) && !cancelled.contains(lease)
                && !raylet.heldLeaseIDs.contains(lease) {
                return "\(lease) is neither granted, refused, cancelled nor held: lost"
            }
        }
        return nil
    }
}

@Suite struct AdmissionPropertyTests {
    @Test func leaseRequestsAreAdmittedInOrderWithinTheirBoundsAndNeverLost() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...79).array(of: 0...80)) { operations in
            var harness = AdmissionHarness()
            for (step, operation) in operations.enumerated() {
                let choice = operation / 8
                switch operation % 8 {
                case 0, 1, 2: harness.request(job: choice % 2)
                case 3: harness.cancel(job: choice % 2, choice: choice / 2)
                case 4: harness.finish(choice: choice, kill: choice % 4 == 0)
                case 5: harness.startWorkers()
                default: harness.advance(Int64(choice + 1) * 25_000)
                }
                harness.returnCancelledGrants()
                if let problem = harness.check() {
                    Issue.record("after step \(step) (\(operations.prefix(step + 1))): \(problem)")
                    return
                }
            }
            // Drain: workers start, leases end, time passes; every request then has its answer.
            for _ in 0..<400 where !harness.raylet.heldLeaseIDs.isEmpty || !harness.starting.isEmpty {
                harness.startWorkers()
                harness.returnCancelledGrants()
                harness.finish(choice: 0, kill: false)
                harness.advance(250_000)
            }
            if let problem = harness.check() { Issue.record("after draining: \(problem)") }
            #expect(harness.raylet.heldLeaseIDs.isEmpty, "\(harness.raylet.heldLeaseIDs.sorted())")
            #expect(harness.raylet.delayedLeaseCount == 0)
            for job in 0..<2 {
                for lease in harness.sent[job] {
                    #expect(harness.granted[lease] != nil || harness.refused.contains(lease) || harness.cancelled.contains(lease),
                            "\(lease) never answered")
                }
            }
        }
    }
}
