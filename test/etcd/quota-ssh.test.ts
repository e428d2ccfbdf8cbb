import * as assert from "node:assert/strict";
import * as fs from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { EngineStack, PartialFailure, ProviderHost, secret } from "../support/engine";
import { providerShim, SECRET_OUTPUTS } from "../../sdk/shim";
import type { TestSshd } from "../support/sshd";
import { generateKey, startSshd } from "../support/sshd";
import type { SupervisedFormat } from "../../lab/supervisor";
import { SupervisedCluster } from "../../lab/supervisor";
import { assertOnlyQuotaChanged, liveQuota, sha256 } from "../support/files";
import { progressLines } from "../support/progress";

const MiB = 1024 ** 2;
const TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";

/** Where in a JSON document a string containing `needle` sits, as `a.b[0].c` paths. */
function pathsContaining(json: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (value: unknown, at: string): void => {
    if (typeof value === "string") {
      if (value.includes(needle)) found.push(at);
    } else if (Array.isArray(value)) {
      value.forEach((element, i) => walk(element, `${at}[${i}]`));
    } else if (value !== null && typeof value === "object") {
      for (const [key, element] of Object.entries(value)) walk(element, at === "" ? key : `${at}.${key}`);
    }
  };
  walk(JSON.parse(json), "");
  return found;
}

/** A line from the middle of a private key: distinctive, and unchanged by JSON escaping (no newline in it). */
function keyLine(privateKey: string): string {
  const lines = privateKey.trim().split("\n");
  return lines[Math.floor(lines.length / 2)];
}

