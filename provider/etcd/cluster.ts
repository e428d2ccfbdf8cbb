import { isAccessError, QuotaReportsDisagreeError } from "../errors";
import { EtcdAccess } from "../inputs/access";
import { Alarm, ClusterMember, MemberClient, MemberClientOptions } from "./member";
import { accessProblems, ClusterObservation } from "./observation";
import type { ClusterApi } from "../seams";

/** One client per endpoint for the length of one provider call. */
export class ClusterSession implements ClusterApi {
  readonly clients: ReadonlyMap<string, MemberClient>;

  constructor(
    readonly access: EtcdAccess,
    options: MemberClientOptions = {},
  ) {
    this.clients = new Map(access.endpoints.map((endpoint) => [endpoint, new MemberClient(endpoint, access, options)]));
  }

  client(endpoint: string): MemberClient {
    const client = this.clients.get(endpoint);
    if (!client) throw new Error(`no client for ${endpoint}`);
    return client;
  }

  /** Asks every member at once; a member that does not answer is recorded, not thrown. */
  async observe(): Promise<ClusterObservation> {
    const answers = await Promise.all(
      [...this.clients.values()].map(async (client) => {
        try {
          const { status, metrics } = await client.statusAndMetrics();
          return { client, status, metrics };
        } catch (error) {
          if (error instanceof QuotaReportsDisagreeError) throw error;
          return { client, error, reason: error instanceof Error ? error.message : String(error) };
        }
      }),
    );
    const reached = answers.filter((a) => a.status !== undefined);
    const unreachable = answers
      .filter((a) => a.status === undefined)
      .map((a) => ({ endpoint: a.client.endpoint, reason: a.reason ?? "no answer", error: a.error }));
    if (reached.length === 0) {
      return { members: [], unreachable, uncovered: [], memberList: [], alarms: [], leaderId: undefined, revision: 0 };
    }
    const [memberList, alarms] = await clusterWideFacts(reached.map((a) => a.client));
    const names = new Map(memberList.map((m) => [m.id, m.name]));
    const leaderId = reached.map((a) => a.status!.leaderId).find((id) => id !== "0");
    const members = reached.map(({ status, metrics }) => ({
      ...status!,
      metrics: metrics!,
      name: names.get(status!.id) || status!.id,
      isLeader: status!.id === leaderId,
    }));
    const reachedIds = new Set(members.map((m) => m.id));
    return {
      members,
      unreachable,
      // A member whose advertised client URL is listed but did not answer is down, not missing from the list.
      uncovered: memberList.filter(
        (m) => !m.isLearner && !reachedIds.has(m.id) && !m.clientUrls.some((url) => this.clients.has(url)),
      ),
      memberList,
      alarms,
      leaderId,
      revision: Math.max(...members.map((m) => m.revision)),
    };
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
  }
}

/** A preview's bound for each call to a member: long enough for a busy member, short enough for a preview. */
const PROBE_CALL_TIMEOUT_MS = 5_000;

/**
 * Reads the cluster with the access settings as given (each call bounded by a few seconds) and returns what they
 * get wrong, as {@link accessProblems} does, plus a user without etcd's root role: so a wrong CA, a missing client
 * certificate, a wrong password or a URL that is not etcd fails `pulumi preview`, before anything changes. A member
 * that is merely down is not a problem of the settings and is left to the run's health gate.
 */
export async function probeAccess(
  access: EtcdAccess,
  fieldOf: (endpoint: string) => string,
): Promise<{ field: string; reason: string }[]> {
  const session = new ClusterSession(access, {
    callTimeoutMs: PROBE_CALL_TIMEOUT_MS,
    callTimeoutBoundBy: "a preview's fixed 5s",
  });
  try {
    const observation = await session.observe();
    const problems = accessProblems(observation, fieldOf);
    const [answered] = observation.members;
    if (problems.length > 0 || answered === undefined) return problems;
    await session.client(answered.endpoint).requireRootRole("a preview changes nothing");
    return [];
  } catch (error) {
    if (!isAccessError(error)) throw error;
    const field = error.input === undefined || error.input === "endpoint" ? fieldOf(error.endpoint) : error.input;
    return [{ field, reason: `${error.endpoint}: ${error.detail}` }];
  } finally {
    session.close();
  }
}

/**
 * The member list and the alarms, from the first member that answers both. A member that answers Status may still
 * fail them: the alarm list goes through raft, which a member that has just come back from a partition cannot serve
 * until it hears from a leader again.
 */
async function clusterWideFacts(clients: readonly MemberClient[]): Promise<[ClusterMember[], Alarm[]]> {
  let lastError: unknown;
  for (const client of clients) {
    try {
      return await Promise.all([client.members(), client.alarms()]);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
