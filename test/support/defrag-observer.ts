import { setTimeout as sleep } from "timers/promises";
import { statusOf } from "./etcd";

/** What {@link DefragObserver} saw, read from etcd's Status, never from the provider. */
export interface DefragObservation {
  /** Members in the order their DB file shrank below half of its size at the start. */
  readonly shrinkOrder: readonly string[];
  /** For each member that shrank, the leader etcd named at that look. */
  readonly leaderAtShrink: ReadonlyMap<string, string | undefined>;
  readonly looks: number;
}

/**
 * Watches defragmentation from outside: every `intervalMs` it asks each member for its Status and notes when its DB
 * file shrinks below half of what it was at the start, and who leads then. Defrags a run paces apart
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
    for (const m of members) initial.set(m.name, (await statusOf(m.clientUrl)).dbSize);
    const shrinkOrder: string[] = [];
    const leaderAtShrink = new Map<string, string | undefined>();
    let looks = 0;
    while (!this.stopped) {
      const answers = await Promise.all(
        members.map((m) =>
          statusOf(m.clientUrl).then(
            (s) => ({ name: m.name, s }),
            () => undefined,
          ),
        ),
      );
      const leader = answers.find((a) => a?.s.isLeader)?.name;
      for (const answer of answers) {
        if (!answer || shrinkOrder.includes(answer.name)) continue;
        if (answer.s.dbSize < initial.get(answer.name)! / 2) {
          shrinkOrder.push(answer.name);
          leaderAtShrink.set(answer.name, leader);
        }
      }
      looks++;
      await sleep(intervalMs);
    }
    return { shrinkOrder, leaderAtShrink, looks };
  }
}
