/**
 * `npm run bench [-- --only 1,3] [-- --quick] [-- --runs N] [-- --verbose]`: seven benchmarks of pulumi-etcd-quota on
 * real local etcd clusters, each reported as ratios against a baseline measured in the same run. See bench/README.md.
 */
import * as os from "os";
import { parseArgs } from "util";
import { etcdBinary } from "../lab/etcd-binary";
import { breakGlassBench } from "./break-glass";
import { cliBench } from "./cli";
import { facesBench } from "./faces";
import { maintenanceBench } from "./maintenance";
import { previewRefreshBench } from "./preview-refresh";
import { rollingQuotaBench } from "./rolling-quota";
import { scaleBench } from "./scale";
import type { BenchOptions, BenchResult, Driver, SummaryRow } from "./support";
import { installSignalHandlers, log, markdownTable, message, runAllCleanups, seconds, wasInterrupted } from "./support";

const BENCHMARKS: readonly {
  readonly id: number;
  readonly title: string;
  readonly driver: Driver;
  readonly run: typeof maintenanceBench;
}[] = [
  {
    id: 1,
    title: "maintenance: EtcdCompaction vs the etcdctl runbook",
    driver: "engine stand-in",
    run: maintenanceBench,
  },
  {
    id: 2,
    title: "rolling quota change: pulumi up vs the operator's runbook",
    driver: "pulumi CLI",
    run: rollingQuotaBench,
  },
  { id: 3, title: "preview --refresh vs etcdctl endpoint status", driver: "engine stand-in", run: previewRefreshBench },
  { id: 4, title: "scale: 20 clusters through one provider host", driver: "engine stand-in", run: scaleBench },
  {
    id: 5,
    title: "through the real pulumi CLI: up and the outage path at NOSPACE, preview --refresh, the preview pass of up",
    driver: "pulumi CLI",
    run: cliBench,
  },
  {
    id: 6,
    title: "break-glass: etcd-quota maintain vs the best etcdctl runbook at NOSPACE",
    driver: "break-glass command",
    run: breakGlassBench,
  },
  {
    id: 7,
    title: "what each face (dynamic classes, provider plugin) adds to pulumi preview --refresh",
    driver: "pulumi CLI",
    run: facesBench,
  },
];

/** The whole run gives up after this long, stopping everything it started. */
const OVERALL_TIMEOUT_MS = 50 * 60_000;

const USAGE = `usage: npm run bench [-- options]
  --only LIST   run only these benchmarks, e.g. --only 3 or --only 1,5 (default: all seven)
  --quick       smaller fill for benchmark 1 (128 MiB instead of 512 MiB) and fewer runs for benchmark 3
  --rounds N    rounds of benchmark 1, alternating which side goes first; medians when N > 1 (default 2, --quick 1;
                each round refills the cluster twice, ~40 s per fill at 512 MiB on 2 cores)
  --runs N      runs per measure for benchmark 3's medians (default 21, --quick 7); benchmarks 5 and 7 run a third as many
  --samples N   rolling changes per side for benchmark 2, the side going first alternating per round (default 3,
                --quick 1; each sample is ~15 s on 2 cores); also the samples per side of benchmark 6 (a fill to
                NOSPACE each: quota 256 MiB, --quick 64 MiB)
  --verbose     echo the provider's progress lines
  --help`;

function parseOptions(argv: readonly string[]): { options: BenchOptions; only: number[] } | undefined {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      only: { type: "string" },
      quick: { type: "boolean", default: false },
      runs: { type: "string" },
      rounds: { type: "string" },
      samples: { type: "string" },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return undefined;
  const only = values.only === undefined ? BENCHMARKS.map((b) => b.id) : values.only.split(",").map(Number);
  for (const id of only) {
    if (!BENCHMARKS.some((b) => b.id === id))
      throw new Error(`--only: no benchmark ${id} (have 1 to ${BENCHMARKS.length})`);
  }
  const runs = values.runs === undefined ? (values.quick ? 7 : 21) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new Error(`--runs: a whole number from 1 to 1000`);
  const rounds = values.rounds === undefined ? (values.quick ? 1 : 2) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error(`--rounds: a whole number from 1 to 20`);
  const samples = values.samples === undefined ? (values.quick ? 1 : 3) : Number(values.samples);
  if (!Number.isInteger(samples) || samples < 1 || samples > 20)
    throw new Error(`--samples: a whole number from 1 to 20`);
  return { options: { quick: values.quick, rounds, runs, samples, verbose: values.verbose }, only };
}

