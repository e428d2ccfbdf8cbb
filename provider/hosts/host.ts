import { InvalidInputError } from "../errors";

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
  /** Where to keep a copy of the current file; defaults to {@link defaultBackupPath}. An existing file is replaced. */
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
  /** Reads a text file; throws HostError naming the host and path when it is missing or unreadable. */
  readFile(path: string): Promise<string>;
  /**
   * Replaces an existing file atomically (temp file in the same folder + rename), keeping its mode and owner, after
   * copying the current file to the backup path. Returns the backup path.
   */
  writeFileAtomic(path: string, text: string, options?: WriteOptions): Promise<{ backupPath: string }>;
  /** Puts a backup made by {@link writeFileAtomic} back in place, atomically as well. The backup is kept. */
  restore(path: string, backupPath: string): Promise<void>;
  /**
   * Runs a shell command with a bounded wait: on timeout the command and its process group are killed and a
   * TimeoutError is thrown. Never throws on a non-zero exit: returns the code.
   */
  run(command: string, options: RunOptions): Promise<CommandResult>;
  /** Releases the connection; the host cannot be used afterwards. */
  close(): Promise<void>;
}

/**
 * `${path}.bak-<UTC timestamp to the millisecond>`, e.g. `/etc/etcd/etcd.conf.bak-20250102T030405.678Z`. Milliseconds
 * keep two quick edits from overwriting the backup that holds the original.
 */
export function defaultBackupPath(path: string, now: Date = new Date()): string {
  return `${path}.bak-${now.toISOString().replace(/[-:]/g, "")}`;
}

/** Rejects a timeout that would make `run` wait forever or not at all. */
export function checkTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidInputError("timeoutMs", `must be a positive number of milliseconds, got ${timeoutMs}`);
  }
}

/** Shortens a command for error messages so a long script does not bury the reason. */
export function abbreviate(command: string): string {
  const oneLine = command.replace(/\s+/g, " ").trim();
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine;
}
