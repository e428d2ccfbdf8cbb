import * as assert from "node:assert/strict";
import { execFile } from "child_process";
import * as fs from "fs";
import { promisify } from "util";
import { EngineStack, PartialFailure, ProviderHost } from "../support/engine";
import { fill } from "../../lab/fill";
import { Writer } from "../support/writer";
import { KUBEADM_UPGRADE_WARNING } from "../../provider/plan/quota";
import { providerShim } from "../../sdk/shim";
import type { SupervisedFormat } from "../../lab/supervisor";
import { SupervisedCluster, SUPERVISED_FORMATS } from "../../lab/supervisor";
import { assertOnlyQuotaChanged, liveQuota, sha256 } from "../support/files";
import { startHangupProxy } from "../support/hangup-proxy";
import { alarmsOf, withClient } from "../support/etcd";
import { RollingObserver } from "../support/rolling-observer";
import { progressLines } from "../support/progress";

const MiB = 1024 ** 2;
const TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";

describe("EtcdQuota on real etcd, through the engine protocol", function () {
  this.timeout(240_000);

  let host: ProviderHost;
  const clusters: SupervisedCluster[] = [];

  before(async () => {
    host = await ProviderHost.start();
  });
  after(async () => {
    await host?.stop();
  });
  afterEach(async () => {
    for (const cluster of clusters.splice(0)) await cluster.stop();
  });

  async function startCluster(
    format: SupervisedFormat,
    members = 3,
    quotaBytes = 64 * MiB,
  ): Promise<SupervisedCluster> {
    const cluster = await SupervisedCluster.start({ format, members, quotaBytes });
    clusters.push(cluster);
    return cluster;
  }

  function inputsFor(cluster: SupervisedCluster, quota: string | number, extra: Record<string, unknown> = {}) {
    return {
      quota,
      members: cluster.quotaMembers(),
      restartTimeout: "60s",
      ...extra,
    };
  }

  function newStack(): EngineStack {
    return new EngineStack(host, { provider: providerShim("quota"), type: TYPE });
  }

  function progressSince(from: number): string[] {
    return progressLines(host.logs.slice(from), "EtcdQuota");
  }

  for (const format of SUPERVISED_FORMATS) {
    it(`raises the quota in a ${format} across 3 members one at a time, followers by name and the leader last after leadership left it, with a writer losing nothing`, async () => {
      const cluster = await startCluster(format);
      const before = new Map(
        cluster.lab.members.map((m) => [m.name, fs.readFileSync(cluster.configFile(m.name), "utf8")]),
      );
      const stack = newStack();
      const leaderBefore = await cluster.leader();
      assert.ok(leaderBefore, "the cluster has a leader before the change");
      const writer = Writer.start(cluster.endpoints);
      const observer = RollingObserver.start(cluster);
      const logStart = host.logs.length;
      const started = Date.now();
      const { outputs } = await stack.up("quota", inputsFor(cluster, "96MiB"));
      const tookMs = Date.now() - started;
      const report = await writer.stop();
      const seen = await observer.stop();

      // Read from the processes and from etcd by the test, not from the provider's log: each member restarted once,
      // followers by name, the leader last after leadership left it, never more than one member down.
      const followers = cluster.lab.members.map((m) => m.name).filter((name) => name !== leaderBefore);
      assert.deepEqual(seen.restartOrder, [...followers.sort(), leaderBefore], "followers by name, the leader last");
      const leaderAtItsRestart = seen.leaderBeforeRestart.get(leaderBefore);
      assert.ok(
        leaderAtItsRestart !== undefined && leaderAtItsRestart !== leaderBefore,
        `leadership left ${leaderBefore} before its restart (etcd named ${leaderAtItsRestart} leader then)`,
      );
      assert.ok(seen.mostUnanswered <= 1, `at most one member down at a time; ${seen.mostUnanswered} at once`);
      assert.ok(seen.looks >= 10, `the observer looked often enough to see it (${seen.looks} looks)`);

      for (const member of cluster.lab.members) {
        assert.equal(await liveQuota(member.clientUrl), 96 * MiB, `${member.name} runs the new quota`);
        const after = fs.readFileSync(cluster.configFile(member.name), "utf8");
        assertOnlyQuotaChanged(before.get(member.name)!, after, 64 * MiB, 96 * MiB, `${member.name}'s file`);
      }
      assert.deepEqual(report.lost, [], "every acknowledged write reads back");
      assert.ok(report.acknowledged > 0);
      assert.ok(await cluster.leader(), "the cluster has a leader afterwards");
      const records = outputs!.members as {
        name: string;
        liveBytes: number;
        configuredBytes: number;
        restarted: boolean;
      }[];
      assert.ok(records.every((r) => r.liveBytes === 96 * MiB && r.configuredBytes === 96 * MiB && r.restarted));

      const progress = progressSince(logStart);
      const backLines = progress.filter((line) => /: back with quota 96 MiB in effect after/.test(line));
      assert.equal(backLines.length, 3, progress.join("\n"));
      // The check's account and the run's both say what the next kubeadm upgrade would do; no other format has it.
      const upgradeWarnings = progress.filter((line) => line === `EtcdQuota: warning: ${KUBEADM_UPGRADE_WARNING}`);
      assert.equal(upgradeWarnings.length, format === "kubeadm-manifest" ? 2 : 0, progress.join("\n"));
      console.log(
        `      ${format}: ${(tookMs / 1000).toFixed(1)} s for 3 members; writer ${report.acknowledged} acknowledged, ` +
          `${report.failed} failed, longest gap ${report.longestGapMs} ms; ${backLines.map((l) => l.replace(/^EtcdQuota: /, "")).join("; ")}`,
      );

      // Converged: running again restarts nothing.
      const pids = cluster.lab.members.map((m) => cluster.pid(m.name));
      const again = await stack.up("quota", inputsFor(cluster, "96MiB", { restartTimeout: "61s" }));
      assert.equal(again.op, "update");
      assert.deepEqual(
        cluster.lab.members.map((m) => cluster.pid(m.name)),
        pids,
        "no member was restarted",
      );
    });
  }

  it("shows a quota changed by hand as drift in preview --refresh, and an update converges it", async () => {
    const cluster = await startCluster("env-file");
    const stack = newStack();
    const inputs = inputsFor(cluster, "64MiB");
    await stack.up("quota", inputs);
    assert.equal((await stack.previewRefresh("quota", inputs)).op, "same");

    const file = cluster.configFile("m2");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(String(64 * MiB), String(80 * MiB)));
    // Asynchronously: the supervisor answers from this process's event loop.
    const { exec } = await import("child_process");
    await promisify(exec)(cluster.restartCommand("m2"));
    assert.equal(await liveQuota(cluster.lab.member("m2").clientUrl), 80 * MiB);

    const drift = await stack.previewRefresh("quota", inputs);
    assert.equal(drift.op, "update");
    assert.ok(drift.diffs.includes("quota"), drift.diffs.join(", "));
    const refreshed = await stack.refresh("quota");
    assert.equal(
      refreshed.inputs?.quota,
      "mixed: m1 64MiB; m2 80MiB; m3 64MiB",
      "the refreshed input names each member",
    );

    await stack.up("quota", inputs);
    assert.equal(await liveQuota(cluster.lab.member("m2").clientUrl), 64 * MiB);
    assert.equal((await stack.previewRefresh("quota", inputs)).op, "same");
  });

  it("rolls back a member that does not come back, and touches no other member", async () => {
    const cluster = await startCluster("systemd-unit");
    const [first] = await cluster.rollingOrder();
    const files = new Map(cluster.lab.members.map((m) => [m.name, sha256(cluster.configFile(m.name))]));
    const pids = new Map(cluster.lab.members.map((m) => [m.name, cluster.pid(m.name)]));
    cluster.breakNextStart(first);

    const stack = newStack();
    await assert.rejects(stack.up("quota", inputsFor(cluster, "96MiB")), (error: unknown) => {
      assert.ok(error instanceof PartialFailure, String(error));
      assert.match(error.message, new RegExp(`quota change stopped at ${first}: `));
      assert.match(error.message, /Members now: /);
      return true;
    });
    assert.equal(sha256(cluster.configFile(first)), files.get(first), `${first}'s file is restored byte for byte`);
    assert.equal(await liveQuota(cluster.lab.member(first).clientUrl), 64 * MiB, `${first} runs its old quota again`);
    for (const member of cluster.lab.members.filter((m) => m.name !== first)) {
      assert.equal(sha256(cluster.configFile(member.name)), files.get(member.name), `${member.name}'s file untouched`);
      assert.equal(cluster.pid(member.name), pids.get(member.name), `${member.name} not restarted`);
    }
    assert.ok(stack.state("quota"), "the partial failure is in the state, so the next up resumes");

    const resumed = await stack.up("quota", inputsFor(cluster, "96MiB"));
    assert.equal(resumed.op, "update");
    for (const member of cluster.lab.members) assert.equal(await liveQuota(member.clientUrl), 96 * MiB);
  });

  it("refuses unsafe or bad quotas at check time and changes no file", async () => {
    const cluster = await startCluster("etcd-config");
    await fill(cluster.endpoints, { targetBytes: 20 * MiB });
    const hashes = () => cluster.lab.members.map((m) => sha256(cluster.configFile(m.name)));
    const before = hashes();
    const stack = newStack();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [inputsFor(cluster, "16MiB"), "quota", /is not above m\d's DB of .* NOSPACE/],
      [inputsFor(cluster, "9GiB"), "quota", /above the 8 GiB etcd suggests/],
      [inputsFor(cluster, 0), "quota", /above zero/],
      [
        { ...inputsFor(cluster, "96MiB"), members: inputsFor(cluster, "96MiB").members.slice(0, 2) },
        "members",
        /m3 .* is in the cluster but not in members \(every member needs the same quota\)/,
      ],
      [
        {
          ...inputsFor(cluster, "96MiB"),
          members: [
            { ...inputsFor(cluster, "96MiB").members[0], configFile: "/nonexistent/etcd.conf.yml" },
            ...inputsFor(cluster, "96MiB").members.slice(1),
          ],
        },
        "members",
        /members\[0\]\.configFile: .*\/nonexistent\/etcd.conf.yml/,
      ],
    ];
    for (const [inputs, property, reason] of cases) {
      const preview = await stack.preview("bad", inputs);
      assert.equal(preview.op, "failed", JSON.stringify(inputs.quota));
      assert.match(
        preview.failures[0]?.reason ?? "",
        new RegExp(`^${property}[.[:]`),
        JSON.stringify(preview.failures),
      );
      assert.match(preview.failures.map((f) => f.reason).join("\n"), reason);
    }
    await cluster.stopMember("m3");
    const down = await stack.preview("bad", inputsFor(cluster, "96MiB"));
    assert.match(down.failures.map((f) => f.reason).join("\n"), /did not answer/);
    assert.deepEqual(hashes(), before, "no file changed");
  });

  it("k3s-config: a config.yaml.d drop-in that sets etcd-arg is refused at check, naming it; one that does not is fine", async () => {
    const cluster = await startCluster("k3s-config");
    const m2 = cluster.configFile("m2");
    const dropIns = `${m2}.d`;
    fs.mkdirSync(dropIns);
    fs.writeFileSync(`${dropIns}/10-node.yaml`, "node-label:\n  - disk=ssd\n");
    fs.writeFileSync(`${dropIns}/50-etcd.yaml`, "etcd-arg+:\n  - snapshot-count=5000\n");
    const before = cluster.lab.members.map((m) => sha256(cluster.configFile(m.name)));
    const stack = newStack();

    const preview = await stack.preview("quota", inputsFor(cluster, "96MiB"));
    assert.equal(preview.op, "failed");
    assert.deepEqual(
      preview.failures.map((f) => f.reason),
      [
        `members[1].configFile: ${m2}: ${dropIns}/50-etcd.yaml also sets etcd-arg, and k3s and RKE2 read ${dropIns} ` +
          "after this file, so the quota there would win or be lost; move the etcd-arg entries into one file and point " +
          "configFile at it",
      ],
    );
    assert.deepEqual(
      cluster.lab.members.map((m) => sha256(cluster.configFile(m.name))),
      before,
      "no file changed",
    );

    fs.rmSync(`${dropIns}/50-etcd.yaml`);
    assert.equal((await stack.preview("quota", inputsFor(cluster, "96MiB"))).op, "create");
  });

  it("a unit with a flag etcd 3.7 removed: refused at check on 3.7 members, naming it, with nothing restarted; fine before 3.7", async () => {
    const cluster = await startCluster("systemd-unit");
    const unit = cluster.configFile("m2");
    fs.writeFileSync(
      unit,
      fs
        .readFileSync(unit, "utf8")
        .replace(/^ExecStart=(\S+) \\$/m, "ExecStart=$1 \\\n  --experimental-compaction-batch-limit=1000 \\"),
    );
    const line =
      fs.readFileSync(unit, "utf8").split("\n").indexOf("  --experimental-compaction-batch-limit=1000 \\") + 1;
    assert.ok(line > 0, "the flag is in m2's unit");
    const hashes = () => cluster.lab.members.map((m) => sha256(cluster.configFile(m.name)));
    const before = hashes();
    const pids = cluster.lab.members.map((m) => cluster.pid(m.name));
    const preview = await newStack().preview("quota", inputsFor(cluster, "96MiB"));
    if (/^3\.[0-6]\./.test(cluster.lab.version)) {
      assert.equal(preview.op, "create", JSON.stringify(preview.failures));
    } else {
      assert.equal(preview.op, "failed");
      assert.deepEqual(
        preview.failures.map((f) => f.reason),
        [
          `members[1].configFile: ${unit} is for an older etcd than the ${cluster.lab.version} this member runs: ` +
            `--experimental-compaction-batch-limit (line ${line}) was removed in etcd 3.7; the member would not ` +
            "start: use --compaction-batch-limit instead",
        ],
      );
      // What the message says, from etcd itself: this release refuses the flag.
      const refused = await promisify(execFile)(cluster.lab.etcd, ["--experimental-compaction-batch-limit=1000"], {
        timeout: 10_000,
      }).then(
        () => "started",
        (error: { stderr?: string }) => error.stderr ?? "",
      );
      assert.match(refused, /flag provided but not defined: -experimental-compaction-batch-limit/);
    }
    assert.deepEqual(hashes(), before, "no file changed");
    assert.deepEqual(
      cluster.lab.members.map((m) => cluster.pid(m.name)),
      pids,
      "no member restarted",
    );
  });

  it("files without a quota setting run etcd's 2 GiB: a declared 2GiB restarts nothing and shows no drift, 1GiB is a change", async () => {
    const cluster = await SupervisedCluster.start({ format: "env-file", members: 3 });
    clusters.push(cluster);
    const hashes = () => cluster.lab.members.map((m) => sha256(cluster.configFile(m.name)));
    const before = hashes();
    const pids = cluster.lab.members.map((m) => cluster.pid(m.name));
    for (const member of cluster.lab.members) assert.equal(await liveQuota(member.clientUrl), 2 * 1024 * MiB);
    const stack = newStack();
    assert.equal((await stack.up("quota", inputsFor(cluster, "2GiB"))).op, "create");
    assert.equal((await stack.previewRefresh("quota", inputsFor(cluster, "2GiB"))).op, "same", "no drift");
    assert.deepEqual(hashes(), before, "no file changed");
    assert.deepEqual(
      cluster.lab.members.map((m) => cluster.pid(m.name)),
      pids,
      "no member restarted",
    );
    const change = await stack.preview("quota", inputsFor(cluster, "1GiB"));
    assert.equal(change.op, "update", JSON.stringify(change.failures));
  });

  it("leaves NOSPACE the runbook's second way: a larger quota, then the alarm disarmed and writes accepted again", async () => {
    const cluster = await startCluster("env-file", 3, 32 * MiB);
    const filled = await fill(cluster.endpoints, { untilNoSpace: true });
    assert.ok(filled.noSpace, "the fill ended in NOSPACE");
    assert.ok(
      (await alarmsOf(cluster.endpoints)).some((alarm) => alarm.startsWith("NOSPACE")),
      "NOSPACE is raised",
    );
    const { outputs } = await newStack().up("quota", inputsFor(cluster, "96MiB"));
    // Read from etcd by the test: no alarm left, the new quota in effect, and a write accepted.
    assert.deepEqual(await alarmsOf(cluster.endpoints), [], "NOSPACE was disarmed");
    for (const member of cluster.lab.members) assert.equal(await liveQuota(member.clientUrl), 96 * MiB, member.name);
    await withClient(cluster.endpoints, (client) => client.put("after-the-quota").value("accepted").exec());
    assert.ok((outputs!.alarmsDisarmed as string[]).some((alarm) => /^NOSPACE on m\d$/.test(alarm)));
  });

  it("changes a one-member cluster, warning that it is unavailable while it restarts", async () => {
    const cluster = await startCluster("kubeadm-manifest", 1);
    const logStart = host.logs.length;
    await newStack().up("quota", inputsFor(cluster, "128MiB"));
    assert.equal(await liveQuota(cluster.endpoints[0]), 128 * MiB);
    assert.ok(progressSince(logStart).some((line) => /warning: this cluster has one member/.test(line)));
  });

  it("a member that hangs up on every connection while the kubelet restarts it is 'not yet', not a failure", async () => {
    const cluster = await startCluster("kubeadm-manifest", 1);
    const [member] = cluster.quotaMembers();
    const proxy = await startHangupProxy(new URL(member.endpoint).host, member.configFile, 3_000);
    try {
      const logStart = host.logs.length;
      await newStack().up("quota", { ...inputsFor(cluster, "96MiB"), members: [{ ...member, endpoint: proxy.url }] });
      assert.equal(await liveQuota(cluster.endpoints[0]), 96 * MiB);
      assert.ok(proxy.hangups() > 0, "the proxy hung up on the provider while the member restarted");
      assert.ok(progressSince(logStart).some((line) => /m1: back with quota 96 MiB/.test(line)));
    } finally {
      await proxy.close();
    }
  });
});