/** The machine is shared: its load moves every time, so the output says it at the start and at the end. */
function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(", ");
}

function machine(): { label: string; value: string }[] {
  const cpus = os.cpus();
  return [
    { label: "nproc", value: String(os.availableParallelism()) },
    { label: "CPU", value: cpus[0]?.model.trim() ?? "unknown" },
    { label: "memory", value: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB` },
    { label: "etcd", value: etcdBinary().version },
    { label: "node", value: process.version },
    { label: "kernel", value: `${os.type()} ${os.release()}` },
  ];
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${message(error)}\n\n${USAGE}`);
    return 2;
  }
  if (parsed === undefined) {
    console.log(USAGE);
    return 0;
  }
  const { options, only } = parsed;
  installSignalHandlers();
  const watchdog = setTimeout(() => {
    process.stderr.write(`\nthe benchmark ran over ${OVERALL_TIMEOUT_MS / 60_000} min; stopping everything\n`);
    void runAllCleanups(20_000).finally(() => process.exit(124));
  }, OVERALL_TIMEOUT_MS);
  watchdog.unref();

  const host = machine();
  console.log(`pulumi-etcd-quota benchmarks${options.quick ? " (--quick)" : ""}`);
  console.log(host.map((m) => `${m.label}: ${m.value}`).join("; "));
  console.log(`started ${new Date().toISOString()}, load average ${loadAverage()} (1, 5, 15 min)`);
  console.log("ratio = ours / baseline, both measured in this run: below 1.00x ours is faster or smaller.\n");

  const started = Date.now();
  const summary: SummaryRow[] = [];
  const checks: BenchResult["checks"][number][] = [];
  let failed = 0;
  for (const bench of BENCHMARKS.filter((b) => only.includes(b.id))) {
    if (wasInterrupted()) break;
    const benchStarted = Date.now();
    log(`benchmark ${bench.id}: ${bench.title}`);
    try {
      const result = await bench.run(options);
      console.log(`${result.report}\n(benchmark ${bench.id} took ${seconds(Date.now() - benchStarted)})\n`);
      summary.push(...result.summary);
      checks.push(...result.checks);
    } catch (error) {
      failed++;
      if (wasInterrupted()) {
        console.log(`Benchmark ${bench.id} interrupted after ${seconds(Date.now() - benchStarted)}\n`);
        break;
      }
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      console.log(
        `Benchmark ${bench.id} (${bench.title}) FAILED after ${seconds(Date.now() - benchStarted)}:\n${text}\n`,
      );
      summary.push({
        benchmark: String(bench.id),
        driver: bench.driver,
        measure: bench.title,
        ours: "FAILED",
        baseline: "",
        ratio: "",
        note: "",
      });
    }
  }
  await runAllCleanups();
  clearTimeout(watchdog);

  console.log("## Summary (markdown, for the README)\n");
  console.log(
    markdownTable(
      ["machine", ""],
      host.map((m) => [m.label, m.value]),
    ),
  );
  console.log("");
  console.log(
    markdownTable(
      ["benchmark", "driven by", "measure", "ours", "baseline", "ratio", "note"],
      summary.map((r) => [r.benchmark, r.driver, r.measure, r.ours, r.baseline, r.ratio, r.note]),
    ),
  );
  console.log("");
  for (const check of checks) {
    console.log(`${check.pass ? "PASS" : "FAIL"}: ${check.claim}${check.detail ? ` (${check.detail})` : ""}`);
  }
  const failedChecks = checks.filter((c) => !c.pass).length;
  console.log(`\nended ${new Date().toISOString()}, load average ${loadAverage()} (1, 5, 15 min)`);
  console.log(
    `${only.length - failed} of ${only.length} benchmark(s) ran, ${failedChecks} check(s) failed, ` +
      `in ${seconds(Date.now() - started)}${options.quick ? " (--quick)" : ""}`,
  );
  return failed > 0 || failedChecks > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (error: unknown) => {
    console.error(error);
    await runAllCleanups();
    process.exitCode = 1;
  },
);
