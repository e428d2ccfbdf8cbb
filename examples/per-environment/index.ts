import * as pulumi from "@pulumi/pulumi";
import type { EtcdCompactionArgs, TlsArgs } from "pulumi-etcd-quota";
import { EtcdCompaction, EtcdQuota } from "pulumi-etcd-quota";

/** One etcd member as Pulumi.<stack>.yaml lists it. */
interface MemberConfig {
  /** The machine to log in to over SSH. */
  readonly host: string;
  /** Its SSH port; default 22. */
  readonly port?: number;
  /** The member's client URL. */
  readonly endpoint: string;
  /** The machine's SSH host key, `ssh-ed25519 AAAA...` (`ssh-keyscan -t ed25519 <host>`). */
  readonly hostKey: string;
  /** The systemd unit that starts etcd with `--quota-backend-bytes`; default /etc/systemd/system/etcd.service. */
  readonly unitFile?: string;
}

const config = new pulumi.Config();
const members = config.requireObject<MemberConfig[]>("members");
const endpoints = members.map((member) => member.endpoint);
// Secret config stays secret: EtcdQuota stores `members` (which holds the key) and `tls` encrypted.
const privateKey = config.requireSecret("sshPrivateKey");
const tls = config.getSecretObject<TlsArgs>("tls");

const quota = new EtcdQuota("quota", {
  quota: config.require("quota"),
  members: members.map((member) => ({
    endpoint: member.endpoint,
    configFile: member.unitFile ?? "/etc/systemd/system/etcd.service",
    format: "systemd-unit",
    connection: {
      host: member.host,
      port: member.port,
      user: config.get("sshUser") ?? "root",
      privateKey,
      hostKey: member.hostKey,
    },
  })),
  tls,
  restartTimeout: config.get("restartTimeout") ?? "3m",
});

// Maintenance after the quota, so a cluster in NOSPACE first gets room and then is compacted and defragmented.
const compaction = new EtcdCompaction(
  "space",
  {
    endpoints,
    tls,
    ...config.getObject<Pick<EtcdCompactionArgs, "retainRevisions" | "defrag" | "when">>("compaction"),
  },
  { dependsOn: [quota] },
);

export const stack = pulumi.getStack();
export { endpoints };
/** The declared quota in bytes. */
export const quotaBytes = quota.quotaBytes;
/**
 * Each member's file and live quota. `quota.members` is secret because the `members` input carries the private key;
 * these fields carry none, so they are shown in the clear.
 */
export const memberQuotas = pulumi.unsecret(
  quota.members.apply((records) =>
    records.map(({ name, endpoint, configuredBytes, liveBytes, restarted }) => ({
      name,
      endpoint,
      configuredBytes,
      liveBytes,
      restarted,
    })),
  ),
);
/** What `pulumi up` would change on each member, as of the refresh. */
export const quotaPlan = quota.plan;
/** `up-to-date`, or `needed: <reasons>` when the refresh found NOSPACE, a full DB or much reclaimable space. */
export const maintenance = compaction.maintenance;
export const compactionPlan = compaction.plan;
export const reclaimedBytes = compaction.reclaimedBytes;
