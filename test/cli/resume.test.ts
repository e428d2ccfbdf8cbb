import * as assert from "node:assert/strict";
import { LabCluster } from "../../lab/cluster";
import { fill, verifyFill } from "../../lab/fill";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { SupervisedCluster } from "../../lab/supervisor";
import { statusOf } from "../support/etcd";
import { liveQuota } from "../support/files";

const MiB = 1024 ** 2;

describe("a run that stops part way, then the next plain pulumi up finishes it (real CLI, refresh: always)", function () {
  this.timeout(600_000);
  let lab: LabCluster | undefined;
  let supervised: SupervisedCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await lab?.stop();
    await supervised?.stop();
    lab = supervised = project = undefined;
  });

  it("EtcdCompaction: a member SIGKILLed in its defrag fails the up naming it; once it is back, up defragments it although the refresh finds nothing due", async () => {
    lab = await LabCluster.start({ members: 3 });
    // About 120 MiB of live data, which every defrag copies (seconds, so a SIGKILL sent as it starts lands inside it),
    // then about 130 MiB of history, which the compaction frees and only a defrag gives back.
    const live = await fill(lab.endpoints, { targetBytes: 120 * MiB, keys: 1000, keyPrefix: "resume/live/" });
    const history = await fill(lab.endpoints, { targetBytes: 250 * MiB, keyPrefix: "resume/churn/" });
    const filled = new Map([...live.lastValues, ...history.lastValues]);
    project = await PulumiProject.create({
      name: "resume-compaction",
      program: `
        import * as pulumi from "@pulumi/pulumi";
        import { EtcdCompaction } from "pulumi-etcd-quota";
        const space = new EtcdCompaction("space", { endpoints: new pulumi.Config().requireObject<string[]>("endpoints") });
        export const maintenance = space.maintenance;
      `,
    });
    await project.initStack("dev", listConfig("endpoints", lab.endpoints));

    let victim: string | undefined;
    const kill = /EtcdCompaction[^:\n]*: defrag (m\d): .*allowing up to/;
    const failed = await project.run(["up", "--yes", "--stack", "dev"], {
      check: false,
      onOutput: (text) => {
        const match = kill.exec(text);
        if (match && victim === undefined) {
          victim = match[1];
          void lab!.stopMember(victim, "SIGKILL");
        }
      },
    });
    assert.ok(victim, failed.stdout);
    assert.notEqual(failed.code, 0, failed.stdout);
    assert.match(
      failed.stdout,
      new RegExp(`maintenance stopped at defrag ${victim}: etcd member ${lab.member(victim).clientUrl}`),
    );
    const victimUrl = lab.member(victim).clientUrl;

    await lab.startMember(victim);
    // The member restarted with its history compacted but not defragmented (the kill landed inside the defrag: its
    // file still holds the freed pages); under the default thresholds a refresh alone sees nothing due (less than
    // 256 MiB reclaimable), which is what makes this a resume.
    const before = await statusOf(victimUrl);
    const reclaimable = before.dbSize - before.dbSizeInUse;
    assert.ok(reclaimable > 100 * MiB, `${victim} was not defragmented: ${before.dbSize} B, ${reclaimable} B free`);
    assert.ok(reclaimable < 256 * MiB, `nothing due at a refresh: ${reclaimable} B free`);

    const resumed = await project.run(["up", "--yes", "--stack", "dev"]);
    assert.match(resumed.stdout, new RegExp(`defrag ${victim}: .* -> `));
    const after = await statusOf(victimUrl);
    assert.ok(
      after.dbSize < before.dbSize - 100 * MiB && after.dbSize - after.dbSizeInUse < 16 * MiB,
      `${victim} is defragmented: ${before.dbSize} B -> ${after.dbSize} B (${after.dbSizeInUse} B in use)`,
    );
    assert.equal((await project.outputs("dev")).maintenance, "up-to-date");
    assert.deepEqual(await verifyFill(lab.endpoints, filled), []);
  });

  it("EtcdQuota: a member that does not come back is rolled back and fails the up naming it; the next up raises every member", async () => {
    supervised = await SupervisedCluster.start({ format: "systemd-unit", quotaBytes: 128 * MiB });
    const cluster = supervised;
    project = await PulumiProject.create({
      name: "resume-quota",
      program: `
        import * as pulumi from "@pulumi/pulumi";
        import { EtcdQuota, QuotaMemberArgs } from "pulumi-etcd-quota";
        const config = new pulumi.Config();
        const members = config.requireObject<QuotaMemberArgs[]>("members");
        const quota = new EtcdQuota("quota", { quota: config.require("quota"), members, restartTimeout: "20s" });
        export const quotaBytes = quota.quotaBytes;
      `,
    });
    await project.initStack("dev", { quota: "128MiB", ...listConfig("members", cluster.quotaMembers()) });
    await project.run(["up", "--yes", "--stack", "dev"]);

    const [, victim] = await cluster.rollingOrder();
    cluster.breakNextStart(victim);
    await project.setConfig("dev", { quota: "256MiB" });
    const failed = await project.run(["up", "--yes", "--stack", "dev"], { check: false });
    assert.notEqual(failed.code, 0, failed.stdout);
    assert.match(failed.stdout, new RegExp(`quota change stopped at ${victim}`));
    const victimUrl = cluster.lab.member(victim).clientUrl;
    assert.equal(await liveQuota(victimUrl), 128 * MiB, `${victim} was rolled back`);
    // The engine's rule for a failed update, which the stand-in (test/support/engine.ts) models: the old inputs stay, with the
    // outputs the provider reported, and the failure as init errors.
    const stored = await project.resource("dev", "EtcdQuota");
    assert.equal(stored?.inputs?.quota, "128MiB", "the old inputs are kept");
    assert.equal(stored?.outputs?.quotaBytes, 256 * MiB, "the outputs are the partial record");
    assert.match(stored?.initErrors?.[0] ?? "", new RegExp(`quota change stopped at ${victim}`));

    await project.run(["up", "--yes", "--stack", "dev"]);
    for (const name of ["m1", "m2", "m3"]) {
      assert.equal(await liveQuota(cluster.lab.member(name).clientUrl), 256 * MiB, `${name} runs 256 MiB`);
    }
    const clean = await project.run(["preview", "--refresh", "--expect-no-changes", "--stack", "dev"], {
      check: false,
    });
    assert.equal(clean.code, 0, clean.stdout);
  });
});
