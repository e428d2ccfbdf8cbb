import * as assert from "node:assert/strict";
import { LabCluster } from "../../lab/cluster";
import { EngineStack, ProviderHost } from "../support/engine";
import { fill } from "../../lab/fill";
import { providerShim } from "../../sdk/shim";
import { alarmsOf, compactHistory, fillToNoSpace } from "../support/etcd";
import { DefragObserver } from "../support/defrag-observer";

const MiB = 1024 ** 2;
const TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction";

/**
 * The part of a printed step that a plan and a run must agree on: the action and the members it names, without the
 * sizes and reasons, which the run measures again when it gets there.
 */
function stepKey(line: string): string {
  const match =
    /^(compact|defragment [^\s:]+|skip defragmenting [^\s:]+|move leadership from \S+ to \S+|disarm NOSPACE on \S+)/.exec(
      line,
    );
  assert.ok(match, `a step the test knows: ${line}`);
  return match[1].replace(/^compact.*/, "compact");
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
    prepare: async () => undefined,
    expected: (leader, followers) => [
      "compact",
      ...followers.map((m) => `skip defragmenting ${m}`),
      `skip defragmenting ${leader}`,
    ],
  },
  {
    name: "fragmented files: followers by name, leadership moved, the leader last",
    inputs: {},
    prepare: fragment,
    expected: (leader, followers) => [
      "compact",
      ...followers.map((m) => `defragment ${m}`),
      `move leadership from ${leader} to ANY`,
      `defragment ${leader}`,
    ],
  },
  {
    name: "fragmented files with moveLeader: false: no leadership move",
    inputs: { moveLeader: false },
    prepare: fragment,
    expected: (leader, followers) => ["compact", ...followers.map((m) => `defragment ${m}`), `defragment ${leader}`],
  },
  {
    name: "fragmented files with defrag: false: every defrag skipped",
    inputs: { defrag: false },
    prepare: fragment,
    expected: (leader, followers) => [
      "compact",
      ...followers.map((m) => `skip defragmenting ${m}`),
      `skip defragmenting ${leader}`,
    ],
  },
  {
    name: "NOSPACE with disarmNoSpace: false: every member defragmented, no disarm",
    quotaBytes: 40 * MiB,
    inputs: { disarmNoSpace: false },
    prepare: (cluster) => fillToNoSpace(cluster.endpoints),
    expected: (leader, followers) => [
      "compact",
      ...followers.map((m) => `defragment ${m}`),
      `move leadership from ${leader} to ANY`,
      `defragment ${leader}`,
    ],
  },
  {
    name: "NOSPACE: every member defragmented, then NOSPACE disarmed",
    quotaBytes: 40 * MiB,
    inputs: {},
    prepare: (cluster) => fillToNoSpace(cluster.endpoints),
    expected: (leader, followers, alarms) => [
      "compact",
      ...followers.map((m) => `defragment ${m}`),
      `move leadership from ${leader} to ANY`,
      `defragment ${leader}`,
      ...Array<string>(alarms).fill("disarm NOSPACE on ANY"),
    ],
  },
];

describe("EtcdCompaction: the run carries out the plan a refresh printed (real etcd, 3 members)", function () {
  this.timeout(240_000);
  let host: ProviderHost;
  let cluster: LabCluster | undefined;

  before(async () => {
    host = await ProviderHost.start();
  });
  after(async () => {
    await host?.stop();
  });
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  for (const state of STATES) {
    it(state.name, async () => {
      cluster = await LabCluster.start({ members: 3, quotaBytes: state.quotaBytes });
      const stack = new EngineStack(host, { provider: providerShim("compaction"), type: TYPE });
      // Defrags paced apart, so that the observer's looks (every 100 ms) tell their order.
      const inputs = { endpoints: cluster.endpoints, pauseBetweenMembers: "1s", ...state.inputs };
      await stack.up("space", inputs);
      await state.prepare(cluster);

      const plan = (await stack.refresh("space")).outputs!.plan as string[];
      const leader = await cluster.leader();
      assert.ok(leader, "the cluster has a leader");
      const followers = cluster.members.map((m) => m.name).filter((name) => name !== leader);
      const alarms = (await alarmsOf(cluster.endpoints)).filter((alarm) => alarm.startsWith("NOSPACE")).length;
      const observer = DefragObserver.start(cluster.members);
      const update = await stack.up("space", { ...inputs, triggers: [state.name] });
      const seen = await observer.stop();
      assert.equal(update.op, "update");
      const executed = update.outputs!.executed as string[];

      // The expectation comes from how the test set the cluster up and which leader etcd named, not from the
      // provider; "ANY" stands for the follower etcd's most up-to-date rule picks and the member an alarm names.
      const expected = state.expected(leader, followers.sort(), alarms);
      const matches = (keys: string[]) =>
        keys.length === expected.length &&
        keys.every((key, i) => new RegExp(`^${expected[i].replace("ANY", "m\\d")}$`).test(key));
      assert.ok(matches(plan.map(stepKey)), `the plan printed:\n${plan.join("\n")}\nexpected:\n${expected.join("\n")}`);
      assert.deepEqual(executed.map(stepKey), plan.map(stepKey), `executed:\n${executed.join("\n")}`);

      // What etcd shows happened, against the same expectation: the members whose defrag count rose, in order, and
      // who led before each and after the run.
      const defragmented = expected.flatMap((step) => /^defragment (m\d)$/.exec(step)?.[1] ?? []);
      assert.deepEqual(seen.defragOrder, defragmented, `defrags etcd counted (${seen.looks} looks)`);
      const leaderAfter = await cluster.leader();
      if (expected.some((step) => step.startsWith("move leadership"))) {
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
        const alarms = await alarmsOf(cluster.endpoints);
        assert.equal(
          alarms.length === 0,
          expected.some((step) => step.startsWith("disarm")),
          alarms.join(", "),
        );
      }
    });
  }
});
