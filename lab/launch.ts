import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";

/*
 * Reading a member's files the way systemd, the kubelet and k3s read them, into what they would run. Deliberately
 * independent of provider/config: a second reading of the same files, so that an edit etcd would not see fails a test.
 */

/** What one start of a member ran: the binary, its arguments, its whole environment and its working directory. */
export interface Launch {
  readonly binary: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

/** The PATH systemd gives system services; a service inherits nothing else from whoever ran systemctl. */
const SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** The PATH of a container (the etcd image sets no other). */
const CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A unit's `Key=value` directives, after joining continued lines (systemd.syntax(7)). */
function unitDirectives(text: string): { section: string; key: string; value: string }[] {
  const logical: string[] = [];
  let current: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    // Comment lines are dropped, also between the lines of a continued directive.
    if (/^[ \t]*[#;]/.test(raw)) continue;
    const continued = raw.endsWith("\\");
    current = (current ?? "") + (continued ? `${raw.slice(0, -1)} ` : raw);
    if (!continued) {
      logical.push(current);
      current = undefined;
    }
  }
  if (current !== undefined) logical.push(current);
  const result: { section: string; key: string; value: string }[] = [];
  let section = "";
  for (const line of logical) {
    const trimmed = line.trim();
    if (trimmed.startsWith("[") && trimmed.endsWith("]")) {
      section = trimmed.slice(1, -1);
      continue;
    }
    const equals = trimmed.indexOf("=");
    if (equals <= 0) continue;
    result.push({ section, key: trimmed.slice(0, equals).trim(), value: trimmed.slice(equals + 1).trim() });
  }
  return result;
}

/** Splits a command line or an `Environment=` value into words: whitespace, "double" and 'single' quotes, escapes. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  const escape = (c: string) => ({ n: "\n", t: "\t", r: "\r" })[c] ?? c;
  let i = 0;
  for (;;) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) return words;
    let word = "";
    while (i < text.length && !/\s/.test(text[i])) {
      const c = text[i];
      if (c === '"' || c === "'") {
        i++;
        while (i < text.length && text[i] !== c) {
          if (text[i] === "\\" && i + 1 < text.length) {
            word += escape(text[i + 1]);
            i += 2;
          } else {
            word += text[i++];
          }
        }
        if (i >= text.length) throw new Error(`unbalanced quotes in ${text}`);
        i++;
      } else if (c === "\\" && i + 1 < text.length) {
        word += escape(text[i + 1]);
        i += 2;
      } else {
        word += c;
        i++;
      }
    }
    words.push(word);
  }
}

/** `KEY=VALUE` lines as systemd's `EnvironmentFile=` reads them; invalid lines are ignored (systemd logs them). */
export function environmentFile(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const equals = line.indexOf("=");
    if (equals < 0) continue;
    const key = line.slice(0, equals).trim();
    if (!NAME.test(key)) continue;
    let value = line.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1).replace(/\\(.)/g, "$1");
    } else if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) {
      value = value.slice(1, -1);
    } else {
      value = value.replace(/\\(.)/g, "$1");
    }
    result[key] = value;
  }
  return result;
}

/**
 * What systemd would run for the unit's `[Service]`: the one ExecStart= (prefixes `-+!:` dropped), split into words,
 * with `$VAR` (a word of its own: split on whitespace) and `${VAR}` (inline) expanded; the environment is systemd's
 * PATH, then `Environment=` assignments, then `EnvironmentFile=` files, which override them.
 */
export function unitLaunch(text: string, file: string, readFile = (f: string) => fs.readFileSync(f, "utf8")): Launch {
  let execStart: string | undefined;
  let assignments: Record<string, string> = {};
  let files: string[] = [];
  let cwd = "/";
  for (const { section, key, value } of unitDirectives(text)) {
    if (section !== "Service") continue;
    if (key === "ExecStart") {
      if (value === "") execStart = undefined;
      else if (execStart !== undefined) {
        throw new Error(`${file}: more than one ExecStart=, which only Type=oneshot services may have`);
      } else execStart = value;
    } else if (key === "Environment") {
      if (value === "") assignments = {};
      for (const word of splitWords(value)) {
        const equals = word.indexOf("=");
        if (equals > 0 && NAME.test(word.slice(0, equals))) assignments[word.slice(0, equals)] = word.slice(equals + 1);
      }
    } else if (key === "EnvironmentFile") {
      files = value === "" ? [] : [...files, value];
    } else if (key === "WorkingDirectory") {
      cwd = value.replace(/^-/, "");
    }
  }
  if (execStart === undefined) throw new Error(`${file}: the [Service] section has no ExecStart=`);
  const fromFiles: Record<string, string> = {};
  for (const entry of files) {
    const optional = entry.startsWith("-");
    const envPath = optional ? entry.slice(1) : entry;
    let content: string;
    try {
      content = readFile(envPath);
    } catch (err) {
      if (optional) continue;
      throw new Error(`${file}: failed to load environment file ${envPath}: ${(err as Error).message}`);
    }
    Object.assign(fromFiles, environmentFile(content));
  }
  const env: Record<string, string> = { PATH: SYSTEMD_PATH, ...assignments, ...fromFiles };
  const command = execStart.replace(/^[-+!:]+/, "");
  if (command.startsWith("@")) throw new Error(`${file}: ExecStart=@ is not supported here`);
  const words = splitWords(command).flatMap((word) => {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole) return (env[whole[1]] ?? "").split(/\s+/).filter((w) => w !== "");
    return [word.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, n?: string) => (n ? (env[n] ?? "") : "$"))];
  });
  if (words.length === 0) throw new Error(`${file}: ExecStart= is empty`);
  return { binary: words[0], args: words.slice(1), env, cwd };
}

