// The fuzz targets on their seeds and on every input a fuzzer crashed on
// (FuzzRegressions/TARGET/*): none may trap, and the seeds must decode (a target
// that rejects everything would fuzz nothing). tools/fuzz.sh runs the fuzzers.

import Foundation
import Testing

import RayCore
import RayFuzz
@testable import RayRuntime

@Suite struct FuzzTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/FuzzRegressions"

    @Test(arguments: FuzzTargets.names)
    func seedsAndFoundCrashesRunWithoutATrap(target: String) throws {
        let seeds = FuzzTargets.seeds(target, root: Self.root)
        #expect(seeds.count >= 3, "too few seeds for \(target)")
        for seed in seeds { FuzzTargets.run(target, seed) }
        let directory = Self.regressions + "/" + target
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !name.hasPrefix(".") {
            let bytes = try #require(FileManager.default.contents(atPath: directory + "/" + name))
            FuzzTargets.run(target, [UInt8](bytes))
        }
    }

    @Test func theFrameSeedsDecodeEveryFrame() {
        for seed in WireFuzzing.seeds() {
            #expect(WireFuzzing.decodeStream(seed) >= 2, "a seed stream did not decode: \(seed.prefix(16))")
        }
    }

    @Test func anObjectChunkCarriesAChecksumOfItsBytes() throws {
        var bytes: [UInt8] = []
        (0..<100).map { UInt8($0) }.withUnsafeBytes { body in
            Wire.appendChunks(of: ObjectID(task: TaskID(value: 2), index: 1), body, chunkBytes: 40, into: &bytes)
        }
        var reader = FrameReader(maxBodyBytes: 1 << 10)
        bytes.withUnsafeBytes { reader.append($0) }
        var frames: [Frame] = []
        while let frame = try reader.next() { frames.append(frame) }
        #expect(frames.count == 3)
        for frame in frames { #expect(try Wire.chunkHeader(frame).intact) }
        // One bit flipped in the second chunk's bytes: still in range, but not intact.
        var damaged = frames[1]
        damaged.bytes[damaged.bytes.count - 3] ^= 0x10
        let header = try Wire.chunkHeader(damaged)
        #expect(header.offset == 40 && !header.intact)
    }

    @Test func anObjectChunkPastItsObjectIsRefusedWithoutOverflow() throws {
        // The fuzzer's first find in spirit: an offset near Int64.max once overflowed the range check.
        var bytes: [UInt8] = []
        [UInt8](repeating: 1, count: 8).withUnsafeBytes { body in
            Wire.appendChunk(of: ObjectID(task: TaskID(value: 1), index: 1), body, offset: 0, count: 8, into: &bytes)
        }
        // total = 8, offset = Int64.max - 3.
        let offset = UInt64(Int64.max - 3)
        for index in 0..<8 { bytes[4 + 1 + 12 + 8 + index] = UInt8(truncatingIfNeeded: offset >> (8 * UInt64(index))) }
        var reader = FrameReader(maxBodyBytes: 1 << 10)
        bytes.withUnsafeBytes { reader.append($0) }
        let frame = try #require(try reader.next())
        #expect { _ = try Wire.chunkHeader(frame) } throws: { "\($0)".contains("out of range") }
    }
}
