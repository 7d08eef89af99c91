// The event loop's hand-over (`LoopBaton`): a body run outside the loop's
// callbacks keeps the loop unless it blocks or runs long; then a spare thread
// runs the loop, the body's result reaches the loop, and `run()` still returns
// on the thread that called it.

import Dispatch
import Foundation
import Synchronization
import Testing

@testable import RayRuntime

@Suite struct LoopBatonTests {
    /// Runs a loop on a thread of its own; `body` gets the loop; the loop is stopped after it.
    private func withLoop(_ body: (EventLoop) throws -> Void) rethrows {
        let loop = EventLoop()
        let returned = DispatchSemaphore(value: 0)
        let thread = Thread {
            loop.run()
            returned.signal()
        }
        thread.start()
        defer {
            loop.post { loop.stop() }
            #expect(returned.wait(timeout: .now() + 10) == .success, "run() returned on the thread that called it")
        }
        try body(loop)
    }

    private func outside(_ loop: EventLoop, blocksWithWillBlock: Bool?) -> (result: Int?, keptLoop: Bool?, postedRan: Bool) {
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0), posted = DispatchSemaphore(value: 0)
        let outcome = Mutex<(Int?, Bool?)>((nil, nil))
        loop.post {
            loop.runOutside({ () -> (Int, Bool) in
                started.signal()
                if let willBlock = blocksWithWillBlock {
                    if willBlock { loop.willBlock() }
                    release.wait()
                }
                return (7, loop.isLoopThread)
            }) { value in
                outcome.withLock { $0 = (value.0, value.1) }
                finished.signal()
            }
        }
        _ = started.wait(timeout: .now() + 10)
        loop.post { posted.signal() }
        // Work posted while the body blocks runs meanwhile (unless the body does not block at all).
        let postedRan = posted.wait(timeout: .now() + 10) == .success
        release.signal()
        _ = finished.wait(timeout: .now() + 10)
        let (result, kept) = outcome.withLock { $0 }
        return (result, kept, postedRan)
    }

    @Test func aBodyThatDoesNotBlockKeepsTheLoop() {
        withLoop { loop in
            let (result, kept, ran) = outside(loop, blocksWithWillBlock: nil)
            #expect(result == 7 && kept == true && ran)
        }
    }

    @Test func aBodyThatWillBlockGivesTheLoopAway() {
        withLoop { loop in
            for _ in 0..<3 {  // a spare is made once, then parked spares take the loop
                let (result, kept, ran) = outside(loop, blocksWithWillBlock: true)
                #expect(result == 7 && kept == false && ran)
            }
        }
    }

    /// A body acting for the loop (`runIfLoopThread`: an actor call ending on the loop's thread)
    /// keeps it however long that takes: the watcher took the loop from a preempted body while it
    /// went on writing the worker's log, two threads in the log at once.
    @Test func aBodyActingForTheLoopKeepsItUntilDone() {
        withLoop { loop in
            let posted = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
            let seen = Mutex<(acted: Bool, ranMeanwhile: Bool, heldThroughout: Bool)>((false, true, false))
            loop.post {
                loop.runOutside({
                    let acted = loop.runIfLoopThread {
                        loop.post { posted.signal() }
                        // Five takeover periods: a watcher ignoring the pin takes the loop, which runs the post.
                        let ranMeanwhile = posted.wait(timeout: .now() + .milliseconds(50)) == .success
                        seen.withLock { $0 = (false, ranMeanwhile, loop.isLoopThread) }
                    }
                    seen.withLock { $0.acted = acted }
                }) { _ in finished.signal() }
            }
            #expect(finished.wait(timeout: .now() + 10) == .success)
            let (acted, ranMeanwhile, held) = seen.withLock { $0 }
            #expect(acted && !ranMeanwhile && held)
            #expect(posted.wait(timeout: .now() + 10) == .success, "what was posted runs once the body is done")
        }
    }

    @Test func aBodyThatBlocksUnannouncedHasItsLoopTakenOver() {
        withLoop { loop in
            // The first body made a spare that watches bodies: it takes a long one's loop.
            let (result, kept, ran) = outside(loop, blocksWithWillBlock: false)
            #expect(result == 7 && kept == false && ran)
        }
    }
}
