import { InvalidInputError } from "../errors";
import { describeValue } from "./shown";

const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)/g;
const WHOLE = /^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+$/;
const MS_PER_UNIT: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a positive duration into milliseconds; `field` names the input in the error message. A duration is seconds
 * as a number, or Go-style text such as `"90s"`, `"3m"`, `"1m30s"`, `"500ms"`, and days (`"7d"`), which Go's syntax
 * lacks.
 */
export function parseDuration(value: unknown, field: string): number {
  let ms: number;
  if (typeof value === "number") {
    ms = value * 1000;
  } else if (typeof value === "string" && WHOLE.test(value.trim())) {
    ms = 0;
    for (const [, amount, unit] of value.trim().matchAll(PART)) ms += Number(amount) * MS_PER_UNIT[unit];
  } else {
    throw new InvalidInputError(
      field,
      `expected a duration such as 90, "90s", "3m" or "1m30s", got ${describeValue(value)}`,
    );
  }
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new InvalidInputError(field, `must be a positive duration, got ${describeValue(value)}`);
  }
  return Math.round(ms);
}

/** Formats milliseconds for progress messages: `0.8s`, `12.3s`, `2m05s`, `5h07m`, `3d04h`. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms >= 86_400_000) {
    const hours = Math.round(ms / 3_600_000);
    return `${Math.floor(hours / 24)}d${String(hours % 24).padStart(2, "0")}h`;
  }
  if (ms >= 3_600_000) {
    const minutes = Math.round(ms / 60_000);
    return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
  }
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes}m${String(seconds).padStart(2, "0")}s`;
}
