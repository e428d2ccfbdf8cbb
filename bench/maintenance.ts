/**
 * Benchmark 1: maintenance of a 3-member cluster holding hundreds of MiB of history. The runbook typed with etcdctl
 * (status, compact, defrag each member, disarm), as written and with `compact --physical`, against EtcdCompaction
 * through the engine protocol, on the same cluster refilled the same way before each.
 */
import { LabCluster } from "../lab/cluster";
import { Etcd3 } from "etcd3";
import type { FillResult } from "../lab/fill";
import { fill, verifyFill } from "../lab/fill";
import type { BenchHost } from "./engine";
import { compactionStack, startHost } from "./engine";
import type { BenchOptions, BenchResult } from "./support";
import { etcdctl, GiB, log, median, mib, MiB, onCleanup, ratio, seconds, sum, table, timed } from "./support";

const QUOTA_BYTES = GiB;
const FILL_TIMEOUT_MS = 300_000;
/** etcdctl's default 5 s gives up while the server goes on defragmenting (shared notes, "Measured here"). */
const DEFRAG_COMMAND_TIMEOUT = "300s";

interface Sizes {
  readonly dbSize: number;
  readonly dbSizeInUse: number;
}

/** Status `dbSize` and `dbSizeInUse` of each member, asked of that member alone, straight through etcd3. */
export async function sizesOf(endpoints: readonly string[]): Promise<Sizes[]> {
  return Promise.all(
    endpoints.map(async (endpoint) => {
      const client = new Etcd3({ hosts: [endpoint], defaultCallOptions: () => ({ deadline: Date.now() + 10_000 }) });
      try {
        const status = await client.maintenance.status();
        return { dbSize: Number(status.dbSize), dbSizeInUse: Number(status.dbSizeInUse) };
      } finally {
        client.close();
      }
    }),
  );
}

/** Keys the project left in etcd after a run: none is expected (the lock is a lease; its holder's name goes with it). */
async function projectKeys(endpoints: readonly string[]): Promise<string[]> {
  const result = await etcdctl(endpoints, ["get", "--prefix", "--keys-only", "/pulumi-etcd-quota/"]);
  return result.stdout.split("\n").filter((line) => line.trim() !== "");
}

interface RunbookStep {
  readonly step: string;
  readonly ms: number;
}

/** The two ways of typing the runbook: as the runbook writes it, and with the compaction waited for. */
export type Variant = "runbook" | "physical";

const VARIANT_LABEL: Record<Variant, string> = {
  runbook: "etcdctl runbook",
  physical: "etcdctl, compact --physical",
};

/** The runbook, step by step, as an operator types it. Returns each step's wall time (etcdctl start-up included). */
export async function etcdctlRunbook(endpoints: readonly string[], variant: Variant): Promise<RunbookStep[]> {
  const steps: RunbookStep[] = [];
  const status = await etcdctl(endpoints, ["endpoint", "status", "-w", "json"]);
  steps.push({ step: "endpoint status -w json (DB sizes, revision)", ms: status.ms });
  const parsed = JSON.parse(status.stdout) as { Status: { header: { revision: number | string } } }[];
  const revision = Math.max(...parsed.map((entry) => Number(entry.Status.header.revision)));
  if (!Number.isFinite(revision) || revision <= 0) throw new Error(`no revision in ${status.stdout.slice(0, 200)}`);
  const physical = variant === "physical" ? ["--physical", `--command-timeout=${DEFRAG_COMMAND_TIMEOUT}`] : [];
  const compact = await etcdctl(endpoints, ["compact", String(revision), ...physical], 330_000);
  steps.push({ step: `compact ${revision}${variant === "physical" ? " --physical" : ""}`, ms: compact.ms });
  for (const [i, endpoint] of endpoints.entries()) {
    const defrag = await etcdctl([endpoint], [`--command-timeout=${DEFRAG_COMMAND_TIMEOUT}`, "defrag"], 330_000);
    steps.push({ step: `defrag m${i + 1} (--command-timeout=${DEFRAG_COMMAND_TIMEOUT})`, ms: defrag.ms });
  }
  const disarm = await etcdctl(endpoints, ["alarm", "disarm"]);
  steps.push({ step: "alarm disarm", ms: disarm.ms });
  return steps;
}

async function filled(endpoints: readonly string[], targetBytes: number, label: string): Promise<[FillResult, number]> {
  log(`benchmark 1: filling to ${mib(targetBytes)} of history (${label})`);
  const { value, ms } = await timed(() => fill(endpoints, { targetBytes, timeoutMs: FILL_TIMEOUT_MS }));
  log(`benchmark 1: filled in ${seconds(ms)} (${value.keysWritten} puts)`);
  return [value, ms];
}

