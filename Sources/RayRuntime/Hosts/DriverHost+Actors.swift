// A driver's (or a task body's) calls about actors and borrowed arguments: each takes its ID
// from the program's counters, as `submit` does, and hands the owner its input on the loop.

import Dispatch
import Synchronization
public import RayCore

extension DriverClient {
    /// Creates an actor (`Counter.remote()`); the caller holds one handle (`ActorID.handle`).
    public func createActor(_ request: TaskRequest, _ options: ActorOptions) -> ActorID {
        let host = self.host!
        return counters.withLock { ids in
            let task = ids.takeTask()
            loop.post { host.handle(.createActor(request, options)) }
            return ActorID(creationTask: task)
        }
    }

    /// Calls a method of an actor; returns the IDs of its return values (one handle each).
    public func callActor(_ actor: ActorID, _ request: TaskRequest) -> [ObjectID] {
        let host = self.host!
        host.gate.admit(blocking: onBlock)
        let record = host.preEncoded(.callActor(actor, request))
        let task = counters.withLock { ids in
            let task = ids.takeTask()
            loop.post { host.handle(.callActor(actor, request), encoded: record) }
            return task
        }
        return (1...max(1, request.returnCount)).map { ObjectID.returnValue(of: task, index: UInt32($0)) }
    }

    /// The live actor named `name` in `namespace`, as the GCS knows it (nil: none), or nil when
    /// no answer came within `timeoutSeconds`. This process follows the actor found.
    public func lookupActor(name: String, namespace: String, timeoutSeconds: Double) -> ActorID?? {
        let host = self.host!
        loop.willBlock()
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var answer: ActorID??
        loop.post {
            host.actorLookups[namespace + "/" + name, default: []].append { found in
                answer = .some(found)
                done.signal()
            }
            host.handle(.lookupActor(name: name, namespace: namespace))
        }
        guard done.wait(timeout: .now() + timeoutSeconds) == .success else { return nil }
        return answer
    }

    /// A task body passes on a reference it received (its caller `owner` owns or borrows it):
    /// this process borrows it while what it submits needs it.
    public func borrowArgument(_ object: ObjectID, owner: WorkerID) {
        let host = self.host!
        loop.post { host.handle(.borrowArgument(object, owner: owner)) }
    }

    /// Follows an actor this process got a handle to (from a value or an argument), once.
    public func subscribeActor(_ actor: ActorID) {
        let host = self.host!
        loop.post { host.handle(.subscribeActor(actor)) }
    }

    /// Kills an actor (`Ray.kill`); with `noRestart` false it may restart.
    public func killActor(_ actor: ActorID, noRestart: Bool) {
        let host = self.host!
        loop.post { host.handle(.killActor(actor, noRestart: noRestart)) }
    }
}