interface ContainerSpec {
  readonly name?: unknown;
  readonly command?: unknown;
  readonly args?: unknown;
  readonly env?: unknown;
}

/** The decoded manifest, as a string: the kubelet restarts a static pod when this changes, not on a comment. */
export function manifestKey(text: string): string {
  try {
    return JSON.stringify(parseYaml(text));
  } catch {
    return `unparsable:${text}`;
  }
}

/**
 * What the kubelet would run for a static Pod manifest: the container named `etcd`, its `command` then `args`
 * (`$(VAR)` expanded from its `env`), with the image's `etcd` replaced by the real binary.
 */
export function manifestLaunch(text: string, file: string, etcd: string): Launch {
  const pod = parseYaml(text) as { kind?: unknown; spec?: { containers?: unknown } } | null;
  if (pod?.kind !== "Pod") throw new Error(`${file}: not a Pod manifest`);
  const containers = Array.isArray(pod.spec?.containers) ? (pod.spec.containers as ContainerSpec[]) : [];
  const container = containers.find((c) => c?.name === "etcd");
  if (!container) throw new Error(`${file}: no container named etcd`);
  const strings = (value: unknown, what: string): string[] => {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
      throw new Error(`${file}: ${what} is not a list of strings`);
    }
    return value as string[];
  };
  const env: Record<string, string> = { PATH: CONTAINER_PATH, HOSTNAME: os.hostname() };
  const declared = container.env === undefined ? [] : container.env;
  if (!Array.isArray(declared)) throw new Error(`${file}: env is not a list`);
  for (const entry of declared as { name?: unknown; value?: unknown }[]) {
    if (typeof entry?.name !== "string") throw new Error(`${file}: an env entry has no name`);
    env[entry.name] = entry.value === undefined || entry.value === null ? "" : String(entry.value);
  }
  const expand = (arg: string) =>
    arg.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n?: string) =>
      n === undefined ? "$" : n in env ? env[n] : m,
    );
  const argv = [...strings(container.command, "command"), ...strings(container.args, "args")].map(expand);
  if (argv.length === 0) throw new Error(`${file}: the etcd container has no command`);
  const binary = path.basename(argv[0]) === "etcd" ? etcd : argv[0];
  return { binary, args: argv.slice(1), env, cwd: "/" };
}

/**
 * What k3s would run its embedded etcd with: its own settings, then each `etcd-arg` entry of config.yaml (a list, or
 * one string) as `--key=value`, the key's leading dashes dropped; a later entry wins, as in k3s's own merge.
 */
export function k3sLaunch(text: string, file: string, etcd: string, own: readonly string[]): Launch {
  const config = parseYaml(text) as Record<string, unknown> | null;
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new Error(`${file}: not a mapping of settings`);
  }
  const raw = config["etcd-arg"] ?? [];
  const entries = typeof raw === "string" ? [raw] : raw;
  if (!Array.isArray(entries) || entries.some((e) => typeof e !== "string")) {
    throw new Error(`${file}: etcd-arg is not a list of strings`);
  }
  const extra = (entries as string[]).map((entry) => {
    const equals = entry.indexOf("=");
    if (equals < 0) throw new Error(`${file}: etcd-arg entry "${entry}" is not key=value`);
    return `--${entry.slice(0, equals).replace(/^-+/, "")}=${entry.slice(equals + 1)}`;
  });
  return { binary: etcd, args: [...own, ...extra], env: { PATH: SYSTEMD_PATH }, cwd: "/" };
}
