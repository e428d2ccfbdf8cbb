import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction } from "../sdk";

// Stack config (Pulumi.<stack>.yaml):
//   etcd-space:endpoints:  ["https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"]
//   etcd-space:tls:        { ca, cert, key } PEM contents, set with `pulumi config set --secret --path tls.key ...`
//   etcd-space:username / etcd-space:password (secret), when auth is enabled
//   etcd-space:maintenance: any EtcdCompaction setting to override, e.g. { retainRevisions: 1000 }
const config = new pulumi.Config();

const compaction = new EtcdCompaction("space", {
  endpoints: config.requireObject<string[]>("endpoints"),
  tls: config.getSecretObject<{ ca?: string; cert?: string; key?: string }>("tls"),
  username: config.get("username"),
  password: config.getSecret("password"),
  ...config.getObject<Record<string, unknown>>("maintenance"),
});

export const maintenance = compaction.maintenance;
export const plan = compaction.plan;
export const reclaimedBytes = compaction.reclaimedBytes;
export const members = compaction.liveMembers;
