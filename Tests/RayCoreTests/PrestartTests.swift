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

/// Which program a job's workers run is the raylet's to know: published by a local driver
/// (and put in the GCS's KV for the other nodes), or looked up there once per job.
@Test func aJobsProgramIsPublishedHereOrLookedUpOnceInTheGCS() {
    var head = Raylet()
    _ = head.handle(.started(RayConfig(), Build.node(1, cpus: 2)), now: 0)
    let published = head.handle(.programPublished(JobID(2), program: "42 /opt/prog"), now: 1)
    #expect(published.first == .send(to: .gcs, .kvPut(key: "swiftray/job/2/executable", value: Array("42 /opt/prog".utf8))))
    #expect(published.filter { if case .spawnWorker(_, JobID(2)) = $0 { true } else { false } }.count == 2,
            "one prestarted worker per CPU: \(published)")
    #expect(head.programs[JobID(2)] == "42 /opt/prog")

    var other = Raylet()
    _ = other.handle(.started(RayConfig(), Build.node(2, cpus: 2)), now: 0)
    let owner = WorkerID(node: NodeID(1), index: 1 << 30 | 2)
    let first = other.handle(.messageReceived(from: .worker(owner), .requestWorkerLease(Build.lease(1, owner: owner, job: JobID(2)))),
                             now: 2)
    #expect(first == [.send(to: .gcs, .kvGet(key: "swiftray/job/2/executable"))], "\(first)")
    let second = other.handle(.messageReceived(from: .worker(owner), .requestWorkerLease(Build.lease(2, owner: owner, job: JobID(2)))),
                              now: 3)
    #expect(!second.contains { if case .send(_, .kvGet) = $0 { true } else { false } }, "one lookup per job: \(second)")
    // The GCS reconnects before answering: the lookup is asked again.
    #expect(other.handle(.peerConnected(.gcs), now: 4).contains(.send(to: .gcs, .kvGet(key: "swiftray/job/2/executable"))))
    let answered = other.handle(.messageReceived(from: .gcs, .kvValue(key: "swiftray/job/2/executable",
                                                                      value: Array("42 /opt/prog".utf8))), now: 5)
    #expect(answered.filter { if case .spawnWorker(_, JobID(2)) = $0 { true } else { false } }.count == 2, "\(answered)")
    #expect(other.programs[JobID(2)] == "42 /opt/prog")
    // A job that ended forgets its program.
    _ = other.handle(.messageReceived(from: .gcs, .jobFinished(JobID(2))), now: 6)
    #expect(other.programs[JobID(2)] == nil)
}
