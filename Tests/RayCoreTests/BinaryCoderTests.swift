// Round-trip, determinism and malformed-input tests of BinaryCoder.
// Malformed input must throw BinaryCoderError and never trap: every prefix of
// a valid encoding, random byte flips and random garbage are fed to decode.

import Foundation
import Testing
@testable import RayCore

struct Point: Codable, Equatable { var x: Int; var y: Double }

indirect enum Shape: Codable, Equatable {
    case circle(center: Point, radius: Double)
    case polygon([Point])
    case empty
    case tagged(String, Int?)
    case group([Shape], name: String?)
}

enum Color: String, Codable, Equatable { case red, green }

struct Empty: Codable, Equatable {}

struct Inner: Codable, Equatable { var x: Int? }

/// An optional left absent at the end of a nested struct, followed by a parent key of the same name.
struct Boundary: Codable, Equatable { var inner: Inner; var x: Int }

struct Everything: Codable, Equatable {
    var flag: Bool
    var int8: Int8, int16: Int16, int32: Int32, int64: Int64, int: Int
    var uint8: UInt8, uint16: UInt16, uint32: UInt32, uint64: UInt64, uint: UInt
    var float: Float
    var double: Double
    var text: String
    var present: String?
    var absent: Point?
    var doubleOptional: Int??
    var optionals: [Int?]
    var points: [String: Point]
    var names: [Int: [String]]
    var shapes: [Shape]
    var shapeByName: [String: Shape]
    var bytes: [UInt8]
    var empty: Empty
    var color: Color
    var matrix: [[Int]]
}

func sample() -> Everything {
    Everything(
        flag: true,
        int8: .min, int16: .max, int32: -123_456, int64: .min, int: .max,
        uint8: .max, uint16: 300, uint32: .max, uint64: .max, uint: 0,
        float: -1.5, double: .pi, text: "héllo, 世界 🌍",
        present: "here", absent: nil, doubleOptional: .some(nil),
        optionals: [1, nil, -3, nil],
        points: ["origin": Point(x: 0, y: 0), "far": Point(x: -9_999_999, y: 1e300)],
        names: [3: ["a", "b"], -7: [], 1_000_000: [""]],
        shapes: [
            .circle(center: Point(x: 1, y: 2), radius: 3), .polygon([Point(x: 1, y: 1), Point(x: 2, y: 2)]),
            .empty, .tagged("t", nil), .tagged("", 42),
            .group([.empty, .group([], name: nil)], name: "g"),
        ],
        shapeByName: ["e": .empty, "c": .circle(center: Point(x: 5, y: 5), radius: 0.25)],
        bytes: [0, 1, 127, 128, 255], empty: Empty(), color: .green, matrix: [[], [1], [2, 3]])
}

/// A reproducible generator for fuzzing (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Test func everythingRoundTrips() throws {
    let value = sample()
    let bytes = try BinaryCoder.encode(value)
    #expect(try BinaryCoder.decode(Everything.self, from: bytes) == value)
}

@Test func nestedEnumsAndOptionalsRoundTrip() throws {
    let values: [Shape?] = [nil, .empty, .group([.tagged("x", nil), .circle(center: Point(x: -1, y: -0.0), radius: 1)], name: nil)]
    #expect(try BinaryCoder.decode([Shape?].self, from: BinaryCoder.encode(values)) == values)
    let nested: [String: [Int: Shape?]] = ["a": [1: nil, 2: .empty], "b": [:]]
    #expect(try BinaryCoder.decode([String: [Int: Shape?]].self, from: BinaryCoder.encode(nested)) == nested)
}

@Test func absentOptionalAtContainerEndDoesNotStealParentKey() throws {
    let value = Boundary(inner: Inner(x: nil), x: 7)
    #expect(try BinaryCoder.decode(Boundary.self, from: BinaryCoder.encode(value)) == value)
}

