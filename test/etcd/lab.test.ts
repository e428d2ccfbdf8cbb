import { strict as assert } from "assert";
import { Etcd3 } from "etcd3";
import * as fs from "fs";
import * as path from "path";
import { isAlive, LabCluster } from "../../lab/cluster";
import { etcdBinary } from "../../lab/etcd-binary";
import { fill, verifyFill } from "../../lab/fill";

const QUOTA = 32 * 1024 * 1024;

async function withClient<T>(hosts: string | string[], fn: (client: Etcd3) => Promise<T>): Promise<T> {
  const client = new Etcd3({ hosts, defaultCallOptions: () => ({ deadline: Date.now() + 10_000 }) });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

function livePids(cluster: LabCluster): number[] {
  return cluster.members.flatMap((m) => (m.pid === undefined ? [] : [m.pid]));
}

describe("lab: local etcd clusters (real etcd)", function () {
  this.timeout(60_000);

  describe("one member", () => {
    /** Started by the first test that needs one; a test that stops it clears it, so the next one starts afresh. */
    let cluster: LabCluster | undefined;
    beforeEach(async () => {
      cluster ??= await LabCluster.start({ members: 1 });
    });
    after(async () => {
      await cluster?.stop();
    });

    it("starts, answers Status and keeps its data over a restart", async () => {
      assert.ok(cluster);
      const [member] = cluster.members;
      assert.equal(member.name, "m1");
      const status = await withClient(member.clientUrl, (c) => c.maintenance.status());
      assert.equal(status.version, etcdBinary().version);
      assert.equal(status.leader, status.header.member_id);

      await withClient(cluster.endpoints, (c) => c.put("lab/restart").value("kept").exec());
      const firstPid = member.pid;
      assert.ok(firstPid !== undefined);
      await cluster.stopMember("m1");
      assert.equal(member.pid, undefined);
      assert.equal(isAlive(firstPid), false);

      await cluster.startMember("m1");
      assert.notEqual(member.pid, undefined);
      assert.equal(await withClient(cluster.endpoints, (c) => c.get("lab/restart").string()), "kept");
    });

    it("is taken over from its state file and stopped by pid", async () => {
      assert.ok(cluster);
      const stateFile = path.join(cluster.dir, "state.json");
      fs.writeFileSync(stateFile, JSON.stringify(cluster));
      const attached = LabCluster.attach(stateFile);
      assert.deepEqual(attached.endpoints, cluster.endpoints);
      const pids = livePids(attached);
      assert.equal(pids.length, 1);

      const stopped = cluster;
      cluster = undefined;
      await attached.stop({ removeDir: false });
      assert.deepEqual(
        pids.filter((pid) => isAlive(pid)),
        [],
      );
      await stopped.stop();
      assert.equal(fs.existsSync(stopped.dir), false);
    });
  });

  describe("three members with a 32 MiB quota", () => {
    /** Started by the first test that needs one; a test that stops it clears it, so the next one starts afresh. */
    let cluster: LabCluster | undefined;
    beforeEach(async () => {
      cluster ??= await LabCluster.start({ members: 3, quotaBytes: QUOTA });
    });
    after(async () => {
      await cluster?.stop();
    });

    it("starts healthy, with one leader and the quota in effect", async () => {
      assert.ok(cluster);
      assert.deepEqual(
        cluster.members.map((m) => m.name),
        ["m1", "m2", "m3"],
      );
      const statuses = await Promise.all(cluster.endpoints.map((e) => withClient(e, (c) => c.maintenance.status())));
      assert.equal(new Set(statuses.map((s) => s.leader)).size, 1);
      assert.equal(statuses.filter((s) => s.leader === s.header.member_id).length, 1);
      assert.equal(
        await cluster.leader(),
        cluster.members[statuses.findIndex((s) => s.leader === s.header.member_id)].name,
      );

      for (const m of cluster.members) {
        const metrics = await (await fetch(`${m.metricsUrl}/metrics`)).text();
        const quota = /^etcd_server_quota_backend_bytes (\S+)$/m.exec(metrics)?.[1];
        assert.equal(Number(quota), QUOTA, `${m.name} quota metric`);
      }
    });

    it("fills up to NOSPACE: the alarm is listed, puts fail, every key keeps its last value", async () => {
      assert.ok(cluster);
      const result = await fill(cluster.endpoints, { untilNoSpace: true, timeoutMs: 30_000 });
      assert.equal(result.noSpace, true);
      assert.ok(result.bytes >= QUOTA * 0.9, `DB ${result.bytes} bytes should be near the quota`);
      assert.equal(result.lastValues.size, 64);

      const alarms = await withClient(cluster.endpoints, (c) => c.maintenance.alarm({ action: "Get" }));
      assert.ok(
        alarms.alarms.some((a) => a.alarm === "Nospace"),
        JSON.stringify(alarms.alarms),
      );
      await withClient(cluster.endpoints, (c) =>
        assert.rejects(c.put("lab/after-nospace").value("x").exec(), /database space exceeded/),
      );
      assert.deepEqual(await verifyFill(cluster.endpoints, result.lastValues), []);
    });

    it("stop() leaves no etcd process and removes its folder", async () => {
      assert.ok(cluster);
      const pids = livePids(cluster);
      assert.equal(pids.length, 3);
      const stopped = cluster;
      cluster = undefined;
      await stopped.stop();
      assert.deepEqual(
        pids.filter((pid) => isAlive(pid)),
        [],
      );
      assert.equal(fs.existsSync(stopped.dir), false);
    });
  });
});
