import * as assert from "node:assert/strict";
import { execFile } from "child_process";
import { Etcd3 } from "etcd3";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { etcdBinary, REPO_ROOT } from "../../lab/etcd-binary";
import { LabNetwork } from "../../lab/netns";
import { type ConfigValue, listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { gauge, SupervisedCluster } from "../../lab/supervisor";
import { type LabTls, makeLabTls } from "../../lab/tls";
import { machinesFor } from "../support/machines";
import type { TestSshd } from "../support/sshd";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const UNDO_PAGE = path.join(REPO_ROOT, "docs", "undo.md");

/** The shell block of docs/undo.md that follows the paragraph saying `tested: <id>`. */
function docBlock(id: string): string {
  const page = fs.readFileSync(UNDO_PAGE, "utf8");
  const at = page.indexOf(`tested: ${id}`);
  assert.ok(at >= 0, `docs/undo.md has a block marked tested: ${id}`);
  const block = /```sh\n([\s\S]*?)```/.exec(page.slice(at));
  assert.ok(block, `a sh block after tested: ${id}`);
  return block[1];
}

const run = promisify(execFile);

/**
 * Runs a block of the page as its reader would: the `scp` and `ssh` lines from the machine running Pulumi (here with
 * the test sshd's key and host key), the lines after `ssh` on the host, where the test logs in as root (so `sudo` is
 * the command itself). `paths` maps the page's paths and address to the test's. Asynchronous: the stand-ins for
 * systemd and the kubelet answer in this process's event loop.
 */
async function runDocBlock(
  block: string,
  machine: TestSshd,
  paths: ReadonlyMap<string, string>,
  cwd: string,
  keyDir: string,
): Promise<void> {
  let text = block;
  for (const [from, to] of paths) text = text.split(from).join(to);
  const keyFile = path.join(keyDir, "id");
  fs.writeFileSync(keyFile, machine.privateKey, { mode: 0o600 });
  const knownHosts = path.join(keyDir, "known_hosts");
  fs.writeFileSync(knownHosts, `${machine.address} ${machine.hostKey}\n`);
  const sshOptions = ["-i", keyFile, "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "BatchMode=yes"];
  const lines = text.split("\n").filter((line) => line.trim() !== "" && !line.trim().startsWith("#"));
  const remote: string[] = [];
  for (const line of lines) {
    if (line.startsWith("scp ")) {
      // -O: the classic protocol; the test sshd has no sftp subsystem.
      await run("scp", ["-O", ...sshOptions, ...line.slice(4).split(" ")], { cwd });
    } else if (!line.startsWith("ssh ")) {
      remote.push(line);
    }
  }
  // etcdutl from the release under test, which the host would have installed beside etcd.
  const script = [
    "set -e",
    'sudo() { "$@"; }',
    `export PATH=${path.dirname(etcdBinary().etcd)}:$PATH`,
    remote.join("\n").replace(/\\\n/g, " "),
  ].join("\n");
  await run("ssh", [...sshOptions, `root@${machine.address}`, script]);
}

async function waitFor<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * docs/undo.md step by step on one-member clusters on a test network host (etcd on 2379, sshd on 22), driven by the
 * quick start programs through the real `pulumi` CLI and by the page's own shell blocks.
 */
describe("docs/undo.md: each step run as written (real etcd, real files, the real pulumi CLI)", function () {
  this.timeout(600_000);
  let network: LabNetwork | undefined;
  let tls: LabTls | undefined;
  let cluster: SupervisedCluster | undefined;
  let machines: TestSshd[] = [];
  let project: PulumiProject | undefined;
  let keyDir: string | undefined;
  let client: Etcd3 | undefined;

  afterEach(async () => {
    client?.close();
    project?.remove();
    for (const sshd of machines) await sshd.stop();
    await cluster?.stop();
    network?.remove();
    tls?.remove();
    if (keyDir) fs.rmSync(keyDir, { recursive: true, force: true });
    client = project = cluster = network = tls = keyDir = undefined;
    machines = [];
  });

  /** The quota the member runs, from its plain-http /metrics. */
  const liveQuota = () => gauge(cluster!.lab.member("m1").metricsUrl, "etcd_server_quota_backend_bytes", 5_000);
  /** Waits for the member's process to be another than `pid` and to answer with `quota`. */
  const restartedWith = (pid: number | undefined, quota: number) =>
    waitFor(`m1 back with ${quota}`, async () => {
      const now = cluster!.pid("m1");
      return now !== undefined && now !== pid && (await liveQuota()) === quota ? now : undefined;
    });
  const backupsOf = (file: string) =>
    fs
      .readdirSync(path.dirname(file))
      .filter(
        (name) => name.startsWith(`${path.basename(file)}.bak-`) || name.startsWith(`.${path.basename(file)}.bak-`),
      )
      .sort();

  it("systemd: a quota not above the DB is refused and changes nothing, a lower one rolls; a .bak-* and a snapshot restored by the page's commands; destroy leaves the host alone", async () => {
    network = await LabNetwork.create({ hosts: 1 });
    cluster = await SupervisedCluster.start({ format: "systemd-unit", members: 1, quotaBytes: 2 * GiB, network });
    machines = await machinesFor(cluster, ["m1"], network);
    keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-quota-undo-"));
    const member = cluster.lab.member("m1");
    const unit = cluster.configFile("m1");
    client = new Etcd3({ hosts: member.clientUrl });
    // About 3 MiB of values, so the DB is well above 1 MiB.
    for (let i = 0; i < 30; i++) await client.put(`undo/before/${i}`).value("x".repeat(100_000));

    const host = { ip: network.hosts[0].address, hostKey: machines[0].hostKey, configFile: unit };
    project = await PulumiProject.create({
      name: "etcd-systemd",
      copyFrom: path.join(REPO_ROOT, "examples", "systemd"),
    });
    await project.initStack("prod", {
      ...listConfig("hosts", [host]),
      sshPrivateKey: { secret: machines[0].privateKey },
      quota: "1MiB",
    });

    // Lowering below the DB: refused, and nothing changed.
    const original = fs.readFileSync(unit, "utf8");
    const pid = cluster.pid("m1");
    const refused = await project.run(["up", "--yes", "--stack", "prod"], { check: false });
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stdout + refused.stderr,
      /1 ?MiB is not above m1's DB of [\d.]+ ?MiB \(members\[0\]\): etcd would raise NOSPACE/,
    );
    assert.equal(fs.readFileSync(unit, "utf8"), original, "the unit is untouched");
    assert.equal(cluster.pid("m1"), pid, "etcd was not restarted");
    assert.equal(await liveQuota(), 2 * GiB);
    assert.deepEqual(backupsOf(unit), []);

    // Lowering above the DB: the normal rolling change.
    await project.setConfig("prod", { quota: "64MiB" });
    await project.run(["up", "--yes", "--stack", "prod"]);
    assert.equal(await liveQuota(), 64 * MiB);
    assert.equal(fs.readFileSync(unit, "utf8"), original.replace(String(2 * GiB), String(64 * MiB)));
    assert.equal(backupsOf(unit).length, 1);
    assert.equal(fs.readFileSync(path.join(path.dirname(unit), backupsOf(unit)[0]), "utf8"), original);
    const snapshots = fs.readdirSync(path.join(project.dir, "snapshots"));
    assert.equal(snapshots.length, 1, "the snapshot taken before the restart");
    await client.put("undo/after").value("written after the snapshot");

    // Restore the backup by hand, as the page says.
    const paths = new Map([
      ["/etc/systemd/system/etcd.service", unit],
      ["/var/lib/etcd", member.dataDir],
      ["10.0.0.11", host.ip],
      ["snapshots/prod-20261207T203000123Z.db", `snapshots/${snapshots[0]}`],
      ["/tmp/restore.db", path.join(keyDir, "restore.db")],
    ]);
    const beforeRestore = cluster.pid("m1");
    await runDocBlock(docBlock("restore-backup-systemd"), machines[0], paths, project.dir, keyDir);
    assert.equal(fs.readFileSync(unit, "utf8"), original, "the unit is the backup again");
    await restartedWith(beforeRestore, 2 * GiB);

    // Restore the provider's snapshot, as the page says.
    const beforeSnapshot = cluster.pid("m1");
    await runDocBlock(docBlock("restore-snapshot-systemd"), machines[0], paths, project.dir, keyDir);
    assert.match(fs.readFileSync(unit, "utf8"), new RegExp(`${member.dataDir}-restored`));
    await restartedWith(beforeSnapshot, 2 * GiB);
    client.close();
    client = new Etcd3({ hosts: member.clientUrl });
    assert.equal((await client.getAll().prefix("undo/before/").keys()).length, 30, "the snapshot's keys");
    assert.equal(await client.get("undo/after").string(), null, "nothing written after the snapshot");

    // Destroy: nothing on the host changes.
    // The unit's folder: the unit, its backups (and the stand-in's own files, which nothing here should touch).
    const folder = () =>
      fs
        .readdirSync(path.dirname(unit), { withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => [entry.name, fs.readFileSync(path.join(path.dirname(unit), entry.name), "utf8")]);
    const files = folder();
    const running = cluster.pid("m1");
    const destroyed = await project.run(["destroy", "--yes", "--stack", "prod"]);
    assert.match(destroyed.stdout, /\d deleted/);
    assert.deepEqual(folder(), files, "no file changed, the backups included");
    assert.equal(cluster.pid("m1"), running, "etcd was not restarted");
    assert.equal(await liveQuota(), 2 * GiB);
  });

  it("kubeadm: a hidden .etcd.yaml.bak-* and a provider snapshot restored on a control-plane node by the page's commands", async () => {
    network = await LabNetwork.create({ hosts: 1 });
    tls = makeLabTls({ serverAddresses: network.hosts.map((h) => h.address) });
    cluster = await SupervisedCluster.start({
      format: "kubeadm-manifest",
      members: 1,
      quotaBytes: 2 * GiB,
      tls,
      network,
    });
    machines = await machinesFor(cluster, ["m1"], network);
    keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-quota-undo-"));
    const member = cluster.lab.member("m1");
    const manifest = cluster.configFile("m1");
    client = new Etcd3(cluster.lab.clientOptions());
    await client.put("undo/before").value("in the snapshot");

    const node = { ip: network.hosts[0].address, hostKey: machines[0].hostKey, manifest };
    project = await PulumiProject.create({
      name: "etcd-kubeadm",
      copyFrom: path.join(REPO_ROOT, "examples", "kubeadm"),
    });
    const config: Record<string, ConfigValue> = {
      ...listConfig("controlPlane", [node]),
      sshPrivateKey: { secret: machines[0].privateKey },
      "tls.ca": { secret: tls.ca },
      "tls.cert": { secret: tls.client.cert },
      "tls.key": { secret: tls.client.key },
    };
    await project.initStack("prod", config);
    const original = fs.readFileSync(manifest, "utf8");
    await project.run(["up", "--yes", "--stack", "prod"]);
    assert.equal(await liveQuota(), 8 * GiB);
    const snapshots = fs.readdirSync(path.join(project.dir, "snapshots"));
    assert.equal(snapshots.length, 1);
    await client.put("undo/after").value("written after the snapshot");

    const paths = new Map([
      ["/etc/kubernetes/manifests", path.dirname(manifest)],
      ["/var/lib/etcd", member.dataDir],
      ["cp-1", "m1"],
      ["10.0.0.11", node.ip],
      ["snapshots/prod-20261207T203000123Z.db", `snapshots/${snapshots[0]}`],
      ["/tmp/restore.db", path.join(keyDir, "restore.db")],
    ]);
    const beforeRestore = cluster.pid("m1");
    await runDocBlock(docBlock("restore-backup-kubeadm"), machines[0], paths, project.dir, keyDir);
    assert.equal(fs.readFileSync(manifest, "utf8"), original, "the manifest is the backup again");
    await restartedWith(beforeRestore, 2 * GiB);

    const beforeSnapshot = cluster.pid("m1");
    await runDocBlock(docBlock("restore-snapshot-kubeadm"), machines[0], paths, project.dir, keyDir);
    await restartedWith(beforeSnapshot, 2 * GiB);
    client.close();
    client = new Etcd3(cluster.lab.clientOptions());
    assert.equal(await client.get("undo/before").string(), "in the snapshot");
    assert.equal(await client.get("undo/after").string(), null, "nothing written after the snapshot");
  });
});
