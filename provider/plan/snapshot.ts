import * as path from "path";
import { ClusterObservation, ObservedMember, votingMembers } from "../etcd/observation";
import { SnapshotSettings, TIME } from "../inputs/snapshot";

/** `{time}` as it is written: UTC, to the millisecond, in an order that sorts by name (`20261130T051200123Z`). */
function timeStamp(at: Date): string {
  return at.toISOString().replace(/[-:.]/g, "");
}

/** The file a snapshot taken at `at` goes to. */
export function snapshotPath(settings: SnapshotSettings, at: Date): string {
  return settings.path.replace(TIME, timeStamp(at));
}

/**
 * Which of a folder's file names to delete so that the newest `keep` snapshots of this path remain: only names the
 * path's pattern makes, so other files in the folder are never touched.
 */
export function snapshotsToDelete(settings: SnapshotSettings, names: readonly string[]): string[] {
  const [before, after] = path.basename(settings.path).split(TIME);
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`^${escape(before)}\\d{8}T\\d{9}Z${escape(after)}$`);
  const ours = names.filter((name) => pattern.test(name)).sort();
  return ours.slice(0, Math.max(0, ours.length - settings.keep));
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
