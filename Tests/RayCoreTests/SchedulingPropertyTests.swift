// Property test: a raylet's resource accounting and queue against a
// reference model. Random lease requests (a few shapes, some infeasible),
// returns and worker deaths; after every operation: leased + available =
// total, nothing negative, every request is granted, queued or reported
// (none dropped), and no queued class could run with what is available.

import PropertyBased
import Testing

@testable import RayCore

private struct RayletHarness {
    var raylet = Raylet()
    let node = NodeID(1)
    let owner = WorkerID(node: NodeID(9), index: 0)
    let total = ResourceSet.units(["CPU": 4, "GPU": 1])
    var leaseCounter: UInt64 = 0
    var granted: [LeaseID: WorkerID] = [:]
    var unschedulable: Set<LeaseID> = []
    var requested: [LeaseID: ResourceSet] = [:]
    var starting: [WorkerID] = []
    var now: Int64 = 0

    static let shapes: [ResourceSet] = [
        .units(["CPU": 1]), .units(["CPU": 2]), .units(["CPU": 1, "GPU": 1]), .units(["CPU": 8]),
        ResourceSet(["CPU": 500]),
    ]

    init() {
        let info = NodeInfo(nodeID: node, name: "n", resources: total, objectStoreBytes: 1 << 20)
        apply(raylet.handle(.started(RayConfig(), info), now: 0))
        raylet.programs[JobID(1)] = "1 /bin/test-program"  // The job's program is known here.
        // A view with only this node: no spillback target exists.
        apply(raylet.handle(.messageReceived(from: .gcs, .clusterView([NodeView(nodeID: node, total: total, available: total)])), now: 0))
    }

    mutating func apply(_ effects: [RayletEffect]) {
        for effect in effects {
            switch effect {
            case .spawnWorker(let worker, _): starting.append(worker)
            case .send(_, .leaseGranted(let lease, let worker)): granted[lease] = worker
            case .send(_, .leaseUnschedulable(let lease, _)): unschedulable.insert(lease)
            default: break
            }
        }
    }

    mutating func request(_ shape: Int) {
        leaseCounter += 1
        now += 1
        let lease = LeaseID(owner: owner, index: leaseCounter)
        let resources = Self.shapes[shape % Self.shapes.count]
        requested[lease] = resources
        apply(raylet.handle(.messageReceived(from: .worker(owner), .requestWorkerLease(LeaseRequest(
            leaseID: lease, taskID: TaskID(value: leaseCounter), resources: resources, strategy: .default,
            spillbackCount: 0, jobID: JobID(1)))), now: now))
    }

    mutating func startWorkers() {
        while let worker = starting.popLast() {
            now += 1
            apply(raylet.handle(.workerStarted(worker), now: now))
        }
    }

    mutating func returnLease(_ choice: Int, kill: Bool) {
        let leases = granted.keys.sorted()
        guard !leases.isEmpty else { return }
        let lease = leases[choice % leases.count]
        let worker = granted.removeValue(forKey: lease)!
        requested[lease] = nil
        now += 1
        if kill {
            apply(raylet.handle(.workerExited(worker), now: now))
        } else {
            apply(raylet.handle(.messageReceived(from: .worker(owner), .returnWorker(lease, killWorker: false)), now: now))
        }
    }

    func check() -> String? {
        let leased = raylet.leases.values.reduce(ResourceSet()) { $0 + $1.resources }
        if leased + raylet.available != total { return "leased \(leased) + available \(raylet.available) ≠ \(total)" }
        if !raylet.available.isNonNegative { return "negative available \(raylet.available)" }
        let outstanding = requested.keys.filter { granted[$0] == nil && !unschedulable.contains($0) && raylet.leases[$0] == nil }
        if outstanding.count != raylet.queuedLeaseCount {
            return "\(outstanding.count) requests neither granted nor reported, but \(raylet.queuedLeaseCount) queued"
        }
        for shape in raylet.classOrder where raylet.classQueues[shape]?.first != nil && shape.fits(in: raylet.available) {
            return "a queued \(shape) request fits in available \(raylet.available) but was not granted"
        }
        for lease in unschedulable where requested[lease]?.fits(in: total) ?? false {
            return "\(lease) fits the node but was reported unschedulable"
        }
        return nil
    }
}

@Suite struct SchedulingPropertyTests {
    @Test func rayletAccountingMatchesModel() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...59).array(of: 0...80)) { operations in
            var harness = RayletHarness()
            for (step, operation) in operations.enumerated() {
                let choice = operation / 4
                switch operation % 4 {
                case 0, 1: harness.request(choice)
                case 2: harness.returnLease(choice, kill: choice % 3 == 0)
                default: harness.startWorkers()
                }
                if let problem = harness.check() {
                    Issue.record("after step \(step) (\(operations.prefix(step + 1))): \(problem)")
                    return
                }
            }
            // Give everything back: every feasible request must then run.
            var rounds = 0
            while (!harness.granted.isEmpty || !harness.starting.isEmpty) && rounds < 1000 {
                harness.startWorkers()
                harness.returnLease(0, kill: false)
                rounds += 1
            }
            #expect(harness.raylet.queuedLeaseCount == 0)
            #expect(harness.raylet.available == harness.total)
        }
    }
}
