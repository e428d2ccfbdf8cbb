/**
 * Benchmark 2: a rolling quota change over 3 supervised members (systemd-unit) through EtcdQuota, against the sum of
 * three bare restart-to-healthy times of the same members, with the test writer running during both.
 */
import { setTimeout as sleep } from "timers/promises";
import { SupervisedCluster } from "../lab/supervisor";
import { Writer, WriterReport } from "../test/support/writer";
import { quotaStack, startHost } from "./engine";
import {
  answersWithLeader,
  BenchOptions,
  BenchResult,
  gauge,
  log,
  MiB,
  millis,
  onCleanup,
  ratio,
  runShell,
  seconds,
  sum,
  table,
  timed,
  waitUntil,
} from "./support";

const FORMAT = "systemd-unit";
const OLD_QUOTA = 64 * MiB;
const NEW_QUOTA = 96 * MiB;
const RESTART_COMMAND_TIMEOUT_MS = 90_000;
const HEALTHY_TIMEOUT_MS = 60_000;
/** The writer stops by itself after this long even if a benchmark step hangs. */
const WRITER_MAX_MS = 240_000;

interface BareRestart {
  readonly member: string;
  readonly wasLeader: boolean;
  readonly ms: number;
}

/**
 * `systemctl restart etcd` on one member (here: its supervisor's restart command), then wait until it is healthy:
 * a new process (process_start_time_seconds moved) that answers Status with a leader. Polled every 100 ms.
 */
async function bareRestart(cluster: SupervisedCluster, name: string, leader: string | undefined): Promise<BareRestart> {
  const url = cluster.lab.member(name).clientUrl;
  const startedBefore = await gauge(url, "process_start_time_seconds");
  if (startedBefore === undefined) throw new Error(`${name} does not answer /metrics before its restart`);
  const { ms } = await timed(async () => {
    await runShell(cluster.restartCommand(name), RESTART_COMMAND_TIMEOUT_MS);
    await waitUntil(
      async () =>
        ((await gauge(url, "process_start_time_seconds")) ?? 0) > startedBefore && (await answersWithLeader(url)),
      { what: `${name} to be back with a leader`, timeoutMs: HEALTHY_TIMEOUT_MS },
    );
  });
  return { member: name, wasLeader: name === leader, ms };
}

function writerCells(report: WriterReport): string[] {
  return [String(report.acknowledged), String(report.failed), String(report.lost.length), millis(report.longestGapMs)];
}

