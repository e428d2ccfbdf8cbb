import * as pulumi from "@pulumi/pulumi";
import type { ConfigFormat } from "../provider/config";
import { validateMemberList } from "../provider/inputs/access";
import type { QuotaMemberRecord } from "../provider/types/quota";
import type { TlsArgs } from "./compaction";
import { providerShim, SECRET_OUTPUTS, withSecretCredentials } from "./shim";
import type { SnapshotArgs, SnapshotTaken } from "./snapshot";
import { snapshotInput } from "./snapshot";

/** How to reach a member's host over SSH; the same shape as @pulumi/command's `remote.ConnectionArgs`. */
export interface ConnectionArgs {
  /** Host name or IP address of the member's host. Required. */
  readonly host: pulumi.Input<string>;
  /** Default 22. */
  readonly port?: pulumi.Input<number>;
  /** Default root; other users need passwordless sudo (`sudo -n`). */
  readonly user?: pulumi.Input<string>;
  /** OpenSSH or PEM private key contents. Secret. */
  readonly privateKey?: pulumi.Input<string>;
  /** Passphrase of an encrypted private key. Secret. */
  readonly privateKeyPassword?: pulumi.Input<string>;
  /** Password authentication. Secret. */
  readonly password?: pulumi.Input<string>;
  /** The host's public key (`ssh-ed25519 AAAA...`, as `ssh-keyscan -t ed25519 HOST` prints it). This or knownHosts is required. */
  readonly hostKey?: pulumi.Input<string>;
  /** known_hosts text to verify the host key against. */
  readonly knownHosts?: pulumi.Input<string>;
  /** Run file reads, file writes and the restart command through `sudo -n`. Default: when the user is not root. */
  readonly sudo?: pulumi.Input<boolean>;
  /**
   * Seconds to connect, exchange keys and log in: a number (`15`, `7.5`), not a duration text such as "15s", as
   * @pulumi/command's `perDialTimeout`. Default 15.
   */
  readonly dialTimeout?: pulumi.Input<number>;
  /** `dialTimeout` under @pulumi/command's name (seconds, a number); give one or the other. */
  readonly perDialTimeout?: pulumi.Input<number>;
  /** An SSH agent's socket (e.g. `$SSH_AUTH_SOCK`) to log in with, instead of or besides `privateKey`. */
  readonly agentSocketPath?: pulumi.Input<string>;
  /** A jump host to connect through (`ssh -J`). Its credentials are secret too. */
  readonly proxy?: pulumi.Input<ProxyConnectionArgs>;
}

/** A jump host, as @pulumi/command's `remote.ProxyConnectionArgs`: it only forwards, so no `sudo` and no `proxy`. */
export type ProxyConnectionArgs = Omit<ConnectionArgs, "sudo" | "proxy">;

/** One etcd member: where it answers, and where its quota is configured. */
export interface QuotaMemberArgs {
  /** This member's client URL, e.g. `https://10.0.0.1:2379`. */
  readonly endpoint: pulumi.Input<string>;
  /** Absolute path of the file that sets the member's quota. */
  readonly configFile: pulumi.Input<string>;
  /**
   * "systemd-unit" | "env-file" | "etcd-config" | "kubeadm-manifest" | "k3s-config" (a k3s or RKE2 server's
   * config.yaml). Default: told by the file's content (`[Service]`/`ExecStart=`, `kind: Pod`, etcd's or k3s's YAML
   * keys, `ETCD_*=` lines), else by its name where the content cannot tell (an empty `*.service`, an `*.env` of
   * assignments, `/etc/rancher/{k3s,rke2}/config.yaml`). A format the content contradicts is refused.
   */
  readonly format?: pulumi.Input<ConfigFormat>;
  /**
   * One line of shell that restarts the member, run on its host, bounded by `restartTimeout`. Default:
   * `systemctl daemon-reload && systemctl restart -- '<unit>'` for a systemd unit (a drop-in's: the unit it extends), `systemctl restart etcd` for an env file or etcd config file, none for a kubeadm manifest
   * (the kubelet restarts the pod when the manifest changes), `systemctl restart k3s` (`rke2-server` for a file
   * under /etc/rancher/rke2) for a k3s config.
   */
  readonly restartCommand?: pulumi.Input<string>;
  /** The member's host over SSH; absent means the machine running Pulumi. */
  readonly connection?: pulumi.Input<ConnectionArgs>;
}

