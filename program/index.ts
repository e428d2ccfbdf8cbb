import * as pulumi from "@pulumi/pulumi";
import type { QuotaMemberArgs } from "../sdk";
import { EtcdCompaction, EtcdQuota } from "../sdk";

// Stack config (Pulumi.<stack>.yaml), one stack per environment:
//   etcd-space:endpoints      ["https://10.0.0.1:2379", ...]: every member's client URL
//   etcd-space:tls            { ca, cert, key } PEM contents (pulumi config set --secret --path tls.key < key.pem)
//   etcd-space:username, etcd-space:password (secret): when auth is enabled
//   etcd-space:quota          "8GiB": declare the space quota (optional; needs members)
//   etcd-space:members        [{ endpoint, configFile, format?, restartCommand?, connection?: { host, user, hostKey } }]
//   etcd-space:sshPrivateKey  (secret) used for every member's connection
//   etcd-space:maintenance    EtcdCompaction settings to override, e.g. { retainRevisions: 1000 }
const config = new pulumi.Config();
const tls = config.getSecretObject<{ ca?: string; cert?: string; key?: string }>("tls");
const username = config.get("username");
const password = config.getSecret("password");

const declaredQuota = config.get("quota");
const sshPrivateKey = config.getSecret("sshPrivateKey");
const quota = declaredQuota
  ? new EtcdQuota("quota", {
      quota: declaredQuota,
      members: config.requireObject<QuotaMemberArgs[]>("members").map((member) => ({
        ...member,
        connection:
          member.connection &&
          pulumi
            .all([member.connection, sshPrivateKey])
            .apply(([connection, privateKey]) => ({ ...connection, privateKey })),
      })),
      tls,
      username,
      password,
    })
  : undefined;

// Maintenance runs after a quota change: a larger quota is the other way out of NOSPACE.
const compaction = new EtcdCompaction(
  "space",
  {
    endpoints: config.requireObject<string[]>("endpoints"),
    tls,
    username,
    password,
    ...config.getObject<Record<string, unknown>>("maintenance"),
  },
  { dependsOn: quota ? [quota] : [] },
);

export const maintenance = compaction.maintenance;
export const plan = compaction.plan;
export const reclaimedBytes = compaction.reclaimedBytes;
export const members = compaction.liveMembers;
export const quotaMembers = quota?.members;
