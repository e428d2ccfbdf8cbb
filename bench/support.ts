/**
 * What every benchmark shares: a cleanup registry that also runs on Ctrl-C, child processes tracked by pid and bounded
 * by a timeout, clocks, medians, tables, and small probes of etcd that do not go through the provider's own code.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import { setTimeout as sleep } from "timers/promises";
import { etcdBinary } from "../lab/etcd-binary";
import { gauge } from "../lab/supervisor";

export { gauge };

export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

// ---------------------------------------------------------------------------------------------------------------
// Cleanup: everything started registers how to stop it; the benchmark's finally and Ctrl-C both run it.

type Cleanup = () => Promise<void>;

const cleanups = new Map<number, { readonly what: string; readonly run: Cleanup }>();
let nextCleanupId = 0;

/**
 * Registers `run` (which must be safe to call twice) under a name and returns a function that runs it once and
 * unregisters it: call that in `finally`. A Ctrl-C runs whatever is still registered, newest first.
 */
export function onCleanup(what: string, run: Cleanup): () => Promise<void> {
  const id = nextCleanupId++;
  cleanups.set(id, { what, run });
  return async () => {
    if (!cleanups.delete(id)) return;
    await run();
  };
}

/** Runs every registered cleanup, newest first, each bounded by `timeoutMs`; never throws. */
export async function runAllCleanups(timeoutMs = 30_000): Promise<void> {
  const pending = [...cleanups.entries()].reverse();
  cleanups.clear();
  for (const [, { what, run }] of pending) {
    try {
      await withTimeout(run(), timeoutMs, `cleanup of ${what}`);
    } catch (error) {
      log(`cleanup of ${what} failed: ${message(error)}`);
    }
  }
}

let interrupted = false;

/**
 * Ctrl-C (SIGINT) or SIGTERM: stop everything that was started (by pid, through the registry), then exit. The lab's
 * and the host's own exit hooks then SIGKILL whatever a cleanup could not stop. A second signal exits at once.
 */
export function installSignalHandlers(): void {
  const handler = (signal: NodeJS.Signals) => {
    if (interrupted) {
      process.stderr.write(`\n${signal} again: exiting now (exit hooks SIGKILL what is left)\n`);
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping everything this benchmark started...\n`);
    void runAllCleanups(20_000).finally(() => process.exit(130));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

export function wasInterrupted(): boolean {
  return interrupted;
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes (etcdctl, restart commands), by pid, each with a timeout.

const children = new Set<number>();
onCleanup("child processes", async () => {
  for (const pid of children) killQuietly(pid, "SIGKILL");
  children.clear();
});

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * Runs a program (no shell) and resolves when it exits; SIGKILLs it by pid after `timeoutMs`. Rejects on a non-zero
 * exit unless `allowFailure`.
 */
export function runProgram(
  file: string,
  args: readonly string[],
  options: { readonly timeoutMs: number; readonly env?: NodeJS.ProcessEnv; readonly allowFailure?: boolean },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, [...args], { env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const pid = child.pid;
    if (pid !== undefined) children.add(pid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killQuietly(pid, "SIGKILL");
    }, options.timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      if (pid !== undefined) children.delete(pid);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      if (pid !== undefined) children.delete(pid);
      const ms = performance.now() - started;
      const shown = [file, ...args].join(" ");
      if (timedOut) reject(new Error(`\`${shown}\` did not finish within ${options.timeoutMs} ms; killed`));
      else if (code !== 0 && !options.allowFailure) {
        reject(new Error(`\`${shown}\` exited with ${code}: ${(stderr || stdout).trim().slice(-500)}`));
      } else resolve({ code, stdout, stderr, ms });
    });
  });
}

/** ETCDCTL_* settings from the caller's shell would change what the baseline does; only ETCDCTL_API=3 is set. */
function etcdctlEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("ETCDCTL_")));
  return { ...env, ETCDCTL_API: "3" };
}

/** `etcdctl --endpoints=<endpoints> <args>` with ETCDCTL_API=3. */
export function etcdctl(endpoints: readonly string[], args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return runProgram(etcdBinary().etcdctl, [`--endpoints=${endpoints.join(",")}`, ...args], {
    timeoutMs,
    env: etcdctlEnv(),
  });
}

