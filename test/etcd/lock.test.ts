import * as assert from "node:assert/strict";
import { LabCluster } from "../../lab/cluster";
import { validateAccess } from "../../provider/inputs/access";
import { acquireClusterLock, LOCK_KEY, LOCK_LEASE_ID } from "../../provider/etcd/lock";
import { TimeoutError } from "../../provider/errors";
import { alarmsOf, fillToNoSpace, leaseOf, withClient } from "../support/etcd";

describe("cluster lock", function () {
  this.timeout(120_000);
  let cluster: LabCluster;

  before(async () => {
    cluster = await LabCluster.start({ members: 3, quotaBytes: 32 * 1024 ** 2 });
  });
  after(async () => {
    await cluster?.stop();
  });

  it("makes a second run wait, then fail with a message naming the holder", async () => {
    const access = validateAccess({ endpoints: cluster.endpoints });
    const first = await acquireClusterLock(access, { holder: "EtcdQuota", waitMs: 1000 }, () => undefined);
    try {
      const progress: string[] = [];
      const started = Date.now();
      await assert.rejects(
        acquireClusterLock(access, { holder: "EtcdCompaction", waitMs: 2000 }, (line) => progress.push(line)),
        (error: unknown) =>
          error instanceof TimeoutError && /the cluster is locked by EtcdQuota on .* \(pid \d+\)/.test(error.message),
      );
      assert.ok(Date.now() - started >= 2000, "it waited the bound before giving up");
      assert.match(progress[0], /waiting for the cluster lock, held by EtcdQuota/);
    } finally {
      await first.release();
    }
    const second = await acquireClusterLock(access, { holder: "EtcdCompaction", waitMs: 1000 }, () => undefined);
    await second.release();
    const left = await withClient(cluster.endpoints, (client) => client.get(LOCK_KEY).string());
    assert.equal(left, null, "a released lock leaves no key");
  });

  it("is a lease, not a key: once unnamed it holds on with nothing in the key space, and the waiter says so", async () => {
    const access = validateAccess({ endpoints: cluster.endpoints });
    const first = await acquireClusterLock(access, { holder: "EtcdCompaction", waitMs: 1000 }, () => undefined);
    try {
      const unnamedAt = await first.unname();
      assert.ok(unnamedAt !== undefined && unnamedAt > 0, `the delete's revision: ${unnamedAt}`);
      await withClient(cluster.endpoints, async (client) => {
        assert.deepEqual(await client.getAll().prefix("/pulumi-etcd-quota/").keys(), [], "no key of the lock's");
        const lease = await client.leaseClient.leaseTimeToLive({ ID: LOCK_LEASE_ID });
        assert.ok(Number(lease.TTL) > 0, `the lock's lease is alive: ${JSON.stringify(lease)}`);
      });
      assert.equal(await first.unname(), undefined, "nothing more to unname");
      const progress: string[] = [];
      await assert.rejects(
        acquireClusterLock(access, { holder: "EtcdQuota", waitMs: 1500 }, (line) => progress.push(line)),
        (error: unknown) =>
          error instanceof TimeoutError &&
          error.message.startsWith(
            "the cluster is locked by a run that does not name itself right now (EtcdCompaction",
          ),
      );
      assert.match(progress[0], /waiting for the cluster lock, held by a run that does not name itself/);
    } finally {
      await first.release();
    }
    await withClient(cluster.endpoints, async (client) => {
      const lease = await client.leaseClient.leaseTimeToLive({ ID: LOCK_LEASE_ID });
      assert.equal(Number(lease.TTL), -1, "a released lock's lease is gone");
    });
  });

  it("keeps its lease alive past the TTL while held", async () => {
    const access = validateAccess({ endpoints: cluster.endpoints });
    const lock = await acquireClusterLock(access, { holder: "long", waitMs: 1000, ttlSeconds: 2 }, () => undefined);
    try {
      await new Promise((resolve) => setTimeout(resolve, 4500));
      await assert.rejects(
        acquireClusterLock(access, { holder: "other", waitMs: 100 }, () => undefined),
        /the cluster is locked by long on /,
      );
    } finally {
      await lock.release();
    }
  });

  it("keeps its lease while every member restarts in turn, as during a rolling quota change", async () => {
    const access = validateAccess({ endpoints: cluster.endpoints });
    const progress: string[] = [];
    const lock = await acquireClusterLock(access, { holder: "rolling", waitMs: 1000, ttlSeconds: 3 }, (line) =>
      progress.push(line),
    );
    try {
      const started = Date.now();
      for (const member of cluster.members) {
        await cluster.stopMember(member.name);
        await new Promise((resolve) => setTimeout(resolve, 2500));
        await cluster.startMember(member.name);
      }
      assert.ok(
        Date.now() - started > 2 * 3000,
        `the restarts took twice the lease TTL or more: ${Date.now() - started} ms`,
      );
      await assert.rejects(
        acquireClusterLock(access, { holder: "other", waitMs: 100 }, () => undefined),
        /the cluster is locked by rolling on /,
      );
      assert.deepEqual(progress, [], "no warning of a lost lease");
    } finally {
      await lock.release();
    }
  });

  it("prints a hostile holder text safely: control characters escaped, length capped", async () => {
    // Another client holds the lock's lease and names itself with escape sequences, a fake line and 100 KB.
    const hostile = `\u001b[2J\u001b[31mowned\r\nerror: fake line\u202e${"x".repeat(100_000)}`;
    await withClient(cluster.endpoints, async (client) => {
      await client.leaseClient.leaseGrant({ TTL: 30, ID: LOCK_LEASE_ID });
      await client.put(LOCK_KEY).value(hostile).lease(LOCK_LEASE_ID).exec();
    });
    try {
      const access = validateAccess({ endpoints: cluster.endpoints });
      const progress: string[] = [];
      const error = await acquireClusterLock(access, { holder: "EtcdQuota", waitMs: 1500 }, (line) =>
        progress.push(line),
      ).then(
        () => assert.fail("took a lock another client holds"),
        (failure: Error) => failure,
      );
      assert.ok(error instanceof TimeoutError, String(error));
      for (const text of [error.message, ...progress]) {
        // eslint-disable-next-line no-control-regex -- finding control characters is the point
        assert.doesNotMatch(text, /[\u0000-\u001f\u007f-\u009f\u202e]/, JSON.stringify(text.slice(0, 200)));
        assert.ok(text.length < 1_000, `${text.length} characters`);
      }
      assert.match(
        error.message,
        /locked by \\u001b\[2J\\u001b\[31mowned\\u000d\\u000aerror: fake line\\u202ex+\.\.\. \((\d+) characters in all\)/,
      );
      assert.equal(Number(/\((\d+) characters in all\)/.exec(error.message)?.[1]), hostile.length);
    } finally {
      await withClient(cluster.endpoints, (client) => client.leaseClient.leaseRevoke({ ID: LOCK_LEASE_ID }));
    }
  });

  it("expires by itself when the run holding it dies", async () => {
    // A child process takes the lock and is killed without releasing it.
    const { spawn } = await import("child_process");
    const script = `
      const { acquireClusterLock } = require("./provider/etcd/lock");
      acquireClusterLock({ endpoints: ${JSON.stringify(cluster.endpoints)} }, { holder: "doomed", waitMs: 1000, ttlSeconds: 3 }, () => {})
        .then(() => console.log("locked"));`;
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (data: Buffer) => data.toString().includes("locked") && resolve());
        child.once("exit", (code) => reject(new Error(`lock holder exited early (${code})`)));
      });
    } finally {
      child.kill("SIGKILL");
    }
    const killedAt = Date.now();
    // etcd's word that the dead holder's lock lapses by itself: its lease was granted 3 s and has at most that left.
    const lease = await leaseOf(cluster.endpoints, LOCK_LEASE_ID);
    assert.ok(
      lease.ttlSeconds === -1 || (lease.grantedTtlSeconds === 3 && lease.ttlSeconds <= 3),
      `the dead holder's lease: ${JSON.stringify(lease)}`,
    );
    const access = validateAccess({ endpoints: cluster.endpoints });
    const said: string[] = [];
    const lock = await acquireClusterLock(access, { holder: "next", waitMs: 20_000 }, (line) => said.push(line));
    const tookMs = Date.now() - killedAt;
    await lock.release();
    assert.equal(said.length, 1, said.join("\n"));
    assert.match(
      said[0],
      new RegExp(`^waiting for the cluster lock, held by doomed on \\S+ \\(pid ${child.pid}\\) since `),
    );
    // The lease was last renewed at most a third of its 3 s TTL before the kill: it lapses 2 s or more after the
    // kill. How soon after is etcd's expiry tick and this machine's load; the lease's TTL above bounds it.
    assert.ok(tookMs >= 1_500, `the lock was not free before the dead holder's lease ran out (${tookMs} ms)`);
  });

  it("goes on without the lock under NOSPACE, says so, and raises no alarm asking for it", async () => {
    // A cluster of its own: NOSPACE stays raised, and the shared cluster must stay writable for the other tests.
    const full = await LabCluster.start({ members: 1, quotaBytes: 32 * 1024 ** 2 });
    try {
      await fillToNoSpace(full.endpoints);
      const before = (await alarmsOf(full.endpoints)).sort();
      assert.ok(
        before.some((alarm) => alarm.startsWith("NOSPACE")),
        `NOSPACE is raised: ${before.join(", ")}`,
      );
      const progress: string[] = [];
      const lock = await acquireClusterLock(
        validateAccess({ endpoints: full.endpoints }),
        { holder: "x", waitMs: 1000 },
        (line) => progress.push(line),
      );
      await lock.release();
      assert.deepEqual(progress, [
        "warning: NOSPACE is raised, so etcd would refuse the lease the cluster lock needs; going on without the lock",
      ]);
      assert.deepEqual((await alarmsOf(full.endpoints)).sort(), before);
    } finally {
      await full.stop();
    }
  });
});
