import * as assert from "node:assert/strict";
import { InvalidInputError } from "../../provider/errors";
import { compactionSettings } from "../../provider/inputs/compaction";
import { validateSnapshot } from "../../provider/inputs/snapshot";
import { describeStep, planCompaction } from "../../provider/plan/compaction";
import { snapshotPath, snapshotSource, snapshotsToDelete } from "../../provider/plan/snapshot";
import { cluster, member } from "./observations";

function refusal(value: unknown): string {
  try {
    validateSnapshot(value);
  } catch (error) {
    assert.ok(error instanceof InvalidInputError, String(error));
    return error.message;
  }
  assert.fail(`accepted ${JSON.stringify(value)}`);
}

describe("snapshot settings, names and retention", () => {
  it("takes an absolute path with {time} in the file name, keeping 3 by default", () => {
    assert.deepEqual(validateSnapshot({ path: "/var/backups/etcd/prod-{time}.db" }), {
      path: "/var/backups/etcd/prod-{time}.db",
      keep: 3,
    });
    assert.equal(validateSnapshot(undefined), undefined);
  });

  it("refuses what would make a snapshot's place a guess, naming the input and the fix", () => {
    const cases: [unknown, RegExp][] = [
      [null, /^snapshot: expected an object with path and keep, got null/],
      [{ path: "snapshots/{time}.db" }, /^snapshot\.path: expected an absolute path/],
      [{ path: "/backups/etcd.db" }, /^snapshot\.path: expected \{time\} once, in the file name/],
      [{ path: "/backups/{time}/etcd.db" }, /^snapshot\.path: expected \{time\} once, in the file name/],
      [{ path: "/backups/{time}-{time}.db" }, /^snapshot\.path: expected \{time\} once/],
      [{ path: "/backups/{stack}-{time}.db" }, /^snapshot\.path: \{stack\} is filled in by the SDK's resource classes/],
      [{ path: "/backups/{date}-{time}.db" }, /^snapshot\.path: unknown placeholder \{date\}/],
      [{ path: "/backups/{time}.db", keep: 0 }, /^snapshot\.keep: expected a whole number of snapshots to keep, 1 to/],
      [{ path: "/backups/{time}.db", keep: 2.5 }, /^snapshot\.keep: /],
      [{ path: "/backups/{time}.db", keep: null }, /^snapshot\.keep: .*got null/],
      [{ path: "/backups/{time}.db", kep: 2 }, /^snapshot\.kep: unknown snapshot setting; did you mean keep\?/],
    ];
    for (const [value, expected] of cases) assert.match(refusal(value), expected, JSON.stringify(value));
  });

  it("names each snapshot by its UTC start time, to the millisecond, so names sort by age", () => {
    const settings = { path: "/b/prod-{time}.db", keep: 2 };
    assert.equal(snapshotPath(settings, new Date("2026-11-30T05:12:00.123Z")), "/b/prod-20261130T051200123Z.db");
  });

  it("deletes only this path's snapshots beyond the newest `keep`, oldest first", () => {
    const settings = { path: "/b/prod-{time}.db", keep: 2 };
    const names = [
      "prod-20261130T051200123Z.db",
      "prod-20251130T051200123Z.db",
      "prod-20261201T000000000Z.db",
      "prod-20241130T051200123Z.db.bak",
      "staging-20201130T051200123Z.db",
      "prod-latest.db",
      "notes.txt",
    ];
    const written = "prod-20261201T000000000Z.db";
    assert.deepEqual(snapshotsToDelete(settings, names, written), ["prod-20251130T051200123Z.db"]);
    assert.deepEqual(snapshotsToDelete({ ...settings, keep: 5 }, names, written), []);
  });

  it("never deletes the snapshot just written, even when the folder holds names that sort after it", () => {
    const written = "prod-20261130T051200123Z.db";
    const later = ["prod-29991231T000000000Z.db", "prod-29991231T000000001Z.db"];
    const older = "prod-20251130T051200123Z.db";
    const settings = { path: "/b/prod-{time}.db", keep: 1 };
    assert.deepEqual(snapshotsToDelete(settings, [older, written, ...later], written), [older, ...later]);
    assert.deepEqual(snapshotsToDelete({ ...settings, keep: 3 }, [...later, written, older], written), [older]);
  });

  it("streams from a follower, first by name, and from the leader only when it is the one voter that answered", () => {
    const followers = cluster([
      member("m1"),
      member("m3"),
      member("m2"),
      member("m0", { isLearner: true, isLeader: false }),
    ]);
    assert.equal(snapshotSource(followers)?.name, "m2");
    assert.equal(snapshotSource(cluster([member("m1")]))?.name, "m1");
    assert.equal(snapshotSource(cluster([])), undefined);
  });

  it("puts the snapshot first in EtcdCompaction's plan", () => {
    const settings = compactionSettings({ endpoints: ["http://127.0.0.1:2379"], snapshot: { path: "/b/{time}.db" } });
    const [first, second] = planCompaction(cluster([member("m1"), member("m2"), member("m3")]), settings);
    assert.equal(
      describeStep(first),
      "snapshot m2 to /b/{time}.db (keeping the newest 3): a restore point before anything changes",
    );
    assert.equal(second.action, "compact");
  });
});
