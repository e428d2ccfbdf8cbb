import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction, EtcdQuota } from "pulumi-etcd-quota";

// Quick start: docs/quickstart-systemd.md. Each etcd host: { ip, hostKey } (`ssh-keyscan -t ed25519 <ip>`).
const config = new pulumi.Config();
const hosts = config.requireObject<{ ip: string; hostKey: string; configFile?: string }[]>("hosts");
const privateKey = config.requireSecret("sshPrivateKey");
// etcd's CA and a client certificate it signed, when etcd serves https; leave `tls` unset for plain http.
const tls = config.getSecretObject<{ ca: string; cert: string; key: string }>("tls");
const endpoints = hosts.map((host) => `${tls ? "https" : "http"}://${host.ip}:2379`);

const quota = new EtcdQuota("quota", {
  quota: config.get("quota") ?? "8GiB",
  tls,
  members: hosts.map((host, i) => ({
    endpoint: endpoints[i],
    // The unit, its drop-in (etcd.service.d/*.conf) or the env file it reads (/etc/default/etcd): the format is read
    // from the file, and so is the restart (`systemctl daemon-reload && systemctl restart etcd.service` for a unit).
    configFile: host.configFile ?? "/etc/systemd/system/etcd.service",
    connection: { host: host.ip, user: config.get("sshUser") ?? "root", privateKey, hostKey: host.hostKey },
  })),
  snapshot: { path: "snapshots/{stack}-{time}.db" },
});

new EtcdCompaction("space", { endpoints, tls }, { dependsOn: [quota] });

export const quotaBytes = quota.quotaBytes;
