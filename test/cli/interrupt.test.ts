import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { SupervisedCluster, unitLaunch } from "../../lab/supervisor";
import { Writer } from "../support/writer";
import { assertHealthy, waitHealthy } from "../support/etcd";
import { liveQuota } from "../support/files";
import { RollingObserver } from "../support/rolling-observer";

const MiB = 1024 ** 2;
const NAMES = ["m1", "m2", "m3"];

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdQuota, QuotaMemberArgs } from "pulumi-etcd-quota";

const config = new pulumi.Config();
const members = config.requireObject<QuotaMemberArgs[]>("members");
export const quotaBytes = new EtcdQuota("quota", { quota: config.require("quota"), members }).quotaBytes;
`;

describe("Ctrl-C during a rolling EtcdQuota change through the real pulumi CLI, with a writer running", function () {
  this.timeout(600_000);
  let cluster: SupervisedCluster | undefined;
  let project: PulumiProject | undefined;
  let writer: Writer | undefined;

  afterEach(async () => {
    await writer?.stop();
    project?.remove();
    await cluster?.stop();
  });

  /** Every member runs what its unit file says. */
  async function assertFilesLive(supervised: SupervisedCluster): Promise<void> {
    for (const name of NAMES) {
      const file = supervised.configFile(name);
      const flag = unitLaunch(fs.readFileSync(file, "utf8"), file).args.find((a) =>
        a.startsWith("--quota-backend-bytes="),
      );
      assert.equal(Number(flag?.split("=")[1]), await liveQuota(supervised.lab.member(name).clientUrl), name);
    }
  }

  /** How many etcd processes the supervisor (the systemd stand-in, not the provider) has started for a member. */
  function startsOf(supervised: SupervisedCluster, name: string): number {
    return fs.readFileSync(supervised.supervisorLog(name), "utf8").match(/ -> pid \d+$/gm)?.length ?? 0;
  }

  /**
   * A cluster at 128 MiB and its stack, then `pulumi up` to 192 MiB, interrupted as a terminal does (SIGINT to the
   * CLI's process group) `signals` times, right after the first member is back with the new quota.
   */
  async function interruptedUp(signals: number) {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", quotaBytes: 128 * MiB });
    const supervised = cluster;
    project = await PulumiProject.create({ name: "interrupt", program: PROGRAM });
    await project.initStack("dev", { quota: "128MiB", ...listConfig("members", supervised.quotaMembers()) });
    await project.run(["up", "--yes", "--stack", "dev"]);
    writer = Writer.start(supervised.endpoints);

    await project.setConfig("dev", { quota: "192MiB" });
    const startsBefore = NAMES.map((name) => startsOf(supervised, name));
    const observer = RollingObserver.start(supervised);
    let pid: number | undefined;
    let sent = 0;
    const result = await project.run(["up", "--yes", "--stack", "dev"], {
      check: false,
      onSpawn: (child) => (pid = child.pid),
      onOutput: (text) => {
        if (sent === 0 && /EtcdQuota[^:\n]*: m\d: back with quota 192 MiB in effect/.test(text)) {
          // A person's second Ctrl-C comes a moment later; two at once reach the CLI as one.
          const press = () => {
            sent++;
            process.kill(-pid!, "SIGINT");
            if (sent < signals) setTimeout(press, 500);
          };
          press();
        }
      },
    });
    const observed = await observer.stop();
    assert.equal(sent, signals, result.stdout);
    const starts = NAMES.map((name, i) => startsOf(supervised, name) - startsBefore[i]);
    return { supervised, result, observed, starts };
  }

  it("one Ctrl-C: the running change finishes every member, the stack records it, nothing is lost", async () => {
    const { supervised, result, observed, starts } = await interruptedUp(1);
    assert.notEqual(result.code, 0, "an interrupted up does not report success");
    assert.match(result.stdout, /error: update canceled/);
    // The Ctrl-C came after the first member was back: the change went on to the others, each restarted once.
    assert.deepEqual(starts, [1, 1, 1], "etcd processes the supervisor started per member during the up");
    assert.deepEqual([...observed.restartOrder].sort(), NAMES, "each member's pid changed once");
    for (const name of NAMES) {
      assert.equal(await liveQuota(supervised.lab.member(name).clientUrl), 192 * MiB, `${name} runs 192 MiB`);
    }
    await waitHealthy(supervised.endpoints);
    await assertHealthy(supervised.endpoints);
    await assertFilesLive(supervised);
    const state = await project!.exportState("dev");
    assert.deepEqual(state.deployment.pending_operations ?? [], [], "the step finished: nothing pending");
    const quota = state.deployment.resources?.find((r) => r.type.endsWith(":EtcdQuota"));
    assert.equal(quota?.outputs?.quotaBytes, 192 * MiB, "the state tells the truth");
    assert.deepEqual((await writer!.stop()).lost, []);

    const clean = await project!.run(["preview", "--refresh", "--expect-no-changes", "--stack", "dev"], {
      check: false,
    });
    assert.equal(clean.code, 0, clean.stdout);
  });

  it("two Ctrl-Cs: the provider host is ended mid-change; the cluster stays healthy, the next up converges", async () => {
    const { supervised, result } = await interruptedUp(2);
    assert.notEqual(result.code, 0);
    assert.match(result.stdout, /\^C received; terminating/);
    await waitHealthy(supervised.endpoints);
    await assertHealthy(supervised.endpoints);
    // A member is never left running other than what its file says, whichever moment the host died at.
    await assertFilesLive(supervised);
    const interrupted = await project!.exportState("dev");
    assert.deepEqual(
      (interrupted.deployment.pending_operations ?? []).map((op) => op.type),
      ["updating"],
      "the state says the update was interrupted",
    );

    const next = await project!.run(["up", "--yes", "--stack", "dev"]);
    // Under refresh: always the refresh clears the pending operation; the update then restarts only the members
    // that do not run the new quota yet.
    assert.match(next.stdout, /EtcdQuota[^:\n]*: m\d: nothing to do \(already runs 192 MiB from its file\)/);
    assert.match(next.stdout, /EtcdQuota[^:\n]*: done: m\d runs 192 MiB, m\d runs 192 MiB, m\d runs 192 MiB/);
    for (const name of NAMES) {
      assert.equal(await liveQuota(supervised.lab.member(name).clientUrl), 192 * MiB, name);
    }
    assert.deepEqual((await project!.exportState("dev")).deployment.pending_operations ?? [], []);
    await assertHealthy(supervised.endpoints);
    assert.deepEqual((await writer!.stop()).lost, []);
    assert.deepEqual(
      fs.readdirSync(path.dirname(supervised.configFile("m1"))).filter((f) => f.startsWith(".")),
      [],
      "no temporary file of a half-written unit is left",
    );

    // The interrupted state again: `pulumi refresh` alone clears its pending operation.
    const saved = path.join(project!.dir, "interrupted.json");
    fs.writeFileSync(saved, JSON.stringify(interrupted));
    await project!.run(["stack", "import", "--stack", "dev", "--file", saved]);
    await project!.run(["refresh", "--yes", "--stack", "dev"]);
    assert.deepEqual((await project!.exportState("dev")).deployment.pending_operations ?? [], [], "refresh cleared it");
  });
});
