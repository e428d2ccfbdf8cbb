import * as assert from "node:assert/strict";
import { EngineStack, ProviderHost } from "../lab/engine";
import { SupervisedCluster } from "../lab/supervisor";
import { providerShim } from "../sdk/shim";
import { liveQuota } from "./support/files";

const MiB = 1024 ** 2;

describe("two runs at once through the providers (real etcd, through the engine protocol)", function () {
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

  it("EtcdCompaction started during EtcdQuota's rolling change waits lockTimeout, then fails naming the holder; the change completes", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes: 64 * MiB });
    const quota = new EngineStack(host, {
      provider: providerShim("quota"),
      type: "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota",
    });
    const compaction = new EngineStack(host, {
      provider: providerShim("compaction"),
      type: "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction",
    });
    const logStart = host.logs.length;
    const change = quota.up("quota", { quota: "96MiB", members: cluster.quotaMembers(), restartTimeout: "60s" });
    // Start the second run once the first holds the lock: its first member is being written.
    const deadline = Date.now() + 30_000;
    while (!host.logs.slice(logStart).some((line) => /EtcdQuota: m\d: .*write /.test(line))) {
      assert.ok(Date.now() < deadline, "the quota change started");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const started = Date.now();
    const second = await compaction.up("space", { endpoints: cluster.endpoints, lockTimeout: "3s" }).then(
      () => assert.fail("the second run went ahead while the first held the lock"),
      (error: unknown) => error as Error,
    );
    const waitedMs = Date.now() - started;
    assert.match(second.message, /the cluster is locked by EtcdQuota on .* \(pid \d+\).*gave up after 3\.0s/);
    assert.ok(waitedMs >= 3_000, `it waited its lockTimeout (${waitedMs} ms)`);
    assert.equal(compaction.state("space"), undefined, "nothing recorded for the second run");
    await change;
    for (const member of cluster.lab.members) assert.equal(await liveQuota(member.clientUrl), 96 * MiB, member.name);
  });
});
