import * as assert from "node:assert/strict";
import { LabCluster } from "../../lab/cluster";
import { fill } from "../../lab/fill";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { alarmsOf, withClient } from "../support/etcd";

const MiB = 1024 ** 2;

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction } from "pulumi-etcd-quota";

const config = new pulumi.Config();
const space = new EtcdCompaction("space", { endpoints: config.requireObject<string[]>("endpoints") });
export const maintenance = space.maintenance;
export const alarmsDisarmed = space.alarmsDisarmed;
`;

describe("the runbook through the real pulumi CLI", function () {
  this.timeout(600_000);
  let cluster: LabCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
  });

  it("clears NOSPACE with pulumi up, then preview --refresh --expect-no-changes passes until the cluster fills again", async () => {
    cluster = await LabCluster.start({ members: 3, quotaBytes: 64 * MiB });
    const endpoints = cluster.endpoints;
    assert.ok((await fill(endpoints, { untilNoSpace: true })).noSpace);
    project = await PulumiProject.create({ name: "runbook", program: PROGRAM });
    await project.initStack("dev", listConfig("endpoints", endpoints));

    await project.run(["up", "--yes", "--stack", "dev"]);
    assert.deepEqual(await alarmsOf(endpoints), []);
    // Writes are accepted again: the way out of the runbook's "database space exceeded".
    await withClient(endpoints, (client) => client.put("after-up").value("ok").exec());
    const outputs = await project.outputs("dev");
    assert.equal(outputs.maintenance, "up-to-date");
    assert.equal((outputs.alarmsDisarmed as string[]).length > 0, true);

    const clean = await project.run(["preview", "--refresh", "--expect-no-changes", "--diff", "--stack", "dev"], {
      check: false,
    });
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);

    assert.ok((await fill(endpoints, { untilNoSpace: true })).noSpace);
    const drifted = await project.run(["preview", "--refresh", "--expect-no-changes", "--diff", "--stack", "dev"], {
      check: false,
    });
    assert.notEqual(drifted.code, 0, drifted.stdout);
    assert.match(drifted.stdout, /maintenance\s*:\s*"needed: [^"]*NOSPACE alarm[^"]*" => "up-to-date"/);

    await project.run(["up", "--yes", "--stack", "dev"]);
    assert.deepEqual(await alarmsOf(endpoints), []);
    await withClient(endpoints, (client) => client.put("after-second-up").value("ok").exec());
  });
});