@Test func primitivesRoundTripAtExtremes() throws {
    for value in [Int64.min, -1, 0, 1, Int64.max] {
        #expect(try BinaryCoder.decode(Int64.self, from: BinaryCoder.encode(value)) == value)
    }
    for value in [0, 127, 128, UInt64.max] {
        #expect(try BinaryCoder.decode(UInt64.self, from: BinaryCoder.encode(value)) == value)
    }
    for value in [0.0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude] as [Double] {
        #expect(try BinaryCoder.decode(Double.self, from: BinaryCoder.encode(value)).bitPattern == value.bitPattern)
    }
    #expect(try BinaryCoder.decode(Float.self, from: BinaryCoder.encode(Float.nan)).bitPattern == Float.nan.bitPattern)
    #expect(try BinaryCoder.decode(String.self, from: BinaryCoder.encode("")) == "")
}

@Test func encodingIsCompact() throws {
    #expect(try BinaryCoder.encode(5) == [10])
    #expect(try BinaryCoder.encode(-1) == [1])
    #expect(try BinaryCoder.encode(UInt64(300)) == [0xAC, 0x02])
    #expect(try BinaryCoder.encode("ab") == [2, 0x61, 0x62])
    #expect(try BinaryCoder.encode(1.0) == [0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
    #expect(try BinaryCoder.encode([1, 2]) == [2, 2, 4])
    #expect(try BinaryCoder.encode(Point(x: 1, y: 0)) == [2, 1, 0x78, 2, 1, 0x79, 0, 0, 0, 0, 0, 0, 0, 0])
}

@Test func dictionaryEncodingDoesNotDependOnInsertionOrder() throws {
    var forward: [String: Int] = [:]
    var backward: [String: Int] = [:]
    let keys = (0..<200).map { "key\($0)" }
    for (index, key) in keys.enumerated() { forward[key] = index }
    for (index, key) in keys.enumerated().reversed() { backward[key] = index }
    #expect(try BinaryCoder.encode(forward) == BinaryCoder.encode(backward))
}

@Test func everyPrefixFailsCleanly() throws {
    let bytes = try BinaryCoder.encode(sample())
    for length in 0..<bytes.count {
        #expect(throws: BinaryCoderError.self) { try BinaryCoder.decode(Everything.self, from: Array(bytes[..<length])) }
    }
}

@Test func trailingBytesAreRejected() throws {
    let bytes = try BinaryCoder.encode(Point(x: 1, y: 2)) + [0]
    #expect(throws: BinaryCoderError.trailingBytes(offset: bytes.count - 1, byteCount: 1)) {
        try BinaryCoder.decode(Point.self, from: bytes)
    }
}

@Test func randomByteFlipsNeverCrash() throws {
    let bytes = try BinaryCoder.encode(sample())
    var generator = SplitMix(state: 42)
    var failures = 0
    for _ in 0..<3000 {
        var mutated = bytes
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            let index = Int.random(in: 0..<mutated.count, using: &generator)
            mutated[index] = UInt8.random(in: 0...255, using: &generator)
        }
        do { _ = try BinaryCoder.decode(Everything.self, from: mutated) } catch { failures += 1 }
    }
    #expect(failures > 0)
}

@Test func randomGarbageNeverCrashes() {
    var generator = SplitMix(state: 7)
    for _ in 0..<3000 {
        let length = Int.random(in: 0..<64, using: &generator)
        let garbage = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        _ = try? BinaryCoder.decode(Everything.self, from: garbage)
        _ = try? BinaryCoder.decode([Shape?].self, from: garbage)
        _ = try? BinaryCoder.decode([String: [Int]].self, from: garbage)
    }
}

