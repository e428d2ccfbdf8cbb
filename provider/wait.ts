import { TimeoutError } from "./errors";
import { formatDuration } from "./duration";

/** Receives one line per step of long work; the providers print them, so `pulumi up` is never silent. */
export type Progress = (line: string) => void;

export interface WaitOptions {
  /** What is awaited, for the timeout message: "m2 to answer", "a new leader". */
  readonly what: string;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Whether an error from the probe means "not yet" (the default) rather than "give up now". */
  readonly retryErrors?: boolean;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it returns a value other than undefined, within a bound. The last error the probe threw is
 * kept for the timeout message, because "timed out" alone does not tell an operator what was wrong.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined>, options: WaitOptions): Promise<T> {
  const started = Date.now();
  let lastProblem = "";
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      if (options.retryErrors === false) throw error;
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() - started >= options.timeoutMs) {
      const detail = lastProblem ? ` (last problem: ${lastProblem})` : "";
      throw new TimeoutError(`gave up waiting for ${options.what} after ${formatDuration(options.timeoutMs)}${detail}`);
    }
    await sleep(options.intervalMs ?? 500);
  }
}
