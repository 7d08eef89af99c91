// Traces: every step of a run — which component, at what time, the input it
// handled and the effects it returned, both encoded exactly as logged — so a
// run can be replayed through fresh machines and compared effect by effect.
// A file is a magic line, then one BinaryCoder-encoded `TraceFile`.

import Foundation
import RayCore

/// One step of a run.
public struct TraceStep: Codable, Sendable, Equatable {
    public var time: Int64
    public var component: ComponentID
    public var input: [UInt8]
    public var effects: [UInt8]

    public init(time: Int64, component: ComponentID, input: [UInt8], effects: [UInt8]) {
        self.time = time
        self.component = component
        self.input = input
        self.effects = effects
    }
}

/// What a trace file holds.
public struct TraceFile: Codable, Sendable {
    public static let formatVersion = 1
    public static let magic = Array("SWIFTRAY-TRACE\n".utf8)

    public var formatVersion: Int
    public var scenarioName: String
    public var scenarioPath: String
    public var seed: UInt64
    public var steps: [TraceStep]

    public init(formatVersion: Int, scenarioName: String, scenarioPath: String, seed: UInt64, steps: [TraceStep]) {
        self.formatVersion = formatVersion
        self.scenarioName = scenarioName
        self.scenarioPath = scenarioPath
        self.seed = seed
        self.steps = steps
    }

    /// Writes the trace to `path`.
    public func write(to path: String) throws(TraceError) {
        let body: [UInt8]
        do {
            body = try BinaryCoder.encode(self)
        } catch {
            throw .cannotWrite(path: path, reason: "\(error)")
        }
        do {
            try Data(Self.magic + body).write(to: URL(fileURLWithPath: path))
        } catch {
            throw .cannotWrite(path: path, reason: error.localizedDescription)
        }
    }

    /// Reads a trace from `path`; a file that is not a trace, or is damaged, is an error that says so.
    public static func read(from path: String) throws(TraceError) -> TraceFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .cannotRead(path: path, reason: error.localizedDescription)
        }
        return try decode([UInt8](data), path: path)
    }

    /// Reads a trace from the bytes of the file at `path` (named in errors).
    public static func decode(_ bytes: [UInt8], path: String) throws(TraceError) -> TraceFile {
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw .notATrace(path: path)
        }
        let file: TraceFile
        do {
            file = try BinaryCoder.decode(TraceFile.self, from: Array(bytes[magic.count...]))
        } catch {
            throw .corrupt(path: path, reason: "\(error)")
        }
        guard file.formatVersion == formatVersion else {
            throw .unsupportedVersion(path: path, found: file.formatVersion)
        }
        return file
    }
}

/// A trace that cannot be read or written.
public enum TraceError: Error, Equatable, CustomStringConvertible {
    case cannotRead(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case notATrace(path: String)
    case corrupt(path: String, reason: String)
    case unsupportedVersion(path: String, found: Int)

    public var description: String {
        switch self {
        case .cannotRead(let path, let reason): return "\(path): cannot read the trace: \(reason)"
        case .cannotWrite(let path, let reason): return "\(path): cannot write the trace: \(reason)"
        case .notATrace(let path):
            return "\(path): not a SwiftRay trace (it does not start with the trace header); "
                + "record one with `raysim run FILE --record TRACE`"
        case .corrupt(let path, let reason):
            return "\(path): the trace is damaged or truncated (\(reason)); record it again"
        case .unsupportedVersion(let path, let found):
            return "\(path): trace format version \(found); this raysim reads version \(TraceFile.formatVersion)"
        }
    }
}

/// Collects steps during a run.
final class TraceRecorder {
    var steps: [TraceStep] = []
    func append(_ step: TraceStep) { steps.append(step) }
}

extension Simulation {
    /// The recorded trace (nil unless `recordTrace` was set).
    public func trace() -> TraceFile? {
        guard let recorder = traceRecorder else { return nil }
        return TraceFile(formatVersion: TraceFile.formatVersion, scenarioName: scenario.name,
                         scenarioPath: scenario.sourcePath, seed: options.seed, steps: recorder.steps)
    }
}
