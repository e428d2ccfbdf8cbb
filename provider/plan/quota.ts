import { rejectUnknownKeys } from "../names";
import { ConfigFormat, parseFormat } from "../config";
import { parseDuration } from "../duration";
import { InvalidInputError } from "../errors";
import { EtcdAccess, validateAccess, validateEndpoint, validateMemberList } from "../etcd/access";
import { canSpareOne, ClusterObservation, healthProblems, votingMembers } from "../etcd/cluster";
import { Connection, validateConnection } from "../hosts/connection";
import { checkPath } from "../hosts/shell";
import { DEFAULT_LOCK_WAIT_MS } from "../etcd/lock";
import { describe, formatSize, parseSize } from "../size";

/** etcd's suggested maximum; it logs a warning above it (dev-guide/limit.md). */
export const RECOMMENDED_MAX_QUOTA = 8 * 1024 ** 3;
export const DEFAULT_RESTART_TIMEOUT_MS = 180_000;

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
export interface QuotaSettings {
  readonly access: EtcdAccess;
  readonly quotaBytes: number;
  readonly members: readonly MemberSpec[];
  readonly allowAboveRecommended: boolean;
  readonly restartTimeoutMs: number;
  /** How long to wait for another run's cluster lock. */
  readonly lockTimeoutMs: number;
  readonly disarmNoSpace: boolean;
}

function validateMember(value: unknown, field: string): MemberSpec {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidInputError(field, `expected { endpoint, configFile, ... }, got ${describe(value)}`);
  }
  const raw = value as Record<string, unknown>;
  const known = ["endpoint", "configFile", "format", "restartCommand", "connection"];
  rejectUnknownKeys(raw, known, field, "member setting");
  const endpoint = validateEndpoint(raw.endpoint, `${field}.endpoint`);
  if (typeof raw.configFile !== "string" || raw.configFile === "") {
    throw new InvalidInputError(
      `${field}.configFile`,
      `expected the path of the member's config file, got ${describe(raw.configFile)}`,
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
  const allowAboveRecommended = inputs.allowAboveRecommended ?? false;
  if (typeof allowAboveRecommended !== "boolean") {
    throw new InvalidInputError(
      "allowAboveRecommended",
      `expected true or false, got ${describe(allowAboveRecommended)}`,
    );
  }
  const disarmNoSpace = inputs.disarmNoSpace ?? true;
  if (typeof disarmNoSpace !== "boolean") {
    throw new InvalidInputError("disarmNoSpace", `expected true or false, got ${describe(disarmNoSpace)}`);
  }
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
    lockTimeoutMs:
      inputs.lockTimeout === undefined ? DEFAULT_LOCK_WAIT_MS : parseDuration(inputs.lockTimeout, "lockTimeout"),
    disarmNoSpace,
  };
}

/** The restart each format needs when the user gives none: systemd reloads the unit; the kubelet needs nothing. */
export function defaultRestartCommand(format: ConfigFormat, configFile: string): string {
  switch (format) {
    case "systemd-unit": {
      const unit = configFile.split("/").pop()!;
      return `systemctl daemon-reload && systemctl restart '${unit.replace(/'/g, "")}'`;
    }
    case "env-file":
    case "etcd-config":
      return "systemctl restart etcd";
    case "kubeadm-manifest":
      return "";
  }
}

/** What was found about one member before changing anything. */
export interface MemberFacts {
  readonly spec: MemberSpec;
  /** The config file with every link followed: the file an edit changes. */
  readonly realPath: string;
  readonly format: ConfigFormat;
  /** The quota the file sets (undefined: not set, so etcd's 2 GiB default). */
  readonly configuredBytes: number | undefined;
  /** Where in the file, for messages. */
  readonly location: string;
  /** The quota the running member reports. */
  readonly liveBytes: number | undefined;
  /** The member's name and ID once matched to the cluster; undefined when its endpoint did not answer. */
  readonly name: string | undefined;
  readonly id: string | undefined;
  readonly dbSize: number | undefined;
  readonly isLeader: boolean;
}

/** One member's step in the rolling change. */
export interface QuotaStep {
  readonly member: string;
  readonly endpoint: string;
  /** `write-and-restart`: edit the file, then restart; `restart`: the file is right but the member runs another quota; `none`: already right. */
  readonly action: "write-and-restart" | "restart" | "none";
  readonly reason: string;
  /** Lead elsewhere first (the leader goes last, after handing leadership to a follower). */
  readonly moveLeader: boolean;
}

