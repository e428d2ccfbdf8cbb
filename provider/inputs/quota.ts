import { parseFormat } from "../config";
import type { ConfigFormat } from "../config/format";
import { InvalidInputError } from "../errors";
import type { Connection } from "./connection";
import { validateConnection } from "./connection";
import { checkPath } from "./paths";
import { rejectMisspelledKeys } from "./check";
import { parseDuration } from "../values/duration";
import { formatSize, parseSize } from "../values/size";
import { describeValue } from "../values/shown";
import type { EtcdAccess } from "./access";
import { validateAccess, validateEndpoint, validateMemberList } from "./access";
import type { PacingSettings } from "./common";
import { lockTimeoutMs, pacingSettings, validateBoolean, validateResourceName } from "./common";
import type { SnapshotSettings } from "./snapshot";
import { validateSnapshot } from "./snapshot";

/** etcd's suggested maximum; it logs a warning above it (dev-guide/limit.md). */
const RECOMMENDED_MAX_QUOTA = 8 * 1024 ** 3;
const DEFAULT_RESTART_TIMEOUT_MS = 180_000;
const DEFAULT_BACKUPS_KEPT = 5;
const MAX_BACKUPS_KEPT = 100;

/** One member of EtcdQuota's `members`, validated. */
export interface MemberSpec {
  readonly endpoint: string;
  /** Absolute path of the file that holds the member's quota. */
  readonly configFile: string;
  /** Given by the user, or undefined to detect it from the file. */
  readonly format: ConfigFormat | undefined;
  /** Given by the user, or undefined for the format's default. */
  readonly restartCommand: string | undefined;
  /** How to reach the host; undefined means this machine. */
  readonly connection: Connection | undefined;
}

/** EtcdQuota's inputs, validated and with defaults applied. */
export interface QuotaSettings extends PacingSettings {
  readonly access: EtcdAccess;
  readonly quotaBytes: number;
  readonly members: readonly MemberSpec[];
  readonly allowAboveRecommended: boolean;
  readonly restartTimeoutMs: number;
  /** How long to wait for another run's cluster lock. */
  readonly lockTimeoutMs: number;
  readonly disarmNoSpace: boolean;
  /** The snapshot taken before the first restart; undefined: none. */
  readonly snapshot: SnapshotSettings | undefined;
  /** How many backups of each config file a write leaves, the one it just made included; older ones are deleted. */
  readonly keepBackups: number;
  /** The resource's name in the program, for progress lines; undefined in state older than it. */
  readonly resourceName: string | undefined;
}

/** `keepBackups`: absent (also in state written before it existed) means {@link DEFAULT_BACKUPS_KEPT}. */
function validateKeepBackups(value: unknown): number {
  if (value === undefined) return DEFAULT_BACKUPS_KEPT;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > MAX_BACKUPS_KEPT) {
    throw new InvalidInputError(
      "keepBackups",
      `expected a whole number of backups to keep per config file, 1 to ${MAX_BACKUPS_KEPT}, got ${describeValue(value)}`,
    );
  }
  return value;
}

function validateMember(value: unknown, field: string): MemberSpec {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidInputError(field, `expected { endpoint, configFile, ... }, got ${describeValue(value)}`);
  }
  const raw = value as Record<string, unknown>;
  const known = ["endpoint", "configFile", "format", "restartCommand", "connection"];
  rejectMisspelledKeys(raw, known, field, "member setting");
  const endpoint = validateEndpoint(raw.endpoint, `${field}.endpoint`);
  if (typeof raw.configFile !== "string" || raw.configFile === "") {
    throw new InvalidInputError(
      `${field}.configFile`,
      `expected the path of the member's config file, got ${describeValue(raw.configFile)}`,
    );
  }
  try {
    checkPath("the member's host", raw.configFile);
  } catch (error) {
    throw new InvalidInputError(`${field}.configFile`, error instanceof Error ? error.message : String(error));
  }
  let restartCommand: string | undefined;
  if (raw.restartCommand !== undefined) {
    if (typeof raw.restartCommand !== "string" || /[\0\n\r]/.test(raw.restartCommand)) {
      throw new InvalidInputError(
        `${field}.restartCommand`,
        'expected one line of shell, e.g. "systemctl restart etcd"',
      );
    }
    // A blank command would be taken for "the kubelet restarts it": the file would change and nothing restart it.
    if (raw.restartCommand.trim() === "") {
      throw new InvalidInputError(
        `${field}.restartCommand`,
        "is blank; leave it unset for the format's default (none for a kubeadm manifest, which the kubelet restarts)",
      );
    }
    restartCommand = raw.restartCommand;
  }
  return {
    endpoint,
    configFile: raw.configFile,
    format: raw.format === undefined ? undefined : parseFormat(raw.format, `${field}.format`),
    restartCommand,
    connection:
      raw.connection === undefined || raw.connection === null
        ? undefined
        : validateConnection(raw.connection, `${field}.connection`),
  };
}

