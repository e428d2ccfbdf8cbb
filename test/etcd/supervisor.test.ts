import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { setTimeout as sleep } from "timers/promises";
import {
  SupervisedCluster,
  type SupervisedFormat,
  environmentFile,
  manifestLaunch,
  splitWords,
  unitLaunch,
} from "../../lab/supervisor";

const MiB = 1024 * 1024;
const Q64 = 64 * MiB;
const Q80 = 80 * MiB;
const Q96 = 96 * MiB;
const Q128 = 128 * MiB;
/** Longer than the supervisor's check that a new process did not die at once. */
const START_CHECK_MS = 1_500;
const FIXTURES = path.join(__dirname, "..", "config", "fixtures");

/** Restart timings, printed at the end when SUPERVISOR_TIMINGS is set. */
const timings: string[] = [];

/** `etcd_server_quota_backend_bytes` (printed as a float, e.g. 6.7108864e+07) and `etcd_server_has_leader`. */
async function metrics(clientUrl: string): Promise<{ quota: number; hasLeader: boolean } | undefined> {
  try {
    const response = await fetch(`${clientUrl}/metrics`, { signal: AbortSignal.timeout(1_000) });
    const text = await response.text();
    const value = (name: string) => Number(new RegExp(`^${name}\\s+(\\S+)$`, "m").exec(text)?.[1]);
    return { quota: value("etcd_server_quota_backend_bytes"), hasLeader: value("etcd_server_has_leader") === 1 };
  } catch {
    return undefined;
  }
}

async function quotaOf(cluster: SupervisedCluster, name: string): Promise<number | undefined> {
  return (await metrics(cluster.lab.member(name).clientUrl))?.quota;
}

/** Waits until the member has a leader and reports `bytes` as its quota; returns how long that took. */
async function waitForQuota(cluster: SupervisedCluster, name: string, bytes: number, timeoutMs = 30_000) {
  const began = Date.now();
  let last: Awaited<ReturnType<typeof metrics>>;
  while (Date.now() - began < timeoutMs) {
    last = await metrics(cluster.lab.member(name).clientUrl);
    if (last?.hasLeader && last.quota === bytes) return Date.now() - began;
    await sleep(100);
  }
  const log = fs.readFileSync(cluster.supervisorLog(name), "utf8");
  assert.fail(
    `${name}: wanted quota ${bytes} with a leader, last saw ${JSON.stringify(last)}; supervisor log:\n${log}`,
  );
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs a command the way the provider's local host does: /bin/sh -c, asynchronously. */
function sh(command: string): Promise<Ran> {
  const began = Date.now();
  return new Promise((resolve) =>
    execFile("/bin/sh", ["-c", command], { timeout: 70_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr, ms: Date.now() - began }),
    ),
  );
}

/** Edits a file by hand: one exact replacement, which must change it. */
function edit(file: string, from: string, to: string): void {
  const text = fs.readFileSync(file, "utf8");
  const at = text.indexOf(from);
  assert.ok(at >= 0 && text.indexOf(from, at + 1) < 0, `${file} should hold ${JSON.stringify(from)} exactly once`);
  fs.writeFileSync(file, text.slice(0, at) + to + text.slice(at + from.length));
}

/** Restarts through the restart command, or (kubeadm) waits for the supervisor to replace the process by itself. */
async function restart(cluster: SupervisedCluster, name: string, oldPid: number | undefined): Promise<Ran> {
  const command = cluster.restartCommand(name);
  if (command !== "") {
    const ran = await sh(command);
    timings.push(`${cluster.format} ${name}: restart command ${ran.ms} ms (exit ${ran.code})`);
    return ran;
  }
  const began = Date.now();
  while (Date.now() - began < 15_000) {
    const pid = cluster.pid(name);
    if (pid !== undefined && pid !== oldPid) {
      timings.push(`${cluster.format} ${name}: new process ${Date.now() - began} ms after the manifest changed`);
      return { code: 0, stdout: "", stderr: "", ms: Date.now() - began };
    }
    await sleep(50);
  }
  assert.fail(`${name}: the supervisor did not replace pid ${oldPid} after the manifest changed`);
}

