import { ConfigFileError } from "../errors";
import { findFlag, runsEtcd } from "./flags";
import type { ConfigEditor, FormatSpec } from "./format";
import {
  CONFIG_FILE_FLAG,
  CONFIG_FILE_VARIABLE,
  QUOTA_FLAG,
  QUOTA_VARIABLE,
  type QuotaSetting,
  atMostOne,
  checkWritableQuota,
  listSome,
  noValue,
  oneOfFlagOrVariable,
  parseQuota,
  quotaOf,
  rewriteSettings,
  shadowedByConfigFile,
} from "./quota";
import { applyEdits, lineNumbering, splitLines } from "./text";

/** A `Key=value` line of a unit, after systemd has joined continued lines. */
interface Directive {
  readonly section: string;
  readonly key: string;
  readonly value: string;
  /** The file offset of each character of `value`, so that edits land on the original text. */
  readonly offsets: readonly number[];
  /** The line the directive starts on. */
  readonly line: number;
}

/** A word of a command line or of an `Environment=` value, with quotes and escapes taken out. */
interface Word {
  readonly text: string;
  /** Where each character of `text` is written in the file: `starts[i]`..`ends[i]` (an escape takes two). */
  readonly starts: readonly number[];
  readonly ends: readonly number[];
}

/** A variable assignment from `Environment=`. */
interface Assignment {
  readonly name: string;
  readonly value: string;
  readonly word: Word;
  readonly location: string;
}

/** The quota settings of a unit, strongest first, and the command a new flag goes to. */
interface UnitQuota {
  readonly settings: QuotaSetting[];
  readonly execStart: Directive;
}

