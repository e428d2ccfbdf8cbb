import * as assert from "node:assert/strict";
import * as net from "net";
import { LabCluster } from "../lab/cluster";
import { fill, verifyFill } from "../lab/fill";
import { providerShim } from "../sdk/shim";
import { EngineStack, PartialFailure, ProviderCallError, ProviderHost, UNKNOWN } from "./support/engine";
import { DefragObserver } from "./support/defrag-observer";
import { alarmsOf, compactHistory, raiseCorrupt, statusOf, withClient } from "./support/etcd";
import { progressLines } from "./support/progress";

const MiB = 1024 ** 2;
const TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction";

describe("EtcdCompaction on real etcd, through the engine protocol", function () {
  this.timeout(240_000);

  let host: ProviderHost;
  const clusters: LabCluster[] = [];

  before(async () => {
    host = await ProviderHost.start();
  });
  after(async () => {
    await host?.stop();
  });
  afterEach(async () => {
    for (const cluster of clusters.splice(0)) await cluster.stop();
  });

  async function startCluster(members: number, quotaBytes?: number): Promise<LabCluster> {
    const cluster = await LabCluster.start({ members, quotaBytes });
    clusters.push(cluster);
    return cluster;
  }

  function newStack(): EngineStack {
    return new EngineStack(host, { provider: providerShim("compaction"), type: TYPE });
  }

  /** Progress lines the provider printed since `from`. */
  function progressSince(from: number): string[] {
    return progressLines(host.logs.slice(from), "EtcdCompaction");
  }

  it("runs the runbook on a 3-member cluster in NOSPACE: alarm gone, writes work, DBs shrink, no key lost", async () => {
    const cluster = await startCluster(3, 48 * MiB);
    const filled = await fill(cluster.endpoints, { untilNoSpace: true });
    assert.ok(filled.noSpace, "the fill ended in NOSPACE");
    assert.ok((await alarmsOf(cluster.endpoints)).some((a) => a.startsWith("NOSPACE")));
    const before = await Promise.all(cluster.endpoints.map(statusOf));

    const stack = newStack();
    const preview = await stack.preview("space", { endpoints: cluster.endpoints });
    assert.equal(preview.op, "create");
    const logStart = host.logs.length;
    const { outputs } = await stack.up("space", { endpoints: cluster.endpoints });
    assert.ok(outputs);

    assert.deepEqual(await alarmsOf(cluster.endpoints), [], "no alarm is left");
    await withClient(cluster.endpoints, (client) => client.put("after-maintenance").value("ok").exec());
    for (const [i, endpoint] of cluster.endpoints.entries()) {
      const after = await statusOf(endpoint);
      assert.ok(after.dbSize < before[i].dbSize / 4, `${endpoint} shrank from ${before[i].dbSize} to ${after.dbSize}`);
      assert.ok(after.dbSize - after.dbSizeInUse < 2 * MiB, `${endpoint} is near its in-use size after defrag`);
    }
    assert.deepEqual(await verifyFill(cluster.endpoints, filled.lastValues), [], "every key keeps its last value");

    const members = outputs.members as { defragmented: boolean; dbSizeBefore: number; dbSizeAfter: number }[];
    assert.equal(members.length, 3);
    assert.ok(members.every((m) => m.defragmented && m.dbSizeAfter < m.dbSizeBefore));
    assert.ok((outputs.alarmsDisarmed as string[]).length >= 1);
    assert.ok((outputs.reclaimedBytes as number) > 3 * 30 * MiB);
    assert.equal(outputs.maintenance, "up-to-date");
    const progress = progressSince(logStart);
    assert.ok(progress.some((line) => /compact: to revision \d+/.test(line)));
    assert.ok(progress.some((line) => /disarm: NOSPACE lifted/.test(line)));
  });

  it("keeps exactly the newest retainRevisions revisions readable", async () => {
    const cluster = await startCluster(1);
    const revisions: number[] = [];
    await withClient(cluster.endpoints, async (client) => {
      for (let i = 0; i < 20; i++) {
        const response = await client.put("history").value(`v${i}`).exec();
        revisions.push(Number(response.header.revision));
      }
    });
    await newStack().up("space", { endpoints: cluster.endpoints, retainRevisions: 5 });
    await withClient(cluster.endpoints, async (client) => {
      const newest = revisions.slice(-5);
      for (const [i, revision] of newest.entries()) {
        assert.equal(await client.get("history").revision(revision).string(), `v${15 + i}`);
      }
      await assert.rejects(client.get("history").revision(revisions[14]).string(), /compacted/);
    });
  });

  it("defragments followers first and the leader last, after handing leadership away; thresholds skip lean members", async () => {
    const cluster = await startCluster(3);
    await fill(cluster.endpoints, { targetBytes: 24 * MiB });
    const leaderBefore = await cluster.leader();
    assert.ok(leaderBefore);
    const stack = newStack();
    const logStart = host.logs.length;
    const observer = DefragObserver.start(cluster.members);
    const { outputs } = await stack.up("space", {
      endpoints: cluster.endpoints,
      defrag: { minFreeBytes: "4MiB" },
      moveLeader: true,
      // Paced apart, so that the observer's looks (every 100 ms) tell the defrags' order.
      pauseBetweenMembers: "1s",
    });
    const seen = await observer.stop();

    // Read from etcd by the test itself: the files shrank followers first, by name, then the leader's, after
    // leadership had left it.
    const followers = cluster.members.map((m) => m.name).filter((name) => name !== leaderBefore);
    assert.deepEqual(seen.shrinkOrder, [...followers.sort(), leaderBefore], `order etcd showed (${seen.looks} looks)`);
    const leaderThen = seen.leaderAtShrink.get(leaderBefore);
    assert.ok(leaderThen !== undefined && leaderThen !== leaderBefore, `${leaderBefore} no longer led (${leaderThen})`);
    const progress = progressSince(logStart);
    const defragLines = progress.filter((line) => /defrag m\d: .* -> /.test(line));
    assert.equal(defragLines.length, 3, progress.join("\n"));
    assert.match(defragLines[2], new RegExp(`defrag ${leaderBefore}: `), "the leader is defragmented last");
    const moved = progress.findIndex((line) => line.includes(`move leader: ${leaderBefore} -> `));
    const leaderDefrag = progress.indexOf(defragLines[2]);
    assert.ok(moved >= 0 && moved < leaderDefrag, "leadership moved away before the leader's defrag");
    const record = (outputs!.members as { name: string; leader: boolean }[]).find((m) => m.name === leaderBefore);
    assert.equal(record?.leader, false, "the former leader no longer leads");

    // Now every member is lean: a second run compacts but skips every defrag, and says why.
    const second = host.logs.length;
    await stack.up("space", {
      endpoints: cluster.endpoints,
      defrag: { minFreeBytes: "4MiB" },
      moveLeader: true,
      triggers: [1],
    });
    const skips = progressSince(second).filter((line) => /defrag m\d: skipped, .*below the thresholds/.test(line));
    assert.equal(skips.length, 3, progressSince(second).join("\n"));
  });

  it("shows no drift on a healthy cluster, shows drift once NOSPACE is raised, and an update clears it", async () => {
    const cluster = await startCluster(3, 40 * MiB);
    const stack = newStack();
    const inputs = { endpoints: cluster.endpoints };
    await stack.up("space", inputs);
    await stack.refresh("space");
    assert.equal((await stack.preview("space", inputs)).op, "same");

    await fill(cluster.endpoints, { untilNoSpace: true });
    const drift = await stack.previewRefresh("space", inputs);
    assert.equal(drift.op, "update");
    assert.ok(drift.diffs.includes("maintenance"), `diffs: ${drift.diffs.join(", ")}`);
    const refreshed = await stack.refresh("space");
    assert.match(String(refreshed.outputs?.maintenance), /^needed: NOSPACE alarm on m\d/);
    assert.ok((refreshed.outputs?.plan as string[]).some((step) => step.startsWith("defragment ")));

    const update = await stack.up("space", inputs);
    assert.equal(update.op, "update");
    assert.deepEqual(await alarmsOf(cluster.endpoints), []);
    await stack.refresh("space");
    assert.equal((await stack.preview("space", inputs)).op, "same", "a second preview after the update is clean");
  });

  it("disarmBelow: NOSPACE stays while a member is above that share after the defrags, and the run says to raise the quota", async () => {
    const cluster = await startCluster(3, 40 * MiB);
    await fill(cluster.endpoints, { untilNoSpace: true });
    const stack = newStack();

    await assert.rejects(stack.up("space", { endpoints: cluster.endpoints, disarmBelow: 0.001 }), (error: Error) => {
      assert.ok(error instanceof PartialFailure, String(error));
      assert.match(error.message, /NOSPACE not disarmed: still at or above 0\.1% of the quota after maintenance/);
      assert.match(error.message, /raise the quota/);
      return true;
    });
    assert.ok(
      (await alarmsOf(cluster.endpoints)).some((a) => a.startsWith("NOSPACE")),
      "NOSPACE is still raised",
    );

    await stack.up("space", { endpoints: cluster.endpoints, disarmBelow: 0.9 });
    assert.deepEqual(await alarmsOf(cluster.endpoints), [], "below 90% after the defrags, the next run disarms it");
  });

  it("pauseBetweenMembers waits that long after each member's defrag before the next member's", async () => {
    const cluster = await startCluster(3);
    await fill(cluster.endpoints, { targetBytes: 24 * MiB });
    const stack = newStack();
    const logStart = host.logs.length;
    const started = Date.now();
    await stack.up("space", {
      endpoints: cluster.endpoints,
      defrag: { minFreeBytes: "4MiB" },
      pauseBetweenMembers: "2s",
    });
    const elapsed = Date.now() - started;

    const lines = progressSince(logStart).filter((line) => /defrag m\d: .* -> |pause: /.test(line));
    const shape = lines.map((line) => (line.includes("pause: ") ? "pause" : "defrag"));
    assert.deepEqual(shape, ["defrag", "pause", "defrag", "pause", "defrag"], lines.join("\n"));
    assert.match(lines[1], /pause: 2\.0s after m\d before m\d \(pauseBetweenMembers\)/);
    assert.ok(elapsed >= 4_000, `two pauses of 2 s: the run took ${elapsed} ms`);
  });

  it("callTimeout bounds each call: a member that accepts connections but never answers is given up after it", async () => {
    const cluster = await startCluster(1);
    const stack = newStack();
    const inputs = { endpoints: cluster.endpoints, callTimeout: "2s" };
    await stack.up("space", inputs);
    const { port } = new URL(cluster.endpoints[0]);
    await cluster.stop();
    // The member's port now accepts connections and never answers, as a member stuck on its database lock does.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(Number(port), "127.0.0.1", resolve));
    try {
      const started = Date.now();
      const refreshed = await stack.refresh("space");
      const elapsed = Date.now() - started;
      assert.match(
        String(refreshed.outputs?.maintenance),
        /no member answered \(.*: status: no answer within 2\.0s \(callTimeout\)/,
      );
      assert.ok(elapsed < 8_000, `given up after callTimeout, not the 10 s default (${elapsed} ms)`);
    } finally {
      silent.close();
    }
  });

  it("forecasts NOSPACE from refreshes of a cluster filled at a steady rate, and when.fullWithin counts it as drift", async () => {
    const quotaBytes = 96 * MiB;
    const cluster = await startCluster(3, quotaBytes);
    const stack = newStack();
    const inputs = { endpoints: cluster.endpoints, when: { fullWithin: "1h" } };
    await stack.up("space", inputs);
    const largest = async () => Math.max(...(await Promise.all(cluster.endpoints.map(statusOf))).map((s) => s.dbSize));
    // The run's own reading starts the series; each refresh adds one.
    const seen = [await largest()];
    let outputs: Record<string, unknown> | undefined;
    for (const target of [16, 24, 32, 40]) {
      // About 9 s apart: the samples span the 30 s a forecast needs.
      if (target > 16) await new Promise((resolve) => setTimeout(resolve, 9_000));
      await fill(cluster.endpoints, { targetBytes: target * MiB, keyPrefix: `grow/${target}/` });
      // Every member's backend commits within its 100 ms batch interval; then the sizes hold still.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      outputs = (await stack.refresh("space")).outputs;
      seen.push(await largest());
    }
    console.log(`      forecast after 4 refreshes: ${String(outputs!.forecast)}`);

    const samples = outputs!.sizeSamples as { dbSize: number; quotaBytes: number }[];
    assert.deepEqual(
      samples.map((s) => [s.dbSize, s.quotaBytes]),
      seen.map((size) => [size, quotaBytes]),
      "each refresh's reading is the largest file the test saw, against the quota the cluster runs",
    );
    // Growing ~8 MiB per ~10 s, the quota is about a minute away: well within the hour `fullWithin` names.
    assert.match(
      String(outputs!.forecast),
      /^full in (\d+\.\ds|\dm\d\ds) at [\d.]+ (MiB|GiB)\/day: [\d.]+ MiB of 96 MiB \(from 5 samples over/,
    );
    assert.match(String(outputs!.maintenance), /^needed: the quota is reached within 1h00m: full in /);
    assert.equal((await stack.preview("space", inputs)).op, "update", "the drift makes the next up run maintenance");

    const update = await stack.up("space", inputs);
    assert.equal((update.outputs!.sizeSamples as unknown[]).length, 1, "the run starts the series again");
    assert.match(String(update.outputs!.forecast), /^not enough samples yet: 1 over 0\.0s/);
  });

  it("skips a learner: it is listed, not defragmented, not asked to lead, and its file keeps its size", async () => {
    const cluster = await startCluster(3);
    const voters = cluster.endpoints.slice(0, 3);
    const learner = await cluster.addLearner();
    // A learner refuses writes ("rpc not supported for learner"): the test writes through the voting members.
    await fill(voters, { targetBytes: 24 * MiB });
    const learnerBefore = await statusOf(learner.clientUrl);
    assert.equal(learnerBefore.isLearner, true, "etcd reports m4 as a learner");
    const stack = newStack();

    const { outputs } = await stack.up("space", { endpoints: cluster.endpoints, defrag: { minFreeBytes: "1MiB" } });

    const executed = outputs!.executed as string[];
    assert.ok(
      executed.some((step) => step.startsWith("defragment ")),
      executed.join("\n"),
    );
    assert.ok(
      !executed.some((step) => step.includes(learner.name)),
      `no step names ${learner.name}:\n${executed.join("\n")}`,
    );
    const record = (
      outputs!.members as { name: string; learner: boolean; defragmented: boolean; reason: string }[]
    ).find((m) => m.name === learner.name);
    assert.deepEqual(record && { learner: record.learner, defragmented: record.defragmented }, {
      learner: true,
      defragmented: false,
    });
    assert.match(record!.reason, /a learner/);
    const learnerAfter = await statusOf(learner.clientUrl);
    assert.ok(learnerAfter.dbSize >= learnerBefore.dbSize, `${learner.name}'s file was not defragmented`);
    const after = await Promise.all(voters.map(statusOf));
    assert.ok(
      after.every((v) => v.dbSize < learnerAfter.dbSize / 2),
      "the voting members were",
    );
  });

  it("counts when.quotaUsageAbove and when.freeBytesAbove as drift, naming the members the test finds over each", async () => {
    const quotaBytes = 64 * MiB;
    const cluster = await startCluster(3, quotaBytes);
    const stack = newStack();
    const inputs = { endpoints: cluster.endpoints, when: { quotaUsageAbove: 0.5, freeBytesAbove: "8MiB" } };
    await stack.up("space", inputs);
    assert.equal((await stack.refresh("space")).outputs?.maintenance, "up-to-date");

    // Over half the quota with history kept, then that history compacted away: free pages inside every file.
    await fill(cluster.endpoints, { targetBytes: 40 * MiB });
    await compactHistory(cluster.endpoints);
    const names = new Map(cluster.members.map((m) => [m.clientUrl, m.name]));
    const statuses = await Promise.all(cluster.endpoints.map(statusOf));
    const over = statuses.filter((s) => s.dbSize / quotaBytes > 0.5).map((s) => names.get(s.endpoint)!);
    const free = statuses.filter((s) => s.dbSize - s.dbSizeInUse > 8 * MiB).map((s) => names.get(s.endpoint)!);
    assert.ok(over.length > 0 && free.length > 0, "the test made both conditions hold");

    const maintenance = String((await stack.refresh("space")).outputs?.maintenance);
    const named = (pattern: RegExp) => [...maintenance.matchAll(pattern)].map((m) => m[1]).sort();
    assert.deepEqual(named(/(m\d) DB [\d.]+ MiB is \d+% of its quota 64 MiB/g), over.sort(), maintenance);
    assert.deepEqual(named(/(m\d) has [\d.]+ MiB reclaimable/g), free.sort(), maintenance);
    assert.equal((await stack.preview("space", inputs)).op, "update", "the drift makes the next up run maintenance");
  });

  it("stops at a CORRUPT alarm, says so, and never disarms it", async () => {
    const cluster = await startCluster(3);
    await raiseCorrupt(cluster.endpoints[1]);
    const stack = newStack();
    await assert.rejects(stack.up("space", { endpoints: cluster.endpoints }), (error: unknown) => {
      assert.ok(error instanceof ProviderCallError, String(error));
      assert.match(error.message, /refusing to start maintenance: alarm CORRUPT is raised on member m2/);
      return true;
    });
    assert.equal(stack.state("space"), undefined, "nothing was recorded");
    assert.deepEqual(
      (await alarmsOf(cluster.endpoints)).map((a) => a.split("@")[0]),
      ["CORRUPT"],
    );
  });

  it("reports a member lost part way as a partial failure, and the next up resumes", async () => {
    const cluster = await startCluster(3, 40 * MiB);
    const filled = await fill(cluster.endpoints, { untilNoSpace: true });
    const leader = await cluster.leader();
    const victim = cluster.members.find((m) => m.name !== leader)!.name;
    const stack = newStack();
    const inputs = { endpoints: cluster.endpoints };

    // Stop a follower as soon as the compaction is done, before the defrags start.
    const logStart = host.logs.length;
    const stopper = (async () => {
      for (
        let i = 0;
        i < 600 && !progressSince(logStart).some((l) => l.startsWith("EtcdCompaction: compact: done"));
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await cluster.stopMember(victim, "SIGKILL");
    })();
    await assert.rejects(stack.up("space", inputs), (error: unknown) => {
      assert.ok(error instanceof PartialFailure, String(error));
      assert.match(error.message, new RegExp(`did not answer|${victim}`));
      return true;
    });
    await stopper;
    const partial = stack.state("space");
    assert.ok(partial, "the partial state was recorded");
    assert.match(String(partial.outputs.maintenance), /^needed: the last run stopped part way/);
    assert.equal(typeof partial.outputs.compactedRevision, "number");

    await cluster.startMember(victim);
    const resumed = await stack.up("space", inputs);
    assert.equal(resumed.op, "update");
    assert.deepEqual(await alarmsOf(cluster.endpoints), []);
    assert.deepEqual(await verifyFill(cluster.endpoints, filled.lastValues), []);
  });

  it("rejects bad input at check time with a message naming the field", async () => {
    const stack = newStack();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ endpoints: [] }, "endpoints", /non-empty list/],
      [{ endpoints: ["127.0.0.1:2379"] }, "endpoints", /endpoints\[0\]/],
      [{ endpoints: ["http://127.0.0.1:2379/v3"] }, "endpoints", /path or query/],
      [{ endpoints: ["http://u:p@127.0.0.1:2379"] }, "endpoints", /credentials/],
      [{ endpoints: ["http://127.0.0.1:2379"], retainRevisions: -1 }, "retainRevisions", /0 or more/],
      [{ endpoints: ["http://127.0.0.1:2379"], defrag: { minFragmentation: 1.5 } }, "defrag", /between 0 and 1/],
      [{ endpoints: ["http://127.0.0.1:2379"], defrag: { minFreeBytes: "lots" } }, "defrag", /defrag\.minFreeBytes/],
      [{ endpoints: ["http://127.0.0.1:2379"], when: { quotaUsageAbove: 80 } }, "when", /between 0 and 1/],
      [{ endpoints: ["https://127.0.0.1:2379"], tls: { ca: "/etc/etcd/ca.pem" } }, "tls", /tls\.ca: expected PEM/],
      [{ endpoints: ["http://127.0.0.1:2379"], username: "root" }, "password", /go together/],
      [
        { endpoints: ["http://127.0.0.1:2379"], disarmBelow: 0 },
        "disarmBelow",
        /would never disarm; use disarmNoSpace/,
      ],
      [{ endpoints: ["http://127.0.0.1:2379"], disarmBelow: 90 }, "disarmBelow", /between 0 and 1/],
      [{ endpoints: ["http://127.0.0.1:2379"], pauseBetweenMembers: "soon" }, "pauseBetweenMembers", /duration/],
      [{ endpoints: ["http://127.0.0.1:2379"], callTimeout: "500ms" }, "callTimeout", /1s to 10m/],
      [{ endpoints: ["http://127.0.0.1:2379"], snapshot: { path: "b/{time}.db" } }, "snapshot", /absolute path/],
    ];
    for (const [inputs, property, reason] of cases) {
      const preview = await stack.preview("bad", inputs);
      assert.equal(preview.op, "failed", JSON.stringify(inputs));
      assert.match(
        preview.failures[0]?.reason ?? "",
        new RegExp(`^${property}[.[:]`),
        JSON.stringify(preview.failures),
      );
      assert.match(preview.failures[0].reason, reason);
    }
  });

  it("leaves values not known until apply to the next check", async () => {
    const preview = await newStack().preview("later", { endpoints: UNKNOWN, retainRevisions: 3 });
    assert.deepEqual(preview.failures, []);
    assert.equal(preview.op, "create");
  });
});
