import type { ConfigFormat } from "../config/format";
import type { ClusterObservation } from "../types/observation";
import { canSpareOne, healthProblems, votingMembers } from "./cluster";
import type { MemberSpec, QuotaSettings } from "../inputs/quota";
import type { SnapshotSettings } from "../inputs/snapshot";
import { describeSnapshot, snapshotSource } from "./snapshot";
import { formatSize } from "../values/size";

/** What was found about one member before changing anything. */
export interface MemberFacts {
  readonly spec: MemberSpec;
  /** The config file with every link followed: the file an edit changes. */
  readonly realPath: string;
  readonly format: ConfigFormat;
  /** The quota the file sets (undefined: not set, so etcd's 2 GiB default). */
  readonly configuredBytes: number | undefined;
  /** Where in the file, for messages. */
  readonly location: string;
  /** The quota the running member reports. */
  readonly liveBytes: number | undefined;
  /** The member's name and ID once matched to the cluster; undefined when its endpoint did not answer. */
  readonly name: string | undefined;
  readonly id: string | undefined;
  readonly dbSize: number | undefined;
  readonly isLeader: boolean;
}

/** One member's step in the rolling change. */
export interface QuotaStep {
  readonly member: string;
  readonly endpoint: string;
  /** `write-and-restart`: edit the file, then restart; `restart`: the file is right but the member runs another quota; `none`: already right. */
  readonly action: "write-and-restart" | "restart" | "none";
  readonly reason: string;
  /** Lead elsewhere first (the leader goes last, after handing leadership to a follower). */
  readonly moveLeader: boolean;
}

/** The snapshot before the first restart: where it goes, and the member it is streamed from when one answered. */
export interface QuotaSnapshotStep extends SnapshotSettings {
  readonly member: string | undefined;
}

/**
 * The rolling change as data: what a preview prints and what the run walks. Each member's step is checked again
 * when the run reaches it (health, quorum, and whether the member still leads, for `moveLeader`), and NOSPACE is
 * looked for again after the last member.
 */
export interface QuotaPlan {
  /** Why the change must not start; empty when it may. Each names the input to fix. */
  readonly refusals: readonly { readonly field: string; readonly reason: string }[];
  readonly warnings: readonly string[];
  /** Taken before the first restart; undefined when `snapshot` is not set or no member restarts. */
  readonly snapshot: QuotaSnapshotStep | undefined;
  /** In order: followers by name, the leader last. */
  readonly steps: readonly QuotaStep[];
}

/** The config file as given, and where it leads when that is another path: the preview shows what is edited. */
function fileOf(fact: MemberFacts): string {
  const { configFile } = fact.spec;
  return fact.realPath === configFile ? configFile : `${configFile} (a link to ${fact.realPath})`;
}

/** etcd's quota when nothing sets one, or the setting is 0. */
export const ETCD_DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;

/**
 * The quota a member started from a file runs: what the file sets, or etcd's 2 GiB default when it sets nothing or
 * 0 (etcd 3.6.6+ and 3.7 report that default in Status, as every release does in its metric).
 */
export function quotaInEffect(configuredBytes: number | null | undefined): number {
  return configuredBytes === undefined || configuredBytes === null || configuredBytes === 0
    ? ETCD_DEFAULT_QUOTA_BYTES
    : configuredBytes;
}

// A file without the setting already gives a declared 2 GiB: writing the flag and restarting would change nothing.
function needsChange(facts: MemberFacts, quotaBytes: number): QuotaStep["action"] {
  if (quotaInEffect(facts.configuredBytes) !== quotaBytes) return "write-and-restart";
  return facts.liveBytes === quotaBytes ? "none" : "restart";
}

/**
 * The rolling change as data: refusals first (a quota that would raise NOSPACE at once, an unhealthy cluster, a
 * member that cannot be spared, members missing from the list), then one step per member, followers first and the
 * leader last, skipping members that already run the declared quota from their file.
 */
