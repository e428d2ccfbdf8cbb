import * as assert from "node:assert/strict";
import { EngineStack, ProviderHost } from "../support/engine";
import { acquireClusterLock } from "../../provider/etcd/lock";
import { validateAccess } from "../../provider/inputs/access";
import { SupervisedCluster } from "../../lab/supervisor";
import { providerShim } from "../../sdk/shim";
import { statusOf, withClient } from "../support/etcd";
import { liveQuota, sha256 } from "../support/files";

const MiB = 1024 ** 2;

describe("what the providers leave alone: the cluster on delete, each other's runs (real etcd, engine protocol)", function () {
  this.timeout(180_000);
  let host: ProviderHost;
  let cluster: SupervisedCluster | undefined;

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

  /** One stack per resource, as two programs (or two resources of one) would have. */
  function stacks(): { quota: EngineStack; compaction: EngineStack } {
    return {
      quota: new EngineStack(host, {
        provider: providerShim("quota"),
        type: "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota",
      }),
      compaction: new EngineStack(host, {
        provider: providerShim("compaction"),
        type: "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction",
      }),
    };
  }

  it("destroying EtcdQuota and EtcdCompaction leaves every file, process, quota, key and revision as it was", async () => {
    cluster = await SupervisedCluster.start({ format: "env-file", members: 3, quotaBytes: 64 * MiB });
    const { quota, compaction } = stacks();
    await quota.up("quota", { quota: "96MiB", members: cluster.quotaMembers(), restartTimeout: "60s" });
    await compaction.up("space", { endpoints: cluster.endpoints });

    // History that a compaction would make unreadable, written after the last run.
    const old = await withClient(cluster.endpoints, async (client) => {
      const { header } = await client.put("delete/history").value("first").exec();
      await client.put("delete/history").value("second").exec();
      return Number(header.revision);
    });
    const names = cluster.lab.members.map((m) => m.name);
    const snapshot = async () => ({
      files: names.map((name) => sha256(cluster!.configFile(name))),
      pids: names.map((name) => cluster!.pid(name)),
      quotas: await Promise.all(cluster!.lab.members.map((m) => liveQuota(m.clientUrl))),
      revisions: await Promise.all(cluster!.endpoints.map(async (e) => (await statusOf(e)).revision)),
    });
    const before = await snapshot();
    assert.deepEqual(before.quotas, [96 * MiB, 96 * MiB, 96 * MiB], "the change was made");

    await compaction.destroy("space");
    await quota.destroy("quota");

    assert.deepEqual(await snapshot(), before, "files, processes, quotas and revisions are as they were");
    const history = await withClient(cluster.endpoints, (client) =>
      client.get("delete/history").revision(old).string(),
    );
    assert.equal(history, "first", "nothing was compacted");
    assert.equal(quota.state("quota"), undefined);
    assert.equal(compaction.state("space"), undefined);
  });

  it("a run that finds the cluster lock held waits lockTimeout, fails naming the holder and changes nothing; then it runs", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes: 64 * MiB });
    const { quota, compaction } = stacks();
    const names = cluster.lab.members.map((m) => m.name);
    const files = () => names.map((name) => sha256(cluster!.configFile(name)));
    const pids = () => names.map((name) => cluster!.pid(name));
    const old = await withClient(cluster.endpoints, async (client) => {
      const { header } = await client.put("lock/history").value("first").exec();
      await client.put("lock/history").value("second").exec();
      return Number(header.revision);
    });
    const before = { files: files(), pids: pids() };
    // Another run, as each run takes the lock (a stack elsewhere, another pulumi up).
    const held = await acquireClusterLock(
      validateAccess({ endpoints: cluster.endpoints }),
      { holder: "EtcdQuota", waitMs: 1_000 },
      () => undefined,
    );
    try {
      for (const [stack, name, inputs] of [
        [compaction, "space", { endpoints: cluster.endpoints, lockTimeout: "3s" }],
        [quota, "quota", { quota: "96MiB", members: cluster.quotaMembers(), lockTimeout: "3s" }],
      ] as const) {
        const started = Date.now();
        const error = await stack.up(name, inputs).then(
          () => assert.fail(`${name} went ahead while another run held the lock`),
          (e: unknown) => e as Error,
        );
        const waitedMs = Date.now() - started;
        assert.match(error.message, /the cluster is locked by EtcdQuota on .* \(pid \d+\).*gave up after 3\.0s/);
        assert.ok(waitedMs >= 3_000, `${name} waited its lockTimeout (${waitedMs} ms)`);
        assert.equal(stack.state(name), undefined, `nothing recorded for ${name}`);
      }
      assert.deepEqual({ files: files(), pids: pids() }, before, "no file written, no member restarted");
      const history = await withClient(cluster.endpoints, (client) =>
        client.get("lock/history").revision(old).string(),
      );
      assert.equal(history, "first", "nothing compacted");
    } finally {
      await held.release();
    }
    await quota.up("quota", { quota: "96MiB", members: cluster.quotaMembers(), restartTimeout: "60s" });
    for (const member of cluster.lab.members) assert.equal(await liveQuota(member.clientUrl), 96 * MiB, member.name);
  });
});
