import { TimeoutError } from "../errors";
import { formatDuration } from "../values/duration";

/** Receives one line per step of long work; the providers print them, so `pulumi up` is never silent. */
export type Progress = (line: string) => void;

export interface WaitOptions {
  /** What is awaited, for the timeout message: "m2 to answer", "a new leader". */
  readonly what: string;
  readonly timeoutMs: number;
  /** What sets the bound, for the timeout message: the input that changes it (`restartTimeout`), or its rule. */
  readonly boundBy?: string;
  /** The longest pause between two probes. @default 500 */
  readonly intervalMs?: number;
  /**
   * The first pause; each next one doubles up to `intervalMs`, so an answer that comes quickly (a new leader, a
   * member back) is seen at once while a long wait still polls no faster than `intervalMs`. A wait whose probes must
   * straddle something (a backend commit) sets it to that. @default 25, or `intervalMs` when that is smaller
   */
  readonly firstIntervalMs?: number;
  /**
   * Whether an error from the probe means "not yet" (the default: a member coming back refuses, resets or hangs up
   * connections for a while) rather than "give up now"; a function decides per error.
   */
  readonly retryErrors?: boolean | ((error: unknown) => boolean);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it returns a value other than undefined, within a bound. The last error the probe threw is
 * kept for the timeout message, because "timed out" alone does not tell an operator what was wrong. A probe still
 * unanswered when the bound runs out is abandoned: a member that accepts connections but never answers (etcd waiting
 * for its database lock) must not stretch the wait by a whole call timeout.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined>, options: WaitOptions): Promise<T> {
  const started = Date.now();
  let lastProblem = "";
  const gaveUp = () => {
    const detail = lastProblem ? ` (last problem: ${lastProblem})` : "";
    const bound = options.boundBy ? ` (${options.boundBy})` : "";
    return new TimeoutError(
      `gave up waiting for ${options.what} after ${formatDuration(options.timeoutMs)}${bound}${detail}`,
    );
  };
  const longestMs = options.intervalMs ?? 500;
  let pauseMs = Math.min(options.firstIntervalMs ?? FIRST_INTERVAL_MS, longestMs);
  for (;;) {
    const remainingMs = Math.max(0, options.timeoutMs - (Date.now() - started));
    let value: T | undefined | typeof CUT_OFF;
    try {
      value = await withinMs(probe(), remainingMs);
    } catch (error) {
      const retry = options.retryErrors ?? true;
      if (typeof retry === "function" ? !retry(error) : !retry) throw error;
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    if (value === CUT_OFF) {
      lastProblem = "the last check was still unanswered";
      throw gaveUp();
    }
    if (value !== undefined) return value;
    if (Date.now() - started >= options.timeoutMs) throw gaveUp();
    await sleep(Math.min(pauseMs, Math.max(0, options.timeoutMs - (Date.now() - started))));
    pauseMs = Math.min(pauseMs * 2, longestMs);
  }
}

/**
 * The first pause of a wait: etcd answers a Status in a few milliseconds, so polling from 25 ms finds a leader
 * elected or a member back within one answer of it; the doubling keeps a long wait from asking 40 times a second.
 */
const FIRST_INTERVAL_MS = 25;

const CUT_OFF = Symbol("cut off");

/** `work`'s outcome, or CUT_OFF once `ms` have passed first; a later rejection of `work` is then ignored. */
async function withinMs<T>(work: Promise<T>, ms: number): Promise<T | typeof CUT_OFF> {
  let timer: NodeJS.Timeout | undefined;
  const cutOff = new Promise<typeof CUT_OFF>((resolve) => (timer = setTimeout(() => resolve(CUT_OFF), ms)));
  work.catch(() => undefined);
  try {
    return await Promise.race([work, cutOff]);
  } finally {
    clearTimeout(timer);
  }
}
