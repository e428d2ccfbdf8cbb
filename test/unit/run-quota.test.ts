import * as assert from "node:assert/strict";
import { InterruptedError, UnsafeClusterError } from "../../provider/errors";
import { quotaSettings } from "../../provider/inputs/quota";
import type { QuotaRun } from "../../provider/run/quota";
import { runQuotaChange } from "../../provider/run/quota";
import { FakeCluster, GiB } from "./fake-cluster";
import type { Comeback } from "./fake-host";
import { FakeHost } from "./fake-host";

/** EtcdQuota's rolling change against an in-memory cluster and host: order, health gates, refusals, rollback. */

const NEW_QUOTA = 2 * GiB;

interface Setup {
  readonly cluster: FakeCluster;
  readonly host: FakeHost;
  /** EtcdQuota's `members`, in the order given. */
  readonly members: Record<string, string>[];
  /** Every file as it was before the run. */
  readonly filesBefore: Map<string, string>;
  /** EtcdQuota's `restartTimeout`: how long a run waits for a member that does not come back as asked. */
  readonly restartTimeout: string;
}

/** m1 leads; every member runs 1 GiB from its file, and behaves on restart as `comebacks` says (else reads its file). */
function setUp(
  names: readonly string[],
  options: {
    readonly down?: readonly string[];
    readonly comebacks?: Record<string, Comeback>;
    /** Per member, how long it stays down after its restart command (else it is back at once). */
    readonly downForMs?: Record<string, number>;
    readonly restartTimeout?: string;
  } = {},
): Setup {
  const cluster = new FakeCluster(
    names.map((name) => ({ name, down: options.down?.includes(name) })),
    { leader: "m1" },
  );
  const host = new FakeHost(cluster);
  const members = cluster.members.map((m) =>
    host.manage(m, { comeback: options.comebacks?.[m.name], downForMs: options.downForMs?.[m.name] }),
  );
  // Short by default, so the tests that wait for a member that never comes back as asked are short too.
  const restartTimeout = options.restartTimeout ?? "0.5s";
  return { cluster, host, members, filesBefore: new Map(host.files), restartTimeout };
}

function run({ cluster, host, members, restartTimeout }: Setup, onLine: (line: string) => void = () => {}) {
  const settings = quotaSettings({ quota: "2GiB", members, restartTimeout });
  return runQuotaChange(cluster, host, settings, onLine, { takeLock: cluster.takeLock });
}

async function failure(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => assert.fail("the run should have failed"),
    (e: unknown) => e,
  );
}

function fileOf(name: string): string {
  return `/etc/etcd/${name}.conf.yml`;
}

