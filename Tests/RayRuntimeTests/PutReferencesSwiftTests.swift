// References inside put values from Swift code, on real processes (Ray's
// `ray.put([ref1, ref2])`): the put value keeps what it holds alive after the
// program dropped its own references; a task given it reads them; reading it
// back gives working references; and what is not supported yet says so.

import Foundation
import Testing

@testable import Ray
import RayCore
import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct PutReferencesSwiftTests {
    @Test func aPutValueHoldsItsReferencesForTasksAndForItsReader() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            // Task results and puts, large and small, inside one put value; the program's own
            // references go at once: only the put value holds them.
            var parts: [ObjectRef<Int>]? = try (1...4).map { try Testbed.square.remote($0) } + [try Ray.put(100)]
            let held = try Ray.put(parts!)
            var blobRef: ObjectRef<[UInt8]>? = try Ray.put(Testbed.blobBytes(seed: 9, size: 300_000))
            let heldBlob = try Ray.put([blobRef!])
            parts = nil
            blobRef = nil
            // A task given the put value reads every reference inside it.
            #expect(try Testbed.sumRefs.remote(held).get(timeout: .seconds(30)) == 1 + 4 + 9 + 16 + 100)
            // A value holding a value that holds references: what a task gets is transitive.
            let twice = try Ray.put([held])
            #expect(try Testbed.sumNested.remote(twice).get(timeout: .seconds(30)) == 130)
            // The program reads them back from the value.
            let read = try held.get(timeout: .seconds(30))
            #expect(try Ray.get(read, timeout: .seconds(30)) == [1, 4, 9, 16, 100])
            let blob = try heldBlob.get(timeout: .seconds(30))[0]
            #expect(try blob.get(timeout: .seconds(30)) == Testbed.blobBytes(seed: 9, size: 300_000))
            #expect(try Testbed.checksum.remote(blob).get(timeout: .seconds(30))
                == Testbed.checksum(Testbed.blobBytes(seed: 9, size: 300_000)))
            // A task body does the same with what it submits.
            #expect(try Testbed.putsHolding.remote(5).get(timeout: .seconds(30)) == 0 + 1 + 4 + 9 + 16)
        }
    }

    @Test func onceThePutValueGoesSoDoesWhatItHeld() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            var inner: ObjectRef<Int>? = try Ray.put(5)
            let innerID = inner!.id
            var held: ObjectRef<[ObjectRef<Int>]>? = try Ray.put([inner!])
            inner = nil
            let client = try #require(Ray.currentClient)
            #expect(client.inspect { $0.objects[innerID].map { !$0.freed } ?? false }, "the put value holds it")
            held = nil
            let deadline = Date().addingTimeInterval(10)
            var live = true
            repeat {
                live = client.inspect { $0.objects.values.contains { !$0.freed } }
                if !live { break }
                usleep(20_000)
            } while Date() < deadline
            #expect(!live, "every object is freed once the put value is dropped")
        }
    }

    @Test func whatIsNotSupportedYetIsAClearError() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            #expect {
                _ = try Testbed.returnsPutHolding.remote().get(timeout: .seconds(30))
            } throws: { error in
                guard case .taskFailed(let message)? = error as? Ray.Error else { return false }
                return message.contains("a value it put that holds references")
            }
            #expect {
                _ = try Testbed.putsReceived.remote([try Ray.put(1)]).get(timeout: .seconds(30))
            } throws: { error in
                guard case .taskFailed(let message)? = error as? Ray.Error else { return false }
                return message.contains("was passed to this task; a put value cannot hold such a reference")
            }
            // The cluster still serves.
            #expect(try Testbed.add.remote(1, 2).get(timeout: .seconds(30)) == 3)
        }
    }
}
}
