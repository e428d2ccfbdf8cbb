import { setTimeout as sleep } from "timers/promises";
import { metricOf, statusOf } from "./etcd";

/** etcd's own count of the defrags a member has run (a histogram's count, in every release since 3.4). */
const DEFRAG_COUNT = "etcd_disk_backend_defrag_duration_seconds_count";

/** How many defrags `endpoint` has run since it started, by its /metrics. */
export function defragCountOf(endpoint: string): Promise<number> {
  return metricOf(endpoint, DEFRAG_COUNT);
}

/** What {@link DefragObserver} saw, read from etcd's Status, never from the provider. */
export interface DefragObservation {
  /** Members in the order their DB file shrank below half of its size at the start. */
  readonly shrinkOrder: readonly string[];
  /** For each member that shrank, the leader etcd named at that look. */
  readonly leaderAtShrink: ReadonlyMap<string, string | undefined>;
  /** Members in the order etcd's count of their defrags rose (a member counted again appears again). */
  readonly defragOrder: readonly string[];
  /** For each entry of `defragOrder`, the leader etcd named at that look. */
  readonly leaderAtDefrag: readonly (string | undefined)[];
  /** Every member etcd named as leader at some look. */
  readonly leaders: ReadonlySet<string>;
  readonly looks: number;
}

/**
 * Watches defragmentation from outside: every `intervalMs` it asks each member for its Status and its /metrics, and
 * notes when its DB file shrinks below half of what it was at the start, when etcd's count of its defrags rises, and
 * who leads then. Defrags a run paces apart
 * (`pauseBetweenMembers`) cannot fall into one look.
 */
export class DefragObserver {
  private stopped = false;
  private readonly done: Promise<DefragObservation>;

  private constructor(members: readonly { name: string; clientUrl: string }[], intervalMs: number) {
    this.done = this.watch(members, intervalMs);
  }

  static start(members: readonly { name: string; clientUrl: string }[], intervalMs = 100): DefragObserver {
    return new DefragObserver(members, intervalMs);
  }

  async stop(): Promise<DefragObservation> {
    this.stopped = true;
    return this.done;
  }

  private async watch(
    members: readonly { name: string; clientUrl: string }[],
    intervalMs: number,
  ): Promise<DefragObservation> {
    const initial = new Map<string, number>();
    const counts = new Map<string, number>();
    for (const m of members) initial.set(m.name, (await statusOf(m.clientUrl)).dbSize);
    for (const m of members) counts.set(m.name, await defragCountOf(m.clientUrl));
    const shrinkOrder: string[] = [];
    const leaderAtShrink = new Map<string, string | undefined>();
    const defragOrder: string[] = [];
    const leaderAtDefrag: (string | undefined)[] = [];
    const leaders = new Set<string>();
    let looks = 0;
    // One look past the stop, so a defrag that ended just before it is counted.
    for (let last = false; !last;) {
      last = this.stopped;
      const answers = await Promise.all(
        members.map((m) =>
          Promise.all([statusOf(m.clientUrl), defragCountOf(m.clientUrl)]).then(
            ([s, count]) => ({ name: m.name, s, count }),
            () => undefined,
          ),
        ),
      );
      const leader = answers.find((a) => a?.s.isLeader)?.name;
      if (leader) leaders.add(leader);
      for (const answer of answers) {
        if (!answer) continue;
        // A restarted member counts from 0 again.
        const before = answer.count < counts.get(answer.name)! ? 0 : counts.get(answer.name)!;
        for (let i = before; i < answer.count; i++) {
          defragOrder.push(answer.name);
          leaderAtDefrag.push(leader);
        }
        counts.set(answer.name, answer.count);
      }
      for (const answer of answers) {
        if (!answer || shrinkOrder.includes(answer.name)) continue;
        if (answer.s.dbSize < initial.get(answer.name)! / 2) {
          shrinkOrder.push(answer.name);
          leaderAtShrink.set(answer.name, leader);
        }
      }
      looks++;
      if (!last) await sleep(intervalMs);
    }
    return { shrinkOrder, leaderAtShrink, defragOrder, leaderAtDefrag, leaders, looks };
  }
}
