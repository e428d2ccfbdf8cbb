import * as assert from "node:assert/strict";
import * as fs from "fs";
import { fill } from "../../lab/fill";
import { pluginTarball, PulumiProject } from "../../lab/pulumi-cli";
import { type QuotaMemberInput, SupervisedCluster } from "../../lab/supervisor";
import { alarmsOf, statusOf, withClient } from "../support/etcd";
import { assertOnlyQuotaChanged, liveQuota } from "../support/files";
import { RollingObserver } from "../support/rolling-observer";
import { Writer } from "../support/writer";

const MiB = 1024 ** 2;

/** The program's body: the runbook's EtcdCompaction over the cluster's endpoints. */
function program(endpoints: readonly string[]): string {
  return `options:
  refresh: always
resources:
  space:
    type: etcdquota:index:EtcdCompaction
    properties:
      endpoints: ${JSON.stringify(endpoints)}
outputs:
  maintenance: \${space.maintenance}
`;
}

/**
 * The README's YAML program for EtcdQuota: the quota from stack config, the members written out (as JSON, which is
 * YAML). The config key is not the resource's name: Pulumi YAML (1.25.0) lets a config key shadow a resource of the
 * same name without a word, and the resource then is neither created nor updated: `pulumi up` exits 0 having changed
 * nothing.
 */
function quotaProgram(members: readonly QuotaMemberInput[]): string {
  return `options:
  refresh: always
config:
  quotaSize:
    type: string
resources:
  quota:
    type: etcdquota:index:EtcdQuota
    properties:
      quota: \${quotaSize}
      members: ${JSON.stringify(members)}
`;
}

describe("a Pulumi YAML program over the provider plugin, through the real pulumi CLI", function () {
  this.timeout(900_000);
  let cluster: SupervisedCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
  });

  it("clears NOSPACE with pulumi up, shows drift with preview --refresh, and destroys a dead cluster's stack", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", quotaBytes: 64 * MiB });
    const supervised = cluster;
    const endpoints = supervised.endpoints;
    assert.ok((await fill(endpoints, { untilNoSpace: true })).noSpace);
    const sizesBefore = await Promise.all(endpoints.map(async (e) => (await statusOf(e)).dbSize));

    project = PulumiProject.createYaml({ name: "yaml-runbook", program: program(endpoints) });
    await project.installPlugin(await pluginTarball());
    await project.run(["stack", "init", "dev"]);

    // The runbook: NOSPACE cleared by `pulumi up`.
    await project.run(["up", "--yes", "--stack", "dev"]);
    assert.deepEqual(await alarmsOf(endpoints), []);
    await withClient(endpoints, (client) => client.put("after-up").value("ok").exec());
    const sizesAfter = await Promise.all(endpoints.map(async (e) => (await statusOf(e)).dbSize));
    sizesAfter.forEach((size, i) => assert.ok(size < sizesBefore[i], `member ${i}: ${size} < ${sizesBefore[i]}`));
    const space = await project.resource("dev", "EtcdCompaction");
    assert.equal(space?.type, "etcdquota:index:EtcdCompaction");
    assert.equal((await project.outputs("dev")).maintenance, "up-to-date");

    // Nothing changed since: a refreshing preview expects no change and passes.
    const clean = await project.run(["preview", "--refresh", "--expect-no-changes", "--diff", "--stack", "dev"], {
      check: false,
    });
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);

    // Drift: the cluster at NOSPACE again. The detailed diff names the property, old and new.
    assert.ok((await fill(endpoints, { untilNoSpace: true })).noSpace);
    const drifted = await project.run(["preview", "--refresh", "--expect-no-changes", "--diff", "--stack", "dev"], {
      check: false,
    });
    assert.notEqual(drifted.code, 0, drifted.stdout);
    assert.match(drifted.stdout, /maintenance\s*:\s*"needed: [^"]*NOSPACE alarm[^"]*" => "up-to-date"/);

    // A dead cluster: destroy still goes through, and touches nothing (nothing runs to touch).
    await supervised.stop();
    cluster = undefined;
    await project.run(["destroy", "--yes", "--stack", "dev"]);
    const after = await project.exportState("dev");
    assert.deepEqual(
      (after.deployment.resources ?? []).filter((r) => r.type.startsWith("etcdquota:index:")),
      [],
      "both resources are gone from the state",
    );
  });

  it("adopts a cluster at its quota, then raises it member by member with a writer losing nothing", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", quotaBytes: 64 * MiB });
    const supervised = cluster;
    const names = ["m1", "m2", "m3"];
    project = PulumiProject.createYaml({ name: "yaml-quota", program: quotaProgram(supervised.quotaMembers()) });
    await project.installPlugin(await pluginTarball());
    await project.run(["stack", "init", "dev"]);
    await project.run(["config", "set", "quotaSize", "64MiB", "--stack", "dev"]);

    // Declared at the quota it runs: the resource is created, and no member restarts.
    const pidsBefore = names.map((name) => supervised.pid(name));
    await project.run(["up", "--yes", "--stack", "dev"]);
    assert.equal((await project.resource("dev", "EtcdQuota"))?.type, "etcdquota:index:EtcdQuota");
    assert.deepEqual(
      names.map((name) => supervised.pid(name)),
      pidsBefore,
      "adopting restarted nothing",
    );

    const files = names.map((name) => fs.readFileSync(supervised.configFile(name), "utf8"));
    const order = await supervised.rollingOrder();
    await project.run(["config", "set", "quotaSize", "128MiB", "--stack", "dev"]);
    const writer = Writer.start(supervised.endpoints);
    const observer = RollingObserver.start(supervised);
    const up = await project.run(["up", "--yes", "--stack", "dev"]);
    const rolling = await observer.stop();
    const written = await writer.stop();

    for (const [i, name] of names.entries()) {
      assert.equal(await liveQuota(supervised.lab.member(name).clientUrl), 128 * MiB, `${name} runs 128 MiB`);
      const after = fs.readFileSync(supervised.configFile(name), "utf8");
      assertOnlyQuotaChanged(files[i], after, 64 * MiB, 128 * MiB, `${name}'s unit`);
      assert.notEqual(supervised.pid(name), pidsBefore[i], `${name} was restarted`);
    }
    assert.deepEqual(rolling.restartOrder, order, "followers first, the leader last, each once");
    assert.ok(rolling.mostUnanswered <= 1, `at most one member down at a time (saw ${rolling.mostUnanswered})`);
    assert.ok(written.acknowledged > 0, "the writer wrote during the change");
    assert.deepEqual(written.lost, [], "every acknowledged write reads back");
    // The progress lines the dynamic classes print, shown by the CLI (sent through the engine's Log service).
    for (const name of order) {
      assert.match(up.stdout, new RegExp(`EtcdQuota quota \\(cluster [0-9a-f]+\\): ${name}: back with quota 128 MiB`));
    }
  });
});
