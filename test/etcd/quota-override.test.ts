import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { EngineStack, PartialFailure, ProviderHost } from "../support/engine";
import { SupervisedCluster } from "../../lab/supervisor";
import { providerShim } from "../../sdk/shim";
import { liveQuota, sha256 } from "../support/files";

const MiB = 1024 ** 2;
const TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";

describe("EtcdQuota when something overrides a member's file (real etcd)", function () {
  this.timeout(180_000);
  let host: ProviderHost | undefined;
  let cluster: SupervisedCluster | undefined;

  afterEach(async () => {
    await host?.stop();
    await cluster?.stop();
    host = cluster = undefined;
  });

  it("a member that comes back with another quota than its file says is rolled back, the run stops there naming the file, and no later member is touched", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes: 64 * MiB });
    host = await ProviderHost.start();
    const [first, ...later] = await cluster.rollingOrder();
    // The provider is pointed at a copy of the first member's unit while the supervisor keeps starting etcd from the
    // real one: exactly what a drop-in with its own flag, or a unit elsewhere on the host, does to an edit.
    const decoy = path.join(path.dirname(cluster.configFile(first)), "decoy.service");
    fs.copyFileSync(cluster.configFile(first), decoy);
    const decoyHash = sha256(decoy);
    const files = new Map(cluster.lab.members.map((m) => [m.name, sha256(cluster!.configFile(m.name))]));
    const pids = new Map(cluster.lab.members.map((m) => [m.name, cluster!.pid(m.name)]));
    const members = cluster
      .quotaMembers()
      .map((m, i) => (cluster!.lab.members[i].name === first ? { ...m, configFile: decoy } : m));

    const stack = new EngineStack(host, { provider: providerShim("quota"), type: TYPE });
    const failure = await stack.up("quota", { quota: "96MiB", members, restartTimeout: "5s" }).then(
      () => assert.fail("the member never runs the new quota: the change cannot succeed"),
      (error: unknown) => error,
    );

    assert.ok(failure instanceof PartialFailure, String(failure));
    assert.match(
      failure.message,
      new RegExp(
        `^quota change stopped at ${first}: ${first} came back with quota 64 MiB, not 96 MiB: something overrides ${decoy.replace(/[.]/g, "\\.")} `,
      ),
    );
    assert.equal(sha256(decoy), decoyHash, "the file the provider edited is restored byte for byte");
    assert.notEqual(cluster.pid(first), pids.get(first), `${first} was restarted`);
    assert.equal(await liveQuota(cluster.lab.member(first).clientUrl), 64 * MiB, `${first} runs the old quota`);
    for (const name of later) {
      assert.equal(cluster.pid(name), pids.get(name), `${name} was not restarted`);
      assert.equal(sha256(cluster.configFile(name)), files.get(name), `${name}'s file is untouched`);
      assert.equal(await liveQuota(cluster.lab.member(name).clientUrl), 64 * MiB, `${name} runs the old quota`);
    }
  });
});
