import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction, EtcdQuota } from "pulumi-etcd-quota";

// Quick start: docs/quickstart-kubeadm.md. Each control-plane node: { ip, hostKey } (`ssh-keyscan -t ed25519 <ip>`).
const config = new pulumi.Config();
const nodes = config.requireObject<{ ip: string; hostKey: string; manifest?: string }[]>("controlPlane");
const privateKey = config.requireSecret("sshPrivateKey");
// kubeadm's etcd wants a client certificate: /etc/kubernetes/pki/etcd/{ca.crt,healthcheck-client.crt,.key}.
const tls = config.requireSecretObject<{ ca: string; cert: string; key: string }>("tls");
const endpoints = nodes.map((node) => `https://${node.ip}:2379`);

const quota = new EtcdQuota("quota", {
  quota: config.get("quota") ?? "8GiB",
  tls,
  members: nodes.map((node, i) => ({
    endpoint: endpoints[i],
    // The kubelet restarts etcd's static pod when its manifest changes: no restart command.
    configFile: node.manifest ?? "/etc/kubernetes/manifests/etcd.yaml",
    format: "kubeadm-manifest",
    connection: { host: node.ip, user: config.get("sshUser") ?? "root", privateKey, hostKey: node.hostKey },
  })),
  snapshot: { path: "snapshots/{stack}-{time}.db" },
});

// Keep the kube-apiserver's watch window: compacting to the current revision (retainRevisions 0) would make every
// watcher behind it re-list. The apiserver compacts every 5 minutes itself; keep more than 5 minutes of writes.
const retainRevisions = config.getNumber("retainRevisions") ?? 100_000;
new EtcdCompaction("space", { endpoints, tls, retainRevisions }, { dependsOn: [quota] });

export const quotaBytes = quota.quotaBytes;
