import * as assert from "node:assert/strict";
import { fill } from "../../lab/fill";
import { pluginTarball, PulumiProject } from "../../lab/pulumi-cli";
import { SupervisedCluster } from "../../lab/supervisor";
import { alarmsOf, statusOf, withClient } from "../support/etcd";

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
});
