import * as assert from "node:assert/strict";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { LabCluster } from "../../lab/cluster";
import { EngineStack, ProviderHost } from "../support/engine";
import { providerShim } from "../../sdk/shim";
import { sha256 } from "../support/files";

const MiB = 1024 ** 2;
const QUOTA = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";

/** An etcd config file per member, setting `quotaBytes`; its restart command fails, so a run could not hide one. */
function configMembers(members: LabCluster["members"], dir: string, quotaBytes: number) {
  return members.map((m) => {
    const configFile = path.join(dir, `${m.name}.conf.yml`);
    fs.writeFileSync(configFile, `name: ${m.name}\ndata-dir: ${m.dataDir}\nquota-backend-bytes: ${quotaBytes}\n`);
    return { endpoint: m.clientUrl, configFile, format: "etcd-config", restartCommand: "exit 1" };
  });
}

describe("EtcdQuota's preview reads the cluster as EtcdCompaction's does", function () {
  this.timeout(120_000);
  let host: ProviderHost;
  let dir: string;

  before(async () => {
    host = await ProviderHost.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-quota-check-test-"));
  });
  after(async () => {
    await host?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const newStack = () => new EngineStack(host, { provider: providerShim("quota"), type: QUOTA });

  it("fails the preview of a user without etcd's root role, where root's preview passes, and changes nothing", async () => {
    const rootPassword = `root-${randomBytes(6).toString("hex")}`;
    // May write this project's lock key, so only the missing root role stands in its way.
    const ops = {
      name: "ops",
      password: `ops-${randomBytes(6).toString("hex")}`,
      readWritePrefixes: ["/pulumi-etcd-quota/"],
    };
    const cluster = await LabCluster.start({ members: 1, quotaBytes: 64 * MiB, auth: { rootPassword, users: [ops] } });
    try {
      const members = configMembers(cluster.members, dir, 64 * MiB);
      const files = members.map((m) => sha256(m.configFile));
      const pids = cluster.members.map((m) => m.pid);

      const asRoot = await newStack().preview("quota", {
        quota: "96MiB",
        members,
        username: "root",
        password: rootPassword,
        // The lab's members listen on plain http on 127.0.0.1.
        allowInsecureCredentials: true,
      });
      assert.deepEqual(asRoot.failures, []);
      const asOps = await newStack().preview("quota", {
        quota: "96MiB",
        members,
        username: "ops",
        password: ops.password,
        allowInsecureCredentials: true,
      });
      assert.equal(asOps.op, "failed");
      assert.match(
        asOps.failures.map((f) => `${f.property}: ${f.reason}`).join("\n"),
        /username: .*permission check: permission denied/,
      );
      assert.deepEqual(
        members.map((m) => sha256(m.configFile)),
        files,
        "no file changed",
      );
      assert.deepEqual(
        cluster.members.map((m) => m.pid),
        pids,
        "no member restarted",
      );
    } finally {
      await cluster.stop();
    }
  });

  it("bounds each call by the preview's fixed 5 s, not callTimeout: a member that never answers", async () => {
    // Accepts connections and never answers, as a member stuck on its database lock does.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const endpoint = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
      const configFile = path.join(dir, "silent.conf.yml");
      fs.writeFileSync(configFile, `name: m1\nquota-backend-bytes: ${64 * MiB}\n`);
      const preview = await newStack().preview("quota", {
        quota: "96MiB",
        members: [{ endpoint, configFile, format: "etcd-config" }],
        callTimeout: "1m",
      });
      assert.equal(preview.op, "failed");
      assert.match(preview.failures.map((f) => f.reason).join("\n"), /no answer within 5\.0s \(a preview's fixed 5s\)/);
    } finally {
      silent.close();
    }
  });
});
