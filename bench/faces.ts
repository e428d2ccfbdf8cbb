/**
 * Benchmark 7: what each face adds to `pulumi preview --refresh`, through the real CLI (lab/pulumi-cli.ts), on a
 * supervised 3-member cluster. Four stacks, one run: a TypeScript program with no resources and one with both
 * dynamic classes (benchmark 5's program), a Pulumi YAML program with no resources and one with both resources over
 * the provider plugin (installed from its tarball as a user installs it). Each face's added time (both resources
 * minus no resources, same language) is set against its floor: one `etcdctl endpoint status` plus one /metrics
 * scrape per member.
 */
import { listConfig, pluginTarball, PulumiProject } from "../lab/pulumi-cli";
import { SupervisedCluster } from "../lab/supervisor";
import { PROGRAM, readFloor } from "./cli";
import type { BenchOptions, BenchResult } from "./support";
import { log, median, mib, MiB, millis, onCleanup, ratio, spread, table, timed } from "./support";

const QUOTA = 64 * MiB;

/** A TypeScript program with no resources: what the CLI, the Node language host and the program cost alone. */
const EMPTY_PROGRAM = `import "@pulumi/pulumi";\n`;

/** Both resources over the plugin, as the README's YAML program declares them. */
function yamlProgram(endpoints: readonly string[], members: readonly object[]): string {
  return `resources:
  quota:
    type: etcdquota:index:EtcdQuota
    properties:
      quota: ${JSON.stringify(String(QUOTA))}
      members: ${JSON.stringify(members)}
  space:
    type: etcdquota:index:EtcdCompaction
    properties:
      endpoints: ${JSON.stringify(endpoints)}
`;
}

type Side = "tsEmpty" | "tsBoth" | "yamlEmpty" | "yamlBoth";

