import * as assert from "node:assert/strict";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EtcdDeadlineError, OversizedAnswerError, SnapshotError } from "../provider/errors";
import { MemberClient, METRICS_MAX_BYTES } from "../provider/etcd/member";
import { takeSnapshot } from "../provider/etcd/snapshot";
import type { ClusterApi } from "../provider/run/seams";
import { cluster, member } from "./unit/observations";
import type { FakeMember, MetricsBehaviour, SnapshotScript } from "./support/fake-member";
import { snapshotMessages, startMetricsMember, startSnapshotMember } from "./support/fake-member";

const MiB = 1024 ** 2;

/** Runs `run` with no etcdutl on the PATH: the fakes stream random bytes, which are no bbolt file it would accept. */
async function withoutEtcdutl<T>(run: () => Promise<T>): Promise<T> {
  const pathBefore = process.env.PATH;
  process.env.PATH = (pathBefore ?? "")
    .split(path.delimiter)
    .filter((folder) => !fs.existsSync(path.join(folder, "etcdutl")))
    .join(path.delimiter);
  try {
    return await run();
  } finally {
    process.env.PATH = pathBefore;
  }
}

/** What a call settled with: its error, or a failure of the test when it succeeded. */
async function failure(call: Promise<unknown>): Promise<Error> {
  return call.then(
    () => assert.fail("the call succeeded"),
    (error: Error) => error,
  );
}

