import type { CheckFailure } from "../errors";
import { checkFailure, InvalidInputError } from "../errors";

/**
 * The known name a misspelled one most likely meant: the closest by edit distance, ignoring case and `_`/`-`, if it
 * is close enough to be a typo (at most a third of the shorter name's letters differ, and no more than 3).
 */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const normal = (text: string) => text.toLowerCase().replace(/[_-]/g, "");
  const wanted = normal(name);
  let best: { readonly name: string; readonly distance: number } | undefined;
  for (const candidate of known) {
    const other = normal(candidate);
    // Judged on the shorter name, so that `cacert` does not pass for `cert`.
    const bound = Math.min(3, Math.max(1, Math.floor(Math.min(wanted.length, other.length) / 3)));
    const distance = editDistance(wanted, other);
    if (distance <= bound && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

/**
 * Refuses the first key of `value` that is not in `known`, naming it by its path (`field.key`, or `key` at the top,
 * where `field` is "") and suggesting the name it most likely meant. Values that are absent (undefined) count as not
 * given. `what` says what the keys are: "input", "member setting".
 */
export function rejectMisspelledKeys(
  value: Readonly<Record<string, unknown>>,
  known: readonly string[],
  field: string,
  what: string,
): void {
  const key = Object.keys(value).find((k) => value[k] !== undefined && !known.includes(k));
  if (key === undefined) return;
  const nearest = nearestName(key, known);
  const hint = nearest ? `did you mean ${nearest}?` : `the ${what}s are ${known.join(", ")}`;
  throw new InvalidInputError(field ? `${field}.${key}` : key, `unknown ${what}; ${hint}`);
}

/** Levenshtein distance: insertions, deletions and substitutions of one character each. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** What the engine sends in place of a value it does not know yet (during preview). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Whether `value` is, or contains, a value not known until apply. */
function containsUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (value !== null && typeof value === "object") return Object.values(value).some(containsUnknown);
  return false;
}

/** The top-level inputs that hold a value not known until apply. */
function keysNotYetKnown(inputs: object): Set<string> {
  return new Set(
    Object.entries(inputs)
      .filter(([, value]) => containsUnknown(value))
      .map(([key]) => key),
  );
}

/**
 * `check`'s first step, the same for both resources: every input known by name (a misspelled one would otherwise be
 * ignored and its default used: for `retainRevisions`, keep no history), then validated, values still unknown in a
 * preview left for the next check. The first problem comes back as the check failure naming the input.
 */
export function checkInputs<S>(
  news: Record<string, unknown>,
  names: readonly string[],
  settingsOf: (inputs: Record<string, unknown>, unknown: ReadonlySet<string>) => S,
): { readonly settings: S; readonly unknown: ReadonlySet<string> } | { readonly failures: CheckFailure[] } {
  const unknown = keysNotYetKnown(news);
  try {
    rejectMisspelledKeys(news, names, "", "input");
    return { settings: settingsOf(news, unknown), unknown };
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    return { failures: [checkFailure(error.field, error.problem)] };
  }
}
