import { formatSize } from "../values/size";
import type { ClusterObservation, ObservedMember } from "../types/observation";
import { hasNoSpace, leaderSuccessor, noSpaceAlarms, percent, quotaUsage, votingMembers } from "./cluster";
import type { CompactionSettings, DefragThresholds, DriftConditions } from "../inputs/compaction";
import type { SnapshotSettings } from "../inputs/snapshot";
import { describeSnapshot, snapshotSource } from "./snapshot";
import type { Forecast } from "./forecast";
import { formatDuration } from "../values/duration";

/**
 * The revision to compact to so that exactly the newest `retain` revisions stay readable (0 and 1 both keep only the
 * current one, as the runbook's `etcdctl compact <current revision>` does), or undefined when nothing would go.
 */
export function compactionTarget(revision: number, retain: number): number | undefined {
  const target = revision - Math.max(retain, 1) + 1;
  return target > 1 ? target : undefined;
}

/** The reclaimable bytes of a member and their share of its file. */
function reclaimable(member: Pick<ObservedMember, "dbSize" | "dbSizeInUse">): {
  bytes: number;
  share: number;
} {
  const bytes = Math.max(0, member.dbSize - member.dbSizeInUse);
  return { bytes, share: member.dbSize > 0 ? bytes / member.dbSize : 0 };
}

/**
 * Whether defragmenting `member` pays off under `thresholds`, and why, for progress messages and previews.
 *
 * Pages a compaction frees stay "pending" in bbolt until the backend's next write commits, and etcd counts pending
 * pages as in use. Under NOSPACE no write can commit, so `dbSizeInUse` keeps its pre-compaction value and the
 * thresholds cannot be judged: then every member is defragmented, as the runbook does.
 */
export function defragDecision(
  member: Pick<ObservedMember, "dbSize" | "dbSizeInUse">,
  thresholds: DefragThresholds | false,
  noSpace = false,
): { defrag: boolean; reason: string } {
  if (thresholds === false) return { defrag: false, reason: "defrag is off" };
  if (noSpace) {
    return {
      defrag: true,
      reason: `NOSPACE is raised: writes are blocked, so the space compaction frees only shows after a defrag (${formatSize(member.dbSize)} file)`,
    };
  }
  const { bytes, share } = reclaimable(member);
  const found = `${formatSize(bytes)} reclaimable (${(share * 100).toFixed(0)}% of ${formatSize(member.dbSize)})`;
  if (thresholds.minFreeBytes !== undefined && bytes >= thresholds.minFreeBytes) {
    return { defrag: true, reason: `${found} >= ${formatSize(thresholds.minFreeBytes)}` };
  }
  if (thresholds.minFragmentation !== undefined && share >= thresholds.minFragmentation && bytes > 0) {
    return { defrag: true, reason: `${found}, at least ${(thresholds.minFragmentation * 100).toFixed(0)}%` };
  }
  return { defrag: false, reason: `${found}: below the thresholds` };
}

/** Voting members in the order to defragment them: followers by name, the leader last. Learners are skipped. */
export function defragOrder(observation: ClusterObservation): ObservedMember[] {
  return votingMembers(observation).sort(
    (a, b) => Number(a.isLeader) - Number(b.isLeader) || a.name.localeCompare(b.name),
  );
}

/**
 * Why maintenance is needed now, one sentence per condition that holds; empty when none does. `forecast` is what the
 * refreshes so far say of growth (`when.fullWithin`).
 */
