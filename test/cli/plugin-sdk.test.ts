import * as assert from "node:assert/strict";
import * as fs from "fs";
import { fill } from "../../lab/fill";
import { installNodejsSdk } from "../../lab/nodejs-sdk";
import { listConfig, PACKAGE_VERSION, pluginTarball, PulumiProject } from "../../lab/pulumi-cli";
import { SupervisedCluster, unitLaunch } from "../../lab/supervisor";
import { alarmsOf, assertHealthy, waitHealthy, withClient } from "../support/etcd";
import { liveQuota } from "../support/files";
import { Writer } from "../support/writer";

const MiB = 1024 ** 2;

/** The usage of docs/languages.md: both resources over the plugin's TypeScript SDK, from stack config. */
const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import * as etcdquota from "@etcdquota/pulumi";

const config = new pulumi.Config();
const members = config.requireObject<etcdquota.types.input.QuotaMemberArgs[]>("members");
const quota = new etcdquota.EtcdQuota("quota", { quota: config.require("quota"), members });
const space = new etcdquota.EtcdCompaction(
  "space",
  { endpoints: members.map((m) => m.endpoint) },
  { dependsOn: [quota] },
);
export const quotaBytes = quota.quotaBytes;
export const maintenance = space.maintenance;
`;

/** The quota each member's unit file gives it. */
function fileQuotas(cluster: SupervisedCluster): number[] {
  return cluster.lab.members.map((m) => {
    const file = cluster.configFile(m.name);
    const flag = unitLaunch(fs.readFileSync(file, "utf8"), file).args.find((a) =>
      a.startsWith("--quota-backend-bytes="),
    );
    return Number(flag?.split("=")[1]);
  });
}

/** The quota each member runs, read from its /metrics. */
function liveQuotas(cluster: SupervisedCluster): Promise<number[]> {
  return Promise.all(cluster.lab.members.map((m) => liveQuota(m.clientUrl)));
}

/** How many etcd processes the supervisor (the systemd stand-in, not the provider) has started, per member. */
function starts(cluster: SupervisedCluster): number[] {
  return cluster.lab.members.map(
    (m) => fs.readFileSync(cluster.supervisorLog(m.name), "utf8").match(/ -> pid \d+$/gm)?.length ?? 0,
  );
}

describe("a TypeScript program over the plugin's SDK (@etcdquota/pulumi), through the real pulumi CLI", function () {
  this.timeout(1_200_000);
  const clusters: SupervisedCluster[] = [];
  let project: PulumiProject | undefined;
  let writer: Writer | undefined;

  afterEach(async () => {
    await writer?.stop();
    project?.remove();
    for (const cluster of clusters.splice(0)) await cluster.stop();
  });

  it("two stacks from their own config: prod's NOSPACE cleared and quota raised by up, dev's apart; Ctrl-C mid-change finishes the change", async () => {
    const prod = await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes: 64 * MiB });
    const dev = await SupervisedCluster.start({ format: "systemd-unit", members: 1, quotaBytes: 64 * MiB });
    clusters.push(prod, dev);
    assert.ok((await fill(prod.endpoints, { untilNoSpace: true })).noSpace);
    assert.ok((await alarmsOf(prod.endpoints)).length > 0, "prod is at NOSPACE");

    project = await PulumiProject.create({ name: "plugin-sdk", program: PROGRAM });
    await installNodejsSdk(project);
    await project.installPlugin(await pluginTarball());
    await project.initStack("prod", { quota: "128MiB", ...listConfig("members", prod.quotaMembers()) });
    await project.initStack("dev", { quota: "96MiB", ...listConfig("members", dev.quotaMembers()) });

    // prod: the quota raised member by member, then NOSPACE cleared; dev's member is not touched.
    const devStarts = starts(dev);
    const prodStarts = starts(prod);
    await project.run(["up", "--yes", "--stack", "prod"]);
    assert.deepEqual(
      await liveQuotas(prod),
      [128, 128, 128].map((n) => n * MiB),
      "prod runs 128 MiB",
    );
    assert.deepEqual(
      fileQuotas(prod),
      [128, 128, 128].map((n) => n * MiB),
      "prod's unit files say 128 MiB",
    );
    assert.deepEqual(
      starts(prod).map((n, i) => n - prodStarts[i]),
      [1, 1, 1],
      "each prod member restarted once",
    );
    assert.deepEqual(await alarmsOf(prod.endpoints), [], "NOSPACE is cleared");
    await withClient(prod.endpoints, (client) => client.put("after-up").value("ok").exec());
    assert.deepEqual(starts(dev), devStarts, "dev's member did not restart");
    assert.deepEqual(await liveQuotas(dev), [64 * MiB]);

    // The state names the package's own types and the plugin version the SDK asked for.
    const state = await project.exportState("prod");
    const types = (state.deployment.resources ?? []).map((r) => r.type);
    assert.ok(
      types.includes("etcdquota:index:EtcdQuota") && types.includes("etcdquota:index:EtcdCompaction"),
      `${types}`,
    );
    const provider = state.deployment.resources?.find((r) => r.type === "pulumi:providers:etcdquota");
    assert.equal(provider?.inputs?.version, PACKAGE_VERSION);

    // dev: its own quota from its own config; prod untouched.
    const prodBefore = starts(prod);
    await project.run(["up", "--yes", "--stack", "dev"]);
    assert.deepEqual(await liveQuotas(dev), [96 * MiB], "dev runs 96 MiB");
    assert.deepEqual(fileQuotas(dev), [96 * MiB]);
    assert.deepEqual(starts(prod), prodBefore, "prod did not restart");
    assert.deepEqual(
      await liveQuotas(prod),
      [128, 128, 128].map((n) => n * MiB),
    );

    // Ctrl-C once (SIGINT to the CLI's process group, as a terminal sends it) as soon as a member runs 192 MiB, read
    // off its /metrics (the plugin's progress lines do not reach the CLI's output): the change in flight runs to its
    // end, with a writer losing nothing.
    writer = Writer.start(prod.endpoints);
    await project.setConfig("prod", { quota: "192MiB" });
    const before = starts(prod);
    let pid: number | undefined;
    let sent = 0;
    let finished = false;
    const interrupt = (async () => {
      while (!finished && sent === 0) {
        const live = await Promise.all(prod.lab.members.map((m) => liveQuota(m.clientUrl).catch(() => NaN)));
        if (pid !== undefined && live.includes(192 * MiB)) {
          sent++;
          process.kill(-pid, "SIGINT");
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const result = await project.run(["up", "--yes", "--stack", "prod"], {
      check: false,
      onSpawn: (child) => (pid = child.pid),
    });
    finished = true;
    await interrupt;
    assert.equal(sent, 1, result.stdout);
    assert.notEqual(result.code, 0, "an interrupted up does not report success");
    assert.match(result.stdout, /error: update canceled/);
    assert.deepEqual(
      starts(prod).map((n, i) => n - before[i]),
      [1, 1, 1],
      "the change went on to every member, each restarted once",
    );
    assert.deepEqual(
      await liveQuotas(prod),
      [192, 192, 192].map((n) => n * MiB),
    );
    assert.deepEqual(
      fileQuotas(prod),
      [192, 192, 192].map((n) => n * MiB),
    );
    await waitHealthy(prod.endpoints);
    await assertHealthy(prod.endpoints);
    const interrupted = await project.exportState("prod");
    assert.deepEqual(interrupted.deployment.pending_operations ?? [], [], "the step finished: nothing pending");
    const quota = interrupted.deployment.resources?.find((r) => r.type === "etcdquota:index:EtcdQuota");
    assert.equal(quota?.outputs?.quotaBytes, 192 * MiB, "the state tells the truth");
    assert.deepEqual((await writer.stop()).lost, []);
    writer = undefined;

    const clean = await project.run(["preview", "--refresh", "--expect-no-changes", "--stack", "prod"], {
      check: false,
    });
    assert.equal(clean.code, 0, clean.stdout);
  });
});
