// The hand-written codec of tasks, actor calls and replies (RayWire/FastMessages.swift)
// against the generated one: the same bytes out, the same message in, and anything it does
// not read exactly as the generated decoder would is left to that decoder.

import Testing

import RayCore
import RayFuzz
import RayWire
import SwiftProtobuf

private typealias Message = RayCore.Message

@Suite struct FastMessagesTests {
    static let samples = MessageSamples.draw(3000, seed: 42)

    @Test func itWritesTheBytesTheGeneratedEncoderWrites() throws {
        var kinds = Set<String>()
        for message in Self.samples {
            var fast: [UInt8] = [7]  // appends after what is there
            #expect(FastMessages.append(message, to: &fast))
            let general: [UInt8] = try message.proto.serializedBytes()
            #expect(Array(fast.dropFirst()) == general, "\(message)")
            #expect(try message.recordBytes() == general)
            kinds.insert(String(describing: message).prefix(while: { $0 != "(" }).description)
        }
        #expect(kinds == ["pushTask", "pushActorTask", "taskReply"])
    }

    @Test func itReadsBackWhatItWrites() throws {
        for message in Self.samples {
            var bytes: [UInt8] = []
            _ = FastMessages.append(message, to: &bytes)
            #expect(FastMessages.decode(bytes[...]) == message, "\(message)")
        }
    }

    @Test func otherMessagesTakeTheGeneralPath() throws {
        let other: [Message] = [
            .healthCheck(sequence: 3), .borrowReleased(ObjectID(task: TaskID(value: 1), index: 1),
                                                       borrower: WorkerID(node: NodeID(1), index: 2)),
            .kvGet(key: "k"), .workerDied(WorkerID(node: NodeID(1), index: 1)),
        ]
        for message in other {
            var bytes: [UInt8] = []
            #expect(!FastMessages.append(message, to: &bytes))
            #expect(bytes.isEmpty)
            #expect(FastMessages.decode(try message.recordBytes()[...]) == nil)
        }
    }

    /// Damaged and truncated encodings: whenever the hand-written decoder answers, the
    /// generated one answers the same; when it declines, the generated one decides.
    @Test func whereverItAnswersTheGeneratedDecoderAgrees() throws {
        var random = SeededGenerator(seed: 9)
        var answered = 0, declined = 0
        for message in Self.samples.prefix(1500) {
            let clean = try message.recordBytes()
            for _ in 0..<4 {
                var bytes = clean
                switch random.below(4) {
                case 0: bytes.removeLast(Int(random.below(UInt64(bytes.count))) + 1)
                case 1:
                    for _ in 0...random.below(3) {
                        bytes[Int(random.below(UInt64(bytes.count)))] = UInt8(truncatingIfNeeded: random.next())
                    }
                case 2: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: Int(random.below(UInt64(bytes.count))))
                default: bytes += [0x08, 0x01]  // a field after the message's one field
                }
                let general = try? Message(generatedDecoding: bytes)
                if let fast = FastMessages.decode(bytes[...]) {
                    answered += 1
                    #expect(fast == general, "\(bytes)")
                } else {
                    declined += 1
                }
            }
        }
        // Both paths are exercised (a decoder that declines everything would pass trivially).
        #expect(answered > 100 && declined > 100, "answered \(answered), declined \(declined)")
    }

    @Test func unusualButValidEncodingsAreLeftToTheGeneratedDecoder() throws {
        let reply = Message.taskReply(TaskID(value: 5), attempt: 1, .applicationError("x"), borrowed: [])
        let bytes = try reply.recordBytes()
        // [tag of field 19: 2 bytes][length: 1 byte][the reply's fields]
        #expect(bytes.count < 100 && bytes[0] == 0x9A && bytes[1] == 0x01 && Int(bytes[2]) == bytes.count - 3)
        // An unknown field inside the reply (from a newer peer): the generated decoder skips it.
        var unknown = bytes
        unknown[2] += 3
        unknown += [0xF8, 0x01, 0x00]  // field 31, varint 0
        #expect(FastMessages.decode(unknown[...]) == nil)
        #expect(try Message(recordBytes: unknown) == reply)  // the generated decoder, after the hand-written declined
        // The attempt written twice: the generated decoder keeps the last.
        var twice = bytes
        twice[2] += 2
        twice += [0x10, 0x06]  // field 2, zigzag 3
        #expect(FastMessages.decode(twice[...]) == nil)
        #expect(try Message(recordBytes: twice)
                == .taskReply(TaskID(value: 5), attempt: 3, .applicationError("x"), borrowed: []))
    }

    @Test func inputsAreWrittenAsTheGeneratedEncoderWritesThem() throws {
        func check<Input: ProtoRecord & Equatable>(_ inputs: [Input], handWritten: Int) throws {
            var written = 0
            for input in inputs {
                var fast: [UInt8] = []
                if input.appendHandWritten(to: &fast) { written += 1 }
                let general: [UInt8] = try input.proto.serializedBytes()
                #expect(fast.isEmpty || fast == general, "\(input)")
                // A log record: the time, then the input; it decodes to the input and its time.
                let record = try LogRecord.encode(input, at: -77)
                #expect(Array(record.dropFirst(LogRecord.timeBytes)) == general)
                let (decoded, time) = try LogRecord.decode(Input.self, record)
                #expect(decoded == input && time == -77)
            }
            #expect(written == handWritten)
        }
        let owner = MessageSamples.drawOwnerInputs(1500, seed: 3)
        try check(owner, handWritten: owner.count)
        let executor = MessageSamples.drawExecutorInputs(1500, seed: 4)
        try check(executor, handWritten: executor.count)
        // Other inputs take the generated encoder.
        try check([OwnerInput.subscribeActor(ActorID(creationTask: TaskID(value: 3)))], handWritten: 0)
        try check([ExecutorInput.bodyBlocked(TaskID(value: 3), attempt: 1)], handWritten: 0)
    }
}
