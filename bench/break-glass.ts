/**
 * Benchmark 6: the break-glass command (`etcd-quota maintain`, package.json's `bin`, built into dist) against the
 * operator's best runbook typed with etcdctl, on a 3-member cluster at NOSPACE, the same cluster refilled to NOSPACE
 * before each side. Both sides are timed end to end as a shell runs them, process start-up included.
 */
import * as path from "path";
import { LabCluster } from "../lab/cluster";
import { fill, verifyFill } from "../lab/fill";
import { waitAlarmsHoldStill } from "../test/support/etcd";
import { sizesOf } from "./maintenance";
import type { BenchOptions, BenchResult } from "./support";
import { etcdctl, log, median, mib, MiB, onCleanup, ratio, runProgram, seconds, spread, sum, table } from "./support";

/** The goal: the command at most this much slower than the best runbook at NOSPACE. */
const GOAL = 1.1;
const DEFRAG_COMMAND_TIMEOUT = "300s";
const COMMAND = path.join(__dirname, "..", require("../package.json").bin["etcd-quota"]);

type SideName = "runbook" | "command";

interface Sample {
  readonly side: SideName;
  readonly ms: number;
  readonly before: { dbSize: number }[];
  readonly after: { dbSize: number; dbSizeInUse: number }[];
  readonly lostKeys: number;
  readonly alarmsAfter: string;
  /** Each step's wall time (the runbook's commands), or the command's own progress lines. */
  readonly steps: string[];
}

/**
 * The best runbook an operator types at NOSPACE: read the revision and the leader, `compact --physical` (waits until
 * the compaction is done), defragment the followers one at a time, hand leadership to a follower, defragment the old
 * leader, disarm. Returns each command's wall time.
 */
export async function bestRunbook(endpoints: readonly string[]): Promise<{ ms: number; steps: string[] }> {
  const steps: { step: string; ms: number }[] = [];
  const status = await etcdctl(endpoints, ["endpoint", "status", "-w", "json"]);
  steps.push({ step: "endpoint status -w json", ms: status.ms });
  // Member IDs are uint64 in decimal, beyond a JSON number's exact range: read them as text.
  const parsed = JSON.parse(status.stdout.replace(/"(member_id|leader|cluster_id)":(\d+)/g, '"$1":"$2"')) as {
    Endpoint: string;
    Status: { header: { revision: number | string; member_id: number | string }; leader: number | string };
  }[];
  const revision = Math.max(...parsed.map((e) => Number(e.Status.header.revision)));
  const leader = parsed.find((e) => String(e.Status.header.member_id) === String(e.Status.leader));
  const follower = parsed.find((e) => e !== leader);
  if (!leader || !follower) throw new Error(`no leader and follower in ${status.stdout.slice(0, 300)}`);
  const timeout = `--command-timeout=${DEFRAG_COMMAND_TIMEOUT}`;
  const compact = await etcdctl(endpoints, ["compact", String(revision), "--physical", timeout], 330_000);
  steps.push({ step: `compact ${revision} --physical`, ms: compact.ms });
  for (const entry of parsed.filter((e) => e !== leader)) {
    const defrag = await etcdctl([entry.Endpoint], [timeout, "defrag"], 330_000);
    steps.push({ step: `defrag ${entry.Endpoint} (follower)`, ms: defrag.ms });
  }
  // move-leader takes the ID in hex.
  const target = BigInt(String(follower.Status.header.member_id)).toString(16);
  const move = await etcdctl([leader.Endpoint], ["move-leader", target]);
  steps.push({ step: `move-leader ${target}`, ms: move.ms });
  const defrag = await etcdctl([leader.Endpoint], [timeout, "defrag"], 330_000);
  steps.push({ step: `defrag ${leader.Endpoint} (old leader)`, ms: defrag.ms });
  const disarm = await etcdctl(endpoints, ["alarm", "disarm"]);
  steps.push({ step: "alarm disarm", ms: disarm.ms });
  return { ms: sum(steps.map((s) => s.ms)), steps: steps.map((s) => `${s.step}: ${seconds(s.ms)}`) };
}

