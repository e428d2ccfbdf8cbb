/**
 * What the runs (compaction.ts, quota.ts) reach the cluster and the members' machines through. The real classes
 * implement these (MemberClient, ClusterSession, acquireClusterLock, HostPool); the unit tests pass small in-memory
 * fakes, so the order, resume, rollback and refusal decisions are tested without etcd. Types only: this module loads
 * nothing.
 */
import type { Alarm, MemberStatus } from "../types/observation";
import type { MemberMetrics } from "../types/observation";
import type { ClusterObservation } from "../types/observation";
import type { ClusterLock, LockOptions } from "../etcd/lock";
import type { Host } from "../hosts/host";
import type { EtcdAccess } from "../inputs/access";
import type { MemberSpec } from "../inputs/quota";
import type { Progress } from "./wait";

/** The calls a run makes to one member. Each throws the member's error class (errors.ts) when it fails. */
export interface MemberApi {
  /** The client URL this talks to, as given in the inputs. */
  readonly endpoint: string;
  /** The member's Status: its ID, leader, revision, DB sizes. */
  status(): Promise<MemberStatus>;
  /** Status and metrics read together, so a quota and a DB size come from one moment. */
  statusAndMetrics(): Promise<{ status: MemberStatus; metrics: MemberMetrics }>;
  /** The metrics alone (quota in effect, process start time), each call bounded by `timeoutMs` when given. */
  metrics(timeoutMs?: number): Promise<MemberMetrics>;
  /** The alarms raised anywhere in the cluster, as this member knows them. */
  alarms(): Promise<Alarm[]>;
  /** Lifts the NOSPACE alarm raised on `memberId`, and no other alarm. */
  disarmNoSpace(memberId: string): Promise<void>;
  /** A physical compaction to `revision`, within `timeoutMs` (set by `boundBy`, for the message when it runs out). */
  compact(revision: number, timeoutMs: number, boundBy?: string): Promise<void>;
  /** A lease of `ttlSeconds`; resolves with its ID. */
  grantLease(ttlSeconds: number): Promise<string>;
  revokeLease(id: string): Promise<void>;
  /** Defragments this member only, within `timeoutMs` (set by `boundBy`, for the message when it runs out). */
  defragment(timeoutMs: number, boundBy?: string): Promise<void>;
  /** Asks this member, the leader, to hand leadership to `targetId` (`targetName` and `boundBy` for messages). */
  moveLeader(targetId: string, timeoutMs: number, targetName?: string, boundBy?: string): Promise<void>;
  /** Streams the member's database to `write`; gives up when nothing arrives for `stallMs`. */
  snapshot(write: (chunk: Buffer, remainingBytes: number) => Promise<void>, stallMs: number): Promise<void>;
}

/** One client per endpoint for the length of a run, and a look at the whole cluster through them. */
export interface ClusterApi {
  /** Every endpoint's client, in the order of the endpoints. */
  readonly clients: ReadonlyMap<string, MemberApi>;
  /** The client of `endpoint`; throws for an endpoint not in the inputs. */
  client(endpoint: string): MemberApi;
  /** Asks every member at once; a member that does not answer is recorded in `unreachable`, not thrown. */
  observe(): Promise<ClusterObservation>;
}

/** Takes the cluster-wide lock a run holds from start to end; acquireClusterLock (etcd/lock.ts) takes it in etcd. */
export type TakeLock = (access: EtcdAccess, options: LockOptions, progress: Progress) => Promise<ClusterLock>;

/** The machine each member of EtcdQuota's `members` runs on, for its file and its restart command. */
export interface HostSource {
  /** The member's host; a source may hand one connection to several members. */
  for(spec: MemberSpec): Promise<Host>;
}

/** What a run is given besides its session and settings; each is the real one when left out. */
export interface RunSeams {
  /** How the cluster lock is taken; by default acquireClusterLock, a lease in etcd. */
  readonly takeLock?: TakeLock;
}
