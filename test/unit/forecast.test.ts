import * as assert from "node:assert/strict";
import { compactionSettings } from "../../provider/inputs/compaction";
import { maintenanceReasons } from "../../provider/plan/compaction";
import type { SizeSample } from "../../provider/plan/forecast";
import { forecast, keepSamples, MAX_SAMPLES, sampleOf } from "../../provider/plan/forecast";
import { cluster, member, MiB } from "./observations";

const START = Date.parse("2026-11-30T00:00:00Z");
const HOUR = 3_600_000;

/** One sample per hour, the file growing `perHour` bytes each, under a 1000 MiB quota. */
function hourly(sizes: readonly number[]): SizeSample[] {
  return sizes.map((dbSize, i) => ({
    at: new Date(START + i * HOUR).toISOString(),
    dbSize,
    quotaBytes: 1000 * MiB,
  }));
}

describe("forecast of NOSPACE from successive refreshes", () => {
  it("fits a line through the samples and says when the largest file reaches the quota", () => {
    // 100 MiB an hour, 700 MiB now: the 1000 MiB quota is 300 MiB away, 3 hours.
    const outlook = forecast(hourly([400, 500, 600, 700].map((m) => m * MiB)));
    assert.equal(outlook.secondsLeft, 3 * 3600);
    assert.equal(outlook.text, "full in 3h00m at 2.34 GiB/day: 700 MiB of 1000 MiB (from 4 samples over 3h00m)");
  });

  it("is not thrown off by one noisy reading: least squares, not the last two points", () => {
    const outlook = forecast(hourly([400, 500, 650, 700].map((m) => m * MiB)));
    // The line fits 105 MiB/h: 300 MiB left is 2.86 h. The last two points alone (50 MiB/h) would say 6 h.
    assert.equal(Math.round(outlook.secondsLeft!), Math.round((300 / 105) * 3600));
  });

  it("says it cannot tell yet from fewer than 3 samples or under 30 s", () => {
    assert.match(forecast(hourly([400, 500].map((m) => m * MiB))).text, /^not enough samples yet: 2 over 1h00m/);
    const quick = [0, 10_000, 20_000].map((ms) => ({
      at: new Date(START + ms).toISOString(),
      dbSize: 400 * MiB + ms,
      quotaBytes: 1000 * MiB,
    }));
    assert.deepEqual(forecast(quick).secondsLeft, null);
    assert.match(
      forecast(quick).text,
      /^not enough samples yet: 3 over 20\.0s; a forecast needs 3 refreshes over 30\.0s or more, kept by `pulumi refresh` \(a preview's refresh is not saved\)$/,
    );
  });

  it("says the file is not growing rather than giving a time when it shrank or held still", () => {
    for (const sizes of [
      [700, 600, 500],
      [500, 500, 500],
    ]) {
      const outlook = forecast(hourly(sizes.map((m) => m * MiB)));
      assert.equal(outlook.secondsLeft, null);
      assert.match(outlook.text, /^not growing: the largest DB file went from \d+ MiB to \d+ MiB/);
    }
  });

  it("says full now when the file has reached the quota", () => {
    assert.deepEqual(forecast(hourly([900, 1000, 1000].map((m) => m * MiB))).secondsLeft, 0);
  });

  it("reads the largest voting member's file against the smallest quota, learners aside", () => {
    const observation = cluster([
      member("m1", { dbSize: 300 * MiB }),
      member("m2", { dbSize: 500 * MiB, metrics: { ...member("m2").metrics, quotaBytes: 800 * MiB } }),
      member("m3", { dbSize: 900 * MiB, isLearner: true, isLeader: false }),
    ]);
    assert.deepEqual(sampleOf(observation, new Date(START)), {
      at: "2026-11-30T00:00:00.000Z",
      dbSize: 500 * MiB,
      quotaBytes: 600 * MiB,
    });
  });

  it("keeps the newest 48 samples, and starts again when the quota changes", () => {
    const many = hourly(Array.from({ length: MAX_SAMPLES }, (_, i) => (100 + i) * MiB));
    const next = { at: new Date(START + MAX_SAMPLES * HOUR).toISOString(), dbSize: 200 * MiB, quotaBytes: 1000 * MiB };
    const kept = keepSamples(many, next);
    assert.equal(kept.length, MAX_SAMPLES);
    assert.deepEqual(kept.at(-1), next);
    assert.deepEqual(kept[0], many[1]);
    assert.deepEqual(keepSamples(many, { ...next, quotaBytes: 2000 * MiB }), [{ ...next, quotaBytes: 2000 * MiB }]);
  });

  it("counts as drift under when.fullWithin only when the forecast says less than that", () => {
    const observation = cluster([member("m1", { dbSize: 100 * MiB })]);
    const when = compactionSettings({ endpoints: ["http://127.0.0.1:2379"], when: { fullWithin: "4h" } }).when;
    const soon = forecast(hourly([400, 500, 600, 700].map((m) => m * MiB)));
    const later = forecast(hourly([400, 410, 420, 430].map((m) => m * MiB)));
    assert.deepEqual(maintenanceReasons(observation, when, soon), [`the quota is reached within 4h00m: ${soon.text}`]);
    assert.deepEqual(maintenanceReasons(observation, when, later), []);
    assert.deepEqual(maintenanceReasons(observation, when, forecast([])), []);
  });
});
