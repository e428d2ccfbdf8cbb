#!/usr/bin/env node
/**
 * `etcd-quota`: EtcdCompaction's maintenance without Pulumi, for an outage where the backend, the CI runner or the
 * program's secrets are not at hand. It runs the resource's own run (compaction.ts) and plan (plan/compaction.ts)
 * on settings validated as `check` validates them; it loads neither Pulumi nor SSH.
 */
import type { CompactionRun } from "../run/compaction";
import { runCompaction } from "../run/compaction";
import { formatDuration } from "../values/duration";
import { InterruptedError, isAccessError, SnapshotError, UnsafeClusterError } from "../errors";
import { ClusterSession } from "../etcd/cluster";
import type { ClusterObservation } from "../types/observation";
import { accessProblems, healthProblems, noMemberAnswered, percent, quotaUsage } from "../plan/cluster";
import { maintenanceState, UP_TO_DATE } from "../plan/drift";
import type { CompactionStep } from "../plan/compaction";
import { compactionPlan, describeStep, maintenanceReasons, planCompaction, stepsOf } from "../plan/compaction";
import { formatSize } from "../values/size";
import type { CompactionRecord } from "../types/compaction";
import type { Invocation } from "./args";
import { flagOf, parseInvocation, USAGE, UsageError } from "./args";

/** The exit codes `--help` documents. */
export const EXIT = {
  done: 0,
  failed: 1,
  usage: 2,
  unsafe: 3,
  unreachable: 4,
  maintenanceNeeded: 5,
} as const;

/** The steps that change the cluster; a plan of none of them has nothing to do. */
const CHANGES = new Set<CompactionStep["action"]>(["snapshot", "compact", "move-leader", "defrag", "disarm"]);

type Print = (line: string) => void;

/** Progress lines with the time since the command started, so an operator sees where the minutes go. */
function progressPrinter(print: Print, started: number): Print {
  return (line) => print(`[${formatDuration(Date.now() - started)}] ${line}`);
}

function describeCluster(observation: ClusterObservation, print: Print): void {
  const names = new Map(observation.memberList.map((m) => [m.id, m.name]));
  print(`cluster ${observation.members[0].clusterId}, revision ${observation.revision}`);
  for (const m of observation.members) {
    const usage = quotaUsage(m);
    const quota = m.metrics.quotaBytes === undefined ? "" : ` of ${formatSize(m.metrics.quotaBytes)}`;
    const role = m.isLearner ? "learner" : m.isLeader ? "leader" : "follower";
    print(
      `  ${m.name} ${m.endpoint} ${role}: DB ${formatSize(m.dbSize)}${quota}` +
        `${usage === undefined ? "" : ` (${percent(usage)})`}, ${formatSize(m.dbSizeInUse)} in use, etcd ${m.version}`,
    );
  }
  for (const u of observation.unreachable) print(`  ${u.endpoint}: did not answer: ${u.reason}`);
  const alarms = observation.alarms.map((a) => `${a.type} on ${names.get(a.memberId) || a.memberId}`);
  print(`alarms: ${alarms.length === 0 ? "none" : alarms.join(", ")}`);
}

/** Exit code 4 when no member answered or the access settings were refused, naming the flag that fixes it. */
function unreachable(observation: ClusterObservation, fail: Print): number | undefined {
  const problems = accessProblems(observation, () => "--endpoints");
  for (const p of problems) fail(`${flagOf(p.field)}: ${p.reason}`);
  if (problems.length > 0) return EXIT.unreachable;
  if (observation.members.length === 0) {
    fail(noMemberAnswered(observation));
    return EXIT.unreachable;
  }
  return undefined;
}

function printRecord(record: CompactionRecord, print: Print): void {
  for (const m of record.members) {
    const what = m.defragmented ? "defragmented" : m.reason;
    print(`  ${m.name}: DB ${formatSize(m.dbSizeBefore)} -> ${formatSize(m.dbSizeAfter)} (${what})`);
  }
  if (record.alarmsDisarmed.length > 0) print(`  disarmed: ${record.alarmsDisarmed.join(", ")}`);
}