export function maintenanceReasons(
  observation: ClusterObservation,
  when: DriftConditions,
  forecast?: Forecast,
): string[] {
  const reasons: string[] = [];
  const left = forecast?.secondsLeft ?? null;
  if (forecast && when.fullWithinMs !== undefined && left !== null && left * 1000 < when.fullWithinMs) {
    reasons.push(`the quota is reached within ${formatDuration(when.fullWithinMs)}: ${forecast.text}`);
  }
  const names = new Map(observation.memberList.map((m) => [m.id, m.name]));
  if (when.noSpaceAlarm) {
    for (const alarm of observation.alarms.filter((a) => a.type === "NOSPACE")) {
      reasons.push(`NOSPACE alarm on ${names.get(alarm.memberId) || alarm.memberId}`);
    }
  }
  for (const member of observation.members) {
    const usage = quotaUsage(member);
    if (when.quotaUsageAbove !== undefined && usage !== undefined && usage > when.quotaUsageAbove) {
      reasons.push(
        `${member.name} DB ${formatSize(member.dbSize)} is ${(usage * 100).toFixed(0)}% of its quota ${formatSize(member.metrics.quotaBytes!)}`,
      );
    }
    const { bytes } = reclaimable(member);
    if (when.freeBytesAbove !== undefined && bytes > when.freeBytesAbove) {
      reasons.push(`${member.name} has ${formatSize(bytes)} reclaimable`);
    }
  }
  return reasons;
}

/**
 * A step of the plan, as data: printed in previews and progress messages, kept in the outputs as the steps a run
 * carried out, and compared between the two in tests. `decidedLater` marks a step the run decides again from a fresh
 * look at the cluster when it gets there, saying when: a defrag's worth after the compaction, the disarm after the
 * defrags.
 */
export type CompactionStep = (
  | { readonly action: "compact"; readonly revision: number; readonly reason: string }
  | { readonly action: "move-leader"; readonly member: string; readonly to: string; readonly reason: string }
  | { readonly action: "defrag" | "skip-defrag"; readonly member: string; readonly reason: string }
  | { readonly action: "disarm"; readonly member: string; readonly reason: string }
  | {
      readonly action: "snapshot";
      readonly member: string;
      readonly path: string;
      readonly keep: number;
      readonly reason: string;
    }
) & { readonly decidedLater?: string };

/** The compaction, or none when the revision leaves nothing to compact under `retainRevisions`. */
export function compactStep(revision: number, settings: CompactionSettings): CompactionStep[] {
  const target = compactionTarget(revision, settings.retainRevisions);
  if (target === undefined) return [];
  const kept =
    settings.retainRevisions === 0
      ? "keeping only the latest values"
      : `keeping the newest ${settings.retainRevisions} revisions`;
  return [{ action: "compact", revision: target, reason: kept }];
}

/**
 * One member's steps at its turn: defragment it when it pays, handing leadership away first when it is the leader of
 * a cluster of several voting members (and `moveLeader` allows). The one leader-move rule: the plan a preview prints
 * and the run at each member's turn both come from here.
 */
export function memberSteps(
  observation: ClusterObservation,
  member: ObservedMember,
  settings: CompactionSettings,
): CompactionStep[] {
  const decision = defragDecision(member, settings.defrag, hasNoSpace(observation));
  const steps: CompactionStep[] = [];
  if (decision.defrag && member.isLeader && settings.moveLeader && votingMembers(observation).length > 1) {
    const successor = leaderSuccessor(observation);
    if (successor) {
      steps.push({
        action: "move-leader",
        member: member.name,
        to: successor.name,
        reason: "a leader blocked by defrag stalls the whole cluster's writes",
      });
    }
  }
  steps.push({ action: decision.defrag ? "defrag" : "skip-defrag", member: member.name, reason: decision.reason });
  return steps;
}

/** The NOSPACE alarms a run tries to disarm at its end: every one raised, unless `disarmNoSpace` is false. */
export function disarmSteps(observation: ClusterObservation, settings: CompactionSettings): CompactionStep[] {
  if (!settings.disarmNoSpace) return [];
  return noSpaceAlarms(observation).map(({ member }) => ({
    action: "disarm",
    member,
    reason: `only once every member is below ${percent(settings.disarmBelow)} of its quota; otherwise the run fails, saying to raise the quota`,
  }));
}

export const SNAPSHOT_REASON = "a restore point before anything changes";

