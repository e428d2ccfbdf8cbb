import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { LabCluster } from "../../lab/cluster";
import { fill } from "../../lab/fill";
import { SupervisedCluster } from "../../lab/supervisor";
import { runCompaction } from "../../provider/run/compaction";
import { ClusterSession } from "../../provider/etcd/cluster";
import { compactionSettings } from "../../provider/inputs/compaction";
import { quotaSettings } from "../../provider/inputs/quota";
import type { CompactionStep } from "../../provider/plan/compaction";
import { compactionPlan, stepsOf } from "../../provider/plan/compaction";
import { planQuota } from "../../provider/plan/quota";
import { HostPool, observeQuota, runQuotaChange } from "../../provider/run/quota";
import { alarmsOf, compactHistory, fillToNoSpace, withClient } from "../support/etcd";
import { DefragObserver } from "../support/defrag-observer";
import { liveQuota } from "../support/files";
import { RollingObserver } from "../support/rolling-observer";

const MiB = 1024 ** 2;

/**
 * The part of a step that a plan and a run must agree on: the action and the member it names. Sizes, reasons and
 * the follower a leadership move picks are measured again when the run gets there.
 */
function stepKey(step: CompactionStep): string {
  return "member" in step ? `${step.action} ${step.member}` : step.action;
}

interface State {
  readonly name: string;
  readonly quotaBytes?: number;
  readonly inputs: Record<string, unknown>;
  /** Brings the cluster into the state, after the resource was created on the lean cluster. */
  readonly prepare: (cluster: LabCluster) => Promise<void>;
  /**
   * What the test expects, from how it set the cluster up: `leader` is the leader the test read from etcd, `alarms`
   * the number of NOSPACE alarms it read.
   */
  readonly expected: (leader: string, followers: readonly string[], alarms: number) => string[];
}

/** Writes 24 MiB of values, overwrites them, and compacts the history away: fragmented files, little left to compact. */
async function fragment(cluster: LabCluster): Promise<void> {
  await fill(cluster.endpoints, { targetBytes: 24 * MiB });
  await compactHistory(cluster.endpoints);
}

const STATES: State[] = [
  {
    name: "a lean cluster: compact, every defrag skipped",
    inputs: { defrag: { minFreeBytes: "1MiB" } },
    // A few small writes: a history to compact, nothing worth a defrag.
    prepare: (cluster) =>
      withClient(cluster.endpoints, async (client) => {
        for (let i = 0; i < 5; i++) await client.put(`lean-${i}`).value("v");
      }),
    expected: (leader, followers) => ["compact", ...followers.map((m) => `skip-defrag ${m}`), `skip-defrag ${leader}`],
  },
  {
    name: "fragmented files: followers by name, leadership moved, the leader last",
    inputs: {},
    prepare: fragment,
    expected: (leader, followers) => [
      "compact",
      ...followers.map((m) => `defrag ${m}`),
      `move-leader ${leader}`,
      `defrag ${leader}`,
    ],
  },
  {
    name: "fragmented files with moveLeader: false: no leadership move",
    inputs: { moveLeader: false },
    prepare: fragment,
    expected: (leader, followers) => ["compact", ...followers.map((m) => `defrag ${m}`), `defrag ${leader}`],
  },
  {
    name: "fragmented files with defrag: false: every defrag skipped",
    inputs: { defrag: false },
    prepare: fragment,
    expected: (leader, followers) => ["compact", ...followers.map((m) => `skip-defrag ${m}`), `skip-defrag ${leader}`],
  },
  {
    name: "NOSPACE with disarmNoSpace: false: every member defragmented, no disarm",
    quotaBytes: 40 * MiB,
    inputs: { disarmNoSpace: false },
    prepare: (cluster) => fillToNoSpace(cluster.endpoints),
    expected: (leader, followers) => [
      "compact",
      ...followers.map((m) => `defrag ${m}`),
      `move-leader ${leader}`,
      `defrag ${leader}`,
    ],
  },
  {
    name: "NOSPACE: every member defragmented, then NOSPACE disarmed",
    quotaBytes: 40 * MiB,
    inputs: {},
    prepare: (cluster) => fillToNoSpace(cluster.endpoints),
    expected: (leader, followers, alarms) => [
      "compact",
      ...followers.map((m) => `defrag ${m}`),
      `move-leader ${leader}`,
      `defrag ${leader}`,
      ...Array<string>(alarms).fill("disarm ANY"),
    ],
  },
];