describe("EtcdQuota's rolling change (in-memory cluster and host)", () => {
  it("restarts the followers in name order and the leader last, each only once the one before is back with the new quota", async () => {
    // Members listed out of name order. The two that others follow answer again only 100 ms after their restart
    // command, so a run that went on without waiting would restart the next one while they are down.
    const setup = setUp(["m3", "m1", "m2"], { downForMs: { m2: 100, m3: 100 }, restartTimeout: "2s" });
    const { cluster, host } = setup;

    await run(setup);

    const m1 = cluster.member("m1");
    assert.deepEqual(cluster.events.slice(0, 5), [
      "lock",
      `write ${fileOf("m2")}`,
      "restart m2",
      `write ${fileOf("m3")}`,
      "restart m3",
    ]);
    assert.match(cluster.events[5], /^move leader m1 -> m[23]$/);
    assert.deepEqual(cluster.events.slice(6), [`write ${fileOf("m1")}`, "restart m1", "unlock"]);
    assert.deepEqual(host.othersDownAtRestart, [[], [], []]);
    assert.notEqual(cluster.leaderId, m1.id);
    for (const member of cluster.members) {
      assert.equal(member.quotaBytes, NEW_QUOTA, member.name);
      assert.match(host.files.get(fileOf(member.name))!, new RegExp(`^quota-backend-bytes: ${NEW_QUOTA}$`, "m"));
    }
  });

  it("refuses to start, writing no file and restarting nothing, when a member does not answer", async () => {
    const setup = setUp(["m1", "m2", "m3"], { down: ["m3"] });

    const error = await failure(run(setup));

    assert.ok(error instanceof UnsafeClusterError, String(error));
    assert.match(error.message, /did not answer \(member m3\)/);
    assert.deepEqual(setup.cluster.events, []);
    assert.deepEqual(setup.host.files, setup.filesBefore);
  });

  it("refuses to start when restarting any member would leave the cluster without a quorum to spare", async () => {
    // Two voting members: while one restarts, the other alone is below a quorum of two.
    const setup = setUp(["m1", "m2"]);

    const error = await failure(run(setup));

    assert.ok(error instanceof UnsafeClusterError, String(error));
    assert.match(error.message, /quorum/);
    assert.deepEqual(setup.cluster.events, []);
    assert.deepEqual(setup.host.files, setup.filesBefore);
  });

  it("checks the cluster's health again before each member and stops before the next one once it is unhealthy", async () => {
    const setup = setUp(["m1", "m2", "m3"]);
    const { cluster } = setup;
    // An alarm no run may ignore, raised after m2 is done and just as the run turns to m3.
    const onLine = (line: string) => {
      if (line.startsWith("m3: write")) cluster.raiseAlarm("CORRUPT", "m2");
    };

    const error = await failure(run(setup, onLine));

    assert.ok(error instanceof InterruptedError, String(error));
    assert.match(error.message, /refusing to restart m3: alarm CORRUPT is raised on member m2/);
    assert.deepEqual(cluster.events, ["lock", `write ${fileOf("m2")}`, "restart m2", "unlock"]);
    assert.equal(setup.host.files.get(fileOf("m3")), setup.filesBefore.get(fileOf("m3")));
    assert.equal(cluster.member("m3").quotaBytes, GiB);
  });

  it("rolls back a member that never comes back with the new quota, byte for byte, and touches no later member", async () => {
    // m2 does not start with the new quota, but does with its old file.
    const setup = setUp(["m1", "m2", "m3"], {
      comebacks: { m2: (quota) => (quota === NEW_QUOTA ? "down" : quota!) },
    });
    const { cluster, host } = setup;

    const error = await failure(run(setup));

    assert.ok(error instanceof InterruptedError, String(error));
    assert.match(error.message, /stopped at m2/);
    assert.equal(host.files.get(fileOf("m2")), setup.filesBefore.get(fileOf("m2")));
    assert.deepEqual(cluster.events, [
      "lock",
      `write ${fileOf("m2")}`,
      "restart m2",
      `restore ${fileOf("m2")}`,
      "restart m2",
      "unlock",
    ]);
    const m2 = cluster.member("m2");
    assert.ok(m2.up);
    assert.equal(m2.quotaBytes, GiB);
    for (const name of ["m1", "m3"]) {
      assert.equal(host.files.get(fileOf(name)), setup.filesBefore.get(fileOf(name)), name);
      assert.equal(cluster.member(name).processStartTime, 1, `${name} was restarted`);
    }
    const { record } = (error as InterruptedError<QuotaRun>).done;
    assert.deepEqual(
      record.members.filter((m) => m.restarted).map((m) => m.name),
      ["m2"],
    );
  });

  it("rolls back a member that comes back with another quota than its file says, and says something overrides the file", async () => {
    // A flag elsewhere (the unit, the environment) pins m2 to 1 GiB whatever its file says.
    const setup = setUp(["m1", "m2", "m3"], { comebacks: { m2: () => GiB } });
    const { cluster, host } = setup;

    const error = await failure(run(setup));

    assert.ok(error instanceof InterruptedError, String(error));
    assert.match(error.message, /m2 came back with quota 1 GiB, not 2 GiB: something overrides/);
    assert.equal(host.files.get(fileOf("m2")), setup.filesBefore.get(fileOf("m2")));
    assert.deepEqual(cluster.events.slice(1, 5), [
      `write ${fileOf("m2")}`,
      "restart m2",
      `restore ${fileOf("m2")}`,
      "restart m2",
    ]);
    assert.ok(!cluster.events.some((e) => /m[13]/.test(e)), cluster.events.join(", "));
  });

  it("leaves keepBackups backups of each file written, the one just made included, and no other file touched", async () => {
    const setup = setUp(["m1", "m2", "m3"]);
    const { cluster, host, members } = setup;
    const old = (name: string, day: number) => `${fileOf(name)}.bak-202601${String(day).padStart(2, "0")}T000000.000Z`;
    for (const m of ["m1", "m2", "m3"]) for (let day = 1; day <= 4; day++) host.files.set(old(m, day), `day ${day}`);
    host.files.set("/etc/etcd/notes.bak-20260101T000000.000Z", "someone else's");
    const settings = quotaSettings({ quota: "2GiB", members, restartTimeout: "0.5s", keepBackups: 3 });

    const { record } = await runQuotaChange(cluster, host, settings, () => {}, { takeLock: cluster.takeLock });

    for (const m of record.members) {
      const name = m.name!;
      const backups = [...host.files.keys()].filter((path) => path.startsWith(`${fileOf(name)}.bak-`)).sort();
      assert.deepEqual(backups, [old(name, 3), old(name, 4), m.backupPath].sort(), name);
      assert.equal(host.files.get(m.backupPath!), setup.filesBefore.get(fileOf(name)), name);
    }
    assert.equal(host.files.get("/etc/etcd/notes.bak-20260101T000000.000Z"), "someone else's");
  });

  it("finishes the change when old backups cannot be pruned, and says which were not removed and why", async () => {
    const setup = setUp(["m1", "m2", "m3"]);
    const { cluster, host } = setup;
    host.pruneFailure = "fake-host: cannot list the backups in /etc/etcd: permission denied";
    const lines: string[] = [];

    await run(setup, (line) => lines.push(line));

    for (const member of cluster.members) {
      assert.equal(member.quotaBytes, NEW_QUOTA, member.name);
      assert.ok(
        lines.includes(
          `${member.name}: old backups of ${fileOf(member.name)} were not removed: fake-host: cannot list the backups in /etc/etcd: permission denied`,
        ),
        lines.join("\n"),
      );
    }
  });
});
