// Configuration shared by the machines, with Ray's defaults
// (src/ray/common/ray_config_def.h). Times in microseconds, shares in per mille.

/// Tunables of the GCS, raylet and owner machines.
public struct RayConfig: Hashable, Codable, Sendable {
    /// `health_check_initial_delay_ms` = 5000.
    public var healthCheckInitialDelayMicros: Int64 = 5_000_000
    /// `health_check_period_ms` = 3000.
    public var healthCheckPeriodMicros: Int64 = 3_000_000
    /// `health_check_timeout_ms` = 10000.
    public var healthCheckTimeoutMicros: Int64 = 10_000_000
    /// `health_check_failure_threshold` = 5.
    public var healthCheckFailureThreshold: Int = 5
    /// A raylet whose connection to the GCS closes is dead at once (a crashed
    /// process closes its sockets). Ray waits for the health checks instead;
    /// partitions, which close nothing, are still bounded by the health checks.
    public var markNodeDeadOnDisconnect: Bool = true
    /// `raylet_report_resources_period_milliseconds` = 100; also the GCS broadcast period.
    public var resourceReportPeriodMicros: Int64 = 100_000
    /// `scheduler_spread_threshold` = 0.5.
    public var schedulerSpreadThresholdPermille: Int64 = 500
    /// `scheduler_top_k_fraction` = 0.2.
    public var schedulerTopKPermille: Int64 = 200
    /// `max_direct_call_object_size` = 100 KiB: larger return values go to the object store.
    public var inlineObjectSizeBytesMax: Int64 = 100 * 1024
    /// `object_spilling_threshold` = 0.8.
    public var objectSpillingThresholdPermille: Int64 = 800
    /// `object_timeout_milliseconds` = 100: wait before asking an owner again for a lost copy.
    public var pullRetryDelayMicros: Int64 = 100_000
    /// A lease request is spilled back at most this many times; then it queues where it is.
    public var spillbackCountMax: Int = 4
    /// `max_lineage_bytes` = 1 GiB: lineage beyond this is evicted (objects then cannot be rebuilt).
    public var lineageBytesMax: Int64 = 1 << 30
    /// Seed for the machines' own tie-breaking draws.
    public var seed: UInt64 = 0
    /// `max_pending_lease_requests_per_scheduling_category` = 10: lease requests an owner keeps
    /// in flight per task shape (Owner+LeasePipeline). 0 (a record written before this field)
    /// means the default.
    public var leaseRequestsPerShapeMax: Int = 10

    /// Live actors one job may hold: beyond the soft limit creations are counted (a warning in
    /// `swiftray status`), at the hard one refused (QuotaExceeded). 0 (a record written before
    /// these fields) means the default: 10 000 and 100 000, which a normal workload never reaches.
    public var actorsPerJobSoftMax: Int = 10_000
    public var actorsPerJobHardMax: Int = 100_000
    public var actorsPerJobSoft: Int { actorsPerJobSoftMax > 0 ? actorsPerJobSoftMax : 10_000 }
    public var actorsPerJobHard: Int { actorsPerJobHardMax > 0 ? actorsPerJobHardMax : 100_000 }

    /// Actor creations one job may start per second (a token bucket holding one second's worth):
    /// beyond, the GCS delays them (pending, the cause saying why) and starts them as the rate
    /// allows; past `actorCreationsDelayedMax` delayed ones, it refuses them (QuotaExceeded).
    /// 0 (a record written before these fields) means the default: 10 000 per second and 100 000
    /// delayed, which a normal workload never reaches.
    public var actorCreationsPerSecondMax: Int = 10_000
    public var actorCreationsDelayedMax: Int = 100_000
    public var actorCreationsPerSecond: Int { actorCreationsPerSecondMax > 0 ? actorCreationsPerSecondMax : 10_000 }
    public var actorCreationsDelayed: Int { actorCreationsDelayedMax > 0 ? actorCreationsDelayedMax : 100_000 }

