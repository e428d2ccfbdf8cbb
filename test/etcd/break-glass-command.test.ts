import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { Etcd3 } from "etcd3";
import { isAlive, LabCluster } from "../../lab/cluster";
import { fill, verifyFill } from "../../lab/fill";
import type { LabTls } from "../../lab/tls";
import { makeLabTls } from "../../lab/tls";
import { alarmsOf, fillToNoSpace, statusOf, waitHealthy, withClient } from "../support/etcd";

const MiB = 1024 ** 2;
const ROOT = path.join(__dirname, "../..");
/** The command as the package ships it: package.json's `bin`, built into dist. */
const COMMAND = path.join(ROOT, require("../../package.json").bin["etcd-quota"]);

interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `etcd-quota ARGS` in a process of its own, as an operator's shell does. */
function etcdQuota(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [COMMAND, ...args],
      { env: { ...process.env, ...env }, timeout: 180_000 },
      (error, stdout, stderr) => {
        const code = error ? (error as { code?: unknown }).code : 0;
        if (typeof code !== "number") reject(error);
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Whether `revision` can still be read, i.e. no compaction has gone past it (Range at a revision, from etcd). */
async function readableAt(endpoints: readonly string[], revision: number): Promise<boolean> {
  return withClient(endpoints, async (client) => {
    try {
      await client.kv.range({ key: Buffer.from("lab/fill/0"), revision });
      return true;
    } catch (error) {
      if (/required revision has been compacted/.test(String(error))) return false;
      throw error;
    }
  });
}

describe("the break-glass command (etcd-quota) on real etcd", function () {
  this.timeout(300_000);
  let cluster: LabCluster | undefined;
  let tls: LabTls | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
    tls?.remove();
    tls = undefined;
  });

  it("refuses bad usage with exit 2, naming the flag, before contacting anything", async () => {
    // Port 9 (discard) on 127.0.0.1: were anything contacted, the exit would be 4 (unreachable), not 2.
    const endpoint = "http://127.0.0.1:9";
    const cases: [string[], RegExp][] = [
      [["maintain", "--endpoints", endpoint, "--retain-revisions=-3"], /--retain-revisions: expected a whole/],
      [["maintain", "--endpoints", endpoint, "--retain-revisions", "many"], /--retain-revisions: expected a whole/],
      [["maintain", "--endpoints", `${endpoint},ftp://x:1`], /--endpoints \(entry 2\): .*http:\/\/ or https:\/\//],
      [["maintain", "--endpoints", endpoint, "--snapshot", "relative/{time}.db"], /--snapshot: expected an absolute/],
      [["maintain", "--endpoints", endpoint, "--disarm-below", "2"], /--disarm-below: expected a fraction/],
      [["maintain", "--endpoints", endpoint, "--call-timeout", "forever"], /--call-timeout: expected a duration/],
      [["maintain", "--endpoints", endpoint, "--cacert", "/nonexistent/ca.pem"], /--cacert: cannot read/],
      [["maintain", "--endpoints", endpoint, "--quota", "8GiB"], /Unknown option '--quota'/],
      [["maintain", "--endpoints", endpoint, "--user", "root:pw"], /--endpoints \(entry 1\): .*in cleartext/],
      [["maintain"], /--endpoints: required/],
      [["compact", "--endpoints", endpoint], /unknown command "compact"/],
      [[], /give a command: maintain or status/],
    ];
    for (const [args, message] of cases) {
      const result = await etcdQuota(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "", "nothing printed as progress");
    }
    const help = await etcdQuota(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit codes:/);
  });

  it("at NOSPACE: status exits 5, --dry-run prints the plan and changes nothing (revision, history, DB sizes, alarms, pids)", async () => {
    cluster = await LabCluster.start({ members: 3, quotaBytes: 40 * MiB });
    const endpoints = cluster.endpoints;
    await fillToNoSpace(endpoints);
    const pids = cluster.members.map((m) => m.pid!);
    // What the command could change; dbSizeInUse is left out: the raft reads (alarm list) commit etcd's own meta.
    const state = async () =>
      (await Promise.all(endpoints.map(statusOf))).map((s) => ({
        endpoint: s.endpoint,
        revision: s.revision,
        dbSize: s.dbSize,
        isLeader: s.isLeader,
      }));
    const before = await state();
    const alarmsBefore = (await alarmsOf(endpoints)).sort();
    assert.ok(alarmsBefore.some((a) => a.startsWith("NOSPACE")));
    assert.ok(await readableAt(endpoints, 2), "the history is readable before");

    const status = await etcdQuota(["status", "--endpoints", endpoints.join(",")]);
    assert.equal(status.code, 5, status.stdout + status.stderr);
    assert.match(status.stdout, /maintenance: needed: .*NOSPACE alarm on m\d/);

    const dryRun = await etcdQuota(["maintain", "--dry-run", ...endpoints.flatMap((e) => ["--endpoints", e])]);
    assert.equal(dryRun.code, 0, dryRun.stdout + dryRun.stderr);
    assert.match(dryRun.stdout, /plan \(--dry-run: nothing will be changed\):\n(\s+- .*\n)+/);
    assert.match(dryRun.stdout, /- compact to revision \d+/);
    assert.match(dryRun.stdout, /- move leadership from m\d to m\d/);
    assert.match(dryRun.stdout, /- disarm NOSPACE on m\d/);
    assert.doesNotMatch(dryRun.stdout, /^\[/m, "no progress line: no step ran");

    assert.deepEqual(await state(), before, "revision, DB sizes, leader unchanged");
    assert.deepEqual((await alarmsOf(endpoints)).sort(), alarmsBefore);
    assert.ok(await readableAt(endpoints, 2), "nothing was compacted");
    assert.deepEqual(
      cluster.members.map((m) => m.pid),
      pids,
    );
    assert.ok(pids.every(isAlive), "every member is the same process");
  });

  it("at NOSPACE: maintain prints the plan, then clears the alarm and shrinks every DB, keeping every key; exit 0", async () => {
    cluster = await LabCluster.start({ members: 3, quotaBytes: 40 * MiB });
    const endpoints = cluster.endpoints;
    const filled = await fill(endpoints, { untilNoSpace: true });
    assert.ok(filled.noSpace);
    const before = await Promise.all(endpoints.map(statusOf));

    const result = await etcdQuota(["maintain", "--endpoints", endpoints.join(",")]);
    assert.equal(result.code, 0, result.stdout + result.stderr);

    assert.deepEqual(await alarmsOf(endpoints), [], "no alarm is left");
    await withClient(endpoints, (client) => client.put("after-break-glass").value("ok").exec());
    for (const [i, endpoint] of endpoints.entries()) {
      const after = await statusOf(endpoint);
      assert.ok(after.dbSize < before[i].dbSize / 4, `${endpoint} shrank from ${before[i].dbSize} to ${after.dbSize}`);
    }
    assert.equal(await readableAt(endpoints, 2), false, "the history was compacted away");
    assert.deepEqual(await verifyFill(endpoints, filled.lastValues), [], "every key keeps its last value");
    // The plan comes before the first progress line of a step.
    const lines = result.stdout.split("\n");
    const plan = lines.indexOf("plan:");
    const firstStep = lines.findIndex((line) => /^\[[\d.]+s\] compact: to revision/.test(line));
    assert.ok(plan >= 0 && firstStep > plan, result.stdout);
  });

  it("exit 3 when unsafe: a member down refuses before any change; NOSPACE kept above --disarm-below after the defrags", async () => {
    cluster = await LabCluster.start({ members: 3, quotaBytes: 40 * MiB });
    const endpoints = cluster.endpoints;
    await fillToNoSpace(endpoints);
    await cluster.stopMember("m3");
    const down = await etcdQuota(["maintain", "--endpoints", endpoints.join(",")]);
    assert.equal(down.code, 3, down.stdout + down.stderr);
    assert.match(down.stderr, /refusing to start maintenance: .*did not answer/);
    assert.ok(await readableAt(endpoints.slice(0, 2), 2), "nothing was compacted");

    await cluster.startMember("m3");
    await waitHealthy(endpoints);
    const kept = await etcdQuota(["maintain", "--endpoints", endpoints.join(","), "--disarm-below", "0.001"]);
    assert.equal(kept.code, 3, kept.stdout + kept.stderr);
    assert.match(kept.stderr, /NOSPACE not disarmed: still at or above 0\.1% of the quota/);
    assert.ok(
      (await alarmsOf(endpoints)).some((a) => a.startsWith("NOSPACE")),
      "NOSPACE is still raised",
    );
  });

  it("over TLS with client certificates: --cacert, --cert and --key reach it; without --cacert, exit 4 naming it", async () => {
    tls = makeLabTls();
    cluster = await LabCluster.start({ members: 1, tls });
    const endpoints = cluster.endpoints;
    const client = new Etcd3(cluster.clientOptions());
    try {
      for (let i = 0; i < 5; i++) await client.put("lab/fill/0").value(String(i)).exec();
    } finally {
      client.close();
    }
    const files = ["--cacert", tls.caFile, "--cert", tls.client.certFile, "--key", tls.client.keyFile];
    const untrusted = await etcdQuota(["status", "--endpoints", endpoints[0], ...files.slice(2)]);
    assert.equal(untrusted.code, 4, untrusted.stdout + untrusted.stderr);
    assert.match(untrusted.stderr, /--cacert: /);

    const result = await etcdQuota(["maintain", "--endpoints", endpoints[0], ...files]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const revisions = new Etcd3(cluster.clientOptions());
    try {
      await assert.rejects(
        revisions.kv.range({ key: Buffer.from("lab/fill/0"), revision: 2 }),
        /required revision has been compacted/,
      );
    } finally {
      revisions.close();
    }
  });

  it("exit 4 when no member answers, and nothing is printed as a plan", async () => {
    const result = await etcdQuota(["maintain", "--endpoints", "http://127.0.0.1:9", "--call-timeout", "2s"]);
    assert.equal(result.code, 4, result.stdout + result.stderr);
    assert.match(result.stderr, /no member answered \(http:\/\/127\.0\.0\.1:9: /);
    assert.doesNotMatch(result.stdout, /plan/);
  });
});
