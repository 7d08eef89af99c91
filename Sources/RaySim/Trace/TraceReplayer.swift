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
        var gcsMachines: [Int: GCS] = [:]
        var raylets: [NodeID: Raylet] = [:]
        var executors: [WorkerID: Executor] = [:]
        var owners: [WorkerID: Owner] = [:]
        for (index, step) in trace.steps.enumerated() {
            do {
                let outcome: (String, [UInt8], String, String)
                switch step.component {
                case .gcs(let incarnation):
                    outcome = try run(GCSInput.self, step, machine: &gcsMachines[incarnation, default: GCS()]) {
                        $0.handle($1, now: $2)
                    }
                case .raylet(let node):
                    outcome = try run(RayletInput.self, step, machine: &raylets[node, default: Raylet()]) {
                        $0.handle($1, now: $2)
                    }
                case .worker(let worker):
                    outcome = try run(ExecutorInput.self, step, machine: &executors[worker, default: Executor()]) {
                        $0.handle($1, now: $2)
                    }
                case .driver(let worker):
                    outcome = try run(OwnerInput.self, step, machine: &owners[worker, default: Owner()]) {
                        $0.handle($1, now: $2)
                    }
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

    /// Runs one step; returns (input description, actual effect bytes, expected and actual effect descriptions).
    private static func run<Machine, Input: ProtoRecord, Effect: Codable>(
        _ inputType: Input.Type, _ step: TraceStep, machine: inout Machine,
        _ handle: (inout Machine, Input, Int64) -> [Effect]
    ) throws -> (String, [UInt8], String, String) {
        let input = try Input(recordBytes: step.input)
        let effects = handle(&machine, input, step.time)
        let bytes = try BinaryCoder.encode(effects)
        if bytes == step.effects { return ("", bytes, "", "") }
        let expected = (try? BinaryCoder.decode([Effect].self, from: step.effects)).map { "\($0)" } ?? "(undecodable)"
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
        case .driver: return text(OwnerInput.self, OwnerEffect.self)
        }
    }
}
