/**
 * Benchmark 5: what a user waits for under the real `pulumi` CLI (lab/pulumi-cli.ts: a project folder with the
 * package from its tarball, a file:// backend), on a supervised 3-member cluster:
 * - at NOSPACE, on a stack whose EtcdCompaction exists: a plain `pulumi up` and the outage path (`pulumi up --yes
 *   --skip-preview --target <urn>`), against the best etcdctl runbook (benchmark 6's) on the same cluster refilled
 *   the same way before each side;
 * - `pulumi preview --refresh` of a stack holding both resources, against the same preview of a stack holding one
 *   no-op dynamic resource (the CLI's and the Node host's own share) and `etcdctl endpoint status`; the difference
 *   (the provider's share) against its floor, one `etcdctl endpoint status` plus one /metrics scrape per member;
 * - the cost of `pulumi up` running its preview first (Check and Read twice): `up` against `up --skip-preview` on
 *   the same unchanged stack.
 */
import { fill } from "../lab/fill";
import { listConfig, PulumiProject } from "../lab/pulumi-cli";
import { SupervisedCluster } from "../lab/supervisor";
import { bestRunbook } from "./break-glass";
import { sizesOf } from "./maintenance";
import type { BenchOptions, BenchResult } from "./support";
import { etcdctl, log, median, mib, MiB, millis, onCleanup, ratio, seconds, sum, table, timed } from "./support";

/** Both resources from stack config (`members`, and `quota` for EtcdQuota); benchmark 7 measures it too. */
export const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction, EtcdQuota, QuotaMemberArgs } from "pulumi-etcd-quota";

const config = new pulumi.Config();
const members = config.requireObject<QuotaMemberArgs[]>("members");
const quota = config.get("quota");
if (quota) new EtcdQuota("quota", { quota, members });
new EtcdCompaction("space", { endpoints: members.map((m) => m.endpoint) });
`;

/** One dynamic resource whose provider does nothing: what any dynamic provider costs under the CLI. */
const NOOP_PROGRAM = `
import * as pulumi from "@pulumi/pulumi";

