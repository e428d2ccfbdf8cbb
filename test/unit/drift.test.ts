import * as assert from "node:assert/strict";
import { liveQuota, maintenanceState, sameQuota, UP_TO_DATE } from "../../provider/plan/drift";
import type { QuotaMemberRecord, QuotaRecord } from "../../provider/types/quota";
import { cluster, member } from "./observations";

const GiB = 1024 ** 3;

function record(quotaBytes: number, members: Partial<QuotaMemberRecord>[]): QuotaRecord {
  return {
    quotaBytes,
    alarmsDisarmed: [],
    snapshot: null,
    members: members.map((m, i) => ({
      endpoint: `http://10.0.0.${i + 1}:2379`,
      name: `m${i + 1}`,
      configFile: "/etc/etcd.env",
      format: "env-file",
      fileRead: true,
      configuredBytes: quotaBytes,
      liveBytes: quotaBytes,
      restarted: false,
      backupPath: null,
      ...m,
    })),
  };
}

describe("drift: the quota a refresh reports", () => {
  it("reports the declared value, as written, while every file and member have it", () => {
    assert.equal(liveQuota("8GiB", record(8 * GiB, [{}, {}, {}])), "8GiB");
    assert.equal(liveQuota(8 * GiB, record(8 * GiB, [{}, {}])), 8 * GiB);
  });

  it("reports the one other value when every member was changed by hand", () => {
    const all = { configuredBytes: 6 * GiB, liveBytes: 6 * GiB };
    assert.equal(liveQuota("8GiB", record(8 * GiB, [all, all, all])), "6GiB");
    assert.equal(
      liveQuota("8GiB", record(8 * GiB, [all, { ...all, configuredBytes: 6 * GiB + 1, liveBytes: 6 * GiB + 1 }])),
      "mixed: m1 6GiB; m2 6442450945",
    );
  });

  it("names each member's values when they disagree, and a file without the setting as etcd's 2 GiB default", () => {
    const quota = liveQuota(
      "8GiB",
      record(8 * GiB, [{}, { liveBytes: 2 * GiB, configuredBytes: null }, { liveBytes: 6 * GiB }]),
    );
    assert.equal(quota, "mixed: m1 8GiB; m2 2GiB; m3 runs 6GiB, its file says 8GiB");
  });

  it("is no drift for files without the setting, or with 0, when 2 GiB is declared, and drift to 2GiB otherwise", () => {
    const unset = { configuredBytes: null, liveBytes: 2 * GiB };
    const zero = { configuredBytes: 0, liveBytes: 2 * GiB };
    assert.equal(liveQuota("2GiB", record(2 * GiB, [unset, zero, unset])), "2GiB");
    assert.equal(liveQuota("8GiB", record(8 * GiB, [unset, zero, unset])), "2GiB");
  });

  it("never reports a member whose file was not read as converged, nor as running etcd's default", () => {
    const unread = { fileRead: false, configuredBytes: null };
    assert.equal(
      liveQuota("8GiB", record(8 * GiB, [{}, unread, { ...unread, liveBytes: null }])),
      "mixed: m1 8GiB; m2 runs 8GiB, its file was not read; m3 unknown (file not read)",
    );
  });

  it("reads state written before fileRead existed as files that were read", () => {
    const old = { fileRead: undefined as unknown as boolean };
    assert.equal(liveQuota("8GiB", record(8 * GiB, [old, old])), "8GiB");
  });

  it("compares quotas by bytes, and anything else by value", () => {
    assert.ok(sameQuota("8GiB", 8 * GiB));
    assert.ok(sameQuota("8Gi", "8192MiB"));
    assert.ok(!sameQuota("8GB", "8GiB"));
    assert.ok(sameQuota("mixed: a", "mixed: a"));
  });
});

describe("drift: EtcdCompaction's maintenance", () => {
  it("is up to date without reasons, needed with them, and needed when no member answered", () => {
    const lean = cluster([member("m1")]);
    assert.equal(maintenanceState(lean, []), UP_TO_DATE);
    assert.equal(
      maintenanceState(lean, ["NOSPACE alarm on m1", "m1 has 300 MiB reclaimable"]),
      "needed: NOSPACE alarm on m1; m1 has 300 MiB reclaimable",
    );
    assert.equal(maintenanceState({ ...lean, members: [] }, []), "needed: no member answered");
  });
});