// One describe around everything keeps the sshd and host hooks from running for the other test files.
describe("EtcdQuota through SSH against the test sshd", function () {
  this.timeout(240_000);

  let host: ProviderHost | undefined;
  let sshd: TestSshd | undefined;
  const clusters: SupervisedCluster[] = [];

  before(async () => {
    sshd = await startSshd();
    host = await ProviderHost.start();
  });
  after(async () => {
    // Each stop runs even when another throws: nothing started here may outlive the file.
    const results = await Promise.allSettled([host?.stop(), sshd?.stop()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  });
  afterEach(async () => {
    const results = await Promise.allSettled(clusters.splice(0).map((cluster) => cluster.stop()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  });

  async function startCluster(format: SupervisedFormat): Promise<SupervisedCluster> {
    const cluster = await SupervisedCluster.start({ format, members: 3, quotaBytes: 64 * MiB });
    clusters.push(cluster);
    return cluster;
  }

  function connection(overrides: Record<string, unknown> = {}) {
    return {
      host: "127.0.0.1",
      port: sshd!.port,
      user: sshd!.user,
      privateKey: sshd!.privateKey,
      hostKey: sshd!.hostKey,
      ...overrides,
    };
  }

  /** The inputs as the SDK sends them: with a private key in `members`, the whole list is secret (secretIfCredentials). */
  function inputsFor(cluster: SupervisedCluster, quota: string, overrides: Record<string, unknown> = {}) {
    return {
      quota,
      members: secret(
        cluster.quotaMembers().map((m, i) => ({
          ...m,
          // Each restart first notes, on the host, the member, the user it runs as and the SSH connection it runs
          // in (sshd sets SSH_CONNECTION in its sessions only), for the test to read instead of the provider's log.
          ...(m.restartCommand
            ? {
                restartCommand: `echo "${cluster.lab.members[i].name} $(id -un) $SSH_CONNECTION" >> '${witnessFile(cluster)}'; ${m.restartCommand}`,
              }
            : {}),
          connection: connection(overrides),
        })),
      ),
      restartTimeout: "60s",
    };
  }

  /** Where the restart commands of `cluster`'s members note who ran them (see inputsFor). */
  function witnessFile(cluster: SupervisedCluster): string {
    return join(cluster.lab.dir, "restarts-witnessed");
  }

  /** The restarts noted in the witness file: member, user, and the server port of the SSH session they ran in. */
  function witnessedRestarts(cluster: SupervisedCluster): { member: string; user: string; sshPort: number }[] {
    const file = witnessFile(cluster);
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((line) => {
        // SSH_CONNECTION is "client-address client-port server-address server-port"; empty outside SSH.
        const [member, user, , , , sshPort] = line.split(" ");
        return { member, user, sshPort: Number(sshPort) };
      });
  }

  function newStack(): EngineStack {
    return new EngineStack(host!, {
      provider: providerShim("quota"),
      type: TYPE,
      additionalSecretOutputs: SECRET_OUTPUTS.quota,
    });
  }

  function progressSince(from: number): string[] {
    return progressLines(host!.logs.slice(from), "EtcdQuota");
  }

  /** The state file the engine keeps holds no private key text, and the members input is stored as ciphertext. */
  function assertNoPlaintextKey(stack: EngineStack): void {
    const raw = stack.rawState();
    assert.deepEqual(pathsContaining(raw, keyLine(sshd!.privateKey)), [], "no private key text in the engine's state");
    const state = JSON.parse(raw) as { resources: { inputs: Record<string, unknown> }[] };
    for (const resource of state.resources) {
      assert.ok("ciphertext" in (resource.inputs.members as object), "the members input is stored as ciphertext");
    }
  }

  const rolls: { format: SupervisedFormat; sudo: boolean }[] = [
    { format: "systemd-unit", sudo: false },
    // With sudo the test sshd's shim logs every call, which shows the edits went through SSH.
    { format: "kubeadm-manifest", sudo: true },
  ];
  for (const { format, sudo } of rolls) {
    it(`rolls the quota through a 3-member ${format} over SSH${sudo ? " with sudo" : ""}, only the quota line changing`, async () => {
      const cluster = await startCluster(format);
      const before = new Map(
        cluster.lab.members.map((m) => [m.name, fs.readFileSync(cluster.configFile(m.name), "utf8")]),
      );
      const stack = newStack();
      const sudoBefore = sshd!.sudoCalls().length;
      const logStart = host!.logs.length;
      const started = Date.now();
      const inputs = inputsFor(cluster, "96MiB", sudo ? { sudo: true } : {});
      const { op, outputs } = await stack.up("quota", inputs);
      const tookMs = Date.now() - started;
      assert.equal(op, "create");

      for (const member of cluster.lab.members) {
        assert.equal(await liveQuota(member.clientUrl), 96 * MiB, `${member.name} runs the new quota`);
        const after = fs.readFileSync(cluster.configFile(member.name), "utf8");
        assertOnlyQuotaChanged(before.get(member.name)!, after, 64 * MiB, 96 * MiB, `${member.name}'s file`);
      }
      // The `members` output is the per-member record; the engine re-marks it secret as its input is.
      const records = (outputs!.members as { value: { liveBytes: number; restarted: boolean; backupPath: string }[] })
        .value;
      assert.equal(records.length, 3);
      for (const record of records) {
        assert.ok(record.liveBytes === 96 * MiB && record.restarted, JSON.stringify(record));
        assert.ok(fs.existsSync(record.backupPath), `the backup ${record.backupPath} was written on the host`);
      }

      const progress = progressSince(logStart);
      const backLines = progress.filter((line) => /: back with quota 96 MiB in effect after/.test(line));
      assert.equal(backLines.length, 3, progress.join("\n"));
      if (format === "systemd-unit") {
        // Read on the host: each member's restart ran once, as root, in a session of the test's sshd.
        assert.deepEqual(
          witnessedRestarts(cluster).sort((a, b) => a.member.localeCompare(b.member)),
          cluster.lab.members.map((m) => ({ member: m.name, user: "root", sshPort: sshd!.port })),
          "each restart ran over SSH",
        );
      }
      const sudoCalls = sshd!.sudoCalls().slice(sudoBefore);
      if (sudo) {
        assert.ok(sudoCalls.length >= 6, `reads and writes went through sudo over SSH: ${sudoCalls.join("\n")}`);
        assert.ok(
          sudoCalls.every((line) => line.startsWith("-n timeout -s KILL")),
          sudoCalls.join("\n"),
        );
      } else {
        assert.deepEqual(sudoCalls, [], "root logs in without sudo");
      }
      assert.ok(!host!.logs.some((line) => line.includes(keyLine(sshd!.privateKey))), "the key is never in the log");
      assertNoPlaintextKey(stack);

      // A refresh reads every file over SSH again, and finds nothing to change.
      const refreshed = await stack.refresh("quota");
      assert.equal(refreshed.changed, false);
      assertNoPlaintextKey(stack);
      console.log(
        `      ${format}${sudo ? " (sudo)" : ""} over SSH: ${(tookMs / 1000).toFixed(1)} s for 3 members, ` +
          `${sudoCalls.length} sudo calls`,
      );
    });
  }

  it("refuses a wrong host key at check time, naming the member and the mismatch, and changes no file", async () => {
    const cluster = await startCluster("systemd-unit");
    const hashes = () => cluster.lab.members.map((m) => sha256(cluster.configFile(m.name)));
    const pids = () => cluster.lab.members.map((m) => cluster.pid(m.name));
    const before = { hashes: hashes(), pids: pids() };
    const keys = fs.mkdtempSync(join(tmpdir(), "etcd-quota-other-host-"));
    let otherHostKey: string;
    try {
      otherHostKey = generateKey(keys, "other_host").publicKey;
    } finally {
      fs.rmSync(keys, { recursive: true, force: true });
    }
    const stack = newStack();
    const inputs = inputsFor(cluster, "96MiB", { hostKey: otherHostKey });

    const preview = await stack.preview("quota", inputs);
    assert.equal(preview.op, "failed");
    assert.match(preview.failures[0]?.reason ?? "", /^members\[\d\]\./, JSON.stringify(preview.failures));
    const reasons = preview.failures.map((f) => f.reason).join("\n");
    assert.match(reasons, /^members\[0\]\./m, "the first member is named");
    assert.match(
      reasons,
      new RegExp(`cannot connect to root@127\\.0\\.0\\.1:${sshd!.port}: the host key does not match`),
    );
    assert.match(reasons, /hostKey expects ssh-ed25519 SHA256:/);
    assert.ok(!reasons.includes(keyLine(sshd!.privateKey)), "the private key is not in the message");

    // `pulumi up` stops at the same check: nothing is created, no file is written, no member restarts.
    const up = await stack.up("quota", inputs);
    assert.equal(up.op, "failed");
    assert.equal(stack.state("quota"), undefined);
    assert.deepEqual(hashes(), before.hashes, "every file unchanged");
    assert.deepEqual(pids(), before.pids, "no member restarted");
    for (const member of cluster.lab.members) assert.equal(await liveQuota(member.clientUrl), 64 * MiB);
    console.log(`      refused: ${preview.failures[0].reason.slice(0, 160)}...`);
  });

  it("rolls back a member that does not come back, over SSH, and resumes on the next up", async () => {
    const cluster = await startCluster("systemd-unit");
    const [first] = await cluster.rollingOrder();
    const files = new Map(cluster.lab.members.map((m) => [m.name, sha256(cluster.configFile(m.name))]));
    const pids = new Map(cluster.lab.members.map((m) => [m.name, cluster.pid(m.name)]));
    cluster.breakNextStart(first);

    const stack = newStack();
    const started = Date.now();
    await assert.rejects(stack.up("quota", inputsFor(cluster, "96MiB")), (error: unknown) => {
      assert.ok(error instanceof PartialFailure, String(error));
      assert.match(error.message, new RegExp(`quota change stopped at ${first}: `));
      assert.match(error.message, /Members now: /);
      assert.ok(!error.message.includes(keyLine(sshd!.privateKey)), "the key is not in the error");
      return true;
    });
    const failedAfterMs = Date.now() - started;
    assert.equal(sha256(cluster.configFile(first)), files.get(first), `${first}'s file is restored byte for byte`);
    assert.equal(await liveQuota(cluster.lab.member(first).clientUrl), 64 * MiB, `${first} runs its old quota again`);
    for (const member of cluster.lab.members.filter((m) => m.name !== first)) {
      assert.equal(sha256(cluster.configFile(member.name)), files.get(member.name), `${member.name}'s file untouched`);
      assert.equal(cluster.pid(member.name), pids.get(member.name), `${member.name} not restarted`);
    }
    // Read on the host: the restart and the one after the rollback, both of the first member, ran as root over SSH.
    const restarts = witnessedRestarts(cluster);
    assert.ok(
      restarts.length >= 2 &&
        restarts.every((r) => r.member === first && r.user === "root" && r.sshPort === sshd!.port),
      `the restart and the one after the rollback ran over SSH: ${JSON.stringify(restarts)}`,
    );
    assert.ok(stack.state("quota"), "the partial failure is in the state, so the next up resumes");
    assertNoPlaintextKey(stack);

    const resumed = await stack.up("quota", inputsFor(cluster, "96MiB"));
    assert.equal(resumed.op, "update");
    for (const member of cluster.lab.members) assert.equal(await liveQuota(member.clientUrl), 96 * MiB);
    assertNoPlaintextKey(stack);
    console.log(
      `      rollback of ${first} over SSH reported after ${(failedAfterMs / 1000).toFixed(1)} s; resumed to 96 MiB`,
    );
  });
});
