import * as assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { fill } from "../../lab/fill";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { SupervisedCluster } from "../../lab/supervisor";
import { statusOf } from "../support/etcd";
import { liveQuota } from "../support/files";

const MiB = 1024 ** 2;
const NAMES = ["m1", "m2", "m3"];

/** When each member's process was replaced and when its DB file shrank, read from the supervisor and etcd. */
interface Timeline {
  readonly restarts: { readonly member: string; readonly at: number }[];
  readonly defrags: { readonly member: string; readonly at: number }[];
}

/**
 * Polls every member's pid (from the supervisor) and DB size (etcd's Status) every 100 ms into `timeline` until
 * `stop` is set: a new pid is a restart, a file below half its size at the start is a defrag.
 */
async function watch(cluster: SupervisedCluster, timeline: Timeline, stopped: () => boolean): Promise<void> {
  const urls = NAMES.map((name) => cluster.lab.member(name).clientUrl);
  const initial = await Promise.all(urls.map(async (url) => (await statusOf(url)).dbSize));
  const pids = NAMES.map((name) => cluster.pid(name));
  while (!stopped()) {
    const at = Date.now();
    for (const [i, member] of NAMES.entries()) {
      const pid = cluster.pid(member);
      if (pid !== undefined && pid !== pids[i]) {
        pids[i] = pid;
        timeline.restarts.push({ member, at });
      }
    }
    const sizes = await Promise.all(
      urls.map((url) =>
        statusOf(url).then(
          (s) => s.dbSize,
          () => undefined,
        ),
      ),
    );
    for (const [i, member] of NAMES.entries()) {
      const size = sizes[i];
      if (size !== undefined && size < initial[i] / 2 && !timeline.defrags.some((d) => d.member === member)) {
        timeline.defrags.push({ member, at });
      }
    }
    await sleep(100);
  }
}

describe("two stacks on one cluster, their pulumi up at the same moment (real CLI)", function () {
  this.timeout(600_000);
  let cluster: SupervisedCluster | undefined;
  const projects: PulumiProject[] = [];

  afterEach(async () => {
    for (const project of projects.splice(0)) project.remove();
    await cluster?.stop();
    cluster = undefined;
  });

  it("the cluster lock runs them one after the other: no member restarts while a defrag runs, and both finish", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", quotaBytes: 128 * MiB });
    const supervised = cluster;
    // 64 keys overwritten to 48 MiB: history that every defrag gives back (each file shrinks below half).
    await fill(supervised.endpoints, { targetBytes: 48 * MiB });
    const [quota, space] = await Promise.all([
      PulumiProject.create({
        name: "overlap-quota",
        program: `
          import * as pulumi from "@pulumi/pulumi";
          import { EtcdQuota, QuotaMemberArgs } from "pulumi-etcd-quota";
          const config = new pulumi.Config();
          const members = config.requireObject<QuotaMemberArgs[]>("members");
          // Paced, so that the rolling change holds the lock long enough for the other stack's up to reach it.
          new EtcdQuota("quota", { quota: "192MiB", members, lockTimeout: "5m", pauseBetweenMembers: "15s" });
        `,
      }),
      PulumiProject.create({
        name: "overlap-space",
        program: `
          import * as pulumi from "@pulumi/pulumi";
          import { EtcdCompaction } from "pulumi-etcd-quota";
          const endpoints = new pulumi.Config().requireObject<string[]>("endpoints");
          new EtcdCompaction("space", { endpoints, lockTimeout: "5m" });
        `,
      }),
    ]);
    projects.push(quota, space);
    await Promise.all([
      quota.initStack("quota", listConfig("members", supervised.quotaMembers())),
      space.initStack("space", listConfig("endpoints", supervised.endpoints)),
    ]);

    let done = false;
    const timeline: Timeline = { restarts: [], defrags: [] };
    const watching = watch(supervised, timeline, () => done);
    let runs: Awaited<ReturnType<PulumiProject["run"]>>[];
    try {
      const first = quota.run(["up", "--yes", "--stack", "quota"], { check: false });
      // The second stack's up starts once etcd shows the first restart: the rolling change holds the lock then, and
      // keeps it for its two paced members to come, so the other run reaches the lock while it is held. (The CLI's
      // output is no trigger: it may hold a dynamic provider's lines until the step ends.)
      while (timeline.restarts.length === 0 && !done) {
        if (await Promise.race([first.then(() => true), sleep(100).then(() => false)])) break;
      }
      const second = space.run(["up", "--yes", "--stack", "space"], { check: false });
      runs = await Promise.all([first, second]);
    } finally {
      done = true;
    }
    await watching;
    const { restarts, defrags } = timeline;
    for (const run of runs) assert.equal(run.code, 0, run.stdout + run.stderr);
    // Evidence that they did meet at the lock (the oracle is the timeline below, read from pids and etcd).
    assert.match(runs[1].stdout, /waiting for the cluster lock, held by EtcdQuota/);

    assert.deepEqual(restarts.map((r) => r.member).sort(), NAMES, "EtcdQuota restarted each member once");
    assert.deepEqual(defrags.map((d) => d.member).sort(), NAMES, "EtcdCompaction defragmented each member");
    const span = (events: readonly { at: number }[]) => [
      Math.min(...events.map((e) => e.at)),
      Math.max(...events.map((e) => e.at)),
    ];
    const [restartsFrom, restartsTo] = span(restarts);
    const [defragsFrom, defragsTo] = span(defrags);
    assert.ok(
      restartsTo < defragsFrom || defragsTo < restartsFrom,
      `never both at once: restarts ${JSON.stringify(restarts)}, defrags ${JSON.stringify(defrags)}`,
    );
    for (const name of NAMES) {
      assert.equal(await liveQuota(supervised.lab.member(name).clientUrl), 192 * MiB, `${name} runs 192 MiB`);
    }
  });
});
