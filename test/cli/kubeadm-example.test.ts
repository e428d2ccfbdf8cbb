import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { REPO_ROOT } from "../../lab/etcd-binary";
import { LabNetwork } from "../../lab/netns";
import { type ConfigValue, listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { gauge, SupervisedCluster } from "../../lab/supervisor";
import { type LabTls, makeLabTls } from "../../lab/tls";
import { machinesFor } from "../support/machines";
import type { TestSshd } from "../support/sshd";

const GiB = 1024 ** 3;
const EXAMPLE = path.join(REPO_ROOT, "examples", "kubeadm");
const NAMES = ["m1", "m2", "m3"];
const NODES = ["cp-1", "cp-2", "cp-3"];

/**
 * examples/kubeadm as a user runs it, against three control-plane "nodes": a network namespace each, with its own
 * address (etcd on 2379 and sshd on 22 there, as the example assumes), a kubeadm static pod manifest that the
 * supervisor's kubelet stand-in runs etcd from, and TLS with client certificates as kubeadm sets it up.
 */
describe("examples/kubeadm through the real pulumi CLI, on three control-plane nodes with TLS", function () {
  this.timeout(600_000);
  let network: LabNetwork | undefined;
  let tls: LabTls | undefined;
  let cluster: SupervisedCluster | undefined;
  let machines: TestSshd[] = [];
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    for (const sshd of machines) await sshd.stop();
    await cluster?.stop();
    network?.remove();
    tls?.remove();
    project = cluster = network = tls = undefined;
    machines = [];
  });

  it("up sets Pulumi.prod.yaml's quota in every manifest (that line only), the certificates stay secret, and a second preview has no changes", async () => {
    network = await LabNetwork.create({ hosts: NAMES.length });
    tls = makeLabTls({ serverAddresses: network.hosts.map((host) => host.address) });
    cluster = await SupervisedCluster.start({
      format: "kubeadm-manifest",
      members: NAMES.length,
      quotaBytes: 2 * GiB,
      tls,
      network,
    });
    machines = await machinesFor(cluster, NAMES, network);
    const original = NAMES.map((name) => fs.readFileSync(cluster!.configFile(name), "utf8"));

    // The checked-in stack file, but for the nodes (its addresses are examples this machine must never contact) and
    // the login user (the test sshd logs in as root only); the secrets as the README says to set them.
    const file = parseYaml(fs.readFileSync(path.join(EXAMPLE, "Pulumi.prod.yaml"), "utf8")).config as Record<
      string,
      unknown
    >;
    const quota = String(file["etcd-kubeadm:quota"]);
    assert.equal(quota, "8GiB");
    const nodes = NAMES.map((name, i) => ({
      name: NODES[i],
      ip: network!.hosts[i].address,
      hostKey: machines[i].hostKey,
      // One filesystem for the three namespaces: each node's manifest is in its own folder.
      manifest: cluster!.configFile(name),
    }));
    for (const [i, name] of NAMES.entries()) {
      assert.equal(cluster.lab.member(name).clientUrl, `https://${nodes[i].ip}:2379`, "where the example looks");
    }
    const config: Record<string, ConfigValue> = {
      quota,
      sshUser: "root",
      ...listConfig("controlPlane", nodes),
      sshPrivateKey: { secret: machines[0].privateKey },
      "tls.ca": { secret: tls.ca },
      "tls.cert": { secret: tls.client.cert },
      "tls.key": { secret: tls.client.key },
    };

    project = await PulumiProject.create({ name: "etcd-kubeadm", copyFrom: EXAMPLE });
    await project.initStack("prod", config);
    await project.run(["up", "--yes", "--stack", "prod"]);

    for (const [i, name] of NAMES.entries()) {
      // From etcd itself: the quota the member runs, on its metrics URL (plain http, as kubeadm sets it up).
      const live = await gauge(cluster.lab.member(name).metricsUrl, "etcd_server_quota_backend_bytes", 5_000);
      assert.equal(live, 8 * GiB, `${NODES[i]} runs the declared quota`);
      const edited: string = fs.readFileSync(cluster.configFile(name), "utf8");
      assert.equal(
        edited,
        original[i].replace(`--quota-backend-bytes=${2 * GiB}`, `--quota-backend-bytes=${8 * GiB}`),
        `${NODES[i]}: only the quota flag changed`,
      );
      assert.notEqual(edited, original[i]);
    }
    const outputs = await project.outputs("prod");
    assert.deepEqual(
      (outputs.memberQuotas as { node: string; liveBytes: number }[]).map((m) => [m.node, m.liveBytes]),
      NODES.map((node) => [node, 8 * GiB]),
    );

    const state = JSON.stringify(await project.exportState("prod"));
    for (const secret of [machines[0].privateKey, tls.client.key, tls.client.cert, tls.ca]) {
      const marker = secret.split("\n").find((line) => line.length > 40)!;
      assert.ok(!state.includes(marker), "a secret's text is in the exported state");
    }
    assert.ok(state.includes("ciphertext"), "the secrets are stored encrypted");

    const again = await project.run(["preview", "--expect-no-changes", "--stack", "prod"], { check: false });
    assert.equal(again.code, 0, `a second preview (with refresh: always) has no changes:\n${again.stdout}`);
  });
});