describe("EtcdCompaction: the run walks the plan a preview prints (real etcd, 3 members)", function () {
  this.timeout(240_000);
  let cluster: LabCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  for (const state of STATES) {
    it(state.name, async () => {
      cluster = await LabCluster.start({ members: 3, quotaBytes: state.quotaBytes });
      await state.prepare(cluster);
      // Defrags paced apart, so that the observer's looks (every 100 ms) tell their order.
      const settings = compactionSettings({ endpoints: cluster.endpoints, pauseBetweenMembers: "1s", ...state.inputs });
      const leader = await cluster.leader();
      assert.ok(leader, "the cluster has a leader");
      const followers = cluster.members.map((m) => m.name).filter((name) => name !== leader);
      const alarms = (await alarmsOf(cluster.endpoints)).filter((alarm) => alarm.startsWith("NOSPACE")).length;

      const session = new ClusterSession(settings.access, { callTimeoutMs: settings.callTimeoutMs });
      const observer = DefragObserver.start(cluster.members);
      let walked;
      try {
        // The plan a preview prints (a refresh's `plan`, `etcd-quota status`) is made by compactionPlan from one look.
        const plan = compactionPlan(await session.observe(), settings);
        const planned = stepsOf(plan.stages);
        ({ walked } = await runCompaction(session, settings, () => undefined, {}, plan));

        // The expectation comes from how the test set the cluster up and which leader etcd named, not from the
        // provider; "ANY" stands for the member an alarm names.
        const expected = state.expected(leader, followers.sort(), alarms);
        const matches = (keys: string[]) =>
          keys.length === expected.length &&
          keys.every((key, i) => new RegExp(`^${expected[i].replace("ANY", "m\\d")}$`).test(key));
        assert.ok(matches(planned.map(stepKey)), `planned: ${planned.map(stepKey).join(", ")}`);
        assert.deepEqual(
          walked.map((w) => [stepKey(w.step), w.outcome]),
          planned.map((step) => [stepKey(step), "done"]),
        );
        // Steps marked in the plan are the ones the run decided again; none it walked carries the mark.
        const marked = planned.filter((step) => step.decidedLater !== undefined).map(stepKey);
        const redecided = planned.filter((step) => step.action !== "compact").map(stepKey);
        assert.deepEqual(marked, redecided);
        assert.ok(walked.every((w) => w.step.decidedLater === undefined));
      } finally {
        session.close();
      }
      const seen = await observer.stop();

      // What etcd shows happened, against the walked steps: the members whose defrag count rose, in order, and who
      // led before each and after the run.
      const defragmented = walked.flatMap((w) => (w.step.action === "defrag" ? [w.step.member] : []));
      assert.deepEqual(seen.defragOrder, defragmented, `defrags etcd counted (${seen.looks} looks)`);
      const leaderAfter = await cluster.leader();
      if (walked.some((w) => w.step.action === "move-leader")) {
        const atLeaderDefrag = seen.leaderAtDefrag[seen.defragOrder.indexOf(leader)];
        assert.ok(
          atLeaderDefrag !== undefined && atLeaderDefrag !== leader,
          `${leader} no longer led at its defrag (${atLeaderDefrag})`,
        );
        assert.notEqual(leaderAfter, leader, "leadership stayed away from the old leader");
      } else {
        assert.equal(leaderAfter, leader, "no leadership move");
      }
      if (state.quotaBytes !== undefined) {
        const left = await alarmsOf(cluster.endpoints);
        assert.equal(
          left.length === 0,
          walked.some((w) => w.step.action === "disarm"),
          left.join(", "),
        );
      }
    });
  }
});

describe("EtcdQuota: the run walks the plan a preview prints (real etcd, 3 members)", function () {
  this.timeout(240_000);
  let cluster: SupervisedCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it("raises the quota member by member in the plan's order, the leader last, each step done", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes: 64 * MiB });
    const settings = quotaSettings({ quota: "96MiB", members: cluster.quotaMembers(), restartTimeout: "60s" });
    const leader = await cluster.leader();
    assert.ok(leader, "the cluster has a leader");
    const followers = cluster.lab.members.map((m) => m.name).filter((name) => name !== leader);
    const session = new ClusterSession(settings.access, { callTimeoutMs: settings.callTimeoutMs });
    const hosts = new HostPool();
    const observer = RollingObserver.start(cluster);
    let walked;
    try {
      // What `check` shows in a preview: planQuota over a look at the cluster and every member's file.
      const observation = await observeQuota(session, hosts, settings);
      const plan = planQuota(observation.cluster, observation.facts, settings);
      assert.deepEqual(
        plan.steps.map((s) => [s.member, s.action, s.moveLeader]),
        [...followers.sort().map((m) => [m, "write-and-restart", false]), [leader, "write-and-restart", true]],
      );
      ({ walked } = await runQuotaChange(session, hosts, settings, () => undefined));
      assert.deepEqual(
        walked.map((w) => [w.step.member, w.step.action, w.step.moveLeader, w.outcome]),
        plan.steps.map((s) => [s.member, s.action, s.moveLeader, "done"]),
      );
    } finally {
      session.close();
      await hosts.close();
    }
    const seen = await observer.stop();

    // What the processes and files show happened: restarts in the walked order, the leader moved off before its
    // own, and every member's file and running quota at 96 MiB.
    assert.deepEqual(
      seen.restartOrder,
      walked.map((w) => w.step.member),
    );
    const atItsRestart = seen.leaderBeforeRestart.get(leader);
    assert.ok(atItsRestart !== undefined && atItsRestart !== leader, `${leader} no longer led at its restart`);
    for (const member of cluster.lab.members) {
      assert.match(fs.readFileSync(cluster.configFile(member.name), "utf8"), /quota-backend-bytes[= ]100663296/);
      assert.equal(await liveQuota(member.clientUrl), 96 * MiB, member.name);
    }
  });
});
