import { InvalidInputError } from "../errors";
import { describeValue } from "./shown";

const UNITS: Readonly<Record<string, number>> = {
  "": 1,
  B: 1,
  K: 1e3,
  k: 1e3,
  KB: 1e3,
  kB: 1e3,
  M: 1e6,
  MB: 1e6,
  G: 1e9,
  GB: 1e9,
  T: 1e12,
  TB: 1e12,
  Ki: 1024,
  KiB: 1024,
  Mi: 1024 ** 2,
  MiB: 1024 ** 2,
  Gi: 1024 ** 3,
  GiB: 1024 ** 3,
  Ti: 1024 ** 4,
  TiB: 1024 ** 4,
};

const SIZE_PATTERN = /^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$/;

const EXAMPLES = `e.g. 8589934592, "8GiB", "8Gi" or "8GB"`;

/**
 * Parses a size into bytes; `field` names the input in the error message. Zero is allowed, negatives are not.
 * A size is a whole number of bytes, or a number with a unit.
 *
 * Binary units (powers of 1024): `Ki`, `Mi`, `Gi`, `Ti`, each with or without a trailing `B` (`64Mi`, `64MiB`).
 * Decimal units (powers of 1000): `K`/`k`, `M`, `G`, `T`, each with or without a trailing `B` (`8G`, `8GB`, `8kB`).
 * This follows Kubernetes quantities, so `8G` is 8,000,000,000 bytes and `8Gi` is 8,589,934,592 bytes.
 * A plain `B` suffix means bytes. Fractions are allowed when they come to a whole number of bytes (`1.5GiB`).
 */
export function parseSize(value: unknown, field: string): number {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidInputError(field, `${value} is not a whole, non-negative number of bytes (${EXAMPLES})`);
    }
    return value;
  }
  if (typeof value !== "string") {
    throw new InvalidInputError(field, `expected a size such as ${EXAMPLES}, got ${describeValue(value)}`);
  }
  const match = SIZE_PATTERN.exec(value.trim());
  if (!match) {
    throw new InvalidInputError(
      field,
      `"${value}" is not a size; write a number of bytes or a number and a unit (${EXAMPLES})`,
    );
  }
  const [, amount, unit] = match;
  const multiplier = UNITS[unit];
  if (multiplier === undefined) {
    throw new InvalidInputError(
      field,
      `"${value}" has an unknown unit "${unit}"; use Ki/Mi/Gi/Ti (1024-based, "B" optional) or K/M/G/T (1000-based)`,
    );
  }
  const bytes = Number(amount) * multiplier;
  if (!Number.isSafeInteger(bytes)) {
    const reason = Number.isInteger(bytes) ? "is too large" : "is not a whole number of bytes";
    throw new InvalidInputError(field, `"${value}" ${reason}`);
  }
  return bytes;
}

/** Formats bytes for people: `1.5 GiB`, `640 MiB`, `512 B`. Exact values stay exact (`8 GiB`, not `8.00 GiB`). */
export function formatSize(bytes: number): string {
  const sign = bytes < 0 ? "-" : "";
  let value = Math.abs(bytes);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1);
  return `${sign}${text} ${units[unit]}`;
}
