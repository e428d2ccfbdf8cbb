import * as assert from "node:assert/strict";
import { exec } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { parse as parseYaml } from "yaml";
import { REPO_ROOT } from "../../lab/etcd-binary";
import { type ConfigValue, listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { SupervisedCluster } from "../../lab/supervisor";
import { type LabTls, makeLabTls } from "../../lab/tls";
import { gauge } from "../../lab/supervisor";
import { machinesFor, restartsOn } from "../support/machines";
import type { TestSshd } from "../support/sshd";

const GiB = 1024 ** 3;
const EXAMPLE = path.join(REPO_ROOT, "examples", "per-environment");

/** The quota a member runs, from its plain-http metrics URL (its client URL may need a client certificate). */
async function liveQuota(cluster: SupervisedCluster, name: string): Promise<number | undefined> {
  return gauge(cluster.lab.member(name).metricsUrl, "etcd_server_quota_backend_bytes");
}

/**
 * The checked-in Pulumi.<stack>.yaml with its machines replaced by the lab's (their addresses are examples that this
 * machine must never contact), and the secrets its comments say to set with `--secret`.
 */
function stackConfig(
  stack: string,
  cluster: SupervisedCluster,
  names: readonly string[],
  hosts: readonly TestSshd[],
  privateKey: string,
  tls?: LabTls,
): Record<string, ConfigValue> {
  const file = parseYaml(fs.readFileSync(path.join(EXAMPLE, `Pulumi.${stack}.yaml`), "utf8")).config;
  const config: Record<string, ConfigValue> = {};
  for (const [key, value] of Object.entries(file as Record<string, unknown>)) {
    const name = key.replace(/^etcd-per-environment:/, "");
    if (name === "members" || name === "sshUser") continue;
    if (typeof value === "string") config[name] = value;
    else config[name] = JSON.stringify(value);
  }
  const members = names.map((name, i) => ({
    host: "127.0.0.1",
    port: hosts[i].port,
    endpoint: cluster.lab.member(name).clientUrl,
    hostKey: hosts[i].hostKey,
    unitFile: cluster.configFile(name),
  }));
  return {
    ...config,
    ...listConfig("members", members),
    // The test sshd logs in as root only.
    sshUser: "root",
    sshPrivateKey: { secret: privateKey },
    ...(tls
      ? { "tls.ca": { secret: tls.ca }, "tls.cert": { secret: tls.client.cert }, "tls.key": { secret: tls.client.key } }
      : {}),
  };
}

describe("examples/per-environment as two stacks through the real pulumi CLI", function () {
  this.timeout(900_000);
  const clusters: SupervisedCluster[] = [];
  const hosts: TestSshd[] = [];
  let tls: LabTls | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    for (const cluster of clusters) await cluster.stop();
    for (const sshd of hosts) await sshd.stop();
    tls?.remove();
  });

  it("dev and prod converge to their own quotas over SSH; a quota changed by hand shows in preview --diff and up fixes it; no secret in the state", async () => {
    tls = makeLabTls();
    const dev = await SupervisedCluster.start({ format: "systemd-unit", members: 1, quotaBytes: 1 * GiB });
    const prod = await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes: 4 * GiB, tls });
    clusters.push(dev, prod);
    const devHosts = await machinesFor(dev, ["m1"]);
    hosts.push(...devHosts);
    const prodHosts = await machinesFor(prod, ["m1", "m2", "m3"]);
    hosts.push(...prodHosts);
    // Every machine accepts the same key, as the example's one sshPrivateKey per stack needs.
    fs.copyFileSync(path.join(devHosts[0].dir, "authorized_keys"), path.join(prodHosts[0].dir, "authorized_keys"));
    for (const sshd of prodHosts.slice(1)) {
      fs.copyFileSync(path.join(devHosts[0].dir, "authorized_keys"), path.join(sshd.dir, "authorized_keys"));
    }

    project = await PulumiProject.create({ name: "etcd-per-environment", copyFrom: EXAMPLE });
    const devConfig = stackConfig("dev", dev, ["m1"], devHosts, hosts[0].privateKey);
    const prodConfig = stackConfig("prod", prod, ["m1", "m2", "m3"], prodHosts, hosts[0].privateKey, tls);
    await project.initStack("dev", devConfig);
    await project.initStack("prod", prodConfig);
    await project.run(["up", "--yes", "--stack", "dev"]);
    await project.run(["up", "--yes", "--stack", "prod"]);

    assert.equal(await liveQuota(dev, "m1"), 2 * GiB, "dev runs Pulumi.dev.yaml's 2GiB");
    for (const name of ["m1", "m2", "m3"]) {
      assert.equal(await liveQuota(prod, name), 8 * GiB, `prod ${name} runs Pulumi.prod.yaml's 8GiB`);
    }
    assert.deepEqual(hosts.map(restartsOn), [1, 1, 1, 1], "each member restarted once, by its own machine's systemctl");

    // By hand on prod's m2: 6 GiB in its unit, then the restart an operator would run.
    const unit = prod.configFile("m2");
    fs.writeFileSync(
      unit,
      fs.readFileSync(unit, "utf8").replace(`--quota-backend-bytes=${8 * GiB}`, `--quota-backend-bytes=${6 * GiB}`),
    );
    await promisify(exec)(prod.restartCommand("m2"));
    assert.equal(await liveQuota(prod, "m2"), 6 * GiB);

    const preview = await project.run(["preview", "--refresh", "--diff", "--stack", "prod"]);
    assert.match(preview.stdout, /~ quota\s*: "mixed: m1 8GiB; m2 6GiB; m3 8GiB" => "8GiB"/);
    const devPreview = await project.run(["preview", "--refresh", "--expect-no-changes", "--stack", "dev"], {
      check: false,
    });
    assert.equal(devPreview.code, 0, `the other stack does not drift:\n${devPreview.stdout}`);

    await project.run(["up", "--yes", "--stack", "prod"]);
    assert.equal(await liveQuota(prod, "m2"), 8 * GiB, "up converged m2");
    const clean = await project.run(["preview", "--refresh", "--expect-no-changes", "--stack", "prod"], {
      check: false,
    });
    assert.equal(clean.code, 0, clean.stdout);

    for (const stack of ["dev", "prod"]) {
      const state = JSON.stringify(await project.exportState(stack));
      const secrets = [hosts[0].privateKey, tls.client.key, tls.ca, tls.client.cert];
      for (const secret of secrets) {
        const marker = secret.split("\n").find((line) => line.length > 40)!;
        assert.ok(!state.includes(marker), `${stack}: a secret's text is in the exported state`);
      }
      assert.ok(state.includes("ciphertext"), `${stack}: the secrets are stored encrypted`);
    }
  });
});