    /// Placement-group creations one job may start per second (a token bucket holding one second's
    /// worth): beyond, the GCS delays them (pending, the cause saying why) and places them as the
    /// rate allows; past `placementGroupCreationsDelayedMax` delayed ones, it refuses them (removed,
    /// QuotaExceeded). 0 (a record written before these fields) means the default: 10 000 per second
    /// (ray_perf's create-and-remove loop runs at ≈ 4 500 a second here) and 10 000 delayed (the
    /// per-job quota of groups bounds them anyway), which a normal workload never reaches.
    public var placementGroupCreationsPerSecondMax: Int = 10_000
    public var placementGroupCreationsDelayedMax: Int = 10_000
    public var placementGroupCreationsPerSecond: Int {
        placementGroupCreationsPerSecondMax > 0 ? placementGroupCreationsPerSecondMax : 10_000
    }
    public var placementGroupCreationsDelayed: Int {
        placementGroupCreationsDelayedMax > 0 ? placementGroupCreationsDelayedMax : 10_000
    }

    /// The largest object a program may create (a put, a task's return value), refused before
    /// anything is allocated for it (ObjectTooLarge). 0 (the default, and a record written before
    /// this field) means the store's capacity of the node where the object is made: each raylet
    /// tells its drivers and workers the limit made concrete (`forNode(storeBytes:)`).
    public var objectSizeBytesMax: Int64 = 0

    /// Entries one owner's object table may hold (the objects it owns: its puts and the results of
    /// what it submitted, live or kept as lineage), so a flood of tiny objects cannot exhaust a
    /// node's memory: past the soft limit a put is counted and warned of, at the hard one refused
    /// (QuotaExceeded). 0 (a record written before these fields) means the default: 1 000 000 and
    /// 10 000 000, which a normal workload never reaches.
    public var ownedObjectsSoftMax: Int = 1_000_000
    public var ownedObjectsHardMax: Int = 10_000_000
    public var ownedObjectsSoft: Int { ownedObjectsSoftMax > 0 ? ownedObjectsSoftMax : 1_000_000 }
    public var ownedObjectsHard: Int { ownedObjectsHardMax > 0 ? ownedObjectsHardMax : 10_000_000 }

    /// Lease requests one owner has out at raylets at once (each waits in a raylet's queue until
    /// granted): past it the owner holds the rest and sends each when one out ends, so one job
    /// cannot fill a raylet's lease queue without bound. 0 (a record written before this field)
    /// means the default, 1 000.
    public var leaseRequestsPerOwnerMax: Int = 1_000
    public var leaseRequestsPerOwner: Int { leaseRequestsPerOwnerMax > 0 ? leaseRequestsPerOwnerMax : 1_000 }

    /// Placement groups one job may hold that are not removed (pending, created or rescheduling):
    /// beyond the soft limit creations are counted (a warning in `swiftray status`), at the hard
    /// one refused (the group is removed at once, QuotaExceeded), so one job cannot fill the GCS
    /// with groups it keeps trying to place. 0 (a record written before these fields) means the
    /// default: 1 000 and 10 000, which a normal workload never reaches.
    public var placementGroupsPerJobSoftMax: Int = 1_000
    public var placementGroupsPerJobHardMax: Int = 10_000
    public var placementGroupsPerJobSoft: Int { placementGroupsPerJobSoftMax > 0 ? placementGroupsPerJobSoftMax : 1_000 }
    public var placementGroupsPerJobHard: Int { placementGroupsPerJobHardMax > 0 ? placementGroupsPerJobHardMax : 10_000 }

    /// Task workers one job may have on a node (starting, idle, or running a task; a worker blocked
    /// in a get or wait and an actor's worker do not count): past it the job's lease requests
    /// wait in the node's queue until one of its workers is free or gone, so a flood of zero-CPU
    /// tasks (which leases do not bound) cannot fork a process per task. 0 (a record written
    /// before this field) means the default, 512.
    public var workersPerJobMax: Int = 512
    public var workersPerJob: Int { workersPerJobMax > 0 ? workersPerJobMax : 512 }

