/** What an EtcdQuota change did: the records its outputs keep. Types only; imports nothing outside this folder. */
import type { SnapshotRecord } from "./snapshot";

/** What the change did to one member: the outputs' per-member record. */
export interface QuotaMemberRecord {
  readonly endpoint: string;
  readonly name: string | null;
  readonly configFile: string;
  // A string, not ConfigFormat: this room imports nothing, and the format registry (provider/config/) names them.
  /** The file's format, one of the `format` input's values. */
  readonly format: string;
  /** Whether the file was read and understood; when not, `configuredBytes` is null for want of it. */
  readonly fileRead: boolean;
  /** What the file says now; null when it sets no quota (etcd's 2 GiB default) or was not read. */
  readonly configuredBytes: number | null;
  /** What the running member reports now. */
  readonly liveBytes: number | null;
  readonly restarted: boolean;
  /** Where the previous file was kept, when this run wrote it. */
  readonly backupPath: string | null;
}

export interface QuotaRecord {
  readonly quotaBytes: number;
  readonly members: readonly QuotaMemberRecord[];
  readonly alarmsDisarmed: readonly string[];
  /** The snapshot taken before the first restart, or null (no `snapshot`, or nothing to restart). */
  readonly snapshot: SnapshotRecord | null;
}