export async function facesBench(options: BenchOptions): Promise<BenchResult> {
  const runs = Math.max(3, Math.round(options.runs / 3));
  log(`benchmark 7: a supervised 3-member cluster (quota ${mib(QUOTA)}) and four Pulumi projects`);
  const cluster = await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes: QUOTA });
  const stopCluster = onCleanup("benchmark 7 cluster", () => cluster.stop());
  const projects: PulumiProject[] = [];
  const removeProjects = onCleanup("benchmark 7 projects", async () => projects.forEach((p) => p.remove()));
  try {
    const endpoints = cluster.endpoints;
    const members = cluster.quotaMembers();
    const stacks: Record<Side, PulumiProject> = {
      tsEmpty: await PulumiProject.create({ name: "bench-ts-empty", program: EMPTY_PROGRAM }),
      tsBoth: await PulumiProject.create({ name: "bench-ts-both", program: PROGRAM }),
      yamlEmpty: PulumiProject.createYaml({ name: "bench-yaml-empty", program: "" }),
      yamlBoth: PulumiProject.createYaml({ name: "bench-yaml-both", program: yamlProgram(endpoints, members) }),
    };
    projects.push(...Object.values(stacks));
    log("benchmark 7: the plugin tarball, then one untimed pulumi up of each stack");
    await stacks.yamlBoth.installPlugin(await pluginTarball());
    for (const [side, project] of Object.entries(stacks) as [Side, PulumiProject][]) {
      await project.initStack(
        "steady",
        side === "tsBoth" ? { ...listConfig("members", members), quota: String(QUOTA) } : {},
      );
      await project.run(["up", "--yes", "--stack", "steady"]);
    }
    // The faces are what this measures: the YAML stack's resources must be the plugin's, the TypeScript one's dynamic.
    for (const [side, token] of [
      ["yamlBoth", "etcdquota:index:EtcdCompaction"],
      ["tsBoth", "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction"],
    ] as const) {
      const type = (await stacks[side].resource("steady", "EtcdCompaction"))?.type;
      if (type !== token) throw new Error(`${side}: the stack holds ${type ?? "no EtcdCompaction"}, not ${token}`);
    }

    const times: Record<Side | "floor", number[]> = { tsEmpty: [], tsBoth: [], yamlEmpty: [], yamlBoth: [], floor: [] };
    const drift = new Set<Side>();
    const metricsUrls = cluster.lab.members.map((m) => m.metricsUrl);
    log(`benchmark 7: ${runs} runs of each stack's preview --refresh and of the floor, interleaved`);
    for (let i = 0; i < runs; i++) {
      for (const [side, project] of Object.entries(stacks) as [Side, PulumiProject][]) {
        const preview = await timed(() =>
          project.run(["preview", "--refresh", "--expect-no-changes", "--stack", "steady"], { check: false }),
        );
        if (preview.value.code !== 0) drift.add(side);
        times[side].push(preview.ms);
      }
      times.floor.push((await timed(() => readFloor(endpoints, metricsUrls))).ms);
    }

    const med = (side: Side | "floor") => median(times[side]);
    const faces = [
      { face: "dynamic classes (TypeScript)", empty: "tsEmpty", both: "tsBoth" },
      { face: "provider plugin (YAML)", empty: "yamlEmpty", both: "yamlBoth" },
    ] as const;
    const added = faces.map((f) => ({ ...f, ms: med(f.both) - med(f.empty) }));
    // A negative difference means the CLI's own time varied more than the face's: nothing was measured. No goal
    // against the floor: a face's time includes loading it (the package in the program, the plugin or the provider
    // host started), which benchmark 5's share leaves out by comparing with a no-op dynamic resource.
    const measured = added.map((a) => a.ms >= 0);
    const label: Record<Side, string> = {
      tsEmpty: "TypeScript, no resources",
      tsBoth: "TypeScript, both dynamic classes",
      yamlEmpty: "YAML, no resources",
      yamlBoth: "YAML, both resources over the plugin",
    };
    const report = [
      `Benchmark 7: what each face adds to pulumi preview --refresh, 3 members, median of ${runs}`,
      "",
      table(
        ["pulumi preview --refresh --expect-no-changes", "median (min–max)"],
        [
          ...(Object.keys(label) as Side[]).map((side) => [label[side], spread(times[side], millis)]),
          ["floor: etcdctl endpoint status + one /metrics scrape per member", spread(times.floor, millis)],
        ],
      ),
      "",
      table(
        ["face", "added (both minus none)", "floor", "ratio"],
        added.map((a) => [a.face, millis(a.ms), millis(med("floor")), ratio(a.ms, med("floor"))]),
      ),
      "",
      `${drift.size === 0 ? "PASS" : "FAIL"}: --expect-no-changes held on every stack` +
        (drift.size === 0 ? "" : ` (not on ${[...drift].join(", ")})`),
      ...added.map(
        (a, i) => `${measured[i] ? "PASS" : "FAIL"}: the time the ${a.face} add was measured (not below zero)`,
      ),
    ].join("\n");
    return {
      report,
      summary: added.map((a) => ({
        benchmark: "7 faces",
        driver: "pulumi CLI" as const,
        measure: `pulumi preview --refresh, both resources: ${a.face} (median of ${runs})`,
        ours: `${millis(med(a.both))}; added ${millis(a.ms)}`,
        baseline: `${millis(med(a.empty))} (no resources); floor ${millis(med("floor"))}`,
        ratio: `${ratio(med(a.both), med(a.empty))}; added / floor ${ratio(a.ms, med("floor"))}`,
        note: "same run, same cluster",
      })),
      checks: [
        {
          claim: "benchmark 7: no drift on any of the four stacks",
          pass: drift.size === 0,
          detail: [...drift].join(", "),
        },
        ...added.map((a, i) => ({
          claim: `benchmark 7: the time the ${a.face} add to preview --refresh was measured (not below zero)`,
          pass: measured[i],
          detail: `${millis(a.ms)} vs ${millis(med("floor"))}: ${ratio(a.ms, med("floor"))}`,
        })),
      ],
    };
  } finally {
    await removeProjects();
    await stopCluster();
  }
}