    /// Bytes of primary copies one job may keep in a node's object store, in memory or spilled
    /// (its puts on that node and its tasks' return values sealed there), so one job cannot fill
    /// a node's memory and disk: past the soft limit a store is counted (a warning in `swiftray
    /// status`), at the hard one refused before anything is kept (the put's object, or the task's
    /// return values, fail with QuotaExceeded). 0 (the default, and a record written before these
    /// fields) means 4 and 16 times the node's store capacity, which a normal workload never
    /// reaches (Ray bounds spilling only by the disk).
    public var storeBytesPerJobSoftMax: Int64 = 0
    public var storeBytesPerJobHardMax: Int64 = 0
    public func storeBytesPerJobSoft(capacity: Int64) -> Int64 {
        storeBytesPerJobSoftMax > 0 ? storeBytesPerJobSoftMax : max(capacity, 1) &* 4
    }
    public func storeBytesPerJobHard(capacity: Int64) -> Int64 {
        storeBytesPerJobHardMax > 0 ? storeBytesPerJobHardMax : max(capacity, 1) &* 16
    }

    /// Lease requests one job's processes may send a raylet per second (a token bucket per job and
    /// node holding one second's worth; Raylet+RequestRate): beyond, the raylet delays them (held
    /// in order, not yet queued for a worker) and takes them up as the rate allows; past
    /// `leaseRequestsDelayedPerJobMax` delayed ones it refuses them (`leaseRefused`: the task fails
    /// with QuotaExceeded naming both settings). The owner's own bound
    /// (`leaseRequestsPerOwnerMax`) keeps a well-behaved job far below; this holds a process that
    /// ignores it, or a job with many owners, to a rate. 0 (a record written before these fields)
    /// means the default: 50 000 per second and 10 000 delayed, which a normal workload never
    /// reaches (ray_perf's synchronous task loop asks for ≈ 5 000 leases a second here).
    public var leaseRequestsPerSecondPerJobMax: Int = 50_000
    public var leaseRequestsDelayedPerJobMax: Int = 10_000
    public var leaseRequestsPerSecondPerJob: Int {
        leaseRequestsPerSecondPerJobMax > 0 ? leaseRequestsPerSecondPerJobMax : 50_000
    }
    public var leaseRequestsDelayedPerJob: Int {
        leaseRequestsDelayedPerJobMax > 0 ? leaseRequestsDelayedPerJobMax : 10_000
    }

    /// Lease requests of one job a raylet keeps queued (waiting for resources or a worker, not
    /// granted): the soft limit of a job's pending tasks at a node. Past it the job's new requests
    /// are slowed down: delayed like those past the rate (they count toward
    /// `leaseRequestsDelayedPerJobMax`, the hard limit, past which they are refused) and taken up
    /// as its queue drains. 0 (a record written before this field) means the default, 10 000 (ten
    /// owners' worth of requests out), which a normal workload never reaches.
    public var leaseRequestsQueuedPerJobMax: Int = 10_000
    public var leaseRequestsQueuedPerJob: Int { leaseRequestsQueuedPerJobMax > 0 ? leaseRequestsQueuedPerJobMax : 10_000 }

    /// Fetches and stores of objects (gets, waits, a task's arguments; puts, a task's stored return
    /// values) one job's processes may send a raylet per second (a token bucket per job and node
    /// holding one second's worth; Raylet+ObjectRate): beyond, the raylet delays them (held in
    /// order, nothing fetched or stored yet) and takes them up as the rate allows; past
    /// `objectRequestsDelayedPerJobMax` delayed ones it refuses them (QuotaExceeded naming both
    /// settings: the get raises it, the put's or return value's store is refused). 0 (a record
    /// written before these fields) means the default: 100 000 per second and 10 000 delayed, which
    /// a normal workload never reaches (a loop of gets of stored objects does ≈ 10 000 a second here).
    public var objectRequestsPerSecondPerJobMax: Int = 100_000
    public var objectRequestsDelayedPerJobMax: Int = 10_000
    public var objectRequestsPerSecondPerJob: Int {
        objectRequestsPerSecondPerJobMax > 0 ? objectRequestsPerSecondPerJobMax : 100_000
    }
    public var objectRequestsDelayedPerJob: Int {
        objectRequestsDelayedPerJobMax > 0 ? objectRequestsDelayedPerJobMax : 10_000
    }

    /// The cap on lease requests in flight per shape actually used (at least 1).
    public var leaseRequestCap: Int { leaseRequestsPerShapeMax > 0 ? leaseRequestsPerShapeMax : 10 }

    public init() {}
}
