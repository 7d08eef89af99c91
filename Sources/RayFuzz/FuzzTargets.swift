// What the fuzzers run (tools/fuzz.sh builds tools/fuzz, a libFuzzer binary that calls
// `FuzzTargets.run`) and what the suite replays (every seed and every input a fuzzer
// ever crashed on, under Tests/RayRuntimeTests/FuzzRegressions). Each target feeds
// arbitrary bytes to decoders that read what another process or a file hands them:
// - frames: a connection's byte stream (handshake, hellos, messages, control, chunks);
// - records: logged inputs of every machine (the protobuf records LMDB logs hold and a
//   trace's steps carry) and effect lists;
// - scenario: the scenario loader (YAML and its validation);
// - trace: the trace reader, and the description of every step it holds.

import Foundation
import RayCore
import RayRuntime
import RaySim
import RayWire

public enum FuzzTargets {
    public static let names = ["frames", "records", "scenario", "trace"]

    /// Runs `target` on `bytes`; a crash (trap) is the only failure.
    public static func run(_ target: String, _ bytes: [UInt8]) {
        switch target {
        case "frames": WireFuzzing.decodeStream(bytes)
        case "records": decodeRecord(bytes)
        case "scenario":
            _ = (try? ScenarioLoader.parse(yaml: String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml")).map { "\($0)" }
        case "trace":
            guard let trace = try? TraceFile.decode(bytes, path: "fuzz.trace") else { return }
            for step in trace.steps.prefix(512) { _ = TraceReplayer.describe(step) }
        default:
            preconditionFailure("unknown fuzz target \(target) (expected \(names.joined(separator: ", ")))")
        }
    }

    /// The first byte picks what the rest is: an input record of the GCS, a raylet, an
    /// executor or an owner, a message, a log record (time + input), or effect lists.
    static func decodeRecord(_ bytes: [UInt8]) {
        guard let kind = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        func describe<T>(_ value: T?) { if let value { _ = "\(value)" } }
        switch kind % 12 {
        case 0: describe(try? GCSInput(recordBytes: rest))
        case 1: describe(try? RayletInput(recordBytes: rest))
        case 2: describe(try? ExecutorInput(recordBytes: rest))
        case 3: describe(try? OwnerInput(recordBytes: rest))
        case 4:
            let general = try? RayCore.Message(generatedDecoding: rest)
            describe(general)
            // The hand-written decoder agrees with the generated one whenever it answers.
            if let fast = FastMessages.decode(rest[...]) {
                precondition(fast == general, "FastMessages.decode differs: \(fast) against \(String(describing: general))")
            }
        case 5: describe(try? LogRecord.decode(GCSInput.self, rest))
        case 6: describe(try? LogRecord.decode(RayletInput.self, rest))
        case 7: describe(try? LogRecord.decode(OwnerInput.self, rest))
        case 8: describe(try? BinaryCoder.decode([GCSEffect].self, from: rest))
        case 9: describe(try? BinaryCoder.decode([RayletEffect].self, from: rest))
        case 10: describe(try? BinaryCoder.decode([OwnerEffect].self, from: rest))
        default: describe(try? BinaryCoder.decode([ExecutorEffect].self, from: rest))
        }
    }

    /// Valid inputs to start from, made from the repository at `root` (its traces and
    /// scenarios) and from the wire's own encoders.
    public static func seeds(_ target: String, root: String) -> [[UInt8]] {
        let traces = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/Traces")) ?? [])
            .filter { $0.hasSuffix(".trace") }.sorted()
        switch target {
        case "frames":
            return WireFuzzing.seeds()
        case "records":
            var seeds: [[UInt8]] = []
            for name in traces {
                guard let trace = try? TraceFile.read(from: root + "/Traces/" + name) else { continue }
                for step in trace.steps.prefix(40) {
                    let kind: UInt8 = switch step.component {
                    case .gcs: 0
                    case .raylet: 1
                    case .worker: 2
                    case .driver, .workerOwner: 3
                    }
                    seeds.append([kind] + step.input)
                    seeds.append([kind + 8] + step.effects)
                }
            }
            // Tasks, calls and replies, which a hand-written decoder reads (FastMessages).
            for message in MessageSamples.draw(40, seed: 1) {
                if let bytes = try? message.recordBytes() { seeds.append([4] + bytes) }
            }
            return seeds
        case "scenario":
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/Scenarios")) ?? [])
                .filter { $0.hasSuffix(".yaml") }.sorted()
            return names.compactMap { FileManager.default.contents(atPath: root + "/Scenarios/" + $0).map { [UInt8]($0) } }
        case "trace":
            return traces.compactMap { FileManager.default.contents(atPath: root + "/Traces/" + $0).map { [UInt8]($0) } }
        default:
            return []
        }
    }
}