type SideName = Variant | "ours";

/** One side of one round: the cluster just refilled, then one way of maintaining it. */
interface Side {
  readonly fillMs: number;
  readonly before: Sizes[];
  readonly after: Sizes[];
  readonly lostKeys: number;
  /** The timed work: the runbook's steps, or EtcdCompaction's up. */
  readonly ms: number;
  /** etcdctl sides: each command. */
  readonly steps: RunbookStep[];
  /** EtcdCompaction: the preview `pulumi up` runs first. */
  readonly previewMs: number;
  readonly defrags: number;
  /** EtcdCompaction: its own account of where its time went (compact, each defrag, the leader move). */
  readonly timeline: string[];
  readonly leftKeys: string[];
}

type Round = Record<SideName, Side> & { readonly order: SideName[] };

async function etcdctlSide(endpoints: readonly string[], targetBytes: number, variant: Variant): Promise<Side> {
  const [filledWith, fillMs] = await filled(endpoints, targetBytes, `for the ${VARIANT_LABEL[variant]}`);
  const before = await sizesOf(endpoints);
  log(`benchmark 1: ${VARIANT_LABEL[variant]}`);
  const steps = await etcdctlRunbook(endpoints, variant);
  const after = await sizesOf(endpoints);
  const lostKeys = (await verifyFill(endpoints, filledWith.lastValues)).length;
  const ms = sum(steps.map((s) => s.ms));
  return { fillMs, before, after, lostKeys, ms, steps, previewMs: 0, defrags: 3, timeline: [], leftKeys: [] };
}

async function oursSide(
  bench: BenchHost,
  endpoints: readonly string[],
  targetBytes: number,
  resource: string,
): Promise<Side> {
  const [filledWith, fillMs] = await filled(endpoints, targetBytes, "for EtcdCompaction");
  const before = await sizesOf(endpoints);
  const stack = compactionStack(bench.host);
  const inputs = { endpoints };
  log("benchmark 1: EtcdCompaction preview, then up");
  // `pulumi up` previews first; a stack's first call also serializes the provider (and the host's, Configure).
  const preview = await timed(() => stack.preview(resource, inputs));
  const mark = bench.host.logs.length;
  const up = await timed(() => stack.up(resource, inputs));
  bench.echo(mark);
  if (up.value.op !== "create" || up.value.outputs === undefined) {
    throw new Error(`EtcdCompaction up ended with op ${up.value.op}: ${JSON.stringify(up.value.failures)}`);
  }
  const after = await sizesOf(endpoints);
  const lostKeys = (await verifyFill(endpoints, filledWith.lastValues)).length;
  const records = up.value.outputs.members as { defragmented: boolean }[];
  const leftKeys = await projectKeys(endpoints);
  // So that the next side starts from the same data: its compaction drops the tombstone.
  await etcdctl(endpoints, ["del", "--prefix", "/pulumi-etcd-quota/"]);
  return {
    fillMs,
    before,
    after,
    lostKeys,
    ms: up.ms,
    steps: [],
    previewMs: preview.ms,
    defrags: records.filter((r) => r.defragmented).length,
    timeline: bench
      .progressSince(mark)
      .filter((line) => /done in|-> .* in \S+$|move leader|lock/.test(line))
      .map((line) => `  ${line}`),
    leftKeys,
  };
}

const SIDES: readonly SideName[] = ["runbook", "physical", "ours"];

