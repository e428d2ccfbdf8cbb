/** A snapshot taken before a change, as both resources' outputs record it. Types only; imports nothing. */

/** A snapshot a run took, as its outputs record it. */
export interface SnapshotRecord {
  /** The file on the machine that ran Pulumi. */
  readonly path: string;
  /** The member it was streamed from. */
  readonly member: string;
  /**
   * The revision it holds, as `etcdutl snapshot status` reads it; without etcdutl, the member's revision when the
   * stream started (the snapshot holds at least that: etcd does not say which revision a stream holds).
   */
  readonly revision: number;
  readonly sizeBytes: number;
  /** SHA-256 of the whole file, to compare a copy against. */
  readonly sha256: string;
  /** When the stream started (UTC, ISO 8601). */
  readonly takenAt: string;
  /** How it was verified: etcd's own hash, and etcdutl's reading of it when etcdutl is installed. */
  readonly verifiedBy: string;
  /** Older snapshots of the same path deleted to keep the newest `keep`. */
  readonly deleted: readonly string[];
}
