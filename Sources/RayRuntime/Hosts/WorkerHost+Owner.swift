// The owner of a worker process (nested tasks): what the task bodies it runs
// submit and put. Made on the loop when a body first asks for it; it shares the
// worker's raylet connection, direct links and shared-memory store, logs its
// inputs beside the executor's (`owner/` in the worker's log directory), and
// names what a body makes after the task attempt that runs (`beginTask`). A
// body that waits in a get or wait tells the executor, whose raylet lends the
// lease's CPUs meanwhile.

import Dispatch
import Glibc
import RayCore

extension WorkerHost {
    /// The owner API for the task body running on this thread, made on first use; nil outside a
    /// worker, before its first task, or when its log cannot be opened (said on stderr).
    public static func taskOwner() -> DriverClient? {
        guard let host = current else { return nil }
        if let client = host.ownerClient.withLock({ $0 }) { return client }
        // Made on the loop; a body running on the loop's thread first lets another thread run it.
        host.loop.willBlock()
        let made = DispatchSemaphore(value: 0)
        host.loop.post {
            host.makeOwner()
            made.signal()
        }
        made.wait()
        return host.ownerClient.withLock { $0 }
    }

    /// Called by a body about to block without the Ray API (e.g. sleeping): the worker's loop is
    /// run by another thread meanwhile (`EventLoop.willBlock`). A no-op outside a worker.
    public static func bodyWillBlock() {
        current?.loop.willBlock()
    }

    /// This worker's owner API if a body made it already (nil elsewhere: drivers, GCS, raylets).
    public static var madeTaskOwner: DriverClient? { current?.ownerClient.withLock { $0 } }

    /// Makes the owner (loop thread), for the task that runs now.
    private func makeOwner() {
        guard ownerHost == nil, let running else { return }
        let identity = OwnerIdentity(worker: workerID, job: running.job, idKey: loop.secret?.idKey(for: running.job) ?? 0)
        let host = DriverHost(loop: loop, logRoot: nil, workerOutput: nil, role: "worker owner")
        if let logDirectory {
            do {
                host.log = try HostLog(directory: logDirectory + "/owner", component: "worker owner", loop: loop)
            } catch {
                note("worker", "\(error); this worker's tasks cannot submit tasks")
                return
            }
        }
        host.connection = connection
        host.links = links
        host.objects = objects
        host.identity = identity
        host.handle(.startedInWorker(config, identity))
        host.handle(.taskStartedFor(running.task, attempt: running.attempt, owner: running.owner))
        ownerHost = host
        let client = DriverClient(workerOwner: host, loop: loop, worker: workerID, job: running.job, config: config,
                                  session: environment("SWIFTRAY_SESSION"), objects: objects, idKey: identity.idKey)
        client.beginTask(running.task, attempt: running.attempt)
        client.onBlock = { [unowned self] blocked in
            if blocked { loop.willBlock() }  // The loop goes on while the body waits.
            loop.post { [self] in
                guard let running = self.running else { return }
                executor.submit(blocked ? .bodyBlocked(running.task, attempt: running.attempt)
                                        : .bodyUnblocked(running.task, attempt: running.attempt))
            }
        }
        ownerClient.withLock { $0 = client }
    }
}
