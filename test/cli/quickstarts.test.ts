import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../../lab/etcd-binary";
import { LabNetwork } from "../../lab/netns";
import { type ConfigValue, listConfig, PACKAGE_VERSION, pluginTarball, PulumiProject } from "../../lab/pulumi-cli";
import { gauge, SupervisedCluster, type SupervisedFormat } from "../../lab/supervisor";
import { type LabTls, makeLabTls } from "../../lab/tls";
import { machinesFor, restartsOn } from "../support/machines";
import { RollingObserver } from "../support/rolling-observer";
import type { TestSshd } from "../support/sshd";

const GiB = 1024 ** 3;
const NAMES = ["m1", "m2", "m3"];

/**
 * Where the transcripts go when QUICKSTART_TRANSCRIPTS names a folder: `<example>-preview.txt`, `<example>-up.txt`
 * and `<example>-timeline.txt`, pasted into docs/quickstart-*.md.
 */
const TRANSCRIPTS = process.env.QUICKSTART_TRANSCRIPTS;

function save(example: string, part: string, text: string): void {
  if (TRANSCRIPTS === undefined) return;
  fs.mkdirSync(TRANSCRIPTS, { recursive: true });
  fs.writeFileSync(path.join(TRANSCRIPTS, `${example}-${part}.txt`), text);
}

/** Every quick start's plan on a new stack, in TypeScript and in YAML: [step, resource type's name, resource name]. */
const PLAN = [
  ["create", "EtcdQuota", "quota"],
  ["create", "EtcdCompaction", "space"],
];

/** The steps a preview prints (`+  <type> <name> create`), the stack itself left out; the type by its last part. */
function planSteps(stdout: string): string[][] {
  return [...stdout.matchAll(/^\s*[+~-]\s+(\S+:\S+)\s+(\S+)\s+(create|update|replace|delete)\s*$/gm)]
    .filter((step) => step[1] !== "pulumi:pulumi:Stack")
    .map((step) => [step[3], step[1].split(":").pop()!, step[2]]);
}

/** One quick start: its example folder, the format the lab writes, and its stack config for the lab's nodes. */
interface QuickStart {
  readonly example: "kubeadm" | "systemd" | "k3s";
  readonly format: SupervisedFormat;
  readonly tls: boolean;
  /** The stack config a user sets, for these nodes (`configFile` is each node's file in the lab). */
  config(nodes: readonly { ip: string; hostKey: string; configFile: string }[]): Record<string, string>;
}

const QUICK_STARTS: readonly QuickStart[] = [
  {
    example: "kubeadm",
    format: "kubeadm-manifest",
    tls: true,
    config: (nodes) =>
      listConfig(
        "controlPlane",
        nodes.map(({ configFile, ...n }) => ({ ...n, manifest: configFile })),
      ),
  },
  { example: "systemd", format: "systemd-unit", tls: false, config: (nodes) => listConfig("hosts", nodes) },
  { example: "k3s", format: "k3s-config", tls: true, config: (nodes) => listConfig("servers", nodes) },
];

/**
 * Each quick start's program from examples/, copied as a user copies it, run with `pulumi preview` and `pulumi up`
 * against three nodes on a test network: a network namespace each with its own address (etcd on 2379 and sshd on 22
 * there, as the programs assume), the member's file in the format the quick start is for, and a stand-in for the
 * kubelet or systemd that (re)starts etcd from exactly what that file says.
 */
