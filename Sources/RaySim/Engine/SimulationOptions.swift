// How a simulation runs: the seed, the machines' configuration, whether
// inputs are logged (and where), whether a trace is recorded, and the
// simulated costs of things the scenario does not describe.

public import RayCore

/// Where the simulated components log their inputs.
public enum InputLogMode: Sendable, Equatable {
    /// No logging (a GCS restart then needs `persistent: false`).
    case off
    /// Encoded inputs in memory (the default: a restarted GCS replays them).
    case memory
    /// Encoded inputs in LMDB logs under this directory, one per component.
    case lmdb(directory: String)
}

/// Options of one simulation run.
public struct SimulationOptions: Sendable {
    public var seed: UInt64
    public var config = RayConfig()
    public var inputLog: InputLogMode = .memory
    /// Record every step (input and effects) for `raysim replay`.
    public var recordTrace = false
    /// Run the full (O(state)) invariant scan every this many steps; cheap checks run every step.
    public var fullCheckPeriodSteps = 4096
    /// Simulated time to keep running after the driver finished, before the leak check.
    public var graceMicros: Int64 = ScenarioDriver.graceMicros
    /// Local (same-node) message latency.
    public var localLatencyMicros: Int64 = 20
    /// Network bandwidth between nodes, bytes per second.
    public var networkBytesPerSecond: Int64 = 1_250_000_000
    /// Local disk bandwidth for spilling and restoring, bytes per second.
    public var diskBytesPerSecond: Int64 = 500_000_000
    /// Time for a raylet to start a worker process.
    public var workerStartMicros: Int64 = 2_000
    /// Time for a GCS to come back after `restart_gcs`.
    public var gcsRestartMicros: Int64 = 200_000
    /// Time between a node dying and its replacement joining (`restart_node`).
    public var nodeRestartMicros: Int64 = 100_000
    /// Accept any Ray error as a result where `expect.results` says nothing (swarm runs).
    public var acceptErrorResults = false
    /// A fault that never fired fails the run (scenario files); the swarm's random plans accept it.
    public var acceptUnfiredFaults = false
    /// Delay before the workload starts (nodes register first).
    public var workloadStartMicros: Int64 = 10_000

    public init(seed: UInt64) {
        self.seed = seed
    }
}
