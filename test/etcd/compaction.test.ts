import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { LabCluster } from "../../lab/cluster";
import { fill, verifyFill } from "../../lab/fill";
import { providerShim } from "../../sdk/shim";
import { EngineStack, PartialFailure, ProviderCallError, ProviderHost, UNKNOWN } from "../support/engine";
import { DefragObserver, defragCountOf } from "../support/defrag-observer";
import {
  alarmsOf,
  compactHistory,
  leaseOf,
  leasesOf,
  metricOf,
  raiseCorrupt,
  settledSizes,
  statusOf,
  withClient,
} from "../support/etcd";
import { LOCK_LEASE_ID } from "../../provider/etcd/lock";
import { progressLines } from "../support/progress";

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
    // leadership had left it; etcd counted one defrag per member, in that order.
    const followers = cluster.members.map((m) => m.name).filter((name) => name !== leaderBefore);
    const order = [...followers.sort(), leaderBefore];
    assert.deepEqual(seen.shrinkOrder, order, `order etcd showed (${seen.looks} looks)`);
    assert.deepEqual(seen.defragOrder, order, `defrags etcd counted (${seen.looks} looks)`);
    const leaderThen = seen.leaderAtDefrag[2];
    assert.ok(leaderThen !== undefined && leaderThen !== leaderBefore, `${leaderBefore} no longer led (${leaderThen})`);
    assert.notEqual(await cluster.leader(), leaderBefore, "the former leader no longer leads");
    const record = (outputs!.members as { name: string; leader: boolean }[]).find((m) => m.name === leaderBefore);
    assert.equal(record?.leader, false, "the record says the former leader no longer leads");

    // Now every member is lean: a second run compacts but skips every defrag, and says why.
    const second = host.logs.length;
    const lean = await Promise.all(cluster.endpoints.map(statusOf));
    assert.ok(
      lean.every((s) => s.dbSize - s.dbSizeInUse < 4 * MiB),
      `every member is below the 4 MiB threshold: ${lean.map((s) => s.dbSize - s.dbSizeInUse).join(", ")}`,
    );
    const counted = await Promise.all(cluster.endpoints.map(defragCountOf));
    await stack.up("space", {
      endpoints: cluster.endpoints,
      defrag: { minFreeBytes: "4MiB" },
      moveLeader: true,
      triggers: [1],
    });
    assert.deepEqual(await Promise.all(cluster.endpoints.map(defragCountOf)), counted, "etcd counted no defrag");
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
      // Bound by what the run was told: without callTimeout, each call would wait its 10 s default.
      assert.ok(elapsed < 10_000, `given up after callTimeout, not the 10 s default (${elapsed} ms)`);
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
    const largest = async () => Math.max(...(await settledSizes(cluster.endpoints)));
    // The run's own reading starts the series; each refresh adds one.
    const seen = [await largest()];
    let outputs: Record<string, unknown> | undefined;
    for (const target of [16, 24, 32, 40]) {
      // About 9 s apart: the samples span the 30 s a forecast needs.
      if (target > 16) await new Promise((resolve) => setTimeout(resolve, 9_000));
      await fill(cluster.endpoints, { targetBytes: target * MiB, keyPrefix: `grow/${target}/` });
      // Read from etcd once the files hold still, before and after the refresh: nothing writes in between.
      const before = await largest();
      outputs = (await stack.refresh("space")).outputs;
      assert.equal(await largest(), before, "the files held still across the refresh");
      seen.push(before);
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

  it("skips a learner: it is listed, not defragmented, not asked to lead nor for the lock, and its file keeps its size", async () => {
    const cluster = await startCluster(3);
    const voters = cluster.endpoints.slice(0, 3);
    const learner = await cluster.addLearner();
    // A learner refuses writes ("rpc not supported for learner"): the test writes through the voting members.
    await fill(voters, { targetBytes: 24 * MiB });
    const learnerBefore = await statusOf(learner.clientUrl);
    assert.equal(learnerBefore.isLearner, true, "etcd reports m4 as a learner");
    const leaderBefore = await cluster.leader();
    const voterNames = cluster.members.filter((m) => m.name !== learner.name).map((m) => m.name);
    const stack = newStack();

    // What the learner was asked that would take or keep the lock: any Lease call, any write.
    const lockCalls = async () =>
      (await metricOf(learner.clientUrl, "grpc_server_started_total", { grpc_service: "etcdserverpb.Lease" })) +
      (await metricOf(learner.clientUrl, "grpc_server_started_total", { grpc_method: "Put" })) +
      (await metricOf(learner.clientUrl, "grpc_server_started_total", { grpc_method: "Txn" }));
    const lockCallsBefore = await lockCalls();
    const observer = DefragObserver.start(cluster.members);
    const { outputs } = await stack.up("space", { endpoints: cluster.endpoints, defrag: { minFreeBytes: "1MiB" } });
    const seen = await observer.stop();
    assert.equal(await lockCalls(), lockCallsBefore, `${learner.name} was never asked for the lock's lease or key`);

    // etcd's view: every voter was defragmented once and the learner never; leadership moved off the old leader
    // to a voter, no look saw the learner lead, and the learner's own Status still calls it a learner that follows.
    assert.deepEqual([...seen.defragOrder].sort(), voterNames.sort(), "the defrags etcd counted");
    assert.ok(!seen.leaders.has(learner.name), `no look saw ${learner.name} lead: ${[...seen.leaders].join(", ")}`);
    const leaderAfter = await cluster.leader();
    assert.ok(
      leaderAfter !== undefined && leaderAfter !== leaderBefore && voterNames.includes(leaderAfter),
      `leadership moved from ${leaderBefore} to a voter: ${leaderAfter}`,
    );
    const learnerNow = await statusOf(learner.clientUrl);
    assert.deepEqual({ learner: learnerNow.isLearner, leads: learnerNow.isLeader }, { learner: true, leads: false });

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

  it("checks health again before each member: a member killed after its own defrag stops the run before the next", async () => {
    const cluster = await startCluster(3);
    await fill(cluster.endpoints, { targetBytes: 24 * MiB });
    const leader = await cluster.leader();
    const [first, next] = cluster.members
      .map((m) => m.name)
      .filter((name) => name !== leader)
      .sort();
    const url = (name: string) => cluster.members.find((m) => m.name === name)!.clientUrl;
    const others = [next, leader!];
    const before = await Promise.all(others.map((name) => statusOf(url(name))));
    const counts = await Promise.all(others.map((name) => defragCountOf(url(name))));
    const firstCount = await defragCountOf(url(first));

    // Killed as soon as etcd counts its defrag, within the 4 s pause before the next member's.
    let stop = false;
    const killer = (async () => {
      while (!stop && (await defragCountOf(url(first)).catch(() => firstCount)) === firstCount) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (!stop) await cluster.stopMember(first, "SIGKILL");
    })();
    try {
      await assert.rejects(
        newStack().up("space", {
          endpoints: cluster.endpoints,
          defrag: { minFreeBytes: "1MiB" },
          pauseBetweenMembers: "4s",
        }),
        (error: unknown) => {
          assert.ok(error instanceof PartialFailure, String(error));
          assert.match(error.message, new RegExp(`maintenance stopped at defrag ${next}: .*${first}`));
          return true;
        },
      );
    } finally {
      stop = true;
      await killer;
    }
    assert.equal(cluster.isRunning(first), false, `${first} was killed`);
    // etcd's word that nothing after it was defragmented: their defrag counts and DB sizes.
    assert.deepEqual(await Promise.all(others.map((name) => defragCountOf(url(name)))), counts, "no defrag after");
    const after = await Promise.all(others.map((name) => statusOf(url(name))));
    after.forEach((s, i) => assert.ok(s.dbSize >= before[i].dbSize, `${others[i]} kept its DB file`));
  });

  it("grants the scratch lease after the compaction and revokes it 150 ms later (past one 100 ms backend commit), leaving no lease", async () => {
    const cluster = await startCluster(1);
    const [endpoint] = cluster.endpoints;
    await withClient(cluster.endpoints, async (client) => {
      for (let i = 0; i < 10; i++) await client.put("scratch/history").value(`v${i}`).exec();
    });
    assert.deepEqual(await leasesOf(endpoint), [], "no lease before the run");

    // Looks at etcd's lease list back to back: the scratch lease lived at least from its first look to its last,
    // and at most from the look before the first to the look after the last.
    const looks: { at: number; leases: string[] }[] = [];
    let granted: number | undefined;
    let stop = false;
    const watcher = (async () => {
      while (!stop) {
        const leases = (await leasesOf(endpoint)).filter((id) => id !== LOCK_LEASE_ID);
        looks.push({ at: Date.now(), leases });
        if (granted === undefined && leases.length > 0) {
          granted = (await leaseOf([endpoint], leases[0])).grantedTtlSeconds;
        }
      }
    })();
    try {
      await newStack().up("space", { endpoints: cluster.endpoints });
    } finally {
      stop = true;
      await watcher;
    }

    const ids = new Set(looks.flatMap((look) => look.leases));
    assert.equal(ids.size, 1, `one scratch lease was seen in ${looks.length} looks: ${[...ids].join(", ")}`);
    assert.equal(granted, 10, "granted for 10 s, so that only a run dying in between leaves it to expire");
    const firstSeen = looks.findIndex((look) => look.leases.length > 0);
    const lastSeen = looks.length - 1 - [...looks].reverse().findIndex((look) => look.leases.length > 0);
    assert.ok(firstSeen > 0 && lastSeen < looks.length - 1, "seen come and go");
    const atMostMs = looks[lastSeen + 1].at - looks[firstSeen - 1].at;
    assert.ok(atMostMs >= 150, `alive for at least 150 ms: at most ${atMostMs} ms between the looks around it`);
    assert.deepEqual(await leasesOf(endpoint), [], "the run left no lease behind: the scratch one was revoked");
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

  it("reports a member killed in its defrag as a partial failure, and the next up resumes and defragments it", async () => {
    const cluster = await startCluster(3, 40 * MiB);
    const filled = await fill(cluster.endpoints, { untilNoSpace: true });
    const leader = await cluster.leader();
    // The first member defragmented: the first follower by name.
    const victim = cluster.members
      .map((m) => m.name)
      .filter((name) => name !== leader)
      .sort()[0];
    const member = cluster.members.find((m) => m.name === victim)!;
    const sizeBefore = (await statusOf(member.clientUrl)).dbSize;
    const snapDir = path.join(member.dataDir, "member", "snap");
    const stack = newStack();
    const inputs = { endpoints: cluster.endpoints };

    // etcd defragments into a temporary file (db.tmp...) beside its db and renames it over the db at the end: the
    // victim is killed as soon as that file appears, inside its defrag, whatever the provider prints.
    let stop = false;
    const killer = (async () => {
      while (!stop && !fs.readdirSync(snapDir).some((name) => name.startsWith("db.tmp"))) {
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      if (stop) return false;
      await cluster.stopMember(victim, "SIGKILL");
      return true;
    })();
    try {
      await assert.rejects(stack.up("space", inputs), (error: unknown) => {
        assert.ok(error instanceof PartialFailure, String(error));
        assert.match(error.message, new RegExp(`maintenance stopped at defrag ${victim}: `));
        return true;
      });
    } finally {
      stop = true;
    }
    assert.ok(await killer, `${victim} was killed in its defrag`);
    const leftBehind = fs.readdirSync(snapDir);
    assert.ok(
      leftBehind.some((name) => name.startsWith("db.tmp")),
      `the defrag's temporary file is still there: ${leftBehind.join(", ")}`,
    );
    assert.ok(
      fs.statSync(path.join(snapDir, "db")).size > sizeBefore / 2,
      `${victim}'s db file was not replaced by a defragmented one`,
    );
    const partial = stack.state("space");
    assert.ok(partial, "the partial state was recorded");
    assert.match(String(partial.outputs.maintenance), /^needed: the last run stopped part way/);
    assert.equal(typeof partial.outputs.compactedRevision, "number");

    await cluster.startMember(victim);
    assert.equal(await defragCountOf(member.clientUrl), 0, `${victim} restarted with no defrag counted`);
    const resumed = await stack.up("space", inputs);
    assert.equal(resumed.op, "update");
    // etcd's word that the resume defragmented the victim: its count since the restart, and its DB's size.
    assert.equal(await defragCountOf(member.clientUrl), 1, `${victim} was defragmented by the resume`);
    const sizeAfter = (await statusOf(member.clientUrl)).dbSize;
    assert.ok(sizeAfter < sizeBefore / 4, `${victim}'s DB shrank from ${sizeBefore} to ${sizeAfter}`);
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
