// Replays a trace through fresh machines, one per component incarnation, and
// stops at the first step whose effects differ from the recorded ones. This
// needs no simulator: inputs carry everything nondeterministic, so the same
// inputs must give the same effects — for simulated and real runs alike.

import RayCore
import RayWire

/// The outcome of a replay.
public enum ReplayResult: Equatable {
    /// Every step matched.
    case identical(steps: Int)
    /// Step `index` (0-based) returned other effects than recorded.
    case diverged(index: Int, component: String, time: Int64, input: String, expected: String, actual: String)
    /// A step could not be decoded.
    case undecodable(index: Int, reason: String)
}

/// Replays traces.
public enum TraceReplayer {
    public static func replay(_ trace: TraceFile) -> ReplayResult {
        var gcsMachines: [Int: ComponentDriver<GCS>] = [:]
        var raylets: [NodeID: ComponentDriver<Raylet>] = [:]
        var executors: [WorkerID: ComponentDriver<Executor>] = [:]
        var owners: [WorkerID: ComponentDriver<Owner>] = [:]
        var workerOwners: [WorkerID: ComponentDriver<Owner>] = [:]
        for (index, step) in trace.steps.enumerated() {
            do {
                let outcome: (String, [UInt8], String, String)
                switch step.component {
                case .gcs(let incarnation):
                    outcome = try run(step, driver(&gcsMachines, incarnation))
                case .raylet(let node):
                    outcome = try run(step, driver(&raylets, node))
                case .worker(let worker):
                    outcome = try run(step, driver(&executors, worker))
                case .driver(let worker):
                    outcome = try run(step, driver(&owners, worker))
                case .workerOwner(let worker):
                    outcome = try run(step, driver(&workerOwners, worker))
                }
                let (input, actualBytes, expected, actual) = outcome
                if actualBytes != step.effects {
                    return .diverged(index: index, component: step.component.description, time: step.time,
                                     input: input, expected: expected, actual: actual)
                }
            } catch {
                return .undecodable(index: index, reason: "\(error)")
            }
        }
        return .identical(steps: trace.steps.count)
    }

    /// The driver of a component, made on its first step. Nothing is performed: the world is
    /// the trace; the checks run as in the simulator.
    private static func driver<Key: Hashable, C: Component>(_ drivers: inout [Key: ComponentDriver<C>],
                                                          _ key: Key) -> ComponentDriver<C> {
        if let driver = drivers[key] { return driver }
        let driver = ComponentDriver<C>()
        drivers[key] = driver
        return driver
    }

    /// Runs one step through `driver` at the step's time; returns (input description, actual
    /// effect bytes, expected and actual effect descriptions).
    private static func run<C: Component>(_ step: TraceStep, _ driver: ComponentDriver<C>) throws -> (String, [UInt8], String, String)
    where C.Input: ProtoRecord, C.Effect: Codable {
        let input = try C.Input(recordBytes: step.input)
        var effects: [C.Effect] = []
        var problem: String?
        driver.clock = { step.time }
        driver.observe = { _, _, stepEffects in effects = stepEffects }
        driver.checksInvariants = true
        driver.violated = { violation, _ in problem = violation }
        driver.submit(input)
        let bytes = try BinaryCoder.encode(effects)
        if let problem { return ("\(input)", [], "effects without an invariant violation", "violated: \(problem)") }
        if bytes == step.effects { return ("", bytes, "", "") }
        let expected = (try? BinaryCoder.decode([C.Effect].self, from: step.effects)).map { "\($0)" } ?? "(undecodable)"
        return ("\(input)", bytes, expected, "\(effects)")
    }
}

extension TraceReplayer {
    /// A step's input and effects as text.
    public static func describe(_ step: TraceStep) -> String {
        func text<Input: ProtoRecord, Effect: Decodable>(_ input: Input.Type, _ effect: Effect.Type) -> String {
            let input = (try? Input(recordBytes: step.input)).map { "\($0)" } ?? "(undecodable input)"
            let effects = (try? BinaryCoder.decode([Effect].self, from: step.effects)).map { "\($0)" } ?? "(undecodable effects)"
            return "\(input) -> \(effects)"
        }
        switch step.component {
        case .gcs: return text(GCSInput.self, GCSEffect.self)
        case .raylet: return text(RayletInput.self, RayletEffect.self)
        case .worker: return text(ExecutorInput.self, ExecutorEffect.self)
        case .driver, .workerOwner: return text(OwnerInput.self, OwnerEffect.self)
        }
    }
}