export function planQuota(
  observation: ClusterObservation,
  facts: readonly MemberFacts[],
  settings: QuotaSettings,
): QuotaPlan {
  const refusals: { field: string; reason: string }[] = [];
  const warnings: string[] = [];
  const problems = healthProblems(observation, "members (every member needs the same quota)");
  for (const problem of problems) refusals.push({ field: "members", reason: problem });
  facts.forEach((fact, i) => {
    if (fact.dbSize !== undefined && settings.quotaBytes <= fact.dbSize) {
      refusals.push({
        field: "quota",
        reason: `${formatSize(settings.quotaBytes)} is not above ${fact.name ?? fact.spec.endpoint}'s DB of ${formatSize(fact.dbSize)} (members[${i}]): etcd would raise NOSPACE as soon as it started; defragment first (EtcdCompaction) or choose a larger quota`,
      });
    }
  });
  const steps = facts
    .filter((f) => f.name !== undefined)
    .map((fact): QuotaStep => {
      const action = needsChange(fact, settings.quotaBytes);
      const from = fact.configuredBytes === undefined ? "unset (2 GiB default)" : formatSize(fact.configuredBytes);
      const reason =
        action === "write-and-restart"
          ? `${fileOf(fact)} (${fact.format}, ${fact.location}): ${from} -> ${formatSize(settings.quotaBytes)}`
          : action === "restart"
            ? // Worded as the refresh's drift words the same state (`m2 runs 6GiB, its file says 8GiB`).
              `runs ${fact.liveBytes === undefined ? "an unknown quota" : formatSize(fact.liveBytes)}, its file says ${formatSize(settings.quotaBytes)}`
            : fact.configuredBytes === undefined || fact.configuredBytes === 0
              ? `already runs etcd's default ${formatSize(settings.quotaBytes)}, which its file leaves as it is`
              : `already runs ${formatSize(settings.quotaBytes)} from its file`;
      return { member: fact.name!, endpoint: fact.spec.endpoint, action, reason, moveLeader: false };
    })
    .sort((a, b) => {
      const leader = (s: QuotaStep) => Number(facts.find((f) => f.spec.endpoint === s.endpoint)?.isLeader ?? false);
      return leader(a) - leader(b) || a.member.localeCompare(b.member);
    });
  const voters = votingMembers(observation).length;
  const restarting = steps.filter((s) => s.action !== "none");
  if (problems.length === 0 && restarting.length > 0 && voters > 1 && !canSpareOne(observation)) {
    refusals.push({
      field: "members",
      reason: `restarting a member would leave ${voters - 1} of ${voters} voting members, below quorum with one to spare`,
    });
  }
  if (restarting.length > 0 && voters === 1) {
    warnings.push("this cluster has one member: it is unavailable while it restarts");
  }
  if (
    facts.some((f) => f.format === "kubeadm-manifest" && needsChange(f, settings.quotaBytes) === "write-and-restart")
  ) {
    warnings.push(KUBEADM_UPGRADE_WARNING);
  }
  const withLeaderMove = steps.map((step) => {
    const isLeader = facts.find((f) => f.spec.endpoint === step.endpoint)?.isLeader ?? false;
    return isLeader && step.action !== "none" && voters > 1 ? { ...step, moveLeader: true } : step;
  });
  const snapshot =
    settings.snapshot && restarting.length > 0
      ? { ...settings.snapshot, member: snapshotSource(observation)?.name }
      : undefined;
  return { refusals, warnings, snapshot, steps: withLeaderMove };
}

/** The plan's lines: the snapshot first when one is taken from a member that answered, then each member's step. */
export function describeQuotaPlan(plan: QuotaPlan): string[] {
  const { snapshot } = plan;
  const first =
    snapshot?.member === undefined
      ? []
      : [`${describeSnapshot(snapshot.member, snapshot.path, snapshot.keep)}: before the first restart`];
  return [...first, ...plan.steps.map(describeQuotaStep)];
}

/**
 * kubeadm keeps its own copy of the etcd flags: `kubeadm upgrade` writes the manifest again from the ClusterConfiguration
 * stored in the cluster, so an edit of the manifest alone lasts until the next upgrade (kubernetes/kubeadm#2157).
 */
export const KUBEADM_UPGRADE_WARNING =
  "the next `kubeadm upgrade` writes etcd.yaml again from kubeadm's ClusterConfiguration and brings the old quota " +
  "back: set etcd.local.extraArgs quota-backend-bytes there too (kubectl -n kube-system edit configmap kubeadm-config)";

/** One line per step, for previews and progress messages. */
export function describeQuotaStep(step: QuotaStep): string {
  const lead = step.moveLeader ? "move leadership away, then " : "";
  switch (step.action) {
    case "write-and-restart":
      return `${step.member}: ${lead}write ${step.reason}, restart, verify`;
    case "restart":
      return `${step.member}: ${lead}restart (${step.reason}), verify`;
    case "none":
      return `${step.member}: nothing to do (${step.reason})`;
  }
}
