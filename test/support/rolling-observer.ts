import { setTimeout as sleep } from "timers/promises";
import { gauge, type SupervisedCluster } from "../../lab/supervisor";
import { statusOf } from "./etcd";

/** What {@link RollingObserver} saw, read from the processes and from etcd, never from the provider. */
export interface RollingObservation {
  /** Members in the order their process was replaced. */
  readonly restartOrder: readonly string[];
  /** For each restarted member, the leader etcd named at the last look before its process was replaced. */
  readonly leaderBeforeRestart: ReadonlyMap<string, string | undefined>;
  /** The most members that did not answer Status at one look. */
  readonly mostUnanswered: number;
  /** How many looks were taken (a run that outpaced the observer would show few). */
  readonly looks: number;
  /**
   * Per member, each stretch it did not answer: from the first look it failed to the first look it answered again
   * (milliseconds since the epoch); a stretch still open when the observer stopped has no `to`.
   */
  readonly outages: ReadonlyMap<string, readonly { readonly from: number; readonly to?: number }[]>;
}

/** How a look asks a member: Status on its client URL (plain http), or its plain-http /metrics (also under TLS). */
export type RollingProbe = "status" | "metrics";

/** How long one Status may take before its member counts as not answering. */
const STATUS_BOUND_MS = 2_000;

function withBound<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Watches a rolling change from outside: every `intervalMs` it asks each member for its Status (who leads, who
 * answers) and reads each member's pid from the supervisor, so a test can check the order of the restarts, that the
 * leader handed leadership away before its own, and that at most one member was down at a time.
 */
export class RollingObserver {
  private stopped = false;
  private readonly done: Promise<RollingObservation>;

  private constructor(cluster: SupervisedCluster, intervalMs: number, probe: RollingProbe) {
    this.done = this.watch(cluster, intervalMs, probe);
  }

  static start(cluster: SupervisedCluster, intervalMs = 100, probe: RollingProbe = "status"): RollingObserver {
    return new RollingObserver(cluster, intervalMs, probe);
  }

  async stop(): Promise<RollingObservation> {
    this.stopped = true;
    return this.done;
  }

  private async watch(
    cluster: SupervisedCluster,
    intervalMs: number,
    probe: RollingProbe,
  ): Promise<RollingObservation> {
    const members = cluster.lab.members.map((m) => ({ name: m.name, url: m.clientUrl, metricsUrl: m.metricsUrl }));
    const outages = new Map<string, { from: number; to?: number }[]>(members.map((m) => [m.name, []]));
    const isLeader = async (m: (typeof members)[number]): Promise<boolean> => {
      if (probe === "status") return (await statusOf(m.url)).isLeader;
      const value = await gauge(m.metricsUrl, "etcd_server_is_leader", STATUS_BOUND_MS);
      if (value === undefined) throw new Error(`${m.name}: no metrics`);
      return value === 1;
    };
    const pids = new Map(members.map((m) => [m.name, cluster.pid(m.name)]));
    const restartOrder: string[] = [];
    const leaderBeforeRestart = new Map<string, string | undefined>();
    let leader: string | undefined;
    let mostUnanswered = 0;
    let looks = 0;
    while (!this.stopped) {
      for (const { name } of members) {
        const pid = cluster.pid(name);
        if (pid !== undefined && pid !== pids.get(name)) {
          pids.set(name, pid);
          restartOrder.push(name);
          leaderBeforeRestart.set(name, leader);
        }
      }
      const lookedAt = Date.now();
      const answers = await Promise.all(
        members.map((m) =>
          withBound(isLeader(m), STATUS_BOUND_MS).then(
            (leads) => ({ ...m, leads }),
            () => undefined,
          ),
        ),
      );
      for (const [i, { name }] of members.entries()) {
        const stretches = outages.get(name)!;
        const open = stretches.at(-1)?.to === undefined ? stretches.at(-1) : undefined;
        if (answers[i] === undefined && open === undefined) stretches.push({ from: lookedAt });
        if (answers[i] !== undefined && open !== undefined) open.to = lookedAt;
      }
      mostUnanswered = Math.max(mostUnanswered, answers.filter((a) => a === undefined).length);
      leader = answers.find((a) => a?.leads)?.name ?? leader;
      looks++;
      await sleep(intervalMs);
    }
    return { restartOrder, leaderBeforeRestart, mostUnanswered, looks, outages };
  }
}