export interface QuotaPlan {
  /** Why the change must not start; empty when it may. Each names the input to fix. */
  readonly refusals: readonly { readonly field: string; readonly reason: string }[];
  readonly warnings: readonly string[];
  /** In order: followers by name, the leader last. */
  readonly steps: readonly QuotaStep[];
}

/** The config file as given, and where it leads when that is another path: the preview shows what is edited. */
function fileOf(fact: MemberFacts): string {
  const { configFile } = fact.spec;
  return fact.realPath === configFile ? configFile : `${configFile} (a link to ${fact.realPath})`;
}

function needsChange(facts: MemberFacts, quotaBytes: number): QuotaStep["action"] {
  if (facts.configuredBytes !== quotaBytes) return "write-and-restart";
  return facts.liveBytes === quotaBytes ? "none" : "restart";
}

/**
 * The rolling change as data: refusals first (a quota that would raise NOSPACE at once, an unhealthy cluster, a
 * member that cannot be spared, members missing from the list), then one step per member, followers first and the
 * leader last, skipping members that already run the declared quota from their file.
 */
export function planQuota(
  observation: ClusterObservation,
  facts: readonly MemberFacts[],
  settings: QuotaSettings,
): QuotaPlan {
  const refusals: { field: string; reason: string }[] = [];
  const warnings: string[] = [];
  const problems = healthProblems(observation, "members (every member needs the same quota)");
  for (const problem of problems) refusals.push({ field: "members", reason: problem });
  facts.forEach((fact, i) => {
    if (fact.dbSize !== undefined && settings.quotaBytes <= fact.dbSize) {
      refusals.push({
        field: "quota",
        reason: `${formatSize(settings.quotaBytes)} is not above ${fact.name ?? fact.spec.endpoint}'s DB of ${formatSize(fact.dbSize)} (members[${i}]): etcd would raise NOSPACE as soon as it started; defragment first (EtcdCompaction) or choose a larger quota`,
      });
    }
  });
  const steps = facts
    .filter((f) => f.name !== undefined)
    .map((fact): QuotaStep => {
      const action = needsChange(fact, settings.quotaBytes);
      const from = fact.configuredBytes === undefined ? "unset (2 GiB default)" : formatSize(fact.configuredBytes);
      const reason =
        action === "write-and-restart"
          ? `${fileOf(fact)} (${fact.format}, ${fact.location}): ${from} -> ${formatSize(settings.quotaBytes)}`
          : action === "restart"
            ? `the file says ${formatSize(settings.quotaBytes)} but the member runs ${fact.liveBytes === undefined ? "an unknown quota" : formatSize(fact.liveBytes)}`
            : `already runs ${formatSize(settings.quotaBytes)} from its file`;
      return { member: fact.name!, endpoint: fact.spec.endpoint, action, reason, moveLeader: false };
    })
    .sort((a, b) => {
      const leader = (s: QuotaStep) => Number(facts.find((f) => f.spec.endpoint === s.endpoint)?.isLeader ?? false);
      return leader(a) - leader(b) || a.member.localeCompare(b.member);
    });
  const voters = votingMembers(observation).length;
  const restarting = steps.filter((s) => s.action !== "none");
  if (problems.length === 0 && restarting.length > 0 && voters > 1 && !canSpareOne(observation)) {
    refusals.push({
      field: "members",
      reason: `restarting a member would leave ${voters - 1} of ${voters} voting members, below quorum with one to spare`,
    });
  }
  if (restarting.length > 0 && voters === 1) {
    warnings.push("this cluster has one member: it is unavailable while it restarts");
  }
  const withLeaderMove = steps.map((step) => {
    const isLeader = facts.find((f) => f.spec.endpoint === step.endpoint)?.isLeader ?? false;
    return isLeader && step.action !== "none" && voters > 1 ? { ...step, moveLeader: true } : step;
  });
  return { refusals, warnings, steps: withLeaderMove };
}

/** One line per step, for previews and progress messages. */
export function describeQuotaStep(step: QuotaStep): string {
  const lead = step.moveLeader ? "move leadership away, then " : "";
  switch (step.action) {
    case "write-and-restart":
      return `${step.member}: ${lead}write ${step.reason}, restart, verify`;
    case "restart":
      return `${step.member}: ${lead}restart (${step.reason}), verify`;
    case "none":
      return `${step.member}: nothing to do (${step.reason})`;
  }
}
