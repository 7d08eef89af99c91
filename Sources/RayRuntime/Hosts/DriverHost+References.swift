// A program's handles of objects, as its owner counts them: handles added and
// dropped, what this owner owns and can lend to a task's caller, and what a put
// value holds.

public import RayCore

extension DriverClient {
    /// Adds a handle of `object` (the caller holds one already).
    public func addLocalReference(_ object: ObjectID) {
        let host = self.host!
        loop.post { host.handle(.addReference(object)) }
    }

    /// Drops one handle of `object`.
    public func release(_ object: ObjectID) {
        let host = self.host!
        loop.post { host.release(object) }
    }

    /// True when this owner owns every one of `objects` (made them, holds them).
    public func owns(_ objects: [ObjectID]) -> Bool {
        inspect { owner in objects.allSatisfy { owner.objects[$0].map { !$0.freed && $0.localRefs > 0 } ?? false } }
    }

    /// Whether `objects` can be lent to a task's caller: each owned here (`owns`), and none a
    /// value that holds references (its reader could not learn their owner yet): the first
    /// that is not owned, or that holds references, with which.
    public func lendable(_ objects: [ObjectID]) -> (notOwned: ObjectID?, holdingReferences: ObjectID?) {
        inspect { owner in
            for object in objects {
                guard let entry = owner.objects[object], !entry.freed, entry.localRefs > 0 else { return (object, nil) }
                if !entry.contains.isEmpty { return (nil, object) }
            }
            return (nil, nil)
        }
    }

    /// The value just put as `container` holds references to `objects` (owned or borrowed here):
    /// they stay alive while it does.
    public func hold(_ objects: [ObjectID], in container: ObjectID) {
        let host = self.host!
        loop.post { host.handle(.holdReferences(container, held: objects)) }
    }
}
