import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LabCluster } from "../../lab/cluster";
import { EngineStack, ProviderHost } from "../support/engine";
import { etcdBinary } from "../../lab/etcd-binary";
import { SupervisedCluster } from "../../lab/supervisor";
import type { SnapshotRecord } from "../../provider/types/snapshot";
import { providerShim } from "../../sdk/shim";
import { withClient } from "../support/etcd";
import { sha256 } from "../support/files";
import { progressLines } from "../support/progress";

const MiB = 1024 ** 2;
const COMPACTION = "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction";
const QUOTA = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";
const SNAPSHOT_NAME = /^\d{8}T\d{9}Z\.db$/;

/** The release's etcdutl, which the provider finds on the PATH (3.4 has none). */
const ETCDUTL = path.join(path.dirname(etcdBinary().etcd), "etcdutl");

/** Writes every key twice, so the history holds values a compaction removes; returns the first write's revision. */
async function writeKeys(
  endpoints: readonly string[],
  count: number,
): Promise<{ first: number; latest: Map<string, string> }> {
  return withClient(endpoints, async (client) => {
    let first = 0;
    const latest = new Map<string, string>();
    for (const round of [1, 2]) {
      for (let i = 0; i < count; i++) {
        const key = `snap/k${String(i).padStart(3, "0")}`;
        const { header } = await client.put(key).value(`v${i}-${round}`).exec();
        first ||= Number(header.revision);
        latest.set(key, `v${i}-${round}`);
      }
    }
    return { first, latest };
  });
}