@Test func errorsNameTheProblem() throws {
    struct Other: Codable { var z: Int; var y: Double }
    let point = try BinaryCoder.encode(Point(x: 1, y: 2))
    #expect(throws: BinaryCoderError.keyMismatch(expected: "z", found: "x", offset: 1)) {
        try BinaryCoder.decode(Other.self, from: point)
    }
    #expect(throws: BinaryCoderError.invalidUTF8(offset: 1)) { try BinaryCoder.decode(String.self, from: [2, 0xC3, 0x28]) }
    #expect(throws: BinaryCoderError.lengthExceedsInput(length: 1_000_000, offset: 0)) {
        try BinaryCoder.decode([Int].self, from: [0xC0, 0x84, 0x3D, 1])
    }
    #expect(throws: BinaryCoderError.varintOverflow(offset: 0)) {
        try BinaryCoder.decode(UInt64.self, from: [UInt8](repeating: 0xFF, count: 10) + [1])
    }
    #expect(throws: BinaryCoderError.integerOutOfRange(type: "UInt8", offset: 0)) {
        try BinaryCoder.decode(UInt8.self, from: BinaryCoder.encode(300))
    }
    #expect(throws: BinaryCoderError.invalidBool(byte: 2, offset: 0)) { try BinaryCoder.decode(Bool.self, from: [2]) }
    #expect(throws: BinaryCoderError.truncated(offset: 0, neededBytes: 8)) { try BinaryCoder.decode(Double.self, from: []) }
    let unknownCase: [UInt8] = [1, 3, 0x62, 0x61, 0x64, 0]
    #expect(throws: BinaryCoderError.self) { try BinaryCoder.decode(Shape.self, from: unknownCase) }
    #expect(!BinaryCoderError.truncated(offset: 3, neededBytes: 1).description.isEmpty)
}

@Test func largeValuesRoundTrip() throws {
    let records = (0..<10_000).map { Shape.circle(center: Point(x: $0, y: Double($0)), radius: 1) }
    let bytes = try BinaryCoder.encode(records)
    #expect(try BinaryCoder.decode([Shape].self, from: bytes) == records)
    let payload = [UInt8](repeating: 0xAB, count: 1 << 20)
    #expect(try BinaryCoder.decode([UInt8].self, from: BinaryCoder.encode(payload)) == payload)
}

class Base: Codable { var id: Int; init(id: Int) { self.id = id } }

final class Derived: Base, @unchecked Sendable {
    var name: String
    init(id: Int, name: String) { self.name = name; super.init(id: id) }
    enum CodingKeys: CodingKey { case name }
    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        try super.init(from: container.superDecoder())
    }
    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try super.encode(to: container.superEncoder())
    }
}

@Test func emptyValuesAndSuperEncodersRoundTrip() throws {
    #expect(try BinaryCoder.encode(Empty()) == [0])
    #expect(try BinaryCoder.decode([Empty].self, from: BinaryCoder.encode([Empty(), Empty()])) == [Empty(), Empty()])
    let derived = try BinaryCoder.decode(Derived.self, from: BinaryCoder.encode(Derived(id: 9, name: "n")))
    #expect(derived.id == 9 && derived.name == "n")
}

/// Not a test: prints encode/decode throughput when SWIFTRAY_BENCHMARK is set.
@Test(.enabled(if: ProcessInfo.processInfo.environment["SWIFTRAY_BENCHMARK"] != nil))
func benchmarkBinaryCoder() throws {
    let values = (0..<100_000).map { Shape.circle(center: Point(x: $0, y: Double($0)), radius: 1) }
    let clock = ContinuousClock()
    var bytes: [[UInt8]] = []
    bytes.reserveCapacity(values.count)
    let encodeTime = try clock.measure { for value in values { bytes.append(try BinaryCoder.encode(value)) } }
    let decodeTime = try clock.measure { for encoded in bytes { _ = try BinaryCoder.decode(Shape.self, from: encoded) } }
    print("BinaryCoder: 100k enum values encoded in \(encodeTime), decoded in \(decodeTime), \(bytes[0].count) bytes each")
}
