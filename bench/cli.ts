/**
 * Benchmark 5: what a user waits for under the real `pulumi` CLI (lab/pulumi-cli.ts: a project folder with the
 * package from its tarball, a file:// backend), on a supervised 3-member cluster:
 * - `pulumi up` of EtcdCompaction on a cluster at NOSPACE, against the etcdctl runbook (`compact --physical`, a
 *   defrag per member, disarm) on the same cluster refilled the same way;
 * - `pulumi preview --refresh` of a stack holding both resources, against the same preview of a stack holding one
 *   no-op dynamic resource (the CLI's and the Node host's own share) and `etcdctl endpoint status`;
 * - the cost of `pulumi up` running its preview first (Check and Read twice): `up` against `up --skip-preview` on
 *   the same unchanged stack.
 */
import { fill } from "../lab/fill";
import { listConfig, PulumiProject } from "../lab/pulumi-cli";
import { SupervisedCluster } from "../lab/supervisor";
import { etcdctlRunbook, sizesOf } from "./maintenance";
import type { BenchOptions, BenchResult } from "./support";
import { etcdctl, log, median, mib, MiB, millis, onCleanup, ratio, seconds, sum, table, timed } from "./support";

const PROGRAM = `
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

    // Maintenance: each side refills the cluster to NOSPACE first; a new stack per round, so `up` creates.
    const maintenance: { runbook: number; ours: number; oursAfter: number; runbookAfter: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      log(`benchmark 5: round ${r + 1}: fill to NOSPACE, etcdctl runbook (compact --physical)`);
      await fill(endpoints, { untilNoSpace: true, timeoutMs: 300_000 });
      const runbook = sum((await etcdctlRunbook(endpoints, "physical")).map((s) => s.ms));
      const runbookAfter = sum((await sizesOf(endpoints)).map((s) => s.dbSize));
      log(`benchmark 5: round ${r + 1}: fill to NOSPACE, pulumi up`);
      await fill(endpoints, { untilNoSpace: true, timeoutMs: 300_000 });
      const stack = `round${r + 1}`;
      await project.initStack(stack, listConfig("members", cluster.quotaMembers()));
      const up = await pulumi(project, ["up", "--yes", "--stack", stack]);
      const oursAfter = sum((await sizesOf(endpoints)).map((s) => s.dbSize));
      maintenance.push({ runbook, ours: up.ms, oursAfter, runbookAfter });
    }

    log("benchmark 5: a steady stack with both resources (the declared quota is the one running)");
    await project.initStack("steady", { ...listConfig("members", cluster.quotaMembers()), quota: String(quotaBytes) });
    await project.run(["up", "--yes", "--stack", "steady"]);
    await noop.initStack("steady");
    await noop.run(["up", "--yes", "--stack", "steady"]);

    const times = { ours: [] as number[], noop: [] as number[], etcdctl: [] as number[] };
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
      doubled.up.push((await pulumi(project, ["up", "--yes", "--stack", "steady"])).ms);
      doubled.skipPreview.push((await pulumi(project, ["up", "--yes", "--skip-preview", "--stack", "steady"])).ms);
    }

    const med = {
      runbook: median(maintenance.map((m) => m.runbook)),
      ours: median(maintenance.map((m) => m.ours)),
      preview: median(times.ours),
      noop: median(times.noop),
      etcdctl: median(times.etcdctl),
      up: median(doubled.up),
      skipPreview: median(doubled.skipPreview),
    };
    const label = rounds > 1 ? ` (median of ${rounds} rounds)` : "";
    const sizesMatch = maintenance.every((m) => m.oursAfter <= m.runbookAfter);
    const report = [
      `Benchmark 5: through the real pulumi CLI, 3 members, quota ${mib(quotaBytes)}`,
      "",
      table(
        ["measure", "ours", "baseline", "ratio"],
        [
          [
            `pulumi up of EtcdCompaction at NOSPACE${label}`,
            seconds(med.ours),
            `${seconds(med.runbook)} (etcdctl: compact --physical, 3 defrags, disarm)`,
            ratio(med.ours, med.runbook),
          ],
          [
            `pulumi preview --refresh, both resources (median of ${runs})`,
            millis(med.preview),
            `${millis(med.noop)} (one no-op dynamic resource)`,
            ratio(med.preview, med.noop),
          ],
          [
            "same",
            millis(med.preview),
            `${millis(med.etcdctl)} (etcdctl endpoint status)`,
            ratio(med.preview, med.etcdctl),
          ],
          [
            `pulumi up, nothing to change (median of ${runs})`,
            millis(med.up),
            `${millis(med.skipPreview)} (up --skip-preview: Check and Read once)`,
            ratio(med.up, med.skipPreview),
          ],
        ],
      ),
      "",
      `DB total after, per round: ours ${maintenance.map((m) => mib(m.oursAfter)).join(", ")}; ` +
        `etcdctl ${maintenance.map((m) => mib(m.runbookAfter)).join(", ")}`,
      `${drift ? "FAIL" : "PASS"}: preview --refresh --expect-no-changes on the steady stack`,
    ].join("\n");
    return {
      report,
      summary: [
        {
          benchmark: "5 pulumi CLI",
          measure: `pulumi up of EtcdCompaction at NOSPACE${label}`,
          ours: seconds(med.ours),
          baseline: `${seconds(med.runbook)} (etcdctl, compact --physical)`,
          ratio: ratio(med.ours, med.runbook),
          note: "the CLI's preview pass, program run and state writes included",
        },
        {
          benchmark: "5 pulumi CLI",
          measure: `pulumi preview --refresh, both resources (median of ${runs})`,
          ours: millis(med.preview),
          baseline: `${millis(med.noop)} (no-op dynamic resource)`,
          ratio: ratio(med.preview, med.noop),
          note: `vs etcdctl endpoint status ${millis(med.etcdctl)}: ${ratio(med.preview, med.etcdctl)}`,
        },
        {
          benchmark: "5 pulumi CLI",
          measure: `pulumi up with nothing to change (median of ${runs})`,
          ours: millis(med.up),
          baseline: `${millis(med.skipPreview)} (--skip-preview)`,
          ratio: ratio(med.up, med.skipPreview),
          note: "the preview pass: Check (EtcdQuota reads every file) and Read run twice",
        },
      ],
      checks: [
        { claim: "benchmark 5: no drift on the steady stack", pass: !drift, detail: "" },
        {
          claim: "benchmark 5: DBs after pulumi up no larger than after the etcdctl runbook",
          pass: sizesMatch,
          detail: maintenance.map((m) => `${m.oursAfter} vs ${m.runbookAfter} B`).join(", "),
        },
      ],
    };
  } finally {
    await removeProjects();
    await stopCluster();
  }
}
