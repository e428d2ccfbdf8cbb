import * as assert from "node:assert/strict";
import type { CompactionRun } from "../../provider/run/compaction";
import { defragTimeoutMs, runCompaction } from "../../provider/run/compaction";
import { InterruptedError } from "../../provider/errors";
import { compactionSettings } from "../../provider/inputs/compaction";
import type { CompactionStep } from "../../provider/plan/compaction";
import { compactionPlan, describeStep, stepsOf } from "../../provider/plan/compaction";
import type { FakeMemberSetup } from "./fake-cluster";
import { FakeCluster, MiB } from "./fake-cluster";

/** EtcdCompaction's run against an in-memory cluster: what it does, in which order, and what it leaves alone. */

function settingsFor(cluster: FakeCluster, inputs: Record<string, unknown> = {}) {
  return compactionSettings({ endpoints: cluster.members.map((m) => m.endpoint), ...inputs });
}

function walk(cluster: FakeCluster, inputs: Record<string, unknown> = {}, lines: string[] = []) {
  return runCompaction(cluster, settingsFor(cluster, inputs), (line) => lines.push(line), {
    takeLock: cluster.takeLock,
  });
}

function run(cluster: FakeCluster, inputs: Record<string, unknown> = {}, lines: string[] = []) {
  return walk(cluster, inputs, lines).then((done) => done.record);
}