async function breakGlass(endpoints: readonly string[]): Promise<{ ms: number; steps: string[] }> {
  const result = await runProgram(process.execPath, [COMMAND, "maintain", "--endpoints", endpoints.join(",")], {
    timeoutMs: 600_000,
  });
  return { ms: result.ms, steps: result.stdout.split("\n").filter((line) => /^\[/.test(line)) };
}

async function sample(endpoints: readonly string[], side: SideName, targetNote: string): Promise<Sample> {
  log(`benchmark 6: filling to NOSPACE (${targetNote}) for the ${side === "runbook" ? "runbook" : "command"}`);
  const filled = await fill(endpoints, { untilNoSpace: true, timeoutMs: 300_000 });
  if (!filled.noSpace) throw new Error("the fill did not reach NOSPACE");
  await waitAlarmsHoldStill(endpoints);
  const before = await sizesOf(endpoints);
  log(`benchmark 6: ${side}`);
  const { ms, steps } = side === "runbook" ? await bestRunbook(endpoints) : await breakGlass(endpoints);
  const after = await sizesOf(endpoints);
  const lostKeys = (await verifyFill(endpoints, filled.lastValues)).length;
  const alarmsAfter = (await etcdctl(endpoints, ["alarm", "list"])).stdout.trim();
  return { side, ms, before, after, lostKeys, alarmsAfter, steps };
}

export async function breakGlassBench(options: BenchOptions): Promise<BenchResult> {
  const quotaBytes = (options.quick ? 64 : 256) * MiB;
  const quotaNote = `quota ${mib(quotaBytes)}`;
  log(`benchmark 6: starting a 3-member cluster, ${quotaNote}`);
  const cluster = await LabCluster.start({ members: 3, quotaBytes, startTimeoutMs: 60_000 });
  const stopCluster = onCleanup("benchmark 6 cluster", () => cluster.stop());
  try {
    const endpoints = cluster.endpoints;
    const samples: Sample[] = [];
    for (let s = 0; s < options.samples; s++) {
      // The side going first alternates, so a slower machine over time does not favour one side.
      const order: SideName[] = s % 2 === 0 ? ["runbook", "command"] : ["command", "runbook"];
      for (const side of order) samples.push(await sample(endpoints, side, quotaNote));
    }
    const of = (side: SideName) => samples.filter((x) => x.side === side);
    const runbookMs = median(of("runbook").map((x) => x.ms));
    const commandMs = median(of("command").map((x) => x.ms));
    const names = cluster.members.map((m) => m.name);
    const lastOf = (side: SideName) => of(side)[of(side).length - 1];
    const sizeRows = names.map((name, i) => [
      name,
      `${mib(lastOf("runbook").before[i].dbSize)} -> ${mib(lastOf("runbook").after[i].dbSize)}`,
      `${mib(lastOf("command").before[i].dbSize)} -> ${mib(lastOf("command").after[i].dbSize)}`,
      String(lastOf("command").after[i].dbSize - lastOf("runbook").after[i].dbSize),
    ]);
    const pairs = samples
      .filter((x) => x.side === "command")
      .map((command, k) => ({ command, runbook: of("runbook")[k] }));
    const sizesPass = pairs.every(({ command, runbook }) =>
      command.after.every((m, i) => m.dbSize <= runbook.after[i].dbSize),
    );
    const timePass = commandMs <= GOAL * runbookMs;
    const clean = samples.every((x) => x.lostKeys === 0 && x.alarmsAfter === "");
    const report = [
      `Benchmark 6: at NOSPACE, 3 members (${quotaNote}), ${options.samples} sample(s) per side`,
      "",
      table(["best runbook (last sample)", ""], [...lastOf("runbook").steps.map((s) => [s, ""])]),
      "",
      "etcd-quota maintain's progress lines (last sample):",
      ...lastOf("command").steps.map((line) => `  ${line}`),
      "",
      table(
        ["", "best runbook (etcdctl)", "etcd-quota maintain", "ratio"],
        [
          ["time (median)", seconds(runbookMs), seconds(commandMs), ratio(commandMs, runbookMs)],
          [
            "min - max",
            spread(
              of("runbook").map((x) => x.ms),
              seconds,
            ),
            spread(
              of("command").map((x) => x.ms),
              seconds,
            ),
            "",
          ],
          [
            "total DB after (last sample)",
            mib(sum(lastOf("runbook").after.map((m) => m.dbSize))),
            mib(sum(lastOf("command").after.map((m) => m.dbSize))),
            ratio(sum(lastOf("command").after.map((m) => m.dbSize)), sum(lastOf("runbook").after.map((m) => m.dbSize))),
          ],
        ],
      ),
      "",
      table(["DB before -> after (last sample)", "best runbook", "etcd-quota", "ours - runbook (B)"], sizeRows),
      "",
      `${timePass ? "PASS" : "FAIL"}: etcd-quota maintain within ${GOAL}x the best runbook at NOSPACE (${ratio(commandMs, runbookMs)})`,
      `${sizesPass ? "PASS" : "FAIL"}: every member's DB after etcd-quota is no larger than after the runbook, sample by sample`,
      `${clean ? "PASS" : "FAIL"}: no alarm left and every filled key reads back, after each side`,
    ].join("\n");
    return {
      report,
      summary: [
        {
          benchmark: "6 break-glass",
          driver: "break-glass command",
          measure: `etcd-quota maintain at NOSPACE, 3 members, ${quotaNote} (the command, no Pulumi)`,
          ours: seconds(commandMs),
          baseline: `${seconds(runbookMs)} (etcdctl: compact --physical, defrag followers, move-leader, defrag, disarm)`,
          ratio: ratio(commandMs, runbookMs),
          note: `goal ${GOAL}x; DB sizes no larger: ${sizesPass ? "yes" : "no"}`,
        },
      ],
      checks: [
        {
          claim: `benchmark 6: etcd-quota maintain <= ${GOAL}x the best runbook at NOSPACE`,
          pass: timePass,
          detail: ratio(commandMs, runbookMs),
        },
        {
          claim: "benchmark 6: DB after etcd-quota <= DB after the runbook, every member",
          pass: sizesPass,
          detail: "",
        },
        { claim: "benchmark 6: no alarm left, no filled key lost", pass: clean, detail: "" },
      ],
    };
  } finally {
    await stopCluster();
  }
}
