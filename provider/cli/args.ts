/**
 * The break-glass command's arguments: parsed with node's own parser, then turned into EtcdCompaction's raw inputs
 * and validated by the same function `check` uses (inputs/compaction.ts), so the command and the resource accept
 * exactly the same values. Errors name the flag, not the input.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { EtcdQuotaError, InvalidInputError } from "../errors";
import type { CompactionSettings } from "../inputs/compaction";
import { compactionSettings } from "../inputs/compaction";
import { refuseCleartextCredentials } from "../inputs/access";

/** The command line is wrong: an unknown flag, a missing or bad value, an unreadable file. Nothing was changed. */
export class UsageError extends EtcdQuotaError {
  constructor(
    /** The flag at fault (`--retain-revisions`), or empty when the problem is not one flag's. */
    readonly flag: string,
    readonly problem: string,
  ) {
    super(flag ? `${flag}: ${problem}` : problem);
  }
}

export type Command = "maintain" | "status";

/** What the command line asks for. */
export interface Invocation {
  readonly command: Command;
  readonly settings: CompactionSettings;
  /** Print the plan and stop before changing anything. */
  readonly dryRun: boolean;
}

/** The flag behind each of EtcdCompaction's inputs, for error messages. */
const FLAG_OF_INPUT: Readonly<Record<string, string>> = {
  endpoints: "--endpoints",
  "tls.ca": "--cacert",
  "tls.cert": "--cert",
  "tls.key": "--key",
  tls: "--cert",
  username: "--user",
  password: "--password",
  retainRevisions: "--retain-revisions",
  defrag: "--no-defrag",
  moveLeader: "--no-move-leader",
  disarmNoSpace: "--no-disarm",
  disarmBelow: "--disarm-below",
  "snapshot.path": "--snapshot",
  "snapshot.keep": "--snapshot-keep",
  snapshot: "--snapshot",
  callTimeout: "--call-timeout",
  lockTimeout: "--lock-timeout",
  pauseBetweenMembers: "--pause-between-members",
  allowInsecureCredentials: "--allow-insecure-credentials",
};

/** The flag for an input's field as errors name it: `endpoints[1]` is the second of `--endpoints`. */
export function flagOf(field: string): string {
  const exact = FLAG_OF_INPUT[field];
  if (exact) return exact;
  const list = /^(\w+)\[(\d+)\]/.exec(field);
  if (list && FLAG_OF_INPUT[list[1]]) return `${FLAG_OF_INPUT[list[1]]} (entry ${Number(list[2]) + 1})`;
  return FLAG_OF_INPUT[field.split(".")[0]] ?? field;
}

