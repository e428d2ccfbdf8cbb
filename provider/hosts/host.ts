import { HostError } from "../errors";
import { formatSize } from "../values/size";

/**
 * The largest config file read. etcd's own take a few KiB; a larger file is not one of them (or was given by
 * mistake), and is neither read nor parsed, so no input can make the provider hold more than this per member.
 */
export const MAX_CONFIG_FILE_BYTES = 1024 ** 2;

/** A file as {@link Host.readFile} found it. */
export interface FileRead {
  /** The text, decoded as UTF-8. */
  readonly text: string;
  /** The path after following every symlink: the file an edit changes. */
  readonly realPath: string;
}

/** Why a file that exists is not read: it is not a regular file, or it is larger than a config file can be. */
export function unreadableReason(kind: "directory" | "fifo" | "other" | "file", size: number): string | undefined {
  switch (kind) {
    case "directory":
      return "it is a directory";
    case "fifo":
      return "it is a named pipe (FIFO); only regular files are read";
    case "other":
      return "it is a device or a socket; only regular files are read";
    case "file":
      return size > MAX_CONFIG_FILE_BYTES
        ? `it is ${formatSize(size)}, more than the ${formatSize(MAX_CONFIG_FILE_BYTES)} a config file of etcd can need; it was not read`
        : undefined;
  }
}

/** What a command printed and how it ended. */
export interface CommandResult {
  /** Standard output, decoded as UTF-8. */
  readonly stdout: string;
  /** Standard error, decoded as UTF-8. */
  readonly stderr: string;
  /** The exit code; a command killed by a signal reports 128 + the signal number, as shells do. */
  readonly code: number;
}

/** Options for {@link Host.writeFileAtomic}. */
export interface WriteOptions {
  /** Where to keep a copy of the current file; defaults to `<path>.bak-<time>` (config/backups.ts). An existing file is replaced. */
  readonly backupPath?: string;
}

/** Options for {@link Host.run}. */
export interface RunOptions {
  /** How long the command may run before it and everything it started are killed. */
  readonly timeoutMs: number;
}

/**
 * A machine running an etcd member, reached locally or over SSH. File paths must be absolute. Symlinks are followed,
 * so writing a linked config file edits its target and keeps the link.
 */
export interface Host {
  /** For messages: "local" or "root@10.0.0.1:22". */
  readonly label: string;
  /**
   * Reads a regular file of at most {@link MAX_CONFIG_FILE_BYTES}, following symlinks. Anything else (a folder, a
   * FIFO, a device, a larger file) is refused before it is read, so no input can make the provider wait on a pipe
   * or read without end. Throws HostError naming the host and path.
   */
  readFile(path: string): Promise<FileRead>;
  /**
   * Replaces an existing file atomically (temp file in the same folder + rename), keeping its mode and owner, after
   * copying the current file to the backup path. Returns the backup path.
   */
  writeFileAtomic(path: string, text: string, options?: WriteOptions): Promise<{ backupPath: string }>;
  /** Puts a backup made by {@link writeFileAtomic} back in place, atomically as well. The backup is kept. */
  restore(path: string, backupPath: string): Promise<void>;
  /**
   * Deletes the older backups of the file whose backup `backupPath` was just written, so that `keep` remain, that one
   * included: see backupsToDelete (config/backups.ts) for which files can go. Throws HostError when the folder cannot be listed;
   * a backup that cannot be deleted is reported in the result instead.
   */
  pruneBackups(backupPath: string, keep: number): Promise<PruneResult>;
  /**
   * Runs a shell command with a bounded wait: on timeout the command and its process group are killed and a
   * TimeoutError is thrown. Never throws on a non-zero exit: returns the code.
   */
  run(command: string, options: RunOptions): Promise<CommandResult>;
  /** Releases the connection; the host cannot be used afterwards. */
  close(): Promise<void>;
}

/** What {@link Host.pruneBackups} did. */
export interface PruneResult {
  /** The backups deleted, as paths. */
  readonly deleted: readonly string[];
  /** The backups that were to go but are still there, each with why. */
  readonly kept: readonly { readonly path: string; readonly reason: string }[];
}

/** Rejects a timeout that would make `run` wait forever or not at all: a fault of the caller, never an input's. */
export function checkTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new HostError(`a command's time limit must be a positive number of milliseconds, got ${timeoutMs}`);
  }
}

/** Shortens a command for error messages so a long script does not bury the reason. */
export function abbreviate(command: string): string {
  const oneLine = command.replace(/\s+/g, " ").trim();
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine;
}
