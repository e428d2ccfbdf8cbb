import type { Progress } from "../run/wait";

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

/** What this provider host has said already (see {@link onceThenShort}). */
const said = new Set<string>();

/**
 * `message` the first time this provider host tells the condition `key`, `short` after that. The CLI sends the refresh
 * and the check of every resource in a command to one host, so a condition they all meet (no member of a cluster
 * answering) is told in full once, and each later mention points back to it instead of naming every endpoint again.
 * The key names the condition, not its wording: two calls to a dead member may fail with different words.
 */
export function onceThenShort(key: string, message: string, short: string): string {
  if (said.has(key)) return short;
  said.add(key);
  return message;
}
