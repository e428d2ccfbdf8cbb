import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import type { SupervisedCluster } from "../../lab/supervisor";
import { sha256 } from "./files";
import { statusOf } from "./etcd";

/**
 * What a command that must change nothing leaves as it found it, read from the processes, the files and etcd: each
 * member's pid and process start time (a restart changes both, even a pid reused), its config file's bytes and mtime,
 * the names in the file's folder (a write leaves a backup beside it), and the cluster's revision (any write to etcd,
 * the cluster lock's included, raises it).
 */
export interface ClusterFingerprint {
  readonly members: readonly {
    readonly name: string;
    readonly pid: number | undefined;
    readonly startedAt: string | undefined;
    readonly fileSha256: string;
    readonly fileMtimeMs: number;
    readonly folder: readonly string[];
  }[];
  readonly revision: number;
}

/** The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
function startTicks(pid: number | undefined): string | undefined {
  if (pid === undefined) return undefined;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

export async function fingerprint(cluster: SupervisedCluster): Promise<ClusterFingerprint> {
  const names = cluster.lab.members.map((m) => m.name);
  const revisions = await Promise.all(cluster.endpoints.map(async (endpoint) => (await statusOf(endpoint)).revision));
  return {
    members: names.map((name) => {
      const file = cluster.configFile(name);
      const pid = cluster.pid(name);
      return {
        name,
        pid,
        startedAt: startTicks(pid),
        fileSha256: sha256(file),
        fileMtimeMs: fs.statSync(file).mtimeMs,
        folder: fs
          .readdirSync(path.dirname(file))
          .filter((entry) => !/^(requests|acks|.*\.log)$/.test(entry))
          .sort(),
      };
    }),
    revision: Math.max(...revisions),
  };
}

/** Asserts that nothing restarted, no file was written and etcd took no write since `before`. */
export async function assertUntouched(
  cluster: SupervisedCluster,
  before: ClusterFingerprint,
  what: string,
): Promise<void> {
  assert.deepEqual(await fingerprint(cluster), before, `${what}: no restart, no file written, no write to etcd`);
}
