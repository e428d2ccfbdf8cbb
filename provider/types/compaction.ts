/** What an EtcdCompaction run did: the record its outputs keep. Types only; imports nothing outside this folder. */
import type { SnapshotRecord } from "./snapshot";

/** What one run did to one member: the audit record kept in the resource's outputs. */
export interface MemberRecord {
  readonly name: string;
  readonly id: string;
  readonly endpoint: string;
  readonly leader: boolean;
  readonly learner: boolean;
  readonly dbSizeBefore: number;
  readonly dbSizeAfter: number;
  readonly dbSizeInUse: number;
  /** The quota the member reports in effect (`etcd_server_quota_backend_bytes`). */
  readonly quotaBytes: number | null;
  readonly defragmented: boolean;
  /** Why the member was or was not defragmented. */
  readonly reason: string;
}

/** What one run did to the cluster, as the outputs keep it. */
export interface CompactionRecord {
  readonly clusterId: string;
  /** The revision compacted to, or null when there was nothing to compact. */
  readonly compactedRevision: number | null;
  /** Sum over members of what their DB files shrank by. */
  readonly reclaimedBytes: number;
  /** `NOSPACE on m1`, one per alarm disarmed. */
  readonly alarmsDisarmed: readonly string[];
  readonly members: readonly MemberRecord[];
  /** The steps the run carried out, in order, as its plan prints them. */
  readonly executed: readonly string[];
  /**
   * The snapshot taken before compacting, or null when `snapshot` is not set. Not `snapshot`: that name is the
   * input, kept in the state as given.
   */
  readonly snapshotTaken: SnapshotRecord | null;
}
