import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { LabCluster } from "../../lab/cluster";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { alarmsOf, fillToNoSpace, statusOf, withClient } from "../support/etcd";

const MiB = 1024 ** 2;

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction } from "pulumi-etcd-quota";

const config = new pulumi.Config();
new EtcdCompaction("space", { endpoints: config.requireObject<string[]>("endpoints") });
`;

/** `npx --no etcd-quota ARGS` in the program folder: the command as the installed package's `bin` gives it. */
function npxEtcdQuota(dir: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile("npx", ["--no", "etcd-quota", ...args], { cwd: dir, timeout: 180_000 }, (error, stdout, stderr) => {
      const code = error ? (error as { code?: unknown }).code : 0;
      if (typeof code !== "number") reject(error);
      else resolve({ code, output: stdout + stderr });
    });
  });
}

describe("the break-glass command next to a stack through the real pulumi CLI", function () {
  // Three CLI runs, a project install and a fill: it took 10 min on 2 cores at a load average of ~30.
  this.timeout(1_200_000);
  let cluster: LabCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
  });

  it("after `npx etcd-quota maintain` cleared NOSPACE, preview --refresh --expect-no-changes of the stack shows no change", async () => {
    cluster = await LabCluster.start({ members: 3, quotaBytes: 48 * MiB });
    const endpoints = cluster.endpoints;
    project = await PulumiProject.create({ name: "break-glass", program: PROGRAM });
    await project.initStack("dev", listConfig("endpoints", endpoints));
    await project.run(["up", "--yes", "--stack", "dev"]);

    await fillToNoSpace(endpoints);
    const before = await Promise.all(endpoints.map(statusOf));
    const drifted = await project.run(["preview", "--refresh", "--expect-no-changes", "--stack", "dev"], {
      check: false,
    });
    assert.notEqual(drifted.code, 0, "at NOSPACE the stack shows drift");

    const result = await npxEtcdQuota(project.dir, ["maintain", "--endpoints", endpoints.join(",")]);
    assert.equal(result.code, 0, result.output);
    assert.deepEqual(await alarmsOf(endpoints), []);
    await withClient(endpoints, (client) => client.put("after-break-glass").value("ok").exec());
    for (const [i, endpoint] of endpoints.entries()) {
      const after = await statusOf(endpoint);
      assert.ok(after.dbSize < before[i].dbSize / 4, `${endpoint} shrank from ${before[i].dbSize} to ${after.dbSize}`);
    }

    const clean = await project.run(["preview", "--refresh", "--expect-no-changes", "--diff", "--stack", "dev"], {
      check: false,
    });
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  });
});