/**
 * A stretch of the plan the run takes at once, with the steps it is expected to take there. The run decides a
 * member's stage again from a fresh look at the cluster when it reaches it (the health gate, the sizes the
 * compaction left, who leads now), and the disarm stage from a look after the defrags: their steps here are what
 * the plan's own look says, marked so when the run will decide them on other facts. The compact stage carries the
 * revision the plan saw; the run compacts to the revision after it took the lock's name out, when it does.
 */
export type CompactionStage =
  | { readonly at: "snapshot"; readonly settings: SnapshotSettings; readonly steps: readonly CompactionStep[] }
  | { readonly at: "compact"; readonly revision: number; readonly steps: readonly CompactionStep[] }
  | { readonly at: "member"; readonly id: string; readonly name: string; readonly steps: readonly CompactionStep[] }
  | { readonly at: "disarm"; readonly steps: readonly CompactionStep[] };

/** One run's plan, as data: what a preview prints and what the run walks, stage by stage. */
export interface CompactionPlan {
  /** The look at the cluster the plan was made from: the run's health gate and its compaction judge this. */
  readonly observation: ClusterObservation;
  readonly stages: readonly CompactionStage[];
}

/**
 * What a run would do now, from the same rules the run follows: the snapshot (when asked for), the compaction, then
 * each voting member's steps in the order of {@link defragOrder}, then the disarms. The defrag steps are judged on
 * today's sizes and marked as decided again after the compaction when there is one (it frees most pages); the
 * disarms after the defrags.
 */
export function compactionPlan(observation: ClusterObservation, settings: CompactionSettings): CompactionPlan {
  const stages: CompactionStage[] = [];
  if (settings.snapshot) {
    const source = snapshotSource(observation);
    const steps: CompactionStep[] = source
      ? [{ action: "snapshot", member: source.name, ...settings.snapshot, reason: SNAPSHOT_REASON }]
      : [];
    stages.push({ at: "snapshot", settings: settings.snapshot, steps });
  }
  const compaction = compactStep(observation.revision, settings);
  stages.push({ at: "compact", revision: observation.revision, steps: compaction });
  const later = compaction.length > 0 ? "after the compaction" : undefined;
  for (const member of defragOrder(observation)) {
    const steps = memberSteps(observation, member, settings).map((step) =>
      later ? { ...step, decidedLater: later } : step,
    );
    stages.push({ at: "member", id: member.id, name: member.name, steps });
  }
  const disarms = disarmSteps(observation, settings).map((step) => ({ ...step, decidedLater: "after the defrags" }));
  stages.push({ at: "disarm", steps: disarms });
  return { observation, stages };
}

/** The plan's steps in order: what previews print. */
export function stepsOf(stages: readonly CompactionStage[]): CompactionStep[] {
  return stages.flatMap((stage) => stage.steps);
}

/** The steps of {@link compactionPlan}, in order. */
export function planCompaction(observation: ClusterObservation, settings: CompactionSettings): CompactionStep[] {
  return stepsOf(compactionPlan(observation, settings).stages);
}

/** One line per step, for previews and progress messages. */
export function describeStep(step: CompactionStep): string {
  const line = describeAction(step);
  return step.decidedLater ? `${line} [decided again ${step.decidedLater}]` : line;
}

function describeAction(step: CompactionStep): string {
  switch (step.action) {
    case "compact":
      return `compact to revision ${step.revision} (${step.reason})`;
    case "move-leader":
      return `move leadership from ${step.member} to ${step.to} (${step.reason})`;
    case "defrag":
      return `defragment ${step.member}: ${step.reason}`;
    case "skip-defrag":
      return `skip defragmenting ${step.member}: ${step.reason}`;
    case "disarm":
      return `disarm NOSPACE on ${step.member} (${step.reason})`;
    case "snapshot":
      return `${describeSnapshot(step.member, step.path, step.keep)}: ${step.reason}`;
  }
}
