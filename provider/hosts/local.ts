import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { constants as fsConstants, promises as fs } from "node:fs";
import { constants as osConstants } from "node:os";
import { basename, dirname, join } from "node:path";
import { formatDuration } from "../values/duration";
import { HostError, TimeoutError } from "../errors";
import type { CommandResult, FileRead, Host, PruneResult, RunOptions, WriteOptions } from "./host";
import { abbreviate, checkTimeout, MAX_CONFIG_FILE_BYTES, unreadableReason } from "./host";
import { checkPath } from "../inputs/paths";
import { backupPrefix, backupsToDelete, defaultBackupPath, type FolderEntry } from "../config/backups";

const LABEL = "local";

/** The machine the provider runs on, as the user the provider runs as. */
export function localHost(): Host {
  return new LocalHost();
}

class LocalHost implements Host {
  readonly label = LABEL;

  async readFile(path: string): Promise<FileRead> {
    checkPath(LABEL, path);
    try {
      const realPath = await fs.realpath(path);
      // Opened before it is looked at, and looked at through the handle: a FIFO swapped in after a stat by name would
      // block the open until a writer came, which may be never. O_NONBLOCK makes opening a FIFO return at once;
      // O_NOFOLLOW refuses a link swapped in for the real path since realpath.
      const handle = await fs.open(realPath, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
      try {
        const stats = await handle.stat();
        const kind = stats.isDirectory() ? "directory" : stats.isFIFO() ? "fifo" : stats.isFile() ? "file" : "other";
        const refusal = unreadableReason(kind, stats.size);
        if (refusal !== undefined) throw new HostError(`${LABEL}: cannot read ${path}: ${refusal}`);
        // Never more than the bound, even when the file grew since it was measured.
        const buffer = Buffer.alloc(MAX_CONFIG_FILE_BYTES);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        return { text: buffer.subarray(0, bytesRead).toString("utf8"), realPath };
      } finally {
        await handle.close();
      }
    } catch (err) {
      throw fileError("read", path, err);
    }
  }

  async writeFileAtomic(path: string, text: string, options: WriteOptions = {}): Promise<{ backupPath: string }> {
    const backupPath = options.backupPath ?? defaultBackupPath(path);
    checkPath(LABEL, path);
    checkPath(LABEL, backupPath);
    let target: string;
    let current: Buffer;
    let stats: Stats;
    try {
      // Editing the target keeps a symlinked config file a symlink; renaming over the link would replace it.
      target = await fs.realpath(path);
      stats = await fs.stat(target);
      if (!stats.isFile()) throw new HostError(`${LABEL}: cannot write ${path}: it is not a regular file`);
      current = await fs.readFile(target);
    } catch (err) {
      throw fileError("write", path, err);
    }
    await replaceFile(backupPath, current, stats, `cannot back up ${path} to ${backupPath}`);
    await replaceFile(target, Buffer.from(text, "utf8"), stats, `cannot write ${path}`);
    return { backupPath };
  }

  async restore(path: string, backupPath: string): Promise<void> {
    checkPath(LABEL, path);
    checkPath(LABEL, backupPath);
    let saved: Buffer;
    let stats: Stats;
    try {
      stats = await fs.stat(backupPath);
      saved = await fs.readFile(backupPath);
    } catch (err) {
      throw fileError(`restore ${path} from`, backupPath, err);
    }
    // The edited file may have been deleted since; then there is no link to follow and the path itself is restored.
    const target = await fs.realpath(path).catch(() => path);
    await replaceFile(target, saved, stats, `cannot restore ${path} from ${backupPath}`);
  }

  async pruneBackups(backupPath: string, keep: number): Promise<PruneResult> {
    checkPath(LABEL, backupPath);
    const folder = dirname(backupPath);
    const prefix = backupPrefix(basename(backupPath));
    const entries: FolderEntry[] = [];
    try {
      for (const name of await fs.readdir(folder)) {
        if (prefix === undefined || !name.startsWith(prefix)) continue;
        // lstat: a symlink named like a backup is a symlink, whatever it points to, and is never a candidate.
        const stats = await fs.lstat(join(folder, name)).catch(() => undefined);
        if (stats === undefined) continue;
        const type = stats.isFile()
          ? "file"
          : stats.isSymbolicLink()
            ? "symlink"
            : stats.isDirectory()
              ? "directory"
              : "other";
        entries.push({ name, type });
      }
    } catch (err) {
      throw fileError("list the backups in", folder, err);
    }
    const deleted: string[] = [];
    const kept: { path: string; reason: string }[] = [];
    for (const name of backupsToDelete(entries, basename(backupPath), keep)) {
      const path = join(folder, name);
      try {
        // unlink never follows a link and refuses a folder, so a name swapped since the lstat costs only that name.
        await fs.unlink(path);
        deleted.push(path);
      } catch (err) {
        kept.push({ path, reason: describeFsError(err) });
      }
    }
    return { deleted, kept };
  }

  async run(command: string, options: RunOptions): Promise<CommandResult> {
    checkTimeout(options.timeoutMs);
    return new Promise((resolve, reject) => {
      // A new process group, so a timeout can kill everything the command started, not just the shell.
      const child = spawn("/bin/sh", ["-c", command], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
      let exited = false;
      let timedOut = false;
      // Rejecting only once the shell has exited means the caller never sees the error while the command is alive.
      // Something that left the group could hold the pipes open forever, so they are not waited for.
      const timeOut = () => {
        child.stdout.destroy();
        child.stderr.destroy();
        const after = formatDuration(options.timeoutMs);
        reject(new TimeoutError(`${LABEL}: command timed out after ${after} and was killed: ${abbreviate(command)}`));
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid);
        if (exited) timeOut();
      }, options.timeoutMs);

      child.once("exit", () => {
        exited = true;
        if (timedOut) timeOut();
      });
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(new HostError(`${LABEL}: cannot run ${abbreviate(command)}: ${err.message}`));
      });
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        if (timedOut) return;
        resolve({
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8"),
          code: code ?? 128 + (signal ? osConstants.signals[signal] : 0),
        });
      });
    });
  }

  async close(): Promise<void> {}
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // ESRCH: the group is already gone, which is what we wanted.
  }
}

/**
 * Writes `data` to a temp file next to `dest` with the mode and owner of `like`, flushes it, and renames it over
 * `dest`, so readers see either the old file or the new one, never a partial write.
 */
async function replaceFile(dest: string, data: Buffer, like: Stats, what: string): Promise<void> {
  const temp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    // 0600 until the final mode is set, so a secret-bearing config is never briefly world-readable.
    const handle = await fs.open(temp, "wx", 0o600);
    try {
      await handle.writeFile(data);
      // chown before chmod: changing the owner clears setuid/setgid bits.
      await handle.chown(like.uid, like.gid);
      await handle.chmod(like.mode & 0o7777);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, dest);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw new HostError(`${LABEL}: ${what}: ${describeFsError(err)}`);
  }
  await syncDirectory(dirname(dest));
}

/** Makes the rename itself durable; without it a crash can bring back the old directory entry. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function fileError(verb: string, path: string, err: unknown): HostError {
  if (err instanceof HostError) return err;
  return new HostError(`${LABEL}: cannot ${verb} ${path}: ${describeFsError(err)}`);
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    default:
      return err instanceof Error ? err.message : String(err);
  }
}
