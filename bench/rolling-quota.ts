/**
 * Benchmark 2: a rolling quota change over 3 supervised members (systemd-unit): `pulumi up` of EtcdQuota through the
 * real CLI, against the operator's best manual runbook (edit each file, restart the followers by name, move the
 * leadership to a follower with etcdctl, restart the old leader, each restart waited on until the member is healthy).
 * Several samples per side, the side going first alternating per round; two writers run during every sample: a fresh
 * client per put, and one long-lived client over every endpoint as an application holds it.
 */
import * as fs from "fs";
import { listConfig, PulumiProject } from "../lab/pulumi-cli";
import { parseDuration } from "../provider/values/duration";
import { SupervisedCluster } from "../lab/supervisor";
import { setTimeout as sleep } from "timers/promises";
import type { WriterReport } from "../test/support/writer";
import { Writer } from "../test/support/writer";
import type { BenchOptions, BenchResult, SummaryRow } from "./support";
import {
  answersWithLeader,
  etcdctl,
  gauge,
  log,
  median,
  MiB,
  millis,
  onCleanup,
  ratio,
  runShell,
  seconds,
  spread,
  sum,
  table,
  timed,
  waitUntil,
} from "./support";

const FORMAT = "systemd-unit";
const FIRST_QUOTA = 64 * MiB;
/** Every sample, on either side, raises the quota by this much, so both sides do the same change. */
const QUOTA_STEP = 16 * MiB;
const RESTART_COMMAND_TIMEOUT_MS = 90_000;
const HEALTHY_TIMEOUT_MS = 60_000;
/** The writers stop by themselves after this long even if a benchmark step hangs (the CLI run is bounded at 5 min). */
const WRITER_MAX_MS = 360_000;
const STACK = "rolling";

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdQuota, QuotaMemberArgs } from "pulumi-etcd-quota";

