import { parseDuration } from "../duration";
import { InvalidInputError } from "../errors";
import { describe } from "../size";

/** How long a run waits for another run's cluster lock when `lockTimeout` is not given. */
const DEFAULT_LOCK_WAIT_MS = 120_000;

/** A boolean input: absent means `fallback`; anything but true or false (null, "false") is refused. */
export function validateBoolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw new InvalidInputError(field, `expected true or false, got ${describe(value)}`);
  return value;
}

/** `lockTimeout`, shared by both resources: a duration, by default two minutes. */
export function lockTimeoutMs(value: unknown): number {
  return value === undefined ? DEFAULT_LOCK_WAIT_MS : parseDuration(value, "lockTimeout");
}