/** A shell command line (a member's restart command), run asynchronously: the supervisor answers from this loop. */
export function runShell(command: string, timeoutMs: number): Promise<RunResult> {
  return runProgram("/bin/sh", ["-c", command], { timeoutMs });
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Clocks and statistics

/** Runs `work` and returns its result with the wall time in ms. */
export async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `median (min–max)` of the values, each formatted by `format`. */
export function spread(values: readonly number[], format: (value: number) => string): string {
  return `${format(median(values))} (${format(Math.min(...values))}–${format(Math.max(...values))})`;
}

export function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** Rejects when `promise` has not settled within `timeoutMs` (the work itself is not cancelled). */
function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `probe` every `intervalMs` until it returns true; throws after `timeoutMs`. */
export async function waitUntil(
  probe: () => Promise<boolean>,
  options: { readonly what: string; readonly timeoutMs: number; readonly intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() >= deadline) throw new Error(`gave up waiting for ${options.what} after ${options.timeoutMs} ms`);
    await sleep(options.intervalMs ?? 100);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function millis(ms: number): string {
  return `${ms.toFixed(ms < 100 ? 1 : 0)} ms`;
}

/** Ours divided by the baseline: below 1.00 ours is faster (or smaller), above 1.00 slower. */
export function ratio(ours: number, baseline: number): string {
  if (!Number.isFinite(ours) || !Number.isFinite(baseline) || baseline === 0) return "n/a";
  return `${(ours / baseline).toFixed(2)}x`;
}

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A plain-text table with aligned columns. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** A markdown table. */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const escape = (cell: string) => cell.replace(/\|/g, "\\|");
  return [
    `| ${headers.map(escape).join(" | ")} |`,
    `| ${headers.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(escape).join(" | ")} |`),
  ].join("\n");
}

/** Progress for the person watching, on stderr, so stdout keeps only the results. */
export function log(line: string): void {
  const stamp = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[${stamp}] ${line}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// etcd probes independent of the provider: /metrics and the JSON gateway, one request each, bounded.

/** Whether the member answers Status (through etcd's JSON gateway) and reports a leader. */
export async function answersWithLeader(clientUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/v3/maintenance/status`, {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
      signal: AbortSignal.timeout(1_000),
    });
    if (!response.ok) return false;
    const status = (await response.json()) as { leader?: string };
    return status.leader !== undefined && status.leader !== "0";
  } catch {
    return false;
  }
}

/** VmHWM (peak resident set) of a process, in bytes, from /proc/<pid>/status. */
export function peakRss(pid: number): number {
  const text = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = /^VmHWM:\s+(\d+)\s+kB$/m.exec(text)?.[1];
  if (kib === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kib) * 1024;
}

// ---------------------------------------------------------------------------------------------------------------
// What a benchmark hands back

/** What drives our side of a measure, named in each row of the README's table. */
export type Driver = "pulumi CLI" | "break-glass command" | "engine stand-in";

/** One line of the final README table. */
export interface SummaryRow {
  readonly benchmark: string;
  /** What drove our side: the real `pulumi` CLI, the break-glass command, or the engine stand-in. */
  readonly driver: Driver;
  readonly measure: string;
  readonly ours: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly note: string;
}

export interface BenchResult {
  /** The benchmark's own tables, printed as soon as it ends. */
  readonly report: string;
  readonly summary: readonly SummaryRow[];
  /** Claims checked along the way (PASS/FAIL lines); any FAIL makes the run exit non-zero. */
  readonly checks: readonly { readonly claim: string; readonly pass: boolean; readonly detail: string }[];
}

export interface BenchOptions {
  readonly quick: boolean;
  /** Rounds of benchmark 1 (each refills the cluster twice); more than one reports medians. */
  readonly rounds: number;
  /** Repetitions for medians (benchmark 3). */
  readonly runs: number;
  /** Samples per side of benchmark 2 (each a rolling restart of every member), sides alternated per round. */
  readonly samples: number;
  /** Echo the provider's progress lines. */
  readonly verbose: boolean;
}
