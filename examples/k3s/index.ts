import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction, EtcdQuota } from "pulumi-etcd-quota";

// Quick start: docs/quickstart-k3s.md. Each server node: { ip, hostKey } (`ssh-keyscan -t ed25519 <ip>`).
const config = new pulumi.Config();
const servers = config.requireObject<{ ip: string; hostKey: string; configFile?: string }[]>("servers");
const privateKey = config.requireSecret("sshPrivateKey");
// The embedded etcd's CA and client certificate: /var/lib/rancher/k3s/server/tls/etcd/{server-ca.crt,client.crt,
// client.key} (RKE2: /var/lib/rancher/rke2/server/tls/etcd/).
const tls = config.requireSecretObject<{ ca: string; cert: string; key: string }>("tls");
const endpoints = servers.map((server) => `https://${server.ip}:2379`);

const quota = new EtcdQuota("quota", {
  quota: config.get("quota") ?? "8GiB",
  tls,
  members: servers.map((server, i) => ({
    endpoint: endpoints[i],
    // An `etcd-arg: quota-backend-bytes=...` entry; then `systemctl restart k3s` (rke2-server for RKE2's file).
    configFile: server.configFile ?? "/etc/rancher/k3s/config.yaml",
    format: "k3s-config",
    connection: { host: server.ip, user: config.get("sshUser") ?? "root", privateKey, hostKey: server.hostKey },
  })),
});

// Keep the kube-apiserver's watch window (see the kubeadm quick start): not compacting to the current revision.
const retainRevisions = config.getNumber("retainRevisions") ?? 100_000;
new EtcdCompaction("space", { endpoints, tls, retainRevisions }, { dependsOn: [quota] });

export const quotaBytes = quota.quotaBytes;
