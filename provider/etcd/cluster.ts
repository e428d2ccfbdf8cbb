import { isAccessError, MemberUnavailableError, QuotaReportsDisagreeError } from "../errors";
import type { EtcdAccess } from "../inputs/access";
import type { MemberClientOptions } from "./member";
import type { Alarm, ClusterMember } from "../types/observation";
import { MemberClient } from "./member";
import type { ClusterObservation } from "../types/observation";
import { accessProblems } from "../plan/cluster";
import type { ClusterApi } from "../run/seams";

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
          // Every message built from `unreachable` names the endpoint first: the reason alone, not the endpoint again.
          const reason =
            error instanceof MemberUnavailableError && error.endpoint === client.endpoint
              ? error.detail
              : error instanceof Error
                ? error.message
                : String(error);
          return { client, error, reason };
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

/**
 * How a preview (`check`) reads the cluster: each call bounded by a fixed 5 s, long enough for a busy member, short
 * enough for a preview, whatever `callTimeout` the run and the refresh are given.
 */
export const PREVIEW_CALLS: MemberClientOptions = {
  callTimeoutMs: 5_000,
  callTimeoutBoundBy: "a preview's fixed 5s",
};

/**
 * What the access settings get wrong, as {@link accessProblems} finds it in `observation`, plus a user without etcd's
 * root role (asked of the first member that answered): so a wrong CA, a missing client certificate, a wrong
 * password, a user who may not run maintenance or a URL that is not etcd fails `pulumi preview`, before anything
 * changes. A member that is merely down is not a problem of the settings and is left to the caller.
 */
export async function settingsProblems(
  session: ClusterSession,
  observation: ClusterObservation,
  fieldOf: (endpoint: string) => string,
): Promise<{ field: string; reason: string }[]> {
  const problems = accessProblems(observation, fieldOf);
  const [answered] = observation.members;
  if (problems.length > 0 || answered === undefined) return problems;
  try {
    await session.client(answered.endpoint).requireRootRole("a preview changes nothing");
    return [];
  } catch (error) {
    return [accessProblem(error, fieldOf)];
  }
}

/** An access error as a `check` failure on the input that fixes it; any other error is thrown on. */
function accessProblem(error: unknown, fieldOf: (endpoint: string) => string): { field: string; reason: string } {
  if (!isAccessError(error)) throw error;
  const field = error.input === undefined || error.input === "endpoint" ? fieldOf(error.endpoint) : error.input;
  return { field, reason: `${error.endpoint}: ${error.detail}` };
}

/**
 * EtcdCompaction's preview: reads the cluster with the access settings as given, and says what they get wrong.
 * `open` gives the session (the resource passes one shared with the other calls of its run).
 */
export async function probeAccess(
  access: EtcdAccess,
  fieldOf: (endpoint: string) => string,
  open: (access: EtcdAccess, options: MemberClientOptions) => ClusterSession = (a, o) => new ClusterSession(a, o),
): Promise<{ field: string; reason: string }[]> {
  const session = open(access, PREVIEW_CALLS);
  try {
    return await settingsProblems(session, await session.observe(), fieldOf);
  } catch (error) {
    return [accessProblem(error, fieldOf)];
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
