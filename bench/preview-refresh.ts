/**
 * Benchmark 3: `pulumi preview --refresh` of an EtcdCompaction and an EtcdQuota on a 3-member cluster, through the
 * engine protocol (Read, then Check and Diff against the refreshed state), against `etcdctl endpoint status` for the
 * same members. Median of N runs each, interleaved so that drifts of the machine hit both alike.
 */
import { SupervisedCluster } from "../lab/supervisor";
import { compactionStack, quotaStack, startHost } from "./engine";
import type { BenchOptions, BenchResult } from "./support";
import { etcdctl, log, median, MiB, millis, onCleanup, ratio, table, timed } from "./support";

const FORMAT = "systemd-unit";
const QUOTA = 64 * MiB;

export async function previewRefreshBench(options: BenchOptions): Promise<BenchResult> {
  const runs = options.runs;
  log(`benchmark 3: starting a supervised 3-member cluster (${FORMAT})`);
  const cluster = await SupervisedCluster.start({ format: FORMAT, members: 3, quotaBytes: QUOTA });
  const stopCluster = onCleanup("benchmark 3 cluster", () => cluster.stop());
  let stopHost: (() => Promise<void>) | undefined;
  try {
    const bench = await startHost({ verbose: options.verbose });
    stopHost = bench.stop;
    const endpoints = cluster.endpoints;
    const compaction = compactionStack(bench.host);
    const quota = quotaStack(bench.host);
    const compactionInputs = { endpoints };
    const quotaInputs = {
      quota: QUOTA,
      members: cluster.quotaMembers(),
    };
    // Both resources exist in the state first (the quota is already what the files say: nothing restarts).
    log("benchmark 3: creating both resources, then one untimed warm-up of each measure");
    await compaction.up("space", compactionInputs);
    await quota.up("quota", quotaInputs);
    await compaction.previewRefresh("space", compactionInputs);
    await quota.previewRefresh("quota", quotaInputs);
    await etcdctl(endpoints, ["endpoint", "status"]);

    const times = { compaction: [] as number[], quota: [] as number[], both: [] as number[], etcdctl: [] as number[] };
    const ops = new Set<string>();
    log(`benchmark 3: ${runs} runs of each measure`);
    for (let i = 0; i < runs; i++) {
      const c = await timed(() => compaction.previewRefresh("space", compactionInputs));
      times.compaction.push(c.ms);
      ops.add(`EtcdCompaction ${c.value.op}`);
      const q = await timed(() => quota.previewRefresh("quota", quotaInputs));
      times.quota.push(q.ms);
      ops.add(`EtcdQuota ${q.value.op}`);
      // The engine refreshes independent resources in parallel.
      const both = await timed(() =>
        Promise.all([compaction.previewRefresh("space", compactionInputs), quota.previewRefresh("quota", quotaInputs)]),
      );
      times.both.push(both.ms);
      const status = await etcdctl(endpoints, ["endpoint", "status"], 30_000);
      times.etcdctl.push(status.ms);
    }
    const m = {
      compaction: median(times.compaction),
      quota: median(times.quota),
      both: median(times.both),
      etcdctl: median(times.etcdctl),
    };
    const row = (label: string, values: number[], med: number) => [
      label,
      millis(med),
      millis(Math.min(...values)),
      millis(Math.max(...values)),
      ratio(med, m.etcdctl),
    ];
    const noDrift = [...ops].every((op) => op.endsWith(" same"));

    const report = [
      `Benchmark 3: preview --refresh on a 3-member cluster, median of ${runs} runs`,
      "",
      table(
        ["measure", "median", "min", "max", "ratio (median / etcdctl)"],
        [
          row("EtcdCompaction preview --refresh (Read + Check + Diff)", times.compaction, m.compaction),
          row("EtcdQuota preview --refresh (Read + Check + Diff)", times.quota, m.quota),
          row("both, in parallel as the engine runs them", times.both, m.both),
          row("etcdctl endpoint status (3 members; baseline)", times.etcdctl, m.etcdctl),
        ],
      ),
      "",
      `${noDrift ? "PASS" : "FAIL"}: no drift reported on an untouched cluster (${[...ops].join(", ")})`,
    ].join("\n");

    return {
      report,
      summary: [
        {
          benchmark: "3 preview --refresh",
          driver: "engine stand-in",
          measure: `both resources, 3 members (median of ${runs})`,
          ours: millis(m.both),
          baseline: `${millis(m.etcdctl)} (etcdctl endpoint status)`,
          ratio: ratio(m.both, m.etcdctl),
          note: `EtcdCompaction ${millis(m.compaction)} (${ratio(m.compaction, m.etcdctl)}), EtcdQuota ${millis(m.quota)} (${ratio(m.quota, m.etcdctl)})`,
        },
      ],
      checks: [{ claim: "benchmark 3: no drift on an untouched cluster", pass: noDrift, detail: [...ops].join(", ") }],
    };
  } finally {
    await stopHost?.();
    await stopCluster();
  }
}
