import type { Progress } from "./wait";

/**
 * A resource's progress lines. The Pulumi CLI shows a dynamic provider's standard output as diagnostics tied to no
 * resource, and dynamic providers are never told the URN: so each line starts with the resource type, the name the
 * SDK class passes in (`resourceName`, already checked by `check`), and the etcd cluster's ID once known, and two
 * resources' lines can be told apart. State written before `resourceName` existed has no name until its next update.
 */
export function progressFor(type: "EtcdQuota" | "EtcdCompaction", name: unknown, clusterId?: string): Progress {
  const label = [type, typeof name === "string" ? name : undefined, clusterId && `(cluster ${clusterId})`]
    .filter(Boolean)
    .join(" ");
  return (line) => console.log(`${label}: ${line}`);
}

/** The cluster ID in a resource ID (`etcd-quota-<id>`, `etcd-compaction-<id>`), named after the cluster at creation. */
export function clusterIdIn(resourceId: string): string | undefined {
  return /^etcd-(?:quota|compaction)-([0-9a-f]+)$/.exec(resourceId)?.[1];
}