export interface EtcdQuotaArgs {
  /**
   * The space quota for every member: bytes, or a size such as "8GiB", "8Gi" (both 8 x 1024^3) or "8GB" (8 x 1000^3).
   * Above zero, above every member's DB size, and at most 8 GiB unless `allowAboveRecommended`.
   */
  readonly quota: pulumi.Input<number | string>;
  /** Every voting member of the cluster, at most 16; each member and each file once. */
  readonly members: pulumi.Input<pulumi.Input<QuotaMemberArgs>[]>;
  /** TLS material for https endpoints. Secret. */
  readonly tls?: pulumi.Input<TlsArgs>;
  /** etcd user when auth is enabled; moving leadership and disarming alarms need the root role. */
  readonly username?: pulumi.Input<string>;
  /** Password of `username`. Secret. */
  readonly password?: pulumi.Input<string>;
  /**
   * Send `username` and `password` to `http://` endpoints anyway: they, and the token etcd answers with, cross the
   * network in cleartext. Without it `check` refuses credentials over http://.
   * @default false
   */
  readonly allowInsecureCredentials?: pulumi.Input<boolean>;
  /** Allow a quota above the 8 GiB etcd suggests at most. Default false. */
  readonly allowAboveRecommended?: pulumi.Input<boolean>;
  /** How long one member may take to come back after its restart: seconds or "90s", "3m". Default "3m". */
  readonly restartTimeout?: pulumi.Input<number | string>;
  /** Disarm NOSPACE once the new quota leaves every member below `disarmBelow` (90%) of it. Default true. */
  readonly disarmNoSpace?: pulumi.Input<boolean>;
  /** How long to wait while another run holds the cluster lock: seconds or "90s", "2m". Default "2m". */
  readonly lockTimeout?: pulumi.Input<number | string>;
  /** Take a snapshot before the first restart (none when no member needs one), and keep the newest few. Default: none. */
  readonly snapshot?: pulumi.Input<SnapshotArgs>;
  /**
   * Disarm NOSPACE only once every member's DB is below this share of its quota, above 0 and at most 1, so the alarm
   * does not come straight back.
   * @default 0.9
   */
  readonly disarmBelow?: pulumi.Input<number>;
  /**
   * A wait after each member's restart before the next member's, for the cluster to settle: seconds or "30s", "2m",
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
  /**
   * How many backups of each config file to keep (`<file>.bak-<UTC time>`), 1 to 100: after writing a file, the run
   * deletes its older backups beyond this many, the one it just made included.
   * @default 5
   */
  readonly keepBackups?: pulumi.Input<number>;
}

/** One member as the last update or refresh found it. */
export type QuotaMemberState = QuotaMemberRecord;

/**
 * The engine keeps secrecy per top-level input, so a private key or password anywhere in `members` makes the whole
 * list secret; otherwise it would sit in the state in plaintext.
 */
function secretIfCredentials(
  members: EtcdQuotaArgs["members"],
): pulumi.Output<pulumi.Unwrap<EtcdQuotaArgs["members"]>> {
  return pulumi.output(members).apply((list) => {
    // A computed value that is not a list goes on as it is, for `check` to refuse with its message.
    if (!Array.isArray(list)) return pulumi.output(list);
    const holdsCredentials = (
      c: { privateKey?: unknown; password?: unknown; privateKeyPassword?: unknown } | undefined,
    ) => Boolean(c?.privateKey || c?.password || c?.privateKeyPassword);
    const credentials = list.some((m) => holdsCredentials(m?.connection) || holdsCredentials(m?.connection?.proxy));
    return credentials ? pulumi.secret(list) : pulumi.output(list);
  });
}

/**
 * etcd's space quota (`--quota-backend-bytes`) as a declared value: edits each member's config file, restarts the
 * members one at a time (followers first, the leader last), verifies the new quota is live, and rolls a member back
 * when it does not come back. A refresh reports the live quota, so a change made by hand shows as drift. Deleting
 * the resource leaves every member's quota as it is.
 */
export class EtcdQuota extends pulumi.dynamic.Resource {
  /** The declared quota in bytes. */
  declare readonly quotaBytes: pulumi.Output<number>;
  /** Each member's file and live quota, and whether the last update restarted it. */
  declare readonly members: pulumi.Output<QuotaMemberState[]>;
  /** Alarms the last update disarmed, e.g. `NOSPACE on m1`. */
  declare readonly alarmsDisarmed: pulumi.Output<string[]>;
  /** What an update would do to each member, as of the last refresh. */
  declare readonly plan: pulumi.Output<string[]>;
  /** The snapshot the last update took before its first restart, or null. */
  declare readonly snapshotTaken: pulumi.Output<SnapshotTaken | null>;

  constructor(name: string, args: EtcdQuotaArgs, opts?: pulumi.CustomResourceOptions) {
    // A list given as a plain value is checked before anything is serialized, with `check`'s own message.
    if (!pulumi.Output.isInstance(args.members) && !(args.members instanceof Promise)) {
      validateMemberList(args.members);
    }
    super(
      providerShim("quota"),
      name,
      {
        ...withSecretCredentials(args),
        members: secretIfCredentials(args.members),
        snapshot: snapshotInput(args.snapshot, name),
        // Dynamic providers are never told the URN: with the name, their progress lines say which resource they are.
        resourceName: name,
        quotaBytes: undefined,
        alarmsDisarmed: undefined,
        plan: undefined,
        memberSpecs: undefined,
        snapshotTaken: undefined,
      },
      pulumi.mergeOptions(opts, { additionalSecretOutputs: SECRET_OUTPUTS.quota }),
      "etcd-quota",
      "EtcdQuota",
    );
  }
}
