import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { BOTH_RESOURCES } from "./programs";
import { LabCluster } from "../../lab/cluster";
import { SupervisedCluster } from "../../lab/supervisor";
import { sha256 } from "../support/files";

const MiB = 1024 ** 2;

describe("a cluster that no longer answers, through the real pulumi CLI (refresh: always)", function () {
  this.timeout(600_000);
  let cluster: SupervisedCluster | undefined;
  let lab: LabCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
    await lab?.stop();
    cluster = lab = project = undefined;
  });

  it("preview and up say they cannot reach it; destroy, and an up that drops the resources, succeed and change no file", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", quotaBytes: 128 * MiB });
    project = await PulumiProject.create({ name: "gone", program: BOTH_RESOURCES });
    const config = { quota: "128MiB", ...listConfig("members", cluster.quotaMembers()) };
    await project.initStack("destroyed", config);
    await project.initStack("dropped", config);
    await project.run(["up", "--yes", "--stack", "destroyed"]);
    await project.run(["up", "--yes", "--stack", "dropped"]);

    const names = ["m1", "m2", "m3"];
    const files = names.map((name) => cluster!.configFile(name));
    const before = files.map(sha256);
    for (const name of names) await cluster.stopMember(name);
    const endpoints = cluster.endpoints;

    const preview = await project.run(["preview", "--refresh", "--diff", "--stack", "destroyed"], { check: false });
    const up = await project.run(["up", "--yes", "--stack", "destroyed"], { check: false });
    assert.match(preview.stdout + preview.stderr, /EtcdQuota resource 'quota' has a problem: members/);
    for (const result of [preview, up]) {
      assert.notEqual(result.code, 0, result.stdout);
      assert.match(result.stdout, /no member answered/);
      // Check failures name the field in the reason: with a property named, the CLI would print its whole value.
      assert.doesNotMatch(result.stdout + result.stderr, /property members value/);
      for (const endpoint of endpoints)
        assert.ok(result.stdout.includes(endpoint), `${endpoint} in:\n${result.stdout}`);
    }

    const destroy = await project.run(["destroy", "--yes", "--stack", "destroyed"], { check: false });
    assert.equal(destroy.code, 0, destroy.stdout + destroy.stderr);
    assert.match(destroy.stdout, /warning: no member answered/);
    assert.deepEqual((await project.exportState("destroyed")).deployment.resources ?? [], []);

    fs.writeFileSync(path.join(project.dir, "index.ts"), "export {};\n");
    const dropped = await project.run(["up", "--yes", "--stack", "dropped"], { check: false });
    assert.equal(dropped.code, 0, dropped.stdout + dropped.stderr);
    assert.match(dropped.stdout, /- {2}pulumi-nodejs:dynamic\/etcd-quota:EtcdQuota quota deleted/);
    assert.deepEqual(files.map(sha256), before);
  });

  it("EtcdCompaction alone: its preview shows maintenance needed, naming every endpoint, and fails under --expect-no-changes; its up fails", async () => {
    // Without EtcdQuota, whose check refuses a dead cluster first, this is what EtcdCompaction itself does.
    lab = await LabCluster.start({ members: 3 });
    project = await PulumiProject.create({
      name: "gone-compaction",
      program: `
        import * as pulumi from "@pulumi/pulumi";
        import { EtcdCompaction } from "pulumi-etcd-quota";
        new EtcdCompaction("space", { endpoints: new pulumi.Config().requireObject<string[]>("endpoints") });
      `,
    });
    await project.initStack("dev", listConfig("endpoints", lab.endpoints));
    await project.run(["up", "--yes", "--stack", "dev"]);
    const stored = await project.resource("dev", "EtcdCompaction");
    assert.equal(stored?.outputs?.maintenance, "up-to-date", "the cluster answered at the create");
    for (const member of lab.members) await lab.stopMember(member.name);

    const preview = await project.run(["preview", "--refresh", "--diff", "--stack", "dev"], { check: false });
    assert.equal(preview.code, 0, preview.stdout + preview.stderr);
    // The refresh keeps the resource and records why; the plan is the run that would bring it back up to date.
    const planned = /~ maintenance *: "needed: no member answered \(([^\n]*)\)" => "up-to-date"/.exec(preview.stdout);
    assert.ok(planned, preview.stdout);
    for (const endpoint of lab.endpoints) assert.ok(planned[1].includes(endpoint), `${endpoint} in: ${planned[1]}`);

    const scheduled = await project.run(["preview", "--refresh", "--expect-no-changes", "--stack", "dev"], {
      check: false,
    });
    assert.notEqual(scheduled.code, 0, scheduled.stdout);

    const up = await project.run(["up", "--yes", "--stack", "dev"], { check: false });
    assert.notEqual(up.code, 0, up.stdout);
    for (const endpoint of lab.endpoints) assert.ok(up.stdout.includes(endpoint), `${endpoint} in:\n${up.stdout}`);
    const after = await project.exportState("dev");
    assert.deepEqual(after.deployment.pending_operations ?? [], [], "nothing left pending");
    assert.ok(
      after.deployment.resources?.some((r) => r.type.endsWith(":EtcdCompaction")),
      "the failed up keeps the resource",
    );
  });
});
