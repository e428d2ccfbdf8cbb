import { DisarmRefusedError, MemberUnavailableError } from "../errors";
import type { Progress } from "../run/wait";
import { waitFor } from "../run/wait";
import type { ClusterApi } from "../run/seams";
import type { ClusterObservation, ObservedMember } from "../types/observation";
import { assertHealthy, disarmDecision, leaderSuccessor, noSpaceAlarms } from "../plan/cluster";

const LEADER_MOVE_TIMEOUT_MS = 30_000;
/** The leader move's bound, for timeout messages: no input changes it. */
const LEADER_MOVE_BOUND = "a fixed 30s";

/**
 * Hands leadership from `leader` to the most up-to-date follower and waits until the cluster agrees on a new leader
 * with every member answering. Returns that settled observation (unchanged when there is no follower).
 */
export async function moveLeadershipAway(
  session: ClusterApi,
  observation: ClusterObservation,
  leader: ObservedMember,
  why: string,
  progress: Progress,
): Promise<ClusterObservation> {
  const successor = leaderSuccessor(observation);
  if (!successor) return observation;
  progress(`move leader: ${leader.name} -> ${successor.name}, ${why}`);
  await session
    .client(leader.endpoint)
    .moveLeader(successor.id, LEADER_MOVE_TIMEOUT_MS, successor.name, LEADER_MOVE_BOUND);
  const settled = await waitFor(
    async () => {
      const now = await session.observe();
      return now.leaderId !== undefined && now.leaderId !== leader.id && now.unreachable.length === 0 ? now : undefined;
    },
    { what: `leadership to leave ${leader.name}`, timeoutMs: LEADER_MOVE_TIMEOUT_MS, boundBy: LEADER_MOVE_BOUND },
  );
  assertHealthy(settled, `go on with ${leader.name}`);
  return settled;
}

/**
 * Disarms every NOSPACE alarm, one member at a time and naming each (an empty request would clear CORRUPT too),
 * only once every member is below `below` of the quota it reports. Returns `NOSPACE on <member>` per alarm lifted.
 */
export async function disarmNoSpace(
  session: ClusterApi,
  observation: ClusterObservation,
  below: number,
  progress: Progress,
): Promise<string[]> {
  const noSpace = noSpaceAlarms(observation);
  if (noSpace.length === 0) return [];
  const decision = disarmDecision(observation, below);
  if (!decision.allowed) throw new DisarmRefusedError(`NOSPACE not disarmed: ${decision.reason}`);
  const client = session.client(
    observation.members.find((m) => m.isLeader)?.endpoint ?? observation.members[0].endpoint,
  );
  const disarmed: string[] = [];
  for (const alarm of noSpace) {
    await client.disarmNoSpace(alarm.memberId);
    disarmed.push(`NOSPACE on ${alarm.member}`);
  }
  const remaining = (await client.alarms()).filter((a) => a.type === "NOSPACE");
  if (remaining.length > 0) {
    throw new MemberUnavailableError(
      client.endpoint,
      `NOSPACE still raised after disarm on ${remaining.length} member(s)`,
    );
  }
  progress(`disarm: NOSPACE lifted on ${disarmed.length} member(s); ${decision.reason}`);
  return disarmed;
}
