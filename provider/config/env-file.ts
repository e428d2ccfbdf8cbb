import { ConfigFileError } from "../errors";
import type { ConfigEditor, FormatSpec } from "./format";
import {
  CONFIG_FILE_VARIABLE,
  QUOTA_VARIABLE,
  type QuotaSetting,
  atMostOne,
  checkWritableQuota,
  parseQuota,
  quotaOf,
  rewriteSettings,
  shadowedByConfigFile,
} from "./quota";
import { applyEdits, insertLine, splitLines } from "./text";

/** An assignment's name and where its value is, blanks around it left out, as offsets in its line. */
interface Assigned {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

const isBlank = (char: string | undefined): boolean => char === " " || char === "\t";
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
/** What ends a line for JavaScript (`.` in a regular expression stops at them); a line holding one sets nothing. */
const LINE_TERMINATOR = /[\r\u2028\u2029]/;

/**
 * `NAME=value` as systemd's EnvironmentFile= and shells read it, optionally after `export`, or undefined. Scanned by
 * hand, one pass over the line: a regular expression backtracked with the cube of a line's length on `NAME=`, blanks
 * and a bare carriage return.
 */
function assignment(line: string): Assigned | undefined {
  let at = 0;
  while (isBlank(line[at])) at++;
  if (line.startsWith("export", at) && isBlank(line[at + 6])) {
    let after = at + 6;
    while (isBlank(line[after])) after++;
    // `export =1` assigns to a variable named export.
    if (NAME_START.test(line[after] ?? "")) at = after;
  }
  if (!NAME_START.test(line[at] ?? "")) return undefined;
  const nameStart = at;
  while (at < line.length && NAME_CHAR.test(line[at])) at++;
  const name = line.slice(nameStart, at);
  while (isBlank(line[at])) at++;
  if (line[at] !== "=") return undefined;
  at++;
  if (LINE_TERMINATOR.test(line.slice(at))) return undefined;
  let end = line.length;
  while (at < end && isBlank(line[at])) at++;
  while (end > at && isBlank(line[end - 1])) end--;
  return { name, start: at, end };
}

/** An assignment in the file, with the unquoted value and where it is written. */
interface Variable {
  readonly name: string;
  readonly value: string;
  readonly start: number;
  readonly end: number;
  readonly location: string;
}

function variables(text: string): Variable[] {
  const result: Variable[] = [];
  for (const line of splitLines(text)) {
    const found = assignment(text.slice(line.start, line.end));
    if (!found) continue;
    const { name } = found;
    let [start, end] = [line.start + found.start, line.start + found.end];
    const raw = text.slice(start, end);
    const quoted = raw.length >= 2 && (raw[0] === '"' || raw[0] === "'") && raw.endsWith(raw[0]);
    if (quoted) [start, end] = [start + 1, end - 1];
    result.push({ name, value: text.slice(start, end), start, end, location: `${name} (line ${line.number})` });
  }
  return result;
}

function envQuota(text: string, file: string): QuotaSetting[] {
  // A commented-out name counts: Debian's /etc/default/etcd ships with every line commented.
  if (!/ETCD_[A-Z0-9_]+/.test(text)) {
    throw new ConfigFileError(
      file,
      "names no ETCD_ variable, not even in a comment, so it is not etcd's environment file; the quota is not added to it",
    );
  }
  const all = variables(text);
  const configFile = all.filter((v) => v.name === CONFIG_FILE_VARIABLE).at(-1);
  if (configFile?.value) throw shadowedByConfigFile(file, configFile.value, configFile.location);
  const quota = atMostOne(
    all.filter((v) => v.name === QUOTA_VARIABLE),
    file,
  );
  if (!quota) return [];
  return [
    {
      location: quota.location,
      bytes: parseQuota(quota.value, file, quota.location),
      start: quota.start,
      end: quota.end,
    },
  ];
}

/**
 * The quota in an environment file loaded by `EnvironmentFile=` (kubespray's /etc/etcd.env, /etc/default/etcd):
 * `ETCD_QUOTA_BACKEND_BYTES=N`, `"N"` or `'N'`, optionally after `export`. Quotes are kept when the value changes;
 * when absent, the line is added at the end of the file.
 *
 * Refused: a file with no `ETCD_` name at all (not etcd's), `ETCD_CONFIG_FILE` (etcd would ignore the quota here), the
 * variable set twice, and a value that is not an integer. The unit's command line can still override this file with a flag: read the unit too.
 */
export const envFile: ConfigEditor = {
  format: "env-file",

  read(text, file) {
    return quotaOf(envQuota(text, file), "a new line at the end of the file");
  },

  write(text, bytes, file) {
    checkWritableQuota(bytes, file);
    const settings = envQuota(text, file);
    if (settings.length > 0) return rewriteSettings(text, settings, bytes);
    return applyEdits(text, [insertLine(text, text.length, `${QUOTA_VARIABLE}=${bytes}`)]);
  },
};

const ASSIGNMENT = /^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=/;

export const envFileFormat: FormatSpec<"env-file"> = {
  format: "env-file",
  editor: envFile,
  looks: "ETCD_*=value lines",
  precedence: 50,
  shownBy({ lines }) {
    const names = lines.map((line) => ASSIGNMENT.exec(line)?.[1]);
    return (
      names.length > 0 && names.every((name) => name !== undefined) && names.some((name) => name.startsWith("ETCD_"))
    );
  },
  fileName: /\.env$|(?:^|\/)(?:default|sysconfig)\/etcd$/,
  // Only assignments: where guessing wrong cannot edit the wrong kind of file.
  nameDecides: ({ onlyAssignments }) => onlyAssignments,
  defaultRestartCommand: () => "systemctl restart etcd",
};