export async function maintenanceBench(options: BenchOptions): Promise<BenchResult> {
  const targetBytes = (options.quick ? 128 : 512) * MiB;
  const rounds = options.rounds;
  log(`benchmark 1: starting a 3-member cluster, quota ${mib(QUOTA_BYTES)}`);
  const cluster = await LabCluster.start({ members: 3, quotaBytes: QUOTA_BYTES, startTimeoutMs: 60_000 });
  const stopCluster = onCleanup("benchmark 1 cluster", () => cluster.stop());
  let stopHost: (() => Promise<void>) | undefined;
  try {
    const endpoints = cluster.endpoints;
    const bench = await startHost({ verbose: options.verbose });
    stopHost = bench.stop;

    // Each side refills the same cluster first. Rounds rotate the order of the sides.
    const results: Round[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = SIDES.map((_, i) => SIDES[(i + r) % SIDES.length]);
      const round: Partial<Record<SideName, Side>> = {};
      for (const side of order) {
        round[side] =
          side === "ours"
            ? await oursSide(bench, endpoints, targetBytes, `space-${r + 1}`)
            : await etcdctlSide(endpoints, targetBytes, side);
      }
      results.push({ ...(round as Record<SideName, Side>), order });
    }

    const names = cluster.members.map((m) => m.name);
    const first = results[0];
    const last = results[results.length - 1];
    const med = (side: SideName, pick: (s: Side) => number = (s) => s.ms) => median(results.map((r) => pick(r[side])));
    const runbookMs = med("runbook");
    const physicalMs = med("physical");
    const upMs = med("ours");
    const previewMs = med("ours", (s) => s.previewMs);
    const withPreviewMs = med("ours", (s) => s.previewMs + s.ms);
    const diffs = (variant: Variant) =>
      results.flatMap((round, r) =>
        names.map((name, i) => ({
          where: `${rounds > 1 ? `round ${r + 1} ` : ""}${name}`,
          ours: round.ours.after[i].dbSize,
          theirs: round[variant].after[i].dbSize,
        })),
      );
    const claim = (variant: Variant) => {
      const all = diffs(variant);
      return {
        pass: all.every((d) => d.ours <= d.theirs),
        detail: `bytes, ours vs ${VARIANT_LABEL[variant]}: ${all.map((d) => `${d.where} ${d.ours} vs ${d.theirs}`).join(", ")}`,
      };
    };
    const vsRunbook = claim("runbook");
    const vsPhysical = claim("physical");
    const keysPass = results.every((round) => SIDES.every((side) => round[side].lostKeys === 0));
    const totalAfter = (side: SideName) => sum(last[side].after.map((s) => s.dbSize));
    const label = rounds > 1 ? ` (median of ${rounds} rounds)` : "";
    const versus = (ours: number, theirs: number) =>
      ours <= theirs ? `yes (${ours - theirs} B)` : `no (+${ours - theirs} B, ${(ours - theirs) / 4096} pages)`;
    const sizeRows = names.map((name, i) => [
      name,
      ...SIDES.map((side) => `${mib(last[side].before[i].dbSize)} -> ${mib(last[side].after[i].dbSize)}`),
      ...SIDES.map((side) => mib(last[side].after[i].dbSizeInUse)),
      versus(last.ours.after[i].dbSize, last.runbook.after[i].dbSize),
      versus(last.ours.after[i].dbSize, last.physical.after[i].dbSize),
    ]);
    const stepsTable = (variant: Variant) =>
      table(
        [`${VARIANT_LABEL[variant]}${rounds > 1 ? " (round 1)" : ""}`, "time"],
        [...first[variant].steps.map((s) => [s.step, seconds(s.ms)]), ["total", seconds(first[variant].ms)]],
      );

    const report = [
      `Benchmark 1: maintenance of a 3-member cluster filled to ${mib(targetBytes)} of history (quota ${mib(QUOTA_BYTES)})${label}`,
      "",
      stepsTable("runbook"),
      "",
      stepsTable("physical"),
      "",
      table(
        [`EtcdCompaction, engine protocol${rounds > 1 ? " (round 1)" : ""}`, "time"],
        [
          ["preview (Check)", seconds(first.ours.previewMs)],
          [`up (Check + Create: ${first.ours.defrags} defrags, leader last)`, seconds(first.ours.ms)],
          ["preview + up", seconds(first.ours.previewMs + first.ours.ms)],
        ],
      ),
      "",
      `EtcdCompaction's own progress lines${rounds > 1 ? " (round 1)" : ""}:`,
      ...first.ours.timeline,
      "",
      table(
        [
          "round",
          "order",
          "etcdctl runbook",
          "compact --physical",
          "EtcdCompaction up",
          "ours / runbook",
          "ours / physical",
        ],
        results.map((round, r) => [
          String(r + 1),
          round.order.join(", "),
          seconds(round.runbook.ms),
          seconds(round.physical.ms),
          seconds(round.ours.ms),
          ratio(round.ours.ms, round.runbook.ms),
          ratio(round.ours.ms, round.physical.ms),
        ]),
      ),
      "",
      table(
        ["", "etcdctl runbook", "compact --physical", "EtcdCompaction", "ours / runbook", "ours / physical"],
        [
          [
            "time (up)",
            seconds(runbookMs),
            seconds(physicalMs),
            seconds(upMs),
            ratio(upMs, runbookMs),
            ratio(upMs, physicalMs),
          ],
          [
            "time incl. preview",
            seconds(runbookMs),
            seconds(physicalMs),
            seconds(withPreviewMs),
            ratio(withPreviewMs, runbookMs),
            ratio(withPreviewMs, physicalMs),
          ],
          [
            `total DB after${rounds > 1 ? ` (round ${rounds})` : ""}`,
            mib(totalAfter("runbook")),
            mib(totalAfter("physical")),
            mib(totalAfter("ours")),
            ratio(totalAfter("ours"), totalAfter("runbook")),
            ratio(totalAfter("ours"), totalAfter("physical")),
          ],
          ["fill before (not timed, round 1)", ...SIDES.map((side) => seconds(first[side].fillMs)), "", ""],
          [
            "filled keys not reading back",
            ...SIDES.map((side) => String(sum(results.map((round) => round[side].lostKeys)))),
            "",
            "",
          ],
        ],
      ),
      "",
      table(
        [
          `DB before -> after${rounds > 1 ? ` (round ${rounds})` : ""}`,
          "etcdctl runbook",
          "compact --physical",
          "EtcdCompaction",
          "in use: runbook",
          "physical",
          "ours",
          "ours <= runbook",
          "ours <= physical",
        ],
        sizeRows,
      ),
      `keys EtcdCompaction leaves under /pulumi-etcd-quota/: ${last.ours.leftKeys.join(", ") || "none"} ` +
        "(the lock is a lease, and the holder's name is deleted and compacted away before the defrags copy the DB)",
      "",
      `${vsRunbook.pass ? "PASS" : "FAIL"}: EtcdCompaction leaves every member's DB the same size or smaller than the etcdctl runbook (${vsRunbook.detail})`,
      `${vsPhysical.pass ? "PASS" : "FAIL"}: ... and than the runbook with compact --physical (${vsPhysical.detail})`,
      `${keysPass ? "PASS" : "FAIL"}: every filled key reads back its last value after each side`,
    ].join("\n");

    const sizeNote = (variant: Variant) =>
      names
        .map((name, i) => {
          const delta = last.ours.after[i].dbSize - last[variant].after[i].dbSize;
          return `${name} ${delta > 0 ? "+" : ""}${delta} B`;
        })
        .join(", ");
    return {
      report,
      summary: [
        {
          benchmark: "1 maintenance",
          driver: "engine stand-in",
          measure: `compact+defrag+disarm, 3 members, ${mib(targetBytes)}${label}`,
          ours: seconds(upMs),
          baseline: `${seconds(runbookMs)} (etcdctl runbook)`,
          ratio: ratio(upMs, runbookMs),
          note: `incl. preview ${seconds(withPreviewMs)} (${ratio(withPreviewMs, runbookMs)})`,
        },
        {
          benchmark: "1 maintenance",
          driver: "engine stand-in",
          measure: "same, baseline with compact --physical",
          ours: seconds(upMs),
          baseline: `${seconds(physicalMs)} (etcdctl, --physical)`,
          ratio: ratio(upMs, physicalMs),
          note: `incl. preview ${seconds(withPreviewMs)} (${ratio(withPreviewMs, physicalMs)}); preview alone ${seconds(previewMs)}`,
        },
        {
          benchmark: "1 maintenance",
          driver: "engine stand-in",
          measure: "total DB size after (3 members)",
          ours: mib(totalAfter("ours")),
          baseline: `${mib(totalAfter("runbook"))} (runbook) / ${mib(totalAfter("physical"))} (--physical)`,
          ratio: `${ratio(totalAfter("ours"), totalAfter("runbook"))} / ${ratio(totalAfter("ours"), totalAfter("physical"))}`,
          note:
            `same or smaller on every member: vs runbook ${vsRunbook.pass ? "PASS" : "FAIL"} (${sizeNote("runbook")}); ` +
            `vs --physical ${vsPhysical.pass ? "PASS" : "FAIL"} (${sizeNote("physical")})`,
        },
      ],
      checks: [
        {
          claim: "benchmark 1: DB after EtcdCompaction <= DB after the etcdctl runbook, every member",
          pass: vsRunbook.pass,
          detail: vsRunbook.detail,
        },
        {
          claim: "benchmark 1: DB after EtcdCompaction <= DB after the runbook with compact --physical, every member",
          pass: vsPhysical.pass,
          detail: vsPhysical.detail,
        },
        { claim: "benchmark 1: no filled key lost", pass: keysPass, detail: "" },
      ],
    };
  } finally {
    await stopHost?.();
    await stopCluster();
  }
}
