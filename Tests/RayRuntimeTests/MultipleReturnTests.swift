// Several return values per task (Ray's num_returns), on real processes: each
// value is its own object, small ones inline, large ones stored; an error fails
// every one of them; a task body can call such a function too.

import Testing

@testable import Ray
import RayCore
import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct MultipleReturnTests {
    @Test func eachReturnValueIsItsOwnObject() throws {
        try withCluster([("head", ["CPU": 2])]) { _ throws in
            let (quotient, remainder) = try Testbed.divmod.remote(17, 5)
            #expect(quotient.id != remainder.id)
            #expect(try remainder.get(timeout: .seconds(30)) == 2)
            #expect(try quotient.get(timeout: .seconds(30)) == 3)

            let (seed, blob, label) = try Testbed.triple.remote(9)
            #expect(try blob.get(timeout: .seconds(30)) == Testbed.blobBytes(seed: 9, size: 300_000))
            #expect(try seed.get() == 9 && label.get() == "seed 9")
            // A value passed on to another task by reference.
            #expect(try Testbed.add.remote(quotient, remainder).get(timeout: .seconds(30)) == 5)

            // A body that raises fails every return value with its error.
            let (failedQ, failedR) = try Testbed.divmod.remote(1, 0)
            for ref in [failedQ, failedR] {
                #expect {
                    _ = try ref.get(timeout: .seconds(30))
                } throws: { error in
                    guard case .taskFailed(let message)? = error as? Ray.Error else { return false }
                    return message.contains("tb.divmod[") && message.contains("division by zero")
                }
            }

            // From a task body.
            #expect(try Testbed.divmodInside.remote(23, 4).get(timeout: .seconds(30)) == [5, 3])
        }
    }
}
}
