// Unguessable IDs (issue 12): with a job's ID key, what an owner's program makes gets IDs
// no process without the key can derive (SipHash-2-4, checked against its reference vector);
// without a key (0), the derivation is the one records and tests were written with.

import Testing
@testable import RayCore

@Test func sipHashMatchesItsReferenceVector() {
    // The SipHash paper's 16-byte vector: key 00..0f, message 00..0f.
    #expect(sipHash24(k0: 0x0706_0504_0302_0100, k1: 0x0f0e_0d0c_0b0a_0908,
                      0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908) == 0x3f2a_cc7f_57c2_9bdb)
}

@Test func aKeyedOwnerGivesIDsTheUnkeyedRuleCannotDerive() {
    let parent = TaskID.driver(of: JobID(3))
    var unkeyed = OwnerIDs(parent: parent)
    var keyed = OwnerIDs(parent: parent, key: 0x1234_5678_9ABC_DEF1)
    var otherJob = OwnerIDs(parent: parent, key: 0x0FED_CBA9_8765_4321)
    #expect(unkeyed.takeTask() == TaskID.child(of: parent, index: 1))  // Key 0: the old rule.
    #expect(unkeyed.takePut() == ObjectID.put(by: parent, index: 1))
    var seen = Set<ObjectID>()
    var tasks: [TaskID] = []
    for _ in 0..<20_000 {
        let next = keyed.nextTask
        let task = keyed.takeTask()
        #expect(task == next)
        tasks.append(task)
        #expect(seen.insert(.returnValue(of: task, index: 1)).inserted)
        let put = keyed.takePut()
        #expect(put.isPut)
        #expect(seen.insert(put).inserted)
        // Not the unkeyed rule's, not another key's, and a put names no task part shared with another.
        #expect(put.task != parent)
        #expect(otherJob.takeTask() != task)
    }
    #expect(tasks[0] != TaskID.child(of: parent, index: 1))
    #expect(Set(tasks).count == tasks.count)
    // Deterministic: the same key gives the same sequence (the driver's program thread and its
    // loop's owner both derive it).
    var again = OwnerIDs(parent: parent, key: 0x1234_5678_9ABC_DEF1)
    #expect(again.takeTask() == tasks[0] && again.takeTask() == tasks[1])
    // An attempt's sequence is keyed too, and differs per attempt.
    let first = OwnerIDs.forTask(tasks[0], attempt: 1, key: keyed.key)
    let second = OwnerIDs.forTask(tasks[0], attempt: 2, key: keyed.key)
    #expect(first.parent != second.parent && first.key == keyed.key)
    #expect(first.parent != OwnerIDs.forTask(tasks[0], attempt: 1).parent)
}

@Test func anOwnerWithAKeyNumbersWhatItMakesWithIt() {
    var machine = Owner()
    let identity = OwnerIdentity(worker: Build.worker(1, 9), job: JobID(2), idKey: 77)
    _ = machine.handle(.started(RayConfig(), identity), now: 0)
    var expected = OwnerIDs(parent: TaskID.driver(of: JobID(2)), key: 77)
    let task = machine.nextTaskID
    _ = machine.handle(.submitTask(Build.task("f")), now: 1)
    #expect(task == expected.takeTask())
    let put = machine.nextPutID
    _ = machine.handle(.put(Build.data(8), node: nil), now: 2)
    #expect(put == expected.takePut())
    #expect(machine.objects[put] != nil && machine.tasks[task] != nil)
}
