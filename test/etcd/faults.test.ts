import * as assert from "node:assert/strict";
import { type ChildProcess, exec, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { setTimeout as sleep } from "node:timers/promises";
import { EngineStack, PartialFailure, ProviderCallError, ProviderHost } from "../support/engine";
import { LabCluster } from "../../lab/cluster";
import type { FillResult } from "../../lab/fill";
import { fill, verifyFill } from "../../lab/fill";
import type { WriterReport } from "../support/writer";
import { Writer } from "../support/writer";
import { LOCK_KEY, LOCK_LEASE_ID } from "../../provider/etcd/lock";
import { providerShim } from "../../sdk/shim";
import { assertHealthy, leaseOf, waitHealthy, withClient } from "../support/etcd";
import { liveQuota, sha256 } from "../support/files";
import { SupervisedCluster, unitLaunch } from "../../lab/supervisor";
import { progressLines, unlabelled } from "../support/progress";

/**
 * Faults, each on a real cluster with a writer running against it, each ending with a healthy cluster and no
 * acknowledged write lost. Every test prints one line: what the writer saw (acknowledged, failed, longest gap).
 *
 * The clusters are shared within each resource's block, so the file stays near two minutes; each test asserts it leaves
 * its cluster healthy, and each starts from a healthy one whatever ran before it (a beforeEach brings back a member a
 * failed test left down). EtcdQuota's tests aim 16 MiB above the quota the cluster runs when they start, so each one
 * is a change in any order, alone or after the others.
 */

const MiB = 1024 ** 2;
const COMPACTION = "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction";
const QUOTA = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";
/** provider/etcd/lock.ts: a run that dies leaves its lock for at most this long. */
const LOCK_TTL_MS = 15_000;

/** Polls the host's output for a line matching `pattern` from index `from`; returns it and when it was seen. */
async function waitForLine(
  host: ProviderHost,
  from: number,
  pattern: RegExp,
  timeoutMs = 60_000,
): Promise<{ line: string; at: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = host.logs
      .slice(from)
      .map(unlabelled)
      .find((l) => pattern.test(l));
    if (line !== undefined) return { line, at: Date.now() };
    if (Date.now() > deadline) throw new Error(`no line matching ${pattern} within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** The one-line summary every fault test prints, and the assertion every fault test makes. */
function report(what: string, writer: WriterReport, extra = ""): void {
  console.log(
    `      ${what}: writer ${writer.acknowledged} acknowledged, ${writer.failed} failed, ` +
      `longest gap ${writer.longestGapMs} ms, ${writer.lost.length} lost${extra ? `; ${extra}` : ""}`,
  );
  assert.deepEqual(writer.lost, [], "every acknowledged write reads back");
  assert.ok(writer.acknowledged > 0, "the writer got writes through");
}

describe("Faults on real etcd: each ends with a healthy cluster and no acknowledged write lost", function () {
  this.timeout(120_000);

  let host: ProviderHost;
  /** Hosts killed by a test, stopped (listeners removed) at the end. */
  const deadHosts: ProviderHost[] = [];

  // The real engine sets no deadline on provider calls; the stand-in's default (60 s) is shorter than a run that
  // meets a member which accepts connections but never answers (each question to it waits out a 10 s call timeout).
  const startHost = () => ProviderHost.start({ callTimeoutMs: 180_000 });

  before(async () => {
    host = await startHost();
  });
  after(async () => {
    for (const dead of deadHosts) await dead.stop();
    await host?.stop();
  });

  /**
   * SIGKILLs the provider host, as when the machine running `pulumi up` dies, and starts a new one. Meanwhile reads
   * etcd's word, however slow this machine, that the dead run's lock lapses by itself within its TTL: the lock's
   * lease was granted LOCK_TTL_MS and has at most that left, or it is gone already.
   */
  async function killHost(endpoints: readonly string[]): Promise<{ killedPid: number; killedAt: number }> {
    const killed = host;
    process.kill(killed.pid, "SIGKILL");
    const killedAt = Date.now();
    deadHosts.push(killed);
    const [lease, next] = await Promise.all([leaseOf(endpoints, LOCK_LEASE_ID), startHost()]);
    host = next;
    if (lease.ttlSeconds !== -1) {
      assert.equal(lease.grantedTtlSeconds * 1000, LOCK_TTL_MS, "the lock's lease was granted the lock's TTL");
      assert.ok(lease.ttlSeconds * 1000 <= LOCK_TTL_MS, `the lock's lease has ${lease.ttlSeconds} s left`);
    }
    return { killedPid: killed.pid, killedAt };
  }

  describe("EtcdCompaction", () => {
    let cluster: LabCluster;
    let filled: FillResult;

    before(async () => {
      cluster = await LabCluster.start({ members: 3 });
      // 480 keys of 128 KiB: ~60 MiB live, so each defrag takes about a second here (~50 MiB/s): long enough to
      // land a kill inside it. minFreeBytes 0 below makes every run defragment every member.
      filled = await fill(cluster.endpoints, { targetBytes: 90 * MiB, keys: 480 });
    });
    after(async () => {
      await cluster?.stop();
    });
    beforeEach(async () => {
      for (const member of cluster.members) if (!cluster.isRunning(member.name)) await cluster.startMember(member.name);
      await waitHealthy(cluster.endpoints);
    });

    const inputs = (extra: Record<string, unknown> = {}) => ({
      endpoints: cluster.endpoints,
      defrag: { minFreeBytes: 0 },
      ...extra,
    });
    const newStack = () => new EngineStack(host, { provider: providerShim("compaction"), type: COMPACTION });
    const followers = async () => {
      const leader = await cluster.leader();
      return cluster.members.map((m) => m.name).filter((name) => name !== leader);
    };

    it("refuses to start while a member is down, naming it, and compacts nothing", async () => {
      const writer = Writer.start(cluster.endpoints);
      const victim = (await followers()).sort()[0];
      const victimUrl = cluster.member(victim).clientUrl;
      // An old revision that any compaction would make unreadable.
      const old = await withClient(cluster.endpoints, async (client) => {
        const revision = Number((await client.put("faults/old").value("v1").exec()).header.revision);
        await client.put("faults/old").value("v2").exec();
        return revision;
      });
      await cluster.stopMember(victim, "SIGKILL");

      const stack = newStack();
      // check only validates inputs (it reads no cluster), so the preview passes; the refusal comes first thing in up.
      assert.equal((await stack.preview("space", inputs())).op, "create");
      await assert.rejects(stack.up("space", inputs()), (error: unknown) => {
        assert.ok(error instanceof ProviderCallError, String(error));
        assert.match(error.message, /^refusing to start maintenance: /);
        assert.ok(error.message.includes(`${victimUrl} did not answer (member ${victim})`), error.message);
        assert.ok(
          !error.message.includes("is in the cluster but not in"),
          "a listed member that is down is not 'missing'",
        );
        return true;
      });
      assert.equal(stack.state("space"), undefined, "nothing was recorded");
      await withClient(cluster.endpoints, async (client) => {
        assert.equal(await client.get("faults/old").revision(old).string(), "v1", "no revision was compacted");
        assert.equal(await client.get(LOCK_KEY).string(), null, "no lock left behind");
      });

      await cluster.startMember(victim);
      await assertHealthy(cluster.endpoints);
      report(`compaction, ${victim} down before the run`, await writer.stop());
    });

    it("a member SIGKILLed during its defrag: partial failure naming it; restarted, the next up completes", async () => {
      const writer = Writer.start(cluster.endpoints);
      const stack = newStack();
      const from = host.logs.length;
      let victim = "";
      const killer = (async () => {
        const { line } = await waitForLine(host, from, /^EtcdCompaction: defrag m\d: .*allowing up to/);
        victim = /defrag (m\d):/.exec(line)![1];
        await cluster.stopMember(victim, "SIGKILL");
      })();
      const started = Date.now();
      await assert.rejects(stack.up("space", inputs()), (error: unknown) => {
        assert.ok(error instanceof PartialFailure, String(error));
        return true;
      });
      const failedAfterMs = Date.now() - started;
      await killer;
      const failure = await stack.up("space", inputs()).then(
        () => assert.fail("the member is still down: the next up must refuse"),
        (error: unknown) => error as Error,
      );
      assert.match(failure.message, /refusing to start maintenance: .* did not answer/);

      const progress = progressLines(host.logs.slice(from), "EtcdCompaction");
      assert.ok(
        !progress.some((l) => new RegExp(`defrag ${victim}: .* -> `).test(l)),
        `the kill landed inside ${victim}'s defrag:\n${progress.join("\n")}`,
      );
      const partial = stack.state("space");
      assert.ok(partial, "the partial state was recorded");
      assert.match(String(partial.outputs.maintenance), new RegExp(`stopped part way .*at defrag ${victim}: `));
      assert.ok(
        partial.initErrors.some((reason) => reason.includes(`at defrag ${victim}`)),
        partial.initErrors[0],
      );
      const record = (partial.outputs.members as { name: string; defragmented: boolean }[]).find(
        (m) => m.name === victim,
      );
      assert.equal(record?.defragmented, false, `${victim} is recorded as not defragmented`);
      // Bound by what the run is told: a member that refuses connections is reported at once, not after waiting out
      // its defrag bound (60 s plus 1 s per 5 MiB).
      assert.ok(failedAfterMs < 60_000, `reported ${failedAfterMs} ms after the start, not after a defrag bound`);

      await cluster.startMember(victim);
      const resumed = await stack.up("space", inputs());
      assert.equal(resumed.op, "update");
      const members = resumed.outputs!.members as { name: string; defragmented: boolean }[];
      assert.ok(
        members.every((m) => m.defragmented),
        JSON.stringify(members),
      );
      await assertHealthy(cluster.endpoints);
      assert.deepEqual(await verifyFill(cluster.endpoints, filled.lastValues), [], "every filled key kept its value");
      report(
        `compaction, ${victim} SIGKILLed mid-defrag`,
        await writer.stop(),
        `partial failure after ${failedAfterMs} ms`,
      );
    });

    it("the provider host SIGKILLed during the defrags: a new host's up creates again once the dead run's lock lapses", async () => {
      const writer = Writer.start(cluster.endpoints);
      const stack = newStack();
      const oldHost = host;
      const from = host.logs.length;
      const running = stack.up("space", inputs()).then(
        () => assert.fail("the host was killed: the call cannot succeed"),
        (error: unknown) => error,
      );
      await waitForLine(oldHost, from, /^EtcdCompaction: defrag m\d: .*allowing up to/);
      const { killedAt } = await killHost(cluster.endpoints);
      assert.ok((await running) instanceof ProviderCallError, "the engine sees the call fail");
      assert.equal(stack.state("space"), undefined, "a create that never answered is not in the state");

      // The engine would run the same program again: same resource, a new host, nothing in the state: a create.
      const next = new EngineStack(host, { provider: providerShim("compaction"), type: COMPACTION });
      const started = Date.now();
      const again = next.up("space", inputs());
      const waiting = waitForLine(host, 0, /^EtcdCompaction: waiting for the cluster lock/, 30_000).catch(
        () => undefined,
      );
      const locked = await waitForLine(host, 0, /^EtcdCompaction: compact: to revision/, 60_000);
      const result = await again;
      assert.equal(result.op, "create");
      const holder = (await waiting)?.line ?? "";
      // Killed mid-defrag, the dead run had already taken its name out of etcd (so its defrags copied nothing of it).
      assert.match(
        holder,
        /held by a run that does not name itself right now \(EtcdCompaction takes its name out/,
        `the dead run's lock: ${holder || `no wait for the lock was seen; the run went on ${locked.at - killedAt} ms after the kill`}`,
      );
      const blockedMs = locked.at - started;
      const sinceKillMs = locked.at - killedAt;
      const members = result.outputs!.members as { defragmented: boolean }[];
      assert.ok(members.length === 3 && members.every((m) => m.defragmented));
      await assertHealthy(cluster.endpoints);
      assert.deepEqual(await verifyFill(cluster.endpoints, filled.lastValues), []);
      report(
        "compaction, provider host SIGKILLed mid-defrag",
        await writer.stop(),
        `next run blocked ${blockedMs} ms by the dead run's lock, free ${sinceKillMs} ms after the kill (TTL ${LOCK_TTL_MS} ms)`,
      );
    });
  });

  describe("EtcdQuota", () => {
    let cluster: SupervisedCluster;

    before(async () => {
      cluster = await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes: 64 * MiB });
    });
    after(async () => {
      await cluster?.stop();
    });

    const names = () => cluster.lab.members.map((m) => m.name);
    const inputs = (quota: string, restartTimeout = "30s") => ({
      quota,
      members: cluster.quotaMembers(),
      restartTimeout,
    });
    const newStack = () => new EngineStack(host, { provider: providerShim("quota"), type: QUOTA });
    const hashes = () => new Map(names().map((name) => [name, sha256(cluster.configFile(name))]));
    const pids = () => new Map(names().map((name) => [name, cluster.pid(name)]));
    /** Restarts a member by its restart command, asynchronously: the supervisor answers from this event loop. */
    const restartByHand = async (name: string) => {
      await promisify(exec)(cluster.restartCommand(name));
      await waitHealthy(cluster.endpoints);
    };
    /** The quota every member runs, in MiB; the members must agree (each test leaves them converged). */
    const runningMiB = async () => {
      const quotas = await Promise.all(cluster.lab.members.map((m) => liveQuota(m.clientUrl)));
      assert.equal(new Set(quotas).size, 1, `the members run one quota: ${quotas.join(", ")}`);
      return quotas[0] / MiB;
    };
    /** The .bak- files beside the members' files. */
    const backups = () =>
      names()
        .flatMap((name) => fs.readdirSync(path.dirname(cluster.configFile(name))).map((f) => path.join(name, f)))
        .filter((f) => f.includes(".bak-"))
        .sort();
    beforeEach(async () => {
      for (const name of names()) if (cluster.pid(name) === undefined) await restartByHand(name);
      await waitHealthy(cluster.endpoints);
    });

    /** Every member's file is one systemd would start, and says the quota the member runs (when it runs). */
    const assertFilesSound = async () => {
      for (const member of cluster.lab.members) {
        const file = cluster.configFile(member.name);
        const launch = unitLaunch(fs.readFileSync(file, "utf8"), file);
        const flag = launch.args.find((a) => a.startsWith("--quota-backend-bytes="));
        assert.ok(flag, `${member.name}'s unit still sets the quota`);
        if (cluster.pid(member.name) !== undefined) {
          assert.equal(Number(flag.split("=")[1]), await liveQuota(member.clientUrl), `${member.name} runs its file`);
        }
      }
    };

    it("refuses a change while a member is down, naming it, in the preview and in up; nothing changes", async () => {
      const writer = Writer.start(cluster.endpoints);
      const [victim] = await cluster.rollingOrder();
      const victimUrl = cluster.lab.member(victim).clientUrl;
      const target = `${(await runningMiB()) + 16}MiB`;
      const files = hashes();
      const backupsBefore = backups();
      process.kill(cluster.pid(victim)!, "SIGKILL");
      while (cluster.pid(victim) !== undefined) await sleep(20);
      const running = pids();

      const stack = newStack();
      const preview = await stack.preview("quota", inputs(target));
      assert.equal(preview.op, "failed");
      const reasons = preview.failures.map((f) => f.reason).join("\n");
      assert.ok(
        preview.failures.every((f) => /^members(\[\d+\])?[.:]/.test(f.reason)),
        reasons,
      );
      assert.ok(reasons.includes(`${victimUrl} did not answer (member ${victim})`), reasons);
      assert.ok(!reasons.includes("is in the cluster but not in"), "a listed member that is down is not 'missing'");
      // up runs the same check first and stops there: no create is attempted.
      const up = await stack.up("quota", inputs(target));
      assert.equal(up.op, "failed");
      assert.deepEqual(up.failures, preview.failures);
      assert.equal(stack.state("quota"), undefined);
      assert.deepEqual(hashes(), files, "no file changed");
      assert.deepEqual(pids(), running, "no member was restarted");
      assert.deepEqual(backups(), backupsBefore, "no backup file was written");

      await restartByHand(victim);
      await assertHealthy(cluster.endpoints);
      report(`quota, ${victim} down before the run`, await writer.stop());
    });

    it("another member SIGKILLed while the first restarts: stops naming it and quorum, no file broken; the next up completes", async () => {
      const writer = Writer.start(cluster.endpoints);
      const [first, victim, leader] = await cluster.rollingOrder();
      const targetMiB = (await runningMiB()) + 16;
      const files = hashes();
      const leaderPid = cluster.pid(leader);
      const stack = newStack();
      const from = host.logs.length;
      const killer = (async () => {
        await waitForLine(host, from, new RegExp(`^EtcdQuota: ${first}: restart with`));
        process.kill(cluster.pid(victim)!, "SIGKILL");
      })();
      const started = Date.now();
      await assert.rejects(stack.up("quota", inputs(`${targetMiB}MiB`, "12s")), (error: unknown) => {
        assert.ok(error instanceof PartialFailure, String(error));
        const victimUrl = cluster.lab.member(victim).clientUrl;
        assert.match(
          error.message,
          new RegExp(`^quota change stopped at ${first}: ${first} came back with the new quota`),
        );
        assert.ok(error.message.includes(`but then ${victim} (${victimUrl}) did not answer`), error.message);
        assert.match(error.message, /2 of 3 voting members answer and quorum is 2/);
        return true;
      });
      const stoppedAfterMs = Date.now() - started;
      await killer;
      const progress = progressLines(host.logs.slice(from), "EtcdQuota");
      assert.ok(
        !progress.some((l) => /restoring/.test(l)),
        `${first} came back right: no rollback\n${progress.join("\n")}`,
      );
      assert.equal(
        await liveQuota(cluster.lab.member(first).clientUrl),
        targetMiB * MiB,
        `${first} runs the new quota`,
      );
      assert.equal(files.get(victim), sha256(cluster.configFile(victim)), `${victim}'s file untouched`);
      assert.equal(files.get(leader), sha256(cluster.configFile(leader)), `${leader}'s file untouched`);
      assert.equal(cluster.pid(leader), leaderPid, `${leader} was not restarted`);
      await assertFilesSound();
      const partial = stack.state("quota");
      assert.ok(partial && partial.initErrors.length > 0, "the partial failure is in the state");

      await restartByHand(victim);
      const resumed = await stack.up("quota", inputs(`${targetMiB}MiB`));
      assert.equal(resumed.op, "update");
      for (const member of cluster.lab.members) assert.equal(await liveQuota(member.clientUrl), targetMiB * MiB);
      await assertFilesSound();
      await assertHealthy(cluster.endpoints);
      report(
        `quota, ${victim} SIGKILLed while ${first} restarts`,
        await writer.stop(),
        `stopped after ${stoppedAfterMs} ms`,
      );
    });

    it("a member that starts but never becomes healthy (its DB held by another process): rolled back, partial state reported", async () => {
      const writer = Writer.start(cluster.endpoints);
      const [first, ...others] = await cluster.rollingOrder();
      const firstUrl = cluster.lab.member(first).clientUrl;
      const oldQuota = (await runningMiB()) * MiB;
      const targetMiB = oldQuota / MiB + 16;
      const files = hashes();
      const before = pids();
      const stack = newStack();
      const from = host.logs.length;
      // Something else (a backup tool, a stray etcdutl) holds the member's bbolt lock: a restarted etcd binds its
      // ports, then waits for the lock for ever ("db file is flocked by another process"): running, never healthy.
      // The holder outlives the whole run, so the rollback's restart hangs the same way.
      const db = path.join(cluster.lab.member(first).dataDir, "member", "snap", "db");
      let holder: ChildProcess | undefined;
      const release = () => {
        // flock and its sleep share the lock: end the holder's whole process group, by its id.
        if (holder?.pid !== undefined && holder.exitCode === null && holder.signalCode === null) {
          process.kill(-holder.pid, "SIGKILL");
        }
      };
      const fault = (async () => {
        await waitForLine(host, from, new RegExp(`^EtcdQuota: ${first}: restart with`));
        // Blocks until the old etcd has exited and released the lock, then keeps it.
        holder = spawn("flock", ["-x", db, "sleep", "600"], { stdio: "ignore", detached: true });
      })();
      let failure: PartialFailure;
      try {
        failure = await stack.up("quota", inputs(`${targetMiB}MiB`, "5s")).then(
          () => assert.fail("the member never came back: the change cannot succeed"),
          (error: unknown) => {
            assert.ok(error instanceof PartialFailure, String(error));
            return error;
          },
        );
        await fault;
        // Before the fault goes away: the file is already back as it was, and nothing else was touched.
        assert.equal(sha256(cluster.configFile(first)), files.get(first), `${first}'s file is restored byte for byte`);
        for (const name of others) {
          assert.equal(sha256(cluster.configFile(name)), files.get(name), `${name}'s file untouched`);
          assert.equal(cluster.pid(name), before.get(name), `${name} not restarted`);
        }
      } finally {
        release();
      }
      const backup = /restoring .* from (\S+)$/.exec(
        progressLines(host.logs.slice(from), "EtcdQuota").find((l) =>
          l.startsWith(`EtcdQuota: ${first}: did not come back as expected`),
        ) ?? "",
      )?.[1];
      assert.ok(backup, "the rollback said where the previous file was kept");
      // Either bound can run out first: the wait for the member (3.4 stops at once) or, when the held DB also keeps
      // the old process from stopping quickly (3.5.30), the restart command's own timeout. Both are "not back in 5 s".
      assert.match(
        failure.message,
        new RegExp(
          `^quota change stopped at ${first}: (gave up waiting for ${first} to come back with quota ${targetMiB} MiB after 5.0s|local: command timed out after 5.0s)`,
        ),
      );
      assert.ok(
        failure.message.includes(
          `; rolling back: ${cluster.configFile(first)} was restored from ${backup}, but ${first} did not come back after a restart with it either: `,
        ),
        failure.message,
      );
      assert.ok(failure.message.includes(`Members now: `), failure.message);
      const partial = stack.state("quota");
      assert.ok(partial && partial.initErrors.length > 0, "the partial failure is in the state");
      const records = partial.outputs.members as {
        endpoint: string;
        liveBytes: number | null;
        configuredBytes: number;
      }[];
      for (const record of records) {
        const down = record.endpoint === firstUrl;
        assert.equal(record.liveBytes, down ? null : oldQuota, `${record.endpoint} runs ${record.liveBytes}`);
        assert.equal(record.configuredBytes, oldQuota, `${record.endpoint}'s file says ${record.configuredBytes}`);
      }

      // With the lock free, the member the rollback restarted comes up by itself, from its restored file.
      await waitHealthy(cluster.endpoints);
      assert.equal(await liveQuota(firstUrl), oldQuota, `${first} runs its old quota`);
      await assertFilesSound();
      await assertHealthy(cluster.endpoints);
      report(`quota, ${first} hangs at start after its restart and after the rollback's`, await writer.stop());
    });

    it("the provider host SIGKILLed between members: a new host's up creates again and finishes the change", async () => {
      const writer = Writer.start(cluster.endpoints);
      const [first] = await cluster.rollingOrder();
      const targetMiB = (await runningMiB()) + 16;
      const stack = newStack();
      const oldHost = host;
      const from = host.logs.length;
      const running = stack.up("quota", inputs(`${targetMiB}MiB`)).then(
        () => assert.fail("the host was killed: the call cannot succeed"),
        (error: unknown) => error,
      );
      await waitForLine(oldHost, from, new RegExp(`^EtcdQuota: ${first}: back with quota ${targetMiB} MiB in effect`));
      const { killedPid, killedAt } = await killHost(cluster.endpoints);
      assert.ok((await running) instanceof ProviderCallError, "the engine sees the call fail");
      assert.equal(stack.state("quota"), undefined, "a create that never answered is not in the state");
      assert.equal(await liveQuota(cluster.lab.member(first).clientUrl), targetMiB * MiB);
      const lastWords = progressLines(oldHost.logs, "EtcdQuota").at(-1);
      // The dead run may have got as far as writing the next member's file or starting its restart (a restart
      // command outlives the host); a person re-running `pulumi up` would find the cluster settled again.
      await waitHealthy(cluster.endpoints);

      const next = new EngineStack(host, { provider: providerShim("quota"), type: QUOTA });
      const firstPid = cluster.pid(first);
      const started = Date.now();
      const again = next.up("quota", inputs(`${targetMiB}MiB`));
      const waiting = waitForLine(host, 0, /^EtcdQuota: waiting for the cluster lock/, 30_000).catch(() => undefined);
      const locked = await waitForLine(host, 0, /^EtcdQuota: m\d: (nothing to do|write|restart|move)/, 60_000);
      const result = await again;
      assert.equal(result.op, "create");
      const holder = (await waiting)?.line ?? "";
      assert.match(
        holder,
        new RegExp(`held by EtcdQuota on .* \\(pid ${killedPid}\\)`),
        `the dead run's lock: ${holder || `no wait for the lock was seen; the run went on ${locked.at - killedAt} ms after the kill`}`,
      );
      const blockedMs = locked.at - started;
      const sinceKillMs = locked.at - killedAt;
      assert.equal(cluster.pid(first), firstPid, `${first}, already changed, is not restarted again`);
      for (const member of cluster.lab.members) assert.equal(await liveQuota(member.clientUrl), targetMiB * MiB);
      await assertFilesSound();
      await assertHealthy(cluster.endpoints);
      report(
        "quota, provider host SIGKILLed between members",
        await writer.stop(),
        `next run blocked ${blockedMs} ms by the dead run's lock, free ${sinceKillMs} ms after the kill ` +
          `(TTL ${LOCK_TTL_MS} ms); the dead run's last line: ${lastWords}`,
      );
    });
  });
});