export async function rollingQuotaBench(options: BenchOptions): Promise<BenchResult> {
  log(`benchmark 2: starting a supervised 3-member cluster (${FORMAT}), quota ${OLD_QUOTA / MiB} MiB`);
  const cluster = await SupervisedCluster.start({ format: FORMAT, members: 3, quotaBytes: OLD_QUOTA });
  const stopCluster = onCleanup("benchmark 2 cluster", () => cluster.stop());
  const writers: Writer[] = [];
  const stopWriters = onCleanup("benchmark 2 writers", async () => {
    for (const writer of writers.splice(0)) await writer.stop().catch(() => undefined);
  });
  let stopHost: (() => Promise<void>) | undefined;
  try {
    const bench = await startHost({ verbose: options.verbose });
    stopHost = bench.stop;
    const names = cluster.lab.members.map((m) => m.name);

    // Baseline: each member restarted bare, one at a time, waiting until it is healthy before the next.
    const leaderBefore = await cluster.leader();
    log(`benchmark 2: bare restarts of ${names.join(", ")} (leader ${leaderBefore ?? "none"}), writer running`);
    const bareWriter = Writer.start(cluster.endpoints, { prefix: "bench/bare/", maxMs: WRITER_MAX_MS });
    writers.push(bareWriter);
    const restarts: BareRestart[] = [];
    for (const name of names) restarts.push(await bareRestart(cluster, name, leaderBefore));
    writers.splice(writers.indexOf(bareWriter), 1);
    const bareReport = await bareWriter.stop();
    const bareMs = sum(restarts.map((r) => r.ms));
    await sleep(1_000);

    // Ours: EtcdQuota raising the quota across the same members.
    const stack = quotaStack(bench.host);
    const inputs = {
      quota: NEW_QUOTA,
      members: cluster.quotaMembers(),
      restartTimeout: "60s",
    };
    const preview = await timed(() => stack.preview("quota", inputs));
    if (preview.value.op !== "create") throw new Error(`EtcdQuota preview: ${JSON.stringify(preview.value.failures)}`);
    const leaderOurs = await cluster.leader();
    log(`benchmark 2: EtcdQuota ${OLD_QUOTA / MiB} MiB -> ${NEW_QUOTA / MiB} MiB (leader ${leaderOurs ?? "none"})`);
    const oursWriter = Writer.start(cluster.endpoints, { prefix: "bench/ours/", maxMs: WRITER_MAX_MS });
    writers.push(oursWriter);
    const mark = bench.host.logs.length;
    const up = await timed(() => stack.up("quota", inputs));
    writers.splice(writers.indexOf(oursWriter), 1);
    const oursReport = await oursWriter.stop();
    bench.echo(mark);
    if (up.value.op !== "create") throw new Error(`EtcdQuota up: ${JSON.stringify(up.value.failures)}`);
    const perMember = bench
      .progressSince(mark)
      .map((line) => /^EtcdQuota: (m\d+): back with quota .* in effect after (.+)$/.exec(line))
      .flatMap((match) => (match ? [`${match[1]} ${match[2]}`] : []));
    const live = await Promise.all(
      cluster.lab.members.map((m) => gauge(m.clientUrl, "etcd_server_quota_backend_bytes")),
    );
    const quotaPass = live.every((value) => value === NEW_QUOTA);
    const lostPass = bareReport.lost.length === 0 && oursReport.lost.length === 0;

    const report = [
      `Benchmark 2: rolling quota change on 3 supervised members (${FORMAT}), writer running (one put every 20 ms)`,
      "",
      table(
        ["bare restart-to-healthy", "time"],
        [
          ...restarts.map((r) => [`${r.member}${r.wasLeader ? " (leader)" : ""}`, seconds(r.ms)]),
          ["sum", seconds(bareMs)],
        ],
      ),
      "",
      table(
        ["EtcdQuota (engine protocol)", "time"],
        [
          ["preview (Check; first call also Configure)", seconds(preview.ms)],
          [`up: ${OLD_QUOTA / MiB} MiB -> ${NEW_QUOTA / MiB} MiB, followers first, leader last`, seconds(up.ms)],
          ["per member (provider's own count)", perMember.join(", ") || "(no progress lines)"],
        ],
      ),
      "",
      table(
        ["", "time", "acknowledged", "failed", "lost", "longest gap"],
        [
          ["3 bare restarts", seconds(bareMs), ...writerCells(bareReport)],
          ["EtcdQuota rolling change", seconds(up.ms), ...writerCells(oursReport)],
          [
            "ratio (ours / bare)",
            ratio(up.ms, bareMs),
            "",
            "",
            "",
            ratio(oursReport.longestGapMs, bareReport.longestGapMs),
          ],
        ],
      ),
      "",
      `${quotaPass ? "PASS" : "FAIL"}: every member reports etcd_server_quota_backend_bytes = ${NEW_QUOTA} afterwards (${live.join(", ")})`,
      `${lostPass ? "PASS" : "FAIL"}: no acknowledged write lost (bare ${bareReport.lost.length}, ours ${oursReport.lost.length})`,
    ].join("\n");

    return {
      report,
      summary: [
        {
          benchmark: "2 rolling quota",
          measure: "3 members, writer running",
          ours: seconds(up.ms),
          baseline: `${seconds(bareMs)} (3 bare restarts)`,
          ratio: ratio(up.ms, bareMs),
          note: `quota ${NEW_QUOTA / MiB} MiB verified live: ${quotaPass ? "PASS" : "FAIL"}`,
        },
        {
          benchmark: "2 rolling quota",
          measure: "writer: longest gap / failed / lost",
          ours: `${millis(oursReport.longestGapMs)} / ${oursReport.failed} / ${oursReport.lost.length}`,
          baseline: `${millis(bareReport.longestGapMs)} / ${bareReport.failed} / ${bareReport.lost.length}`,
          ratio: ratio(oursReport.longestGapMs, bareReport.longestGapMs),
          note: "ratio of the longest gaps",
        },
      ],
      checks: [
        { claim: "benchmark 2: new quota live on every member", pass: quotaPass, detail: live.join(", ") },
        { claim: "benchmark 2: no acknowledged write lost", pass: lostPass, detail: "" },
      ],
    };
  } finally {
    await stopWriters();
    await stopHost?.();
    await stopCluster();
  }
}
