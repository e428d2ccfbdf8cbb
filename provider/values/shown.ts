/** How an input's value is shown in a message about it. */

/**
 * What kind of value a secret input was given, and never the value itself: `a string of 1,675 characters`, `a
 * number`. Check failures reach CI logs, so a private key or password must not be repeated in them.
 */
export function describeShape(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return `a string of ${value.length.toLocaleString("en-US")} characters`;
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

/** A short description of an unexpected value for error messages; {@link describeShape} for a secret one. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
