// Worker prestart (Ray starts one worker per CPU when the first driver
// connects): idle workers are spawned, become idle when they connect, and the
// first lease takes one without spawning.

import Testing

@testable import RayCore

@Test func prestartSpawnsIdleWorkersThatTheFirstLeaseUses() {
    var raylet = Build.raylet(Build.node(1))
    let spawned = raylet.handle(.prestartWorkers(count: 2, job: JobID(1)), now: 1)
    let workers = spawned.compactMap { effect -> WorkerID? in
        if case .spawnWorker(let worker, _) = effect { return worker }
        return nil
    }
    #expect(workers.count == 2)
    // Asking again while they start spawns nothing more.
    #expect(raylet.handle(.prestartWorkers(count: 2, job: JobID(1)), now: 2).isEmpty)
    for worker in workers { _ = raylet.handle(.workerStarted(worker), now: 3) }
    #expect(raylet.workers.values.filter { $0 == .idle }.count == 2)
    // A lease is granted on an idle worker at once.
    let owner = Build.worker(1, 1 << 30)
    let effects = raylet.handle(.messageReceived(from: .worker(owner), .requestWorkerLease(Build.lease(1, owner: owner))),
                                now: 4)
    #expect(!effects.contains { if case .spawnWorker = $0 { return true } else { return false } })
    #expect(effects.contains { if case .send(_, .leaseGranted(_, let worker)) = $0 { return workers.contains(worker) } else { return false } })
    // A prestarted worker that dies before it connects is simply gone.
    #expect(raylet.handle(.prestartWorkers(count: 3, job: JobID(1)), now: 5).count == 2)
}
