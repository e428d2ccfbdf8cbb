/**
 * What one look at a cluster found, and the rules read from it (health, quorum, who leads next, whether NOSPACE may
 * be disarmed): pure, so the planners and their tests load no etcd client.
 */
import { isAccessError, UnsafeClusterError } from "../errors";
import { formatSize } from "../values/size";
import type { ClusterObservation, ObservedMember } from "../types/observation";

/** Alarms maintenance can live with: NOSPACE is what it is there to fix. */
const TOLERATED_ALARMS = new Set(["NOSPACE"]);

/**
 * Why a refresh could not read the cluster, naming every endpoint: `no member answered (http://a:2379: ...; ...)`.
 * A refresh must still succeed then, or a stack whose cluster is gone could not be destroyed (every `pulumi
 * destroy` refreshes first under `refresh: always`); the providers keep the last known state and say this instead.
 */
export function noMemberAnswered(observation: ClusterObservation): string {
  return `no member answered (${observation.unreachable.map((u) => `${u.endpoint}: ${u.reason}`).join("; ")})`;
}

/**
 * What makes two {@link noMemberAnswered} the same condition: the endpoints. Their reasons may be worded apart (one
 * call sees `connect ECONNREFUSED`, a later one on the same channel gRPC's `Last error: null`).
 */
export function noMemberAnsweredKey(observation: ClusterObservation): string {
  return `no member answered: ${observation.unreachable
    .map((u) => u.endpoint)
    .sort()
    .join(" ")}`;
}

/** {@link noMemberAnswered} once it has been said in full, in this command, naming every endpoint. */
export const NO_MEMBER_ANSWERED_AGAIN = "no member answered (the endpoints and reasons are above)";

/**
 * The endpoints that refused the access settings (TLS, user, or not etcd at all), as `check` failures: one per input
 * at fault, naming the endpoints, so a wrong CA reads as one line about `tls.ca` rather than one per member.
 * `fieldOf` names the input that holds an endpoint (`endpoints[1]`, `members[1].endpoint`).
 */
export function accessProblems(
  observation: ClusterObservation,
  fieldOf: (endpoint: string) => string,
): { field: string; reason: string }[] {
  const problems = new Map<string, { field: string; detail: string; endpoints: string[] }>();
  for (const { endpoint, error } of observation.unreachable) {
    if (!isAccessError(error)) continue;
    const field = error.input === undefined || error.input === "endpoint" ? fieldOf(endpoint) : error.input;
    const key = `${field}\n${error.detail}`;
    const problem = problems.get(key) ?? { field, detail: error.detail, endpoints: [] };
    problem.endpoints.push(endpoint);
    problems.set(key, problem);
  }
  return [...problems.values()].map(({ field, detail, endpoints }) => ({
    field,
    reason: `${endpoints.join(", ")}: ${detail}`,
  }));
}

/** The NOSPACE alarms with the name of the member each is raised on, in the order of those names. */
export function noSpaceAlarms(observation: ClusterObservation): { memberId: string; member: string }[] {
  const names = new Map(observation.memberList.map((m) => [m.id, m.name]));
  return observation.alarms
    .filter((a) => a.type === "NOSPACE")
    .map((a) => ({ memberId: a.memberId, member: names.get(a.memberId) || a.memberId }))
    .sort((a, b) => a.member.localeCompare(b.member));
}

export function hasNoSpace(observation: ClusterObservation): boolean {
  return observation.alarms.some((a) => a.type === "NOSPACE");
}

/** The voting members (learners cannot be defragmented or restarted safely as peers). */
export function votingMembers(observation: ClusterObservation): ObservedMember[] {
  return observation.members.filter((m) => !m.isLearner);
}

/** etcd's quorum for `voters` voting members. */
export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * Why it is not safe to start (or go on with) maintenance. Empty means healthy: every voting member answered,
 * there is a leader, and no alarm other than NOSPACE is raised.
 */
export function healthProblems(observation: ClusterObservation, listName = "endpoints"): string[] {
  const problems: string[] = [];
  for (const { endpoint, reason } of observation.unreachable) {
    const member = observation.memberList.find((m) => m.clientUrls.includes(endpoint));
    problems.push(`${endpoint} did not answer${member ? ` (member ${member.name})` : ""}: ${reason}`);
  }
  for (const member of observation.uncovered) {
    const urls = member.clientUrls.join(", ") || "no client URL advertised";
    problems.push(`member ${member.name || member.id} (${urls}) is in the cluster but not in ${listName}`);
  }
  if (observation.members.length > 0 && observation.leaderId === undefined) problems.push("the cluster has no leader");
  const names = new Map(observation.memberList.map((m) => [m.id, m.name]));
  for (const alarm of observation.alarms) {
    if (!TOLERATED_ALARMS.has(alarm.type)) {
      problems.push(
        `alarm ${alarm.type} is raised on member ${names.get(alarm.memberId) || alarm.memberId}; ` +
          "maintenance will not run until an operator has dealt with it (it is never disarmed automatically)",
      );
    }
  }
  return problems;
}

/** Throws UnsafeClusterError listing every problem. */
export function assertHealthy(observation: ClusterObservation, doing: string): void {
  const problems = healthProblems(observation);
  if (problems.length > 0) {
    throw new UnsafeClusterError(`refusing to ${doing}: ${problems.join("; ")}`);
  }
}

/**
 * Whether one more voting member may be blocked or taken down: the others that answer must still form a quorum.
 * For 3 members this needs all 3 healthy.
 */
export function canSpareOne(observation: ClusterObservation): boolean {
  const voters = observation.memberList.filter((m) => !m.isLearner).length;
  const healthy = votingMembers(observation).length;
  return healthy - 1 >= quorum(voters) || voters === 1;
}

/** The follower to hand leadership to: the most up to date one. */
export function leaderSuccessor(observation: ClusterObservation): ObservedMember | undefined {
  return votingMembers(observation)
    .filter((m) => !m.isLeader)
    .sort((a, b) => b.raftIndex - a.raftIndex || a.name.localeCompare(b.name))[0];
}

export function quotaUsage(member: ObservedMember): number | undefined {
  const quota = member.metrics.quotaBytes;
  return quota !== undefined && quota > 0 ? member.dbSize / quota : undefined;
}

/** `0.9` as `90%`. */
export function percent(share: number): string {
  return `${Number((share * 100).toFixed(2))}%`;
}

/**
 * Whether NOSPACE may be disarmed: only once every member's DB is below `below` (`disarmBelow`) of the quota it
 * reports, so the alarm is not lifted just to be raised again by the next write.
 */
export function disarmDecision(observation: ClusterObservation, below: number): { allowed: boolean; reason: string } {
  const over = observation.members.filter((member) => {
    const usage = quotaUsage(member);
    return usage !== undefined && usage >= below;
  });
  if (over.length === 0) {
    return { allowed: true, reason: `every member is below ${percent(below)} of its quota` };
  }
  const list = over.map((m) => `${m.name} ${formatSize(m.dbSize)} of ${formatSize(m.metrics.quotaBytes!)}`).join(", ");
  return {
    allowed: false,
    reason:
      `still at or above ${percent(below)} of the quota after maintenance (${list}); ` +
      "the live data itself is too large: raise the quota (EtcdQuota) or delete data, then run again " +
      "(disarmBelow sets the share)",
  };
}
