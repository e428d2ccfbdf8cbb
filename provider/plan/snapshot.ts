import * as path from "path";
import type { ClusterObservation, ObservedMember } from "../types/observation";
import { votingMembers } from "./cluster";
import type { SnapshotSettings } from "../inputs/snapshot";
import { TIME } from "../inputs/snapshot";

/** `{time}` as it is written: UTC, to the millisecond, in an order that sorts by name (`20261130T051200123Z`). */
function timeStamp(at: Date): string {
  return at.toISOString().replace(/[-:.]/g, "");
}

/** The file a snapshot taken at `at` goes to. */
export function snapshotPath(settings: SnapshotSettings, at: Date): string {
  return settings.path.replace(TIME, timeStamp(at));
}

/**
 * Which of a folder's file names to delete so that the newest `keep` snapshots of this path remain, `written` (the
 * one just taken) always among them: only names the path's pattern makes, so other files in the folder are never
 * touched, and never `written`, even when the folder holds names that sort after it (a shared folder where another
 * user dropped `prod-29991231T000000000Z.db` would otherwise have it deleted as the oldest). The caller passes only
 * the names of files this provider could have written (see takeSnapshot).
 */
export function snapshotsToDelete(settings: SnapshotSettings, names: readonly string[], written: string): string[] {
  const [before, after] = path.basename(settings.path).split(TIME);
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`^${escape(before)}\\d{8}T\\d{9}Z${escape(after)}$`);
  const others = names.filter((name) => name !== written && pattern.test(name)).sort();
  return others.slice(0, Math.max(0, others.length - (settings.keep - 1)));
}

/**
 * The member a snapshot is streamed from: a follower, first by name, so the leader is not loaded with it; the leader
 * when it is the only member that answered.
 */
export function snapshotSource(observation: ClusterObservation): ObservedMember | undefined {
  const voters = votingMembers(observation);
  const followers = voters.filter((m) => !m.isLeader).sort((a, b) => a.name.localeCompare(b.name));
  return followers[0] ?? voters[0];
}

/** The plan's line for a snapshot of `member` to `file` (the path as given, `{time}` still in it, in a plan). */
export function describeSnapshot(member: string, file: string, keep: number): string {
  return `snapshot ${member} to ${file} (keeping the newest ${keep})`;
}
