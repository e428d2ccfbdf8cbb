import { formatDuration } from "../values/duration";
import { type Progress, sleep } from "./wait";

/** `pauseBetweenMembers`: lets the cluster settle (clients reconnect, followers catch up) before the next member. */
export async function pauseBetweenMembers(ms: number, done: string, next: string, progress: Progress): Promise<void> {
  if (ms <= 0) return;
  progress(`pause: ${formatDuration(ms)} after ${done} before ${next} (pauseBetweenMembers)`);
  await sleep(ms);
}