describe("snapshot: a verified restore point before a run changes anything (real etcd)", function () {
  this.timeout(240_000);
  let host: ProviderHost;
  let dir: string;
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    host = await ProviderHost.start({ env: { PATH: `${path.dirname(ETCDUTL)}:${process.env.PATH}` } });
  });
  after(async () => {
    await host?.stop();
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-snapshots-"));
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function startCluster(): Promise<LabCluster> {
    const cluster = await LabCluster.start({ members: 3 });
    stops.push(() => cluster.stop());
    return cluster;
  }

  it("EtcdCompaction streams it from a follower before compacting: it restores every key, with the history the compaction then removed", async () => {
    const cluster = await startCluster();
    const { first, latest } = await writeKeys(cluster.endpoints, 50);
    const leader = await cluster.leader();
    const stack = new EngineStack(host, { provider: providerShim("compaction"), type: COMPACTION });

    const up = await stack.up("space", {
      endpoints: cluster.endpoints,
      snapshot: { path: path.join(dir, "{time}.db") },
    });

    const taken = up.outputs!.snapshotTaken as SnapshotRecord;
    assert.equal(path.dirname(taken.path), dir);
    assert.match(path.basename(taken.path), SNAPSHOT_NAME);
    assert.notEqual(taken.member, leader, "streamed from a follower");
    const stat = fs.statSync(taken.path);
    assert.equal(stat.mode & 0o777, 0o600, "readable by its owner only: it holds every key");
    assert.equal(stat.size, taken.sizeBytes);
    assert.equal(sha256(taken.path), taken.sha256);
    assert.deepEqual(fs.readdirSync(dir), [path.basename(taken.path)], "no partial file left");
    assert.match(
      taken.verifiedBy,
      fs.existsSync(ETCDUTL) ? /etcdutl snapshot status \(\d+ keys, revision \d+\)/ : /etcdutl is not on the PATH/,
    );
    const executed = up.outputs!.executed as string[];
    assert.ok(executed[0].startsWith(`snapshot ${taken.member} to ${taken.path} `), executed[0]);
    assert.ok(executed[1].startsWith("compact to revision"), executed[1]);
    await assert.rejects(
      withClient(cluster.endpoints, (client) => client.get("snap/k000").revision(first).string()),
      /compacted/,
      "the live cluster lost that history",
    );

    const restored = await LabCluster.start({ members: 1, restoreFrom: taken.path });
    stops.push(() => restored.stop());
    const keys = await withClient(restored.endpoints, (client) => client.getAll().prefix("snap/").strings());
    assert.deepEqual(new Map(Object.entries(keys)), latest, "every key the test wrote, with its latest value");
    const old = await withClient(restored.endpoints, (client) => client.get("snap/k000").revision(first).string());
    assert.equal(old, "v0-1", "the snapshot was taken before the compaction");
  });

  it("keeps the newest `keep` snapshots of its path and never touches the folder's other files", async () => {
    const cluster = await startCluster();
    const others = ["notes.txt", "other-20200101T000000000Z.db", "20200101T000000000Z.db.bak"];
    for (const name of others) fs.writeFileSync(path.join(dir, name), name);
    const oldest = path.join(dir, "20200101T000000000Z.db");
    fs.writeFileSync(oldest, "an older snapshot of this path");
    const stack = new EngineStack(host, { provider: providerShim("compaction"), type: COMPACTION });
    const taken: SnapshotRecord[] = [];
    for (const run of [1, 2, 3]) {
      const inputs = {
        endpoints: cluster.endpoints,
        snapshot: { path: path.join(dir, "{time}.db"), keep: 2 },
        triggers: [run],
      };
      taken.push((await stack.up("space", inputs)).outputs!.snapshotTaken as SnapshotRecord);
    }

    assert.deepEqual(
      taken.map((t) => t.deleted),
      [[], [oldest], [taken[0].path]],
      "each run deletes what is beyond the newest 2, oldest first",
    );
    assert.deepEqual(
      fs.readdirSync(dir).sort(),
      [...others, path.basename(taken[1].path), path.basename(taken[2].path)].sort(),
    );
  });

  it("a snapshot that cannot be written stops the run before anything changes", async () => {
    const cluster = await startCluster();
    const { first } = await writeKeys(cluster.endpoints, 5);
    const blocker = path.join(dir, "not-a-folder");
    fs.writeFileSync(blocker, "");
    const stack = new EngineStack(host, { provider: providerShim("compaction"), type: COMPACTION });

    await assert.rejects(
      stack.up("space", { endpoints: cluster.endpoints, snapshot: { path: path.join(blocker, "{time}.db") } }),
      /snapshot .*not-a-folder\/\d{8}T\d{9}Z\.db: could not write it: .*nothing was changed/,
    );

    const history = await withClient(cluster.endpoints, (client) => client.get("snap/k000").revision(first).string());
    assert.equal(history, "v0-1", "nothing was compacted");
    assert.deepEqual(fs.readdirSync(dir), ["not-a-folder"], "no partial file left");
    assert.equal(stack.state("space"), undefined, "nothing recorded");
  });

  it("EtcdQuota takes it before its first restart, names it in the plan, and takes none when no member restarts (and pauses between members)", async () => {
    const cluster = await SupervisedCluster.start({ format: "env-file", members: 3, quotaBytes: 64 * MiB });
    stops.push(() => cluster.stop());
    const stack = new EngineStack(host, { provider: providerShim("quota"), type: QUOTA });
    const inputs = {
      quota: "96MiB",
      members: cluster.quotaMembers(),
      restartTimeout: "60s",
      snapshot: { path: path.join(dir, "quota-{time}.db") },
      pauseBetweenMembers: "1s",
    };
    const from = host.logs.length;
    const names = cluster.lab.members.map((m) => m.name);
    const pids = names.map((name) => cluster.pid(name));

    // Looks every 20 ms at the folder and at the members' pids: the snapshot file must be complete (renamed from
    // its .part) before any member's process is replaced.
    let watching = true;
    const watch = (async () => {
      for (;;) {
        const complete = fs.readdirSync(dir).find((name) => name.endsWith(".db"));
        const restarted = names.filter((name, i) => cluster.pid(name) !== pids[i]);
        if (complete || restarted.length > 0 || !watching) return { complete, restarted };
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const up = await stack.up("quota", inputs).finally(() => (watching = false));
    const first = await watch;

    const taken = up.outputs!.snapshotTaken as SnapshotRecord;
    assert.deepEqual(
      first,
      { complete: path.basename(taken.path), restarted: [] },
      "the snapshot file was there before any member's process was replaced",
    );
    assert.equal(fs.statSync(taken.path).size, taken.sizeBytes);
    assert.ok(
      names.every((name, i) => cluster.pid(name) !== pids[i]),
      "and then every member's process was replaced",
    );
    const lines = progressLines(host.logs.slice(from), "EtcdQuota");
    const planned = lines.findIndex((line) =>
      line.startsWith(`EtcdQuota: plan: snapshot ${taken.member} to ${inputs.snapshot.path} `),
    );
    const streamed = lines.findIndex((line) => line.startsWith(`EtcdQuota: snapshot: streaming ${taken.member}'s`));
    const firstRestart = lines.findIndex((line) => / restart/.test(line) && !line.startsWith("EtcdQuota: plan: "));
    assert.ok(planned >= 0, `the check's plan names the snapshot:\n${lines.join("\n")}`);
    assert.ok(
      streamed > planned && streamed < firstRestart,
      `the snapshot comes before the first restart:\n${lines.join("\n")}`,
    );

    // pauseBetweenMembers: a pause after each restart but the last, before the next member's step.
    const steps = lines.filter((line) => /^EtcdQuota: (m\d: .*restart, verify|pause: )/.test(line));
    assert.deepEqual(
      steps.map((line) => (line.includes("pause: ") ? "pause" : "member")),
      ["member", "pause", "member", "pause", "member"],
      steps.join("\n"),
    );
    assert.match(steps[1], /^EtcdQuota: pause: 1\.0s after m\d before m\d \(pauseBetweenMembers\)$/);

    const again = await stack.up("quota", { ...inputs, lockTimeout: "1m" });
    assert.equal(again.outputs!.snapshotTaken, null, "no member restarted, so no snapshot");
    assert.deepEqual(fs.readdirSync(dir), [path.basename(taken.path)]);
  });
});