const OPTIONS = {
  endpoints: { type: "string", multiple: true },
  cacert: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  "retain-revisions": { type: "string" },
  "no-defrag": { type: "boolean" },
  "no-move-leader": { type: "boolean" },
  "no-disarm": { type: "boolean" },
  "disarm-below": { type: "string" },
  snapshot: { type: "string" },
  "snapshot-keep": { type: "string" },
  "call-timeout": { type: "string" },
  "lock-timeout": { type: "string" },
  "pause-between-members": { type: "string" },
  "allow-insecure-credentials": { type: "boolean" },
  "dry-run": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** The environment variable read for the password when `--user` gives none, so it stays out of `ps`. */
export const PASSWORD_VARIABLE = "ETCD_QUOTA_PASSWORD";

/** A number where the input takes one (`"3"` → 3), otherwise the text, for the input's own validation to judge. */
function numberOrText(value: string | undefined): number | string | undefined {
  return value !== undefined && /^[0-9]+(?:\.[0-9]+)?$/.test(value.trim()) ? Number(value) : value;
}

function readPem(file: string | undefined, flag: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(flag, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** `--user name[:password]`, as etcdctl takes it; the password may also come from `--password` or the environment. */
function credentials(
  user: string | undefined,
  password: string | undefined,
  env: NodeJS.ProcessEnv,
): { username?: string; password?: string } {
  if (user === undefined) {
    if (password !== undefined) throw new UsageError("--password", "give --user too");
    return {};
  }
  const colon = user.indexOf(":");
  if (colon >= 0) {
    if (password !== undefined) throw new UsageError("--password", "the password is already in --user name:password");
    return { username: user.slice(0, colon), password: user.slice(colon + 1) };
  }
  const fromEnv = env[PASSWORD_VARIABLE];
  if (password === undefined && fromEnv === undefined) {
    throw new UsageError("--user", `give the password as --user ${user}:PASSWORD, --password or $${PASSWORD_VARIABLE}`);
  }
  return { username: user, password: password ?? fromEnv };
}

/**
 * Parses the command line (without `node` and the script); returns undefined when `--help` is asked for. Throws
 * UsageError naming the flag for anything wrong, before any connection is made.
 */
export function parseInvocation(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Invocation | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError("", error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  if (positionals.length === 0) throw new UsageError("", "give a command: maintain or status");
  const [command, ...extra] = positionals;
  if (command !== "maintain" && command !== "status") {
    throw new UsageError("", `unknown command "${command}"; the commands are maintain and status`);
  }
  if (extra.length > 0) throw new UsageError("", `unexpected argument "${extra[0]}"`);
  if (values["dry-run"] && command !== "maintain") throw new UsageError("--dry-run", "only maintain takes it");
  if (values.endpoints === undefined) throw new UsageError("--endpoints", "required: the members' client URLs");
  const ca = readPem(values.cacert, "--cacert");
  const cert = readPem(values.cert, "--cert");
  const key = readPem(values.key, "--key");
  const tls = ca || cert || key ? { ca, cert, key } : undefined;
  const snapshotKeep = numberOrText(values["snapshot-keep"]);
  if (snapshotKeep !== undefined && values.snapshot === undefined) {
    throw new UsageError("--snapshot-keep", "give --snapshot too");
  }
  const raw: Record<string, unknown> = {
    endpoints: values.endpoints.flatMap((list) => list.split(",")).map((e) => e.trim()),
    tls: tls && Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)),
    ...credentials(values.user, values.password, env),
    retainRevisions: numberOrText(values["retain-revisions"]),
    defrag: values["no-defrag"] ? false : undefined,
    moveLeader: values["no-move-leader"] ? false : undefined,
    disarmNoSpace: values["no-disarm"] ? false : undefined,
    disarmBelow: numberOrText(values["disarm-below"]),
    snapshot: values.snapshot === undefined ? undefined : { path: values.snapshot, keep: snapshotKeep },
    callTimeout: numberOrText(values["call-timeout"]),
    lockTimeout: numberOrText(values["lock-timeout"]),
    pauseBetweenMembers: numberOrText(values["pause-between-members"]),
    allowInsecureCredentials: values["allow-insecure-credentials"] ? true : undefined,
    resourceName: "etcd-quota",
  };
  const inputs = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  if (inputs.snapshot) inputs.snapshot = Object.fromEntries(Object.entries(inputs.snapshot).filter(([, v]) => v));
  try {
    const settings = compactionSettings(inputs);
    // The same refusal as EtcdCompaction's check: a password over http:// only with the user's word.
    refuseCleartextCredentials(settings.access, (i) => `endpoints[${i}]`);
    return { command, settings, dryRun: values["dry-run"] === true };
  } catch (error) {
    if (error instanceof InvalidInputError) throw new UsageError(flagOf(error.field), error.problem);
    throw error;
  }
}

/** `--help`. */
export const USAGE = `Usage:
  etcd-quota maintain --endpoints URL[,URL...] [options]   compact, defragment, disarm NOSPACE, as EtcdCompaction does
  etcd-quota status   --endpoints URL[,URL...] [options]   show the members, the alarms and the plan; change nothing

The same plan and the same safety rules as the EtcdCompaction resource, without Pulumi: a health gate (every member
answers, a leader, no alarm but NOSPACE), the cluster lock, one physical compaction, defrag one member at a time
(followers first, the leader last after moving leadership away), and NOSPACE disarmed only once every member is below
--disarm-below of its quota. The plan is printed before anything changes.

Access:
  --endpoints URLS         every member's client URL, comma-separated or the flag repeated (required)
  --cacert FILE            CA certificate (PEM) that signed the members' server certificates
  --cert FILE, --key FILE  client certificate and key (PEM), for members with --client-cert-auth
  --user NAME[:PASSWORD]   etcd user (needs the root role); the password may also be given with --password or in
                           $${PASSWORD_VARIABLE}
  --password PASSWORD

Maintenance (EtcdCompaction's inputs of the same meaning and defaults):
  --retain-revisions N     revisions to keep readable (retainRevisions; default 0: only the latest values)
  --no-defrag              never defragment (defrag: false)
  --no-move-leader         defragment the leader without moving leadership away first (moveLeader: false)
  --no-disarm              leave NOSPACE raised (disarmNoSpace: false)
  --disarm-below SHARE     disarm only once every member is below this share of its quota (default 0.9)
  --snapshot PATH          snapshot before compacting, to an absolute path with {time} in the file name
  --snapshot-keep N        snapshots of that path to keep (default 3)
  --call-timeout DUR       bound on connecting and on each quick call (default 10s)
  --lock-timeout DUR       how long to wait for another run's cluster lock (default 2m)
  --pause-between-members DUR   wait after one member's defrag before the next (default none)
  --allow-insecure-credentials  send --user's password to http:// endpoints (refused otherwise)
  --dry-run                maintain: print the plan and stop; nothing is changed
  -h, --help               this text

Durations: 90, 90s, 3m, 1m30s, 500ms.

Exit codes:
  0  maintain: done, or nothing to do, or the plan printed (--dry-run); status: no maintenance needed
  1  failed: a step failed (what was done before it is printed; run again to resume)
  2  bad usage: an unknown flag, a bad value or an unreadable file; nothing was contacted or changed
  3  refused as unsafe: a member down, no leader, an alarm other than NOSPACE, or NOSPACE kept because a member
     is still at or above --disarm-below of its quota
  4  cannot reach the cluster: no member answered, or TLS or the credentials were refused; nothing was changed
  5  status: maintenance is needed (the reasons are printed)
`;
