import * as pulumi from "@pulumi/pulumi";
import type { MemberRecord } from "../provider/types/compaction";
import type { LiveMember as ProviderLiveMember } from "../provider/resources/compaction";
import type { SizeSample as ProviderSizeSample } from "../provider/plan/forecast";
import { providerShim, SECRET_OUTPUTS, withSecretCredentials } from "./shim";
import type { SnapshotArgs, SnapshotTaken } from "./snapshot";
import { snapshotInput } from "./snapshot";

/** PEM contents for TLS to etcd's client URLs. Pass file contents, not paths. */
export interface TlsArgs {
  /** CA certificate(s) that signed the members' server certificates. */
  readonly ca?: pulumi.Input<string>;
  /** Client certificate, for members started with `--client-cert-auth`. */
  readonly cert?: pulumi.Input<string>;
  /** The client certificate's private key. */
  readonly key?: pulumi.Input<string>;
}

/** When a member's defrag pays off. A member is defragmented when any threshold given is met. */
export interface DefragArgs {
  /** Reclaimable bytes at or above which to defragment: bytes, or a size such as "64MiB", "64Mi", "64MB". */
  readonly minFreeBytes?: pulumi.Input<number | string>;
  /** Reclaimable share of the DB file, 0..1, at or above which to defragment. */
  readonly minFragmentation?: pulumi.Input<number>;
}

/** What counts as drift: when any condition given holds, a refresh reports that maintenance is needed. */
export interface WhenArgs {
  /** A NOSPACE alarm is raised on any member. */
  readonly noSpaceAlarm?: pulumi.Input<boolean>;
  /** Some member's DB file is above this share (0..1) of its quota. */
  readonly quotaUsageAbove?: pulumi.Input<number>;
  /** Some member's DB file holds more than this many reclaimable bytes: bytes or a size such as "256MiB". */
  readonly freeBytesAbove?: pulumi.Input<number | string>;
  /**
   * The forecast (see `forecast`) says the largest DB file reaches its quota within this long: seconds or "7d",
   * "36h". Off unless given. Its readings are kept by `pulumi refresh`, not by a preview's refresh: schedule both.
   */
  readonly fullWithin?: pulumi.Input<number | string>;
}

export interface EtcdCompactionArgs {
  /**
   * Every voting member's client URL, e.g. `https://10.0.0.1:2379`, each once, at most 16. Maintenance refuses to run
   * while one is missing.
   */
  readonly endpoints: pulumi.Input<pulumi.Input<string>[]>;
  /** TLS material for https endpoints. Secret. */
  readonly tls?: pulumi.Input<TlsArgs>;
  /** etcd user when auth is enabled; maintenance needs the root role. */
  readonly username?: pulumi.Input<string>;
  /** Password of `username`. Secret. */
  readonly password?: pulumi.Input<string>;
  /**
   * Send `username` and `password` to `http://` endpoints anyway: they, and the token etcd answers with, cross the
   * network in cleartext. Without it `check` refuses credentials over http://.
   * @default false
   */
  readonly allowInsecureCredentials?: pulumi.Input<boolean>;
  /** Keep the newest N revisions readable; 0 (the default) compacts to the current revision, as the runbook does. */
  readonly retainRevisions?: pulumi.Input<number>;
  /** When to defragment a member; `false` never does. Default: 64MiB reclaimable or 20% of the file. */
  readonly defrag?: pulumi.Input<DefragArgs | false>;
  /** Hand leadership to a follower before defragmenting the leader. Default true. */
  readonly moveLeader?: pulumi.Input<boolean>;
  /** Disarm NOSPACE once every member is below `disarmBelow` (90%) of its quota. Default true. */
  readonly disarmNoSpace?: pulumi.Input<boolean>;
  /** What a refresh counts as drift. Default: a NOSPACE alarm, usage above 0.8 of the quota, or 256MiB reclaimable. */
  readonly when?: pulumi.Input<WhenArgs>;
  /** Any change to these values runs maintenance again. */
  readonly triggers?: pulumi.Input<unknown[]>;
  /** How long to wait while another run holds the cluster lock: seconds or "90s", "2m". Default "2m". */
  readonly lockTimeout?: pulumi.Input<number | string>;
  /** Take a snapshot before compacting, and keep the newest few. Default: none. */
  readonly snapshot?: pulumi.Input<SnapshotArgs>;
  /**
   * Disarm NOSPACE only once every member's DB is below this share of its quota, above 0 and at most 1, so the alarm
   * does not come straight back.
   * @default 0.9
   */
  readonly disarmBelow?: pulumi.Input<number>;
  /**
   * A wait after each member's defrag before the next member's, for the cluster to settle: seconds or "30s", "2m",
   * from 0 (no pause) to 1h.
   * @default none
   */
  readonly pauseBetweenMembers?: pulumi.Input<number | string>;
  /**
   * The bound on connecting to a member and on each call to it (a defrag's and a compaction's grow with the DB size):
   * seconds or "10s", 1s to 10m.
   * @default "10s"
   */
  readonly callTimeout?: pulumi.Input<number | string>;
}

