import * as assert from "node:assert/strict";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { noop } from "cockatiel";
import type { IOptions } from "etcd3";
import { AlarmAction, AlarmType, Etcd3 } from "etcd3";
import { LabCluster } from "../../lab/cluster";
import { fill } from "../../lab/fill";
import type { UpResult } from "../support/engine";
import { EngineStack, ProviderCallError, ProviderHost, serializeProvider } from "../support/engine";
import { SUPERVISED_FORMATS, SupervisedCluster } from "../../lab/supervisor";
import type { LabTls } from "../../lab/tls";
import { makeLabTls } from "../../lab/tls";
import { Writer } from "../support/writer";
import { providerShim } from "../../sdk/shim";
import { assertOnlyQuotaChanged, liveQuota, sha256 } from "../support/files";
import { progressLines } from "../support/progress";

const MiB = 1024 ** 2;
const COMPACTION = "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction";
const QUOTA = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";
/** What a message meant for a person must not contain: gRPC's status prefix, grpc-js's notes, OpenSSL internals. */
const RAW_DUMP = /UNAVAILABLE|Resolution note|No connection established|deps\/openssl|SSL routines|rec_layer/;

/**
 * A client of the lab cluster for the test's own checks (its CA and root client certificate over TLS), bound to one
 * deadline and without etcd3's retries and circuit breakers, so NOSPACE does not lock it out for 5 s.
 */
function rawClient(cluster: LabCluster, extra: Partial<IOptions> = {}): Etcd3 {
  return new Etcd3(
    cluster.clientOptions({
      defaultCallOptions: () => ({ deadline: Date.now() + 10_000 }),
      faultHandling: { host: () => noop, global: noop },
      ...extra,
    }),
  );
}

