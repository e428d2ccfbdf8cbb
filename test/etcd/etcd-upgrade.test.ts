import * as assert from "node:assert/strict";
import { execFile } from "child_process";
import * as fs from "fs";
import { setTimeout as sleep } from "timers/promises";
import { promisify } from "util";
import { etcdBinary } from "../../lab/etcd-binary";
import { fill } from "../../lab/fill";
import { SupervisedCluster } from "../../lab/supervisor";
import { providerShim } from "../../sdk/shim";
import { EngineStack, ProviderHost } from "../support/engine";
import { statusOf, withClient } from "../support/etcd";
import { liveQuota } from "../support/files";
import { RollingObserver } from "../support/rolling-observer";
import { Writer } from "../support/writer";

const MiB = 1024 ** 2;
const FROM = "3.6.16";
const TO = "3.7.3";

/** The etcd version each member reports in its Status, read with etcd3 directly. */
async function versions(cluster: SupervisedCluster): Promise<Record<string, string>> {
  const entries = await Promise.all(
    cluster.lab.members.map(async (m) => {
      const status = await withClient([m.clientUrl], (client) => client.maintenance.status());
      return [m.name, status.version] as const;
    }),
  );
  return Object.fromEntries(entries);
}

describe("a rolling etcd upgrade from 3.6 to 3.7 under EtcdQuota and EtcdCompaction (real etcd, engine protocol)", function () {
  this.timeout(480_000);

  let host: ProviderHost;
  let cluster: SupervisedCluster | undefined;

  before(async () => {
    host = await ProviderHost.start();
  });
  after(async () => {
    await cluster?.stop();
    await host?.stop();
  });

  /**
   * What an operator does on one host: point the unit at the new release's binary, then `systemctl daemon-reload &&
   * systemctl restart etcd` (the supervisor's restart command), and wait until the member reports the new version.
   */
  async function upgrade(supervised: SupervisedCluster, name: string, binary: string): Promise<void> {
    const unit = supervised.unitFile(name)!;
    const text = fs.readFileSync(unit, "utf8");
    const old = etcdBinary(FROM).etcd;
    assert.ok(text.includes(old), `${name}'s unit runs ${old}`);
    fs.writeFileSync(unit, text.replace(old, binary));
    await promisify(execFile)("/bin/sh", ["-c", supervised.restartCommand(name)], { timeout: 90_000 });
    const member = supervised.lab.member(name);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const version = await withClient(
        [member.clientUrl],
        async (client) => (await client.maintenance.status()).version,
      )
        .then((v) => v)
        .catch(() => undefined);
      if (version === TO) return;
      if (Date.now() > deadline) throw new Error(`${name} does not report ${TO} 60 s after its restart (${version})`);
      await sleep(200);
    }
  }

  it("both resources work with 3.6.16 and 3.7.3 members mixed, and a quota change mid-upgrade restarts each member once and loses no write", async () => {
    const to = etcdBinary(TO);
    cluster = await SupervisedCluster.start({ format: "systemd-unit", version: FROM, quotaBytes: 64 * MiB });
    const supervised = cluster;
    const names = supervised.lab.members.map((m) => m.name);
    const quota = new EngineStack(host, {
      provider: providerShim("quota"),
      type: "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota",
    });
    const compaction = new EngineStack(host, {
      provider: providerShim("compaction"),
      type: "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction",
    });
    const quotaInputs = (size: string) => ({ quota: size, members: supervised.quotaMembers(), restartTimeout: "60s" });
    // Maintenance is due once 5% of the quota is used; the fills below pass that, a compaction gets back under it.
    const compactionInputs = {
      endpoints: supervised.endpoints,
      when: { quotaUsageAbove: 0.05 },
      defrag: { minFreeBytes: "1MiB" },
    };
    /** Fills, refreshes (maintenance is then needed), and runs EtcdCompaction's update. */
    async function maintain(): Promise<void> {
      await fill(supervised.endpoints, { targetBytes: 8 * MiB });
      await compaction.refresh("space");
      assert.equal((await compaction.up("space", compactionInputs)).op, "update", "maintenance ran");
      for (const endpoint of supervised.endpoints) {
        const status = await statusOf(endpoint);
        assert.ok(
          status.dbSize - status.dbSizeInUse < 2 * MiB,
          `${endpoint} was defragmented: ${JSON.stringify(status)}`,
        );
      }
    }
    const writer = Writer.start(supervised.endpoints);
    let report: Awaited<ReturnType<Writer["stop"]>> | undefined;
    try {
      // Both resources take the 3.6 cluster over before the upgrade starts, as they would in a real stack.
      await quota.up("quota", quotaInputs("64MiB"));
      await compaction.up("space", compactionInputs);

      // The upgrade as operators run it: one member at a time, followers first, the leader last.
      const order = await supervised.rollingOrder();
      await upgrade(supervised, order[0], to.etcd);
      const mixed = await versions(supervised);
      assert.deepEqual(
        names.map((n) => mixed[n]),
        names.map((n) => (n === order[0] ? TO : FROM)),
        "one member on 3.7, two on 3.6",
      );

      // A quota change in the middle of the upgrade.
      const observer = RollingObserver.start(supervised);
      const changed = await quota.up("quota", quotaInputs("96MiB"));
      const seen = await observer.stop();
      assert.equal(changed.op, "update");
      assert.deepEqual([...seen.restartOrder].sort(), [...names].sort(), "each member restarted exactly once");
      assert.ok(seen.mostUnanswered <= 1, `at most one member down at a time; ${seen.mostUnanswered} at once`);
      for (const member of supervised.lab.members) {
        assert.equal(await liveQuota(member.clientUrl), 96 * MiB, `${member.name} runs the new quota`);
      }
      assert.deepEqual(await versions(supervised), mixed, "each member came back on the release it ran");

      // Compaction and a defragmentation of every member in the mixed cluster.
      await maintain();

      // The rest of the upgrade, then both resources again on an all-3.7 cluster: nothing left to change.
      await upgrade(supervised, order[1], to.etcd);
      await upgrade(supervised, order[2], to.etcd);
      assert.deepEqual(Object.values(await versions(supervised)), [TO, TO, TO]);
      const pids = names.map((n) => supervised.pid(n));
      assert.equal(
        (await quota.previewRefresh("quota", quotaInputs("96MiB"))).op,
        "same",
        "a refresh finds the quota every member runs after the upgrade: no drift",
      );
      assert.equal((await quota.up("quota", quotaInputs("96MiB"))).op, "same");
      assert.deepEqual(
        names.map((n) => supervised.pid(n)),
        pids,
        "no member restarted: the quota survived the upgrade",
      );
      await maintain();
      for (const member of supervised.lab.members) {
        assert.equal(await liveQuota(member.clientUrl), 96 * MiB, `${member.name} still runs the quota`);
      }
      report = await writer.stop();
    } finally {
      if (report === undefined) await writer.stop().catch(() => undefined);
    }
    assert.deepEqual(report.lost, [], "every acknowledged write reads back");
    assert.ok(report.acknowledged > 0);
    console.log(
      `      writer: ${report.acknowledged} acknowledged, ${report.failed} failed, longest gap ${report.longestGapMs} ms`,
    );
  });
});