const config = new pulumi.Config();
new EtcdQuota("quota", {
  quota: config.require("quota"),
  members: config.requireObject<QuotaMemberArgs[]>("members"),
  restartTimeout: "60s",
});
`;

type Side = "runbook" | "pulumi up";

/**
 * One member's restart, in restart order. Runbook: the restart command until the new process answers with a leader.
 * Ours: the provider's own count, from its restart until the new quota is live and the cluster healthy.
 */
interface Restart {
  readonly name: string;
  readonly wasLeader: boolean;
  readonly ms: number;
}

interface Sample {
  readonly side: Side;
  readonly to: number;
  readonly ms: number;
  readonly restarts: readonly Restart[];
  readonly fresh: WriterReport;
  readonly held: WriterReport;
  readonly live: readonly (number | undefined)[];
}

/**
 * `systemctl restart etcd` on one member (here: its supervisor's restart command), then wait until it is healthy:
 * a new process (process_start_time_seconds moved) that answers Status with a leader. Polled every 100 ms.
 */
async function restartToHealthy(cluster: SupervisedCluster, name: string): Promise<number> {
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
  return ms;
}

/** The operator's `sed -i`: the one `--quota-backend-bytes=` flag of the unit gets the new value. */
function editUnit(file: string, to: number): void {
  const text = fs.readFileSync(file, "utf8");
  const flags = text.match(/--quota-backend-bytes=\d+/g) ?? [];
  if (flags.length !== 1) throw new Error(`${file}: expected one --quota-backend-bytes flag, found ${flags.length}`);
  fs.writeFileSync(file, text.replace(/--quota-backend-bytes=\d+/, `--quota-backend-bytes=${to}`));
}

/** Member name -> hex ID, from `etcdctl member list` (ID, status, name, peer URLs, client URLs, is learner). */
async function memberIds(endpoints: readonly string[]): Promise<Map<string, string>> {
  const { stdout } = await etcdctl(endpoints, ["member", "list"], 30_000);
  return new Map(
    stdout
      .trim()
      .split("\n")
      .map((line) => line.split(", "))
      .map(([id, , name]) => [name, id] as const),
  );
}

/**
 * The runbook as an operator does it best, in EtcdQuota's order: followers by name, then `etcdctl move-leader` to
 * the first of them before the old leader; each member's unit edited just before its restart.
 */
async function runbook(cluster: SupervisedCluster, to: number): Promise<{ ms: number; restarts: Restart[] }> {
  const restarts: Restart[] = [];
  const { ms } = await timed(async () => {
    const order = await cluster.rollingOrder();
    const leader = await cluster.leader();
    if (leader === undefined) throw new Error("no leader before the runbook");
    for (const name of order) {
      if (name === leader) {
        const ids = await memberIds(cluster.endpoints);
        await etcdctl(cluster.endpoints, ["move-leader", ids.get(order[0])!], 30_000);
      }
      editUnit(cluster.configFile(name), to);
      log(`benchmark 2:   runbook: ${name} edited, restarting`);
      restarts.push({ name, wasLeader: name === leader, ms: await restartToHealthy(cluster, name) });
    }
  });
  return { ms, restarts };
}

/** `pulumi up` with the stack's quota set to `to`: refresh (`refresh: always`), preview, then the rolling update. */
async function pulumiUp(
  project: PulumiProject,
  to: number,
  members: number,
): Promise<{ ms: number; restarts: Restart[] }> {
  await project.setConfig(STACK, { quota: String(to) });
  const up = await timed(() => project.run(["up", "--yes", "--stack", STACK]));
  const out = up.value.stdout;
  const leader = /EtcdQuota[^:\n]*: move leader: (m\d+) ->/.exec(out)?.[1];
  // The CLI can print a progress line more than once; each member's last count is the one kept.
  const took = new Map<string, number>();
  for (const match of out.matchAll(/EtcdQuota[^:\n]*: (m\d+): back with quota .* in effect after (\S+)/g)) {
    took.set(match[1], parseDuration(match[2], "progress line"));
  }
  // A count missing here would show as a restart that took no time: a wrong figure, not a missing one.
  if (took.size !== members) {
    throw new Error(`pulumi up printed a "back with quota" line for ${took.size} of ${members} members:\n${out}`);
  }
  return { ms: up.ms, restarts: [...took].map(([name, ms]) => ({ name, wasLeader: name === leader, ms })) };
}

function writerCells(report: WriterReport): string[] {
  return [`${report.acknowledged}/${report.failed}/${report.lost.length}`, millis(report.longestGapMs)];
}

export async function rollingQuotaBench(options: BenchOptions): Promise<BenchResult> {
  log(`benchmark 2: a supervised 3-member cluster (${FORMAT}), quota ${FIRST_QUOTA / MiB} MiB, and a Pulumi project`);
  const cluster = await SupervisedCluster.start({ format: FORMAT, members: 3, quotaBytes: FIRST_QUOTA });
  const stopCluster = onCleanup("benchmark 2 cluster", () => cluster.stop());
  const writers: Writer[] = [];
  const stopWriters = onCleanup("benchmark 2 writers", async () => {
    for (const writer of writers.splice(0)) await writer.stop().catch(() => undefined);
  });
  let project: PulumiProject | undefined;
  const removeProject = onCleanup("benchmark 2 project", async () => project?.remove());
  try {
    project = await PulumiProject.create({ name: "bench-rolling", program: PROGRAM });
    await project.initStack(STACK, {
      ...listConfig("members", cluster.quotaMembers()),
      quota: String(FIRST_QUOTA),
    });
    // Untimed: creates the resource (nothing to restart) and warms the CLI's and npm's caches.
    await project.run(["up", "--yes", "--stack", STACK]);

    const samples: Sample[] = [];
    let quota = FIRST_QUOTA;
    for (let round = 0; round < options.samples; round++) {
      const sides: Side[] = round % 2 === 0 ? ["runbook", "pulumi up"] : ["pulumi up", "runbook"];
      for (const side of sides) {
        const to = quota + QUOTA_STEP;
        await waitUntil(async () => (await Promise.all(cluster.endpoints.map(answersWithLeader))).every(Boolean), {
          what: "every member to answer with a leader before the next sample",
          timeoutMs: HEALTHY_TIMEOUT_MS,
        });
        await sleep(1_000);
        log(`benchmark 2: round ${round + 1}: ${side}, ${quota / MiB} MiB -> ${to / MiB} MiB, two writers running`);
        const prefix = `bench/${samples.length + 1}/`;
        const fresh = Writer.start(cluster.endpoints, { prefix: `${prefix}fresh/`, maxMs: WRITER_MAX_MS });
        const held = Writer.start(cluster.endpoints, {
          prefix: `${prefix}held/`,
          maxMs: WRITER_MAX_MS,
          longLivedClient: true,
        });
        writers.push(fresh, held);
        const change =
          side === "runbook" ? await runbook(cluster, to) : await pulumiUp(project, to, cluster.lab.members.length);
        writers.splice(0);
        log(`benchmark 2:   ${side} done in ${seconds(change.ms)}; stopping the writers`);
        const [freshReport, heldReport] = await Promise.all([fresh.stop(), held.stop()]);
        const live = await Promise.all(
          cluster.lab.members.map((m) => gauge(m.clientUrl, "etcd_server_quota_backend_bytes")),
        );
        samples.push({ side, to, ...change, fresh: freshReport, held: heldReport, live });
        quota = to;
      }
    }
    return summarize(samples, options.samples);
  } finally {
    await stopWriters();
    await removeProject();
    await stopCluster();
  }
}

function summarize(samples: readonly Sample[], perSide: number): BenchResult {
  const ours = samples.filter((s) => s.side === "pulumi up");
  const base = samples.filter((s) => s.side === "runbook");
  type Pick = (s: Sample) => number;
  const of = (list: readonly Sample[], pick: Pick, format: (value: number) => string) => spread(list.map(pick), format);
  const medianRatio = (pick: Pick) => ratio(median(ours.map(pick)), median(base.map(pick)));
  const time: Pick = (s) => s.ms;
  const restarts: Pick = (s) => sum(s.restarts.map((r) => r.ms));
  const lost = (list: readonly Sample[]) => sum(list.map((s) => s.fresh.lost.length + s.held.lost.length));
  const quotaPass = samples.every((s) => s.live.every((value) => value === s.to));
  const lostPass = lost(samples) === 0;
  const label = `median (min–max) of ${perSide}`;
  const sideRow = (name: string, list: readonly Sample[]) => [
    name,
    of(list, time, seconds),
    of(list, restarts, seconds),
    of(list, (s) => s.fresh.failed, String),
    of(list, (s) => s.fresh.longestGapMs, millis),
    of(list, (s) => s.held.failed, String),
    of(list, (s) => s.held.longestGapMs, millis),
    String(lost(list)),
  ];

  const report = [
    `Benchmark 2: rolling quota change on 3 supervised members (${FORMAT}), ${perSide} sample(s) per side, ` +
      `the side going first alternating per round; each sample raises the quota by ${QUOTA_STEP / MiB} MiB`,
    "writers (one put every 20 ms over all 3 endpoints): fresh = a new client per put, held = one long-lived client;",
    "restarts = the members' restart times added up (runbook: until the member answers with a leader; ours: the",
    "provider's count, until the new quota is live and the cluster healthy)",
    "",
    table(
      [
        "#",
        "side",
        "quota",
        "time",
        "restarts",
        "per member",
        "fresh ack/fail/lost",
        "gap",
        "held ack/fail/lost",
        "gap",
      ],
      samples.map((s, i) => [
        String(i + 1),
        s.side,
        `${(s.to - QUOTA_STEP) / MiB} -> ${s.to / MiB} MiB`,
        seconds(time(s)),
        seconds(restarts(s)),
        s.restarts.map((r) => `${r.name}${r.wasLeader ? " (leader)" : ""} ${seconds(r.ms)}`).join(", "),
        ...writerCells(s.fresh),
        ...writerCells(s.held),
      ]),
    ),
    "",
    table(
      [label, "time", "restarts", "fresh failed", "fresh longest gap", "held failed", "held longest gap", "lost"],
      [
        sideRow("runbook: edit, restart followers, move-leader, restart old leader", base),
        sideRow("pulumi up of EtcdQuota (refresh, preview, update)", ours),
        [
          "ratio of medians (ours / runbook)",
          medianRatio(time),
          medianRatio(restarts),
          "",
          medianRatio((s) => s.fresh.longestGapMs),
          "",
          medianRatio((s) => s.held.longestGapMs),
          "",
        ],
      ],
    ),
    "",
    `${quotaPass ? "PASS" : "FAIL"}: after every sample every member reports etcd_server_quota_backend_bytes = its ` +
      `new quota (MiB: ${samples.map((s) => s.live.map((v) => (v === undefined ? "?" : v / MiB)).join("/")).join(", ")})`,
    `${lostPass ? "PASS" : "FAIL"}: no acknowledged write lost (runbook ${lost(base)}, ours ${lost(ours)}, both writers)`,
  ].join("\n");

  const writerRow = (name: string, pick: (s: Sample) => WriterReport): SummaryRow => {
    const cell = (list: readonly Sample[]) =>
      `${of(list, (s) => pick(s).longestGapMs, millis)} / ${of(list, (s) => pick(s).failed, String)}`;
    return {
      benchmark: "2 rolling quota",
      driver: "pulumi CLI",
      measure: `writer, ${name}: longest gap / failed puts (${label})`,
      ours: cell(ours),
      baseline: cell(base),
      ratio: medianRatio((s) => pick(s).longestGapMs),
      note:
        `ratio of the median gaps; lost: ours ${sum(ours.map((s) => pick(s).lost.length))}, ` +
        `runbook ${sum(base.map((s) => pick(s).lost.length))}`,
    };
  };
  return {
    report,
    summary: [
      {
        benchmark: "2 rolling quota",
        driver: "pulumi CLI",
        measure: `3 members, two writers running (${label})`,
        ours: `${of(ours, time, seconds)} (pulumi up)`,
        baseline: `${of(base, time, seconds)} (runbook with move-leader)`,
        ratio: medianRatio(time),
        note:
          `restarts alone: ours ${of(ours, restarts, seconds)}, runbook ${of(base, restarts, seconds)} ` +
          `(${medianRatio(restarts)}); new quota live after every sample: ${quotaPass ? "PASS" : "FAIL"}`,
      },
      writerRow("a fresh client per put", (s) => s.fresh),
      writerRow("one long-lived client", (s) => s.held),
    ],
    checks: [
      {
        claim: "benchmark 2: new quota live on every member after every sample",
        pass: quotaPass,
        detail: `${samples.length} samples`,
      },
      { claim: "benchmark 2: no acknowledged write lost", pass: lostPass, detail: "both writers, both sides" },
    ],
  };
}
