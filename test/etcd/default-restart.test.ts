import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineStack, ProviderHost } from "../support/engine";
import type { SupervisedFormat } from "../../lab/supervisor";
import { SupervisedCluster } from "../../lab/supervisor";
import { providerShim } from "../../sdk/shim";
import { liveQuota } from "../support/files";

const MiB = 1024 ** 2;
const TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";

/**
 * No systemd runs here, so a `systemctl` on the provider's PATH stands in for it: it logs each call and answers
 * `restart` by restarting the member through the supervisor, as systemd would restart the unit.
 */
function systemctlShim(dir: string): { log: string; target: string } {
  const log = path.join(dir, "systemctl.log");
  const target = path.join(dir, "restart-target");
  fs.writeFileSync(
    path.join(dir, "systemctl"),
    [
      "#!/bin/sh",
      `echo "$*" >> '${log}'`,
      'case "$1" in',
      "  daemon-reload) exit 0 ;;",
      `  restart) eval "exec $(cat '${target}')" ;;`,
      "esac",
      'echo "systemctl shim: unexpected $*" >&2; exit 1',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return { log, target };
}

describe("EtcdQuota's default restart commands run as written (a systemctl stand-in on the PATH)", function () {
  this.timeout(120_000);
  let host: ProviderHost;
  let dir: string;
  let shim: { log: string; target: string };
  let cluster: SupervisedCluster | undefined;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-quota-systemctl-"));
    shim = systemctlShim(dir);
    host = await ProviderHost.start({ env: { PATH: `${dir}:${process.env.PATH}` } });
  });
  after(async () => {
    await host?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  const cases: [SupervisedFormat, string[]][] = [
    ["systemd-unit", ["daemon-reload", "restart -- etcd.service"]],
    ["env-file", ["restart etcd"]],
    ["etcd-config", ["restart etcd"]],
    ["k3s-config", ["restart k3s"]],
  ];
  for (const [format, calls] of cases) {
    it(`${format}: runs ${calls.map((c) => `systemctl ${c}`).join(" && ")}, and the member comes back with the quota`, async () => {
      cluster = await SupervisedCluster.start({ format, members: 1, quotaBytes: 64 * MiB });
      fs.writeFileSync(shim.target, cluster.restartCommand("m1"));
      fs.writeFileSync(shim.log, "");
      const [member] = cluster.quotaMembers();
      const withoutCommand = { endpoint: member.endpoint, configFile: member.configFile, format: member.format };
      const pid = cluster.pid("m1");

      await new EngineStack(host, { provider: providerShim("quota"), type: TYPE }).up("quota", {
        quota: "96MiB",
        members: [withoutCommand],
        restartTimeout: "60s",
      });

      assert.deepEqual(fs.readFileSync(shim.log, "utf8").trim().split("\n"), calls);
      assert.notEqual(cluster.pid("m1"), pid, "the member was restarted");
      assert.equal(await liveQuota(member.endpoint), 96 * MiB);
    });
  }
});