/** One member as the last run left it. */
export type CompactedMember = MemberRecord;

/** One member as the last refresh saw it. */
export type LiveMember = ProviderLiveMember;

/** One refresh's reading of the largest DB file and the smallest quota. */
export type SizeSample = ProviderSizeSample;

/**
 * The etcd NOSPACE runbook as a resource: compact, defragment member by member (followers first, the leader last
 * after moving leadership away), and disarm NOSPACE. Creating it runs maintenance; a refresh that finds a `when`
 * condition holding makes the next `pulumi up` run it again. Deleting it changes nothing on the cluster.
 */
export class EtcdCompaction extends pulumi.dynamic.Resource {
  /** ID of the cluster maintained (hex). */
  declare readonly clusterId: pulumi.Output<string>;
  /** The revision the last run compacted to, or null when there was nothing to compact. */
  declare readonly compactedRevision: pulumi.Output<number | null>;
  /** Bytes the last run gave back to the file system, summed over members. */
  declare readonly reclaimedBytes: pulumi.Output<number>;
  /** Alarms the last run disarmed, e.g. `NOSPACE on m1`. */
  declare readonly alarmsDisarmed: pulumi.Output<string[]>;
  /** What the last run did to each member. */
  declare readonly members: pulumi.Output<CompactedMember[]>;
  /** The steps the last run carried out, in order, worded as `plan` words them. */
  declare readonly executed: pulumi.Output<string[]>;
  /** `up-to-date`, or `needed: <reasons>` when a `when` condition held at the last refresh. */
  declare readonly maintenance: pulumi.Output<string>;
  /** The steps a run would take as of the last refresh, in order. */
  declare readonly plan: pulumi.Output<string[]>;
  /** Each member's sizes and quota as of the last refresh. */
  declare readonly liveMembers: pulumi.Output<LiveMember[]>;
  /** Alarms raised at the last refresh. */
  declare readonly alarms: pulumi.Output<string[]>;
  /**
   * When the largest DB file reaches its quota at the rate the refreshes since the last run show (a least-squares
   * line, as the etcd-mixin's `predict_linear`), or why that cannot be said yet.
   */
  declare readonly forecast: pulumi.Output<string>;
  /** The size readings of the refreshes since the last run, the newest last. */
  declare readonly sizeSamples: pulumi.Output<SizeSample[]>;
  /** The snapshot the last run took before compacting, or null when `snapshot` is not set. */
  declare readonly snapshotTaken: pulumi.Output<SnapshotTaken | null>;

  constructor(name: string, args: EtcdCompactionArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerShim("compaction"),
      name,
      {
        ...withSecretCredentials(args),
        snapshot: snapshotInput(args.snapshot, name),
        // Dynamic providers are never told the URN: with the name, their progress lines say which resource they are.
        resourceName: name,
        clusterId: undefined,
        compactedRevision: undefined,
        reclaimedBytes: undefined,
        alarmsDisarmed: undefined,
        members: undefined,
        executed: undefined,
        maintenance: undefined,
        plan: undefined,
        liveMembers: undefined,
        alarms: undefined,
        snapshotTaken: undefined,
        forecast: undefined,
        sizeSamples: undefined,
      },
      pulumi.mergeOptions(opts, { additionalSecretOutputs: SECRET_OUTPUTS.compaction }),
      "etcd-quota",
      "EtcdCompaction",
    );
  }
}
