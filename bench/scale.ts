/**
 * Benchmark 4: a stack of 20 EtcdCompaction resources, one per single-member cluster, through one provider host:
 * preview, update and preview --refresh times and the host's peak memory, against the same operations on one
 * resource through a host of its own (the scaling ratio), and `etcdctl endpoint status` over the 20 members.
 */
import { LabCluster } from "../lab/cluster";
import { fill } from "../lab/fill";
import type { EngineStack } from "../test/support/engine";
import { compactionStack, startHost } from "./engine";
import type { BenchOptions, BenchResult } from "./support";
import { etcdctl, log, median, mib, MiB, millis, onCleanup, peakRss, ratio, seconds, table, timed } from "./support";

const CLUSTERS = 20;
/** 20 etcd processes on 2 cores: started and filled a few at a time. */
const BATCH = 5;
const QUOTA = 128 * MiB;
/** Each cluster gets this much history over a little live data, so that the update really compacts and defrags. */
const FILL_BYTES = 8 * MiB;
const FILL = { keys: 8, valueBytes: 64 * 1024, concurrency: 8, timeoutMs: 120_000 } as const;

interface Measures {
  readonly previewMs: number;
  readonly upMs: number;
  readonly refreshMs: number;
  readonly peakBytes: number;
  readonly defragmented: number;
  readonly ops: string[];
}

async function inBatches<T>(items: readonly T[], work: (item: T, index: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += BATCH) {
    await Promise.all(items.slice(i, i + BATCH).map((item, j) => work(item, i + j)));
  }
}

function name(index: number): string {
  return `c${String(index + 1).padStart(2, "0")}`;
}

/** One fresh host and stack; preview, up and preview --refresh of one resource per cluster, all in parallel. */
async function measure(clusters: readonly LabCluster[], verbose: boolean): Promise<Measures> {
  const bench = await startHost({ verbose });
  try {
    const stack: EngineStack = compactionStack(bench.host);
    const inputs = (cluster: LabCluster) => ({ endpoints: cluster.endpoints });
    // The engine runs independent resources in parallel (`pulumi up --parallel` is unbounded by default).
    const preview = await timed(() => Promise.all(clusters.map((c, i) => stack.preview(name(i), inputs(c)))));
    const mark = bench.host.logs.length;
    const up = await timed(() => Promise.all(clusters.map((c, i) => stack.up(name(i), inputs(c)))));
    bench.echo(mark);
    const refresh = await timed(() => Promise.all(clusters.map((c, i) => stack.previewRefresh(name(i), inputs(c)))));
    const defragmented = up.value.filter((result) =>
      ((result.outputs?.members ?? []) as { defragmented: boolean }[]).some((m) => m.defragmented),
    ).length;
    return {
      previewMs: preview.ms,
      upMs: up.ms,
      refreshMs: refresh.ms,
      peakBytes: peakRss(bench.host.pid),
      defragmented,
      ops: [
        ...new Set([
          ...preview.value.map((r) => `preview ${r.op}`),
          ...up.value.map((r) => `up ${r.op}`),
          ...refresh.value.map((r) => `refresh ${r.op}`),
        ]),
      ],
    };
  } finally {
    await bench.stop();
  }
}