describe("quick starts (examples/kubeadm, systemd, k3s) through the real pulumi CLI, on three nodes", function () {
  this.timeout(600_000);
  let network: LabNetwork | undefined;
  let tls: LabTls | undefined;
  let cluster: SupervisedCluster | undefined;
  let machines: TestSshd[] = [];
  let project: PulumiProject | undefined;
  let observer: RollingObserver | undefined;

  /**
   * Three nodes for a quick start: the cluster in its format at 2 GiB, sshd on each, and the stack config a user
   * sets for them. What the oracles compare to is read here, before any pulumi command runs.
   */
  async function startNodes(quickStart: QuickStart) {
    network = await LabNetwork.create({ hosts: NAMES.length });
    const addresses = network.hosts.map((host) => host.address);
    tls = quickStart.tls ? makeLabTls({ serverAddresses: addresses }) : undefined;
    const started = await SupervisedCluster.start({
      format: quickStart.format,
      members: NAMES.length,
      quotaBytes: 2 * GiB,
      tls,
      network,
    });
    cluster = started;
    machines = await machinesFor(started, NAMES, network);
    for (const [i, name] of NAMES.entries()) {
      const scheme = tls ? "https" : "http";
      assert.equal(started.lab.member(name).clientUrl, `${scheme}://${addresses[i]}:2379`, "where the program looks");
    }
    const files = () => NAMES.map((name) => fs.readFileSync(started.configFile(name), "utf8"));
    const pids = () => NAMES.map((name) => started.pid(name));
    const before = { files: files(), pids: pids(), order: await started.rollingOrder() };
    const nodes = NAMES.map((name, i) => ({
      ip: addresses[i],
      hostKey: machines[i].hostKey,
      // One filesystem for the three namespaces: each node's file is in its own folder.
      configFile: started.configFile(name),
    }));
    const config: Record<string, ConfigValue> = {
      ...quickStart.config(nodes),
      sshPrivateKey: { secret: machines[0].privateKey },
      ...(tls
        ? {
            "tls.ca": { secret: tls.ca },
            "tls.cert": { secret: tls.client.cert },
            "tls.key": { secret: tls.client.key },
          }
        : {}),
    };
    return { cluster: started, files, pids, before, config };
  }

  /** The first preview: the quick start's plan, and nothing written or restarted. */
  async function previewChangesNothing(nodes: Awaited<ReturnType<typeof startNodes>>, example: string) {
    const preview = await project!.run(["preview", "--stack", "prod"]);
    save(example, "preview", preview.stdout);
    assert.deepEqual(planSteps(preview.stdout), PLAN, `the quick start's plan:\n${preview.stdout}`);
    assert.deepEqual(nodes.files(), nodes.before.files, "preview wrote no file");
    assert.deepEqual(nodes.pids(), nodes.before.pids, "preview restarted nothing");
  }

  /**
   * `pulumi up`, watched from every member's /metrics; then etcd, the processes and the files are read, never the
   * provider's output: 8 GiB live, only the quota changed in each file (the old one kept beside it), every member
   * restarted once, one at a time, followers first and the leader last.
   */
  async function upRaisesEveryMember(nodes: Awaited<ReturnType<typeof startNodes>>, quickStart: QuickStart) {
    const { cluster: supervised, files, pids, before } = nodes;
    observer = RollingObserver.start(supervised, 100, "metrics");
    const started = Date.now();
    const up = await project!.run(["up", "--yes", "--stack", "prod"]);
    const upMs = Date.now() - started;
    const seen = await observer.stop();
    observer = undefined;
    for (const [i, name] of NAMES.entries()) {
      const live = await gauge(supervised.lab.member(name).metricsUrl, "etcd_server_quota_backend_bytes", 5_000);
      assert.equal(live, 8 * GiB, `${name} runs the quota`);
      assert.equal(
        files()[i],
        before.files[i].replace(String(2 * GiB), String(8 * GiB)),
        `${name}: only the quota changed in ${supervised.configFile(name)}`,
      );
      assert.notEqual(pids()[i], before.pids[i], `${name} was restarted`);
      const folder = path.dirname(supervised.configFile(name));
      const backups: string[] = fs
        .readdirSync(folder)
        .filter((file) => file.includes(".bak-"))
        .map((file) => fs.readFileSync(path.join(folder, file), "utf8"));
      assert.deepEqual(backups, [before.files[i]], `${name}: the file as it was, kept beside it`);
    }
    if (quickStart.format !== "kubeadm-manifest") {
      assert.deepEqual(machines.map(restartsOn), [1, 1, 1], "one systemctl restart per node");
    }
    assert.deepEqual(seen.restartOrder, before.order, "followers first, the leader last");
    assert.ok(seen.mostUnanswered <= 1, `at most one member down at a time (${seen.mostUnanswered})`);
    // Each member restarted once (its pid and the restart count say so); a restart quicker than the observer's
    // 100 ms between looks is not seen as an outage at all, so a member is down at most once in what it saw.
    const down = NAMES.flatMap((name) => {
      const stretches = seen.outages.get(name)!;
      assert.ok(stretches.length <= 1, `${name} was down at most once: ${JSON.stringify(stretches)}`);
      return stretches.map((stretch) => {
        assert.ok(stretch.to !== undefined, `${name} answered again`);
        return { name, from: stretch.from, to: stretch.to! };
      });
    });
    down.sort((a, b) => a.from - b.from);
    for (let i = 1; i < down.length; i++) {
      assert.ok(down[i].from >= down[i - 1].to, `${down[i].name} went down after ${down[i - 1].name} was back`);
    }
    return { up, upMs, started, down, seen };
  }

  /** Stops what one quick start's run started, by pid, and removes its folders and namespaces. */
  async function tearDown(): Promise<void> {
    await observer?.stop();
    project?.remove();
    for (const sshd of machines) await sshd.stop();
    await cluster?.stop();
    network?.remove();
    tls?.remove();
    observer = project = cluster = network = tls = undefined;
    machines = [];
  }

  afterEach(tearDown);

  for (const quickStart of QUICK_STARTS) {
    const { example } = quickStart;
    it(`${example}: preview shows the plan and changes nothing; up raises every member to 8 GiB one at a time, leader last`, async () => {
      const dir = path.join(REPO_ROOT, "examples", example);
      // Copyable: the package by its published name and version, not a path into this repository.
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
      assert.equal(manifest.dependencies["pulumi-etcd-quota"], `^${PACKAGE_VERSION}`);
      assert.ok(fs.readFileSync(path.join(dir, "index.ts"), "utf8").split("\n").length <= 32, "a short program");

      const nodes = await startNodes(quickStart);
      project = await PulumiProject.create({ name: `etcd-${example}`, copyFrom: dir });
      await project.initStack("prod", nodes.config);
      await previewChangesNothing(nodes, example);
      const { up, upMs, started, down, seen } = await upRaisesEveryMember(nodes, quickStart);
      save(example, "up", up.stdout);
      save(
        example,
        "timeline",
        [
          `up took ${(upMs / 1000).toFixed(1)} s (${seen.looks} looks at every member's /metrics, 100 ms apart)`,
          ...down.map(
            (d) =>
              `${d.name}: down ${((d.to - d.from) / 1000).toFixed(1)} s, from ${((d.from - started) / 1000).toFixed(1)} s to ${((d.to - started) / 1000).toFixed(1)} s after up started`,
          ),
        ].join("\n") + "\n",
      );

      if (example === "kubeadm" || example === "systemd") {
        const snapshots = fs.readdirSync(path.join(project.dir, "snapshots"));
        assert.equal(snapshots.length, 1, `one snapshot before the first restart: ${snapshots.join(", ")}`);
      }
      const state = JSON.stringify(await project.exportState("prod"));
      const key = machines[0].privateKey.split("\n").find((line) => line.length > 40)!;
      assert.ok(!state.includes(key), "the private key is not in the state in the clear");

      const again = await project.run(["preview", "--expect-no-changes", "--stack", "prod"], { check: false });
      assert.equal(again.code, 0, `a second preview has no changes:\n${again.stdout}`);
    });
  }

  it("Pulumi YAML (examples/*/yaml, over the plugin): each preview shows the plan and changes nothing; kubeadm's up raises every member, leader last", async () => {
    const tarball = await pluginTarball();
    // kubeadm last: its up runs on the stack its preview planned.
    for (const quickStart of [QUICK_STARTS[1], QUICK_STARTS[2], QUICK_STARTS[0]]) {
      const { example } = quickStart;
      const nodes = await startNodes(quickStart);
      project = PulumiProject.createYaml({ name: `etcd-${example}`, program: "" });
      fs.copyFileSync(
        path.join(REPO_ROOT, "examples", example, "yaml", "Pulumi.yaml"),
        path.join(project.dir, "Pulumi.yaml"),
      );
      await project.installPlugin(tarball);
      await project.initStack("prod", nodes.config);
      await previewChangesNothing(nodes, `${example}-yaml`);
      if (example !== "kubeadm") {
        await tearDown();
        continue;
      }
      const { up } = await upRaisesEveryMember(nodes, quickStart);
      save(`${example}-yaml`, "up", up.stdout);
      const snapshots = fs.readdirSync(path.join(project.dir, "snapshots"));
      assert.equal(snapshots.length, 1, `one snapshot before the first restart: ${snapshots.join(", ")}`);
      const state = JSON.stringify(await project.exportState("prod"));
      const key = machines[0].privateKey.split("\n").find((line) => line.length > 40)!;
      assert.ok(!state.includes(key), "the private key is not in the state in the clear");
      const again = await project.run(["preview", "--expect-no-changes", "--stack", "prod"], { check: false });
      assert.equal(again.code, 0, `a second preview has no changes:\n${again.stdout}`);
    }
  });
});
