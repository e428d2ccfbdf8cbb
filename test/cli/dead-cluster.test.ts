import * as assert from "node:assert/strict";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { BOTH_RESOURCES } from "./programs";
import { SupervisedCluster } from "../../lab/supervisor";

const MiB = 1024 ** 2;

/** How often `text` occurs in `output`. */
function count(output: string, text: string): number {
  return output.split(text).length - 1;
}

describe("a cluster with every member stopped, as pulumi preview --refresh tells it", function () {
  this.timeout(600_000);
  let cluster: SupervisedCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
  });

  it("names each endpoint once, says it once, and shows no plan of the last refresh", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", quotaBytes: 128 * MiB });
    project = await PulumiProject.create({ name: "dead", program: BOTH_RESOURCES });
    await project.initStack("dev", { quota: "128MiB", ...listConfig("members", cluster.quotaMembers()) });
    await project.run(["up", "--yes", "--stack", "dev"]);
    const endpoints = cluster.endpoints;
    for (const name of ["m1", "m2", "m3"]) await cluster.stopMember(name);

    const preview = await project.run(["preview", "--refresh", "--stack", "dev"], { check: false });
    const output = preview.stdout + preview.stderr;
    assert.notEqual(preview.code, 0, output);
    // The CLI prints a provider's lines twice: as they come, and again under "Diagnostics:".
    const [live, diagnostics] = output.split(/^Diagnostics:$/m);
    assert.ok(diagnostics !== undefined, output);
    for (const part of [live, diagnostics]) {
      assert.equal(count(part, "no member answered (http"), 1, `told in full once:\n${part}`);
      for (const endpoint of endpoints) assert.equal(count(part, `${endpoint}:`), 1, `${endpoint} once in:\n${part}`);
    }
    assert.match(output, /EtcdQuota resource 'quota' has a problem: members: no member answered/);
    assert.doesNotMatch(output, /plan as of the last refresh|maintenance is due/);
  });
});
