import { setTimeout as sleep } from "timers/promises";
import type { SupervisedCluster } from "../../lab/supervisor";
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
}

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

  private constructor(cluster: SupervisedCluster, intervalMs: number) {
    this.done = this.watch(cluster, intervalMs);
  }

  static start(cluster: SupervisedCluster, intervalMs = 100): RollingObserver {
    return new RollingObserver(cluster, intervalMs);
  }

  async stop(): Promise<RollingObservation> {
    this.stopped = true;
    return this.done;
  }

  private async watch(cluster: SupervisedCluster, intervalMs: number): Promise<RollingObservation> {
    const members = cluster.lab.members.map((m) => ({ name: m.name, url: m.clientUrl }));
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
      const answers = await Promise.all(
        members.map((m) =>
          withBound(statusOf(m.url), STATUS_BOUND_MS).then(
            (s) => ({ ...m, s }),
            () => undefined,
          ),
        ),
      );
      mostUnanswered = Math.max(mostUnanswered, answers.filter((a) => a === undefined).length);
      leader = answers.find((a) => a?.s.isLeader)?.name ?? leader;
      looks++;
      await sleep(intervalMs);
    }
    return { restartOrder, leaderBeforeRestart, mostUnanswered, looks };
  }
}
