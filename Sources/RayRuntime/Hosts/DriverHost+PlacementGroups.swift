// A program's placement groups (issue 11): created and removed through its owner, which
// keeps their state as the GCS publishes it; `waitPlacementGroup` waits for CREATED (or
// REMOVED) without holding the loop.

import Dispatch
public import RayCore

extension DriverClient {
    /// Creates a placement group (its ID is the program's next task ID, as an actor's).
    public func createPlacementGroup(bundles: [ResourceSet], strategy: PlacementStrategy, name: String,
                                     detached: Bool) -> PlacementGroupID {
        let host = self.host!
        return counters.withLock { ids in
            let task = ids.takeTask()
            loop.post {
                host.handle(.createPlacementGroup(bundles: bundles, strategy: strategy, name: name, detached: detached))
            }
            return PlacementGroupID(creationTask: task)
        }
    }

    /// An object that becomes `value` once the group is CREATED (fails if it is removed first):
    /// Ray's `pg.ready()`. Its ID is the program's next put.
    public func placementGroupReady(_ id: PlacementGroupID, value: ObjectData) -> ObjectID {
        let host = self.host!
        return counters.withLock { ids in
            let object = ids.takePut()
            loop.post { host.handle(.placementGroupReady(id, value: value)) }
            return object
        }
    }

    /// Removes a placement group this program created.
    public func removePlacementGroup(_ id: PlacementGroupID) {
        let host = self.host!
        loop.post { host.handle(.removePlacementGroup(id)) }
    }

    /// The group as the GCS last published it (nil: not one of this program's).
    public func placementGroupInfo(_ id: PlacementGroupID) -> PlacementGroupInfo? {
        inspect { $0.placementGroups[id] }
    }

    /// Waits until the group is CREATED or REMOVED and returns it (nil: not this program's, or
    /// `timeoutSeconds` passed first).
    public func waitPlacementGroup(_ id: PlacementGroupID, timeoutSeconds: Double?) -> PlacementGroupInfo? {
        let host = self.host!
        loop.willBlock()
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var answer: PlacementGroupInfo?
        loop.post {
            guard let info = host.owner.machine.placementGroups[id] else {
                done.signal()
                return
            }
            if info.state == .created || info.state == .removed {
                answer = info
                done.signal()
                return
            }
            host.groupWaiters[id, default: []].append { info in
                answer = info
                done.signal()
            }
        }
        if let timeoutSeconds {
            guard done.wait(timeout: .now() + timeoutSeconds) == .success else { return nil }
        } else {
            done.wait()
        }
        return answer
    }
}

extension DriverHost {
    /// A group changed state: waiters for CREATED or REMOVED hear it.
    func placementGroupUpdated(_ info: PlacementGroupInfo) {
        guard info.state == .created || info.state == .removed else { return }
        for waiter in groupWaiters.removeValue(forKey: info.id) ?? [] { waiter(info) }
    }
}
