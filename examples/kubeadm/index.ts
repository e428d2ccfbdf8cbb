import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction, EtcdQuota } from "pulumi-etcd-quota";

/** One kubeadm control-plane node, which runs an etcd member as a static pod. */
interface ControlPlaneNode {
  /** The node's name, for the outputs. */
  readonly name: string;
  /** The address etcd advertises (`--advertise-client-urls=https://<ip>:2379`) and SSH listens on. */
  readonly ip: string;
  /** The node's SSH host key, `ssh-ed25519 AAAA...` (`ssh-keyscan -t ed25519 <ip>`). */
  readonly hostKey: string;
  /** etcd's static pod manifest, when the kubelet's `staticPodPath` is not kubeadm's default; see MANIFEST. */
  readonly manifest?: string;
}

/** Where kubeadm writes etcd's static pod manifest; the kubelet restarts the pod when it changes. */
const MANIFEST = "/etc/kubernetes/manifests/etcd.yaml";

const config = new pulumi.Config();
const nodes = config.requireObject<ControlPlaneNode[]>("controlPlane");
const privateKey = config.requireSecret("sshPrivateKey");
// kubeadm's etcd requires client certificates (--client-cert-auth=true). These are the contents of
// /etc/kubernetes/pki/etcd/ca.crt, healthcheck-client.crt and healthcheck-client.key on a control-plane node.
const tls = config.requireSecretObject<{ ca: string; cert: string; key: string }>("tls");
const endpoints = nodes.map((node) => `https://${node.ip}:2379`);

const quota = new EtcdQuota("quota", {
  quota: config.require("quota"),
  members: nodes.map((node) => ({
    endpoint: `https://${node.ip}:2379`,
    configFile: node.manifest ?? MANIFEST,
    format: "kubeadm-manifest",
    // No restartCommand: the kubelet restarts the etcd pod by itself once the manifest changes.
    connection: {
      host: node.ip,
      user: config.get("sshUser") ?? "root",
      privateKey,
      hostKey: node.hostKey,
    },
  })),
  tls,
});

// Maintenance after the quota, so a cluster in NOSPACE first gets room and then is compacted and defragmented.
const compaction = new EtcdCompaction("space", { endpoints, tls }, { dependsOn: [quota] });

export { endpoints };
/** The declared quota in bytes. */
export const quotaBytes = quota.quotaBytes;
/**
 * Each node's manifest and live quota. `quota.members` is secret because the `members` input carries the private
 * key; these fields carry none, so they are shown in the clear.
 */
export const memberQuotas = pulumi.unsecret(
  quota.members.apply((records) =>
    records.map((record) => ({
      node: nodes.find((node) => `https://${node.ip}:2379` === record.endpoint)?.name,
      member: record.name,
      configuredBytes: record.configuredBytes,
      liveBytes: record.liveBytes,
      restarted: record.restarted,
    })),
  ),
);
/** What `pulumi up` would change on each node, as of the refresh. */
export const quotaPlan = quota.plan;
/** `up-to-date`, or `needed: <reasons>` when the refresh found NOSPACE, a full DB or much reclaimable space. */
export const maintenance = compaction.maintenance;
export const compactionPlan = compaction.plan;