/**
 * Validates EtcdQuota's raw inputs; every error names the field. Inputs named in `unknown` are not known yet
 * (preview) and are validated at the next check.
 */
export function quotaSettings(raw: Record<string, unknown>, unknown: ReadonlySet<string> = new Set()): QuotaSettings {
  const inputs = Object.fromEntries(Object.entries(raw).filter(([key]) => !unknown.has(key)));
  // One null policy for every input: only an absent value takes the default.
  const allowAboveRecommended = validateBoolean(inputs.allowAboveRecommended, "allowAboveRecommended", false);
  const disarmNoSpace = validateBoolean(inputs.disarmNoSpace, "disarmNoSpace", true);
  let quotaBytes = 0;
  if (!unknown.has("quota")) {
    if (inputs.quota === undefined) throw new InvalidInputError("quota", `is required, e.g. "8GiB"`);
    quotaBytes = parseSize(inputs.quota, "quota");
    if (quotaBytes === 0) {
      throw new InvalidInputError(
        "quota",
        'must be above zero (0 would mean etcd\'s 2 GiB default; say "2GiB" if that is meant)',
      );
    }
    if (quotaBytes > RECOMMENDED_MAX_QUOTA && !allowAboveRecommended) {
      throw new InvalidInputError(
        "quota",
        `${formatSize(quotaBytes)} is above the ${formatSize(RECOMMENDED_MAX_QUOTA)} etcd suggests at most (larger DBs make defrags and snapshots slow); set allowAboveRecommended: true to go above it`,
      );
    }
  }
  let members: MemberSpec[] = [];
  if (!unknown.has("members")) {
    members = validateMemberList(inputs.members).map((member, i) => validateMember(member, `members[${i}]`));
    const seen = new Set<string>();
    members.forEach((member, i) => {
      if (seen.has(member.endpoint))
        throw new InvalidInputError(`members[${i}].endpoint`, `"${member.endpoint}" is listed twice`);
      seen.add(member.endpoint);
    });
  }
  let access: EtcdAccess;
  try {
    access = validateAccess(
      { ...inputs, endpoints: members.map((m) => m.endpoint) },
      new Set([...unknown, ...(members.length === 0 ? ["endpoints"] : [])]),
    );
  } catch (error) {
    // EtcdQuota has no `endpoints` input: name the member whose endpoint is at fault (tls with http://).
    if (!(error instanceof InvalidInputError) || error.field !== "endpoints") throw error;
    const i = Math.max(
      0,
      members.findIndex((m) => m.endpoint.startsWith("http:")),
    );
    throw new InvalidInputError(`members[${i}].endpoint`, error.problem);
  }
  return {
    access,
    quotaBytes,
    members,
    allowAboveRecommended,
    restartTimeoutMs:
      inputs.restartTimeout === undefined
        ? DEFAULT_RESTART_TIMEOUT_MS
        : parseDuration(inputs.restartTimeout, "restartTimeout"),
    lockTimeoutMs: lockTimeoutMs(inputs.lockTimeout),
    disarmNoSpace,
    snapshot: validateSnapshot(inputs.snapshot),
    keepBackups: validateKeepBackups(inputs.keepBackups),
    resourceName: validateResourceName(inputs.resourceName),
    ...pacingSettings(inputs),
  };
}
