import { rejectMisspelledKeys } from "./check";
import { InvalidInputError } from "../errors";
import { parseDuration } from "../values/duration";
import { parseSize } from "../values/size";
import { describeValue } from "../values/shown";
import type { EtcdAccess } from "./access";
import { validateAccess } from "./access";
import type { PacingSettings } from "./common";
import { lockTimeoutMs, pacingSettings, validateBoolean, validateFraction, validateResourceName } from "./common";
import type { SnapshotSettings } from "./snapshot";
import { validateSnapshot } from "./snapshot";

/** When a member's defrag pays off; a member is defragmented when any threshold given is met. */
export interface DefragThresholds {
  /** Reclaimable bytes (`dbSize - dbSizeInUse`) at or above which to defragment. */
  readonly minFreeBytes?: number;
  /** Reclaimable share of the DB file (0..1) at or above which to defragment. */
  readonly minFragmentation?: number;
}

/** What counts as drift: when any condition given holds, `read` reports that maintenance is needed. */
export interface DriftConditions {
  /** A NOSPACE alarm is raised on any member. */
  readonly noSpaceAlarm?: boolean;
  /** Some member's DB file is above this share (0..1) of its quota. */
  readonly quotaUsageAbove?: number;
  /** Some member's DB file holds more than this many reclaimable bytes. */
  readonly freeBytesAbove?: number;
  /** The forecast says the largest DB file reaches the quota within this many milliseconds. */
  readonly fullWithinMs?: number;
}

/** EtcdCompaction's inputs, validated and with defaults applied. */
export interface CompactionSettings extends PacingSettings {
  readonly access: EtcdAccess;
  readonly retainRevisions: number;
  /** `false`: never defragment. */
  readonly defrag: DefragThresholds | false;
  readonly moveLeader: boolean;
  readonly disarmNoSpace: boolean;
  readonly when: DriftConditions;
  /** How long to wait for another run's cluster lock. */
  readonly lockTimeoutMs: number;
  /** The snapshot taken before compacting; undefined: none. */
  readonly snapshot: SnapshotSettings | undefined;
  /** The resource's name in the program, for progress lines; undefined in state older than it. */
  readonly resourceName: string | undefined;
}

const DEFAULT_DEFRAG: DefragThresholds = { minFreeBytes: 64 * 1024 ** 2, minFragmentation: 0.2 };
const DEFAULT_WHEN: DriftConditions = {
  noSpaceAlarm: true,
  quotaUsageAbove: 0.8,
  freeBytesAbove: 256 * 1024 ** 2,
};

function validateObject(value: unknown, field: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidInputError(field, `expected an object with ${keys.join(", ")}, got ${describeValue(value)}`);
  }
  rejectMisspelledKeys(value as Record<string, unknown>, keys, field, `${field} setting`);
  return value as Record<string, unknown>;
}

function validateDefrag(value: unknown): DefragThresholds | false {
  if (value === undefined) return DEFAULT_DEFRAG;
  if (value === false) return false;
  const raw = validateObject(value, "defrag", ["minFreeBytes", "minFragmentation"]);
  const thresholds: DefragThresholds = {
    minFreeBytes: raw.minFreeBytes === undefined ? undefined : parseSize(raw.minFreeBytes, "defrag.minFreeBytes"),
    minFragmentation:
      raw.minFragmentation === undefined
        ? undefined
        : validateFraction(raw.minFragmentation, "defrag.minFragmentation"),
  };
  if (thresholds.minFreeBytes === undefined && thresholds.minFragmentation === undefined) {
    throw new InvalidInputError("defrag", "give minFreeBytes, minFragmentation or both; use false to never defragment");
  }
  return thresholds;
}

function validateWhen(value: unknown): DriftConditions {
  if (value === undefined) return DEFAULT_WHEN;
  const raw = validateObject(value, "when", ["noSpaceAlarm", "quotaUsageAbove", "freeBytesAbove", "fullWithin"]);
  return {
    noSpaceAlarm: validateBoolean(raw.noSpaceAlarm, "when.noSpaceAlarm", false),
    quotaUsageAbove:
      raw.quotaUsageAbove === undefined ? undefined : validateFraction(raw.quotaUsageAbove, "when.quotaUsageAbove"),
    freeBytesAbove: raw.freeBytesAbove === undefined ? undefined : parseSize(raw.freeBytesAbove, "when.freeBytesAbove"),
    fullWithinMs: raw.fullWithin === undefined ? undefined : parseDuration(raw.fullWithin, "when.fullWithin"),
  };
}

/**
 * Validates EtcdCompaction's raw inputs; every error names the field. Inputs named in `unknown` are not known yet
 * (preview) and are validated at the next check.
 */
export function compactionSettings(
  raw: Record<string, unknown>,
  unknown: ReadonlySet<string> = new Set(),
): CompactionSettings {
  const inputs = Object.fromEntries(Object.entries(raw).filter(([key]) => !unknown.has(key)));
  // Only an absent value means the default: null (which is also what JSON makes of 1e400, NaN or Infinity) must not
  // quietly select the most destructive setting, keeping no history at all.
  const retain = inputs.retainRevisions === undefined ? 0 : inputs.retainRevisions;
  if (typeof retain !== "number" || !Number.isSafeInteger(retain) || retain < 0) {
    throw new InvalidInputError(
      "retainRevisions",
      `expected a whole number of revisions to keep, 0 or more, got ${describeValue(retain)}`,
    );
  }
  if (inputs.triggers !== undefined && !Array.isArray(inputs.triggers)) {
    throw new InvalidInputError("triggers", `expected a list, got ${describeValue(inputs.triggers)}`);
  }
  return {
    access: validateAccess(inputs, unknown),
    retainRevisions: retain,
    defrag: validateDefrag(inputs.defrag),
    moveLeader: validateBoolean(inputs.moveLeader, "moveLeader", true),
    disarmNoSpace: validateBoolean(inputs.disarmNoSpace, "disarmNoSpace", true),
    lockTimeoutMs: lockTimeoutMs(inputs.lockTimeout),
    when: validateWhen(inputs.when),
    snapshot: validateSnapshot(inputs.snapshot),
    resourceName: validateResourceName(inputs.resourceName),
    ...pacingSettings(inputs),
  };
}