/** Edits, restarts, and waits for the expected quota; asserts the process was replaced. */
async function restartAndExpect(cluster: SupervisedCluster, name: string, bytes: number): Promise<void> {
  const before = cluster.pid(name);
  const ran = await restart(cluster, name, before);
  assert.equal(ran.code, 0, ran.stderr);
  assert.notEqual(cluster.pid(name), before, "a new process");
  const ms = await waitForQuota(cluster, name, bytes);
  timings.push(`${cluster.format} ${name}: healthy with ${bytes / MiB} MiB ${ms} ms later`);
}

async function allQuotas(cluster: SupervisedCluster): Promise<Record<string, number | undefined>> {
  const names = cluster.lab.members.map((m) => m.name);
  const values = await Promise.all(names.map((n) => quotaOf(cluster, n)));
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

describe("supervisor: reading units and manifests like systemd and the kubelet", () => {
  it("joins continued lines and splits ExecStart= like systemd (runbook unit)", () => {
    const text = fs.readFileSync(path.join(FIXTURES, "runbook-etcd.service"), "utf8");
    const launch = unitLaunch(text, "runbook-etcd.service");
    assert.equal(launch.binary, "/usr/local/bin/etcd");
    assert.equal(launch.args.length, 19);
    assert.ok(launch.args.includes("--quota-backend-bytes=10240000000"));
    assert.equal(launch.args.at(-1), "--snapshot-count=50000");
    assert.deepEqual(launch.env, { PATH: launch.env.PATH });
  });

  it("reads EnvironmentFile= (kubespray) and lets it override Environment=", () => {
    const text = fs
      .readFileSync(path.join(FIXTURES, "kubespray-etcd.service"), "utf8")
      .replace("EnvironmentFile=", 'Environment="ETCD_QUOTA_BACKEND_BYTES=1" ETCD_EXTRA=a\\x\nEnvironmentFile=');
    const env = fs.readFileSync(path.join(FIXTURES, "kubespray-etcd.env"), "utf8");
    const launch = unitLaunch(text, "etcd.service", (file) => {
      assert.equal(file, "/etc/etcd.env");
      return env;
    });
    assert.deepEqual([launch.binary, ...launch.args], ["/usr/local/bin/etcd"]);
    assert.equal(launch.env.ETCD_QUOTA_BACKEND_BYTES, "2147483648");
    assert.equal(launch.env.ETCD_EXTRA, "ax");
    assert.equal(launch.env.ETCD_NAME, "etcd1");
  });

  it("expands $VAR and ${VAR} in ExecStart=, and honours quotes", () => {
    const text = [
      "[Service]",
      'Environment="ETCD_ARGS=--a=1 --b=2" NAME=m1',
      "ExecStart=-/bin/etcd $ETCD_ARGS --name=${NAME} \\",
      "# a comment between continued lines is dropped",
      "  \"--initial-cluster=x=http://h:1\" '--log-outputs=a b'",
    ].join("\n");
    const launch = unitLaunch(text, "t.service");
    assert.deepEqual(launch.args, [
      "--a=1",
      "--b=2",
      "--name=m1",
      "--initial-cluster=x=http://h:1",
      "--log-outputs=a b",
    ]);
    assert.deepEqual(splitWords(`a "b \\" c" 'd e'f`), ["a", 'b " c', "d ef"]);
    assert.deepEqual(environmentFile("A=1\n# B=2\nexport C=3\nD = ' 4 '\n"), { A: "1", D: " 4 " });
  });

  it("runs the etcd container's command and args from a kubeadm manifest", () => {
    const text = fs.readFileSync(path.join(FIXTURES, "kubeadm-etcd.yaml"), "utf8");
    const launch = manifestLaunch(text, "etcd.yaml", "/usr/bin/etcd");
    assert.equal(launch.binary, "/usr/bin/etcd");
    assert.equal(launch.args[0], "--advertise-client-urls=https://192.168.56.10:2379");
    assert.equal(launch.args.at(-1), "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt");
    assert.equal(launch.args.length, 19);
  });
});

describe("supervisor: etcd restarted from its real config file (real etcd)", function () {
  this.timeout(90_000);

  after(() => {
    if (process.env.SUPERVISOR_TIMINGS) console.log(timings.join("\n"));
  });

  /** Starts a supervised cluster at 64 MiB, checks it, runs `scenario`, and always stops it. */
  function supervised(format: SupervisedFormat, scenario: (cluster: SupervisedCluster) => Promise<void>) {
    return async () => {
      const began = Date.now();
      const cluster = await SupervisedCluster.start({ format, quotaBytes: Q64 });
      timings.push(`${format}: supervised cluster ready in ${Date.now() - began} ms`);
      try {
        assert.deepEqual(await allQuotas(cluster), { m1: Q64, m2: Q64, m3: Q64 });
        await scenario(cluster);
      } finally {
        const stopping = Date.now();
        const pids = cluster.lab.members.map((m) => cluster.pid(m.name));
        await cluster.stop();
        timings.push(`${format}: stopped in ${Date.now() - stopping} ms`);
        for (const pid of pids) if (pid !== undefined) assert.throws(() => process.kill(pid, 0), /ESRCH/);
      }
    };
  }

  it(
    "systemd-unit: a flag edit is seen, a flag line outside ExecStart= is not, flag + variable fail the start",
    supervised("systemd-unit", async (cluster) => {
      const unit = cluster.configFile("m2");
      assert.ok(cluster.processArgs("m2").includes(`--quota-backend-bytes=${Q64}`));
      edit(unit, `--quota-backend-bytes=${Q64}`, `--quota-backend-bytes=${Q96}`);
      await restartAndExpect(cluster, "m2", Q96);
      assert.deepEqual(await allQuotas(cluster), { m1: Q64, m2: Q96, m3: Q64 });

      // A flag appended without continuing the line before is a directive of its own, which systemd ignores.
      edit(unit, `--quota-backend-bytes=${Q96}\n`, `--quota-backend-bytes=${Q96}\n  --quota-backend-bytes=${Q128}\n`);
      await restartAndExpect(cluster, "m2", Q96);
      assert.equal(cluster.processArgs("m2").at(-1), `--quota-backend-bytes=${Q96}`);

      // etcd refuses to start when a flag and its ETCD_* variable are both set ("conflicting environment variable
      // ... is shadowed"): the restart command fails like a failed unit, and the member stays down.
      edit(unit, "ExecStart=", `Environment="ETCD_QUOTA_BACKEND_BYTES=${Q128}"\nExecStart=`);
      const conflict = await sh(cluster.restartCommand("m2"));
      assert.notEqual(conflict.code, 0);
      assert.match(conflict.stderr, /m2 failed to start.*conflicting environment variable/s);
      assert.equal(cluster.pid("m2"), undefined);
      edit(unit, `Environment="ETCD_QUOTA_BACKEND_BYTES=${Q128}"\n`, "");
      await restartAndExpect(cluster, "m2", Q96);

      cluster.breakNextStart("m3");
      const broken = await sh(cluster.restartCommand("m3"));
      assert.notEqual(broken.code, 0);
      assert.match(broken.stderr, /m3 failed to start/);
      assert.equal(cluster.pid("m3"), undefined);
      await restartAndExpect(cluster, "m3", Q64);
    }),
  );

  it(
    "env-file: the variable is seen, the last assignment wins, a flag in the unit makes the start fail",
    supervised("env-file", async (cluster) => {
      const envFile = cluster.configFile("m2");
      assert.equal(cluster.processEnv("m2").ETCD_QUOTA_BACKEND_BYTES, String(Q64));
      assert.ok(!cluster.processArgs("m2").some((a) => a.startsWith("--quota-backend-bytes")));
      edit(envFile, `ETCD_QUOTA_BACKEND_BYTES=${Q64}`, `ETCD_QUOTA_BACKEND_BYTES=${Q96}`);
      await restartAndExpect(cluster, "m2", Q96);
      assert.deepEqual(await allQuotas(cluster), { m1: Q64, m2: Q96, m3: Q64 });

      // systemd: a later assignment overrides an earlier one, so an edit of the first one is not seen.
      fs.appendFileSync(envFile, `ETCD_QUOTA_BACKEND_BYTES=${Q80}\n`);
      edit(envFile, `ETCD_QUOTA_BACKEND_BYTES=${Q96}`, `ETCD_QUOTA_BACKEND_BYTES=${Q128}`);
      await restartAndExpect(cluster, "m2", Q80);

      // The same setting as a flag in the unit: etcd does not pick one, it refuses to start.
      const unit = cluster.unitFile("m2")!;
      edit(unit, "--logger=zap", `--logger=zap \\\n  --quota-backend-bytes=${Q96}`);
      const conflict = await sh(cluster.restartCommand("m2"));
      assert.notEqual(conflict.code, 0);
      assert.match(conflict.stderr, /m2 failed to start.*conflicting environment variable/s);
      edit(unit, `--logger=zap \\\n  --quota-backend-bytes=${Q96}`, "--logger=zap");
      await restartAndExpect(cluster, "m2", Q80);
    }),
  );

  it(
    "etcd-config: the YAML key is seen; ETCD_* variables and flags next to --config-file are ignored",
    supervised("etcd-config", async (cluster) => {
      const config = cluster.configFile("m2");
      assert.deepEqual(cluster.processArgs("m2"), ["--config-file", config]);
      edit(config, `quota-backend-bytes: ${Q64}`, `quota-backend-bytes: ${Q96}`);
      await restartAndExpect(cluster, "m2", Q96);
      assert.deepEqual(await allQuotas(cluster), { m1: Q64, m2: Q96, m3: Q64 });

      const unit = cluster.unitFile("m2")!;
      edit(unit, "ExecStart=", `Environment=ETCD_QUOTA_BACKEND_BYTES=${Q128}\nExecStart=`);
      edit(unit, `--config-file ${config}`, `--config-file ${config} --quota-backend-bytes=${Q128}`);
      await restartAndExpect(cluster, "m2", Q96);
      assert.ok(cluster.processArgs("m2").includes(`--quota-backend-bytes=${Q128}`));
      assert.equal(cluster.processEnv("m2").ETCD_QUOTA_BACKEND_BYTES, String(Q128));
    }),
  );

  it(
    "kubeadm-manifest: a changed manifest restarts the member by itself, a comment does not, the last flag wins",
    supervised("kubeadm-manifest", async (cluster) => {
      const manifest = cluster.configFile("m2");
      assert.equal(cluster.restartCommand("m2"), "");
      const name = (flag: string) => flag.split("=")[0];
      const args = cluster.processArgs("m2");
      assert.deepEqual(args.map(name), args.map(name).sort(), "sorted by flag name, as kubeadm writes them");
      edit(manifest, `- --quota-backend-bytes=${Q64}`, `- --quota-backend-bytes=${Q96}`);
      await restartAndExpect(cluster, "m2", Q96);
      assert.deepEqual(await allQuotas(cluster), { m1: Q64, m2: Q96, m3: Q64 });

      // A comment changes the text, not the Pod: the kubelet leaves the pod alone.
      const pid = cluster.pid("m2");
      edit(manifest, "    - etcd\n", `    - etcd\n    # - --quota-backend-bytes=${Q128}\n`);
      await sleep(700);
      assert.equal(cluster.pid("m2"), pid);

      // `args` come after `command`, and of two flags etcd takes the last: an edit of the first is not seen.
      edit(manifest, "    name: etcd\n", `    args:\n    - --quota-backend-bytes=${Q80}\n    name: etcd\n`);
      await restartAndExpect(cluster, "m2", Q80);
      edit(manifest, `- --quota-backend-bytes=${Q96}`, `- --quota-backend-bytes=${Q128}`);
      await restartAndExpect(cluster, "m2", Q80);

      // The flag and its variable together: etcd refuses to start, the member is down until the file is restored.
      const m3 = cluster.configFile("m3");
      const good = fs.readFileSync(m3, "utf8");
      edit(
        m3,
        "    name: etcd\n",
        `    env:\n    - name: ETCD_QUOTA_BACKEND_BYTES\n      value: "${Q128}"\n    name: etcd\n`,
      );
      const down = Date.now();
      while (cluster.pid("m3") !== undefined && Date.now() - down < 10_000) await sleep(50);
      await sleep(START_CHECK_MS);
      assert.equal(cluster.pid("m3"), undefined);
      assert.equal(cluster.processEnv("m3").ETCD_QUOTA_BACKEND_BYTES, String(Q128));
      fs.writeFileSync(m3, good);
      await restartAndExpect(cluster, "m3", Q64);
    }),
  );
});