async function status(session: ClusterSession, invocation: Invocation, print: Print, fail: Print): Promise<number> {
  const observation = await session.observe();
  const code = unreachable(observation, fail);
  if (code !== undefined) return code;
  describeCluster(observation, print);
  const problems = healthProblems(observation);
  const state = maintenanceState(observation, maintenanceReasons(observation, invocation.settings.when));
  print(`maintenance: ${state}`);
  print("plan of `etcd-quota maintain`:");
  for (const step of planCompaction(observation, invocation.settings)) print(`  - ${describeStep(step)}`);
  if (problems.length > 0) {
    fail(`maintain would refuse: ${problems.join("; ")}`);
    return EXIT.unsafe;
  }
  return state === UP_TO_DATE ? EXIT.done : EXIT.maintenanceNeeded;
}

async function maintain(
  session: ClusterSession,
  invocation: Invocation & { readonly started: number },
  print: Print,
  fail: Print,
): Promise<number> {
  const observation = await session.observe();
  const code = unreachable(observation, fail);
  if (code !== undefined) return code;
  describeCluster(observation, print);
  // The plan printed is the one the run walks, from this look: its health gate and decisions judge what was shown.
  const plan = compactionPlan(observation, invocation.settings);
  const steps = stepsOf(plan.stages);
  print(invocation.dryRun ? "plan (--dry-run: nothing will be changed):" : "plan:");
  for (const step of steps) print(`  - ${describeStep(step)}`);
  const problems = healthProblems(observation);
  if (problems.length > 0) {
    fail(`refusing to start maintenance: ${problems.join("; ")}`);
    return EXIT.unsafe;
  }
  if (invocation.dryRun) return EXIT.done;
  if (!steps.some((step) => CHANGES.has(step.action))) {
    print("nothing to do");
    return EXIT.done;
  }
  const progress = progressPrinter(print, invocation.started);
  try {
    const { record } = await runCompaction(session, invocation.settings, progress, {}, plan);
    printRecord(record, print);
    return EXIT.done;
  } catch (error) {
    if (error instanceof InterruptedError) {
      fail(error.message);
      const { record } = error.done as CompactionRun;
      print("done before it stopped:");
      for (const step of record.executed) print(`  - ${step}`);
      printRecord(record, print);
      return error.cause instanceof UnsafeClusterError ? EXIT.unsafe : EXIT.failed;
    }
    if (error instanceof UnsafeClusterError) {
      fail(error.message);
      return EXIT.unsafe;
    }
    if (error instanceof SnapshotError) {
      fail(error.message);
      return EXIT.failed;
    }
    throw error;
  }
}

/** Runs the command line `argv` (without `node` and the script) and resolves with the exit code. */
export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  print: Print = (line) => console.log(line),
  fail: Print = (line) => console.error(`etcd-quota: ${line}`),
): Promise<number> {
  const started = Date.now();
  let invocation: Invocation | undefined;
  try {
    invocation = parseInvocation(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    fail(`${error.message} (see etcd-quota --help)`);
    return EXIT.usage;
  }
  if (invocation === undefined) {
    print(USAGE);
    return EXIT.done;
  }
  const session = new ClusterSession(invocation.settings.access, {
    callTimeoutMs: invocation.settings.callTimeoutMs,
    callTimeoutBoundBy: "--call-timeout",
  });
  try {
    const run = invocation.command === "status" ? status : maintain;
    return await run(session, { ...invocation, started }, print, fail);
  } catch (error) {
    if (isAccessError(error)) {
      fail(
        `${flagOf(error.input === undefined || error.input === "endpoint" ? "endpoints" : error.input)}: ${error.message}`,
      );
      return EXIT.unreachable;
    }
    fail(error instanceof Error ? error.message : String(error));
    return EXIT.failed;
  } finally {
    session.close();
  }
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
