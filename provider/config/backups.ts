/** How the backups of a config file are named, and which of them to prune. Pure: names in, names out. */

/**
 * `${path}.bak-<UTC timestamp to the millisecond>`, e.g. `/etc/etcd/etcd.conf.bak-20250102T030405.678Z`. Milliseconds
 * keep two quick edits from overwriting the backup that holds the original.
 */
export function defaultBackupPath(path: string, now: Date = new Date()): string {
  return `${path}.bak-${now.toISOString().replace(/[-:]/g, "")}`;
}

/** One name in a folder, with what it is as `lstat` sees it (a symlink is a symlink, never what it points to). */
export interface FolderEntry {
  readonly name: string;
  readonly type: "file" | "symlink" | "directory" | "other";
}

/** The time part of a backup's name, as {@link defaultBackupPath} writes it. */
const BACKUP_TIME = /^\d{8}T\d{6}\.\d{3}Z$/;
const BACKUP_TIME_LENGTH = "20250102T030405.678Z".length;

/**
 * The part of a backup's file name before its time (`etcd.conf.bak-`, or `.etcd.yaml.bak-` for a hidden one), or
 * undefined when `name` is not a backup's name.
 */
export function backupPrefix(name: string): string | undefined {
  const prefix = name.slice(0, -BACKUP_TIME_LENGTH);
  return prefix.endsWith(".bak-") && BACKUP_TIME.test(name.slice(prefix.length)) ? prefix : undefined;
}

/**
 * Which names of a folder's `entries` to delete so that `keep` backups remain, `justWritten` (a backup's name)
 * included and never deleted. Only regular files named exactly as `justWritten`'s file names its backups (the same
 * prefix, then a time) are candidates, so a symlink, a folder or any other file is never touched; the newest by the
 * time in their names are kept.
 */
export function backupsToDelete(entries: readonly FolderEntry[], justWritten: string, keep: number): string[] {
  const prefix = backupPrefix(justWritten);
  if (prefix === undefined) return [];
  const older = entries
    .filter((e) => e.type === "file" && e.name !== justWritten && backupPrefix(e.name) === prefix)
    .map((e) => e.name)
    // The times have a fixed width, so their text sorts as they do.
    .sort()
    .reverse();
  return older.slice(Math.max(0, keep - 1));
}
