import { execFile } from "child_process";
import { createHash } from "crypto";
import { createReadStream, promises as fs } from "fs";
import * as path from "path";
import { promisify } from "util";
import { formatDuration } from "../values/duration";
import { EtcdQuotaError, SnapshotError } from "../errors";
import type { SnapshotSettings } from "../inputs/snapshot";
import { snapshotPath, snapshotSource, snapshotsToDelete } from "../plan/snapshot";
import { formatSize } from "../values/size";
import type { Progress } from "../run/wait";
import type { ClusterApi } from "../run/seams";
import type { ClusterObservation } from "../types/observation";
import type { SnapshotRecord } from "../types/snapshot";

/** etcd appends a SHA-256 of the database to the stream; `etcdutl snapshot restore` checks it the same way. */
const HASH_BYTES = 32;
/** A stream that sends nothing for this long is given up: a member serves its backend at disk speed. */
export const SNAPSHOT_STALL_MS = 30_000;
const ETCDUTL_TIMEOUT_MS = 120_000;
const PROGRESS_EVERY_MS = 5_000;

/**
 * Streams a snapshot from a follower to `settings.path`, verifies it before it counts (its size against what etcd
 * announced, etcd's SHA-256 trailer against the bytes on disk, `etcdutl snapshot status` when etcdutl is on the
 * PATH), then keeps the newest `keep`. The file is readable by its owner only: it holds every key, secrets included.
 * A stream that goes past the size it announced is stopped at once (a member that kept sending would fill this
 * machine's disk), and one that sends nothing for `stallMs` is given up. Throws {@link SnapshotError}, leaving no
 * partial file, when any of it fails.
 */
