// What a callback holds instead of a `weak` reference to a busy object.
//
// The Swift runtime gives an object a side table the first time anything refers
// to it weakly, and keeps it: from then on every retain and release of that
// object takes the slow path through the table. Loops, hosts, logs and
// drivers are retained and released many times per message, and their `weak`
// timer callbacks cost ≈ 20 % of a busy actor caller's thread (perf,
// `actor_calls_1_n`). A `Lifeline` takes the side table instead: the target
// keeps its lifeline (a stored property, so the lifeline dies with it), a
// callback holds the lifeline weakly and reaches the target unowned.

/// Stands for `target` in callbacks that must not keep it alive: capture `[weak lifeline]` and
/// use `lifeline?.target` where one would capture `[weak target]`.
public final class Lifeline<Target: AnyObject> {
    public unowned let target: Target

    public init(_ target: Target) {
        self.target = target
    }
}
