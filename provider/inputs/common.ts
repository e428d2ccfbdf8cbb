import { parseDuration } from "../values/duration";
import { InvalidInputError } from "../errors";
import { describeValue } from "../values/shown";

/** How long a run waits for another run's cluster lock when `lockTimeout` is not given. */
const DEFAULT_LOCK_WAIT_MS = 120_000;
/** etcd-defrag's default: NOSPACE lifted while a member is this full would come straight back. */
const DEFAULT_DISARM_BELOW = 0.9;
const DEFAULT_CALL_TIMEOUT_MS = 10_000;
const MAX_CALL_TIMEOUT_MS = 10 * 60_000;
const MAX_PAUSE_MS = 60 * 60_000;

/** A boolean input: absent means `fallback`; anything but true or false (null, "false") is refused. */
export function validateBoolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean")
    throw new InvalidInputError(field, `expected true or false, got ${describeValue(value)}`);
  return value;
}

/**
 * `resourceName`: the name the program gave the resource, which the SDK classes pass in so that progress lines name
 * it. Absent in state written before it existed.
 */
export function validateResourceName(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new InvalidInputError("resourceName", `expected the resource's name, got ${describeValue(value)}`);
  }
  return value;
}

/** `lockTimeout`, shared by both resources: a duration, by default two minutes. */
export function lockTimeoutMs(value: unknown): number {
  return value === undefined ? DEFAULT_LOCK_WAIT_MS : parseDuration(value, "lockTimeout");
}

/** A share between 0 and 1 (both included). */
export function validateFraction(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new InvalidInputError(
      field,
      `expected a fraction between 0 and 1 (e.g. 0.8 for 80%), got ${describeValue(value)}`,
    );
  }
  return value;
}

/** How a run paces itself and bounds its calls: the same inputs, with the same defaults, on both resources. */
export interface PacingSettings {
  /** NOSPACE is disarmed only once every member's DB is below this share of the quota it reports. */
  readonly disarmBelow: number;
  /** The wait after one member's defrag or restart before the next member's; 0: none. */
  readonly pauseBetweenMembersMs: number;
  /** The bound on connecting to a member and on each call to it (a defrag's and a compaction's grow with the DB). */
  readonly callTimeoutMs: number;
}

/** `disarmBelow`, `pauseBetweenMembers` and `callTimeout`, validated. */
export function pacingSettings(inputs: Record<string, unknown>): PacingSettings {
  const disarmBelow =
    inputs.disarmBelow === undefined ? DEFAULT_DISARM_BELOW : validateFraction(inputs.disarmBelow, "disarmBelow");
  if (disarmBelow === 0) {
    throw new InvalidInputError("disarmBelow", "0 would never disarm; use disarmNoSpace: false for that");
  }
  const pause = inputs.pauseBetweenMembers;
  const pauseBetweenMembersMs = pause === undefined || pause === 0 ? 0 : parseDuration(pause, "pauseBetweenMembers");
  if (pauseBetweenMembersMs > MAX_PAUSE_MS) {
    throw new InvalidInputError("pauseBetweenMembers", `at most 1h, got ${describeValue(pause)}`);
  }
  const callTimeoutMs =
    inputs.callTimeout === undefined ? DEFAULT_CALL_TIMEOUT_MS : parseDuration(inputs.callTimeout, "callTimeout");
  if (callTimeoutMs < 1000 || callTimeoutMs > MAX_CALL_TIMEOUT_MS) {
    throw new InvalidInputError("callTimeout", `expected 1s to 10m, got ${describeValue(inputs.callTimeout)}`);
  }
  return { disarmBelow, pauseBetweenMembersMs, callTimeoutMs };
}