async function withRaw<T>(cluster: LabCluster, use: (client: Etcd3) => Promise<T>, extra?: Partial<IOptions>) {
  const client = rawClient(cluster, extra);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

async function alarmsOf(cluster: LabCluster): Promise<string[]> {
  return withRaw(cluster, async (client) =>
    (await client.maintenance.alarm({ action: AlarmAction.Get })).alarms.map((a) => String(a.alarm).toUpperCase()),
  );
}

async function dbSizesOf(cluster: LabCluster, auth?: IOptions["auth"]): Promise<number[]> {
  return Promise.all(
    cluster.endpoints.map((endpoint) =>
      withRaw(cluster, async (client) => Number((await client.maintenance.status()).dbSize), {
        hosts: [endpoint],
        auth,
      }),
    ),
  );
}

/**
 * Brings every member's database far below the quota, whatever an earlier test left (a fill to NOSPACE that no
 * maintenance followed): the history compacted away, each member defragmented, every alarm disarmed.
 */
async function makeRoom(cluster: LabCluster): Promise<void> {
  await withRaw(cluster, async (client) => {
    const { revision } = (await client.maintenance.status()).header;
    await client.kv.compact({ revision, physical: true }).catch((error: unknown) => {
      if (!String(error).includes("required revision has been compacted")) throw error;
    });
    for (const { memberID, alarm } of (await client.maintenance.alarm({ action: AlarmAction.Get })).alarms) {
      await client.maintenance.alarm({ action: AlarmAction.Deactivate, memberID, alarm });
    }
  });
  for (const endpoint of cluster.endpoints) {
    await withRaw(cluster, (client) => client.maintenance.defragment(), { hosts: [endpoint] });
  }
}

/** An EtcdQuota member file the way `etcd --config-file` reads it, saying what the member runs. */
function writeMemberFiles(cluster: LabCluster, dir: string, quotaBytes: number): Map<string, string> {
  return new Map(
    cluster.members.map((m) => {
      const file = path.join(dir, `${m.name}.conf.yml`);
      fs.writeFileSync(file, `name: ${m.name}\ndata-dir: ${m.dataDir}\nquota-backend-bytes: ${quotaBytes}\n`);
      return [m.name, file];
    }),
  );
}

/**
 * EtcdQuota's `members` for the files {@link writeMemberFiles} wrote. The restart command fails: these tests never
 * change the quota, so a run that tried to restart a member would fail loudly.
 */
function etcdConfigMembers(members: LabCluster["members"], files: Map<string, string>) {
  return members.map((m) => ({
    endpoint: m.clientUrl,
    configFile: files.get(m.name)!,
    format: "etcd-config",
    restartCommand: "exit 1",
  }));
}

/** The message of a failed `up`: the rejection, or the check failures when the engine stopped at check. */
async function failureOf(run: Promise<UpResult>): Promise<{ message: string; atCheck: boolean; error?: unknown }> {
  try {
    const result = await run;
    assert.equal(result.op, "failed", `expected the run to fail, got ${result.op}`);
    return { message: result.failures.map((f) => f.reason).join("\n"), atCheck: true };
  } catch (error) {
    return { message: error instanceof Error ? error.message : String(error), atCheck: false, error };
  }
}

describe("TLS and auth on real etcd, through the engine protocol", function () {
  this.timeout(120_000);

  let host: ProviderHost;
  const started = Date.now();

  before(async () => {
    host = await ProviderHost.start();
  });
  after(async () => {
    await host?.stop();
    console.log(`      (tls-auth: ${((Date.now() - started) / 1000).toFixed(1)} s in all)`);
  });

  function newStack(kind: "compaction" | "quota"): EngineStack {
    return new EngineStack(host, { provider: providerShim(kind), type: kind === "compaction" ? COMPACTION : QUOTA });
  }

  function progressSince(from: number, type: "EtcdQuota" | "EtcdCompaction"): string[] {
    return progressLines(host.logs.slice(from), type);
  }

  describe("TLS with client certificates (--client-cert-auth), 3 members", () => {
    let tls: LabTls;
    let otherCa: LabTls;
    let cluster: LabCluster;
    let dir: string;
    const quotaBytes = 32 * MiB;

    before(async () => {
      tls = makeLabTls();
      otherCa = makeLabTls();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-quota-tls-test-"));
      cluster = await LabCluster.start({ members: 3, quotaBytes, tls });
    });
    after(async () => {
      await cluster?.stop();
      tls?.remove();
      otherCa?.remove();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    const clientTls = () => ({ ca: tls.ca, cert: tls.client.cert, key: tls.client.key });

    it("serves https only, and the lab's readiness, leader and status work over it", async () => {
      assert.ok(cluster.endpoints.every((e) => e.startsWith("https://127.0.0.1:")));
      assert.ok(await cluster.leader(), "the lab finds the leader over https");
      assert.equal((await dbSizesOf(cluster)).length, 3);
      // Without a client certificate the member refuses the connection.
      await assert.rejects(
        withRaw(cluster, (client) => client.maintenance.status(), {
          credentials: { rootCertificate: Buffer.from(tls.ca) },
        }),
        /certificate/,
      );
    });

    it("EtcdCompaction: fills to NOSPACE over TLS, then up lifts the alarm and defragments every member", async () => {
      // 32 keys of 128 KiB: the live data stays far below a quarter of the quota, so defragmenting shrinks each 4x.
      const filled = await fill(cluster.endpoints, {
        untilNoSpace: true,
        keys: 32,
        connection: cluster.clientOptions(),
      });
      assert.ok((await alarmsOf(cluster)).includes("NOSPACE"), `NOSPACE after ${filled.keysWritten} puts`);
      const before = await dbSizesOf(cluster);

      const stack = newStack("compaction");
      const inputs = { endpoints: cluster.endpoints, tls: clientTls(), moveLeader: true };
      const preview = await stack.preview("space", inputs);
      assert.deepEqual(preview.failures, []);
      const logStart = host.logs.length;
      const { op, outputs } = await stack.up("space", inputs);
      assert.equal(op, "create");

      assert.deepEqual(await alarmsOf(cluster), [], "no alarm is left");
      await withRaw(cluster, (client) => client.put("after-maintenance").value("ok").exec());
      const after = await dbSizesOf(cluster);
      after.forEach((size, i) => assert.ok(size < before[i] / 4, `member ${i + 1}: ${before[i]} -> ${size}`));
      const members = outputs!.members as { defragmented: boolean }[];
      assert.ok(members.length === 3 && members.every((m) => m.defragmented), JSON.stringify(members));
      assert.ok((outputs!.alarmsDisarmed as string[]).length >= 1);
      const progress = progressSince(logStart, "EtcdCompaction");
      assert.ok(
        progress.some((line) => line.includes("move leader: ")),
        `MoveLeader over TLS:\n${progress.join("\n")}`,
      );

      const refreshed = await stack.refresh("space");
      assert.equal(refreshed.outputs?.maintenance, "up-to-date", "read works over TLS");
    });

    it("EtcdQuota: check, a converged up and refresh work over TLS, and check reads the member list", async () => {
      await makeRoom(cluster);
      const files = writeMemberFiles(cluster, dir, quotaBytes);
      const inputs = {
        quota: "32MiB",
        members: etcdConfigMembers(cluster.members, files),
        tls: clientTls(),
        restartTimeout: "30s",
      };
      const stack = newStack("quota");
      const preview = await stack.preview("quota", inputs);
      assert.deepEqual(preview.failures, []);
      assert.equal(preview.op, "create");

      const { op, outputs } = await stack.up("quota", inputs);
      assert.equal(op, "create");
      const records = outputs!.members as { liveBytes: number; configuredBytes: number; restarted: boolean }[];
      assert.ok(
        records.every((r) => r.liveBytes === quotaBytes && r.configuredBytes === quotaBytes && !r.restarted),
        `every member's live quota read over https with the client certificate: ${JSON.stringify(records)}`,
      );
      assert.equal((await stack.refresh("quota")).op, "same");

      // A change passes check (the plan is made from what the members say over TLS); nothing is run by a preview.
      const change = await stack.preview("quota", { ...inputs, quota: "48MiB" });
      assert.deepEqual(change.failures, []);
      assert.equal(change.op, "update");
      // Check asks the cluster for its member list over TLS: a member left out is refused.
      const partial = await stack.preview("quota", {
        ...inputs,
        members: etcdConfigMembers(cluster.members.slice(0, 2), files),
      });
      assert.equal(partial.op, "failed");
      assert.match(partial.failures.map((f) => f.reason).join("\n"), /m3 .* is in the cluster but not in members/);
    });

    it("a wrong CA fails the check of both resources naming tls.ca, and shows in EtcdCompaction's refresh, in plain words", async () => {
      const wrongCa = { ...clientTls(), ca: otherCa.ca };
      const files = writeMemberFiles(cluster, dir, quotaBytes);
      const quotaInputs = {
        quota: "32MiB",
        members: etcdConfigMembers(cluster.members, files),
        tls: wrongCa,
      };
      const check = await newStack("quota").preview("quota", quotaInputs);
      assert.equal(check.op, "failed");
      // One failure naming the input, for all three members, rather than each member "down".
      assert.deepEqual(
        check.failures.map((f) => f.reason.split(":")[0]),
        ["tls.ca"],
        check.failures.map((f) => f.reason).join("\n"),
      );
      assert.match(check.failures[0].reason, /TLS: the member's certificate is not signed by the CA in tls\.ca/);
      for (const endpoint of cluster.endpoints) assert.ok(check.failures[0].reason.includes(endpoint), endpoint);
      assert.doesNotMatch(check.failures[0].reason, RAW_DUMP);

      const stack = newStack("compaction");
      const preview = await stack.preview("space", { endpoints: cluster.endpoints, tls: wrongCa });
      assert.equal(preview.op, "failed");
      assert.equal(preview.failures.length, 1, preview.failures.map((f) => f.reason).join("\n"));
      assert.match(preview.failures[0].reason, /^tls\.ca: .*not signed by the CA in tls\.ca .*set tls\.ca to the CA/);
      assert.doesNotMatch(preview.failures[0].reason, RAW_DUMP);
      const upFailure = await failureOf(stack.up("space", { endpoints: cluster.endpoints, tls: wrongCa }));
      assert.match(upFailure.message, /not signed by the CA in tls\.ca/);
      assert.equal(stack.state("space"), undefined, "nothing recorded");

      // read (pulumi refresh) of a resource whose stored tls.ca no longer matches the members.
      const props = {
        endpoints: cluster.endpoints,
        tls: wrongCa,
        __provider: await serializeProvider(providerShim("compaction")),
      };
      // A refresh does not fail (a destroy refreshes first and must go through); it shows the reason as drift.
      const read = await host.read("etcd-compaction-x", stack.urn("space"), props, props);
      const maintenance = String(read.outputs.maintenance);
      assert.match(maintenance, /^needed: no member answered \(.*not signed by the CA in tls\.ca/);
      assert.doesNotMatch(maintenance, RAW_DUMP);
    });

    it("a missing or foreign client certificate fails the check of both resources naming tls.cert, and shows in a refresh", async () => {
      const files = writeMemberFiles(cluster, dir, quotaBytes);
      const caOnly = { ca: tls.ca };
      const check = await newStack("quota").preview("quota", {
        quota: "32MiB",
        members: etcdConfigMembers(cluster.members, files),
        tls: caOnly,
      });
      assert.equal(check.op, "failed");
      const reasons = check.failures.map((f) => f.reason).join("\n");
      assert.match(reasons, /the member requires a client certificate .*set tls\.cert and tls\.key/);
      assert.doesNotMatch(reasons, RAW_DUMP);

      assert.match(reasons, /^tls\.cert: /);

      const stack = newStack("compaction");
      const preview = await stack.preview("space", { endpoints: cluster.endpoints, tls: caOnly });
      assert.equal(preview.op, "failed");
      const compactionReasons = preview.failures.map((f) => f.reason).join("\n");
      assert.match(
        compactionReasons,
        /^tls\.cert: .*requires a client certificate \(it runs with --client-cert-auth\)/,
      );
      assert.doesNotMatch(compactionReasons, RAW_DUMP);
      const foreignCheck = await stack.preview("space", {
        endpoints: cluster.endpoints,
        tls: { ca: tls.ca, cert: otherCa.client.cert, key: otherCa.client.key },
      });
      assert.match(
        foreignCheck.failures.map((f) => f.reason).join("\n"),
        /^tls\.cert: .*the member refused the client certificate in tls\.cert/,
      );

      // A certificate from a CA the members do not trust is refused by them, and the message says it was refused.
      const foreign = { ca: tls.ca, cert: otherCa.client.cert, key: otherCa.client.key };
      const props = {
        endpoints: cluster.endpoints,
        tls: foreign,
        __provider: await serializeProvider(providerShim("compaction")),
      };
      const read = await host.read("etcd-compaction-x", stack.urn("space"), props, props);
      const maintenance = String(read.outputs.maintenance);
      assert.match(
        maintenance,
        /^needed: no member answered \(.*the member refused the client certificate in tls\.cert/,
      );
      assert.doesNotMatch(maintenance, RAW_DUMP);
    });
  });

  describe("a rolling EtcdQuota change over TLS, with a writer", () => {
    let tls: LabTls;
    const clusters: SupervisedCluster[] = [];

    before(() => {
      tls = makeLabTls();
    });
    afterEach(async () => {
      for (const cluster of clusters.splice(0)) await cluster.stop();
    });
    after(() => tls?.remove());

    for (const format of SUPERVISED_FORMATS) {
      it(`raises the quota of 3 https members (--client-cert-auth) in a ${format}, keeping their TLS settings`, async () => {
        const cluster = await SupervisedCluster.start({ format, quotaBytes: 32 * MiB, tls });
        clusters.push(cluster);
        const names = cluster.lab.members.map((m) => m.name);
        const before = new Map(names.map((name) => [name, fs.readFileSync(cluster.configFile(name), "utf8")]));
        const pids = names.map((name) => cluster.pid(name));
        const inputs = {
          quota: "48MiB",
          members: cluster.quotaMembers(),
          tls: { ca: tls.ca, cert: tls.client.cert, key: tls.client.key },
          restartTimeout: "60s",
        };
        const stack = newStack("quota");
        const preview = await stack.preview("quota", inputs);
        assert.deepEqual(preview.failures, []);

        const writer = Writer.start(cluster.endpoints, {
          connection: { credentials: cluster.lab.clientOptions().credentials },
        });
        const { op, outputs } = await stack.up("quota", inputs);
        const report = await writer.stop();
        assert.equal(op, "create");

        const records = outputs!.members as { name: string; liveBytes: number; restarted: boolean }[];
        assert.ok(
          records.every((r) => r.liveBytes === 48 * MiB && r.restarted),
          `verified live over https with the client certificate: ${JSON.stringify(records)}`,
        );
        for (const [i, member] of cluster.lab.members.entries()) {
          assert.notEqual(cluster.pid(member.name), pids[i], `${member.name} restarted`);
          assert.equal(await liveQuota(member.metricsUrl), 48 * MiB, `${member.name} runs the new quota`);
          const after = fs.readFileSync(cluster.configFile(member.name), "utf8");
          // Every other line, the TLS settings among them, stays byte for byte where it was.
          assertOnlyQuotaChanged(before.get(member.name)!, after, 32 * MiB, 48 * MiB, `${member.name}'s file`);
        }
        assert.ok(cluster.endpoints.every((e) => e.startsWith("https://")));
        assert.deepEqual(report.lost, [], "every acknowledged write reads back over TLS");
        assert.ok(report.acknowledged > 0, "the writer got through over TLS");
        assert.ok(await cluster.leader(), "the cluster has a leader afterwards");
        console.log(
          `      ${format} over TLS: writer ${report.acknowledged} acknowledged, ${report.failed} failed, ` +
            `longest gap ${report.longestGapMs} ms`,
        );
      });
    }
  });

  describe("auth (root and limited users), 3 members", () => {
    const rootPassword = `root-${randomBytes(6).toString("hex")}`;
    const users = {
      // Read-write on its application's prefix only: what an application user looks like.
      app: { name: "app", password: `app-${randomBytes(6).toString("hex")}`, readWritePrefixes: ["app/"] },
      // Also may write this project's keys (so it gets past the cluster lock), but has no root role.
      ops: {
        name: "ops",
        password: `ops-${randomBytes(6).toString("hex")}`,
        readWritePrefixes: ["app/", "/pulumi-etcd-quota/"],
      },
    };
    const quotaBytes = 64 * MiB;
    let cluster: LabCluster;
    let dir: string;
    const asRoot = { username: "root", password: rootPassword };
    // These members listen on http:// (127.0.0.1): credentials to them need the explicit opt-in.
    const insecure = { allowInsecureCredentials: true };

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-quota-auth-test-"));
      cluster = await LabCluster.start({
        members: 3,
        quotaBytes,
        auth: { rootPassword, users: [users.app, users.ops] },
      });
    });
    after(async () => {
      await cluster?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("finds out which calls etcd allows to whom (Defragment needs root on every version)", async () => {
      const principals: [string, IOptions["auth"]][] = [
        ["anonymous", undefined],
        ["app", { username: "app", password: users.app.password }],
        ["root", asRoot],
      ];
      const calls: [string, (client: Etcd3) => Promise<unknown>][] = [
        ["Status", (c) => c.maintenance.status()],
        ["MemberList", (c) => c.cluster.memberList({})],
        ["Alarm list", (c) => c.maintenance.alarm({ action: AlarmAction.Get })],
        // Deactivating an alarm no member has, compacting to revision 1, moving leadership to a member that does not
        // exist: each is refused for want of permission, or else fails harmlessly (or does nothing) after the check.
        [
          "Alarm disarm",
          (c) => c.maintenance.alarm({ action: AlarmAction.Deactivate, memberID: "1", alarm: AlarmType.Nospace }),
        ],
        ["Compact", (c) => c.kv.compact({ revision: 1 })],
        ["MoveLeader", (c) => c.maintenance.moveLeader({ targetID: "1" })],
        ["Defragment", (c) => c.maintenance.defragment()],
        ["RoleList", (c) => c.auth.roleList()],
        ["lock key put", (c) => c.put("/pulumi-etcd-quota/probe").value("x").exec()],
      ];
      const table: Record<string, Record<string, string>> = {};
      for (const [call, run] of calls) {
        table[call] = {};
        for (const [who, auth] of principals) {
          const outcome = await withRaw(cluster, run, { auth, hosts: [cluster.endpoints[0]] }).then(
            () => "allowed",
            (error: Error) => (/permission denied|user name is empty/.test(error.message) ? "DENIED" : "allowed"),
          );
          table[call][who] = outcome;
        }
      }
      console.log(`      etcd ${cluster.version} under auth:`);
      for (const [call, outcome] of Object.entries(table)) {
        console.log(
          `        ${call.padEnd(13)} ${Object.entries(outcome)
            .map(([who, o]) => `${who}: ${o}`)
            .join(", ")}`,
        );
      }
      for (const call of ["Defragment", "RoleList"]) {
        assert.deepEqual(table[call], { anonymous: "DENIED", app: "DENIED", root: "allowed" }, call);
      }
      assert.deepEqual(table["lock key put"], { anonymous: "DENIED", app: "DENIED", root: "allowed" });
    });

    it("a wrong password fails EtcdCompaction's preview naming password, and changes nothing", async () => {
      const before = await dbSizesOf(cluster, asRoot);
      const preview = await newStack("compaction").preview("space", {
        endpoints: cluster.endpoints,
        ...asRoot,
        ...insecure,
        password: "wrong",
      });
      assert.equal(preview.op, "failed");
      assert.equal(preview.failures.length, 1, preview.failures.map((f) => f.reason).join("\n"));
      assert.match(
        preview.failures[0].reason,
        /^password: .*authentication failed: etcd knows no user "root" with that password/,
      );
      assert.deepEqual(await dbSizesOf(cluster, asRoot), before);
    });

    it("EtcdCompaction runs with root's username and password, its snapshot included", async () => {
      const revisions = await withRaw(
        cluster,
        async (client) => {
          const revisions: number[] = [];
          for (let i = 0; i < 10; i++) {
            revisions.push(Number((await client.put("app/history").value(`v${i}`).exec()).header.revision));
          }
          return revisions;
        },
        { auth: asRoot },
      );
      const stack = newStack("compaction");
      const { outputs } = await stack.up("space", {
        endpoints: cluster.endpoints,
        ...asRoot,
        ...insecure,
        snapshot: { path: path.join(dir, "{time}.db") },
      });
      assert.ok((outputs!.compactedRevision as number) >= revisions[9], String(outputs!.compactedRevision));
      // etcd3's own snapshot call drops the auth token; a snapshot as anonymous would be refused.
      const taken = outputs!.snapshotTaken as { path: string; sha256: string; revision: number };
      assert.equal(sha256(taken.path), taken.sha256);
      assert.ok(taken.revision >= revisions[9], String(taken.revision));
      await withRaw(
        cluster,
        (client) => assert.rejects(client.get("app/history").revision(revisions[0]).string(), /compacted/),
        { auth: asRoot },
      );
      assert.equal((await stack.refresh("space")).outputs?.maintenance, "up-to-date");
    });

    for (const user of ["app", "ops"] as const) {
      it(`EtcdCompaction as "${user}" (no root role) fails with a clear error before compacting or defragmenting`, async () => {
        const { revision, sizes } = await withRaw(
          cluster,
          async (client) => {
            const response = await client.put("app/kept").value(user).exec();
            await client.put("app/kept").value(`${user}, overwritten`).exec();
            return { revision: Number(response.header.revision), sizes: await dbSizesOf(cluster, asRoot) };
          },
          { auth: asRoot },
        );
        const stack = newStack("compaction");
        const logStart = host.logs.length;
        const failure = await failureOf(
          stack.up("space", {
            endpoints: cluster.endpoints,
            username: user,
            password: users[user].password,
            ...insecure,
          }),
        );
        assert.match(
          failure.message,
          new RegExp(`permission denied for user "${user}": maintenance needs a user with the root role`),
        );
        assert.doesNotMatch(failure.message, RAW_DUMP);
        const progress = progressSince(logStart, "EtcdCompaction");
        assert.ok(!progress.some((line) => /compact: done|defrag m\d: .* -> /.test(line)), progress.join("\n"));

        // Nothing compacted: the overwritten value is still readable at its revision; nothing defragmented.
        await withRaw(
          cluster,
          async (client) => assert.equal(await client.get("app/kept").revision(revision).string(), user),
          { auth: asRoot },
        );
        const after = await dbSizesOf(cluster, asRoot);
        after.forEach((size, i) =>
          assert.ok(size >= sizes[i], `member ${i + 1} not defragmented: ${sizes[i]} -> ${size}`),
        );
        // The check asks etcd whether the user has the root role, so the preview already fails and nothing is
        // recorded: the run never starts.
        assert.ok(failure.atCheck, `refused at check, where \`pulumi preview\` shows it: ${failure.message}`);
        assert.match(failure.message, /username: .*permission check: permission denied/);
        assert.equal(stack.state("space"), undefined, "nothing recorded");
        console.log(`      ${user}: ${failure.message.slice(0, 160)}...`);
      });
    }

    it("EtcdQuota: check and a converged up work as root; a wrong password or a non-root user changes nothing", async () => {
      const files = writeMemberFiles(cluster, dir, quotaBytes);
      const hashes = () => cluster.members.map((m) => sha256(files.get(m.name)!));
      const pids = () => cluster.members.map((m) => m.pid);
      const inputs = (quota: string, credentials: { username: string; password: string }) => ({
        quota,
        members: etcdConfigMembers(cluster.members, files),
        restartTimeout: "30s",
        ...credentials,
        ...insecure,
      });
      const before = { hashes: hashes(), pids: pids(), sizes: await dbSizesOf(cluster, asRoot) };

      const stack = newStack("quota");
      assert.deepEqual((await stack.preview("quota", inputs("64MiB", asRoot))).failures, []);
      const { outputs } = await stack.up("quota", inputs("64MiB", asRoot));
      assert.ok((outputs!.members as { liveBytes: number }[]).every((m) => m.liveBytes === quotaBytes));

      const wrong = await newStack("quota").preview("quota", inputs("96MiB", { ...asRoot, password: "wrong" }));
      assert.equal(wrong.op, "failed");
      assert.match(
        wrong.failures.map((f) => f.reason).join("\n"),
        /authentication failed: etcd knows no user "root" with that password/,
      );

      const failure = await failureOf(
        newStack("quota").up("quota", inputs("96MiB", { username: "app", password: users.app.password })),
      );
      assert.match(failure.message, /permission denied for user "app"/);
      assert.doesNotMatch(failure.message, RAW_DUMP);
      // Refused at check or before the run changed anything: never a run stopped part way, nothing recorded.
      assert.ok(failure.atCheck || failure.error instanceof ProviderCallError, String(failure.error));
      assert.deepEqual(hashes(), before.hashes, "no file changed");
      assert.deepEqual(pids(), before.pids, "no member restarted");
      const sizes = await dbSizesOf(cluster, asRoot);
      sizes.forEach((size, i) => assert.ok(size >= before.sizes[i], `member ${i + 1} not defragmented`));
      assert.ok(cluster.members.every((m) => cluster.isRunning(m.name)));
    });
  });
});