const WHITESPACE = /[ \t\r\n]/;
const COMMENT_LINE = /^[ \t]*[#;]/;

/** An odd number of backslashes at the end: the last one is not itself escaped, so the line goes on. */
function continued(content: string): boolean {
  let backslashes = 0;
  while (content[content.length - 1 - backslashes] === "\\") backslashes++;
  return backslashes % 2 === 1;
}

/** Splits a unit into directives the way systemd's parser does (systemd.syntax(7)). */
function directives(text: string): Directive[] {
  const result: Directive[] = [];
  let section = "";
  let pending: { chars: string[]; offsets: number[]; line: number } | undefined;

  const finish = (chars: readonly string[], offsets: readonly number[], line: number): void => {
    const joined = chars.join("");
    const trimmed = joined.trim();
    if (trimmed.startsWith("[") && trimmed.endsWith("]")) {
      section = trimmed.slice(1, -1);
      return;
    }
    const equals = joined.indexOf("=");
    if (equals === -1) return;
    let start = equals + 1;
    let end = joined.length;
    while (start < end && WHITESPACE.test(joined[start])) start++;
    while (end > start && WHITESPACE.test(joined[end - 1])) end--;
    const key = joined.slice(0, equals).trim();
    result.push({ section, key, value: joined.slice(start, end), offsets: offsets.slice(start, end), line });
  };

  for (const line of splitLines(text)) {
    const content = text.slice(line.start, line.end);
    // systemd drops comment lines even between the parts of a continued line, and the continuation carries on.
    if (COMMENT_LINE.test(content)) continue;
    const logical = pending ?? { chars: [], offsets: [], line: line.number };
    for (let at = line.start; at < line.end; at++) {
      logical.chars.push(text[at]);
      logical.offsets.push(at);
    }
    if (continued(content)) {
      logical.chars[logical.chars.length - 1] = " ";
      pending = logical;
      continue;
    }
    pending = undefined;
    finish(logical.chars, logical.offsets, logical.line);
  }
  if (pending) finish(pending.chars, pending.offsets, pending.line);
  return result;
}

/** Splits a value into words as systemd does for command lines and `Environment=`: whitespace, quotes, escapes. */
function words(directive: Directive, file: string): Word[] {
  const result: Word[] = [];
  const { value, offsets } = directive;
  let word: { text: string; starts: number[]; ends: number[] } | undefined;
  let quote: string | undefined;
  for (let i = 0; i < value.length; i++) {
    const char = value[i];
    if (quote === undefined && WHITESPACE.test(char)) {
      if (word) result.push(word);
      word = undefined;
      continue;
    }
    word ??= { text: "", starts: [], ends: [] };
    if (char === quote) {
      quote = undefined;
    } else if (quote === undefined && (char === '"' || char === "'")) {
      quote = char;
    } else {
      // An escape is taken as the character after the backslash: flags and numbers never need more.
      const start = offsets[i];
      if (char === "\\" && i + 1 < value.length) i++;
      word.text += value[i];
      word.starts.push(start);
      word.ends.push(offsets[i] + 1);
    }
  }
  if (quote !== undefined) {
    throw new ConfigFileError(file, `${directive.key}= (line ${directive.line}) has an unterminated ${quote} quote`);
  }
  if (word) result.push(word);
  return result;
}

/** The one command of the service; an empty `ExecStart=` (as in drop-ins) clears the ones before it. */
function execStartOf(service: readonly Directive[], file: string): Directive {
  let commands: Directive[] = [];
  for (const directive of service) {
    if (directive.key !== "ExecStart") continue;
    if (directive.value === "") commands = [];
    else commands.push(directive);
  }
  if (commands.length === 0) {
    throw new ConfigFileError(
      file,
      "[Service] has no ExecStart=: use the unit that starts etcd, since a flag on its command line would win over " +
        "any variable set here",
    );
  }
  if (commands.length > 1) {
    const lines = listSome(commands.map((c) => String(c.line)));
    throw new ConfigFileError(
      file,
      `[Service] has ${commands.length} ExecStart= commands (lines ${lines}); a service that is not Type=oneshot ` +
        "takes exactly one (write an empty ExecStart= first to replace the command of another file)",
    );
  }
  return commands[0];
}

/** The arguments systemd passes to etcd, refusing commands whose arguments may not reach etcd as written. */
function etcdArguments(execStart: Directive, lineOf: (offset: number) => number, file: string): Word[] {
  const [program, ...rest] = words(execStart, file);
  // Prefixes change how systemd runs the command (systemd.service(5)); after "@" the next word is argv[0].
  const prefix = /^[-@:+!]*/.exec(program.text)?.[0] ?? "";
  const path = program.text.slice(prefix.length);
  if (!runsEtcd(path)) {
    throw new ConfigFileError(
      file,
      `ExecStart= (line ${execStart.line}) runs ${path}, not etcd, so which arguments reach etcd cannot be told ` +
        "from the unit: run etcd directly from ExecStart=, or edit the file that holds its settings",
    );
  }
  const args = prefix.includes("@") ? rest.slice(1) : rest;
  const comment = args.find((arg) => arg.text.startsWith("#"));
  if (comment) {
    throw new ConfigFileError(
      file,
      `ExecStart= passes "${comment.text}" (line ${lineOf(comment.starts[0])}) to etcd as an argument: ` +
        "systemd has no comments at the end of a line, and etcd refuses to start with an argument that is not a " +
        "flag; put the comment on a line of its own",
    );
  }
  return args;
}

/** The assignments `Environment=` makes, in order; an empty `Environment=` clears the ones before it. */
function environment(service: readonly Directive[], lineOf: (offset: number) => number, file: string): Assignment[] {
  let result: Assignment[] = [];
  for (const directive of service) {
    if (directive.key !== "Environment") continue;
    if (directive.value === "") result = [];
    for (const word of words(directive, file)) {
      const equals = word.text.indexOf("=");
      // systemd skips an invalid assignment with a warning, so it sets nothing.
      if (equals <= 0) continue;
      const name = word.text.slice(0, equals);
      const location = `Environment=${name} (line ${lineOf(word.starts[0])})`;
      result.push({ name, value: word.text.slice(equals + 1), word, location });
    }
  }
  return result;
}

/** A setting whose value ends `word`; both are missing when a flag is given last, with nothing after it. */
function settingIn(word: Word | undefined, value: string | undefined, location: string, file: string): QuotaSetting {
  if (word === undefined || value === undefined) throw noValue(file, location);
  const bytes = parseQuota(value, file, location);
  // A valid value reads back to the same digits, so its length is that of the number.
  const first = word.text.length - String(bytes).length;
  return { location, bytes, start: word.starts[first], end: word.ends[word.ends.length - 1] };
}

function unitQuota(text: string, file: string): UnitQuota {
  const service = directives(text).filter((d) => d.section === "Service");
  const execStart = execStartOf(service, file);
  const lineOf = lineNumbering(text);
  const args = etcdArguments(execStart, lineOf, file);
  const argTexts = args.map((arg) => arg.text);
  const assignments = environment(service, lineOf, file);
  const flagLocation = (index: number, spelling: string): string =>
    `ExecStart flag ${spelling} (line ${lineOf(args[index].starts[0])})`;

  // Go's flag package and systemd both keep the last value given.
  const configFlag = findFlag(argTexts, CONFIG_FILE_FLAG).at(-1);
  if (configFlag?.value) {
    throw shadowedByConfigFile(file, configFlag.value, flagLocation(configFlag.index, configFlag.spelling));
  }
  const configVariable = assignments.filter((a) => a.name === CONFIG_FILE_VARIABLE).at(-1);
  if (configVariable?.value) throw shadowedByConfigFile(file, configVariable.value, configVariable.location);

  const flags = findFlag(argTexts, QUOTA_FLAG).map((use) => ({
    ...use,
    location: flagLocation(use.index, use.spelling),
  }));
  const flag = atMostOne(flags, file);
  const variable = atMostOne(
    assignments.filter((a) => a.name === QUOTA_VARIABLE),
    file,
  );
  const settings = oneOfFlagOrVariable(
    flag && settingIn(args[flag.valueIndex], flag.value, flag.location, file),
    variable && settingIn(variable.word, variable.value, variable.location, file),
    file,
  );
  return { settings, execStart };
}

/**
 * The quota in a systemd unit (or a drop-in that replaces ExecStart=): the `--quota-backend-bytes` flag on the
 * `[Service]` ExecStart= command, or `Environment=ETCD_QUOTA_BACKEND_BYTES=...`; `write` edits the one that is there,
 * and when neither is, appends the flag to the command, on its last line.
 *
 * Refused: both the flag and the variable (etcd will not start with both), a `--config-file` flag or
 * `ETCD_CONFIG_FILE` variable (etcd would ignore the quota here), more than one
 * ExecStart= command, an ExecStart= that does not run etcd itself, a quota set twice, and a value that is not an
 * integer. Variables that ExecStart= expands (`$ETCD_ARGS`) are not followed; a flag added by `write` goes last so
 * that it wins over one they might hold.
 */
export const systemdUnit: ConfigEditor = {
  format: "systemd-unit",

  read(text, file) {
    const { settings, execStart } = unitQuota(text, file);
    return quotaOf(settings, `ExecStart= (line ${execStart.line})`);
  },

  write(text, bytes, file) {
    checkWritableQuota(bytes, file);
    const { settings, execStart } = unitQuota(text, file);
    if (settings.length > 0) return rewriteSettings(text, settings, bytes);
    const end = execStart.offsets[execStart.offsets.length - 1] + 1;
    return applyEdits(text, [{ start: end, end, text: ` --${QUOTA_FLAG}=${bytes}` }]);
  },
};

export const systemdUnitFormat: FormatSpec<"systemd-unit"> = {
  format: "systemd-unit",
  editor: systemdUnit,
  looks: "a unit with [Service] and ExecStart=",
  precedence: 10,
  shownBy: ({ lines }) => lines.some((line) => line === "[Service]" || /^ExecStart[ \t]*=/.test(line)),
  fileName: /\.service$|\.service\.d\/[^/]+\.conf$/,
  nameDecides: ({ lines }) => lines.length === 0,
  // systemd reloads the unit (for a drop-in such as `etcd.service.d/10-quota.conf`, the unit its folder extends).
  defaultRestartCommand(configFile) {
    const unit = /([^/]+)\.d\/[^/]+\.conf$/.exec(configFile)?.[1] ?? configFile.split("/").pop()!;
    // `--`: a unit named from a file such as `-H host.service` is a name, never an option of systemctl.
    return `systemctl daemon-reload && systemctl restart -- '${unit.replace(/'/g, "")}'`;
  },
};