export async function scaleBench(options: BenchOptions): Promise<BenchResult> {
  const clusters: LabCluster[] = [];
  const stopClusters = onCleanup("benchmark 4 clusters", async () => {
    await inBatches(clusters.splice(0), (cluster) => cluster.stop());
  });
  try {
    log(`benchmark 4: starting ${CLUSTERS} single-member clusters, ${BATCH} at a time`);
    const started = await timed(() =>
      inBatches(Array.from({ length: CLUSTERS }), async () => {
        clusters.push(await LabCluster.start({ members: 1, quotaBytes: QUOTA, startTimeoutMs: 60_000 }));
      }),
    );
    log(`benchmark 4: started in ${seconds(started.ms)}; filling each with ${mib(FILL_BYTES)} of history`);
    await inBatches(clusters, (cluster) =>
      fill(cluster.endpoints, { targetBytes: FILL_BYTES, ...FILL }).then(() => {}),
    );

    log("benchmark 4: baseline, one resource through a host of its own");
    const one = await measure(clusters.slice(0, 1), options.verbose);
    await fill(clusters[0].endpoints, { targetBytes: FILL_BYTES, ...FILL });
    log(`benchmark 4: ${CLUSTERS} resources through one host`);
    const all = await measure(clusters, options.verbose);

    const allEndpoints = clusters.flatMap((c) => c.endpoints);
    const statusTimes: number[] = [];
    for (let i = 0; i < 3; i++) statusTimes.push((await etcdctl(allEndpoints, ["endpoint", "status"], 60_000)).ms);
    const status = median(statusTimes);
    const allDefragged = one.defragmented === 1 && all.defragmented === CLUSTERS;

    const report = [
      `Benchmark 4: ${CLUSTERS} EtcdCompaction resources (one per single-member cluster, ${mib(FILL_BYTES)} of history each) through one provider host`,
      "",
      table(
        ["measure", "1 resource", `${CLUSTERS} resources`, `ratio (${CLUSTERS} / 1)`, "per resource"],
        [
          [
            "preview (Check; includes Configure)",
            millis(one.previewMs),
            millis(all.previewMs),
            ratio(all.previewMs, one.previewMs),
            millis(all.previewMs / CLUSTERS),
          ],
          [
            "up (compact + defrag each cluster)",
            seconds(one.upMs),
            seconds(all.upMs),
            ratio(all.upMs, one.upMs),
            millis(all.upMs / CLUSTERS),
          ],
          [
            "preview --refresh (Read + Check + Diff)",
            millis(one.refreshMs),
            millis(all.refreshMs),
            ratio(all.refreshMs, one.refreshMs),
            millis(all.refreshMs / CLUSTERS),
          ],
          [
            "provider host peak RSS (VmHWM)",
            mib(one.peakBytes),
            mib(all.peakBytes),
            ratio(all.peakBytes, one.peakBytes),
            mib((all.peakBytes - one.peakBytes) / (CLUSTERS - 1)),
          ],
        ],
      ),
      "",
      table(
        [
          "",
          `EtcdCompaction preview --refresh, ${CLUSTERS} resources`,
          `etcdctl endpoint status, ${CLUSTERS} endpoints`,
          "ratio",
        ],
        [["time (etcdctl: median of 3)", millis(all.refreshMs), millis(status), ratio(all.refreshMs, status)]],
      ),
      "",
      `cluster start-up (not timed in the ratios): ${seconds(started.ms)} for ${CLUSTERS} members, ${BATCH} at a time`,
      `engine ops seen: 1 resource: ${one.ops.join(", ")}; ${CLUSTERS} resources: ${all.ops.join(", ")}`,
      `${allDefragged ? "PASS" : "FAIL"}: every resource compacted and defragmented its cluster (${all.defragmented}/${CLUSTERS})`,
    ].join("\n");

    return {
      report,
      summary: [
        {
          benchmark: "4 scale",
          driver: "engine stand-in",
          measure: `up, ${CLUSTERS} resources / 1 host`,
          ours: seconds(all.upMs),
          baseline: `${seconds(one.upMs)} (1 resource)`,
          ratio: ratio(all.upMs, one.upMs),
          note: `${CLUSTERS}.00x would be no overlap`,
        },
        {
          benchmark: "4 scale",
          driver: "engine stand-in",
          measure: `preview / preview --refresh, ${CLUSTERS} resources`,
          ours: `${millis(all.previewMs)} / ${millis(all.refreshMs)}`,
          baseline: `${millis(one.previewMs)} / ${millis(one.refreshMs)} (1 resource)`,
          ratio: `${ratio(all.previewMs, one.previewMs)} / ${ratio(all.refreshMs, one.refreshMs)}`,
          note: `refresh vs etcdctl endpoint status (${CLUSTERS} endpoints): ${ratio(all.refreshMs, status)}`,
        },
        {
          benchmark: "4 scale",
          driver: "engine stand-in",
          measure: "provider host peak memory (VmHWM)",
          ours: mib(all.peakBytes),
          baseline: `${mib(one.peakBytes)} (1 resource)`,
          ratio: ratio(all.peakBytes, one.peakBytes),
          note: "",
        },
      ],
      checks: [
        {
          claim: "benchmark 4: every resource defragmented its cluster",
          pass: allDefragged,
          detail: `${one.defragmented}/1, ${all.defragmented}/${CLUSTERS}`,
        },
      ],
    };
  } finally {
    await stopClusters();
  }
}
