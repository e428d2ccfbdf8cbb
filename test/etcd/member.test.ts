import * as assert from "node:assert/strict";
import { execFileSync } from "child_process";
import { QuotaReportsDisagreeError } from "../../provider/errors";
import type { MemberStatus } from "../../provider/types/observation";
import { MemberClient } from "../../provider/etcd/member";
import type { MemberMetrics } from "../../provider/types/observation";
import { LabCluster } from "../../lab/cluster";
import { etcdBinary } from "../../lab/etcd-binary";
import { liveQuota } from "../support/files";

const QUOTA = 48 * 1024 * 1024;

/** etcdctl's own reading of a member's Status, as JSON: an oracle that shares no code with the provider. */
function etcdctlStatus(endpoint: string): { dbSizeQuota?: number } {
  const out = execFileSync(etcdBinary().etcdctl, [`--endpoints=${endpoint}`, "endpoint", "status", "-w", "json"], {
    encoding: "utf8",
    env: { PATH: process.env.PATH },
    timeout: 10_000,
  });
  const [entry] = JSON.parse(out) as { Status: { dbSizeQuota?: number } }[];
  return entry.Status;
}

describe("member client: the quota a member reports (real etcd)", function () {
  this.timeout(60_000);
  let cluster: LabCluster;
  before(async () => {
    cluster = await LabCluster.start({ members: 1, quotaBytes: QUOTA });
  });
  after(async () => {
    await cluster?.stop();
  });

  it("reads Status's dbSizeQuota where the member sends it (3.6+), and nothing where it does not", async () => {
    const endpoint = cluster.endpoints[0];
    const client = new MemberClient(endpoint, {});
    try {
      const status = await client.status();
      const is36 = /^3\.(?:[6-9]|\d\d)\./.test(etcdBinary().version);
      assert.equal(status.dbSizeQuota, is36 ? QUOTA : undefined);
      assert.equal(etcdctlStatus(endpoint).dbSizeQuota, is36 ? QUOTA : undefined);
      const { metrics } = await client.statusAndMetrics();
      assert.equal(metrics.quotaBytes, QUOTA);
      assert.equal(metrics.stopsGrpcOnDefrag, is36 ? false : undefined, "the gate is off by default");
      assert.equal(await liveQuota(endpoint), QUOTA);
    } finally {
      client.close();
    }
  });

  it("without a quota flag, reads the 2 GiB default a member reports in Status (3.6.6+, 3.7) and in its metric alike", async () => {
    const unset = await LabCluster.start({ members: 1 });
    const client = new MemberClient(unset.endpoints[0], {});
    try {
      const version = etcdBinary().version;
      // 3.6 before 3.6.6 sent 0 for an unset quota; 3.4 and 3.5 have no such field.
      const reports = /^3\.(?:6\.(?:[6-9]|\d\d)|[7-9]\.|\d\d\.)/.test(version);
      const twoGiB = 2 * 1024 ** 3;
      assert.equal(etcdctlStatus(unset.endpoints[0]).dbSizeQuota, reports ? twoGiB : undefined, version);
      assert.equal((await client.status()).dbSizeQuota, reports ? twoGiB : undefined);
      assert.equal((await client.statusAndMetrics()).metrics.quotaBytes, twoGiB);
      assert.equal(await liveQuota(unset.endpoints[0]), twoGiB);
    } finally {
      client.close();
      await unset.stop();
    }
  });

  it("tells a member that stops its gRPC health service during defrags (StopGRPCServiceOnDefrag, 3.6+) from one that does not say", async () => {
    const version = etcdBinary().version;
    const is36 = /^3\.(?:[6-9]|\d\d)\./.test(version);
    // 3.5.14+ has the option as an experimental flag but reports no gates; 3.4 has neither.
    const gate = is36
      ? ["--feature-gates=StopGRPCServiceOnDefrag=true"]
      : /^3\.5\.(?:1[4-9]|[2-9]\d)$/.test(version)
        ? ["--experimental-stop-grpc-service-on-defrag=true"]
        : [];
    const gated = await LabCluster.start({ members: 1, extraArgs: gate });
    const client = new MemberClient(gated.endpoints[0], {});
    try {
      assert.equal((await client.metrics()).stopsGrpcOnDefrag, is36 ? true : undefined);
      await client.defragment(30_000);
    } finally {
      client.close();
      await gated.stop();
    }
  });

  it("fails loudly when the Status quota and the metric disagree, naming both values", async () => {
    class ProxiedMetrics extends MemberClient {
      override async status(): Promise<MemberStatus> {
        return { ...(await super.status()), dbSizeQuota: QUOTA };
      }
      override async metrics(): Promise<MemberMetrics> {
        return { ...(await super.metrics()), quotaBytes: 2 * QUOTA };
      }
    }
    const client = new ProxiedMetrics(cluster.endpoints[0], {});
    try {
      await assert.rejects(
        client.statusAndMetrics(),
        (error: unknown) =>
          error instanceof QuotaReportsDisagreeError &&
          /Status reports the quota 48 MiB but its metric etcd_server_quota_backend_bytes says 96 MiB/.test(
            error.message,
          ),
      );
    } finally {
      client.close();
    }
  });
});
