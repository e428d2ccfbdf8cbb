import * as assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { LabCluster } from "../../lab/cluster";
import { fill } from "../../lab/fill";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { alarmsOf, statusOf } from "../support/etcd";

const MiB = 1024 ** 2;
const QUOTA = 1024 * MiB;

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction } from "pulumi-etcd-quota";

const config = new pulumi.Config();
new EtcdCompaction("space", { endpoints: config.requireObject<string[]>("endpoints"), when: { fullWithin: "7d" } });
`;

describe("the forecast on the README's schedule, through the real pulumi CLI", function () {
  this.timeout(600_000);
  let cluster: LabCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
  });

  it("a scheduled refresh --yes then preview --refresh --diff --expect-no-changes passes while the DB holds still and fails naming the forecast once it grows", async () => {
    cluster = await LabCluster.start({ members: 3, quotaBytes: QUOTA });
    const endpoints = cluster.endpoints;
    const largest = async () => Math.max(...(await Promise.all(endpoints.map(statusOf))).map((s) => s.dbSize));
    project = await PulumiProject.create({ name: "forecast", program: PROGRAM });
    await project.initStack("prod", listConfig("endpoints", endpoints));
    // The run's own reading starts the series.
    await project.run(["up", "--yes", "--stack", "prod"]);
    const sinceRun = Date.now();
    // The README's scheduled job, word for word.
    const scheduled = async () => {
      await project!.run(["refresh", "--yes", "--stack", "prod"]);
      return project!.run(["preview", "--stack", "prod", "--refresh", "--diff", "--expect-no-changes"], {
        check: false,
      });
    };

    const before = await largest();
    const quiet = await scheduled();
    assert.equal(quiet.code, 0, `no writes, no drift:\n${quiet.stdout}${quiet.stderr}`);

    // Data outgrows the free pages inside the file, so the file itself grows.
    await fill(endpoints, { targetBytes: before + 16 * MiB });
    // Every member's backend commits within its 100 ms batch interval; then the sizes hold still.
    await sleep(1_000);
    // The forecast needs its readings 30 s apart in all: the run's and this refresh's.
    await sleep(Math.max(0, sinceRun + 31_000 - Date.now()));
    const grown = await scheduled();
    const after = await largest();

    assert.notEqual(grown.code, 0, grown.stdout);
    assert.match(
      grown.stdout,
      /maintenance\s*:\s*"needed: the quota is reached within 7d\S*: full in [^"]+" => "up-to-date"/,
    );
    // The refreshes were saved: the run's reading and one per scheduled refresh.
    const saved = (await project.resource("prod", "EtcdCompaction"))!;
    assert.equal((saved.outputs!.sizeSamples as unknown[]).length, 3);
    // Warned before NOSPACE: etcd's own reading of the file, well below the quota, and no alarm.
    assert.ok(after >= before + 16 * MiB && after < QUOTA, `DB ${after} B, before ${before} B`);
    assert.deepEqual(await alarmsOf(endpoints), []);
  });
});