describe("a member that misbehaves: every read from it is bounded (fake members on 127.0.0.1)", function () {
  // Far above the bounds the tests give the client, so a read that is not bounded fails the test at this timeout.
  this.timeout(60_000);
  const members: FakeMember[] = [];
  const clients: MemberClient[] = [];
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostile-member-"));
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const fake of members.splice(0)) await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function metricsMember(behaviour: MetricsBehaviour): Promise<{ fake: FakeMember; client: MemberClient }> {
    const fake = await startMetricsMember(behaviour);
    members.push(fake);
    const client = new MemberClient(fake.endpoint, {}, { callTimeoutMs: 1_000 });
    clients.push(client);
    return { fake, client };
  }

  it("a /metrics that drips a byte at a time, or sends headers and then nothing, fails at the call's bound and is hung up on", async () => {
    for (const behaviour of ["drip", "silent"] as const) {
      const { fake, client } = await metricsMember(behaviour);
      const error = await failure(client.metrics());
      assert.ok(error instanceof EtcdDeadlineError, `${behaviour}: ${error}`);
      assert.match(error.message, /within 1\.0s \(callTimeout\)/, behaviour);
      await fake.hungUp;
      if (behaviour === "drip") assert.ok(fake.sent() > 0, "the member was still sending when the client gave up");
    }
  });

  it("a /metrics that never stops sending is cut off past its cap as OversizedAnswerError", async () => {
    const { fake, client } = await metricsMember("flood");
    const error = await failure(client.metrics(120_000));
    assert.ok(error instanceof OversizedAnswerError, String(error));
    assert.match(error.message, /sent more than 4 MiB/);
    await fake.hungUp;
    const sentAtHangUp = fake.sent();
    assert.ok(sentAtHangUp > METRICS_MAX_BYTES, `it sent ${sentAtHangUp} bytes`);
    // What the kernel's socket buffers hold on top of the cap, not what a minute of flooding would have sent.
    assert.ok(sentAtHangUp < METRICS_MAX_BYTES + 64 * MiB, `it sent ${sentAtHangUp} bytes before the hang-up`);
  });

  /** A session of one member, the fake, taken for the only voting member there is. */
  function sessionOf(fake: FakeMember): { session: ClusterApi; observation: ReturnType<typeof cluster> } {
    const client = new MemberClient(fake.endpoint, {}, { callTimeoutMs: 5_000 });
    clients.push(client);
    const session: ClusterApi = {
      clients: new Map([[fake.endpoint, client]]),
      client: () => client,
      observe: () => assert.fail("a snapshot takes the observation it is given"),
    };
    return { session, observation: cluster([member("m1", { endpoint: fake.endpoint, dbSize: MiB })]) };
  }

  async function snapshotFrom(script: SnapshotScript, stallMs?: number) {
    const fake = await startSnapshotMember(script);
    members.push(fake);
    const { session, observation } = sessionOf(fake);
    const settings = { path: path.join(dir, "etcd-{time}.db"), keep: 3 };
    const run = takeSnapshot(session, observation, settings, () => undefined, stallMs);
    return { fake, run };
  }

  it("a snapshot stream that keeps sending past the size it announced is stopped there, leaving no file", async () => {
    const db = randomBytes(MiB);
    const { fake, run } = await snapshotFrom({ messages: snapshotMessages(db), then: "endless" });
    const error = await failure(run);
    assert.ok(error instanceof SnapshotError, String(error));
    assert.match(error.message, /etcd announced 1048576 bytes and a 32-byte hash but kept sending/);
    await fake.hungUp;
    assert.deepEqual(fs.readdirSync(dir), [], "no snapshot and no .part file");
  });

  it("a snapshot verified against a stream that is as etcd sends it is kept (the fake's control case)", async () => {
    const db = randomBytes(MiB);
    const record = await withoutEtcdutl(async () => {
      const { run } = await snapshotFrom({ messages: snapshotMessages(db), then: "end" });
      return run;
    });
    assert.deepEqual(fs.readdirSync(dir), [path.basename(record.path)]);
    const bytes = fs.readFileSync(record.path);
    assert.equal(bytes.length, MiB + 32);
    assert.ok(bytes.subarray(0, MiB).equals(db), "the file holds the database as sent");
  });

  it("a snapshot shorter than it announced, one whose SHA-256 does not match, and one that stalls fail as SnapshotError and leave no file", async () => {
    const db = randomBytes(MiB);
    const messages = snapshotMessages(db);
    const badHash = [...messages.slice(0, -1), { blob: randomBytes(32), remaining: 0 }];
    const cases: [string, SnapshotScript, RegExp][] = [
      ["short", { messages: messages.slice(0, 10), then: "end" }, /etcd announced 1048576 bytes .* but sent \d+ bytes/],
      ["bad hash", { messages: badHash, then: "end" }, /the file does not match the SHA-256 etcd sent with it/],
      [
        "stalled",
        { messages: messages.slice(0, 3), then: "hang" },
        /snapshot: no answer within 1\.0s \(a stream that sends nothing for that long is given up\)/,
      ],
    ];
    for (const [name, script, expected] of cases) {
      const { run } = await snapshotFrom(script, 1_000);
      const error = await failure(run);
      assert.ok(error instanceof SnapshotError, `${name}: ${error}`);
      assert.match(error.message, expected, name);
      assert.deepEqual(fs.readdirSync(dir), [], `${name}: no snapshot and no .part file`);
    }
  });

  it("retention in a shared folder never deletes the snapshot just taken, nor another user's files or links named like it", async () => {
    // Another account's files named like later snapshots, and a link named like one pointing at a file elsewhere.
    const nobody = 65534;
    const hostile = ["etcd-29991231T000000000Z.db", "etcd-29991231T000000001Z.db"];
    for (const name of hostile) {
      fs.writeFileSync(path.join(dir, name), "not a snapshot");
      fs.chownSync(path.join(dir, name), nobody, nobody);
    }
    fs.writeFileSync(path.join(dir, "victim.txt"), "kept");
    fs.symlinkSync(path.join(dir, "victim.txt"), path.join(dir, "etcd-20000101T000000000Z.db"));
    // One of this user's own, older than the one about to be taken: the one retention should delete.
    const older = "etcd-20200101T000000000Z.db";
    fs.writeFileSync(path.join(dir, older), "an older snapshot", { mode: 0o600 });
    const fake = await startSnapshotMember({ messages: snapshotMessages(randomBytes(MiB)), then: "end" });
    members.push(fake);
    const { session, observation } = sessionOf(fake);
    const settings = { path: path.join(dir, "etcd-{time}.db"), keep: 1 };
    const record = await withoutEtcdutl(() => takeSnapshot(session, observation, settings, () => undefined));
    assert.deepEqual(
      fs.readdirSync(dir).sort(),
      [...hostile, "etcd-20000101T000000000Z.db", path.basename(record.path), "victim.txt"].sort(),
    );
    assert.equal(fs.statSync(record.path).size, MiB + 32, "the snapshot just taken is whole");
    assert.equal(fs.readFileSync(path.join(dir, "victim.txt"), "utf8"), "kept");
  });
});
