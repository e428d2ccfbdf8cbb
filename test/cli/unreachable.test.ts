import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { BOTH_RESOURCES } from "./programs";
import { SupervisedCluster } from "../../lab/supervisor";
import { sha256 } from "../support/files";

const MiB = 1024 ** 2;

describe("a cluster that no longer answers, through the real pulumi CLI (refresh: always)", function () {
  this.timeout(600_000);
  let cluster: SupervisedCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
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
});