async function interrupted(work: Promise<unknown>): Promise<InterruptedError<CompactionRun>> {
  const error = await work.then(
    () => assert.fail("the run should have stopped part way"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof InterruptedError, `expected InterruptedError, got ${String(error)}`);
  return error as InterruptedError<CompactionRun>;
}

/** The member's process dies once its defrag is done, before the run looks at the cluster again. */
function downAfterItsDefrag(cluster: FakeCluster, name: string): void {
  const observe = cluster.observe.bind(cluster);
  cluster.observe = async () => {
    if (cluster.events.includes(`defrag ${name}`)) cluster.member(name).up = false;
    return observe();
  };
}

const three: FakeMemberSetup[] = [{ name: "m1" }, { name: "m2" }, { name: "m3" }];

describe("EtcdCompaction's run (in-memory cluster)", () => {
  it("compacts, defragments the followers in name order, then moves leadership away and defragments the old leader last", async () => {
    // Endpoints listed out of name order, and the leader first by name: neither order may leak into the run's.
    const cluster = new FakeCluster([{ name: "etcd-c" }, { name: "etcd-a" }, { name: "etcd-b" }], {
      leader: "etcd-a",
      revision: 500,
    });
    const a = cluster.member("etcd-a");

    await run(cluster);

    assert.deepEqual(cluster.events.slice(0, 4), ["lock", "compact 500", "defrag etcd-b", "defrag etcd-c"]);
    assert.match(cluster.events[4], /^move leader etcd-a -> etcd-[bc]$/);
    assert.deepEqual(cluster.events.slice(5), ["defrag etcd-a", "unlock"]);
    assert.notEqual(cluster.leaderId, a.id);
  });

  it("never defragments a learner and records that it was skipped for being one", async () => {
    const cluster = new FakeCluster([...three, { name: "m4", learner: true }], { leader: "m1" });

    const record = await run(cluster);

    assert.ok(!cluster.events.includes("defrag m4"), cluster.events.join(", "));
    assert.equal(cluster.member("m4").dbSize, 100 * MiB);
    const m4 = record.members.find((m) => m.name === "m4")!;
    assert.equal(m4.defragmented, false);
    assert.match(m4.reason, /learner/);
    assert.deepEqual(
      record.members.filter((m) => m.defragmented).map((m) => m.name),
      ["m1", "m2", "m3"],
    );
  });

  it("hands leadership to the most up-to-date follower, by name among equals", async () => {
    const ahead = new FakeCluster(
      [
        { name: "m1", raftIndex: 900 },
        { name: "m2", raftIndex: 800 },
        { name: "m3", raftIndex: 901 },
      ],
      { leader: "m1" },
    );
    await run(ahead);
    assert.ok(ahead.events.includes("move leader m1 -> m3"), ahead.events.join(", "));

    const level = new FakeCluster(
      [
        { name: "m1", raftIndex: 900 },
        { name: "m2", raftIndex: 900 },
        { name: "m3", raftIndex: 900 },
      ],
      { leader: "m1" },
    );
    await run(level);
    assert.ok(level.events.includes("move leader m1 -> m2"), level.events.join(", "));
  });

  it("gives each defrag 60 s plus 1 s per started 5 MiB of that member's DB, and the compaction that of the largest", async () => {
    assert.equal(defragTimeoutMs(0), 60_000);
    assert.equal(defragTimeoutMs(5 * MiB), 61_000);
    assert.equal(defragTimeoutMs(5 * MiB + 1), 62_000);
    assert.equal(defragTimeoutMs(1024 * MiB), 60_000 + 205_000);

    const cluster = new FakeCluster(
      [
        { name: "m1", dbSize: 100 * MiB },
        { name: "m2", dbSize: 300 * MiB },
        { name: "m3", dbSize: 42 * MiB },
      ],
      { leader: "m1", revision: 500 },
    );
    await run(cluster);
    assert.deepEqual(cluster.bounds, [
      "compact within 120000 ms",
      "defrag m2 within 120000 ms",
      "defrag m3 within 69000 ms",
      "defrag m1 within 80000 ms",
    ]);
  });

  it("disarms each NOSPACE alarm by a request naming its member, never an empty one, and no other alarm", async () => {
    const cluster = new FakeCluster(three, { leader: "m1" });
    cluster.raiseAlarm("NOSPACE", "m1");
    cluster.raiseAlarm("NOSPACE", "m3");

    await run(cluster);

    // The fake refuses a request that names no member, as etcd would clear every alarm for it.
    assert.deepEqual(
      cluster.events.filter((e) => e.startsWith("disarm")),
      ["disarm NOSPACE on m1", "disarm NOSPACE on m3"],
    );
    assert.deepEqual(cluster.alarms, []);
  });

  it("checks health again before each member: a member down after its own defrag stops the run before the next", async () => {
    const cluster = new FakeCluster(three, { leader: "m1", revision: 500 });
    downAfterItsDefrag(cluster, "m2");

    const error = await interrupted(run(cluster));

    // m3 itself answers: only a fresh look at the whole cluster finds m2 gone.
    assert.match(error.message, /stopped at defrag m3: .*m2/);
    assert.deepEqual(
      cluster.events.filter((e) => e.startsWith("defrag")),
      ["defrag m2"],
    );
  });

  it("walks the plan it prints: the steps it carried out are the plan's, in order, each done", async () => {
    const cluster = new FakeCluster(three, { leader: "m1", revision: 500 });
    const plan = compactionPlan(await cluster.observe(), settingsFor(cluster));

    const { record, walked } = await runCompaction(
      cluster,
      settingsFor(cluster),
      () => undefined,
      {
        takeLock: cluster.takeLock,
      },
      plan,
    );

    const key = (step: CompactionStep) => `${step.action}${"member" in step ? ` ${step.member}` : ""}`;
    assert.deepEqual(
      walked.map((w) => `${key(w.step)}: ${w.outcome}`),
      ["compact: done", "defrag m2: done", "defrag m3: done", "move-leader m1: done", "defrag m1: done"],
    );
    assert.deepEqual(
      walked.map((w) => key(w.step)),
      stepsOf(plan.stages).map(key),
    );
    assert.deepEqual(
      cluster.events.filter((e) => e.startsWith("defrag")),
      ["defrag m2", "defrag m3", "defrag m1"],
    );
    assert.deepEqual(
      record.executed,
      walked.map((w) => describeStep(w.step)),
    );
  });

  it("marks the step it stopped at failed and the plan's later steps not reached", async () => {
    const cluster = new FakeCluster(three, { leader: "m1", revision: 500 });
    downAfterItsDefrag(cluster, "m2");

    const error = await interrupted(walk(cluster));

    assert.deepEqual(
      error.done.walked.map((w) => `${w.step.action} ${"member" in w.step ? w.step.member : ""}: ${w.outcome}`),
      [
        "compact : done",
        "defrag m2: done",
        "defrag m3: failed",
        "move-leader m1: not reached",
        "defrag m1: not reached",
      ],
    );
    assert.deepEqual(
      cluster.events.filter((e) => e.startsWith("defrag")),
      ["defrag m2"],
    );
  });

  it("disarms NOSPACE on the member that raised it once every member is below disarmBelow of its quota", async () => {
    const cluster = new FakeCluster(three, { leader: "m1" });
    cluster.raiseAlarm("NOSPACE", "m2");

    const record = await run(cluster);

    assert.deepEqual(cluster.alarms, []);
    assert.ok(cluster.events.includes("disarm NOSPACE on m2"), cluster.events.join(", "));
    assert.deepEqual(record.alarmsDisarmed, ["NOSPACE on m2"]);
  });

  it("does not disarm NOSPACE while a member's live data alone is above disarmBelow of its quota, and says so", async () => {
    // m2's live data is 95 MiB of a 100 MiB quota: a defrag cannot take it below 90%.
    const cluster = new FakeCluster(
      [{ name: "m1" }, { name: "m2", dbSizeInUse: 95 * MiB, quotaBytes: 100 * MiB }, { name: "m3" }],
      { leader: "m1" },
    );
    cluster.raiseAlarm("NOSPACE", "m2");

    const error = await interrupted(run(cluster));

    assert.match(error.message, /stopped at disarm/);
    assert.deepEqual(cluster.alarms, [{ type: "NOSPACE", memberId: cluster.member("m2").id }]);
    assert.ok(!cluster.events.some((e) => e.startsWith("disarm")), cluster.events.join(", "));
    assert.deepEqual(error.done.record.alarmsDisarmed, []);
    assert.equal(cluster.events.at(-1), "unlock");
  });

  it("leaves NOSPACE raised when disarmNoSpace is false, even where disarming would be safe", async () => {
    const cluster = new FakeCluster(three, { leader: "m1" });
    cluster.raiseAlarm("NOSPACE", "m3");
    const lines: string[] = [];

    const record = await run(cluster, { disarmNoSpace: false }, lines);

    assert.equal(cluster.alarms.length, 1);
    assert.ok(!cluster.events.some((e) => e.startsWith("disarm")), cluster.events.join(", "));
    assert.deepEqual(record.alarmsDisarmed, []);
    assert.ok(
      lines.some((line) => /NOSPACE left raised/.test(line)),
      lines.join("\n"),
    );
  });

  it("a run cut short by a member killed in its defrag records what it did, and the next run finishes only what is left", async () => {
    const cluster = new FakeCluster(three, { leader: "m1", revision: 500 });
    cluster.member("m3").dieInNextDefrag = true;

    const error = await interrupted(run(cluster));

    assert.match(error.message, /stopped at defrag m3/);
    const first = new Map(error.done.record.members.map((m) => [m.name, m.defragmented]));
    assert.deepEqual(Object.fromEntries(first), { m1: false, m2: true, m3: false });
    assert.equal(error.done.record.compactedRevision, 500);
    assert.equal(cluster.events.at(-1), "unlock");

    // The operator brings m3 back and runs again.
    cluster.member("m3").up = true;
    cluster.events.length = 0;
    const record = await run(cluster);

    assert.deepEqual(cluster.events.slice(0, 2), ["lock", "defrag m3"]);
    assert.match(cluster.events[2], /^move leader m1 -> /);
    assert.deepEqual(cluster.events.slice(3), ["defrag m1", "unlock"]);
    const m2 = record.members.find((m) => m.name === "m2")!;
    assert.equal(m2.defragmented, false);
    assert.equal(record.compactedRevision, 500);
  });
});