const provider: pulumi.dynamic.ResourceProvider = {
  async create() { return { id: "noop", outs: {} }; },
  async read(id, props) { return { id, props }; },
};
class Noop extends pulumi.dynamic.Resource {
  constructor(name: string) { super(provider, name, {}, undefined); }
}
new Noop("noop");
`;

/** The goal for the provider's share of `preview --refresh`, in multiples of what it must read. */
export const REFRESH_SHARE_GOAL = 3;

type MaintenanceSide = "runbook" | "up" | "outage";

/**
 * The least a refresh of this cluster must read: one `etcdctl endpoint status` of every member (a process start, as
 * the provider host's share includes its own) and one /metrics page per member, for the quota in effect.
 */
export async function readFloor(endpoints: readonly string[], metricsUrls: readonly string[]): Promise<void> {
  await etcdctl(endpoints, ["endpoint", "status"], 30_000);
  await Promise.all(metricsUrls.map(async (url) => (await fetch(`${url}/metrics`)).text()));
}

export async function cliBench(options: BenchOptions): Promise<BenchResult> {
  const quotaBytes = (options.quick ? 128 : 512) * MiB;
  const rounds = options.rounds;
  const runs = Math.max(3, Math.round(options.runs / 3));
  log(`benchmark 5: a supervised 3-member cluster (quota ${mib(quotaBytes)}) and two Pulumi projects`);
  const cluster = await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes });
  const stopCluster = onCleanup("benchmark 5 cluster", () => cluster.stop());
  const projects: PulumiProject[] = [];
  const removeProjects = onCleanup("benchmark 5 projects", async () => projects.forEach((p) => p.remove()));
  try {
    const endpoints = cluster.endpoints;
    const project = await PulumiProject.create({ name: "bench-cli", program: PROGRAM });
    projects.push(project);
    const noop = await PulumiProject.create({ name: "bench-noop", program: NOOP_PROGRAM });
    projects.push(noop);
    const pulumi = (target: PulumiProject, args: string[]) => timed(() => target.run(args));

    // Maintenance at NOSPACE, three sides per round, each on the cluster refilled to NOSPACE: the best etcdctl
    // runbook (with move-leader), a plain `pulumi up` and the outage path (`up --yes --skip-preview --target`), both
    // on a stack whose EtcdCompaction already exists, as in an outage (the refresh finds NOSPACE, the update runs).
    await project.initStack("outage", listConfig("members", cluster.quotaMembers()));
    await project.run(["up", "--yes", "--stack", "outage"]);
    const urn = (await project.resource("outage", "EtcdCompaction"))?.urn;
    if (!urn) throw new Error("the outage stack holds no EtcdCompaction");
    const sides: readonly { name: MaintenanceSide; run: () => Promise<number> }[] = [
      { name: "runbook", run: async () => (await bestRunbook(endpoints)).ms },
      { name: "up", run: async () => (await pulumi(project, ["up", "--yes", "--stack", "outage"])).ms },
      {
        name: "outage",
        run: async () =>
          (await pulumi(project, ["up", "--yes", "--skip-preview", "--target", urn, "--stack", "outage"])).ms,
      },
    ];
    const maintenance: Record<MaintenanceSide, { ms: number; after: number }[]> = { runbook: [], up: [], outage: [] };
    for (let r = 0; r < rounds; r++) {
      // Rounds rotate the order, so no side always runs on the freshest fill.
      for (const side of [...sides.slice(r % 3), ...sides.slice(0, r % 3)]) {
        log(`benchmark 5: round ${r + 1}: fill to NOSPACE, then ${side.name}`);
        const filled = await fill(endpoints, { untilNoSpace: true, timeoutMs: 300_000 });
        if (!filled.noSpace) throw new Error("the fill did not reach NOSPACE");
        const ms = await side.run();
        const alarms = (await etcdctl(endpoints, ["alarm", "list"])).stdout.trim();
        if (alarms) throw new Error(`${side.name} left alarms raised: ${alarms}`);
        maintenance[side.name].push({ ms, after: sum((await sizesOf(endpoints)).map((s) => s.dbSize)) });
      }
    }

    log("benchmark 5: a steady stack with both resources (the declared quota is the one running)");
    await project.initStack("steady", { ...listConfig("members", cluster.quotaMembers()), quota: String(quotaBytes) });
    await project.run(["up", "--yes", "--stack", "steady"]);
    await noop.initStack("steady");
    await noop.run(["up", "--yes", "--stack", "steady"]);

    const times = { ours: [] as number[], noop: [] as number[], etcdctl: [] as number[], floor: [] as number[] };
    const metricsUrls = cluster.lab.members.map((m) => m.metricsUrl);
    const doubled = { up: [] as number[], skipPreview: [] as number[] };
    let drift = false;
    log(`benchmark 5: ${runs} runs of each measure, interleaved`);
    for (let i = 0; i < runs; i++) {
      const ours = await timed(() =>
        project.run(["preview", "--refresh", "--expect-no-changes", "--stack", "steady"], { check: false }),
      );
      drift ||= ours.value.code !== 0;
      times.ours.push(ours.ms);
      times.noop.push((await pulumi(noop, ["preview", "--refresh", "--stack", "steady"])).ms);
      times.etcdctl.push((await etcdctl(endpoints, ["endpoint", "status"], 30_000)).ms);
      times.floor.push((await timed(() => readFloor(endpoints, metricsUrls))).ms);
      doubled.up.push((await pulumi(project, ["up", "--yes", "--stack", "steady"])).ms);
      doubled.skipPreview.push((await pulumi(project, ["up", "--yes", "--skip-preview", "--stack", "steady"])).ms);
    }

    const medianOf = (side: MaintenanceSide) => median(maintenance[side].map((m) => m.ms));
    const med = {
      runbook: medianOf("runbook"),
      ours: medianOf("up"),
      outage: medianOf("outage"),
      floor: median(times.floor),
      preview: median(times.ours),
      noop: median(times.noop),
      etcdctl: median(times.etcdctl),
      up: median(doubled.up),
      skipPreview: median(doubled.skipPreview),
    };
    const label = rounds > 1 ? ` (median of ${rounds} rounds)` : "";
    const sizesMatch = maintenance.runbook.every(
      (base, i) => maintenance.up[i].after <= base.after && maintenance.outage[i].after <= base.after,
    );
    const share = med.preview - med.noop;
    // A share below zero means the CLI's own time varied more than the provider's share: nothing was measured.
    const shareWithin = share >= 0 && share <= REFRESH_SHARE_GOAL * med.floor;
    const runbookNote = "etcdctl best runbook: compact --physical, defrag followers, move-leader, defrag, disarm";
    const rows: { measure: string; ours: string; baseline: string; ratio: string; note: string }[] = [
      {
        measure: `pulumi up of EtcdCompaction at NOSPACE${label}`,
        ours: seconds(med.ours),
        baseline: `${seconds(med.runbook)} (${runbookNote})`,
        ratio: ratio(med.ours, med.runbook),
        note: "an existing stack (refresh: always): the CLI's start, refresh, preview pass, program run, update",
      },
      {
        measure: `the outage path: pulumi up --yes --skip-preview --target <urn>, at NOSPACE${label}`,
        ours: seconds(med.outage),
        baseline: `${seconds(med.runbook)} (${runbookNote}) / ${seconds(med.ours)} (plain pulumi up)`,
        ratio: `${ratio(med.outage, med.runbook)} / ${ratio(med.outage, med.ours)}`,
        note: `same stack, same fill; DBs no larger than the runbook's: ${sizesMatch ? "yes" : "NO"}`,
      },
      {
        measure: `pulumi preview --refresh, both resources (median of ${runs})`,
        ours: millis(med.preview),
        baseline: `${millis(med.noop)} (one no-op dynamic resource)`,
        ratio: ratio(med.preview, med.noop),
        note: `vs etcdctl endpoint status ${millis(med.etcdctl)}: ${ratio(med.preview, med.etcdctl)}`,
      },
      {
        measure: "the provider's share of that preview (ours minus the no-op stack)",
        ours: millis(share),
        baseline: `${millis(med.floor)} (floor: one etcdctl endpoint status + one /metrics scrape per member)`,
        ratio: ratio(share, med.floor),
        note: `goal at most ${REFRESH_SHARE_GOAL}x`,
      },
      {
        measure: `pulumi up, nothing to change (median of ${runs})`,
        ours: millis(med.up),
        baseline: `${millis(med.skipPreview)} (up --skip-preview: Check and Read once)`,
        ratio: ratio(med.up, med.skipPreview),
        note: "the preview pass: Check and, under refresh: always, Read a second time",
      },
    ];
    const after = (side: MaintenanceSide) => maintenance[side].map((m) => mib(m.after)).join(", ");
    const report = [
      `Benchmark 5: through the real pulumi CLI, 3 members, quota ${mib(quotaBytes)}`,
      "",
      table(
        ["measure", "ours", "baseline", "ratio"],
        rows.map((r) => [r.measure, r.ours, r.baseline, r.ratio]),
      ),
      "",
      `each side's times per round: runbook ${maintenance.runbook.map((m) => seconds(m.ms)).join(", ")}; ` +
        `pulumi up ${maintenance.up.map((m) => seconds(m.ms)).join(", ")}; ` +
        `outage path ${maintenance.outage.map((m) => seconds(m.ms)).join(", ")}`,
      `DB total after, per round: runbook ${after("runbook")}; pulumi up ${after("up")}; outage path ${after("outage")}`,
      `${drift ? "FAIL" : "PASS"}: preview --refresh --expect-no-changes on the steady stack`,
      `${shareWithin ? "PASS" : "FAIL"}: the provider's share of preview --refresh within ${REFRESH_SHARE_GOAL}x its floor`,
    ].join("\n");
    return {
      report,
      summary: rows.map((r) => ({ benchmark: "5 pulumi CLI", driver: "pulumi CLI" as const, ...r })),
      checks: [
        { claim: "benchmark 5: no drift on the steady stack", pass: !drift, detail: "" },
        {
          claim: "benchmark 5: DBs after pulumi up and the outage path no larger than after the etcdctl runbook",
          pass: sizesMatch,
          detail: maintenance.runbook
            .map((m, i) => `${maintenance.up[i].after} / ${maintenance.outage[i].after} vs ${m.after} B`)
            .join(", "),
        },
        {
          claim: `benchmark 5: the provider's share of preview --refresh within ${REFRESH_SHARE_GOAL}x its floor`,
          pass: shareWithin,
          detail: `${millis(share)} vs ${millis(med.floor)}: ${ratio(share, med.floor)}`,
        },
      ],
    };
  } finally {
    await removeProjects();
    await stopCluster();
  }
}