export async function takeSnapshot(
  session: ClusterApi,
  observation: ClusterObservation,
  settings: SnapshotSettings,
  progress: Progress,
  stallMs = SNAPSHOT_STALL_MS,
): Promise<SnapshotRecord> {
  const source = snapshotSource(observation);
  const startedAt = new Date();
  const file = snapshotPath(settings, startedAt);
  if (!source) throw new SnapshotError(file, "no voting member answered to take it from");
  const partial = `${file}.part`;
  try {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const handle = await fs.open(partial, "wx", 0o600);
    let received = 0;
    let total: number | undefined;
    let reportedAt = Date.now();
    const client = session.client(source.endpoint);
    const startRevision = (await client.status()).revision;
    try {
      progress(`snapshot: streaming ${source.name}'s ${formatSize(source.dbSize)} database to ${file}`);
      await client.snapshot(async (chunk, remaining) => {
        total ??= chunk.length + remaining;
        received += chunk.length;
        // Checked before the write, so the disk never holds more than was announced.
        if (received > total + HASH_BYTES) {
          throw new SnapshotError(
            file,
            `etcd announced ${total} bytes and a ${HASH_BYTES}-byte hash but kept sending; stopped the stream at ${received} bytes`,
          );
        }
        await handle.write(chunk);
        if (Date.now() - reportedAt >= PROGRESS_EVERY_MS) {
          reportedAt = Date.now();
          const seconds = (Date.now() - startedAt.getTime()) / 1000;
          progress(`snapshot: ${formatSize(received)} of ${formatSize(total)} (${formatSize(received / seconds)}/s)`);
        }
      }, stallMs);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The database's bytes as announced, then etcd's hash as one more message.
    if (total === undefined || received !== total + HASH_BYTES) {
      throw new SnapshotError(
        file,
        `etcd announced ${total ?? 0} bytes and a ${HASH_BYTES}-byte hash but sent ${received} bytes in all`,
      );
    }
    const { sha256, trailerMatches } = await hashes(partial, received);
    if (!trailerMatches) {
      throw new SnapshotError(file, "the file does not match the SHA-256 etcd sent with it (a corrupt write or read)");
    }
    const status = await etcdutlStatus(partial, file);
    await fs.rename(partial, file);
    const deleted = await pruneOlder(settings, file);
    const record: SnapshotRecord = {
      path: file,
      member: source.name,
      revision: status?.revision ?? startRevision,
      sizeBytes: received,
      sha256,
      takenAt: startedAt.toISOString(),
      verifiedBy: status
        ? `etcd's SHA-256 and etcdutl snapshot status (${status.totalKey} keys, revision ${status.revision})`
        : "etcd's SHA-256 (etcdutl is not on the PATH)",
      deleted,
    };
    progress(
      `snapshot: ${formatSize(received)} at revision ${record.revision} in ${formatDuration(Date.now() - startedAt.getTime())}, verified by ${record.verifiedBy}` +
        (deleted.length > 0 ? `; deleted ${deleted.length} older: ${deleted.join(", ")}` : ""),
    );
    return record;
  } catch (error) {
    await fs.rm(partial, { force: true }).catch(() => undefined);
    if (error instanceof SnapshotError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new SnapshotError(file, error instanceof EtcdQuotaError ? reason : `could not write it: ${reason}`);
  }
}

/** SHA-256 of the whole file, and whether its last 32 bytes are the SHA-256 of the rest, as etcd sends them. */
async function hashes(file: string, size: number): Promise<{ sha256: string; trailerMatches: boolean }> {
  if (size % 512 !== HASH_BYTES) return { sha256: "", trailerMatches: false };
  const whole = createHash("sha256");
  const body = createHash("sha256");
  let offset = 0;
  const trailer = Buffer.alloc(HASH_BYTES);
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    whole.update(chunk);
    const bodyEnd = size - HASH_BYTES;
    if (offset < bodyEnd) body.update(chunk.subarray(0, Math.min(chunk.length, bodyEnd - offset)));
    const trailerStart = Math.max(0, bodyEnd - offset);
    if (trailerStart < chunk.length) chunk.copy(trailer, offset + trailerStart - bodyEnd, trailerStart);
    offset += chunk.length;
  }
  return { sha256: whole.digest("hex"), trailerMatches: body.digest().equals(trailer) };
}

interface EtcdutlStatus {
  readonly revision: number;
  readonly totalKey: number;
}

/** `etcdutl snapshot status` of the file, or undefined when etcdutl is not on the PATH; its refusal is a failure. */
async function etcdutlStatus(partial: string, file: string): Promise<EtcdutlStatus | undefined> {
  const etcdutl = await onPath("etcdutl");
  if (!etcdutl) return undefined;
  try {
    const { stdout } = await promisify(execFile)(etcdutl, ["snapshot", "status", partial, "--write-out=json"], {
      timeout: ETCDUTL_TIMEOUT_MS,
    });
    const status = JSON.parse(stdout) as Partial<EtcdutlStatus>;
    if (typeof status.revision !== "number" || typeof status.totalKey !== "number") {
      throw new Error(`unexpected output ${JSON.stringify(stdout.slice(0, 200))}`);
    }
    return { revision: status.revision, totalKey: status.totalKey };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SnapshotError(file, `${etcdutl} snapshot status refused it: ${reason.trim()}`);
  }
}

async function onPath(command: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, command);
    const executable = await fs.access(candidate, fs.constants.X_OK).then(
      () => true,
      () => false,
    );
    if (executable) return candidate;
  }
  return undefined;
}

/**
 * Deletes the snapshots of this path beyond the newest `keep`, never `written`, and counting only regular files
 * owned by the user running Pulumi, as the ones this provider wrote are: in a shared folder another user's files
 * named like ours (or links to elsewhere) are neither counted nor deleted.
 */
async function pruneOlder(settings: SnapshotSettings, written: string): Promise<string[]> {
  const dir = path.dirname(written);
  const uid = process.getuid?.();
  const ours: string[] = [];
  for (const name of await fs.readdir(dir)) {
    const stat = await fs.lstat(path.join(dir, name)).catch(() => undefined);
    if (stat?.isFile() && (uid === undefined || stat.uid === uid)) ours.push(name);
  }
  const doomed = snapshotsToDelete(settings, ours, path.basename(written));
  for (const name of doomed) await fs.rm(path.join(dir, name), { force: true });
  return doomed.map((name) => path.join(dir, name));
}
