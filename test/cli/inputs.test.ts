import * as assert from "node:assert/strict";
import { LabCluster } from "../../lab/cluster";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { statusOf } from "../support/etcd";

// Stack config spread into the args, as program/index.ts does: where a typo in a stack file lands in a program.
const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction } from "pulumi-etcd-quota";

const config = new pulumi.Config();
new EtcdCompaction("space", {
  endpoints: config.requireObject<string[]>("endpoints"),
  ...config.requireObject<Record<string, unknown>>("compaction"),
});
`;

describe("a misspelled input through the real pulumi CLI", function () {
  this.timeout(300_000);
  let cluster: LabCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
  });

  it("fails pulumi preview naming the input and the name it meant, and an up changes nothing", async () => {
    cluster = await LabCluster.start({ members: 1 });
    const [endpoint] = cluster.endpoints;
    project = await PulumiProject.create({ name: "typo", program: PROGRAM });
    await project.initStack("dev", {
      ...listConfig("endpoints", cluster.endpoints),
      compaction: JSON.stringify({ retainRevison: 1000 }),
    });
    const revisionBefore = (await statusOf(endpoint)).revision;

    const preview = await project.run(["preview", "--stack", "dev"], { check: false });
    assert.notEqual(preview.code, 0, preview.stdout);
    assert.match(preview.stdout + preview.stderr, /retainRevison: unknown input; did you mean retainRevisions\?/);
    const up = await project.run(["up", "--yes", "--stack", "dev"], { check: false });
    assert.notEqual(up.code, 0, up.stdout);
    assert.match(up.stdout + up.stderr, /retainRevison: unknown input; did you mean retainRevisions\?/);
    const state = await project.exportState("dev");
    assert.ok(!state.deployment.resources?.some((r) => r.type.endsWith(":EtcdCompaction")), "no resource was created");
    assert.equal((await statusOf(endpoint)).revision, revisionBefore, "nothing was compacted or written");
  });
});
