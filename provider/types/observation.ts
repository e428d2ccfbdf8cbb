/**
 * What one look at a cluster finds, as every layer reads it: the etcd clients fill it in, the planners and the
 * runs decide from it, the outputs are built from it. Types only; imports nothing outside this folder.
 */

/** What one member says about itself (Maintenance.Status), with numbers as numbers. */
export interface MemberStatus {
  readonly endpoint: string;
  /** Member ID as etcd prints it (hex, as in `etcdctl endpoint status`). */
  readonly id: string;
  /** Cluster ID (hex); the same on every member of one cluster. */
  readonly clusterId: string;
  readonly version: string;
  readonly dbSize: number;
  /** Bytes in use inside the DB file; `dbSize - dbSizeInUse` is what a defrag gives back. */
  readonly dbSizeInUse: number;
  readonly leaderId: string;
  readonly isLearner: boolean;
  /** The store's current revision. */
  readonly revision: number;
  readonly raftTerm: number;
  readonly raftIndex: number;
  /** Problems the member reports about itself, e.g. `etcdserver: mvcc: database space exceeded`. */
  readonly errors: readonly string[];
  /** The quota the member runs with, as its Status says (etcd 3.6+); undefined where only the metric tells. */
  readonly dbSizeQuota: number | undefined;
}

/** An alarm as raised on a member: `NOSPACE`, `CORRUPT`, or whatever a newer etcd adds. */
export interface Alarm {
  readonly memberId: string;
  readonly type: string;
}

/** An entry of the cluster's member list. */
export interface ClusterMember {
  readonly id: string;
  readonly name: string;
  readonly clientUrls: readonly string[];
  readonly peerUrls: readonly string[];
  readonly isLearner: boolean;
}

/** The few Prometheus metrics the project reads from a member's /metrics endpoint. */
export interface MemberMetrics {
  /** `etcd_server_quota_backend_bytes`: the quota in effect (etcd reports its 2 GiB default when the flag is 0). */
  readonly quotaBytes: number | undefined;
  /** `etcd_mvcc_db_total_size_in_bytes`: the size of the DB file. */
  readonly dbTotalBytes: number | undefined;
  /** `etcd_mvcc_db_total_size_in_use_in_bytes`: what is live; the rest is what a defrag gives back. */
  readonly dbInUseBytes: number | undefined;
  /** `process_start_time_seconds`: tells a restarted member from one that never went down. */
  readonly processStartTime: number | undefined;
  /**
   * etcd 3.6's `StopGRPCServiceOnDefrag` feature gate (`etcd_server_feature_enabled`): the member's gRPC health
   * service says NOT_SERVING while it defragments, so clients that check health move to another member. Undefined
   * when the member does not report its gates (before 3.6).
   */
  readonly stopsGrpcOnDefrag: boolean | undefined;
}

/** A member that answered, with what it said and its metrics. */
export interface ObservedMember extends MemberStatus {
  /** The member's name from the member list (`--name`). */
  readonly name: string;
  readonly isLeader: boolean;
  readonly metrics: MemberMetrics;
}

/** One look at the whole cluster through every endpoint. */
export interface ClusterObservation {
  /** Members that answered, in the order of the endpoints. */
  readonly members: readonly ObservedMember[];
  /** Endpoints that did not answer, with the reason and the error it came from. */
  readonly unreachable: readonly { readonly endpoint: string; readonly reason: string; readonly error?: unknown }[];
  /** Voting members in etcd's member list that no endpoint reached. */
  readonly uncovered: readonly ClusterMember[];
  readonly memberList: readonly ClusterMember[];
  readonly alarms: readonly Alarm[];
  readonly leaderId: string | undefined;
  /** The newest revision any member reported. */
  readonly revision: number;
}
